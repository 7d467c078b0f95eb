"""The role checks every input before any host is touched.

The hosts point at a closed port on 127.0.0.1 over ssh: had the role contacted one, it would be
`unreachable`. Each bad inventory must instead fail in the validation task, with a message that
names the variable and the fix.
"""
import os
import socket
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')


def closed_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def inventory(tmp_path, networks, sites=None, hostvars=None, extra=None):
    port = closed_port()
    hosts = {}
    for h in ('h1', 'h2', 'h3'):
        hosts[h] = {'ansible_connection': 'ssh', 'ansible_host': '127.0.0.1', 'ansible_port': port,
                    'ansible_ssh_common_args': '-o ConnectTimeout=2 -o BatchMode=yes'}
        hosts[h].update((hostvars or {}).get(h, {}))
    data = {'all': {'hosts': hosts, 'children': {'gw': {'hosts': {'h1': None, 'h2': None}}},
                    'vars': {'wireguard_networks': networks, 'wireguard_sites': sites or [],
                             'wireguard_registry_path': str(tmp_path / 'registry.yml'), **(extra or {})}}}
    path = tmp_path / 'inventory.yml'
    path.write_text(yaml.safe_dump(data))
    return str(path)


def run(inv):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR='1',
               ANSIBLE_HOST_KEY_CHECKING='0', ANSIBLE_RETRY_FILES_ENABLED='0')
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inv,
           os.path.join(ROOT, 'site.yml')]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)


NET = {'name': 'wg0', 'ipv4_pool': '100.64.0.0/24'}
CASES = {
    'duplicate address': (
        [NET], None, {'h1': {'wireguard_addresses': {'wg0': ['100.64.0.9/24']}},
                      'h2': {'wireguard_addresses': {'wg0': ['100.64.0.9/24']}}}, None,
        'duplicate tunnel address 100.64.0.9'),
    'overlapping LANs': (
        [NET], [{'name': 'a', 'hosts': ['h1'], 'lans': ['203.0.113.0/26']},
                {'name': 'b', 'hosts': ['h2'], 'lans': ['203.0.113.32/27']}], None, None, 'LANs overlap'),
    'unknown hub': (
        [dict(NET, topology='hub_and_spoke', hubs=['h9'])], None, None, None, "unknown hub 'h9'"),
    'host in two sites': (
        [NET], [{'name': 'a', 'hosts': ['h1'], 'lans': ['203.0.113.0/27']},
                {'name': 'b', 'group': 'gw', 'lans': ['203.0.113.32/27']}], None, None,
        'h1 is in two sites'),
    'pool exhausted': ([dict(NET, ipv4_pool='100.64.0.0/30')], None, None, None, 'is exhausted'),
    'two networks on one port': (
        [NET, {'name': 'wg1', 'ipv4_pool': '100.64.1.0/24'}], None, None, None, 'two networks on one port'),
    'psk without secret': (
        [dict(NET, preshared_keys=True)], None, None, None, 'ansible-vault encrypt_string'),
    'argument spec': ([dict(NET, port='not-a-port')], None, None, None, 'wireguard_networks'),
    'ufw cannot masquerade': (
        [dict(NET, masquerade=True)], None, None, {'wireguard_firewall': 'ufw'}, 'ufw has no masquerade'),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_bad_input_fails_before_any_host_is_touched(tmp_path, case):
    networks, sites, hostvars, extra, message = CASES[case]
    proc = run(inventory(tmp_path, networks, sites, hostvars, extra))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert message in out, out[-3000:]
    assert 'unreachable=1' not in out and 'UNREACHABLE' not in out, out[-3000:]
    assert sorted(os.listdir(tmp_path)) == ['inventory.yml']  # no registry, no lock file
