"""The kernel engine (netlink through pyroute2) on a real kernel: the VMs of lab tier 3.

The collection's plugins (and the venv's pure-Python pyroute2 0.9.x) are copied into the VMs and
tests/lab/engine_driver.py runs there with engine=kernel, once per pyroute2 line: Debian 12's
python3-pyroute2 0.7.2 on a bookworm VM, Debian 13's 0.7.7 (Python 3.13, kernel 6.12) on a trixie
VM, and 0.9.x. Each run: create through `ip link add type wireguard`, apply/verify, peer and link
updates, route/address drift, one peer whose 5,000 allowed IPs the kernel splits over several
dump messages, delete, and 1,000 peers with routes (timed). Runs on different VMs go at once
(one TCG CPU each), runs on one VM one after the other.

Run: .venv/bin/pytest -m kernel tests/lab/test_engines_kernel.py   (root; boots two VMs, or uses
the lab named by VMLAB_SHARED)
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from pytest_nslab import TIMINGS

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'lab' / 'vm'))

import vmlab  # noqa: E402

pytestmark = pytest.mark.kernel

REMOTE = '/root/meshlab-collections'


def collection_tar() -> bytes:
    """plugins/ and the driver, laid out as ansible_collections/meshlab/wireguard/..."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as tar:
        base = 'ansible_collections/meshlab/wireguard'
        for sub in ('plugins/module_utils', 'plugins/modules'):
            for name in sorted(os.listdir(REPO / sub)):
                if name.endswith('.py'):
                    tar.add(str(REPO / sub / name), arcname=f'{base}/{sub}/{name}')
        tar.add(str(REPO / 'tests' / 'lab' / 'engine_driver.py'), arcname='engine_driver.py')
        import pyroute2  # the venv's (0.9.x): pure Python, runs on the VM's python3 too
        tar.add(os.path.dirname(pyroute2.__file__), arcname='pyroute2-0.9/pyroute2',
                filter=lambda ti: None if '__pycache__' in ti.name else ti)
    return buf.getvalue()


@pytest.fixture(scope='module')
def vm():
    missing = vmlab.missing_tools()
    if missing:
        pytest.skip(f"lab tier 3 needs {', '.join(missing)}")
    if os.geteuid() != 0:
        pytest.skip('lab tier 3 needs root')
    shared = vmlab.shared_lab()
    if shared is not None:
        shared.reset()
        yield shared
        return
    lab = vmlab.VMLab('pytest-engines-kernel')
    try:
        lab.up(2, replace=True)
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope='module')
def shipped(vm):
    unpack = f'rm -rf {REMOTE} && mkdir -p {REMOTE} && tar -xzf - -C {REMOTE}'
    data = collection_tar()
    procs = [subprocess.Popen(vm.ssh_argv(h.name, unpack), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for h in vm.hosts]
    for proc in procs:
        _out, err = proc.communicate(data, timeout=180)
        assert proc.returncode == 0, err
    return vm


# line -> (the Debian suite whose VM runs it, PYTHONPATH prefix); 0.9 goes to a third VM if there is one
PYROUTE2_LINES = {
    'bookworm-python3-pyroute2': ('bookworm', ''),
    'trixie-python3-pyroute2': ('trixie', ''),
    'pyroute2-0.9': (None, f'PYTHONPATH={REMOTE}/pyroute2-0.9 '),
}


def _plan(lab):
    """{host: [line, ...]}: each Debian line on a VM of its release, 0.9 on a VM left over (or on
    the first one, after its Debian line)."""
    plan, used = {}, set()
    for line, (suite, _prefix) in PYROUTE2_LINES.items():
        if suite is None:
            continue
        host = next(h.name for h in lab.hosts if h.suite == suite)
        plan.setdefault(host, []).append(line)
        used.add(host)
    spare = [h.name for h in lab.hosts if h.name not in used]
    plan.setdefault(spare[0] if spare else lab.hosts[0].name, []).append('pyroute2-0.9')
    return plan


@pytest.fixture(scope='module')
def driver_runs(shipped):
    """Start every run (one thread per VM), return {line: Future of (host, CompletedProcess)}."""
    lab = shipped
    pool = ThreadPoolExecutor(max_workers=len(lab.hosts))
    futures = {}

    def one_vm(host, lines, gates):
        for line in lines:
            command = f'cd /tmp && {PYROUTE2_LINES[line][1]}python3 {REMOTE}/engine_driver.py {REMOTE} kernel'
            gates[line].set_result((host, lab.ssh(host, command, check=False, timeout=900)))

    for host, lines in _plan(lab).items():
        gates = {line: Future() for line in lines}
        futures.update(gates)
        pool.submit(one_vm, host, lines, gates)
    yield futures
    pool.shutdown(wait=True)


@pytest.mark.parametrize('line', sorted(PYROUTE2_LINES))
def test_kernel_engine_on_a_real_kernel(driver_runs, line):
    host, proc = driver_runs[line].result(timeout=1800)
    steps = [json.loads(text) for text in proc.stdout.splitlines() if text.startswith('{')]
    assert proc.returncode == 0, (host, proc.stdout[-4000:], proc.stderr[-4000:])
    assert steps[0]['engine'] == 'kernel'
    assert ('0.9' in steps[0]['pyroute2']) == ('0.9' in line), steps[0]
    assert steps[-1]['step'] == 'done', proc.stdout
    split = next(s for s in steps if s['step'] == 'split')
    assert split['messages'] > 1 and split['peer_allowed_ips'] == 5000
    scale = next(s for s in steps if s['step'] == 'scale')
    TIMINGS.append((f'kernel engine ({host}, {line}), 1000 peers + routes, create+apply',
                    scale['apply_seconds']))
    TIMINGS.append((f'kernel engine ({host}, {line}), 1000 peers, read+plan (no change)',
                    scale['reread_and_plan_seconds']))
    print(proc.stdout)
