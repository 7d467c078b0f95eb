# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""wireguard_interface's wg-quick config file: read it, redact it for the diff, write it.

The content is rendered by `_wgquick.render`; this file only deals with the file itself (mode
0600 in a 0700 directory, atomic replace, optional backup) and with keeping the keys it holds
out of the diff. `module` is duck-typed (backup_local, atomic_move): nothing here imports Ansible.
"""

from __future__ import annotations

import os

from ansible_collections.meshlab.wireguard.plugins.module_utils._atomic import module_mover, write_atomic

REDACTED_CONFIG_KEYS = ('privatekey', 'presharedkey')


def read_file(path):
    """(content bytes or None, mode or None); OSError other than "missing" passes through."""
    try:
        with open(path, 'rb') as f:
            content = f.read()
        return content, os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return None, None


def redact_config(text):
    """The config text with key values replaced by markers (for the diff)."""
    out = []
    for line in text.splitlines(True):
        key, sep, _value = line.partition('=')
        if sep and key.strip().lower() in REDACTED_CONFIG_KEYS:
            out.append(f'{key.rstrip()} = <redacted>\n')
        else:
            out.append(line)
    return ''.join(out)


def write_config(module, path, content, backup):
    """Write CONTENT to PATH atomically with mode 0600 (directory 0700). Returns the backup path."""
    directory = os.path.dirname(path) or '.'
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    backup_file = None
    if backup and os.path.exists(path):
        backup_file = module.backup_local(path)
    # atomic_move copies the old file's mode onto the new one, or applies the umask to a new
    # file: with the old file 0600 and umask 077 the keys are never readable by others.
    if os.path.exists(path):
        os.chmod(path, 0o600)
    write_atomic(path, content, mode=0o600, move=module_mover(module, umask=0o077))
    os.chmod(path, 0o600)
    return backup_file


def remove_config(module, path, backup):
    """Remove PATH (state=absent); returns the backup path when BACKUP."""
    backup_file = module.backup_local(path) if backup else None
    os.unlink(path)
    return backup_file
