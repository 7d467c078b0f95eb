"""Playbook projects laid out as users lay them out (a directory inventory, ansible-runner private
data directories), on lab tier-1 hosts; shared by test_registry_layouts.py and test_registry_store.py."""
import hashlib
import os
import subprocess
import sys
import time

import pytest_nslab
import yaml
from role_helpers import COLLECTIONS, LAB_VARS, Run

BIN = os.path.dirname(sys.executable)
BASE_ENV = {'ANSIBLE_COLLECTIONS_PATH': COLLECTIONS, 'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_FORCE_COLOR': '0',
            'ANSIBLE_RETRY_FILES_ENABLED': '0', 'ANSIBLE_HOST_KEY_CHECKING': '0',
            'ANSIBLE_DEPRECATION_WARNINGS': '0'}


def lab_vars():
    with open(LAB_VARS) as f:
        return yaml.safe_load(f)['all']['vars']


def write_inventory(directory, lab, hosts, group_vars):
    """DIRECTORY/hosts.yml (the lab's connection settings of `hosts`) and group_vars/all.yml."""
    with open(lab.inventory_path) as f:
        lab_inv = yaml.safe_load(f)['all']
    os.makedirs(os.path.join(directory, 'group_vars'), exist_ok=True)
    inv = {'all': {'vars': lab_inv.get('vars') or {},
                   'hosts': {h: lab_inv['hosts'][h] for h in hosts}}}
    with open(os.path.join(directory, 'hosts.yml'), 'w') as f:
        yaml.safe_dump(inv, f)
    with open(os.path.join(directory, 'group_vars', 'all.yml'), 'w') as f:
        yaml.safe_dump(dict(lab_vars(), **group_vars), f)


def snapshot(directory):
    """{relative path: sha256} of every file below `directory`."""
    out = {}
    for top, _dirs, files in os.walk(directory):
        for name in files:
            path = os.path.join(top, name)
            with open(path, 'rb') as f:
                out[os.path.relpath(path, directory)] = hashlib.sha256(f.read()).hexdigest()
    return out


def playbook(cwd, name, args=(), env=None, label=None, timeout=900):
    """ansible-playbook NAME ARGS... in `cwd` (a user's project directory); a Run."""
    full_env = dict(os.environ, **BASE_ENV)
    full_env.update(env or {})
    t0 = time.monotonic()
    proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), name, *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    run = Run(proc, time.monotonic() - t0)
    pytest_nslab.TIMINGS.append((label or f'ansible-playbook {name} {" ".join(args)}', run.seconds))
    return run


def start_playbook(cwd, name, args=(), env=None):
    """The same in the background: (Popen, t0); finish with finish_playbook."""
    full_env = dict(os.environ, **BASE_ENV)
    full_env.update(env or {})
    proc = subprocess.Popen([os.path.join(BIN, 'ansible-playbook'), name, *args], cwd=cwd, env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, time.monotonic()


def finish_playbook(started, label, timeout=900):
    proc, t0 = started
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    run = Run(subprocess.CompletedProcess(proc.args, proc.returncode, out, err), time.monotonic() - t0)
    pytest_nslab.TIMINGS.append((label, run.seconds))
    return run
