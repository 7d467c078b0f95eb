#!/usr/bin/env python3
"""make bench: what a converge costs, measured against the Ansible floor, on lab tier 1.

Part 1 (mesh) - for each N in --sizes, on a fresh namespace lab of N hosts (lab/nslab.py):
  floor      `ansible all -m ansible.builtin.ping` on the lab inventory (--repeat runs, median)
  converge   `ansible-playbook site.yml` with a generated full-mesh inventory for h1..hN (once)
  re-run     the same playbook again, which must report changed=0 (--repeat runs, median)
  tasks      task results per host (and module calls, loop items counted) from a callback
  Each time is reported in seconds and as a ratio to the floor of the same N, same run.

Part 2 (peers) - one lab host, one interface with --peers peers (two of them real lab hosts
with a live tunnel):
  wireguard_interface (engine userspace) through a playbook: first apply, unchanged re-apply and
  a one-peer change; timed as the whole playbook, as the task (callback) and as the module alone
  (its AnsiballZ payload run directly inside the host), against `wg setconf` and `wg syncconf`
  of the same configuration on a second interface of the same host (wireguard-go as well).
  Then the one-peer change is checked to leave the other peers' state alone (`wg show dump`:
  endpoints, allowed IPs, counters, latest handshakes; the real peers' sessions survive).

Then a hub with --hub-peers peers (5,000): first apply and unchanged re-apply through the
task and by the module alone, its peak memory (RSS), and `wg syncconf` of the same peers.

Part 3 (bench/ssh_vm.py) - --vm QEMU VMs of lab tier 3 (kernel WireGuard, SSH): a mesh converged
once, then the floor and the unchanged re-run under four SSH settings (pipelining and a persistent
SSH master, each on or off).

Writes bench/results.md and bench/results.png; raw data and logs go to bench/results/.

Usage: bench/run.sh [--sizes 3,10,25,50,100] [--peers 1000] [--hub-peers 5000] [--repeat 3]
                    [--mitogen DIR] [--vm 2] [--lab-prefix bench] [--skip-mesh] [--skip-peers]
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import glob
import hashlib
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(REPO, 'bench')
WORK = os.path.join(BENCH, 'results')          # raw data, logs, generated files (git-ignored)
VENV_BIN = os.path.join(REPO, '.venv', 'bin')
sys.path.insert(0, os.path.join(REPO, 'lab'))
sys.path.insert(0, os.path.join(REPO, 'bench', 'callback_plugins'))

import bench_record  # noqa: E402
import nslab  # noqa: E402

try:
    import nacl.public
except ImportError:  # pragma: no cover - the venv has PyNaCl
    sys.exit('bench: PyNaCl is missing: run `make setup` (the venv has it)')

# Targets from issue 18 (ratios, never absolute times)
TARGET_RERUN = 2.0      # unchanged re-run <= 2x the floor
TARGET_CONVERGE = 4.0   # first converge <= 4x the floor
TARGET_PEERS = 1.5      # 1,000-peer first apply, module alone <= 1.5x (`wg syncconf` + ping module alone)

# Part 2 addressing (tunnel pools inside 100.64.0.0/10, underlay 198.51.100.0/24 of the lab)
MOD_IF, MOD_PORT, MOD_NET = 'wgm', 51901, 64    # wireguard_interface's interface: 100.64.0.0/16
WG_IF, WG_PORT, WG_NET = 'wgs', 51902, 65       # wg setconf/syncconf's interface: 100.65.0.0/16
REAL_IF, REAL_PORT = 'wgb', 51900               # on the real peer hosts h2, h3
SYNTH_ENDPOINT_BASE = 250                       # synthetic peers' endpoints 198.51.100.250-254 (nobody)


class BenchError(RuntimeError):
    pass


def log(msg):
    print(f'bench: {msg}', flush=True)


# --------------------------------------------------------------------------- helpers

def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def keypair():
    """(private, public) base64; the private key clamped (what wireguard-go stores and reads back)."""
    raw = bytearray(bytes(nacl.public.PrivateKey.generate()))
    raw[0] &= 248
    raw[31] = (raw[31] & 127) | 64
    sk = nacl.public.PrivateKey(bytes(raw))
    return b64(bytes(sk)), b64(bytes(sk.public_key))


def median(values):
    return statistics.median(values) if values else None


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, mode)


def ansible_env(record_file=None, **extra):
    env = dict(os.environ)
    for key in ('ANSIBLE_CALLBACKS_ENABLED', 'ANSIBLE_STDOUT_CALLBACK', 'ANSIBLE_KEEP_REMOTE_FILES'):
        env.pop(key, None)
    env.update({
        'PATH': VENV_BIN + os.pathsep + env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin'),
        'ANSIBLE_COLLECTIONS_PATH': os.path.join(REPO, '.build', 'collections'),
        'ANSIBLE_CONFIG': os.path.join(REPO, 'ansible.cfg'),
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_RETRY_FILES_ENABLED': '0',
    })
    if record_file:
        env.update({
            'ANSIBLE_CALLBACK_PLUGINS': os.path.join(BENCH, 'callback_plugins'),
            'ANSIBLE_CALLBACKS_ENABLED': 'bench_record',
            'BENCH_RECORD_FILE': record_file,
        })
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Logs:
    """Every command the bench runs goes to bench/results/logs/NN-name.log."""

    def __init__(self, root):
        self.dir = os.path.join(root, 'logs')
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.count = 0

    def path(self, name):
        self.count += 1
        return os.path.join(self.dir, f'{self.count:03d}-{name}.log')


def run_timed(argv, env, logs, name, check=True):
    """Run argv on the controller: (wall seconds, CPU seconds, CompletedProcess); output to a log.

    CPU seconds: user + system time of the command and every process it waited for (Ansible's
    workers, the modules they ran), from getrusage(RUSAGE_CHILDREN); much less sensitive to
    other load on the machine than wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    path = logs.path(name)
    with open(path, 'w') as f:
        f.write(f'$ {shlex.join(argv)}\n# rc={proc.returncode} elapsed={elapsed:.3f}s cpu={cpu:.3f}s\n')
        f.write(proc.stdout)
        f.write('\n--- stderr ---\n' + proc.stderr)
    if check and proc.returncode != 0:
        tail = '\n'.join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BenchError(f'{name}: {shlex.join(argv[:3])}... exited {proc.returncode} '
                         f'(log {os.path.relpath(path, REPO)}):\n{tail}')
    return elapsed, cpu, proc


# Inside a lab host: run "$@" with stdout to $1, print "rc nanoseconds" (date +%s%N around it).
TIMED_SH = 'out=$1; shift; s=$(date +%s%N); "$@" >"$out"; rc=$?; e=$(date +%s%N); echo "$rc $((e-s))"'

# Inside a lab host: run argv[2:] and write the peak RSS (KiB) of the largest process it waited
# for (the module's Python; wireguard-go's daemon is not waited for) to argv[1].
MAXRSS_PY = ('import resource, subprocess, sys\n'
             'rc = subprocess.call(sys.argv[2:])\n'
             'open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n'
             'sys.exit(rc)\n')


def host_timed(lab, host, argv, stdout_path='/dev/null', check=True):
    """Seconds argv takes inside a lab host (measured there, without the nsenter start-up)."""
    proc = lab.exec(host, ['/bin/sh', '-c', TIMED_SH, 'sh', stdout_path, *argv])
    rc, ns = proc.stdout.split()[-2:]
    if check and rc != '0':
        raise BenchError(f'{host}: {shlex.join(argv)} exited {rc}: {proc.stderr.strip()[-2000:]}')
    return int(ns) / 1e9


def read_record(path):
    with open(path) as f:
        return json.load(f)


def machine_info():
    def first(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return '?'
    mem = '?'
    with contextlib.suppress(OSError), open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemTotal:'):
                mem = f'{int(line.split()[1]) / 1024 / 1024:.1f} GiB'
    cpu = '?'
    with contextlib.suppress(OSError), open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    commit = first(['git', '-C', REPO, 'rev-parse', '--short', 'HEAD'])
    dirty = first(['git', '-C', REPO, 'status', '--porcelain', '--untracked-files=no'])
    ansible_version = first([os.path.join(VENV_BIN, 'ansible'), '--version']).splitlines()
    wg_go = first(['dpkg-query', '-W', '-f=${Version}', 'wireguard-go'])
    wg_tools = first(['dpkg-query', '-W', '-f=${Version}', 'wireguard-tools'])
    return {
        'nproc': os.cpu_count(),
        'cpu': cpu,
        'memory': mem,
        'kernel': platform.release(),
        'os': first(['sh', '-c', '. /etc/os-release && echo "$PRETTY_NAME"']),
        'python': platform.python_version(),
        'ansible': ansible_version[0] if ansible_version else '?',
        'wireguard_go': wg_go or '?',
        'wireguard_tools': wg_tools or '?',
        'commit': commit + (' (with uncommitted changes)' if dirty else ''),
    }


def loadavg():
    with open('/proc/loadavg') as f:
        return ' '.join(f.read().split()[:3])


@contextlib.contextmanager
def lab_up(name, n):
    """A fresh lab; always torn down (also on errors, Ctrl-C and SIGTERM: nslab installs handlers)."""
    clear_stale_lab(name)
    lab = nslab.Lab(name, n)
    lab.up()
    try:
        yield lab
    finally:
        report = lab.down()
        left = {k: v for k, v in report.items() if v}
        if left:
            log(f'WARNING: lab {name} not clean after down: {left}')


def clear_stale_lab(name):
    """A lab of this name whose creator is gone (an interrupted bench) is removed first."""
    if not nslab.lab_meta(name) and not nslab.leftovers(name)['netns']:
        return
    if name not in nslab.stale_labs() and nslab.lab_meta(name):
        raise BenchError(f'lab {name} exists and its creator still runs (another bench?): stop it, '
                         f'or remove the lab with `lab/nslab.py down --name {name}`')
    log(f'removing lab {name} left behind by an earlier run')
    nslab.destroy(name)


# --------------------------------------------------------------------------- part 2: peers

def wg_conf(private_key, port, peers):
    lines = ['[Interface]', f'PrivateKey = {private_key}', f'ListenPort = {port}', '']
    for p in peers:
        lines += ['[Peer]', f"PublicKey = {p['public_key']}", f"AllowedIPs = {', '.join(p['allowed_ips'])}"]
        if p.get('endpoint'):
            lines.append(f"Endpoint = {p['endpoint']}")
        lines.append('')
    return '\n'.join(lines)


def peer_list(count, net, real, synthetic_keys, change=False):
    """COUNT peers with /32s in 100.NET.0.0/16: REAL first (lab hosts), then synthetic ones.

    change=True gives the same list with one synthetic peer's allowed IP changed."""
    peers = []
    for i in range(count):
        host_part = i + 2                       # 100.NET.0.1 is the interface itself
        ip = f'100.{net}.{host_part // 256}.{host_part % 256}/32'
        if i < len(real):
            peers.append({'public_key': real[i]['public_key'], 'allowed_ips': [ip],
                          'endpoint': f"{real[i]['underlay_ipv4']}:{REAL_PORT}"})
        else:
            endpoint = f'198.51.100.{SYNTH_ENDPOINT_BASE + i % 5}:{20000 + i}'
            peers.append({'public_key': synthetic_keys[i - len(real)], 'allowed_ips': [ip],
                          'endpoint': endpoint})
    if change:
        k = changed_index(count, real)
        peers[k] = dict(peers[k], allowed_ips=[f'100.{net}.250.1/32'])
    return peers


def changed_index(count, real):
    return max(len(real), count // 2)


def wg_dump(lab, host, ifname):
    """{public_key: {...}} from `wg show IF dump` inside the host."""
    out = lab.exec(host, ['wg', 'show', ifname, 'dump']).stdout.splitlines()
    peers = {}
    for line in out[1:]:
        pub, _psk, endpoint, allowed, handshake, rx, tx, keepalive = line.split('\t')
        peers[pub] = {'endpoint': endpoint, 'allowed_ips': allowed, 'latest_handshake': int(handshake),
                      'rx': int(rx), 'tx': int(tx), 'keepalive': keepalive}
    return peers


def compare_state(before, after, skip, real_keys):
    """Problems (list of str) where AFTER disturbed a peer of BEFORE other than SKIP."""
    problems = []
    for key, b in before.items():
        if key == skip:
            continue
        a = after.get(key)
        if a is None:
            problems.append(f'{key[:8]}… removed')
            continue
        if key in real_keys:
            fields = ('endpoint', 'allowed_ips', 'keepalive', 'latest_handshake')
            if a['rx'] < b['rx'] or a['tx'] < b['tx']:
                problems.append(f'{key[:8]}… counters reset '
                                f'(rx {b["rx"]}->{a["rx"]}, tx {b["tx"]}->{a["tx"]})')
        else:
            fields = ('endpoint', 'allowed_ips', 'keepalive', 'latest_handshake', 'rx', 'tx')
        for field in fields:
            if a[field] != b[field]:
                problems.append(f'{key[:8]}… {field} {b[field]!r} -> {a[field]!r}')
    return problems


def ping_real(lab, real, net, must=True):
    """Traffic through each real peer's tunnel (creates or uses the session); True when all answer.

    must=False: a failure is a result (a peer whose session was dropped on one side only stays
    unreachable until WireGuard's rekey timers run), not an error."""
    ok = True
    for r in real:
        proc = lab.exec(r['name'], ['ping', '-c', '2', '-i', '0.2', '-W', '3', '-q', f'100.{net}.0.1'],
                        check=False)
        if proc.returncode != 0:
            ok = False
            if not must:
                continue
            diag = [proc.stdout.strip()]
            for host, cmd in ((r['name'], f'wg show {REAL_IF}'),
                              ('h1', 'wg show all | grep -v "^  allowed\\|^  endpoint\\|^peer\\|^$";'
                                     ' ip -br a; ip r; ss -ulpn')):
                diag.append(f'--- {host}: {cmd}\n' + lab.exec(host, cmd, check=False).stdout)
            raise BenchError(f'{r["name"]} cannot reach 100.{net}.0.1 through its tunnel:\n'
                             + '\n'.join(diag))
    time.sleep(0.3)
    return ok


def wait_socket_gone(lab, host, ifname, timeout=5.0):
    sock = f'/run/wireguard/{ifname}.sock'
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.exec(host, ['test', '-e', sock], check=False).returncode != 0:
            return
        time.sleep(0.05)
    lab.exec(host, ['rm', '-f', sock])


def delete_interface(lab, host, ifname, conf=None):
    lab.exec(host, f'ip link del {ifname} 2>/dev/null; rm -f {conf or "/nonexistent"}', check=False)
    wait_socket_gone(lab, host, ifname)


def start_wireguard_go(lab, host, ifname):
    """wireguard-go IFNAME (daemonizes; the lab's teardown ends it), wait for its socket."""
    lab.exec(host, f'wireguard-go {ifname} >/dev/null 2>&1')
    deadline = time.monotonic() + 10
    while lab.exec(host, ['wg', 'show', ifname], check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise BenchError(f'{host}: wireguard-go {ifname} did not come up')
        time.sleep(0.05)


def fresh_wg_interface(lab, host, ifname, address):
    delete_interface(lab, host, ifname)
    start_wireguard_go(lab, host, ifname)
    lab.exec(host, f'ip addr add {address} dev {ifname} && ip link set {ifname} up')


def module_record(record):
    """(ping task seconds, module task seconds, module result summary) from bench_record."""
    ping = mod = None
    summary = {}
    for r in record['results']:
        if r['action'].endswith('ping'):
            ping = r['duration']
        elif r['action'].endswith('wireguard_interface'):
            mod = r['duration']
            summary = {'status': r['status'], 'changed': r['changed'], 'peer_changes': r.get('plan_peers')}
    return ping, mod, summary


class PeersBench:
    """Part 2 (see the module docstring)."""

    def __init__(self, args, logs):
        self.args = args
        self.logs = logs
        self.count = args.peers
        self.repeat = args.repeat
        self.dir = os.path.join(WORK, 'peers')
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.data = {'peers': self.count, 'repeat': self.repeat}

    # -- setup ---------------------------------------------------------------------------
    def prepare(self, lab):
        self.lab = lab
        h1 = lab.host('h1')
        self.real = []
        mod_priv, self.mod_pub = keypair()
        wg_priv, self.wg_pub = keypair()
        for h in lab.hosts[1:]:
            priv, pub = keypair()
            self.real.append(dict(h, private_key=priv, public_key=pub))
        t0 = time.monotonic()
        synthetic = [keypair()[1] for _ in range(self.count - len(self.real))]
        self.data['keygen_seconds'] = round(time.monotonic() - t0, 3)
        self.real_keys = {r['public_key'] for r in self.real}
        k = changed_index(self.count, self.real)
        self.changed_key = (synthetic[k - len(self.real)])

        # the real peers: one wireguard-go each, a peer for each of h1's two interfaces
        for i, r in enumerate(self.real, start=2):
            conf = ('[Interface]\nPrivateKey = {priv}\nListenPort = {port}\n\n'
                    '[Peer]\nPublicKey = {mod}\nAllowedIPs = 100.{mn}.0.1/32\nEndpoint = {ep}:{mp}\n\n'
                    '[Peer]\nPublicKey = {wg}\nAllowedIPs = 100.{wn}.0.1/32\nEndpoint = {ep}:{wp}\n').format(
                priv=r['private_key'], port=REAL_PORT, mod=self.mod_pub, wg=self.wg_pub,
                mn=MOD_NET, wn=WG_NET, mp=MOD_PORT, wp=WG_PORT, ep=h1['underlay_ipv4'])
            write(self.etc_path(r['name'], f'{REAL_IF}.conf'), conf, mode=0o600)
            start_wireguard_go(lab, r['name'], REAL_IF)
            lab.exec(r['name'], f'wg setconf {REAL_IF} /etc/wireguard/{REAL_IF}.conf && '
                                f'ip addr add 100.{MOD_NET}.0.{i}/16 dev {REAL_IF} && '
                                f'ip addr add 100.{WG_NET}.0.{i}/16 dev {REAL_IF} && '
                                f'ip link set {REAL_IF} up')

        # wireguard_interface's inputs: key file in h1's /etc/wireguard, vars files C0 and C1
        write(self.etc_path('h1', f'{MOD_IF}.key'), mod_priv + '\n', mode=0o600)
        self.vars = {}
        for tag, change in (('c0', False), ('c1', True)):
            peers = peer_list(self.count, MOD_NET, self.real, synthetic, change=change)
            path = os.path.join(self.dir, f'vars-{tag}.json')
            write(path, json.dumps({
                'bench_host': 'h1', 'bench_if': MOD_IF, 'bench_port': MOD_PORT,
                'bench_address': f'100.{MOD_NET}.0.1/16',
                'bench_key_path': f'/etc/wireguard/{MOD_IF}.key', 'bench_peers': peers}))
            self.vars[tag] = path
            # the same configuration for wg (other /16, its own key and port)
            wg_peers = peer_list(self.count, WG_NET, self.real, synthetic, change=change)
            write(self.etc_path('h1', f'{WG_IF}-{tag}.conf'), wg_conf(wg_priv, WG_PORT, wg_peers), mode=0o600)

    def etc_path(self, host, name):
        """The lab host's /etc/wireguard/NAME, seen from the machine."""
        return os.path.join(self.lab.state_dir, 'hosts', host, 'wireguard', name)

    # -- wireguard_interface through ansible-playbook ------------------------------------
    def playbook(self, tag, name, keep_dir=None):
        record = os.path.join(self.dir, f'{name}.json')
        extra = {}
        if keep_dir:
            extra = {'ANSIBLE_KEEP_REMOTE_FILES': '1', 'ANSIBLE_REMOTE_TMP': keep_dir}
        env = ansible_env(record_file=record, **extra)
        argv = [os.path.join(VENV_BIN, 'ansible-playbook'), '-i', self.lab.inventory_path,
                '-e', '@' + self.vars[tag], os.path.join(BENCH, 'peers.yml')]
        wall, cpu, _ = run_timed(argv, env, self.logs, f'peers-{name}')
        ping, mod, summary = module_record(read_record(record))
        return {'wall': wall, 'cpu': cpu, 'task': mod, 'ping_task': ping, **summary}

    def module_series(self):
        """First apply / unchanged / one-peer change through ansible-playbook, --repeat times."""
        runs = []
        for rep in range(self.repeat):
            delete_interface(self.lab, 'h1', MOD_IF, f'/etc/wireguard/{MOD_IF}.conf')
            first = self.playbook('c0', f'module-first-{rep}')
            same = self.playbook('c0', f'module-same-{rep}')
            one = self.playbook('c1', f'module-one-{rep}')
            for label, res, want in (('first apply', first, True), ('re-apply', same, False),
                                     ('one-peer change', one, True)):
                if res['status'] != 'ok' or res['changed'] != want:
                    raise BenchError(f'wireguard_interface {label}: {res} (expected changed={want})')
            if one.get('peer_changes') not in (None, 1):
                raise BenchError(f'one-peer change planned {one["peer_changes"]} peer changes')
            runs.append({'first': first, 'same': same, 'one': one})
            log(f'  module rep {rep + 1}: first {first["wall"]:.2f}s (task {first["task"]:.2f}s), '
                f'same {same["wall"]:.2f}s (task {same["task"]:.2f}s), '
                f'one {one["wall"]:.2f}s (task {one["task"]:.2f}s)')
        return runs

    def capture_payloads(self):
        """The AnsiballZ payloads of C0 and C1 (kept with ANSIBLE_KEEP_REMOTE_FILES)."""
        payloads = {}
        for tag in ('c1', 'c0'):      # state is C1 after module_series: C1 first (no change), then C0
            keep = os.path.join(self.dir, f'remote-tmp-{tag}')
            self.playbook(tag, f'capture-{tag}', keep_dir=keep)
            found = glob.glob(os.path.join(keep, 'ansible-tmp-*', 'AnsiballZ_wireguard_interface.py'))
            if len(found) != 1:
                raise BenchError(f'expected one kept AnsiballZ_wireguard_interface.py under {keep}, '
                                 f'got {found}')
            payloads[tag] = found[0]
        # the ping task's payload: the fixed cost of any Ansible module, for scale
        found = glob.glob(os.path.join(keep, 'ansible-tmp-*', 'AnsiballZ_ping.py'))
        if len(found) != 1:
            raise BenchError(f'expected one kept AnsiballZ_ping.py under {keep}, got {found}')
        payloads['ping'] = found[0]
        return payloads

    def direct(self, payload, name, memory=False):
        out = os.path.join(self.dir, f'{name}.out.json')
        argv = ['/usr/bin/python3', payload]
        rss = os.path.join(self.dir, f'{name}.maxrss')
        if memory:       # the same, under a parent that reads the peak RSS (measured separately)
            argv = ['/usr/bin/python3', '-c', MAXRSS_PY, rss, *argv]
        seconds = host_timed(self.lab, 'h1', argv, stdout_path=out)
        with open(out) as f:
            result = json.loads(f.read().strip().splitlines()[-1])
        if result.get('failed'):
            raise BenchError(f'module run {name} failed: {result.get("msg")}')
        res = {'seconds': seconds, 'changed': result.get('changed'),
               'peer_changes': bench_record.peer_changes(result.get('plan', {}))}
        if memory:
            with open(rss) as f:
                res['maxrss_kib'] = int(f.read().strip())
        return res

    def direct_series(self, payloads):
        """The module alone (its payload run inside the host, no Ansible around it)."""
        runs = []
        for rep in range(self.repeat):
            delete_interface(self.lab, 'h1', MOD_IF, f'/etc/wireguard/{MOD_IF}.conf')
            first = self.direct(payloads['c0'], f'direct-first-{rep}')
            same = self.direct(payloads['c0'], f'direct-same-{rep}')
            one = self.direct(payloads['c1'], f'direct-one-{rep}')
            if not first['changed'] or same['changed'] or not one['changed'] or one['peer_changes'] != 1:
                raise BenchError(f'direct module runs: first {first}, same {same}, one {one}')
            ping = self.direct(payloads['ping'], f'direct-ping-{rep}')
            runs.append({'first': first, 'same': same, 'one': one, 'ping': ping})
            log(f'  module alone rep {rep + 1}: first {first["seconds"]:.3f}s, same {same["seconds"]:.3f}s, '
                f'one {one["seconds"]:.3f}s; ping module alone {ping["seconds"]:.3f}s')
        return runs

    # -- wg setconf / syncconf -----------------------------------------------------------
    def wg_series(self):
        address = f'100.{WG_NET}.0.1/16'
        c0, c1 = (f'/etc/wireguard/{WG_IF}-{t}.conf' for t in ('c0', 'c1'))
        runs = []
        for rep in range(self.repeat):
            run = {}
            for tool in ('setconf', 'syncconf'):
                fresh_wg_interface(self.lab, 'h1', WG_IF, address)
                run[f'{tool}_first'] = host_timed(self.lab, 'h1', ['wg', tool, WG_IF, c0])
                run[f'{tool}_same'] = host_timed(self.lab, 'h1', ['wg', tool, WG_IF, c0])
                run[f'{tool}_one'] = host_timed(self.lab, 'h1', ['wg', tool, WG_IF, c1])
            # what the module's first apply also does: start wireguard-go, address, link up
            delete_interface(self.lab, 'h1', WG_IF)
            script = (f'wireguard-go {WG_IF} >/dev/null 2>&1 && '
                      f'while ! wg show {WG_IF} >/dev/null 2>&1; do sleep 0.05; done && '
                      f'wg syncconf {WG_IF} {c0} && ip addr add {address} dev {WG_IF} && '
                      f'ip link set {WG_IF} up')
            run['create_syncconf'] = host_timed(self.lab, 'h1', ['/bin/sh', '-c', script])
            runs.append(run)
            log(f'  wg rep {rep + 1}: ' + ', '.join(f'{k} {v:.3f}s' for k, v in run.items()))
        return runs

    # -- the other peers' state across a one-peer change --------------------------------
    def preservation(self):
        """Sessions of the real peers and state of the synthetic ones across one-peer changes."""
        checks = {}
        lab = self.lab
        # wireguard_interface: state C0, sessions up, change one peer (C1), compare, traffic, compare
        self.playbook('c0', 'check-module-c0')
        checks['wireguard_interface'] = self._check(
            MOD_IF, MOD_NET, lambda: self.playbook('c1', 'check-module-c1'))
        c0, c1 = (f'/etc/wireguard/{WG_IF}-{t}.conf' for t in ('c0', 'c1'))
        for tool in ('syncconf', 'setconf'):
            lab.exec('h1', ['wg', 'syncconf', WG_IF, c0])
            checks[f'wg {tool}'] = self._check(
                WG_IF, WG_NET, lambda t=tool: lab.exec('h1', ['wg', t, WG_IF, c1]))
        return checks

    def _check(self, ifname, net, change):
        ping_real(self.lab, self.real, net)
        before = wg_dump(self.lab, 'h1', ifname)
        real_hs = {k: before[k]['latest_handshake'] for k in self.real_keys}
        if not all(real_hs.values()):
            raise BenchError(f'{ifname}: the real peers have no handshake before the change: {real_hs}')
        change()
        after = wg_dump(self.lab, 'h1', ifname)
        problems = compare_state(before, after, self.changed_key, self.real_keys)
        changed_ok = after.get(self.changed_key, {}).get('allowed_ips') == f'100.{net}.250.1/32'
        # traffic again: a surviving session needs no new handshake
        traffic_ok = ping_real(self.lab, self.real, net, must=False)
        again = wg_dump(self.lab, 'h1', ifname)
        sessions = []
        for k in sorted(self.real_keys):
            kept = again[k]['latest_handshake'] == before[k]['latest_handshake']
            sessions.append({'peer': k[:8], 'handshake_before': before[k]['latest_handshake'],
                             'handshake_after_traffic': again[k]['latest_handshake'], 'kept': kept,
                             'rx_before': before[k]['rx'], 'rx_after_traffic': again[k]['rx']})
        return {'peers_compared': len(before) - 1, 'problems': problems[:20], 'problem_count': len(problems),
                'changed_peer_applied': changed_ok, 'sessions': sessions, 'traffic_after_change': traffic_ok,
                'preserved': (not problems and changed_ok and traffic_ok
                              and all(s['kept'] for s in sessions))}

    # -- all -----------------------------------------------------------------------------
    def run(self):
        hosts = 1 + self.args.real_peers
        with lab_up(f'{self.args.lab_prefix}peers', hosts) as lab:
            log(f'peers: lab of {hosts} hosts up; {self.count} peers')
            self.prepare(lab)
            log(f'peers: keys generated in {self.data["keygen_seconds"]}s; wg setconf/syncconf')
            self.data['wg'] = self.wg_series()
            log('peers: wireguard_interface through ansible-playbook')
            self.data['module'] = self.module_series()
            log('peers: the module alone (AnsiballZ payload run inside the host)')
            self.data['direct'] = self.direct_series(self.capture_payloads())
            log('peers: state of the other peers across a one-peer change')
            self.data['preservation'] = self.preservation()
            for name, check in self.data['preservation'].items():
                log(f"  {name}: preserved={check['preserved']} problems={check['problem_count']} "
                    f"sessions={[s['kept'] for s in check['sessions']]}")
            if self.args.hub_peers:
                log(f'peers: a hub with {self.args.hub_peers} peers (time and peak memory)')
                self.data['hub'] = self.hub(self.args.hub_peers)
        self.data['summary'] = self.summarize()
        return self.data

    # -- the hub-and-spoke scale point ----------------------------------------------------
    def hub(self, count):
        """wireguard_interface with COUNT peers: the task, the module alone (time and peak RSS)
        and `wg syncconf`, first apply and unchanged re-apply, once each (a scale point)."""
        synthetic = [keypair()[1] for _ in range(count - len(self.real))]
        peers = peer_list(count, MOD_NET, self.real, synthetic)
        path = os.path.join(self.dir, 'vars-hub.json')
        write(path, json.dumps({
            'bench_host': 'h1', 'bench_if': MOD_IF, 'bench_port': MOD_PORT,
            'bench_address': f'100.{MOD_NET}.0.1/16',
            'bench_key_path': f'/etc/wireguard/{MOD_IF}.key', 'bench_peers': peers}))
        self.vars['hub'] = path
        out = {'peers': count}
        delete_interface(self.lab, 'h1', MOD_IF, f'/etc/wireguard/{MOD_IF}.conf')
        keep = os.path.join(self.dir, 'remote-tmp-hub')
        first = self.playbook('hub', 'hub-first', keep_dir=keep)
        same = self.playbook('hub', 'hub-same')
        if first['status'] != 'ok' or not first['changed'] or same['changed']:
            raise BenchError(f'hub of {count} peers: first {first}, same {same}')
        out['task'] = {'first': first['task'], 'same': same['task']}
        found = glob.glob(os.path.join(keep, 'ansible-tmp-*', 'AnsiballZ_wireguard_interface.py'))
        if len(found) != 1:
            raise BenchError(f'expected one kept AnsiballZ_wireguard_interface.py under {keep}, got {found}')
        delete_interface(self.lab, 'h1', MOD_IF, f'/etc/wireguard/{MOD_IF}.conf')
        d_first = self.direct(found[0], 'hub-direct-first')
        d_same = self.direct(found[0], 'hub-direct-same')
        delete_interface(self.lab, 'h1', MOD_IF, f'/etc/wireguard/{MOD_IF}.conf')
        m_first = self.direct(found[0], 'hub-mem-first', memory=True)
        m_same = self.direct(found[0], 'hub-mem-same', memory=True)
        if not (d_first['changed'] and m_first['changed']) or d_same['changed'] or m_same['changed']:
            raise BenchError(f'hub direct runs: {d_first}, {d_same}, {m_first}, {m_same}')
        out['module'] = {'first': d_first['seconds'], 'same': d_same['seconds']}
        out['maxrss_kib'] = {'first': m_first['maxrss_kib'], 'same': m_same['maxrss_kib']}
        conf = f'/etc/wireguard/{WG_IF}-hub.conf'
        wg_peers = peer_list(count, WG_NET, self.real, synthetic)
        write(self.etc_path('h1', f'{WG_IF}-hub.conf'), wg_conf(keypair()[0], WG_PORT, wg_peers), mode=0o600)
        fresh_wg_interface(self.lab, 'h1', WG_IF, f'100.{WG_NET}.0.1/16')
        out['syncconf'] = {'first': host_timed(self.lab, 'h1', ['wg', 'syncconf', WG_IF, conf]),
                           'same': host_timed(self.lab, 'h1', ['wg', 'syncconf', WG_IF, conf])}
        live = len(self.lab.exec('h1', ['wg', 'show', MOD_IF, 'peers']).stdout.split())
        if live != count:
            raise BenchError(f'hub: {MOD_IF} has {live} peers, want {count}')
        log(f"  hub {count}: task first {first['task']:.2f}s same {same['task']:.2f}s; module alone "
            f"first {d_first['seconds']:.3f}s same {d_same['seconds']:.3f}s; peak RSS "
            f"{m_first['maxrss_kib']} / {m_same['maxrss_kib']} KiB; syncconf {out['syncconf']}")
        return out

    def summarize(self):
        def med(runs, step, field):
            return median([r[step][field] for r in runs])
        wg = self.data['wg']
        s = {}
        for step in ('first', 'same', 'one'):
            s[step] = {
                'playbook': med(self.data['module'], step, 'wall'),
                'task': med(self.data['module'], step, 'task'),
                'ping_task': med(self.data['module'], step, 'ping_task'),
                'module': med(self.data['direct'], step, 'seconds'),
                'syncconf': median([r[f'syncconf_{step}'] for r in wg]),
                'setconf': median([r[f'setconf_{step}'] for r in wg]),
            }
        s['first']['create_syncconf'] = median([r['create_syncconf'] for r in wg])
        s['ping_alone'] = median([r['ping']['seconds'] for r in self.data['direct']])
        return s


# --------------------------------------------------------------------------- part 1: mesh

# The one network of every generated inventory (parts 1 and 3), under all.vars
MESH_NETWORKS = """\
    wireguard_networks:
      - name: wg0
        port: 51820
        topology: mesh
        ipv4_pool: 100.64.0.0/24
        ipv6_pool: fd3a:6c1e:9b42:100::/64"""

MESH_INVENTORY = """---
# generated by bench/bench.py: a full mesh of h1..h{n} like examples/mesh (one network, both
# pools); the lab inventory (given first) adds the connection and ansible_host (= the endpoint).
all:
  hosts:
{hosts}
  vars:
{networks}
    # The lab hosts share this machine's package database: installing into it from N hosts at
    # once measures dpkg locks, not the role. The packages are there (scripts/setup.sh).
    wireguard_install_packages: false
"""


# Actions that run on the controller only (no round trip to the host)
CONTROLLER_ACTIONS = {
    'set_fact', 'assert', 'debug', 'fail', 'meta', 'include_tasks', 'import_tasks', 'include_role',
    'include_vars', 'validate_argument_spec', 'add_host', 'group_by', 'set_stats',
    'wireguard_registry', 'wireguard_client', 'wireguard_health', 'wireguard_inventory',
}


def on_host(action):
    return action.rsplit('.', 1)[-1] not in CONTROLLER_ACTIONS


def per_host(record):
    """{host: {'tasks', 'calls', 'remote', 'ok', 'changed', 'skipped', 'failed'}} from bench_record.

    tasks: task results for the host (skipped ones included); calls: task runs that were not
    skipped (a loop task counts its items); remote: those that run something on the host (not
    controller-only actions such as set_fact or the registry)."""
    hosts = {}
    for r in record['results']:
        h = hosts.setdefault(r['host'], {'tasks': 0, 'calls': 0, 'remote': 0, 'ok': 0, 'changed': 0,
                                         'skipped': 0, 'failed': 0})
        h['tasks'] += 1
        h[r['status'] if r['status'] in h else 'failed'] += 1
        h['changed'] += int(r['changed'])
        if r['status'] != 'skipped':
            runs = r['items'] if r['items'] is not None else 1
            h['calls'] += runs
            if on_host(r['action']):
                h['remote'] += runs
    return hosts


def task_spans(record):
    """Per task (in order): wall span across hosts (first start to last end), slowest host."""
    tasks = {}
    for r in record['results']:
        key = r.get('task_id') or r['task']
        t = tasks.setdefault(key, {'task': r['task'], 'action': r['action'], 'start': r['start'],
                                   'end': 0.0, 'max_host': 0.0, 'hosts': 0, 'skipped': 0,
                                   'on_host': on_host(r['action'])})
        t['start'] = min(t['start'], r['start'])
        t['end'] = max(t['end'], r['start'] + r['duration'])
        t['max_host'] = max(t['max_host'], r['duration'])
        t['hosts'] += 1
        t['skipped'] += r['status'] == 'skipped'
    for t in tasks.values():
        t['span'] = round(t['end'] - t['start'], 3)
        t['all_skipped'] = t['skipped'] == t['hosts']
    return list(tasks.values())


def task_profile(record, top=10):
    """The tasks that took longest (wall span across hosts)."""
    return sorted(task_spans(record), key=lambda t: -t['span'])[:top]


def breakdown(wall, record):
    """Where a run's wall time went: Ansible start-up and end (outside the first and last task),
    tasks that ran something on a host, tasks that ran on the controller only, tasks skipped
    everywhere (the linear strategy runs tasks one after the other, so the spans add up)."""
    spans = task_spans(record)
    out = {'wall': wall, 'tasks': len(spans), 'on_host': 0.0, 'controller': 0.0, 'skipped': 0.0,
           'n_on_host': 0, 'n_controller': 0, 'n_skipped': 0}
    for t in spans:
        kind = 'skipped' if t['all_skipped'] else 'on_host' if t['on_host'] else 'controller'
        out[kind] += t['span']
        out['n_' + kind] += 1
    out['outside_tasks'] = wall - out['on_host'] - out['controller'] - out['skipped']
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


class MeshBench:
    """Part 1 (see the module docstring)."""

    def __init__(self, args, logs):
        self.args = args
        self.logs = logs
        self.site = os.path.join(REPO, 'site.yml')

    def run(self, out):
        """Fills OUT ({'sizes': [], 'errors': []}) size by size: a run stopped half-way keeps what
        it measured."""
        out.update({'forks': self.args.forks, 'repeat': self.args.repeat})
        for n in self.args.sizes:
            try:
                out['sizes'].append(self.one(n))
            except BenchError as exc:  # the other sizes still run; the report names the failure
                log(f'mesh N={n} FAILED: {exc}')
                out['errors'].append({'n': n, 'error': str(exc)[:3000]})
        return out

    def one(self, n):
        d = os.path.join(WORK, f'mesh-{n}')
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        inv = os.path.join(d, 'inventory.yml')
        write(inv, MESH_INVENTORY.format(n=n, hosts='\n'.join(f'    h{i}:' for i in range(1, n + 1)),
                                         networks=MESH_NETWORKS))
        forks = str(self.args.forks)
        with lab_up(f'{self.args.lab_prefix}{n}', n) as lab:
            log(f'mesh N={n}: lab up')
            sources = ['-i', lab.inventory_path, '-i', inv]
            floor_argv = [os.path.join(VENV_BIN, 'ansible'), 'all', *sources, '-m', 'ansible.builtin.ping',
                          '-f', forks, '-o']
            play_argv = [os.path.join(VENV_BIN, 'ansible-playbook'), *sources, '-f', forks, self.site]

            def floor(tag):
                record = os.path.join(d, f'floor-{tag}.json')
                env = ansible_env(record_file=record, ANSIBLE_LOAD_CALLBACK_PLUGINS='1')
                wall, cpu, proc = run_timed(floor_argv, env, self.logs, f'mesh{n}-floor-{tag}')
                pongs = proc.stdout.count('"ping": "pong"')
                if pongs != n:
                    raise BenchError(f'floor N={n}: {pongs} of {n} hosts answered')
                return {'wall': wall, 'cpu': cpu, 'breakdown': breakdown(wall, read_record(record))}

            def play(tag, **extra):
                record = os.path.join(d, f'{tag}.json')
                env = ansible_env(record_file=record, **extra)
                wall, cpu, _ = run_timed(play_argv, env, self.logs, f'mesh{n}-{tag}')
                rec = read_record(record)
                return {'wall': wall, 'cpu': cpu, 'breakdown': breakdown(wall, rec)}, rec

            # floors interleaved with the runs, so a change of the machine's load hits both
            floors = [floor('0')]
            converge, rec_converge = play('converge')
            if any(s['failures'] or s['unreachable'] for s in rec_converge['stats'].values()):
                raise BenchError(f'converge N={n} failed: {rec_converge["stats"]}')
            log(f"mesh N={n}: floor {floors[0]['wall']:.2f}s, converge {converge['wall']:.2f}s")
            reruns = []
            rec_rerun = None
            for r in range(self.args.repeat):
                floors.append(floor(str(r + 1)))
                timing, rec_rerun = play(f'rerun-{r + 1}')
                changed = {h: s['changed'] for h, s in rec_rerun['stats'].items() if s['changed']}
                if changed or any(s['failures'] for s in rec_rerun['stats'].values()):
                    raise BenchError(f're-run N={n} is not idempotent: changed {changed} '
                                     f'(see bench/results/mesh-{n}/rerun-{r + 1}.json)')
                reruns.append(timing)
                log(f"mesh N={n}: floor {floors[-1]['wall']:.2f}s, re-run {timing['wall']:.2f}s (changed=0)")
            mitogen = []
            for r in range(self.args.mitogen_repeat if self.args.mitogen else 0):
                timing, rec = play(f'mitogen-rerun-{r + 1}', **mitogen_env(self.args.mitogen))
                changed = {h: s['changed'] for h, s in rec['stats'].items() if s['changed']}
                if changed or any(s['failures'] or s['unreachable'] for s in rec['stats'].values()):
                    raise BenchError(f'mitogen re-run N={n}: changed {changed}, {rec["stats"]}')
                mitogen.append(timing)
                log(f"mesh N={n}: re-run under Mitogen {timing['wall']:.2f}s (changed=0)")
            check = self.check_mesh(lab, n)
            log(f'mesh N={n}: {check}')
        floor, rerun = median_run(floors), median_run(reruns)
        extra = {}
        if mitogen:
            extra['mitogen_rerun'] = median_run(mitogen)
            extra['ratio_mitogen_rerun'] = extra['mitogen_rerun']['wall'] / floor['wall']
        return {**extra,
            'n': n, 'floor': floor, 'floors': floors, 'converge': converge, 'rerun': rerun, 'reruns': reruns,
            'ratio_converge': converge['wall'] / floor['wall'], 'ratio_rerun': rerun['wall'] / floor['wall'],
            'cpu_ratio_converge': converge['cpu'] / floor['cpu'],
            'cpu_ratio_rerun': rerun['cpu'] / floor['cpu'],
            'tasks_converge': summarize_hosts(per_host(rec_converge)),
            'tasks_rerun': summarize_hosts(per_host(rec_rerun)),
            'profile_converge': task_profile(rec_converge), 'profile_rerun': task_profile(rec_rerun),
            'check': check,
        }

    @staticmethod
    def check_mesh(lab, n):
        """The converged mesh works: h1 has N-1 peers and reaches the last host through wg0."""
        peers = len(lab.exec('h1', ['wg', 'show', 'wg0', 'peers']).stdout.split())
        last = f'h{n}'
        out = lab.exec(last, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'wg0']).stdout
        addr = out.split()[3].split('/')[0]
        ping = lab.exec('h1', ['ping', '-c', '1', '-W', '3', addr], check=False).returncode == 0
        ok = peers == n - 1 and ping
        if not ok:
            raise BenchError(f'mesh N={n} does not work: h1 has {peers} peers (want {n - 1}), '
                             f'ping {last} ({addr}) ok={ping}')
        return {'h1_peers': peers, 'ping_last': ping}


def mitogen_env(path):
    """Environment for Mitogen's linear strategy from an unpacked `mitogen` wheel at PATH."""
    strategy = os.path.join(path, 'ansible_mitogen', 'plugins', 'strategy')
    if not os.path.isdir(strategy):
        raise BenchError(f'--mitogen {path}: no ansible_mitogen/plugins/strategy there')
    return {'ANSIBLE_STRATEGY_PLUGINS': strategy, 'ANSIBLE_STRATEGY': 'mitogen_linear'}


def median_run(runs):
    """Medians of wall, CPU and each breakdown field over several runs of the same thing."""
    out = {k: median([r[k] for r in runs]) for k in ('wall', 'cpu')}
    out['breakdown'] = {k: median([r['breakdown'][k] for r in runs]) for k in runs[0]['breakdown']}
    return out


def summarize_hosts(hosts):
    """Per-host counts folded: each field as a value when all hosts agree, else [min, max]."""
    out = {}
    for field in ('tasks', 'calls', 'remote', 'ok', 'changed', 'skipped', 'failed'):
        values = [h[field] for h in hosts.values()]
        lo, hi = min(values), max(values)
        out[field] = lo if lo == hi else [lo, hi]
    out['hosts'] = len(hosts)
    return out


# --------------------------------------------------------------------------- main

def parse_args(argv=None):
    p = argparse.ArgumentParser(prog='bench/run.sh', description=__doc__.split('\n\n')[0])
    p.add_argument('--sizes', default='3,10,25,50,100', help='mesh sizes N (default %(default)s)')
    p.add_argument('--peers', type=int, default=1000, help='peers on one interface (default %(default)s)')
    p.add_argument('--hub-peers', type=int, default=5000, help='peers of the hub scale point '
                   '(0: none; default %(default)s)')
    p.add_argument('--real-peers', type=int, default=2, help='of which real lab hosts (default %(default)s)')
    p.add_argument('--repeat', type=int, default=3,
                   help='runs of the floor, the re-run and each peers step; medians reported '
                   '(default %(default)s)')
    p.add_argument('--forks', type=int, default=50, help='forks for the floor and the playbook '
                   '(at least the largest N; default %(default)s)')
    p.add_argument('--lab-prefix', default='bench', help='name prefix of the labs it brings up, so that '
                   'two benches on one machine do not meet (default %(default)s)')
    p.add_argument('--mitogen', default='', metavar='DIR',
                   help='also time the re-run under Mitogen\'s strategy (mitogen_linear) from the '
                   'mitogen package unpacked or installed at DIR (`pip install --target DIR mitogen`)')
    p.add_argument('--mitogen-repeat', type=int, default=1, help='re-runs under Mitogen per N '
                   '(default %(default)s)')
    p.add_argument('--vm', type=int, default=2, help='VMs of part 3, the SSH settings on the kernel-VM '
                   'tier (0: skip it; default %(default)s)')
    p.add_argument('--skip-mesh', action='store_true')
    p.add_argument('--skip-peers', action='store_true')
    p.add_argument('--command', default=None, help=argparse.SUPPRESS)  # how run.sh was called
    args = p.parse_args(argv)
    args.sizes = [int(x) for x in args.sizes.split(',') if x.strip()]
    if args.peers < args.real_peers + 2:
        p.error('--peers must exceed --real-peers by at least 2')
    args.forks = max(args.forks, *args.sizes) if args.sizes else args.forks
    return args


def main(argv=None):
    args = parse_args(argv)
    if os.geteuid() != 0:
        sys.exit('bench: needs root (lab tier 1 uses namespaces)')
    os.makedirs(WORK, exist_ok=True)
    logs = Logs(WORK)
    started = datetime.datetime.now(datetime.timezone.utc)
    data = {'command': args.command or shlex.join(['bench/bench.py', *(argv or sys.argv[1:])]),
            'started': started.isoformat(timespec='seconds'),
            'machine': machine_info(), 'load_before': loadavg(), 'args': vars(args)}
    log(f"load average before: {data['load_before']}")
    t0 = time.monotonic()
    fingerprint = code_fingerprint()
    failed = False
    try:
        if not args.skip_peers:
            try:
                data['peers'] = PeersBench(args, logs).run()
            except BenchError as exc:
                log(f'peers FAILED: {exc}')
                data['peers_error'] = str(exc)[:3000]
                failed = True
        if not args.skip_mesh:
            data['mesh'] = {'sizes': [], 'errors': []}
            MeshBench(args, logs).run(data['mesh'])
            failed = failed or bool(data['mesh']['errors'])
        if args.vm:
            failed = vm_ssh(args, logs, data) or failed
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM (nslab's handler): report what was measured
        log('stopped: writing the report of what was measured so far')
        data['interrupted'] = True
        failed = True
    data['load_after'] = loadavg()
    data['duration'] = round(time.monotonic() - t0, 1)
    data['code_changed_during_run'] = code_fingerprint() != fingerprint
    if data['code_changed_during_run']:
        log('WARNING: the code under test changed while the bench ran: the results are not valid')
        failed = True
    log(f"load average after: {data['load_after']}")
    with open(os.path.join(WORK, 'data.json'), 'w') as f:
        json.dump(data, f, indent=1)
    import report
    report.write_all(data, BENCH)
    log(f'wrote bench/results.md and bench/results.png ({data["duration"]}s)'
        + ('; SOME PARTS FAILED (see results.md)' if failed else ''))
    return 1 if failed else 0


def vm_ssh(args, logs, data):
    """Part 3 (bench/ssh_vm.py) into data['vm_ssh']; True when it failed."""
    import types

    from ssh_vm import VmSshBench
    helpers = types.SimpleNamespace(WORK=WORK, VENV_BIN=VENV_BIN, REPO=REPO, log=log, ansible_env=ansible_env,
                                    run_timed=run_timed, read_record=read_record, breakdown=breakdown,
                                    BenchError=BenchError, MESH_NETWORKS=MESH_NETWORKS)
    try:
        data['vm_ssh'] = VmSshBench(args, logs, helpers).run()
    except Exception as exc:  # BenchError, the VM lab's LabError: the report names it
        log(f'vm ssh FAILED: {exc}')
        data['vm_ssh_error'] = str(exc)[:3000]
        return True
    return False


def code_fingerprint():
    """Size and mtime of every file the measured code consists of (a change mid-run voids it)."""
    h = hashlib.sha256()
    for top in ('roles', 'plugins', 'playbooks', 'site.yml', 'ansible.cfg', 'bench/peers.yml',
                'bench/callback_plugins', 'meta'):
        path = os.path.join(REPO, top)
        files = [path] if os.path.isfile(path) else sorted(
            os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if '__pycache__' not in d)
        for f in files:
            with contextlib.suppress(OSError):
                st = os.stat(f)
                h.update(f'{f}\0{st.st_size}\0{st.st_mtime_ns}\n'.encode())
    return h.hexdigest()


if __name__ == '__main__':
    sys.exit(main())
