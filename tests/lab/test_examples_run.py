"""The modules' EXAMPLES run as written, in a playbook project of a user's own (lab tier 1).

A scratch project (a directory with an inventory and playbooks, the collection found through
ANSIBLE_COLLECTIONS_PATH as if installed) on three namespace hosts:

- h3, a host of its own: the EXAMPLES of wireguard_key, wireguard_interface and wireguard_nftables
  run task by task as written; afterwards wg0 has the peers the examples gave it and wg1 is gone,
  and the nftables table was loaded by the first task and removed by the second;
- h1 and h2: the role makes a mesh (the project's site.yml imports meshlab.wireguard.site), then
  the EXAMPLES of wireguard_info, wireguard_ping, wireguard_health, wireguard_registry,
  wireguard_client and wireguard_inventory run as written against it: pings are answered, the
  health example's own assert finds every link up, the client's files land beside the playbook.

tests/functional/test_examples.py checks that every example parses and passes --syntax-check.
"""
import ast
import base64
import glob
import json
import os
import subprocess
import sys

import pytest
import yaml
from role_helpers import LAB_VARS, parse_recap, state_dir, wg_peers, xdg_state_home

pytestmark = pytest.mark.lab

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)

# The user's inventory: h1 and h2 in a mesh with the addresses the EXAMPLES ping (100.64.0.2);
# the registry and the private state where the role keeps them by default, as the EXAMPLES
# expect (the registry beside the first inventory source, the lab's; the state in
# XDG_STATE_HOME); lab-vars.yml adds the lab's settings.
PROJECT_INVENTORY = """
all:
  children:
    vpn:
      hosts:
        h1:
          wireguard_addresses: {wg0: [100.64.0.1/24, "fd3a:6c1e:9b42:100::1/64"]}
        h2:
          wireguard_addresses: {wg0: [100.64.0.2/24, "fd3a:6c1e:9b42:100::2/64"]}
  vars:
    wireguard_networks:
      - name: wg0
        port: 51820
        topology: mesh
        group: vpn
        ipv4_pool: 100.64.0.0/24
        ipv6_pool: fd3a:6c1e:9b42:100::/64
"""


# A private key as `wg genkey` makes it (clamped), for the example that installs a vault key
VAULT_KEY = base64.b64encode(bytes([0x40] + [7] * 30 + [0x48])).decode()


def examples(module):
    path = os.path.join(ROOT, 'plugins', 'modules', f'{module}.py')
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', '') == 'EXAMPLES':
            # all but what needs a service the lab does not have (a Redis server)
            return [t for t in yaml.safe_load(node.value.value)
                    if 'redis' not in json.dumps(t.get('meshlab.wireguard.wireguard_registry') or {})]
    raise AssertionError(module)


@pytest.fixture(scope='module')
def project(nslab_module_factory, tmp_path_factory):
    lab = nslab_module_factory(3)
    d = tmp_path_factory.mktemp('project')
    (d / 'inventory.yml').write_text(PROJECT_INVENTORY)
    return lab, d


def play(project, name, plays, limit=None):
    lab, d = project
    (d / f'{name}.yml').write_text(yaml.safe_dump(plays, sort_keys=False))
    cmd = [os.path.join(BIN, 'ansible-playbook'), '-i', lab.inventory_path, '-i', 'inventory.yml',
           '-i', LAB_VARS, f'{name}.yml']
    if limit:
        cmd += ['--limit', limit]
    env = {k: v for k, v in os.environ.items() if not k.startswith('ANSIBLE_')}
    env.update(ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.build', 'collections'), ANSIBLE_NOCOLOR='1',
               XDG_STATE_HOME=xdg_state_home(lab))
    proc = subprocess.run(cmd, cwd=d, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    return proc


def test_key_interface_and_nftables_examples_on_a_host_of_their_own(project):
    lab, _ = project
    nft = examples('wireguard_nftables')
    check_table = {'name': 'The example table is loaded', 'register': 'table', 'changed_when': False,
                   'ansible.builtin.command': 'nft list table inet wireguard_port'}
    plays = [{'name': f'EXAMPLES of {m}', 'hosts': 'h3', 'gather_facts': False, 'tasks': examples(m)}
             for m in ('wireguard_key', 'wireguard_interface')]
    plays[0]['vars'] = {'vault_wg2_private_key': VAULT_KEY}  # what the user's vault would hold
    plays.append({'name': 'EXAMPLES of wireguard_nftables', 'hosts': 'h3', 'gather_facts': False,
                  'tasks': [nft[0], check_table,
                            {'name': 'It holds the rule', 'ansible.builtin.assert': {
                                'that': "'udp dport 51820' in table.stdout"}},
                            *nft[1:]]})
    play(project, 'h3-examples', plays)
    # wg0: the two peers of "wg0 with two peers" plus the one "exclusive: false" added
    assert len(wg_peers(lab, 'h3')) == 3
    assert lab.exec('h3', 'ip link show wg1', check=False).returncode != 0  # removed again
    assert lab.exec('h3', 'cat /etc/wireguard/wg2.key').stdout.strip() == VAULT_KEY  # the vault key
    assert lab.exec('h3', 'nft list table inet wireguard_port', check=False).returncode != 0
    assert lab.exec('h3', 'test -e /etc/nftables.d/wireguard-port.nft', check=False).returncode != 0


def test_observing_and_controller_examples_on_a_mesh_the_role_made(project):
    lab, d = project
    site = [{'name': 'WireGuard', 'ansible.builtin.import_playbook': 'meshlab.wireguard.site'}]
    converge = play(project, 'site', site, limit='h1,h2')
    assert {h: c['failed'] for h, c in parse_recap(converge.stdout).items()} == {'h1': 0, 'h2': 0}
    plays = [{'name': 'EXAMPLES of wireguard_ping', 'hosts': 'h1', 'gather_facts': False,
              'tasks': examples('wireguard_ping')}]
    plays += [{'name': f'EXAMPLES of {m}', 'hosts': 'vpn', 'gather_facts': False, 'tasks': examples(m)}
              for m in ('wireguard_info', 'wireguard_health', 'wireguard_registry', 'wireguard_client',
                        'wireguard_inventory')]
    proc = play(project, 'mesh-examples', plays, limit='h1,h2')
    assert set(parse_recap(proc.stdout)) == {'h1', 'h2'}, proc.stdout[-3000:]
    with open(os.path.join(state_dir(lab), 'health', 'health.json')) as f:  # its assert passed too
        summary = json.load(f)['summary']
    assert summary['links'] == summary['up'] == 1, summary
    clients = os.path.join(state_dir(lab), 'clients', 'wg0')
    client = sorted(os.path.basename(p) for p in glob.glob(os.path.join(clients, 'phone.*')))
    assert client == ['phone.conf', 'phone.key', 'phone.png', 'phone.txt']
    # one registry, the role's, beside the lab's inventory; nothing in the project or the collection
    assert os.path.exists(os.path.join(lab.state_dir, 'wireguard-registry.yml'))
    assert [n for n in os.listdir(d) if not n.endswith('.yml')] == []
    assert not glob.glob(os.path.join(ROOT, 'playbooks', 'wireguard-*'))
