"""Role on lab tier 1: firewall backends (nftables default, iptables, none), drift and masquerade.

Only the role's own table/chains exist afterwards; a table removed by hand is reported by check
mode and restored by the next run; with masquerade a LAN host without any route back to the
other sites is still reachable.
"""
import os

import pytest
from role_helpers import example, ping, run_site

pytestmark = pytest.mark.lab

HERE = os.path.dirname(__file__)
INV = [example('site-to-site')]
MASQ = [*INV, os.path.join(HERE, 'inventory', 'site-masquerade.yml')]


def extra(tmp_path, name, **variables):
    path = tmp_path / f'{name}.yml'
    path.write_text('all:\n  vars:\n' + ''.join(f'    {k}: {v}\n' for k, v in variables.items()))
    return str(path)


@pytest.fixture(scope='module')
def lab(nslab_module_factory):
    lab = nslab_module_factory(3, sites=True)
    run = run_site(lab, INV, label='firewall: first run (nftables)')
    assert run.rc == 0, run.tail()
    return lab


def test_nftables_own_table_and_drift(lab):
    tables = lab.exec('h1', 'nft list tables').stdout.split('\n')
    assert 'table inet meshlab_wireguard' in tables
    rules = lab.exec('h1', 'nft list table inet meshlab_wireguard').stdout
    assert 'udp dport 51820 accept' in rules and 'ip daddr 203.0.113.0/27 accept' in rules
    lab.exec('h1', 'nft delete table inet meshlab_wireguard')
    run = run_site(lab, INV, check=True, label='firewall: check mode after drift')
    assert run.rc == 0 and run.changed() == {'h1': 1, 'h2': 0, 'h3': 0}, run.recap
    run = run_site(lab, INV, label='firewall: repair drift')
    assert run.rc == 0 and run.changed() == {'h1': 1, 'h2': 0, 'h3': 0}, run.recap
    assert 'meshlab.wireguard' in lab.exec('h1', 'nft list table inet meshlab_wireguard').stdout


def _lan_host_without_route_back(lab):
    lab.exec('h3-lan', 'ip route del default; ip -6 route del default', check=False)


def test_masquerade_nftables(lab):
    _lan_host_without_route_back(lab)
    assert ping(lab, 'h1-lan', '203.0.113.74', count=2).returncode != 0  # no route back yet
    run = run_site(lab, MASQ, label='firewall: masquerade (nftables)')
    assert run.rc == 0, run.tail()
    assert 'masquerade' in lab.exec('h3', 'nft list table inet meshlab_wireguard').stdout
    assert ping(lab, 'h1-lan', '203.0.113.74', count=3).returncode == 0


def test_iptables_backend(lab, tmp_path):
    for h in ('h1', 'h2', 'h3'):
        lab.exec(h, 'nft delete table inet meshlab_wireguard')
    ipt = extra(tmp_path, 'ipt', wireguard_firewall='iptables')
    run = run_site(lab, [*MASQ, ipt], label='firewall: iptables + masquerade')
    assert run.rc == 0, run.tail()
    rules = lab.exec('h3', 'iptables -S; iptables -t nat -S').stdout
    assert '-A INPUT -j MESHLAB-WG-INPUT' in rules and '-A POSTROUTING -j MESHLAB-WG-POSTROUTING' in rules
    assert '-j MASQUERADE' in rules
    assert ping(lab, 'h1-lan', '203.0.113.74', count=3).returncode == 0
    run = run_site(lab, [*MASQ, ipt], label='firewall: iptables second run')
    assert run.rc == 0 and run.total_changed() == 0, run.recap
    lab.exec('h2', 'iptables -D INPUT -j MESHLAB-WG-INPUT')
    run = run_site(lab, [*MASQ, ipt], check=True, label='firewall: iptables check after drift')
    assert run.changed() == {'h1': 0, 'h2': 1, 'h3': 0}, run.recap
    # the built-in chains hold nothing of ours but the jumps
    own = [line for line in lab.exec('h1', 'iptables -S INPUT').stdout.splitlines() if 'MESHLAB' in line]
    assert own == ['-A INPUT -j MESHLAB-WG-INPUT']
    lab.exec('h1', '/etc/wireguard/iptables/meshlab-wireguard-iptables.sh remove')
    assert 'MESHLAB' not in lab.exec('h1', 'iptables -S; ip6tables -S; iptables -t nat -S').stdout


def test_none_leaves_the_firewall_alone(lab, tmp_path):
    before = lab.exec('h1', 'nft list ruleset').stdout
    none = extra(tmp_path, 'none', wireguard_firewall='none')
    run = run_site(lab, [*MASQ, none], label='firewall: none')
    assert run.rc == 0, run.tail()
    assert lab.exec('h1', 'nft list ruleset').stdout == before
