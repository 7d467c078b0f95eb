"""Helpers of the wireguard_inventory action plugin: membership and the role-level input checks."""
from ansible_collections.meshlab.wireguard.plugins.action import wireguard_inventory as wi
from ansible_collections.meshlab.wireguard.plugins.plugin_utils import _fleet

GROUPS = {'all': ['h1', 'h2', 'h3', 'lonely'], 'ungrouped': ['lonely'], 'mesh': ['h1', 'h2', 'h3']}


def fleet(**extra):
    nets = [dict({'name': 'wg0', 'port': 51820, 'topology': 'mesh', 'group': 'mesh',
                  'ipv4_pool': '100.64.0.0/24'}, **extra),
            {'name': 'old', 'port': 51821, 'topology': 'mesh', 'hosts': ['h1'], 'state': 'absent',
             'ipv4_pool': '100.64.1.0/24'}]
    hostvars = {h: {} for h in GROUPS['all']}
    hostvars['h2'] = {'wireguard_addresses': {'wg0': ['100.64.0.9/24']}}
    return _fleet.normalize(nets, [], GROUPS, hostvars)


def test_membership_present_absent_and_outsiders():
    f = fleet()
    assert not f['errors']
    assert wi.membership(f, 'h1') == {'member': True, 'networks': ['wg0'], 'absent': ['old'],
                                      'uses_psk': False}
    assert wi.membership(f, 'h3')['absent'] == []
    assert wi.membership(f, 'lonely') == {'member': False, 'networks': [], 'absent': [], 'uses_psk': False}


def test_per_host_variables_come_from_hostvars():
    f = fleet()
    assert '100.64.0.9/24' in str(f['networks']['wg0'])


def test_role_errors_name_the_fix():
    assert wi.role_errors(fleet(), 'nftables', True) == []
    psk = wi.role_errors(fleet(preshared_keys=True), 'nftables', False)
    assert len(psk) == 1 and 'wireguard_psk_secret' in psk[0] and 'ansible-vault encrypt_string' in psk[0]
    assert wi.membership(fleet(preshared_keys=True), 'lonely')['uses_psk'] is True
    ufw = wi.role_errors(fleet(masquerade=True), 'ufw', True)
    assert len(ufw) == 1 and 'wireguard_firewall' in ufw[0] and 'masquerade: false' in ufw[0]
