# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The key files of a rotation on the host that owns the key (wireguard_key_rotation's backend).

Three files side by side, all 0600: KEY (the key the interface uses), KEY.next (made by `prepare`,
the key the host switches to) and KEY.old (the replaced key, kept by `promote` until `finish`
confirms that every peer completed a handshake with the new one). Each step is idempotent, so a
re-run after an interruption continues where the last one stopped:

  prepare   KEY.next exists (kept) or is made; the interface is not touched.
  promote   KEY.old <- KEY, KEY <- KEY.next (one rename); done already when KEY holds NEXT.
  finish    KEY.old removed (the rotation is confirmed on every peer).
  cancel    KEY.next removed (a rotation prepared but never switched).

The private keys never leave this file: results carry public keys and the key file's age.
`module` is duck-typed (params, check_mode, atomic_move); nothing here imports Ansible.
"""

from __future__ import annotations

import os
import time

from ansible_collections.meshlab.wireguard.plugins.module_utils import _keys
from ansible_collections.meshlab.wireguard.plugins.module_utils._atomic import fsync_dir, write_atomic
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import InputError

STEPS = ('prepare', 'promote', 'finish', 'cancel', 'status')


def argument_spec():
    return {
        'path': {'type': 'path', 'required': True},
        'step': {'type': 'str', 'required': True, 'choices': list(STEPS)},
        'next_public_key': {'type': 'str', 'no_log': False},
    }


class RotationError(InputError):
    """A key file state that no step can continue from; the message names the fix."""


def next_path(path):
    return path + '.next'


def old_path(path):
    return path + '.old'


def _public(path, what):
    """Public key of the key file at PATH, or None when the file does not exist."""
    if not os.path.lexists(path):
        return None
    try:
        return _keys.public_key_of(_keys.read_key_file(path, what))
    except InputError as exc:
        raise RotationError(f'{exc}; a rotation needs valid key files (remove or fix it)') from None


def key_age(path, now=None):
    """Seconds since the key file at PATH was written (its mtime), or None when it is missing."""
    try:
        return max(0, int((now if now is not None else time.time()) - os.stat(path).st_mtime))
    except OSError:
        return None


class KeyRotation:
    """One step of a rotation on KEY = params['path']; run() returns the module result."""

    def __init__(self, module):
        self.module = module
        self.path = module.params['path']
        self.check = bool(module.check_mode)

    def status(self):
        return {
            'public_key': _public(self.path, 'private key'),
            'next_public_key': _public(next_path(self.path), 'next private key'),
            'old_public_key': _public(old_path(self.path), 'old private key'),
            'key_age': key_age(self.path),
        }

    def run(self):
        step = self.module.params['step']
        state = self.status()
        if state['public_key'] is None:
            raise RotationError(f'the private key {self.path} does not exist: converge the network first '
                                '(meshlab.wireguard.site), a rotation replaces an existing key')
        changed = getattr(self, '_' + step)(state)
        result = self.status() if changed and not self.check else state
        if changed and self.check and step == 'prepare':
            result = dict(state, next_public_key=None)  # made by the real run
        return dict(result, changed=changed, step=step)

    def _status(self, state):
        return False

    def _prepare(self, state):
        if state['next_public_key'] is not None:
            return False
        if not self.check:
            key = _keys.generate_private_key()
            write_atomic(next_path(self.path), key + '\n', mode=0o600)
        return True

    def _promote(self, state):
        wanted = self.module.params['next_public_key']
        if not wanted:
            raise RotationError('next_public_key is required with step=promote: the public key that '
                                'step=prepare returned')
        if state['public_key'] == wanted:
            return False  # promoted by an earlier run
        if state['next_public_key'] != wanted:
            found = state['next_public_key'] or 'no such file'
            raise RotationError(
                f'{next_path(self.path)} does not hold the next key {wanted} ({found}): the rotation '
                'was prepared elsewhere or its file was replaced; cancel it (wireguard_rotate_cancel=true) '
                'and rotate again')
        if not self.check:
            with open(self.path, 'rb') as f:
                current = f.read()
            write_atomic(old_path(self.path), current, mode=0o600)
            os.replace(next_path(self.path), self.path)
            fsync_dir(os.path.dirname(os.path.abspath(self.path)))
        return True

    def _finish(self, state):
        if state['old_public_key'] is None:
            return False
        if not self.check:
            os.unlink(old_path(self.path))
        return True

    def _cancel(self, state):
        if state['next_public_key'] is None:
            return False
        if not self.check:
            os.unlink(next_path(self.path))
        return True
