# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller's own files, checked before any host or controller file is written: the registry
(its directory must be writable, the path must be a file), the PSK secret (inline or a file: long
enough, private, readable) and the clients directory. Each problem names the variable or file and
the fix, instead of a raw errno from a temporary file half-way through a run."""

from __future__ import annotations

import errno
import os
import stat

PSK_SECRET_MIN_LEN = 32


def _nearest_dir(path):
    d = os.path.abspath(path)
    while d and not os.path.isdir(d):
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return d


def _writable_dir(path):
    d = _nearest_dir(path)
    return d, os.access(d, os.W_OK | os.X_OK)


def registry_errors(path):
    errors = []
    if os.path.isdir(path):
        return [f'wireguard_registry_path {path} is a directory; point it at a file inside it, e.g. '
                f'{os.path.join(path, "wireguard-registry.yml")}']
    if os.path.exists(path) and not os.access(path, os.R_OK):
        errors.append(f'wireguard_registry_path {path} cannot be read (permission denied): give the user '
                      f'that '
                      'runs ansible-playbook read and write access, or set wireguard_registry_path elsewhere')
    d, ok = _writable_dir(os.path.dirname(os.path.abspath(path)))
    if not ok:
        errors.append(f'wireguard_registry_path {path}: the directory {d} is not writable, so the registry '
                      'cannot be updated (it is replaced atomically through a temporary file and a lock file '
                      'there): make the directory writable for the user that runs ansible-playbook, or set '
                      'wireguard_registry_path to a writable place')
    lock = path + '.lock'
    if os.path.exists(lock) and not os.access(lock, os.R_OK | os.W_OK):
        errors.append(f'the registry lock file {lock} cannot be opened for writing: remove it (no run holds '
                      'it when no ansible-playbook runs) or fix its owner')
    return errors


def psk_errors(uses_psk, secret_length, path):
    """The PSK secret: inline (its length) or a file (created when missing)."""
    if not uses_psk:
        return []
    if secret_length:
        if secret_length < PSK_SECRET_MIN_LEN:
            return [f'wireguard_psk_secret is {secret_length} characters long; preshared keys need at least '
                    f'{PSK_SECRET_MIN_LEN}: create one with `ansible-vault encrypt_string "$(head -c 48 '
                    '/dev/urandom | base64 -w0)" --name wireguard_psk_secret`']
        return []
    if not path:
        return []  # role_errors names the missing secret
    if os.path.isdir(path):
        return [f'wireguard_psk_secret_path {path} is a directory; point it at a file']
    if not os.path.exists(path):
        d, ok = _writable_dir(os.path.dirname(os.path.abspath(path)))
        if not ok:
            return [f'wireguard_psk_secret_path {path} does not exist and cannot be created ({d} is not '
                    'writable): make the directory writable or set wireguard_psk_secret in vault']
        return []
    mode = stat.S_IMODE(os.stat(path).st_mode)
    errors = []
    if mode & 0o077:
        errors.append(f'wireguard_psk_secret_path {path} is readable by others (mode {mode:04o}): run '
                      f'chmod 600 {path}')
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        return [*errors, f'wireguard_psk_secret_path {path} cannot be read '
                f'({getattr(exc, "strerror", None) or exc}): fix its permissions for the user that runs '
                'ansible-playbook']
    if len(text) < PSK_SECRET_MIN_LEN:
        errors.append(f'wireguard_psk_secret_path {path} holds '
                      f'{"nothing" if not text else f"only {len(text)} characters"}'
                      f' (at least {PSK_SECRET_MIN_LEN} are needed): restore the secret from your copy; or '
                      'remove the file to let the role create a new one, which changes every preshared key '
                      '(then run all hosts)')
    return errors


def clients_dir_errors(has_clients, path):
    if not has_clients or not path:
        return []
    if os.path.exists(path) and not os.path.isdir(path):
        return [f'wireguard_clients_dir {path} is not a directory; point it at a directory']
    d, ok = _writable_dir(path)
    if not ok:
        return [f'wireguard_clients_dir {path}: {d} is not writable, so client keys and configs cannot be '
                'written: make it writable for the user that runs ansible-playbook, or set '
                'wireguard_clients_dir elsewhere']
    return []


def write_failure(path, exc):
    """The message for a registry write that failed half-way (full disk, permissions): the registry
    is replaced by an atomic rename, so the old one is intact; say so, and name the fix."""
    where = os.path.dirname(os.path.abspath(path))
    code = getattr(exc, 'errno', None)
    if code == errno.ENOSPC or code == errno.EDQUOT:
        fix = f'free space on the file system of {where} (or raise the quota), then run again'
    elif code in (errno.EACCES, errno.EPERM):
        fix = f'make {where} writable for the user that runs ansible-playbook, or set wireguard_registry_path'
    elif code == errno.EROFS:
        fix = f'{where} is on a read-only file system: remount it read-write, or set wireguard_registry_path'
    else:
        fix = 'fix the cause, then run again'
    reason = getattr(exc, 'strerror', None) or str(exc)
    return (f'cannot write the registry {path}: {reason}. The registry is unchanged (it is only ever '
            f'replaced whole, by an atomic rename) and no host was configured from the failed update: {fix}')
