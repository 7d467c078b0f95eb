# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registry of public data: one small interface, two backends.

Callers name a registry by a spec: a file path (str), or a dict
``{'backend': 'file', 'path': ...}`` / ``{'backend': 'redis', 'url': ..., 'key': ..., ...}``
(the role passes ``wireguard_registry_backend``, ``wireguard_registry_path`` and
``wireguard_registry_redis``; `spec_from_args` builds the spec from the action options). Then:

- ``read(spec)``: the whole registry (strict: `_registry_base.validate`), empty when missing;
- ``update(spec, change, check_mode)``: atomic read-modify-write, returns (before, after,
  changed, value);
- ``exists(spec)``: whether it was ever written; ``open_registry(spec).source`` names it.

Backends: `_registry_file` (flock + rename, the default) and `_registry_redis` (WATCH/MULTI).
Layout (YAML, the same text in both)::

    version: 1
    networks:
      wg0:
        hosts:
          h1: {public_key, endpoint, port, addresses, role, [hub], [site], [lans]}
        clients:
          phone: {public_key, addresses, host}
"""

from __future__ import annotations

import base64
import contextlib
import os

from ansible_collections.meshlab.wireguard.plugins.plugin_utils._registry_base import (
    HEADER,
    REBUILD_COMMAND,
    REGISTRY_VERSION,
    Registry,
    RegistryError,
    dump,
    empty,
    parse,
    validate,
)
from ansible_collections.meshlab.wireguard.plugins.plugin_utils._registry_file import FileRegistry, locked
from ansible_collections.meshlab.wireguard.plugins.plugin_utils._registry_redis import (
    REDIS_OPTIONS,
    RedisRegistry,
)

__all__ = ['BACKENDS', 'HEADER', 'REBUILD_COMMAND', 'REGISTRY_VERSION', 'STORE_OPTIONS', 'FileRegistry',
           'RedisRegistry', 'Registry', 'RegistryError', 'dump', 'empty', 'ensure_secret', 'exists', 'load',
           'locked', 'open_registry', 'parse', 'read', 'spec_from_args', 'update', 'validate']

SECRET_BYTES = 48
BACKENDS = ('file', 'redis')

# Options of the actions that reach the registry (besides their own path option)
STORE_OPTIONS = {
    'backend': {'type': 'str', 'default': 'file', 'choices': list(BACKENDS)},
    'redis': {'type': 'dict', 'options': REDIS_OPTIONS, 'default': {}},
}


def spec_from_args(path, backend='file', redis=None):
    """The spec of the action options path / backend / redis."""
    if backend == 'redis':
        return dict(redis or {}, backend='redis')
    return {'backend': 'file', 'path': path}


def open_registry(spec):
    """A Registry object for a spec (see the module docstring)."""
    if isinstance(spec, Registry):
        return spec
    if spec is None or isinstance(spec, (str, os.PathLike)):
        return FileRegistry(os.fspath(spec) if spec is not None else None)
    backend = spec.get('backend', 'file')
    if backend == 'file':
        return FileRegistry(spec.get('path'))
    if backend == 'redis':
        args = {k: spec.get(k) for k in REDIS_OPTIONS if spec.get(k) is not None}
        return RedisRegistry(**args)
    raise RegistryError(f'wireguard_registry_backend {backend!r}: choose one of {", ".join(BACKENDS)}')


def load(spec):
    """The registry (an empty one when it does not exist)."""
    return open_registry(spec).read()


def read(spec):
    """No lock needed: writers replace the whole registry atomically, so a reader sees the old or
    the new one, never a mix; and reading creates nothing (no directory, no lock file)."""
    return open_registry(spec).read()


def exists(spec):
    return open_registry(spec).exists()


def update(spec, change, check_mode=False):
    """Read-modify-write as one atomic step. `change(data)` edits a deep copy in place and may
    return a value. Returns (before, after, changed, value); nothing is written in check mode or
    when nothing changed."""
    return open_registry(spec).update(change, check_mode)


def replace_secret(path, check_mode=False):
    """A new random secret in PATH (0600); the old one kept as PATH.old until the next rotation."""
    from ansible_collections.meshlab.wireguard.plugins.module_utils._atomic import write_atomic

    if not os.path.exists(path):
        raise RegistryError(f'{path} does not exist: converge first (the role creates it), then rotate')
    if check_mode:
        return True
    with open(path, 'rb') as f:
        old = f.read()
    write_atomic(path + '.old', old, mode=0o600)
    write_atomic(path, base64.b64encode(os.urandom(SECRET_BYTES)).decode('ascii') + '\n', mode=0o600)
    return True


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
