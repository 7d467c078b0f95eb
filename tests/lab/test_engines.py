"""The userspace engine and _iproute on a lab host, without Ansible, under both pyroute2 lines.

tests/lab/engine_driver.py runs inside one namespace host: create through wireguard-go, apply a
plan, verify, update peers and link, heal route/address drift, kill wireguard-go (stale socket ->
absent -> recreated), delete (link, process and socket gone). It runs once with Debian's
/usr/bin/python3 (python3-pyroute2 0.7.x) and once with the venv (pyroute2 0.9.x).
"""
import json
import os
import shlex
import sys
import time

import pytest
from pytest_nslab import TIMINGS

pytestmark = pytest.mark.lab

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DRIVER = os.path.join(ROOT, 'tests', 'lab', 'engine_driver.py')
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')
INTERPRETERS = {'debian-pyroute2-0.7': '/usr/bin/python3', 'venv-pyroute2-0.9': sys.executable}


@pytest.fixture(scope='module')
def lab(nslab_module_factory):
    return nslab_module_factory(1)


@pytest.mark.parametrize('interpreter', sorted(INTERPRETERS))
def test_userspace_engine_and_iproute(lab, interpreter):
    python = INTERPRETERS[interpreter]
    if not os.path.exists(python):
        pytest.skip(f'{python} missing')
    proc = lab.exec('h1', [python, DRIVER, COLLECTIONS], check=False, timeout=120)
    steps = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{')]
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    assert steps and steps[-1]['step'] == 'done', proc.stdout
    killed = next(s for s in steps if s['step'] == 'killed')
    assert killed['socket'] == 'stale' and killed['link'] is None
    scale = next(s for s in steps if s['step'] == 'scale')
    TIMINGS.append((f'{interpreter}: userspace engine, 1000 peers + routes, create+apply',
                    scale['apply_seconds']))
    TIMINGS.append((f'{interpreter}: userspace engine, 1000 peers, read+plan (no change)',
                    scale['reread_and_plan_seconds']))


# Started the way a module runs over SSH without pipelining (Ansible's default): in a terminal
# session (ssh -tt). When that session ends, the kernel hangs up its foreground process group,
# and a Go program ends on SIGHUP.
START_IN_TERMINAL = """
import sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.meshlab.wireguard.plugins.module_utils import _engines
_engines.make_engine('userspace').create('wgpty0')  # as wireguard_interface does
"""


def test_wireguard_go_outlives_the_terminal_session_it_was_started_from(lab):
    try:
        proc = lab.exec('h1', ['script', '-qefc', ' '.join(
            ['/usr/bin/python3', '-c', shlex.quote(START_IN_TERMINAL), COLLECTIONS]), '/dev/null'],
            check=False, timeout=60)
        assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-2000:])
        time.sleep(1)  # the hang-up comes when `script` ends; a killed daemon is gone by now
        assert lab.exec('h1', ['wg', 'show', 'wgpty0', 'listen-port'], check=False).returncode == 0, \
            'wireguard-go ended with the terminal session that started it'
    finally:
        lab.exec('h1', ['ip', 'link', 'del', 'wgpty0'], check=False)
