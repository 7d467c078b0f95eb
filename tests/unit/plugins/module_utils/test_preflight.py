"""_preflight.verdict: every host's probe judged together, before the first change on any host."""

import base64
import copy
import hashlib

import pytest

from ansible_collections.meshlab.wireguard.plugins.module_utils import _preflight as pf
from ansible_collections.meshlab.wireguard.plugins.module_utils import _topology as topo

HOSTS = ['h1', 'h2', 'h3']
SITES = [
    {'name': s, 'hosts': [f'h{i}'], 'lans': [f'203.0.113.{32 * (i - 1)}/27']} for i, s in enumerate('abc', 1)
]


def key(tag):
    return base64.b64encode(hashlib.sha256(tag.encode()).digest()).decode()


FLEET = topo.normalize(
    [
        {
            'name': 'wg0',
            'topology': 'site_to_site',
            'ipv4_pool': '100.64.0.0/24',
            'clients': [{'name': 'phone', 'host': 'h1'}],
        }
    ],
    SITES,
    {'all': HOSTS},
    {},
)
REGISTRY = {
    'version': 1,
    'networks': {
        'wg0': {
            'hosts': {
                h: {
                    'public_key': key(h),
                    'endpoint': f'198.51.100.1{i}',
                    'port': 51820,
                    'addresses': [f'100.64.0.{i}/24'],
                    'role': 'gateway',
                }
                for i, h in enumerate(HOSTS, 1)
            },
            'clients': {'phone': {'host': 'h1', 'addresses': ['100.64.0.9/24'], 'public_key': key('phone')}},
        }
    },
}
SETTINGS = {
    'regenerate': 'never',
    'manage_forwarding': True,
    'firewall': 'nftables',
    'install_packages': False,
    'engine': 'auto',
}
CAPS = {
    'net_admin': True,
    'tun': {'usable': True},
    'kernel_wireguard': False,
    'wireguard_go': True,
    'nacl': True,
    'pyroute2': True,
    'sysctl': {'net.ipv4.ip_forward': {'value': '1', 'writable': True}},
    'sysctl_file': {'path': '/etc/sysctl.d/x.conf', 'writable': True, 'values': {'net.ipv4.ip_forward': '1'}},
    'dirs': {'/etc/wireguard': {'writable': True, 'free_bytes': 10**9}},
    'nft': {'present': True, 'usable': True},
}


def probe(host, fresh=True):
    peers = [
        {'public_key': key(o), 'name': o, 'handshake_age': 5 if fresh else None} for o in HOSTS if o != host
    ]
    return {
        'networks': {
            'wg0': {
                'key': {
                    'state': 'valid',
                    'public_key': key(host),
                    'clamped': True,
                    'mode': '0600',
                    'path': '/etc/wireguard/wg0.key',
                    'backups': [],
                },
                'link': {'kind': 'tun', 'engine': 'userspace'},
                'live': {'public_key': key(host), 'listen_port': 51820, 'addresses': [], 'peers': peers},
                'config_names': {p['public_key']: p['name'] for p in peers},
            }
        },
        'capabilities': copy.deepcopy(CAPS),
        'resolved': {},
    }


def judge(probes=None, registry=None, settings=None, run_hosts=None, failed=None):
    registry = REGISTRY if registry is None else registry
    run_hosts = HOSTS if run_hosts is None else run_hosts
    probes = probes if probes is not None else {h: probe(h) for h in HOSTS}
    settings = settings or {h: dict(SETTINGS) for h in probes}
    return pf.verdict(FLEET, registry, probes, settings, run_hosts, failed)


def edit(obj, path, value):
    for part in path[:-1]:
        obj = obj[part]
    obj[path[-1]] = value


def test_a_converged_fleet_passes():
    assert judge() == ([], [])


@pytest.mark.parametrize(
    'path, value, fragment',
    [
        (
            ('networks', 'wg0', 'key'),
            {
                'state': 'invalid',
                'error': 'x is empty',
                'path': '/etc/wireguard/wg0.key',
                'backups': ['/etc/wireguard/wg0.key.1.2026~'],
            },
            'Restore it from the backup /etc/wireguard/wg0.key.1.2026~',
        ),
        (
            ('networks', 'wg0', 'key'),
            {'state': 'absent', 'path': '/etc/wireguard/wg0.key', 'backups': []},
            'is gone while wg0 runs',
        ),
        (
            ('networks', 'wg0', 'key', 'public_key_of'),
            'the public key of h2',
            'a PUBLIC key, not a private key',
        ),
        (('networks', 'wg0', 'key', 'public_key'), key('h2'), 'is the private key of host h2'),
        (
            ('networks', 'wg0', 'supplied'),
            {'state': 'invalid', 'error': 'the vault key is not valid base64'},
            'wireguard_private_keys.wg0: the vault key is not valid base64',
        ),
        (
            ('networks', 'wg0', 'supplied'),
            {'state': 'valid', 'public_key': key('other')},
            'wireguard_private_keys.wg0 differs from the valid key',
        ),
        (('networks', 'wg0', 'link'), {'kind': 'veth', 'engine': None}, 'a link named wg0 of kind veth'),
        (('capabilities', 'net_admin'), False, 'CAP_NET_ADMIN'),
        (
            ('capabilities', 'nft'),
            {'present': True, 'usable': False, 'error': 'Operation not permitted'},
            'wireguard_firewall: none',
        ),
        (('capabilities', 'dirs', '/etc/wireguard', 'free_bytes'), 10, 'no space left'),
        (
            ('capabilities', 'sysctl', 'net.ipv4.ip_forward'),
            {'value': '0', 'writable': False, 'error': 'Read-only'},
            'wireguard_manage_forwarding: false',
        ),
        (
            ('resolved',),
            {'gw.invalid': {'addresses': [], 'error': 'Name or service not known'}},
            'cannot resolve gw.invalid',
        ),
    ],
)
def test_one_host_problem_stops_the_fleet_naming_the_fix(path, value, fragment):
    probes = {h: probe(h) for h in HOSTS}
    edit(probes['h1'], path, value)
    errors, _warnings = judge(probes)
    assert any(e.startswith('host h1') and fragment in e for e in errors), errors


def test_registry_lost_a_live_peer():
    reg = copy.deepcopy(REGISTRY)
    del reg['networks']['wg0']['hosts']['h2']
    errors, _warnings = judge(registry=reg)
    assert any('host h1: its live wg0 has peer h2' in e and 'registry_rebuild' in e for e in errors)
    assert any('host h2: wg0 runs' in e and 'no entry for h2' in e for e in errors)


def test_registry_swaps_a_peer_with_a_fresh_handshake_only_when_announced():
    reg = copy.deepcopy(REGISTRY)
    reg['networks']['wg0']['hosts']['h2']['public_key'] = key('h2-new')
    errors, _warnings = judge(registry=reg)
    assert any("the registry gives peer h2 the key" in e and 'run h2 too' in e for e in errors)
    reg['networks']['wg0']['hosts']['h2']['previous_public_key'] = key('h2')
    errors, _warnings = judge(registry=reg, probes={h: probe(h) for h in ('h1', 'h3')})
    assert errors == []
    stale = {h: probe(h, fresh=False) for h in ('h1', 'h3')}
    del reg['networks']['wg0']['hosts']['h2']['previous_public_key']
    assert judge(registry=reg, probes=stale)[0] == []  # no session to lose: swapped as before


def test_a_key_change_needs_every_peer_in_the_run():
    probes = {'h1': probe('h1')}
    probes['h1']['networks']['wg0']['key']['public_key'] = key('h1-new')
    errors, warnings = judge(probes, run_hosts=['h1'])
    assert any(
        'its wg0 key changes in this run' in e and 'peers h2, h3 are not in this run' in e for e in errors
    )
    errors, warnings = judge(probes, run_hosts=HOSTS)
    assert errors == [] and any('clients phone must import' in w for w in warnings)


def test_regenerate_always_is_a_key_change():
    settings = {'h1': dict(SETTINGS, regenerate='always')}
    errors, _warnings = judge({'h1': probe('h1')}, settings=settings, run_hosts=['h1'])
    assert any('wireguard_key_regenerate: always' in e and 'not in this run' in e for e in errors)


def test_forwarding_turned_on_is_announced_not_quiet():
    probes = {h: probe(h) for h in HOSTS}
    probes['h2']['capabilities']['sysctl']['net.ipv4.ip_forward']['value'] = '0'
    errors, warnings = judge(probes)
    assert errors == []
    assert any(
        'host h2: turning on net.ipv4.ip_forward because it forwards for gateway of site b' in w
        for w in warnings
    )


def test_a_failed_probe_stops_the_fleet():
    errors, _warnings = judge(failed={'h3': 'python3 not found'})
    assert errors == ['host h3: the probe failed, so what it can do is unknown: python3 not found']


def test_key_work_and_forwarding_work():
    nets = probe('h1')['networks']
    assert pf.key_work(nets, SETTINGS) == []
    assert pf.key_work(nets, dict(SETTINGS, regenerate='always')) == ['wg0']
    nets['wg0']['key']['mode'] = '0644'
    assert pf.key_work(nets, SETTINGS) == ['wg0']
    caps = copy.deepcopy(CAPS)
    assert pf.forwarding_work(caps) == ['net.ipv6.conf.all.forwarding']
    caps['sysctl_file']['values'] = {}
    assert pf.forwarding_work(caps) == list(pf.FORWARDING_SYSCTLS)


def test_probe_args_name_registry_keys_and_endpoint_names():
    fleet = topo.normalize(
        [{'name': 'wg0', 'ipv4_pool': '100.64.0.0/24'}],
        [],
        {'all': HOSTS},
        {'h2': {'wireguard_endpoint': 'h2.example.net'}, 'h3': {'wireguard_endpoint': '198.51.100.13'}},
    )
    args = pf.probe_args(fleet, REGISTRY, 'h1', '/etc/wireguard', '/etc/wireguard')
    assert args['networks'] == [
        {'name': 'wg0', 'key_path': '/etc/wireguard/wg0.key', 'config_dir': '/etc/wireguard', 'port': 51820}
    ]
    assert args['resolve'] == ['h2.example.net']
    assert args['public_keys'][key('h2')] == 'the public key of host h2 in the registry'
    assert args['public_keys'][key('phone')] == 'the public key of client phone in the registry'


def test_the_same_key_for_two_hosts_is_refused():
    probes = {h: probe(h) for h in HOSTS}
    for h in ('h1', 'h2'):
        probes[h]['networks']['wg0']['supplied'] = {'state': 'valid', 'public_key': key('shared')}
    settings = {h: dict(SETTINGS, regenerate='always') for h in HOSTS}
    errors, _warnings = judge(probes, settings=settings)
    assert any('hosts h1, h2 would all run with the private key' in e and 'its own key' in e for e in errors)
