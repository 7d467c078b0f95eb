"""Role on lab tier 1: three sites, each with a LAN host behind its gateway (examples/site-to-site).

One lab for the module; the tests run in order and build on each other:
converge -> LAN A pings LAN C through the mesh (IPv4 and IPv6) -> second run changed=0, the probe
its only contact with each host -> drift of the wg-quick file, a live peer and the firewall table,
found by that contact and repaired -> --skip-tags of the firewall leaves only it alone ->
check mode changed=0 -> no secret in -vvv output -> --limit h1 keeps (and rebuilds) every peer ->
one host unreachable: the others converge and keep its peer.
"""
import os

import pytest
import yaml
from role_helpers import (
    JSON_CALLBACK,
    example,
    host_contacts,
    ping,
    registry,
    run_site,
    state_dir,
    unreachable_inventory,
    wg_peers,
    wg_public_key,
)

pytestmark = pytest.mark.lab

INV = [example('site-to-site')]


@pytest.fixture(scope='module')
def lab(nslab_module_factory):
    lab = nslab_module_factory(3, sites=True)
    run = run_site(lab, INV, label='site-to-site: first run')
    assert run.rc == 0, run.tail()
    assert all(c > 0 for c in run.changed().values()), run.recap
    return lab


def test_lan_a_reaches_lan_c_through_the_mesh(lab):
    for src, dst in (('h1-lan', '203.0.113.74'), ('h1-lan', 'fd3a:6c1e:9b42:a3::10'),
                     ('h3-lan', '203.0.113.10'), ('h2-lan', '203.0.113.74')):
        proc = ping(lab, src, dst, count=3)
        assert proc.returncode == 0, (src, dst, proc.stdout, proc.stderr)
    # the path is h1 -> h3 directly: two hops (the gateways) between the LAN hosts
    assert 'ttl=62' in ping(lab, 'h1-lan', '203.0.113.74').stdout


def test_every_gateway_routes_the_other_sites(lab):
    reg = registry(lab)
    keys = {h: e['public_key'] for h, e in reg['networks']['wg0']['hosts'].items()}
    lans = {'h1': '203.0.113.0/27', 'h2': '203.0.113.32/27', 'h3': '203.0.113.64/27'}
    for host in ('h1', 'h2', 'h3'):
        peers = wg_peers(lab, host)
        assert set(peers) == {keys[h] for h in keys if h != host}
        for other in keys:
            if other != host:
                assert lans[other] in peers[keys[other]]['allowed_ips']
                assert peers[keys[other]]['psk']  # per-pair preshared key
        assert lab.exec(host, 'ip route show dev wg0').stdout.count('203.0.113.') == 2


def test_second_run_changes_nothing_and_contacts_each_host_once(lab):
    run = run_site(lab, INV, env=JSON_CALLBACK, label='site-to-site: second run')
    assert run.rc == 0, run.tail()
    contacts, changed = host_contacts(run)
    assert changed == {'h1': 0, 'h2': 0, 'h3': 0}
    # the probe checked interfaces (preshared keys included) and firewall: nothing else ran there
    assert contacts == {h: ['meshlab.wireguard.wireguard_probe'] for h in ('h1', 'h2', 'h3')}, contacts


def test_drift_is_found_by_the_one_contact_and_repaired(lab):
    keys = {h: wg_public_key(lab, h) for h in ('h1', 'h2', 'h3')}
    lab.exec('h1', "echo '# edited by hand' >> /etc/wireguard/wg0.conf")
    lab.exec('h2', ['wg', 'set', 'wg0', 'peer', keys['h1'], 'remove'])
    lab.exec('h3', 'nft delete table inet meshlab_wireguard')
    run = run_site(lab, INV, check=True, env=JSON_CALLBACK, label='site-to-site: check mode after drift')
    contacts, changed = host_contacts(run)
    assert run.rc == 0 and changed == {'h1': 1, 'h2': 1, 'h3': 1}, changed
    expected = {'h1': 'meshlab.wireguard.wireguard_interface', 'h2': 'meshlab.wireguard.wireguard_interface',
                'h3': 'meshlab.wireguard.wireguard_firewall'}
    assert contacts == {h: ['meshlab.wireguard.wireguard_probe', a] for h, a in expected.items()}, contacts
    run = run_site(lab, INV, env=JSON_CALLBACK, label='site-to-site: repair drift')
    _, changed = host_contacts(run)
    assert run.rc == 0 and changed == {'h1': 1, 'h2': 1, 'h3': 1}, changed
    assert '# edited by hand' not in lab.exec('h1', 'cat /etc/wireguard/wg0.conf').stdout
    assert keys['h1'] in wg_peers(lab, 'h2')
    assert 'meshlab.wireguard' in lab.exec('h3', 'nft list table inet meshlab_wireguard').stdout
    run = run_site(lab, INV, env=JSON_CALLBACK, label='site-to-site: after the repair')
    contacts, changed = host_contacts(run)
    assert run.rc == 0 and changed == {'h1': 0, 'h2': 0, 'h3': 0}, changed
    assert contacts == {h: ['meshlab.wireguard.wireguard_probe'] for h in ('h1', 'h2', 'h3')}, contacts


def test_skip_tags_of_one_stage_skips_only_that_stage(lab):
    keys = {h: wg_public_key(lab, h) for h in ('h1', 'h2', 'h3')}
    lab.exec('h2', ['wg', 'set', 'wg0', 'peer', keys['h1'], 'remove'])
    lab.exec('h3', 'nft delete table inet meshlab_wireguard')
    run = run_site(lab, INV, args=('--skip-tags', 'wireguard_firewall'), label='site-to-site: skip firewall')
    assert run.rc == 0 and run.changed() == {'h1': 0, 'h2': 1, 'h3': 0}, run.recap
    assert keys['h1'] in wg_peers(lab, 'h2')
    assert lab.exec('h3', 'nft list table inet meshlab_wireguard', check=False).returncode != 0
    run = run_site(lab, INV, label='site-to-site: the firewall again')
    assert run.rc == 0 and run.changed() == {'h1': 0, 'h2': 0, 'h3': 1}, run.recap


def test_check_mode_after_converge_reports_nothing(lab):
    run = run_site(lab, INV, args=('--diff',), check=True, label='site-to-site: check mode')
    assert run.rc == 0, run.tail()
    assert run.total_changed() == 0, run.recap


def test_no_secret_in_verbose_output(lab):
    from ansible_collections.meshlab.wireguard.plugins.module_utils._topology import derive_psk
    run = run_site(lab, INV, args=('-vvv', '--diff'), label='site-to-site: -vvv')
    assert run.rc == 0, run.tail()
    with open(os.path.join(state_dir(lab), 'psk.secret')) as f:  # the example's, in the state dir
        secret = f.read().strip()
    hosts = registry(lab)['networks']['wg0']['hosts']
    text = run.stdout + run.stderr
    assert secret not in text
    for a in hosts:
        for b in hosts:
            if a < b:
                assert derive_psk(secret, 'wg0', hosts[a]['public_key'], hosts[b]['public_key']) not in text
    for h in hosts:
        private = lab.exec(h, ['cat', '/etc/wireguard/wg0.key']).stdout.strip()
        assert private and private not in text


def test_limit_to_one_host_keeps_every_peer(lab):
    before = {h: wg_peers(lab, h) for h in ('h1', 'h2', 'h3')}
    run = run_site(lab, INV, args=('--limit', 'h1'), label='site-to-site: --limit h1')
    assert run.rc == 0 and run.total_changed() == 0, run.recap
    assert {h: set(wg_peers(lab, h)) for h in before} == {h: set(p) for h, p in before.items()}
    # h1 loses its interface; a run limited to h1 rebuilds it with both peers, others untouched
    lab.exec('h1', 'ip link del wg0')
    run = run_site(lab, INV, args=('--limit', 'h1'), label='site-to-site: --limit h1 rebuild')
    assert run.rc == 0, run.tail()
    assert set(run.recap) == {'h1'} and run.recap['h1']['changed'] > 0
    assert set(wg_peers(lab, 'h1')) == set(before['h1'])
    assert ping(lab, 'h1-lan', '203.0.113.42', count=3).returncode == 0


def test_unreachable_host_keeps_its_peer(lab, tmp_path):
    keys = {h: wg_public_key(lab, h) for h in ('h1', 'h2', 'h3')}
    # drift on the reachable hosts: the run must repair them while h3 cannot be reached
    lab.exec('h1', 'ip link del wg0')
    lab.exec('h2', ['wg', 'set', 'wg0', 'peer', keys['h3'], 'remove'])
    down = unreachable_inventory(tmp_path, 'h3')
    run = run_site(lab, [*INV, down], label='site-to-site: h3 unreachable')
    assert run.recap['h3']['unreachable'] == 1, run.recap
    assert run.recap['h1']['failed'] == 0 and run.recap['h2']['failed'] == 0, run.tail()
    assert run.recap['h1']['changed'] > 0 and run.recap['h2']['changed'] > 0
    for host in ('h1', 'h2'):
        peers = wg_peers(lab, host)
        assert keys['h3'] in peers, f'{host} lost the unreachable host h3'
        assert '203.0.113.64/27' in peers[keys['h3']]['allowed_ips']
    # the registry still has h3, and the mesh works again end to end
    assert registry(lab)['networks']['wg0']['hosts']['h3']['public_key'] == keys['h3']
    assert ping(lab, 'h1-lan', '203.0.113.74', count=3).returncode == 0
    with open(lab.state_dir + '/wireguard-registry.yml') as f:
        assert 'private' not in yaml.safe_load(f).__repr__().lower()


def test_check_mode_on_a_fresh_fleet_changes_nothing(nslab_factory):
    """Check mode before the first run: reports changes, writes nothing anywhere."""
    import os
    lab = nslab_factory(3, sites=True)
    run = run_site(lab, INV, check=True, label='site-to-site: check mode on a fresh fleet')
    assert run.rc == 0, run.tail()
    assert all(c > 0 for c in run.changed().values()), run.recap
    assert not [f for f in os.listdir(lab.state_dir) if f.startswith('wireguard')]
    for h in ('h1', 'h2', 'h3'):
        assert lab.exec(h, 'ls /etc/wireguard').stdout.strip() == ''
        assert lab.exec(h, 'ip link show wg0', check=False).returncode != 0
