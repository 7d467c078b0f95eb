"""Helpers for the role's lab tests: ansible-playbook runs against a tier-1 lab, wg dumps.

A run combines the lab's own inventory (connection to the namespace hosts), an example inventory
from examples/ (or a test inventory) and tests/lab/inventory/lab-vars.yml (lab settings), the way
a user combines inventories: -i LAB -i EXAMPLE -i LAB_VARS [-i MORE ...].
"""
import os
import re
import subprocess
import sys
import time

import pytest_nslab

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')
SITE = os.path.join(ROOT, 'site.yml')
LAB_VARS = os.path.join(ROOT, 'tests', 'lab', 'inventory', 'lab-vars.yml')
EXAMPLES = os.path.join(ROOT, 'examples')
_RECAP = re.compile(r'^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$')


def example(name):
    return os.path.join(EXAMPLES, name, 'inventory.yml')


def parse_recap(stdout):
    recap, inside = {}, False
    for line in stdout.splitlines():
        if line.startswith('PLAY RECAP'):
            inside, recap = True, {}
            continue
        m = _RECAP.match(line.strip()) if inside else None
        if m:
            recap[m.group(1)] = {k: int(v) for k, v in re.findall(r'(\w+)=(\d+)', m.group(2))}
    return recap


class Run:
    def __init__(self, proc, seconds):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.seconds = seconds
        self.recap = parse_recap(proc.stdout)

    def changed(self):
        return {h: c.get('changed', 0) for h, c in self.recap.items()}

    def total_changed(self):
        return sum(self.changed().values())

    def tail(self, n=6000):
        return (self.stdout[-n:], self.stderr[-2000:])


def xdg_state_home(lab):
    """The XDG_STATE_HOME of the lab's runs (removed with the lab)."""
    return os.path.join(lab.state_dir, 'xdg-state')


def state_dir(lab, inventory=None):
    """The role's default wireguard_state_dir for runs with the lab inventory first."""
    from ansible_collections.meshlab.wireguard.plugins.plugin_utils import _state_paths
    return _state_paths.default_state_dir({'XDG_STATE_HOME': xdg_state_home(lab)},
                                          {'ansible_inventory_sources': [inventory or lab.inventory_path]})


def run_site(lab, inventories, args=(), check=False, env=None, label=None, playbook=SITE, timeout=900):
    """ansible-playbook PLAYBOOK -i lab -i INVENTORIES... -i lab-vars; returns a Run."""
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', lab.inventory_path]
    for inv in inventories:
        cmd += ['-i', inv]
    cmd += ['-i', LAB_VARS, playbook, *args]
    if check:
        cmd.append('--check')
    full_env = dict(os.environ)
    full_env.update({'ANSIBLE_COLLECTIONS_PATH': COLLECTIONS, 'ANSIBLE_NOCOLOR': '1',
                     'ANSIBLE_FORCE_COLOR': '0', 'ANSIBLE_RETRY_FILES_ENABLED': '0',
                     'ANSIBLE_HOST_KEY_CHECKING': '0', 'ANSIBLE_DEPRECATION_WARNINGS': '0',
                     'XDG_STATE_HOME': xdg_state_home(lab)})
    full_env.update(env or {})
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    run = Run(proc, time.monotonic() - t0)
    pytest_nslab.TIMINGS.append((label or 'ansible-playbook ' + ' '.join(args), run.seconds))
    return run


# Actions that run on the controller only; every other task result that is not skipped reached the host
CONTROLLER_ACTIONS = {
    'ansible.builtin.validate_argument_spec', 'ansible.builtin.include_tasks', 'ansible.builtin.import_tasks',
    'ansible.builtin.set_fact', 'ansible.builtin.assert', 'ansible.builtin.debug', 'ansible.builtin.meta',
    'meshlab.wireguard.wireguard_inventory', 'meshlab.wireguard.wireguard_registry',
    'meshlab.wireguard.wireguard_client',
}
JSON_CALLBACK = {'ANSIBLE_STDOUT_CALLBACK': 'ansible.posix.json'}


def host_contacts(run):
    """({host: [action of each task that reached it]}, {host: changed}) of a run made with
    env=JSON_CALLBACK."""
    import json
    data = json.loads(run.stdout[run.stdout.index('{'):])
    contacts = {}
    for play in data['plays']:
        for task in play['tasks']:
            for host, result in task['hosts'].items():
                reached = contacts.setdefault(host, [])
                if not result.get('skipped') and result.get('action') not in CONTROLLER_ACTIONS:
                    reached.append(result.get('action'))
    return contacts, {h: s['changed'] for h, s in data['stats'].items()}


def wg_peers(lab, host, ifname='wg0'):
    """{public_key: {'endpoint', 'allowed_ips': [...], 'handshake': int, 'rx', 'tx', 'keepalive'}}."""
    out = lab.exec(host, ['wg', 'show', ifname, 'dump']).stdout.strip().splitlines()
    peers = {}
    for line in out[1:]:
        pub, _psk, endpoint, allowed, hs, rx, tx, ka = line.split('\t')
        peers[pub] = {'endpoint': None if endpoint == '(none)' else endpoint,
                      'allowed_ips': [] if allowed == '(none)' else allowed.split(','),
                      'handshake': int(hs), 'rx': int(rx), 'tx': int(tx),
                      'keepalive': 0 if ka == 'off' else int(ka), 'psk': _psk != '(none)'}
    return peers


def wg_public_key(lab, host, ifname='wg0'):
    return lab.exec(host, ['wg', 'show', ifname, 'public-key']).stdout.strip()


def ping(lab, host, address, count=2, wait=2):
    proc = lab.exec(host, ['ping', '-n', '-c', str(count), '-W', str(wait), address], check=False)
    return proc


def registry(lab):
    import yaml
    with open(os.path.join(lab.state_dir, 'wireguard-registry.yml')) as f:
        return yaml.safe_load(f)


def tunnel_ip(reg, host, network='wg0', version=4):
    for a in reg['networks'][network]['hosts'][host]['addresses']:
        ip = a.split('/')[0]
        if (':' in ip) == (version == 6):
            return ip
    raise KeyError(f'{host} has no IPv{version} address in {network}')


def unreachable_inventory(tmp_path, host):
    """An inventory, listed last, that points `host` at a closed port on 127.0.0.1 over ssh."""
    import socket
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there any more
    path = tmp_path / f'unreachable-{host}.yml'
    path.write_text(
        f'all:\n  hosts:\n    {host}:\n      ansible_connection: ssh\n      ansible_host: 127.0.0.1\n'
        f'      ansible_port: {port}\n      ansible_ssh_common_args: "-o ConnectTimeout=3 -o BatchMode=yes"\n'
        f'      wireguard_endpoint: 198.51.100.{10 + int(host[1:])}\n')
    return str(path)
