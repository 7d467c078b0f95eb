"""Helpers for the wireguard_interface lab suite: targets (where the hosts are) and playbooks.

A *target* is a set of hosts the suite can run Ansible against and run commands in:

- ``NslabTarget``: lab tier 1, namespace hosts from lab/nslab.py, userspace engine (wireguard-go).
- Other tiers (tier 3: QEMU VMs with kernel WireGuard) plug in by implementing the same small
  interface (inventory path, host names, ``sh(host, cmd)``, expected engine, underlay addresses,
  systemd choice) and being listed in ``TARGET_FACTORIES``; the tests themselves do not change.

Playbooks run through tests/functional/helpers.run_playbook with the JSON stdout callback, so
every task result (changed, plan, engine, ...) is read per host.
"""
from __future__ import annotations

import base64
import json
import os
import re
import sys
import tempfile
import time
from typing import Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'functional'))
sys.path.insert(0, os.path.join(ROOT, 'lab'))

import helpers  # noqa: E402  (tests/functional/helpers.py: run_playbook)

IFNAME = 'wg0'
PORT = 51820
TUNNEL4 = '100.64.0.{}'
TUNNEL6 = 'fd3a:6c1e:9b42:100::{}'
KEY_DIR = '/etc/wireguard'


class Target:
    """What the suite needs from a set of hosts. Subclasses fill it in for one lab tier."""

    name = 'abstract'
    engine_option = 'auto'      # what the playbooks pass as `engine`
    expected_engine = ''        # what the module must report: kernel | userspace
    systemd = 'no'              # the module's `systemd` option on these hosts
    inventory = ''
    hosts: List[str] = []
    mesh_ok = False             # the plain mesh is known to be in place (test_wireguard_interface)

    def sh(self, host: str, cmd: str, check: bool = True, timeout: float = 60):
        """Run a /bin/sh command line inside HOST; returns a CompletedProcess (text)."""
        raise NotImplementedError

    def underlay_ipv4(self, host: str) -> str:
        raise NotImplementedError

    def index(self, host: str) -> int:
        return self.hosts.index(host) + 1

    def tunnel4(self, host: str) -> str:
        return TUNNEL4.format(self.index(host))

    def tunnel6(self, host: str) -> str:
        return TUNNEL6.format(self.index(host))


class NslabTarget(Target):
    name = 'nslab'
    engine_option = 'auto'      # the probe must find no kernel WireGuard and pick wireguard-go
    expected_engine = 'userspace'
    # /run is the machine's own inside namespace hosts (only /run/wireguard is private): never
    # let a lab host enable a unit of the machine's systemd.
    systemd = 'no'

    def __init__(self, lab):
        self.lab = lab
        self.inventory = lab.inventory_path
        self.hosts = [h['name'] for h in lab.hosts]

    def sh(self, host, cmd, check=True, timeout=60):
        return self.lab.exec(host, cmd, check=check, timeout=timeout)

    def underlay_ipv4(self, host):
        return self.lab.host(host)['underlay_ipv4']


class VmTarget(Target):
    """Lab tier 3: QEMU VMs (lab/vm/vmlab.py) with Debian's kernel WireGuard and systemd (Debian 12
    and 13 in turn: vm1 bookworm, vm2 trixie, vm3 bookworm)."""

    name = 'vm'
    engine_option = 'auto'      # the probe must find kernel WireGuard
    expected_engine = 'kernel'
    systemd = 'auto'            # real systemd in the VMs: wg-quick@wg0 gets enabled

    def __init__(self, lab):
        self.lab = lab
        self.inventory = str(lab.inventory)
        self.hosts = [h.name for h in lab.hosts]

    def sh(self, host, cmd, check=True, timeout=60):
        proc = self.lab.ssh(host, cmd, check=False, timeout=max(timeout, 120))
        if check and proc.returncode != 0:
            raise AssertionError(f'{host}: {cmd!r} exited {proc.returncode}: {proc.stdout} {proc.stderr}')
        return proc

    def underlay_ipv4(self, host):
        return self.lab.host(host).ipv4


def make_nslab_target(request, nslab_factory) -> Target:
    return NslabTarget(nslab_factory(3))


def make_vm_target(request, nslab_factory) -> Target:
    import pytest
    sys.path.insert(0, os.path.join(ROOT, 'lab', 'vm'))
    import vmlab
    missing = vmlab.missing_tools()
    if missing or os.geteuid() != 0:
        pytest.skip(f"lab tier 3 needs root and {', '.join(missing) or 'nothing else'}")
    lab = vmlab.shared_lab()
    if lab is not None:   # one lab for every kernel stage (scripts/test.sh): start from a clean one
        lab.reset()
        return VmTarget(lab)
    lab = vmlab.VMLab('pytest-wgif')
    request.addfinalizer(lab.down)
    lab.up(3, replace=True)
    return VmTarget(lab)


# name -> callable(pytest request, nslab_module_factory) -> Target
TARGET_FACTORIES = {'nslab': make_nslab_target, 'vm': make_vm_target}


# --------------------------------------------------------------------------- ansible

def run(target: Target, playbook: str, extra_vars: Optional[dict] = None, check: bool = False,
        args=(), json_output: bool = True, timeout: int = 900):
    """Run PLAYBOOK (YAML text) against the target. Returns (rc, stdout, stderr, results, seconds).

    results: {host: [task result dicts in order]} from the JSON callback (json_output=True).
    """
    with tempfile.TemporaryDirectory(prefix='wgif-') as tmp:
        extra = list(args)
        if extra_vars is not None:
            path = os.path.join(tmp, 'vars.json')
            with open(path, 'w') as f:
                json.dump(extra_vars, f)
            extra += ['-e', '@' + path]
        env = {'ANSIBLE_STDOUT_CALLBACK': 'json'} if json_output else {}
        env['ANSIBLE_FORKS'] = '10'
        t0 = time.monotonic()
        rc, out, err, _recap = helpers.run_playbook(playbook, inventory=target.inventory, extra_args=extra,
                                                    check=check, env=env, timeout=timeout)
        seconds = time.monotonic() - t0
    results: Dict[str, list] = {}
    if json_output:
        doc = json.loads(out[out.index('{'):])
        for play in doc['plays']:
            for task in play['tasks']:
                for host, res in task['hosts'].items():
                    res = dict(res)
                    res['_task'] = task['task']['name']
                    results.setdefault(host, []).append(res)
    return rc, out, err, results, seconds


KEYS_PLAYBOOK = f"""
- name: WireGuard keys
  hosts: all
  gather_facts: false
  tasks:
    - name: Private key
      meshlab.wireguard.wireguard_key:
        path: {KEY_DIR}/{{{{ wg_ifname | default('{IFNAME}') }}}}.key
"""

INTERFACE_PLAYBOOK = """
- name: WireGuard interface
  hosts: all
  gather_facts: false
  tasks:
    - name: Interface
      meshlab.wireguard.wireguard_interface:
        name: "{{ wg_ifname }}"
        engine: "{{ wg_engine }}"
        private_key_path: "/etc/wireguard/{{ wg_ifname }}.key"
        listen_port: "{{ wg_port[inventory_hostname] }}"
        addresses: "{{ wg_addresses[inventory_hostname] }}"
        peers: "{{ wg_peers[inventory_hostname] }}"
        systemd: "{{ wg_systemd }}"
      when: inventory_hostname in wg_peers
"""


def public_keys(target: Target, ifname: str = IFNAME) -> Dict[str, str]:
    """Generate (or keep) the hosts' private keys with wireguard_key; {host: public key}."""
    rc, out, err, results, _ = run(target, KEYS_PLAYBOOK, extra_vars={'wg_ifname': ifname})
    assert rc == 0, (out[-3000:], err[-3000:])
    return {h: results[h][0]['public_key'] for h in target.hosts}


def mesh_vars(target: Target, pubs: Dict[str, str], extra_peers: Optional[Dict[str, list]] = None,
              psks: Optional[Dict[frozenset, str]] = None, ifname: str = IFNAME) -> dict:
    """Extra vars for INTERFACE_PLAYBOOK: a full mesh of the target's hosts (IPv4 + IPv6)."""
    peers = {}
    for host in target.hosts:
        items = []
        for other in target.hosts:
            if other == host:
                continue
            item = {
                'name': other,
                'public_key': pubs[other],
                'endpoint': f'{target.underlay_ipv4(other)}:{PORT}',
                'allowed_ips': [target.tunnel4(other) + '/32', target.tunnel6(other) + '/128'],
            }
            psk = (psks or {}).get(frozenset((host, other)))
            if psk:
                item['preshared_key'] = psk
            items.append(item)
        items.extend((extra_peers or {}).get(host, []))
        peers[host] = items
    return {
        'wg_ifname': ifname,
        'wg_engine': target.engine_option,
        'wg_systemd': target.systemd,
        'wg_port': dict.fromkeys(target.hosts, PORT),
        'wg_addresses': {h: [target.tunnel4(h) + '/24', target.tunnel6(h) + '/64'] for h in target.hosts},
        'wg_peers': peers,
    }


def task_result(results: dict, host: str, task: str = 'Interface') -> dict:
    return next(r for r in results[host] if r['_task'] == task)


def ping(target: Target, src: str, dst_ip: str, count: int = 3) -> bool:
    proc = target.sh(src, f'ping -c {count} -i 0.2 -W 2 {dst_ip}', check=False, timeout=30)
    return proc.returncode == 0


def ping_until(target: Target, src: str, dst_ip: str, seconds: float = 25) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ping(target, src, dst_ip, count=2):
            return True
    return False


def diagnose(target: Target, hosts, ifname: str = IFNAME) -> str:
    """`wg show` and the link of IFNAME on HOSTS, for assertion messages."""
    out = []
    for h in hosts:
        proc = target.sh(h, f'wg show {ifname}; ip -br addr show {ifname}', check=False)
        out.append(f'--- {h}\n{proc.stdout}{proc.stderr}')
    return '\n'.join(out)


def wg_dump(target: Target, host: str, ifname: str = IFNAME) -> Dict[str, dict]:
    """Peers of `wg show IF dump` inside HOST: {public_key: {handshake, rx, tx, endpoint, ...}}."""
    out = target.sh(host, f'wg show {ifname} dump').stdout
    peers = {}
    for line in out.splitlines()[1:]:
        f = line.split('\t')
        if len(f) < 8:
            continue
        peers[f[0]] = {'psk': f[1] != '(none)', 'endpoint': f[2], 'allowed_ips': f[3],
                       'handshake': int(f[4]), 'rx': int(f[5]), 'tx': int(f[6]), 'keepalive': f[7]}
    return peers


def wireguard_go_pids(target: Target, host: str, ifname: str = IFNAME) -> List[int]:
    """Pids of `wireguard-go IFNAME` in HOST's network namespace (the pid namespace may be shared)."""
    script = ('me=$(readlink /proc/self/ns/net); for p in $(pgrep -x wireguard-go); do '
              f'[ "$(readlink /proc/$p/ns/net)" = "$me" ] && grep -qa "{ifname}" /proc/$p/cmdline '
              '&& echo $p; done; true')
    out = target.sh(host, script).stdout
    return [int(p) for p in out.split()]


def secret_forms(b64: str) -> List[str]:
    """A key as it could leak: base64 and hex."""
    return [b64, base64.b64decode(b64).hex()]


def random_public_key() -> str:
    """A syntactically valid public key nobody holds (a random curve point is not needed)."""
    raw = bytearray(os.urandom(32))
    return base64.b64encode(bytes(raw)).decode()


def plan_summary(plan: dict) -> str:
    peers = ','.join(f"{c['action']}:{c['public_key'][:6]}" for c in plan.get('peers', []))
    flags = [k for k in ('create', 'delete', 'set_up') if plan.get(k)]
    return f"{flags} device={sorted(plan.get('device', {}))} peers=[{peers}]"


_HEX64 = re.compile(r'\b[0-9a-f]{64}\b')
