"""UAPI codec (golden strings, round trips) and client (fake socket server, and a real wireguard-go)."""
import base64
import json
import os
import secrets
import socket
import sys
import textwrap
import threading
import time

import pytest
import scratch_netns

from ansible_collections.meshlab.wireguard.plugins.module_utils._engine_uapi import socket_path
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import (
    Device,
    Peer,
    PeerChange,
    PeerStats,
    Plan,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._uapi import (
    UapiClient,
    UapiError,
    encode_get,
    encode_set,
    parse_get,
)


def k(byte):
    """A key whose 32 bytes are all `byte`: base64 for the model, hex for the wire."""
    return base64.b64encode(bytes([byte]) * 32).decode()


def h(byte):
    return f'{byte:02x}' * 32


PRIV, A, B, C, PSK = k(0x10), k(0xA1), k(0xB2), k(0xC3), k(0x55)


def test_encode_get():
    assert encode_get() == b'get=1\n\n'


def test_socket_path():
    assert socket_path('wg0') == '/var/run/wireguard/wg0.sock'
    assert socket_path('wg0', '/run/x') == '/run/x/wg0.sock'


GET_REPLY = f"""private_key={h(0x10)}
listen_port=51820
fwmark=32
public_key={h(0xa1)}
preshared_key={h(0x55)}
protocol_version=1
endpoint=198.51.100.11:51820
last_handshake_time_sec=1700000000
last_handshake_time_nsec=123
tx_bytes=100
rx_bytes=200
persistent_keepalive_interval=25
allowed_ip=100.64.0.2/32
allowed_ip=10.1.0.0/24
public_key={h(0xb2)}
preshared_key={'0' * 64}
protocol_version=1
endpoint=[fd3a:6c1e:9b42:1::12]:51820
last_handshake_time_sec=0
last_handshake_time_nsec=0
tx_bytes=0
rx_bytes=0
persistent_keepalive_interval=0
allowed_ip=fd3a:6c1e:9b42:100::3/128
public_key={h(0xc3)}
preshared_key={'0' * 64}
protocol_version=1
last_handshake_time_sec=0
last_handshake_time_nsec=0
tx_bytes=0
rx_bytes=0
persistent_keepalive_interval=0
errno=0

"""


def test_parse_get():
    dev = parse_get(GET_REPLY)
    assert dev == Device(PRIV, 51820, 32, {
        A: Peer(A, PSK, '198.51.100.11:51820', ('10.1.0.0/24', '100.64.0.2/32'), 25),
        B: Peer(B, None, '[fd3a:6c1e:9b42:1::12]:51820', ('fd3a:6c1e:9b42:100::3/128',), 0),
        C: Peer(C),
    })
    assert dev.stats[A] == PeerStats(1700000000, 200, 100)
    assert dev.stats[C] == PeerStats(0, 0, 0)
    assert parse_get(GET_REPLY.encode()) == dev


def test_parse_get_only_some_peers():
    full = parse_get(GET_REPLY)
    dev = parse_get(GET_REPLY, only=[B, C])
    assert (dev.private_key, dev.listen_port, dev.fwmark) == (full.private_key, full.listen_port, full.fwmark)
    assert dev.peers == {B: full.peers[B], C: full.peers[C]} and set(dev.stats) == {B, C}
    assert parse_get(GET_REPLY, only=[]).peers == {}


def test_parse_get_empty_device_and_no_errno():
    assert parse_get('errno=0\n\n') == Device(None, None, 0, {})
    assert parse_get(f'private_key={h(0x10)}\nlisten_port=1\n') == Device(PRIV, 1, 0, {})


def test_parse_get_errno():
    with pytest.raises(UapiError) as e:
        parse_get('errno=-22\n\n')
    assert e.value.errno == -22 and 'EINVAL' in str(e.value)
    with pytest.raises(UapiError) as e:
        parse_get('errno=5\n\n')
    assert e.value.errno == 5


@pytest.mark.parametrize('bad', ['garbage\n', 'public_key=zz\n', f'public_key={h(1)}\nallowed_ip=x/99\n',
                                 'listen_port=abc\n', 'errno=x\n'])
def test_parse_get_malformed(bad):
    with pytest.raises(UapiError) as e:
        parse_get(bad)
    assert e.value.errno == -71


def test_parse_get_ipv6_endpoints():
    reply = (f'public_key={h(1)}\nendpoint=[FD3A:6C1E:9B42:0001:0000::12]:51820\n'
             f'public_key={h(2)}\nendpoint=[::ffff:198.51.100.9]:4\n'
             f'public_key={h(3)}\nendpoint=[fe80::1%eth0]:51820\nerrno=0\n\n')
    dev = parse_get(reply)
    assert dev.peers[k(1)].endpoint == '[fd3a:6c1e:9b42:1::12]:51820'
    assert dev.peers[k(2)].endpoint == '198.51.100.9:4'
    assert dev.peers[k(3)].endpoint == '[fe80::1%eth0]:51820'


def big_device(n=1000):
    peers = {}
    for i in range(n):
        pub = base64.b64encode(i.to_bytes(4, 'big') + bytes(27) + b'\x01').decode()
        peers[pub] = Peer(pub, PSK if i % 3 == 0 else None,
                          f'198.51.100.{i % 200 + 1}:{51820 + i}' if i % 2 else f'[fd3a::{i + 1:x}]:51820',
                          (f'10.{i // 250}.{i % 250}.0/24', f'100.64.{i // 250}.{i % 250 + 2}/32'),
                          i % 60)
    return Device(PRIV, 51820, 0, peers)


def to_get_reply(device):
    """What wireguard-go would answer for `device` (built independently of the encoder)."""
    lines = [f'private_key={base64.b64decode(device.private_key).hex()}', f'listen_port={device.listen_port}']
    for pub, p in device.peers.items():
        lines.append(f'public_key={base64.b64decode(pub).hex()}')
        psk = base64.b64decode(p.preshared_key).hex() if p.preshared_key else '0' * 64
        lines.append(f'preshared_key={psk}')
        lines.append('protocol_version=1')
        if p.endpoint:
            lines.append(f'endpoint={p.endpoint}')
        lines += ['last_handshake_time_sec=0', 'last_handshake_time_nsec=0', 'tx_bytes=0', 'rx_bytes=0',
                  f'persistent_keepalive_interval={p.persistent_keepalive}']
        lines += [f'allowed_ip={a}' for a in reversed(p.allowed_ips)]
    return '\n'.join(lines) + '\nerrno=0\n\n'


def test_thousand_peer_parse():
    dev = big_device()
    start = time.perf_counter()
    parsed = parse_get(to_get_reply(dev))
    assert time.perf_counter() - start < 1.0
    assert parsed == dev
    assert len(parsed.peers) == 1000


def set_lines(payload):
    assert payload.endswith(b'\n\n')
    return payload.decode().split('\n')[:-2]


def test_encode_set_device_fields_order():
    plan = Plan('wg0', device={'fwmark': 0, 'listen_port': 51821, 'private_key': PRIV})
    assert encode_set(plan) == f'set=1\nprivate_key={h(0x10)}\nlisten_port=51821\nfwmark=0\n\n'.encode()


def test_encode_set_empty_plan_is_a_noop_request():
    assert encode_set(Plan('wg0')) == b'set=1\n\n'


def test_encode_set_remove():
    assert encode_set(Plan('wg0', peers=(PeerChange('remove', A),))) == \
        f'set=1\npublic_key={h(0xa1)}\nremove=true\n\n'.encode()


def test_encode_set_add_everything():
    peer = Peer(B, PSK, '[fd3a:6c1e:9b42:1::12]:51820', ('100.64.0.3/32', 'fd3a:6c1e:9b42:100::3/128'), 25)
    assert set_lines(encode_set(Plan('wg0', peers=(PeerChange('add', B, peer),)))) == [
        'set=1',
        f'public_key={h(0xb2)}',
        f'preshared_key={h(0x55)}',
        'endpoint=[fd3a:6c1e:9b42:1::12]:51820',
        'persistent_keepalive_interval=25',
        'replace_allowed_ips=true',
        'allowed_ip=100.64.0.3/32',
        'allowed_ip=fd3a:6c1e:9b42:100::3/128',
    ]


def test_encode_set_add_minimal():
    assert set_lines(encode_set(Plan('wg0', peers=(PeerChange('add', C, Peer(C)),)))) == [
        'set=1', f'public_key={h(0xc3)}', 'replace_allowed_ips=true']


@pytest.mark.parametrize('fields, peer, expected', [
    (('endpoint',), Peer(A, endpoint='198.51.100.99:1'), ['endpoint=198.51.100.99:1']),
    (('preshared_key',), Peer(A, PSK), [f'preshared_key={h(0x55)}']),
    (('preshared_key',), Peer(A, None), ['preshared_key=' + '0' * 64]),
    (('persistent_keepalive',), Peer(A, persistent_keepalive=0), ['persistent_keepalive_interval=0']),
    (('allowed_ips',), Peer(A, allowed_ips=('10.0.0.0/8', '::/0')),
     ['replace_allowed_ips=true', 'allowed_ip=10.0.0.0/8', 'allowed_ip=::/0']),
    (('allowed_ips',), Peer(A, allowed_ips=()), ['replace_allowed_ips=true']),
    (('preshared_key', 'endpoint', 'allowed_ips', 'persistent_keepalive'),
     Peer(A, PSK, '[fd3a::1]:2', ('10.0.0.0/8',), 5),
     [f'preshared_key={h(0x55)}', 'endpoint=[fd3a::1]:2', 'persistent_keepalive_interval=5',
      'replace_allowed_ips=true', 'allowed_ip=10.0.0.0/8']),
])
def test_encode_set_update_only_what_changed(fields, peer, expected):
    payload = encode_set(Plan('wg0', peers=(PeerChange('update', A, peer, fields),)))
    assert set_lines(payload) == ['set=1', f'public_key={h(0xa1)}', 'update_only=true', *expected]


def test_encode_set_combined_plan():
    plan = Plan('wg0', device={'listen_port': 1}, peers=(
        PeerChange('remove', C),
        PeerChange('update', A, Peer(A, endpoint='198.51.100.1:2'), ('endpoint',)),
        PeerChange('add', B, Peer(B, allowed_ips=('10.2.0.0/16',))),
    ))
    assert set_lines(encode_set(plan)) == [
        'set=1', 'listen_port=1',
        f'public_key={h(0xc3)}', 'remove=true',
        f'public_key={h(0xa1)}', 'update_only=true', 'endpoint=198.51.100.1:2',
        f'public_key={h(0xb2)}', 'replace_allowed_ips=true', 'allowed_ip=10.2.0.0/16',
    ]


def test_encode_set_replace_peers():
    plan = Plan('wg0', create=True, device={'private_key': PRIV}, peers=(
        PeerChange('remove', C), PeerChange('add', B, Peer(B))))
    assert set_lines(encode_set(plan, replace_peers=True)) == [
        'set=1', f'private_key={h(0x10)}', 'replace_peers=true', f'public_key={h(0xb2)}',
        'replace_allowed_ips=true']
    with pytest.raises(ValueError):
        encode_set(Plan('wg0', peers=(PeerChange('update', A, Peer(A), ('endpoint',)),)), replace_peers=True)


def full_set(device):
    """What production sends to make a device exactly DEVICE: the create plan, replace_peers=true."""
    from ansible_collections.meshlab.wireguard.plugins.module_utils._model import Interface, Link
    from ansible_collections.meshlab.wireguard.plugins.module_utils._plan import plan

    return encode_set(plan(Interface('wg0', device, Link()), None), replace_peers=True)


def test_encode_set_of_a_create_sets_every_peer():
    dev = Device(PRIV, None, 0, {B: Peer(B, allowed_ips=('10.2.0.0/16',)), A: Peer(A, PSK)})
    assert set_lines(full_set(dev)) == [
        'set=1', f'private_key={h(0x10)}', 'replace_peers=true',
        f'public_key={h(0xa1)}', f'preshared_key={h(0x55)}', 'replace_allowed_ips=true',
        f'public_key={h(0xb2)}', 'replace_allowed_ips=true', 'allowed_ip=10.2.0.0/16',
    ]


def apply_set(device, payload):
    """A tiny model of wireguard-go's set operation, to check that encodings round-trip."""
    priv, port, mark = device.private_key, device.listen_port, device.fwmark
    peers = {p: dict(vars(v)) for p, v in device.peers.items()}
    cur = None
    for line in set_lines(payload)[1:]:
        key, _sep, value = line.partition('=')
        if key == 'public_key':
            cur = base64.b64encode(bytes.fromhex(value)).decode()
            new = cur not in peers
            peers.setdefault(cur, dict(vars(Peer(cur))))
            continue
        if cur is None:
            if key == 'private_key':
                priv = base64.b64encode(bytes.fromhex(value)).decode()
            elif key == 'listen_port':
                port = int(value)
            elif key == 'fwmark':
                mark = int(value)
            elif key == 'replace_peers':
                peers = {}
            else:
                raise AssertionError(line)
            continue
        p = peers[cur]
        if key == 'remove' or (key == 'update_only' and new):
            del peers[cur]
        elif key == 'preshared_key':
            psk = base64.b64encode(bytes.fromhex(value)).decode()
            p['preshared_key'] = None if value == '0' * 64 else psk
        elif key == 'endpoint':
            p['endpoint'] = value
        elif key == 'persistent_keepalive_interval':
            p['persistent_keepalive'] = int(value)
        elif key == 'replace_allowed_ips':
            p['allowed_ips'] = ()
        elif key == 'allowed_ip':
            p['allowed_ips'] = tuple(sorted(set(p['allowed_ips']) | {value}))
    return Device(priv, port, mark, {pub: Peer(**v) for pub, v in peers.items()})


def test_round_trip_full_set_and_plan():
    from ansible_collections.meshlab.wireguard.plugins.module_utils._model import Interface, Link
    from ansible_collections.meshlab.wireguard.plugins.module_utils._plan import plan

    dev = big_device(50)
    assert apply_set(Device(), full_set(dev)) == dev
    assert parse_get(to_get_reply(dev)) == dev
    # a plan between two devices, encoded and applied, gives the desired device
    want_peers = dict(dev.peers)
    keys = sorted(want_peers)
    del want_peers[keys[0]]
    want_peers[keys[1]] = Peer(keys[1], None, '198.51.100.250:9', ('10.99.0.0/16',), 0)
    want_peers[A] = Peer(A, PSK, None, ('10.200.0.0/16',), 0)
    want = Device(PRIV, 4000, 7, want_peers)
    p = plan(Interface('wg0', want, Link()), Interface('wg0', dev, Link()))
    assert apply_set(dev, encode_set(p)) == want


# --- UapiClient against a fake socket server ---------------------------------------------------

class FakeServer:
    def __init__(self, path, reply, chunk=None, close_early=False):
        self.path, self.reply, self.chunk, self.close_early = path, reply, chunk, close_early
        self.received = b''
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _addr = self.sock.accept()
        with conn:
            while not self.received.endswith(b'\n\n'):
                data = conn.recv(4096)
                if not data:
                    break
                self.received += data
                if self.close_early:
                    break
            reply = self.reply
            step = self.chunk or len(reply) or 1
            for i in range(0, len(reply), step):
                conn.sendall(reply[i:i + step])
                time.sleep(0.001)

    def close(self):
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def sockpath(tmp_path):
    return str(tmp_path / 'wgt0.sock')


def test_client_get_in_small_chunks(sockpath):
    srv = FakeServer(sockpath, GET_REPLY.encode(), chunk=7)
    try:
        dev = UapiClient(sockpath).get()
    finally:
        srv.close()
    assert srv.received == b'get=1\n\n'
    assert dev == parse_get(GET_REPLY)


def test_client_set_ok_and_errno(sockpath):
    srv = FakeServer(sockpath, b'errno=0\n\n')
    try:
        UapiClient(sockpath).set(b'set=1\nlisten_port=1\n\n')
    finally:
        srv.close()
    assert srv.received == b'set=1\nlisten_port=1\n\n'
    os.unlink(sockpath)
    srv = FakeServer(sockpath, b'errno=-98\n\n')
    try:
        with pytest.raises(UapiError) as e:
            UapiClient(sockpath).set(b'set=1\nlisten_port=1\n\n')
    finally:
        srv.close()
    assert e.value.errno == -98
    msg = str(e.value)
    assert sockpath in msg and 'EADDRINUSE' in msg and 'pick another listen_port' in msg


def test_client_get_errno(sockpath):
    srv = FakeServer(sockpath, b'errno=-5\n\n')
    try:
        with pytest.raises(UapiError) as e:
            UapiClient(sockpath).get()
    finally:
        srv.close()
    assert e.value.errno == -5 and sockpath in str(e.value)


def test_client_reply_without_errno(sockpath):
    srv = FakeServer(sockpath, b'listen_port=1\n')
    try:
        with pytest.raises(UapiError) as e:
            UapiClient(sockpath).get()
    finally:
        srv.close()
    assert 'without errno' in str(e.value)


def test_client_missing_socket(tmp_path):
    path = str(tmp_path / 'nope.sock')
    with pytest.raises(OSError) as e:
        UapiClient(path).get()
    assert path in str(e.value) and 'wireguard-go running' in str(e.value)
    assert isinstance(e.value, FileNotFoundError)


def test_client_timeout(sockpath):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sockpath)
    srv.listen(1)
    try:
        with pytest.raises(OSError) as e:
            UapiClient(sockpath, timeout=0.2).get()
    finally:
        srv.close()
    assert sockpath in str(e.value) and 'no complete reply within 0.2 s' in str(e.value)


# --- against a real wireguard-go -----------------------------------------------------------------

COLLECTIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), *(['..'] * 4), '.build', 'collections')

INNER = textwrap.dedent('''
    import json, os, subprocess, sys, time
    sys.path.insert(0, sys.argv[1])
    from ansible_collections.meshlab.wireguard.plugins.module_utils._uapi import UapiClient, UapiError
    ifname, steps = sys.argv[2], json.load(open(sys.argv[3]))
    # private mount namespace: a tmpfs on /run hides every other wireguard-go socket
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', '/run'], check=True)
    env = dict(os.environ, WG_PROCESS_FOREGROUND='1')
    wg = subprocess.Popen(['wireguard-go', ifname], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    out = {'pid': wg.pid, 'results': []}
    try:
        sock = '/var/run/wireguard/%s.sock' % ifname
        for _attempt in range(500):
            if os.path.exists(sock) or wg.poll() is not None:
                break
            time.sleep(0.01)
        client = UapiClient(sock)
        for payload in steps:
            try:
                client.set(payload.encode())
                out['results'].append({'ok': client.request(b'get=1\\n\\n', 'get')})
            except UapiError as e:
                out['results'].append({'errno': e.errno, 'msg': str(e)})
    finally:
        wg.terminate()
        try:
            wg.wait(5)
        except subprocess.TimeoutExpired:
            wg.kill()
            wg.wait()
        out['stderr'] = wg.stderr.read().decode(errors='replace')[-2000:]
    print(json.dumps(out))
''')


def run_in_lab(tmp_path, steps):
    scratch_netns.require('wireguard-go')
    ifname = 'wgt' + secrets.token_hex(3)
    script = tmp_path / 'inner.py'
    script.write_text(INNER)
    data = tmp_path / 'steps.json'
    data.write_text(json.dumps(steps))
    rc, out, err = scratch_netns.run(
        [sys.executable, str(script), os.path.abspath(COLLECTIONS), ifname, str(data)], timeout=60)
    assert rc == 0, err.decode()
    return json.loads(out)


@pytest.mark.lab
def test_real_wireguard_go(tmp_path):
    keys = pytest.importorskip('ansible_collections.meshlab.wireguard.plugins.module_utils._keys')
    if not keys.HAS_NACL:
        pytest.skip('PyNaCl missing')
    from ansible_collections.meshlab.wireguard.plugins.module_utils._model import Interface, Link
    from ansible_collections.meshlab.wireguard.plugins.module_utils._plan import plan

    priv = keys.generate_private_key()
    pa = keys.public_key_of(keys.generate_private_key())
    pb = keys.public_key_of(keys.generate_private_key())
    pc = keys.public_key_of(keys.generate_private_key())
    psk = keys.generate_preshared_key()
    want1 = Device(priv, 51999, 0x20, {
        pa: Peer(pa, psk, '198.51.100.11:51820', ('10.1.0.0/24', '100.64.0.2/32'), 25),
        pb: Peer(pb, None, '[fd3a:6c1e:9b42:1::12]:51820', ('100.64.0.3/32', 'fd3a:6c1e:9b42:100::3/128'), 0),
    })
    create = plan(Interface('x', want1, Link()), None)
    want2 = Device(priv, 51999, 0x20, {
        pa: Peer(pa, None, '198.51.100.99:4000', ('10.1.0.0/24',), 0),  # PSK, endpoint, IPs, keepalive
        pc: Peer(pc, None, None, ('100.64.0.4/32',), 0),  # added; pb removed
    })
    update = plan(Interface('x', want2, Link()), Interface('x', want1, Link()))
    assert [c.action for c in update.peers] == ['remove', 'update', 'add']
    assert update.peers[1].fields == ('preshared_key', 'endpoint', 'allowed_ips', 'persistent_keepalive')
    # a device key after a peer is refused (EINVAL); the long tail checks that the early reply is read
    bad = f'set=1\npublic_key={keys.b64_to_hex(pa)}\nlisten_port=1\n' + 'allowed_ip=10.0.0.0/8\n' * 2000
    bad += '\n'
    steps = [encode_set(create, replace_peers=True).decode(), encode_set(update).decode(), bad,
             full_set(want1).decode()]
    out = run_in_lab(tmp_path, steps)
    results = out['results']
    assert len(results) == 4, out
    got1 = parse_get(results[0]['ok'])
    assert got1 == want1, out['stderr']
    assert set(got1.stats) == {pa, pb}
    assert parse_get(results[1]['ok']) == want2
    assert results[2]['errno'] == -22 and 'EINVAL' in results[2]['msg']  # device key after a peer
    assert parse_get(results[3]['ok']) == want1  # restore after a restart: full set
