"""Role on lab tier 1: full mesh on two networks (examples/mesh), and the role under serial,
strategy free and one fork on a fresh fleet (one run converges, the next changes nothing)."""
import ipaddress

import pytest
from role_helpers import example, ping, registry, run_site, tunnel_ip, wg_peers, wg_public_key

pytestmark = pytest.mark.lab

INV = [example('mesh')]


@pytest.fixture(scope='module')
def lab(nslab_module_factory):
    lab = nslab_module_factory(3)
    run = run_site(lab, INV, label='mesh: first run')
    assert run.rc == 0, run.tail()
    return lab


def test_mesh_on_two_networks(lab):
    reg = registry(lab)
    assert reg['networks']['wg0']['hosts']['h1']['addresses'][0] == '100.64.0.1/24'  # explicit
    for src in ('h1', 'h2', 'h3'):
        for dst in ('h1', 'h2', 'h3'):
            if src == dst:
                continue
            for net, version in (('wg0', 4), ('wg0', 6), ('wg1', 6)):
                proc = ping(lab, src, tunnel_ip(reg, dst, net, version))
                assert proc.returncode == 0, (src, dst, net, version, proc.stdout)
    assert 'mtu 1380' in lab.exec('h2', 'ip link show wg1').stdout
    for h in ('h1', 'h2', 'h3'):
        assert len(wg_peers(lab, h, 'wg0')) == (3 if h == 'h1' else 2)  # h1 also has the laptop
        assert len(wg_peers(lab, h, 'wg1')) == 2


def test_addresses_deterministic_and_ipv6_follows_ipv4(lab):
    reg = registry(lab)
    for h in ('h2', 'h3'):
        v4, v6 = (ipaddress.ip_interface(a) for a in reg['networks']['wg0']['hosts'][h]['addresses'])
        assert int(v4.ip) - int(v4.network.network_address) == int(v6.ip) - int(v6.network.network_address)
    from ansible_collections.meshlab.wireguard.plugins.module_utils import _topology as topo
    nets = [{'name': 'wg0', 'ipv4_pool': '100.64.0.0/24', 'ipv6_pool': 'fd3a:6c1e:9b42:100::/64',
             'clients': [{'name': 'laptop', 'host': 'h1'}]}]
    h1 = {'wireguard_addresses': {'wg0': ['100.64.0.1/24', 'fd3a:6c1e:9b42:100::1/64']}}
    fleet = topo.normalize(nets, [], {'all': ['h3', 'h1', 'h2']}, {'h1': h1})
    alloc = topo.allocate_network(fleet['networks']['wg0'])  # from scratch, no registry
    for h in ('h1', 'h2', 'h3'):
        assert alloc['hosts'][h] == reg['networks']['wg0']['hosts'][h]['addresses']


def test_clients_are_routed_through_their_host(lab):
    reg = registry(lab)
    laptop = reg['networks']['wg0']['clients']['laptop']
    k1 = wg_public_key(lab, 'h1')
    addr = laptop['addresses'][0].split('/')[0] + '/32'
    assert addr in wg_peers(lab, 'h2')[k1]['allowed_ips']  # h2 reaches the laptop via h1
    assert laptop['public_key'] in wg_peers(lab, 'h1')


def test_idempotent(lab):
    run = run_site(lab, INV, label='mesh: second run')
    assert run.rc == 0 and run.total_changed() == 0, run.recap
    run = run_site(lab, INV, check=True, label='mesh: check mode')
    assert run.rc == 0 and run.total_changed() == 0, run.recap


def test_network_state_absent_removes_it_everywhere(lab):
    import os
    absent = [*INV, os.path.join(os.path.dirname(__file__), 'inventory', 'mesh-wg1-absent.yml')]
    run = run_site(lab, absent, label='mesh: wg1 absent')
    assert run.rc == 0, run.tail()
    for h in ('h1', 'h2', 'h3'):
        assert lab.exec(h, 'ip link show wg1', check=False).returncode != 0
        assert lab.exec(h, 'test -e /etc/wireguard/wg1.conf', check=False).returncode != 0
        assert '51821' not in lab.exec(h, 'nft list table inet meshlab_wireguard').stdout
        assert len(wg_peers(lab, h, 'wg0')) == (3 if h == 'h1' else 2)  # wg0 untouched
    assert registry(lab)['networks']['wg1']['hosts'] == {}
    run = run_site(lab, absent, label='mesh: wg1 absent, second run')
    assert run.rc == 0 and run.total_changed() == 0, run.recap


def test_serial_free_and_one_fork_on_a_fresh_fleet(nslab_factory):
    lab = nslab_factory(3, sites=True)
    inv = [example('site-to-site')]
    run = run_site(lab, inv, args=('-e', 'wireguard_site_serial=1', '--forks', '1'),
                   label='serial=1 forks=1: first run')
    assert run.rc == 0, run.tail()
    # one run converged: every host has both peers and LAN A reaches LAN C
    for h in ('h1', 'h2', 'h3'):
        assert len(wg_peers(lab, h)) == 2, h
    assert ping(lab, 'h1-lan', '203.0.113.74', count=3).returncode == 0
    run = run_site(lab, inv, env={'ANSIBLE_STRATEGY': 'free'}, args=('--forks', '3'),
                   label='strategy free: second run')
    assert run.rc == 0 and run.total_changed() == 0, run.recap
    run = run_site(lab, inv, args=('-e', 'wireguard_site_serial=2'), check=True, label='serial=2: check mode')
    assert run.rc == 0 and run.total_changed() == 0, run.recap
