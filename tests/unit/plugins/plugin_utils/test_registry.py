"""The registry, one suite for both backends (file: lock + rename; redis: WATCH/MULTI on a real
redis-server): atomic writes, 20 concurrent writers, no-op and check mode, bad data; then what only
one backend has (the file's temporary files, the store's authentication and TLS), the PSK secret file."""
import multiprocessing
import os
import stat

import pytest
import yaml

from ansible_collections.meshlab.wireguard.plugins.action.wireguard_registry import ActionModule
from ansible_collections.meshlab.wireguard.plugins.module_utils import _topology as topo
from ansible_collections.meshlab.wireguard.plugins.plugin_utils import _registry as reg

N = 20


def key(tag):
    """A valid (strict base64, 32 bytes) stand-in public key, stable per tag."""
    import base64
    import hashlib
    return base64.b64encode(hashlib.sha256(tag.encode()).digest()).decode()


def fleet_of(n):
    hosts = [f'h{i}' for i in range(1, n + 1)]
    networks = [{'name': 'wg0', 'ipv4_pool': '100.64.0.0/24', 'ipv6_pool': 'fd3a:6c1e:9b42:100::/64',
                 'clients': [{'name': 'phone', 'host': 'h1'}]},
                {'name': 'wg1', 'port': 51821, 'topology': 'hub_and_spoke', 'hubs': ['h1'],
                 'ipv4_pool': '100.64.1.0/24'}]
    return topo.normalize(networks, [], {'all': hosts}, {})


@pytest.fixture(params=['file', 'redis'])
def spec(request, tmp_path):
    """A registry spec of each backend, fresh for the test."""
    if request.param == 'file':
        return str(tmp_path / 'wireguard-registry.yml')
    server = request.getfixturevalue('redis_factory')()
    return {'backend': 'redis', 'url': server.url, 'key': 'meshlab:wireguard:test'}


def _writer(args):
    path, host, fleet = args
    change = ActionModule._present(host, fleet, {'wg0': key('K' + host), 'wg1': key('L' + host)}, host,
                                   {}, False, False)
    changed, addresses = reg.update(path, change)[2:]
    return host, changed, addresses


def test_concurrent_writers_lose_nothing(spec, tmp_path):
    path = spec
    fleet = fleet_of(N)
    ctx = multiprocessing.get_context('fork')
    with ctx.Pool(N) as pool:
        results = pool.map(_writer, [(path, f'h{i}', fleet) for i in range(1, N + 1)])
    data = reg.load(path)
    for name in ('wg0', 'wg1'):
        assert sorted(data['networks'][name]['hosts']) == sorted(f'h{i}' for i in range(1, N + 1))
    # every address unique, and each writer got back exactly what is stored for it
    for name in ('wg0', 'wg1'):
        addrs = [a for e in data['networks'][name]['hosts'].values() for a in e['addresses']]
        assert len(addrs) == len(set(addrs))
    for host, changed, addresses in results:
        assert changed
        assert data['networks']['wg0']['hosts'][host]['addresses'] == addresses['wg0']
    # the same allocation as a single-threaded computation from the final registry
    alloc = topo.allocate_network(fleet['networks']['wg0'], data['networks']['wg0'])
    for host in alloc['hosts']:
        assert alloc['hosts'][host] == data['networks']['wg0']['hosts'][host]['addresses']
    assert data['networks']['wg0']['clients']['phone']['host'] == 'h1'
    if isinstance(spec, str):  # no temporary files left behind, the file is readable YAML with the header
        assert sorted(os.listdir(tmp_path)) == ['wireguard-registry.yml', 'wireguard-registry.yml.lock']
        with open(path) as f:
            text = f.read()
    else:  # the store holds the same text under one key, and nothing else
        import redis
        client = redis.Redis.from_url(spec['url'])
        assert client.keys('*') == [spec['key'].encode()]
        text = client.get(spec['key']).decode()
    assert text.startswith('# meshlab.wireguard registry') and yaml.safe_load(text)['version'] == 1


def test_second_write_is_no_change_and_check_mode_writes_nothing(spec):
    path = spec
    fleet = fleet_of(3)
    assert not reg.exists(path)
    assert reg.read(path) == reg.empty() and not reg.exists(path)  # reading creates nothing
    assert _writer((path, 'h2', fleet))[1] is True
    assert reg.exists(path)
    stamp = _stamp(path)
    assert _writer((path, 'h2', fleet))[1] is False
    assert _stamp(path) == stamp
    change = ActionModule._present('h3', fleet, {'wg0': key('X'), 'wg1': key('Y')}, '', {}, False, True)
    after, changed = reg.update(path, change, check_mode=True)[1:3]
    assert changed and 'h3' in after['networks']['wg0']['hosts']
    assert 'h3' not in reg.load(path)['networks']['wg0']['hosts']


def _stamp(spec):
    """Something that changes whenever the registry is written."""
    if isinstance(spec, str):
        return os.stat(spec).st_mtime_ns
    return _client(spec).info('commandstats').get('cmdstat_set', {}).get('calls', 0)


def _client(spec):
    import redis
    return redis.Redis.from_url(spec['url'])


def _put(spec, text):
    """Raw registry text, as a hand edit or another program would leave it."""
    if isinstance(spec, str):
        with open(spec, 'w') as f:
            f.write(text)
    else:
        _client(spec).set(spec['key'], text)


def test_public_key_required_outside_check_mode(spec):
    from ansible_collections.meshlab.wireguard.plugins.action.wireguard_registry import TopologyFailure
    change = ActionModule._present('h1', fleet_of(2), {}, '', {}, False, False)
    with pytest.raises(TopologyFailure, match=r'public_keys\.wg0 is missing'):
        reg.update(spec, change)
    assert not reg.exists(spec)  # a failing change writes nothing


def test_absent_and_prune(spec):
    path = spec
    fleet = fleet_of(3)
    for h in ('h1', 'h2', 'h3'):
        _writer((path, h, fleet))
    reg.update(path, ActionModule._absent('h1', ['wg1']))
    data = reg.load(path)
    assert 'h1' not in data['networks']['wg1']['hosts'] and 'h1' in data['networks']['wg0']['hosts']
    reg.update(path, ActionModule._absent('h1', None))
    data = reg.load(path)
    assert 'h1' not in data['networks']['wg0']['hosts'] and 'phone' not in data['networks']['wg0']['clients']
    # h3 leaves the inventory; a pruning run by h2 forgets it
    smaller = fleet_of(2)
    keys = {'wg0': key('Kh2'), 'wg1': key('Lh2')}
    change = ActionModule._present('h2', smaller, keys, 'h2', {}, True, False)
    reg.update(path, change)
    assert 'h3' not in reg.load(path)['networks']['wg0']['hosts']


def test_bad_data_names_the_source_and_the_fix(spec):
    source = reg.open_registry(spec).source
    for text, match in (('- a list\n', r'not a meshlab\.wireguard registry'),
                        ('version: 99\nnetworks: {}\n', 'upgrade the collection'),
                        ('networks: {a: [\n', '(?s)cannot read.*registry_rebuild')):
        _put(spec, text)
        with pytest.raises(reg.RegistryError, match=match) as err:
            reg.read(spec)
        assert source in str(err.value)
        before = _stamp(spec)
        with pytest.raises(reg.RegistryError):  # and nothing is written over it
            reg.update(spec, ActionModule._absent('h1', None))
        assert _stamp(spec) == before


def _publish(spec, host='h1'):
    keys = {'wg0': key('K' + host), 'wg1': key('L' + host)}
    return reg.update(spec, ActionModule._present(host, fleet_of(2), keys, host, {}, False, False))[2]


PW, USER_PW = 's3cret-pw', 'other-pw'  # test passwords of a throw-away server


def test_store_authentication_password_and_acl_user(redis_factory):
    server = redis_factory(password=PW, acl_user=('meshlab', USER_PW, 'meshlab:wireguard:*'))
    base = {'backend': 'redis', 'url': server.url}
    # no password, a wrong one: refused, the message names the settings and never the password
    for extra in ({}, {'password': 'wrong-pw'}, {'username': 'meshlab', 'password': PW}):
        with pytest.raises(reg.RegistryError, match=r'redis\.username and \.password') as err:
            reg.read(dict(base, **extra))
        assert PW not in str(err.value) and 'wrong-pw' not in str(err.value)
    # the default user with its password, and the ACL user on its own key prefix
    assert _publish(dict(base, password=PW))
    user = dict(base, username='meshlab', password=USER_PW)
    assert 'h1' in reg.read(user)['networks']['wg0']['hosts']
    assert _publish(user, 'h2')
    # outside its key prefix the ACL user gets a message naming the ACL rule to add
    with pytest.raises(reg.RegistryError, match=r'may not use the key fleet2:registry.*~fleet2:\*'):
        reg.read(dict(user, key='fleet2:registry'))


def test_store_tls(redis_factory, tmp_path):
    server = redis_factory(tls=True)
    spec = {'backend': 'redis', 'url': server.tls_url, 'tls_ca_file': server.tls['ca']}
    assert _publish(spec)
    assert 'h1' in reg.read(spec)['networks']['wg0']['hosts']
    # a server certificate from another CA is refused
    from redis_store import make_tls_files
    other = make_tls_files(str(tmp_path))
    with pytest.raises(reg.RegistryError, match='cannot reach the server'):
        reg.read(dict(spec, tls_ca_file=other['ca']))
    # TLS files with a plain redis:// URL: a clear error instead of silently going without TLS
    with pytest.raises(reg.RegistryError, match='rediss://'):
        reg.read(dict(spec, url=server.url))


def test_store_settings_errors_name_the_setting():
    with pytest.raises(reg.RegistryError, match=r'wireguard_registry_redis\.url is not set'):
        reg.read({'backend': 'redis'})
    with pytest.raises(reg.RegistryError, match=r'redis://, rediss:// \(TLS\) or unix://'):
        reg.read({'backend': 'redis', 'url': 'http://x'})
    with pytest.raises(reg.RegistryError, match='choose one of file, redis'):
        reg.read({'backend': 'etcd'})
    # a password in the URL never shows in messages or the source name
    r = reg.open_registry({'backend': 'redis', 'url': 'redis://u:pw123@127.0.0.1:1/0', 'timeout': 0.5})
    assert 'pw123' not in r.source
    with pytest.raises(reg.RegistryError, match='cannot reach the server') as err:
        r.read()
    assert 'pw123' not in str(err.value)


def _make_secret(path):
    return reg.ensure_secret(path)


def test_secret_created_once_0600_even_when_racing(tmp_path):
    path = str(tmp_path / 'sub' / 'psk.secret')
    ctx = multiprocessing.get_context('fork')
    with ctx.Pool(8) as pool:
        created = pool.map(_make_secret, [path] * 16)
    assert created.count(True) == 1
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as f:
        secret = f.read().strip()
    assert len(secret) >= 64
    assert reg.ensure_secret(path) is False
    os.chmod(path, 0o644)
    with pytest.raises(reg.RegistryError, match='chmod 600'):
        reg.ensure_secret(path)
    assert reg.ensure_secret(str(tmp_path / 'x'), check_mode=True) is True
    assert not os.path.exists(tmp_path / 'x')
