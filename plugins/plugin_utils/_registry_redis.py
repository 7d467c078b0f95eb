# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registry in Redis: one key holding the same YAML text as the file backend.

Every controller (several ansible-playbook processes, AWX execution nodes, two admins' laptops)
reaches the same key; no shared filesystem is needed. A write is an optimistic compare-and-set:
``WATCH key``, read, work the change out, ``MULTI / SET / EXEC``; when another writer changed the
key in between, EXEC fails and the change is worked out again on the new value. Readers never
see a partial write (one SET) and writers never lose each other's entries. Address allocation
runs inside the same read-modify-write, so two controllers never hand out one address twice.

One key per registry (default ``meshlab:wireguard:registry``): several fleets share one Redis
with different keys, and an ACL can confine the user to ``~meshlab:wireguard:*``.
Only public data is stored; the password comes from the role's variables (vault), never the key.
"""

from __future__ import annotations

import random
import time
from urllib.parse import urlsplit, urlunsplit

from ansible_collections.meshlab.wireguard.plugins.plugin_utils._registry_base import (
    Registry,
    RegistryError,
    dump,
    empty,
    parse,
)

try:
    import redis
    from redis import exceptions as redis_exceptions
    HAS_REDIS = True
except ImportError:  # pragma: no cover - optional controller dependency
    HAS_REDIS = False

DEFAULT_KEY = 'meshlab:wireguard:registry'
HEADER = (
    '# meshlab.wireguard registry: public keys, endpoints and tunnel addresses of every member.\n'
    '# No secrets. Kept in Redis; written with WATCH/MULTI (compare-and-set).\n'
)

# The role's option spec for the store (wireguard_registry_redis), shared by the action plugins
REDIS_OPTIONS = {
    'url': {'type': 'str'},
    'key': {'type': 'str', 'default': DEFAULT_KEY, 'no_log': False},
    'username': {'type': 'str'},
    'password': {'type': 'str', 'no_log': True},
    'tls_ca_file': {'type': 'path'},
    'tls_cert_file': {'type': 'path'},
    'tls_key_file': {'type': 'path', 'no_log': False},
    'timeout': {'type': 'float', 'default': 10.0},
}


def redact_url(url):
    """The URL without a password (safe for messages and results)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return '<invalid url>'
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit('@', 1)[1]
    user = f'{parts.username}:***@' if parts.username else ':***@'
    return urlunsplit((parts.scheme, user + netloc, parts.path, parts.query, parts.fragment))


class RedisRegistry(Registry):
    def __init__(self, url=None, key=DEFAULT_KEY, username=None, password=None, tls_ca_file=None,
                 tls_cert_file=None, tls_key_file=None, timeout=10.0, retry_seconds=60.0):
        if not url:
            raise RegistryError('wireguard_registry_backend is redis but wireguard_registry_redis.url is not '
                                'set: give it, e.g. redis://redis.example.net:6379/0, rediss://... for TLS '
                                'or unix:///run/redis/redis.sock')
        if not HAS_REDIS:
            raise RegistryError('the Redis registry needs the Python library redis on the controller (in the '
                                'execution environment under AWX): pip install redis')
        scheme = urlsplit(url).scheme
        if scheme not in ('redis', 'rediss', 'unix'):
            raise RegistryError(f'wireguard_registry_redis.url {redact_url(url)}: use a redis://, rediss:// '
                                '(TLS) or unix:// URL')
        self.key = key or DEFAULT_KEY
        self.source = f'{redact_url(url)} key {self.key}'
        self.retry_seconds = retry_seconds
        kwargs = {'socket_timeout': timeout, 'socket_connect_timeout': timeout}
        if username:
            kwargs['username'] = username
        if password:
            kwargs['password'] = password
        tls = {'ssl_ca_certs': tls_ca_file, 'ssl_certfile': tls_cert_file, 'ssl_keyfile': tls_key_file}
        tls = {k: v for k, v in tls.items() if v}
        if tls and scheme != 'rediss':
            raise RegistryError(f'wireguard_registry_redis: TLS files are set but the URL {redact_url(url)} '
                                'is not rediss://; use rediss://HOST:PORT/DB for TLS')
        kwargs.update(tls)
        try:
            self.client = redis.Redis.from_url(url, **kwargs)
        except (ValueError, TypeError) as exc:
            raise RegistryError(f'wireguard_registry_redis.url {redact_url(url)}: {exc}') from None

    def _fail(self, exc):
        text = str(exc)
        if isinstance(exc, redis_exceptions.AuthenticationError) or any(
                w in text for w in ('WRONGPASS', 'NOAUTH', 'invalid username-password', 'invalid password')):
            hint = ('authentication failed: check wireguard_registry_redis.username and .password '
                    '(keep the password in vault)')
        elif 'NOPERM' in text or isinstance(exc, redis_exceptions.NoPermissionError):
            hint = (f'the Redis user may not use the key {self.key}: allow it in the ACL, e.g. '
                    f'~{self.key.rsplit(":", 1)[0]}:* +get +set +exists +watch +unwatch +multi +exec')
        elif isinstance(exc, (redis_exceptions.ConnectionError, redis_exceptions.TimeoutError)):
            hint = ('cannot reach the server: check wireguard_registry_redis.url, the network and, for '
                    'rediss://, the TLS files')
        else:
            hint = 'see the Redis error'
        return RegistryError(f'registry {self.source}: {hint} ({type(exc).__name__}: {text})')

    def _load(self):
        try:
            raw = self.client.get(self.key)
        except redis_exceptions.RedisError as exc:
            raise self._fail(exc) from None
        return None if raw is None else parse(raw.decode('utf-8'), self.source)

    def exists(self):
        try:
            return bool(self.client.exists(self.key))
        except redis_exceptions.RedisError as exc:
            raise self._fail(exc) from None

    def _transact(self, apply):
        deadline = time.monotonic() + self.retry_seconds
        attempt = 0
        try:
            with self.client.pipeline() as pipe:
                while True:
                    try:
                        pipe.watch(self.key)
                        raw = pipe.get(self.key)
                        current = parse(raw.decode('utf-8'), self.source) if raw is not None else None
                        before, after, changed, value = apply(empty() if current is None else current)
                        if not changed:
                            pipe.unwatch()
                            return before, after, changed, value
                        pipe.multi()
                        pipe.set(self.key, dump(after, HEADER).encode('utf-8'))
                        pipe.execute()
                        return before, after, changed, value
                    except redis_exceptions.WatchError:
                        # another writer came first: work the change out again on its result
                        attempt += 1
                        if time.monotonic() > deadline:
                            raise RegistryError(
                                f'registry {self.source}: gave up after {attempt} conflicting writes in '
                                f'{self.retry_seconds:.0f}s; is a writer looping?') from None
                        time.sleep(random.uniform(0, min(0.2, 0.002 * 2 ** min(attempt, 7))))  # noqa: S311
        except redis_exceptions.RedisError as exc:
            raise self._fail(exc) from None
