"""Role on lab tier 1: hub-and-spoke (examples/hub-and-spoke) and a two-hub variant.

Spoke-to-spoke traffic passes the hub (the spoke's only peer is the hub; TTL drops by one; the
hub's counters for both spokes grow), the phone's generated config works from a fifth namespace
(wg-quick up), runs are idempotent, and with two hubs spokes of different hubs reach each other.
"""
import os
import re

import pytest
from role_helpers import example, ping, registry, run_site, state_dir, tunnel_ip, wg_peers, wg_public_key

pytestmark = pytest.mark.lab

INV = [example('hub-and-spoke')]
TWO_HUBS = [os.path.join(os.path.dirname(__file__), 'inventory', 'two-hubs.yml')]


@pytest.fixture(scope='module')
def lab(nslab_module_factory):
    lab = nslab_module_factory(4)  # h4 is not in the example: it plays the phone
    run = run_site(lab, INV, label='hub-and-spoke: first run')
    assert run.rc == 0, run.tail()
    return lab


def test_spoke_to_spoke_passes_the_hub(lab):
    reg = registry(lab)
    hub_key = wg_public_key(lab, 'h1')
    spoke_peers = wg_peers(lab, 'h2')
    assert list(spoke_peers) == [hub_key]  # a spoke's only peer is the hub
    assert '100.64.0.0/24' in spoke_peers[hub_key]['allowed_ips']
    hub_peers = wg_peers(lab, 'h1')
    k3 = wg_public_key(lab, 'h3')
    before = hub_peers[k3]['tx']
    for version in (4, 6):
        proc = ping(lab, 'h2', tunnel_ip(reg, 'h3', version=version), count=3)
        assert proc.returncode == 0, proc.stdout
        assert re.search(r'(ttl|hlim)=63', proc.stdout), proc.stdout  # one forwarding hop: the hub
    assert wg_peers(lab, 'h1')[k3]['tx'] > before  # the hub sent it on to h3


def test_phone_config_works(lab):
    conf_dir = os.path.join(state_dir(lab), 'clients', 'wg0')
    for ext in ('conf', 'key', 'png', 'txt'):
        path = os.path.join(conf_dir, 'phone.' + ext)
        assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(conf_dir).st_mode & 0o777 == 0o700
    with open(os.path.join(conf_dir, 'phone.conf')) as f:
        conf = f.read()
    with open(os.path.join(conf_dir, 'phone.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    # bring the phone up in h4 (wg-quick, wireguard-go); DNS needs resolvconf, so it is dropped
    conf = '\n'.join(line for line in conf.splitlines() if not line.startswith('DNS')) + '\n'
    lab.exec('h4', ['sh', '-c', 'umask 077; cat > /etc/wireguard/phone.conf'], input=conf)
    up = lab.exec('h4', ['wg-quick', 'up', 'phone'], check=False)
    assert up.returncode == 0, (up.stdout, up.stderr)
    try:
        reg = registry(lab)
        proc = ping(lab, 'h4', tunnel_ip(reg, 'h3'), count=3, wait=3)
        assert proc.returncode == 0, proc.stdout  # phone -> hub -> spoke
        assert wg_public_key(lab, 'h4', 'phone') in wg_peers(lab, 'h1')
    finally:
        lab.exec('h4', ['wg-quick', 'down', 'phone'], check=False)


def test_second_run_and_check_mode_change_nothing(lab):
    run = run_site(lab, INV, label='hub-and-spoke: second run')
    assert run.rc == 0 and run.total_changed() == 0, run.recap
    run = run_site(lab, INV, check=True, label='hub-and-spoke: check mode')
    assert run.rc == 0 and run.total_changed() == 0, run.recap


def test_two_hubs_spokes_of_different_hubs(nslab_factory):
    lab = nslab_factory(5)
    run = run_site(lab, TWO_HUBS, label='two hubs: first run')
    assert run.rc == 0, run.tail()
    reg = registry(lab)
    hosts = reg['networks']['wg0']['hosts']
    assert hosts['h3']['hub'] == 'h1' and hosts['h4']['hub'] == 'h2'
    # h3 (hub h1) <-> h4 (hub h2): spoke, hub, hub, spoke
    for src, dst in (('h3', 'h4'), ('h4', 'h3'), ('h5', 'h3'), ('h5', 'h4'), ('h1', 'h4')):
        for version in (4, 6):
            proc = ping(lab, src, tunnel_ip(reg, dst, version=version), count=2, wait=3)
            assert proc.returncode == 0, (src, dst, version, proc.stdout)
    assert 'ttl=62' in ping(lab, 'h3', tunnel_ip(reg, 'h4')).stdout
    # no allowed IP on two peers of one interface (WireGuard would silently move it)
    for h in hosts:
        allowed = [a for p in wg_peers(lab, h).values() for a in p['allowed_ips']]
        assert len(allowed) == len(set(allowed)), (h, allowed)
    run = run_site(lab, TWO_HUBS, label='two hubs: second run')
    assert run.rc == 0 and run.total_changed() == 0, run.recap
