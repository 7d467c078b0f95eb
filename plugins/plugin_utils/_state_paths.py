# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the controller-side state goes by default, and where it must never go.

Two kinds of state:

- the registry (public data, worth committing with the inventory): by default a file beside the
  inventory, never inside an inventory directory: beside a file source (``inv.yml`` ->
  ``./wireguard-registry.yml``), in the parent of a directory source (``inventory/`` ->
  ``./wireguard-registry.yml``), moved further up while it would be inside any directory source;
- private state (client private keys and configs, health reports): never next to the inventory
  (a repository) and never in a job's scratch space: by default in a per-user state directory,
  ``${XDG_STATE_HOME:-~/.local/state}/meshlab-wireguard/<project>-<hash>``, one per project
  directory. Under ansible-runner or AWX there is no safe default (the home directory of an
  execution environment is gone with the job): it must be set (wireguard_state_dir).

An ansible-runner job (AWX and Automation Platform run every job through it) is recognised by
what runner sets for the ansible-playbook process: ``AWX_ISOLATED_DATA_DIR`` (the job's artifact
directory, ``<private_data_dir>/artifacts/<ident>``, or ``/runner/artifacts/<ident>`` inside an
execution environment), by the ``awx_job_id`` / ``tower_job_id`` variables AWX passes, and by an
inventory source ``<dir>/inventory`` whose ``<dir>`` holds runner's ``artifacts``. Everything in
the private data directory (``/runner`` in an execution environment, ``/tmp/awx_<id>_*`` on older
AWX nodes) is removed after the job.

Pure functions of (environ, task vars): unit tested without Ansible.
"""

from __future__ import annotations

import hashlib
import os
import re

REGISTRY_FILE = 'wireguard-registry.yml'
LEGACY_CLIENTS = 'wireguard-clients'
LEGACY_HEALTH = 'wireguard-health'
APP_DIR = 'meshlab-wireguard'
AWX_TMP = re.compile(r'^(/tmp/awx_\d+_[^/]+)(/|$)')


def _abs(path):
    return os.path.normpath(os.path.abspath(os.path.expanduser(str(path))))


def inventory_sources(task_vars):
    """The inventory sources that are paths on this controller (absolute), in order."""
    out = []
    for src in task_vars.get('ansible_inventory_sources') or []:
        src = str(src)
        if ',' in src and not os.path.exists(src):  # "h1,h2," host lists
            continue
        path = _abs(src)
        if os.path.exists(path) and path not in out:
            out.append(path)
    return out


def inside(path, directory):
    """Whether `path` is `directory` or below it (both absolute, normalised)."""
    return path == directory or path.startswith(directory.rstrip('/') + '/')


def job(environ, task_vars, sources):
    """{'kind': str, 'dirs': [job directories]} of an ansible-runner / AWX job, or None."""
    dirs = []
    kinds = []
    job_id = task_vars.get('awx_job_id', task_vars.get('tower_job_id'))
    if job_id is not None:
        kinds.append(f'AWX job {job_id}')
    artifacts = environ.get('AWX_ISOLATED_DATA_DIR')
    if artifacts:
        kinds.append('ansible-runner job')
        artifacts = _abs(artifacts)
        parent = os.path.dirname(artifacts)
        dirs.append(os.path.dirname(parent) if os.path.basename(parent) == 'artifacts' else artifacts)
    for src in sources:
        top = os.path.dirname(src)
        if os.path.basename(src) == 'inventory' and os.path.isdir(os.path.join(top, 'artifacts')):
            dirs.append(top)
        m = AWX_TMP.match(src)
        if m:
            dirs.append(m.group(1))
        if inside(src, '/runner'):
            dirs.append('/runner')
    if not kinds and dirs:
        kinds.append('ansible-runner job')
    if not kinds:
        return None
    in_ee = job_id is not None or inside(artifacts or '', '/runner')
    if in_ee and os.path.isdir('/runner') and '/runner' not in dirs:
        dirs.append('/runner')  # an execution environment: its private data dir
    return {'kind': kinds[0], 'dirs': sorted(set(dirs))}


def _directory_sources(sources):
    return [s for s in sources if os.path.isdir(s)]


def project_dir(sources, cwd):
    """Where the registry goes by default: beside the first inventory source, never inside an
    inventory directory; the working directory when no source is a path."""
    if not sources:
        return None
    first = sources[0]
    d = first if os.path.isdir(first) else os.path.dirname(first)
    dirs = _directory_sources(sources)
    moved = True
    while moved:
        moved = False
        for s in dirs:
            if inside(d, s):
                d = os.path.dirname(s)
                moved = True
    return d or cwd


def state_home(environ):
    base = environ.get('XDG_STATE_HOME') or os.path.join(environ.get('HOME') or os.path.expanduser('~'),
                                                         '.local', 'state')
    return _abs(base)


def default_state_dir(environ, task_vars, cwd=None):
    """The per-user private state directory of this project, '' under ansible-runner / AWX."""
    sources = inventory_sources(task_vars)
    if job(environ, task_vars, sources):
        return ''
    cwd = cwd or os.getcwd()
    base = project_dir(sources, cwd) or _abs(cwd)
    name = re.sub(r'[^A-Za-z0-9_.-]+', '-', os.path.basename(base) or 'root').strip('-.') or 'project'
    digest = hashlib.sha256(base.encode('utf-8')).hexdigest()[:8]
    return os.path.join(state_home(environ), APP_DIR, f'{name}-{digest}')


def default_registry_path(environ, task_vars, cwd=None):
    sources = inventory_sources(task_vars)
    base = project_dir(sources, cwd or os.getcwd())
    if base is None:  # no inventory file: keep it with the other state of this working directory
        state = default_state_dir(environ, task_vars, cwd)
        base = state or _abs(cwd or os.getcwd())
    return os.path.join(base, REGISTRY_FILE)


def default(what, environ, task_vars, cwd=None):
    """The default of one setting: registry_path, state_dir, clients_dir or health_dir."""
    if what == 'registry_path':
        return default_registry_path(environ, task_vars, cwd)
    state = default_state_dir(environ, task_vars, cwd)
    if what == 'state_dir':
        return state
    if what in ('clients_dir', 'health_dir'):
        return os.path.join(state, what.split('_')[0]) if state else ''
    raise ValueError(f'unknown state setting {what!r}: registry_path, state_dir, clients_dir, health_dir')


JOB_FIX = {
    'wireguard_registry_path': ('set wireguard_registry_backend: redis (with wireguard_registry_redis.url) '
                                'so that every job, execution node and controller shares one registry, or '
                                'wireguard_registry_path to persistent storage outside it'),
    'wireguard_clients_dir': ('set wireguard_state_dir (or wireguard_clients_dir) to a persistent volume '
                              'mounted into the job (client private keys must outlive it)'),
    'wireguard_psk_secret_path': 'keep the secret in vault (wireguard_psk_secret) instead',
    'wireguard_health_output_dir': 'set wireguard_health_output_dir to a persistent directory, or leave it '
                                   'empty (the job output shows the matrix)',
}


def problems(setting, path, environ, task_vars):
    """Why `path` (the value of `setting`) must not be used: [message], empty when it is fine."""
    if not path:
        return []
    path = _abs(path)
    sources = inventory_sources(task_vars)
    out = []
    for src in sources:
        if os.path.isdir(src) and inside(path, src):
            out.append(f'{setting} is {path}, inside the inventory directory {src}: Ansible reads every file '
                       'there as inventory. Set it outside (the defaults never point there)')
            break
        if path == src:
            out.append(f'{setting} is {path}, an inventory source itself; set it to another file')
            break
    the_job = job(environ, task_vars, sources)
    for d in (the_job or {}).get('dirs', []):
        if inside(path, d):
            fix = JOB_FIX.get(setting, f'set {setting} outside it')
            out.append(f'{setting} is {path}, inside the {the_job["kind"]} directory {d}, which is removed '
                       f'after the job: {fix}')
            break
    return out


def legacy_problems(registry_path, clients_dir, environ, task_vars):
    """Files an older version wrote by default where the defaults no longer point: move them, or a
    run would start from an empty registry / make new client keys."""
    sources = inventory_sources(task_vars)
    out = []
    seen = set()
    candidates = [os.path.dirname(s) if os.path.isfile(s) else s for s in sources]
    if registry_path:
        candidates.append(os.path.dirname(_abs(registry_path)))
    for d in candidates:
        if d in seen:
            continue
        seen.add(d)
        old = os.path.join(d, REGISTRY_FILE)
        if registry_path and os.path.isfile(old) and old != _abs(registry_path) and \
                any(inside(old, s) for s in _directory_sources(sources)):
            out.append(f'the registry of an earlier version is {old}, inside an inventory directory, and '
                       f'wireguard_registry_path is now {_abs(registry_path)}: move it there (mv {old} '
                       f'{_abs(registry_path)}), or a run would start from an empty registry')
        old = os.path.join(d, LEGACY_CLIENTS)
        if clients_dir and os.path.isdir(old) and _abs(clients_dir) != old and os.listdir(old):
            out.append(f'client keys of an earlier version are in {old}; client private keys no longer live '
                       f'next to the inventory: move them (mkdir -p {_abs(clients_dir)} && mv {old}/* '
                       f'{_abs(clients_dir)}/ && rmdir {old}), or set wireguard_clients_dir: {old}')
    return out
