"""Issue 11 on lab tier 1: every bad input of tests/lab/bad_inputs.py is refused before anything
changes, with a message naming the variable or file and the fix; faults heal.

One converged lab for the module (examples/site-to-site plus a client on h1). Per case: the
run fails at the expected stage, the message holds the expected fragments (and no secret), and a
snapshot taken right before the run equals one taken right after it: on every host the files under
/etc/wireguard (hash and mode), the WireGuard state, link indexes, addresses, routes, the nft
ruleset and the forwarding sysctls; on the controller every file of the case's copy of the
registry directory (registry bytes, PSK secret, client keys and configs).

Cases that change nothing outside their own copy of the controller files run in parallel (they
touch no host, or only read it); the host snapshot is taken before and after that batch. Cases
that change a host (a key file, a read-only mount, a fake binary) run one at a time, each with its
own snapshots, and undo their change. Then: a valid unclamped key and a changed tunnel address
converge (classes 3 and 6), a full disk during a registry write, wireguard-go killed right after
it was configured, ansible-playbook killed in the middle of a module; and the lab converged with
changed=0 at the end.

Every case is its own `ansible-playbook site.yml` run with its own command line, but forked from
one of WORKERS servers that imported Ansible once (tests/lab/playbook_forkserver.py): the same
run without Python's start-up and imports, a third of a case refused at the check stage.
"""

import concurrent.futures
import contextlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import bad_inputs
import playbook_forkserver
import pytest
import pytest_nslab
import state_snapshot as snap
import yaml
from role_helpers import (
    COLLECTIONS,
    LAB_VARS,
    ROOT,
    example,
    ping,
    registry,
    run_site,
    state_dir,
    wg_peers,
    xdg_state_home,
)

pytestmark = pytest.mark.lab

INV = [example('site-to-site'), os.path.join(ROOT, 'tests', 'lab', 'inventory', 'bad-inputs.yml')]
HOSTS = ('h1', 'h2', 'h3')
WORKERS = 3
# The controller files a case may change, as (where in the lab, where in a case's copy): the
# registry beside the lab's inventory, the PSK secret and client files in the role's state dir.
REGISTRY_FILES = ('wireguard-registry.yml', 'wireguard-registry.yml.lock')
STAGE_OF_TASK = (
    ('Validating arguments', 'argspec'),
    ('Check every input', 'check'),
    ('Probe what each host', 'probe'),
    ('Judge every host', 'probe-verdict'),
)
RESULTS = os.path.join(ROOT, '.build', 'bad-inputs-results.json')


@pytest.fixture(scope='module')
def lab(nslab_module_factory):
    lab = nslab_module_factory(3, sites=True, name=pytest_nslab.unique_lab_name('m11'))
    run = run_site(lab, INV, label='bad inputs: converge')
    assert run.rc == 0, run.tail()
    return lab


class Ctx:
    """What a case may use: the lab's keys and addresses, a fresh key, its own controller files."""

    def __init__(self, lab, workdir, new_private, private_keys):
        self.lab = lab
        self.private_keys = private_keys  # {host: wg0 private key}, read before any case ran
        reg = registry(lab)
        hosts = reg['networks']['wg0']['hosts']
        self.pub = {h: e['public_key'] for h, e in hosts.items()}
        self.addr4 = {h: next(a for a in e['addresses'] if ':' not in a) for h, e in hosts.items()}
        self.addr6 = {h: next(a for a in e['addresses'] if ':' in a) for h, e in hosts.items()}
        self.new_private = new_private
        self.dir = workdir  # the case's copy of the controller files (compared before and after)
        self.case_dir = workdir + '.case'  # the case's own inputs (vars, inventory, wrappers)
        os.makedirs(self.case_dir, exist_ok=True)
        self.read_only = []

    def priv(self, host):
        return self.private_keys[host]

    # controller-side helpers (on the case's own copy)
    def write(self, name, text, mode):
        path = os.path.join(self.dir, name)
        with open(path, 'w') as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def file(self, name, text):
        """A file among the case's own inputs (not among the compared controller files)."""
        path = os.path.join(self.case_dir, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def chmod(self, name, mode):
        os.chmod(os.path.join(self.dir, name), mode)

    def replace_with_dir(self, name):
        os.unlink(os.path.join(self.dir, name))
        os.mkdir(os.path.join(self.dir, name))

    def read_only_dir(self):
        self.read_only.append(self.dir)

    def wrapper_path(self, host):
        return os.path.join(self.case_dir, f'{host}-python')

    def wrapper(self, host, template):
        nonacl = os.path.join(self.case_dir, 'nonacl')
        os.makedirs(os.path.join(nonacl, 'nacl'), exist_ok=True)
        with open(os.path.join(nonacl, 'nacl', '__init__.py'), 'w') as f:
            f.write("raise ImportError('python3-nacl is not installed (simulated)')\n")
        python = os.path.join(self.lab.state_dir, 'bin', f'{host}-python')
        with open(self.wrapper_path(host), 'w') as f:
            f.write('#!/bin/sh\n' + template.format(python=python, nonacl=nonacl) + '\n')
        os.chmod(self.wrapper_path(host), 0o700)


def copy_controller_files(lab, dest):
    """The lab's registry into DEST and its state dir (PSK secret, clients) into DEST/state."""
    for name in REGISTRY_FILES:
        src = os.path.join(lab.state_dir, name)
        if os.path.exists(src):
            shutil.copy2(src, os.path.join(dest, name))
    shutil.copytree(state_dir(lab), os.path.join(dest, 'state'), symlinks=True)


def shared_controller_state(lab):
    """The lab's own controller files (no case may change them)."""
    return {
        **snap.controller_state(lab.state_dir, names=REGISTRY_FILES),
        **snap.controller_state(state_dir(lab)),
    }


def apply_registry_edit(case, ctx):
    path = os.path.join(ctx.dir, 'wireguard-registry.yml')
    with open(path) as f:
        data = yaml.safe_load(f)
    new = case.registry(data, ctx)
    with open(path, 'w') as f:
        f.write(new if isinstance(new, str) else yaml.safe_dump(new))


def playbook_env(lab):
    return dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_FORCE_COLOR='0',
        ANSIBLE_RETRY_FILES_ENABLED='0',
        ANSIBLE_DEPRECATION_WARNINGS='0',
        PYTHONUNBUFFERED='1',
        XDG_STATE_HOME=xdg_state_home(lab),
    )


def stage_of(output):
    """The stage of the first failed task: the task header before the first failure."""
    task = None
    for line in output.splitlines():
        m = re.match(r'^TASK \[(.*)\] \*+$', line)
        if m:
            task = m.group(1)
        elif line.startswith(('fatal:', '[ERROR]: Task failed')) and task:
            for fragment, stage in STAGE_OF_TASK:
                if fragment in task:
                    return stage
            return 'task: ' + task
    return None


def case_env():
    """The environment of every case's ansible-playbook run."""
    return dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_FORCE_COLOR='0',
        ANSIBLE_RETRY_FILES_ENABLED='0',
        ANSIBLE_DEPRECATION_WARNINGS='0',
    )


def run_case(lab, case, ctx, servers=None):
    """ansible-playbook site.yml for CASE against the lab; its own controller files in ctx.dir.

    SERVERS (a queue of playbook_forkserver.ForkServer): the run is forked from one of them, the
    same command line in the same environment without Python's start-up; a case that needs its
    own mount namespace (read-only controller directory) runs as a process of its own."""
    extra = {
        'wireguard_registry_path': os.path.join(ctx.dir, 'wireguard-registry.yml'),
        'wireguard_state_dir': os.path.join(ctx.dir, 'state'),
    }
    extra.update(case.value('extra_vars', ctx) or {})
    vars_file = os.path.join(ctx.case_dir, 'vars.json')
    with open(vars_file, 'w') as f:
        json.dump(extra, f)
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', lab.inventory_path]
    for inv in INV:
        cmd += ['-i', inv]
    cmd += ['-i', LAB_VARS]
    inventory = case.value('inventory', ctx)
    if inventory:
        path = os.path.join(ctx.case_dir, 'inventory.yml')
        with open(path, 'w') as f:
            yaml.safe_dump(inventory, f)
        cmd += ['-i', path]
    cmd += [os.path.join(ROOT, 'site.yml'), '-e', '@' + vars_file, *case.args]
    if ctx.read_only:  # a private mount namespace where the controller directory is read-only
        binds = ' && '.join(f'mount --bind {d} {d} && mount -o remount,bind,ro {d}' for d in ctx.read_only)
        cmd = [
            'unshare',
            '--mount',
            '--propagation',
            'private',
            'sh',
            '-c',
            binds + ' && exec "$@"',
            'sh',
            *cmd,
        ]
    t0 = time.monotonic()
    if servers is not None and not ctx.read_only:
        server = servers.get()
        try:
            out, err = os.path.join(ctx.case_dir, 'stdout'), os.path.join(ctx.case_dir, 'stderr')
            rc = server.run(cmd, ROOT, out, err, timeout=600)
        finally:
            servers.put(server)
        with open(out) as f_out, open(err) as f_err:
            proc = subprocess.CompletedProcess(cmd, rc, f_out.read(), f_err.read())
        return proc, time.monotonic() - t0
    proc = subprocess.run(
        cmd, cwd=ROOT, env=case_env(), capture_output=True, text=True, timeout=600, check=False
    )
    return proc, time.monotonic() - t0


def try_case(lab, case, workroot, new_private, private_keys, servers=None):
    """Prepare, run and judge one case; returns (problems, record). Host changes are not made here."""
    workdir = tempfile.mkdtemp(prefix=case.id + '.', dir=workroot)
    ctx = Ctx(lab, workdir, new_private, private_keys)
    copy_controller_files(lab, workdir)
    if case.registry:
        apply_registry_edit(case, ctx)
    if case.controller:
        case.controller(ctx)
    before = snap.controller_state(workdir)
    proc, seconds = run_case(lab, case, ctx, servers)
    after = snap.controller_state(workdir)
    out = proc.stdout + proc.stderr
    stage = stage_of(out)
    problems = []
    if proc.returncode == 0:
        problems.append('the run succeeded')
    if stage != case.stage:
        problems.append(f'stopped at {stage!r}, expected {case.stage!r}')
    missing = [e for e in case.expect if e not in out]
    if missing:
        problems.append(f'message lacks {missing}')
    secret = case.secret(ctx) if case.secret else None
    if secret and secret in out:
        problems.append('a secret appears in the output')
    leaked = [h for h, key in private_keys.items() if key in out]
    if leaked:
        problems.append(f'the private key of {leaked} appears in the output')
    changed = snap.differences(before, after)
    if changed:
        problems.append(f'controller files changed: {changed}')
    if problems:
        problems.append('output tail: ' + out[-3000:])
    record = {
        'id': case.id,
        'class': case.klass,
        'stage': stage,
        'seconds': round(seconds, 2),
        'refused': proc.returncode != 0,
        'named': not missing,
        'unchanged': not changed,
    }
    return problems, record


def guarded(fn, lab, case, *args):
    """fn(lab, case, ...), with an exception of the harness reported as the case's problem."""
    try:
        return fn(lab, case, *args)
    except Exception as exc:  # a broken case must not hide the others
        return [f'harness error: {type(exc).__name__}: {exc}'], {
            'id': case.id,
            'class': case.klass,
            'stage': None,
            'seconds': 0,
        }


def refresh_handshakes(lab):
    """Fresh handshakes on every link (pings across the tunnel)."""
    reg = registry(lab)
    addr = {h: e['addresses'][0].split('/')[0] for h, e in reg['networks']['wg0']['hosts'].items()}
    for a, b in (('h1', 'h2'), ('h1', 'h3'), ('h2', 'h3')):
        assert ping(lab, a, addr[b], count=1).returncode == 0, (a, b)


@pytest.fixture(scope='module')
def workroot(lab, tmp_path_factory):
    return str(tmp_path_factory.mktemp('bad-inputs'))


@pytest.fixture(scope='module')
def private_keys(lab):
    return {h: lab.exec(h, ['cat', '/etc/wireguard/wg0.key']).stdout.strip() for h in HOSTS}


@pytest.fixture(scope='module')
def new_private():
    from ansible_collections.meshlab.wireguard.plugins.module_utils._keys import generate_private_key

    return generate_private_key()


@pytest.fixture(scope='module')
def servers():
    """WORKERS ansible-playbook fork servers (playbook_forkserver), one per case run at a time."""
    pool = queue.Queue()
    started = [playbook_forkserver.ForkServer(case_env()) for _ in range(WORKERS)]
    for server in started:
        pool.put(server)
    yield pool
    for server in started:
        server.close()


@pytest.fixture(scope='module')
def records():
    found = []
    yield found
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, 'w') as f:
        json.dump(found, f, indent=1)


def test_catalogue_has_at_least_80_distinct_cases():
    ids = [c.id for c in bad_inputs.CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 80, len(ids)


def test_bad_inputs_that_touch_no_host_are_refused_in_parallel(
    lab, workroot, new_private, private_keys, records, servers
):
    cases = [c for c in bad_inputs.CASES if c.parallel]
    hosts_before = snap.fleet_state(lab, HOSTS)
    shared_before = shared_controller_state(lab)
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        results = list(
            pool.map(lambda c: guarded(try_case, lab, c, workroot, new_private, private_keys, servers), cases)
        )
    pytest_nslab.TIMINGS.append(
        (f'bad inputs: {len(cases)} cases in parallel ({WORKERS} at a time)', time.monotonic() - t0)
    )
    failures = {c.id: p for c, (p, _r) in zip(cases, results) if p}
    records.extend(r for _p, r in results)
    assert snap.differences(hosts_before, snap.fleet_state(lab, HOSTS)) == {}
    assert snap.differences(shared_before, shared_controller_state(lab)) == {}
    assert not failures, json.dumps(failures, indent=1)[:20000]


def test_bad_inputs_that_change_a_host_are_refused_one_by_one(
    lab, workroot, new_private, private_keys, records, servers
):
    cases = [c for c in bad_inputs.CASES if not c.parallel]
    shared_before = shared_controller_state(lab)
    failures = {}
    t0 = time.monotonic()
    for case in cases:
        ctx = Ctx(lab, tempfile.mkdtemp(prefix=case.id + '-steps.', dir=workroot), new_private, private_keys)
        steps = case.host(ctx) if case.host else []
        done = []
        try:
            for host, setup, _undo in steps:
                done.append((host, _undo))
                lab.exec(host, setup)
            if case.serial:
                refresh_handshakes(lab)
            before = snap.fleet_state(lab, HOSTS)
            problems, record = guarded(try_case, lab, case, workroot, new_private, private_keys, servers)
            changed = snap.differences(before, snap.fleet_state(lab, HOSTS))
        finally:
            for host, undo in reversed(done):
                lab.exec(host, undo, check=False)
        if changed:
            problems.append(f'hosts changed: {changed}')
            record['unchanged'] = False
        records.append(record)
        if problems:
            failures[case.id] = problems
    pytest_nslab.TIMINGS.append(
        (f'bad inputs: {len(cases)} host-changing cases one by one', time.monotonic() - t0)
    )
    assert snap.differences(shared_before, shared_controller_state(lab)) == {}
    assert not failures, json.dumps(failures, indent=1)[:20000]


# --------------------------------------------------------------------------- valid inputs that used to fail


def test_an_unclamped_private_key_converges_without_changes(lab):
    """Class 3: a valid key written unclamped by another tool is the key the interface runs."""
    import base64

    key = lab.exec('h1', ['cat', '/etc/wireguard/wg0.key']).stdout.strip()
    raw = bytearray(base64.b64decode(key))
    raw[0] |= 7  # the bits WireGuard clears when it clamps
    unclamped = base64.b64encode(bytes(raw)).decode()
    lab.exec(
        'h1',
        f"cp -p /etc/wireguard/wg0.key /run/wireguard/m11-key.bak && "
        f"printf '%s\\n' '{unclamped}' > /etc/wireguard/wg0.key",
    )
    try:
        before = snap.host_state(lab, 'h1')
        run = run_site(lab, INV, label='bad inputs: unclamped key')
        assert run.rc == 0, run.tail()
        assert run.total_changed() == 0, run.recap
        assert snap.host_state(lab, 'h1') == before
    finally:
        lab.exec(
            'h1', 'cp -p /run/wireguard/m11-key.bak /etc/wireguard/wg0.key && rm /run/wireguard/m11-key.bak'
        )


# --------------------------------------------------------------------------- faults


def netns_pids(lab, host, comm):
    """PIDs of processes named COMM in HOST's network namespace (found by namespace inode)."""
    ino = os.stat(lab.ns_files(host)['net']).st_ino
    pids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/comm') as f:
                name = f.read().strip()
            if name.startswith(comm) and os.stat(f'/proc/{entry}/ns/net').st_ino == ino:
                pids.append(int(entry))
        except OSError:
            continue
    return pids


def playbook_cmd(lab, extra=()):
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', lab.inventory_path]
    for inv in INV:
        cmd += ['-i', inv]
    return [*cmd, '-i', LAB_VARS, os.path.join(ROOT, 'site.yml'), *extra]


def fill(path):
    """Write zeros to PATH until its file system is full (ENOSPC)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):
            while os.write(fd, bytes(65536)):
                pass
    finally:
        os.close(fd)


def test_a_full_disk_during_a_registry_write_keeps_the_old_registry(lab, workroot):
    """The registry lives on a small tmpfs that is full; a new client needs a registry write: the
    run stops everywhere naming the fix, the registry is byte for byte the old one, no temporary
    file is left behind, and no host changed."""
    mnt = tempfile.mkdtemp(prefix='full-disk.', dir=workroot)
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=256k,mode=0755', 'm11full', mnt], check=True)
    try:
        copy_controller_files(lab, mnt)
        fill(os.path.join(mnt, 'filler'))
        path = os.path.join(mnt, 'wireguard-registry.yml')
        with open(path, 'rb') as f:
            old = f.read()
        extra = {
            'wireguard_registry_path': path,
            'wireguard_state_dir': os.path.join(mnt, 'state'),
            'wireguard_networks': [
                bad_inputs.net(clients=[{'name': 'phone', 'host': 'h1'}, {'name': 'tablet', 'host': 'h2'}])
            ],
        }
        vars_file = os.path.join(workroot, 'full-disk-vars.json')
        with open(vars_file, 'w') as f:
            json.dump(extra, f)
        before = snap.fleet_state(lab, HOSTS)
        proc = subprocess.run(
            playbook_cmd(lab, ['-e', '@' + vars_file]),
            cwd=ROOT,
            env=playbook_env(lab),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0, out[-3000:]
        assert 'cannot write the registry' in out and 'No space left on device' in out, out[-3000:]
        assert 'The registry is unchanged' in out and 'free space on the file system' in out
        with open(path, 'rb') as f:
            assert f.read() == old  # the registry bytes are the old ones
        assert not [n for n in os.listdir(mnt) if n.endswith('.tmp')]  # no temporary file left behind
        assert snap.differences(before, snap.fleet_state(lab, HOSTS)) == {}
    finally:
        subprocess.run(['umount', mnt], check=False)


def test_wireguard_go_killed_right_after_it_was_configured_is_noticed_and_healed(lab):
    """h2's interface is re-created by a run; its wireguard-go is killed as soon as it holds its
    peers. The same run fails naming the interface; the next run brings it back."""
    lab.exec('h2', 'ip link del wg0')
    proc = subprocess.Popen(
        playbook_cmd(lab),
        cwd=ROOT,
        env=playbook_env(lab),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    killed = None
    deadline = time.monotonic() + 300
    try:
        while proc.poll() is None and time.monotonic() < deadline and killed is None:
            peers = lab.exec('h2', 'wg show wg0 peers 2>/dev/null | wc -l', check=False).stdout.strip()
            if peers == '2':
                for pid in netns_pids(lab, 'h2', 'wireguard-go'):
                    os.kill(pid, signal.SIGKILL)
                    killed = pid
            else:
                time.sleep(0.02)
        out = proc.communicate(timeout=300)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert killed, 'wireguard-go of h2 was never seen configured'
    assert proc.returncode != 0, out[-3000:]
    assert (
        'wg0 is not running although it was configured in this run' in out
        or 'wg0 still differs from the desired state' in out
    ), out[-3000:]
    run = run_site(lab, INV, label='bad inputs: after wireguard-go was killed')
    assert run.rc == 0, run.tail()
    assert len(wg_peers(lab, 'h2')) == 2
    assert ping(lab, 'h2-lan', '203.0.113.10', count=3).returncode == 0


def test_ansible_playbook_killed_in_the_middle_of_a_module_heals_on_the_next_run(lab):
    """SIGKILL to ansible-playbook and its processes while wireguard_interface runs on h3 (it is
    re-creating h3's interface); the next run converges and the mesh works."""
    lab.exec('h3', 'ip link del wg0')
    proc = subprocess.Popen(
        playbook_cmd(lab),
        cwd=ROOT,
        env=playbook_env(lab),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    module_alive_at_kill = False
    try:
        for line in proc.stdout:
            if 'TASK [meshlab.wireguard.wireguard : Configure the WireGuard interfaces]' in line:
                break
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            modules = netns_pids(lab, 'h3', 'python')
            if modules and lab.exec('h3', 'ip link show wg0', check=False).returncode == 0:
                os.killpg(proc.pid, signal.SIGKILL)
                for pid in modules:
                    with contextlib_suppress():
                        os.kill(pid, signal.SIGKILL)
                module_alive_at_kill = True
                break
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert module_alive_at_kill, 'the interface module on h3 was never caught running'
    # the registry is intact (the next run reads it strictly) and the next run heals everything
    run = run_site(lab, INV, label='bad inputs: after SIGKILL in the middle of a module')
    assert run.rc == 0, run.tail()
    assert len(wg_peers(lab, 'h3')) == 2
    assert ping(lab, 'h3-lan', '203.0.113.10', count=3).returncode == 0


def contextlib_suppress():
    import contextlib

    return contextlib.suppress(ProcessLookupError)


def test_a_changed_tunnel_address_keeps_the_lan_routes_in_one_run(lab, tmp_path):
    """Class 6: h1 moves to another IPv4 tunnel address; one run converges, LAN routes included."""
    reg = registry(lab)
    v6 = next(a for a in reg['networks']['wg0']['hosts']['h1']['addresses'] if ':' in a)
    moved = tmp_path / 'h1-moved.yml'
    moved.write_text(
        yaml.safe_dump({'all': {'hosts': {'h1': {'wireguard_addresses': {'wg0': ['100.64.0.251/24', v6]}}}}})
    )
    run = run_site(lab, [*INV, str(moved)], label='bad inputs: h1 moves to 100.64.0.251')
    assert run.rc == 0, run.tail()
    routes = lab.exec('h1', 'ip route show dev wg0').stdout
    assert '203.0.113.32/27' in routes and '203.0.113.64/27' in routes, routes
    assert ping(lab, 'h1-lan', '203.0.113.74', count=3).returncode == 0
    assert ping(lab, 'h3-lan', '203.0.113.10', count=3).returncode == 0


def test_the_lab_is_still_converged(lab):
    run = run_site(lab, INV, label='bad inputs: final run')
    assert run.rc == 0, run.tail()
    assert run.total_changed() == 0, run.recap
    assert ping(lab, 'h1-lan', '203.0.113.42', count=3).returncode == 0
