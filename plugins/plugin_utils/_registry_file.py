# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registry as a YAML file on the controller (the embedded default backend).

Concurrency: every read-modify-write holds an exclusive ``fcntl.flock`` on ``<path>.lock`` (a
separate file: the data file is replaced by rename, so a lock on it would be lost), and the new
content goes to a temporary file in the same directory that is fsynced and renamed over the old
one. Readers never see a half-written file; writers never lose each other's entries. Works for
forks, ``strategy: free``, several ansible-playbook processes on one controller, and on NFS
with working lockd.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time

from ansible_collections.meshlab.wireguard.plugins.module_utils._atomic import write_atomic
from ansible_collections.meshlab.wireguard.plugins.plugin_utils._registry_base import (
    Registry,
    RegistryError,
    dump,
    parse,
)


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


def load(path):
    """The registry file as a dict, None when the file does not exist."""
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RegistryError(f'cannot read the registry {path}: {exc}; fix its permissions or set '
                            'wireguard_registry_path') from None
    return parse(text, path)


def save(path, data):
    """Write atomically: temp file in the same directory, fsync, rename, fsync the directory."""
    write_atomic(path, dump(data), mode=0o644)


class FileRegistry(Registry):
    def __init__(self, path):
        if not path:
            raise RegistryError('no registry path: set wireguard_registry_path '
                                '(or wireguard_registry_backend: redis)')
        self.path = path
        self.source = path

    def _load(self):
        return load(self.path)

    def exists(self):
        return os.path.exists(self.path)

    def _transact(self, apply):
        with locked(self.path):
            before, after, changed, value = apply(self.read())
            if changed:
                save(self.path, after)
            return before, after, changed, value
