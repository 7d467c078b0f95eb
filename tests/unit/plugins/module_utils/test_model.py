"""_model's canonical forms: parsed once per distinct text, same answers as without the caches."""
import ipaddress

import pytest

from ansible_collections.meshlab.wireguard.plugins.module_utils import _model
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import (
    Peer,
    PeerChange,
    Plan,
    canonical_endpoint,
    canonical_network,
    format_endpoint,
    network,
    sorted_networks,
)


def test_network_is_parsed_once_per_text():
    first = network('10.9.0.1/24')
    assert first is network('10.9.0.1/24') and str(first) == '10.9.0.0/24'
    assert network(' 10.9.0.1/24 ') == first  # spelled differently: parsed, same value
    assert canonical_network('fd3a:6c1e:9b42:100::2') == 'fd3a:6c1e:9b42:100::2/128'
    assert sorted_networks(['fd3a::/64', '10.0.0.1/24', '10.0.0.0/24']) == ('10.0.0.0/24', 'fd3a::/64')
    with pytest.raises(ValueError):
        network('nonsense')


def test_endpoints_formatted_once_are_known_canonical():
    out = format_endpoint('FD3A:6c1e:0::9', 51820)
    assert out == '[fd3a:6c1e::9]:51820' and _model._ENDPOINTS[out] == out
    assert canonical_endpoint(out) == out
    assert canonical_endpoint('[FD3A:6c1e:0::9]:51820') == out
    assert canonical_endpoint('[::ffff:198.51.100.7]:1') == '198.51.100.7:1'


def test_an_invalid_port_is_never_taken_as_canonical():
    assert format_endpoint('198.51.100.7', 0) == '198.51.100.7:0'
    with pytest.raises(ValueError):
        canonical_endpoint('198.51.100.7:0')


def test_caches_stay_bounded(monkeypatch):
    monkeypatch.setattr(_model, '_CACHE_LIMIT', 3)
    monkeypatch.setattr(_model, '_NETWORKS', {})
    for i in range(10):
        assert network(f'10.0.{i}.0/24') == ipaddress.ip_network(f'10.0.{i}.0/24')
    assert len(_model._NETWORKS) <= 3


def test_describe_with_a_limit_keeps_counts_and_says_truncated():
    keys = [f'{i:02d}' + 'A' * 42 for i in range(5)]
    changes = [PeerChange('add', k, Peer(k)) for k in keys] + [PeerChange('remove', 'R' * 44)]
    plan = Plan(name='wg0', peers=tuple(changes), routes_add=('10.0.0.0/24', '10.0.1.0/24'))
    full = plan.describe()
    assert len(full['peers']) == 6 and not full['truncated']
    assert full['counts'] == {'peers_add': 5, 'peers_update': 0, 'peers_remove': 1,
                              'routes_add': 2, 'routes_remove': 0}
    cut = plan.describe(limit=2)
    assert [c['public_key'] for c in cut['peers']] == keys[:2]
    assert cut['routes_add'] == ['10.0.0.0/24', '10.0.1.0/24']
    assert cut['truncated'] and cut['counts'] == full['counts']
    assert not plan.describe(limit=6)['truncated']
