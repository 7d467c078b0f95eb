"""The topology filter plugin: plain-data conversion, hostvars reading, PSK guard rails."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meshlab.wireguard.plugins.filter.topology import FilterModule

F = FilterModule().filters()
NETS = [{'name': 'wg0', 'ipv4_pool': '100.64.0.0/24', 'topology': 'hub_and_spoke', 'hubs': ['h1']}]
GROUPS = {'all': ['h1', 'h2', 'h3'], 'ungrouped': ['h1', 'h2', 'h3']}


class LazyHostVars:
    """Behaves like ansible's HostVars: mapping of host -> mapping with .get()."""

    def __init__(self, data):
        self.data = data

    def __getitem__(self, host):
        return self.data[host]


def test_fleet_reads_only_the_role_host_variables():
    hv = LazyHostVars({'h1': {'wireguard_addresses': {'wg0': ['100.64.0.1/24']}, 'other': 1},
                       'h2': {'wireguard_primary_hub': {'wg0': 'h1'}}, 'h3': {}})
    fleet = F['wireguard_fleet'](NETS, [], GROUPS, hv)
    assert fleet['errors'] == []
    assert fleet['networks']['wg0']['explicit'] == {'h1': ['100.64.0.1/24']}
    assert fleet['networks']['wg0']['primary_hub'] == {'h2': 'h1', 'h3': 'h1'}
    assert F['wireguard_validate'](fleet, {}) == []


def test_host_config_and_psk_filters():
    fleet = F['wireguard_fleet'](NETS, [], GROUPS, {})
    registry = {'networks': {'wg0': {'hosts': {
        'h1': {'public_key': 'A' * 43 + '=', 'endpoint': '198.51.100.11', 'port': 51820,
               'addresses': ['100.64.0.1/24']},
        'h2': {'public_key': 'B' * 43 + '=', 'endpoint': '', 'port': 51820,
               'addresses': ['100.64.0.2/24']}}}}}
    hc = F['wireguard_host_config'](fleet, registry, 'h2')
    peers = hc['networks'][0]['peers']
    assert [p['name'] for p in peers] == ['h1'] and peers[0]['persistent_keepalive'] == 25
    with_psk = F['wireguard_with_psk'](peers, 'x' * 40, 'wg0', 'B' * 43 + '=')
    a, b = 'A' * 43 + '=', 'B' * 43 + '='
    assert with_psk[0]['preshared_key'] == F['wireguard_psk']('x' * 40, 'wg0', a, b)
    assert 'preshared_key' not in peers[0]  # the input is not modified
    with pytest.raises(AnsibleFilterError, match='ansible-vault encrypt_string'):
        F['wireguard_with_psk'](peers, '', 'wg0', 'B' * 43 + '=')
    with pytest.raises(AnsibleFilterError, match='shorter than 32'):
        F['wireguard_with_psk'](peers, 'short', 'wg0', 'B' * 43 + '=')
    with pytest.raises(AnsibleFilterError, match='wireguard_fleet'):
        F['wireguard_host_config']({}, registry, 'h2')
