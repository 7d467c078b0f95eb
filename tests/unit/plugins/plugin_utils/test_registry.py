"""The controller-side registry file: lock, atomic writes, concurrent writers, the PSK secret file."""
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


def _writer(args):
    path, host, fleet = args
    change = ActionModule._present(host, fleet, {'wg0': key('K' + host), 'wg1': key('L' + host)}, host,
                                   {}, False, False)
    changed, addresses = reg.update(path, change)[2:]
    return host, changed, addresses


def test_concurrent_writers_lose_nothing(tmp_path):
    path = str(tmp_path / 'wireguard-registry.yml')
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
    # no temporary files left behind, the file is readable YAML with the header
    assert sorted(os.listdir(tmp_path)) == ['wireguard-registry.yml', 'wireguard-registry.yml.lock']
    with open(path) as f:
        text = f.read()
    assert text.startswith('# meshlab.wireguard registry') and yaml.safe_load(text)['version'] == 1


def test_second_write_is_no_change_and_check_mode_writes_nothing(tmp_path):
    path = str(tmp_path / 'r.yml')
    fleet = fleet_of(3)
    assert _writer((path, 'h2', fleet))[1] is True
    mtime = os.stat(path).st_mtime_ns
    assert _writer((path, 'h2', fleet))[1] is False
    assert os.stat(path).st_mtime_ns == mtime
    change = ActionModule._present('h3', fleet, {'wg0': key('X'), 'wg1': key('Y')}, '', {}, False, True)
    after, changed = reg.update(path, change, check_mode=True)[1:3]
    assert changed and 'h3' in after['networks']['wg0']['hosts']
    assert 'h3' not in reg.load(path)['networks']['wg0']['hosts']


def test_public_key_required_outside_check_mode(tmp_path):
    from ansible_collections.meshlab.wireguard.plugins.action.wireguard_registry import TopologyFailure
    change = ActionModule._present('h1', fleet_of(2), {}, '', {}, False, False)
    with pytest.raises(TopologyFailure, match=r'public_keys\.wg0 is missing'):
        reg.update(str(tmp_path / 'r.yml'), change)


def test_absent_and_prune(tmp_path):
    path = str(tmp_path / 'r.yml')
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


def test_bad_files_name_the_fix(tmp_path):
    path = tmp_path / 'r.yml'
    path.write_text('- a list\n')
    with pytest.raises(reg.RegistryError, match=r'not a meshlab\.wireguard registry'):
        reg.load(str(path))
    path.write_text('version: 99\nnetworks: {}\n')
    with pytest.raises(reg.RegistryError, match='upgrade the collection'):
        reg.load(str(path))
    path.write_text('networks: {a: [\n')
    with pytest.raises(reg.RegistryError, match='cannot read'):
        reg.load(str(path))


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
