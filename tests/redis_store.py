"""A real redis-server (Debian's redis-server package) for the registry's store tests.

Started in a temporary directory on a unix socket (and, for TLS, on a free 127.0.0.1 port), no
persistence, killed by pid afterwards. Optional: a password for the default user, an ACL user
confined to the registry's key prefix, TLS with a throw-away CA made here.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

# What the registry needs, no more (docs/registry.md documents the same ACL rule)
ACL_COMMANDS = '+get +set +exists +watch +unwatch +multi +exec'


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_tls_files(directory):
    """A CA and a server certificate for 127.0.0.1 (PEM files); returns their paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(subject, issuer, key, sign_key, ca):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address('127.0.0.1'))])
            b = b.add_extension(san, critical=False)
        return b.sign(sign_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'meshlab test CA')])
    ca = cert(ca_name, ca_name, ca_key, ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    srv = cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, '127.0.0.1')]), ca_name, key, ca_key, False)
    paths = {'ca': os.path.join(directory, 'ca.pem'), 'cert': os.path.join(directory, 'server.pem'),
             'key': os.path.join(directory, 'server.key')}
    with open(paths['ca'], 'wb') as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths['cert'], 'wb') as f:
        f.write(srv.public_bytes(serialization.Encoding.PEM))
    with open(os.open(paths['key'], os.O_WRONLY | os.O_CREAT, 0o600), 'wb') as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return paths


class RedisServer:
    def __init__(self, directory, password=None, acl_user=None, tls=False):
        self.dir = str(directory)
        os.makedirs(self.dir, exist_ok=True)
        self.socket = os.path.join(self.dir, 'redis.sock')
        self.password = password
        self.acl_user = acl_user  # (name, password, key pattern)
        self.tls = make_tls_files(self.dir) if tls else None
        self.tls_port = free_port() if tls else None
        conf = [f'dir {self.dir}', 'port 0', f'unixsocket {self.socket}', 'unixsocketperm 700',
                'save ""', 'appendonly no', 'daemonize no', f'logfile {self.dir}/redis.log',
                f'pidfile {self.dir}/redis.pid']
        if password:
            conf.append(f'requirepass {password}')
        if acl_user:
            name, pw, pattern = acl_user
            conf.append(f'user {name} on >{pw} ~{pattern} ' + ACL_COMMANDS)
        if tls:
            conf += ['bind 127.0.0.1', f'tls-port {self.tls_port}', f'tls-cert-file {self.tls["cert"]}',
                     f'tls-key-file {self.tls["key"]}', f'tls-ca-cert-file {self.tls["ca"]}',
                     'tls-auth-clients no']
        self.conf = os.path.join(self.dir, 'redis.conf')
        with open(self.conf, 'w') as f:
            f.write('\n'.join(conf) + '\n')
        self.proc = None

    @property
    def url(self):
        return f'unix://{self.socket}?db=0'

    @property
    def tls_url(self):
        return f'rediss://127.0.0.1:{self.tls_port}/0'

    def start(self, timeout=15):
        self.proc = subprocess.Popen(['redis-server', self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('redis-server exited: ' + self.log())
            if os.path.exists(self.socket):
                try:
                    with socket.socket(socket.AF_UNIX) as s:
                        s.connect(self.socket)
                        s.sendall(b'PING\r\n')
                        if s.recv(64):
                            return self
                except OSError:
                    pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError('redis-server did not start: ' + self.log())

    def log(self):
        try:
            with open(os.path.join(self.dir, 'redis.log')) as f:
                return f.read()[-2000:]
        except OSError:
            return ''

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def client(self, **kwargs):
        import redis
        return redis.Redis.from_url(self.url, **kwargs)


def redis_available():
    return shutil.which('redis-server') is not None


@pytest.fixture
def redis_factory(tmp_path_factory):
    """redis_factory(**options) -> a started RedisServer; every one is stopped afterwards."""
    servers = []

    def make(**kwargs):
        if not redis_available():
            pytest.fail('redis-server is missing: scripts/setup.sh installs the Debian package redis-server')
        # a short path: unix socket paths are limited to 108 bytes
        server = RedisServer(tmp_path_factory.mktemp('m12redis'), **kwargs)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()
