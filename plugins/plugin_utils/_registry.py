# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registry file on the controller: public data only, written under a lock, atomically.

Layout (YAML)::

    version: 1
    networks:
      wg0:
        hosts:
          h1: {public_key, endpoint, port, addresses, role, [hub], [site], [lans]}
        clients:
          phone: {public_key, addresses, host}

Concurrency: every read-modify-write holds an exclusive ``fcntl.flock`` on ``<path>.lock`` (a
separate file: the data file is replaced by rename, so a lock on it would be lost), and the new
content goes to a temporary file in the same directory that is fsynced and renamed over the old
one. Readers never see a half-written file; writers never lose each other's entries. Works for
forks, ``strategy: free``, several ansible-playbook processes on one controller, and on NFS
with working lockd.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import errno
import fcntl
import os
import tempfile
import time

import yaml

from ansible_collections.meshlab.wireguard.plugins.plugin_utils import _registry_schema

REGISTRY_VERSION = 1
HEADER = (
    '# meshlab.wireguard registry: public keys, endpoints and tunnel addresses of every member.\n'
    '# No secrets. Written by the role under a lock (<this file>.lock); safe to commit.\n'
    '# Edit only while no play runs. Remove an entry to forget a host (its address becomes free).\n'
)
SECRET_BYTES = 48


class RegistryError(Exception):
    """The registry cannot be read or written; the message says what to do."""


def empty():
    return {'version': REGISTRY_VERSION, 'networks': {}}


@contextlib.contextmanager
def locked(path, exclusive=True, timeout=120.0):
    """Hold a lock on `<path>.lock` (created next to the registry, mode 0644)."""
    directory = os.path.dirname(os.path.abspath(path)) or '.'
    if not os.path.isdir(directory):
        try:
            os.makedirs(directory, mode=0o755, exist_ok=True)
        except OSError as exc:
            raise RegistryError(f'cannot create the registry directory {directory}: {exc}; create it '
                                'or set wireguard_registry_path to a writable place') from None
    try:
        fd = os.open(path + '.lock', os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RegistryError(f'cannot open the lock file {path}.lock: {exc}; make the directory '
                            'writable or set wireguard_registry_path elsewhere') from None
    try:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                if time.monotonic() > deadline:
                    raise RegistryError(f'timed out after {timeout:.0f}s waiting for the lock '
                                        f'{path}.lock; is another run stuck?') from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        yield
    finally:
        os.close(fd)  # closing releases the flock


# libyaml's loader when PyYAML has it: every host's run reads the registry several times
_Loader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)


def load(path):
    """The registry as a dict (an empty one when the file does not exist)."""
    try:
        with open(path, encoding='utf-8') as f:
            data = yaml.load(f, Loader=_Loader)  # noqa: S506 - a safe loader
    except FileNotFoundError:
        return empty()
    except (OSError, yaml.YAMLError) as exc:
        raise RegistryError(f'cannot read the registry {path}: {exc}; fix or move the file (it holds '
                            'only public data and is rebuilt by the next full run)') from None
    data = _registry_schema.validate(data, path, RegistryError)  # strict: version, schema, keys, duplicates
    data.setdefault('networks', {})
    data['version'] = REGISTRY_VERSION
    for net in data['networks'].values():
        if isinstance(net, dict):
            net.setdefault('hosts', {})
            net.setdefault('clients', {})
    return data


def dump(data):
    return HEADER + yaml.safe_dump(data, default_flow_style=False, sort_keys=True, width=120)


def save(path, data):
    """Write atomically: temp file in the same directory, fsync, rename, fsync the directory."""
    directory = os.path.dirname(os.path.abspath(path)) or '.'
    text = dump(data)
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def update(path, change, check_mode=False):
    """Read-modify-write under the lock. `change(data)` edits a deep copy in place and may return
    a value. Returns (before, after, changed, value); nothing is written in check mode or when
    nothing changed."""
    def apply():
        before = load(path)
        after = copy.deepcopy(before)
        value = change(after)
        return before, after, after != before, value

    # A snapshot needs no lock (writers replace the file by rename). It is all that check mode
    # needs, and all that an unchanged host (every re-run) needs: a change that is a no-op on a
    # consistent snapshot is a no-op. Only a real change is worked out again under the lock.
    snapshot = apply()
    if check_mode or not snapshot[2]:
        return snapshot
    with locked(path):
        before, after, changed, value = apply()
        if changed:
            save(path, after)
        return before, after, changed, value


def read(path):
    """No lock needed: writers replace the file by rename, so a reader sees the old or the new
    file, never a mix; and reading creates nothing (no directory, no lock file)."""
    return load(path)


def ensure_secret(path, check_mode=False):
    """Create a random secret file (0600, directory kept) unless it exists; True when created.

    O_EXCL makes concurrent creators safe: exactly one wins, the others find the file.
    """
    if os.path.exists(path):
        mode = os.stat(path).st_mode & 0o777
        if mode & 0o077:
            raise RegistryError(f'{path} is readable by others (mode {mode:04o}); run chmod 600 {path}')
        return False
    if check_mode:
        return True
    directory = os.path.dirname(os.path.abspath(path)) or '.'
    os.makedirs(directory, mode=0o700, exist_ok=True)
    secret = base64.b64encode(os.urandom(SECRET_BYTES)).decode('ascii')
    tmp = f'{path}.{os.getpid()}.tmp'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(secret + '\n')
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails with EEXIST when another process created it meanwhile
            created = True
        except FileExistsError:
            created = False
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return created
