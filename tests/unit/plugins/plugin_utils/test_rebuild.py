"""Rebuilding registry entries from wireguard_info results (the hosts' live interfaces)."""
import base64
import hashlib

from ansible_collections.meshlab.wireguard.plugins.plugin_utils import _fleet, _rebuild
from ansible_collections.meshlab.wireguard.plugins.plugin_utils import _registry as reg


def _key(tag):
    """A valid stand-in public key (the registry is read strictly)."""
    return base64.b64encode(hashlib.sha256(tag.encode()).digest()).decode()


K = {h: _key(h) for h in ('h1', 'h2', 'h3', 'ph')}


def fleet():
    nets = [{'name': 'wg0', 'ipv4_pool': '100.64.0.0/24', 'ipv6_pool': 'fd3a:6c1e:9b42:100::/64',
             'clients': [{'name': 'phone', 'host': 'h1'}]}]
    return _fleet.normalize(nets, [], {'all': ['h1', 'h2', 'h3']}, {h: {} for h in ('h1', 'h2', 'h3')})


def peer(name, key, endpoint, *allowed):
    return {'name': name, 'public_key': key, 'endpoint': endpoint, 'allowed_ips': list(allowed)}


def info(key, port, addresses, peers):
    return {'interfaces': {'wg0': {'public_key': key, 'listen_port': port, 'addresses': addresses,
                                   'peers': peers}}}


INFOS = {
    # h1 and h2 were read; h3 is down: known from its peers only
    'h1': info(K['h1'], 51820, ['100.64.0.10/24', 'fd3a:6c1e:9b42:100::a/64', 'fe80::1/64'], [
        peer('h2', K['h2'], '198.51.100.12:51820', '100.64.0.20/32', 'fd3a:6c1e:9b42:100::14/128'),
        peer('h3', K['h3'], '198.51.100.13:51999', '100.64.0.30/32', 'fd3a:6c1e:9b42:100::1e/128'),
        peer('client phone', K['ph'], None, '100.64.0.99/32'),
    ]),
    'h2': info(K['h2'], 51820, ['100.64.0.20/24', 'fd3a:6c1e:9b42:100::14/64'], [
        peer('h1', K['h1'], '198.51.100.11:51820', '100.64.0.10/32', '100.64.0.99/32'),
        peer('h3', K['h3'], '198.51.100.13:51999', '100.64.0.30/32', 'fd3a:6c1e:9b42:100::1e/128'),
    ]),
}


def test_entries_from_own_interfaces_and_peers_views():
    found, warnings = _rebuild.rebuild(fleet(), INFOS)
    hosts = found['wg0']['hosts']
    assert warnings == []
    assert hosts['h1'] == {'public_key': K['h1'], 'endpoint': '198.51.100.11', 'port': 51820,
                           'role': 'member',
                           'addresses': ['100.64.0.10/24', 'fd3a:6c1e:9b42:100::a/64']}  # no link-local
    # h3 could not be read: key, endpoint, port and addresses (pool prefix) from its peers
    assert hosts['h3'] == {'public_key': K['h3'], 'endpoint': '198.51.100.13', 'port': 51999,
                           'role': 'member', 'addresses': ['100.64.0.30/24', 'fd3a:6c1e:9b42:100::1e/64']}
    assert found['wg0']['clients'] == {'phone': {'host': 'h1', 'public_key': K['ph'],
                                                 'addresses': ['100.64.0.99/24']}}


def test_ambiguous_or_unknown_hosts_are_left_out_with_a_warning():
    infos = {'h2': INFOS['h2']}  # h1 is down: h2 routes h1's address and the phone's to it
    found, warnings = _rebuild.rebuild(fleet(), infos)
    assert 'h1' not in found['wg0']['hosts'] and 'h3' in found['wg0']['hosts']
    assert any('h1 could not be read' in w and 'run the rebuild again' in w for w in warnings)
    found, warnings = _rebuild.rebuild(fleet(), {})
    assert found == {'wg0': {'hosts': {}, 'clients': {}}}
    assert len(warnings) == 3 and all('nothing known' in w for w in warnings)


def test_merge_fills_gaps_and_keeps_what_the_registry_holds(tmp_path):
    path = str(tmp_path / 'r.yml')
    kept = {'public_key': _key('kept'), 'endpoint': 'h2.example', 'port': 1, 'addresses': ['100.64.0.2/24'],
            'role': 'member'}
    reg.update(path, lambda d: d.setdefault('networks', {}).setdefault('wg0', {'hosts': {'h2': kept},
                                                                               'clients': {}}))
    found = _rebuild.rebuild(fleet(), INFOS)[0]
    added = reg.update(path, lambda d: _rebuild.merge(d, found))[3]
    assert added == {'wg0': {'hosts': ['h1', 'h3'], 'clients': ['phone']}}
    data = reg.read(path)
    assert data['networks']['wg0']['hosts']['h2'] == kept
    assert data['networks']['wg0']['hosts']['h3']['public_key'] == K['h3']
    # a second rebuild changes nothing; an empty fleet section still leaves a registry behind
    assert reg.update(path, lambda d: _rebuild.merge(d, found))[2] is False
    empty = str(tmp_path / 'e.yml')
    assert reg.update(empty, lambda d: _rebuild.merge(d, {'wg0': {'hosts': {}, 'clients': {}}}))[2]
    assert reg.exists(empty)
