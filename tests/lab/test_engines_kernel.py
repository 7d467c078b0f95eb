"""The kernel engine (netlink through pyroute2) on a real kernel: one QEMU VM of lab tier 3.

The VM runs Debian 12 with its wireguard module and python3-pyroute2 0.7.x. The collection's
plugins (and the venv's pure-Python pyroute2 0.9.x, for a second run) are copied into the VM and
tests/lab/engine_driver.py runs there with engine=kernel, once per pyroute2 line:
create through `ip link add type wireguard`, apply/verify, peer and link updates, route/address
drift, one peer whose 5,000 allowed IPs the kernel splits over several dump messages, delete, and
1,000 peers with routes (timed).

Run: .venv/bin/pytest -m kernel tests/lab/test_engines_kernel.py   (root; boots one VM, ~1 min)
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
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
    lab = vmlab.VMLab('pytest-engines-kernel')
    try:
        lab.up(1, replace=True)
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope='module')
def shipped(vm):
    unpack = f'rm -rf {REMOTE} && mkdir -p {REMOTE} && tar -xzf - -C {REMOTE}'
    proc = subprocess.run(vm.ssh_argv('vm1', unpack), input=collection_tar(), capture_output=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return vm


PYROUTE2_LINES = {'debian-pyroute2-0.7': '', 'pyroute2-0.9': f'PYTHONPATH={REMOTE}/pyroute2-0.9 '}


@pytest.mark.parametrize('line', sorted(PYROUTE2_LINES))
def test_kernel_engine_on_a_real_kernel(shipped, line):
    vm = shipped
    command = f'cd /tmp && {PYROUTE2_LINES[line]}python3 {REMOTE}/engine_driver.py {REMOTE} kernel'
    proc = vm.ssh('vm1', command, check=False, timeout=900)
    steps = [json.loads(text) for text in proc.stdout.splitlines() if text.startswith('{')]
    assert proc.returncode == 0, (proc.stdout[-4000:], proc.stderr[-4000:])
    assert steps[0]['engine'] == 'kernel'
    assert ('0.9' in steps[0]['pyroute2']) == ('0.9' in line), steps[0]
    assert steps[-1]['step'] == 'done', proc.stdout
    split = next(s for s in steps if s['step'] == 'split')
    assert split['messages'] > 1 and split['peer_allowed_ips'] == 5000
    scale = next(s for s in steps if s['step'] == 'scale')
    TIMINGS.append((f'kernel engine (VM, {line}), 1000 peers + routes, create+apply', scale['apply_seconds']))
    TIMINGS.append((f'kernel engine (VM, {line}), 1000 peers, read+plan (no change)',
                    scale['reread_and_plan_seconds']))
    print(proc.stdout)
