# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The work behind meshlab.wireguard.wireguard_key: one key file, generated only when needed.

Order of work (compute first, write once): inspect the file, decide, then (outside check mode)
create the directory, back up, write a temp file that is 0600 from its first byte, fsync, move it
into place (_atomic.write_atomic), and finally apply owner/group/mode. Key material never reaches
a message, a warning or the diff; only `content` carries it, and only when the user asked for it.
"""

from __future__ import annotations

import os
import stat
from typing import Dict, List, Optional

from ansible_collections.meshlab.wireguard.plugins.module_utils._atomic import (
    TempFileError,
    fsync_dir,
    held_umask,
    module_mover,
    write_atomic,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._keys import (
    KeyFormatError,
    canonical_key,
    clamp,
    decode_key,
    generate_preshared_key,
    generate_private_key,
    is_clamped,
    public_key_of,
    read_key_file,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import InputError

DEFAULT_PATHS = {
    'private': '/etc/wireguard/private.key',
    'preshared': '/etc/wireguard/preshared.key',
}
DEFAULT_FILE_MODE = 0o600
DEFAULT_DIR_MODE = 0o700


class KeyFileError(Exception):
    """The host refused an operation (I/O, permissions) after the inputs were found valid."""


def argument_spec() -> dict:
    """The module's options apart from the file common ones (owner, group, mode, ...)."""
    return {
        'path': {'type': 'path'},
        'type': {'type': 'str', 'default': 'private', 'choices': ['private', 'preshared']},
        'state': {'type': 'str', 'default': 'present', 'choices': ['present', 'absent']},
        'regenerate': {'type': 'str', 'default': 'never', 'choices': ['never', 'fail', 'always']},
        'backup': {'type': 'bool', 'default': True},
        'return_content': {'type': 'bool', 'default': False},
        'content': {'type': 'str', 'no_log': True},
    }


class _Existing:
    """What is at the path now."""

    def __init__(self, status: str, key: Optional[str] = None, error: Optional[str] = None):
        self.status = status  # 'absent' | 'valid' | 'invalid'
        self.key = key  # secret
        self.error = error  # why an invalid file is invalid (no key material)


class KeyFileBackend:
    def __init__(self, module):
        self.module = module
        p = module.params
        self.type = p['type']
        self.path = p['path'] or DEFAULT_PATHS[self.type]
        self.state = p['state']
        self.regenerate = p['regenerate']
        self.backup = p['backup']
        self.return_content = p['return_content']
        self.content = p.get('content')
        self.check_mode = module.check_mode
        self.warnings: List[str] = []
        self.backup_file: Optional[str] = None

    # -- inspection ------------------------------------------------------------------------

    def _what(self) -> str:
        return 'private key' if self.type == 'private' else 'preshared key'

    def _inspect(self) -> _Existing:
        if not os.path.exists(self.path):  # also a dangling symlink: its target gets written
            return _Existing('absent')
        if os.path.isdir(self.path):
            raise InputError(
                f'{self.path} is a directory: set path to the key file inside it, for example '
                f'{os.path.join(self.path, os.path.basename(DEFAULT_PATHS[self.type]))}'
            )
        try:
            return _Existing('valid', key=read_key_file(self.path, self._what()))
        except KeyFormatError as e:
            return _Existing('invalid', error=str(e))
        # any other InputError (unreadable, not a regular file) propagates: we cannot judge the
        # file, and replacing what we cannot read would be a guess.

    def _describe(self, existing: _Existing, generated: bool = False) -> Dict[str, object]:
        """Diff view of a key file: the public key or a marker, never the secret."""
        if existing.status == 'absent':
            return {'state': 'absent'}
        if existing.status == 'invalid':
            return {'state': 'present', 'content': '<not a valid key>'}
        if self.type == 'private':
            if existing.key is None:
                return {'state': 'present', 'public_key': '<generated when not in check mode>'}
            return {'state': 'present', 'public_key': public_key_of(existing.key)}
        return {'state': 'present', 'preshared_key': '<new>' if generated else '<set>'}

    # -- decisions -------------------------------------------------------------------------

    def _must_generate(self, existing: _Existing) -> bool:
        if existing.status == 'absent' or self.regenerate == 'always':
            return True
        if existing.status == 'invalid':
            raise InputError(
                f'{existing.error}. The file was left unchanged. To replace it with a new key set '
                f'regenerate=always (backup=true keeps a copy of the old file), or remove the file.'
            )
        if self.type == 'private' and not is_clamped(decode_key(existing.key)):
            self._unclamped(existing)
        return False

    def _unclamped(self, existing: _Existing) -> None:
        # Any 32 bytes are a usable X25519 private key (WireGuard clamps on use), so an unclamped
        # key is valid. But `wg genkey` always writes clamped keys, and a public key pasted into
        # the file is unclamped 15 times in 16 (its top bit is always clear); nothing else can
        # tell the two apart, so say so instead of guessing.
        note = (
            f'The private key in {self.path} is not clamped the way `wg genkey` writes keys. '
            f'WireGuard clamps it on use, so it works if it really is a private key made by another '
            f'tool; but a public key copied into the file looks exactly like this. Check that '
            f'`wg pubkey < {self.path}` prints this host\'s own public key ({public_key_of(existing.key)}), '
            f'not a peer\'s.'
        )
        if self.regenerate == 'fail':
            raise InputError(
                note + ' regenerate=fail refuses such keys and the file was left unchanged: if it is '
                'a public key, replace it with regenerate=always (backup=true keeps a copy); if it is '
                'a private key you want to keep, use regenerate=never.'
            )
        self.warnings.append(note + ' Use regenerate=fail to refuse such keys instead.')

    def _supplied(self) -> Optional[str]:
        """The key given in `content`, validated (canonical base64), or None when none is given."""
        if self.content in (None, ''):
            return None
        try:
            return canonical_key(self.content, f'the {self._what()} given in content')
        except KeyFormatError as e:
            raise InputError(f'{e}. Nothing was written to {self.path}.') from None

    def _same_key(self, a: str, b: str) -> bool:
        if self.type == 'private':  # WireGuard clamps on use: one scalar, one public key
            return clamp(decode_key(a)) == clamp(decode_key(b))
        return a == b

    def _must_write_supplied(self, existing: _Existing, supplied: str) -> bool:
        """A given key goes into a missing file or over a file that holds no key; over a valid key
        only with regenerate=always (a valid key is never replaced by accident)."""
        if existing.status != 'valid':
            return True
        if self._same_key(existing.key, supplied):
            return False
        if self.regenerate != 'always':
            detail = (f' (public key {public_key_of(existing.key)})' if self.type == 'private' else '')
            raise InputError(
                f'{self.path} holds a different valid key{detail} than the one given in content. A valid '
                f'key is '
                'never replaced unless asked: set regenerate=always to write the given key (backup=true, the '
                'default, keeps the old file), or give the key that is in the file.'
            )
        return True

    # -- host changes ----------------------------------------------------------------------

    def _check_directory(self, dirname: str) -> None:
        try:
            st = os.stat(dirname)
        except OSError as e:
            raise KeyFileError(f'cannot inspect directory {dirname}: {e.strerror}') from None
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
            # Not changed for the user: the directory may be shared; we only warn.
            self.warnings.append(
                f'Directory {dirname} (mode {stat.S_IMODE(st.st_mode):04o}) is writable by group or '
                f'others, who could replace the key file. Restrict it (for example mode 0700 with '
                f'ansible.builtin.file); this module sets the mode only of a directory it creates.'
            )

    def _make_directory(self, dirname: str) -> None:
        try:
            os.makedirs(dirname, mode=DEFAULT_DIR_MODE, exist_ok=True)
            os.chmod(dirname, DEFAULT_DIR_MODE)  # makedirs' mode is filtered by the umask
        except OSError as e:
            raise KeyFileError(f'cannot create directory {dirname}: {e.strerror}') from None

    def _make_backup(self, target: str) -> str:
        try:
            with held_umask(0o077):
                return self.module.backup_local(target)
        except Exception as e:
            raise KeyFileError(f'cannot back up {target}: {e}') from None

    def _write(self, target: str, key: str) -> None:
        # 0600 from the first byte (mkstemp); the old owner kept; the mode stays 0600 until
        # _apply_file_attributes. A tight umask around atomic_move keeps the key unreadable to others.
        dirname = os.path.dirname(target)
        move = module_mover(self.module, keep_dest_attrs=False, umask=0o077,
                            unsafe_writes=self.module.params.get('unsafe_writes', False))
        try:
            write_atomic(target, (key + '\n').encode('ascii'), mode=None, move=move, keep_owner=True)
        except TempFileError as e:
            raise KeyFileError(f'cannot create a temporary file in {dirname}: {e.strerror}') from None
        except Exception as e:
            raise KeyFileError(f'cannot write {target}: {e}') from None

    def _apply_file_attributes(self, target: str, changed: bool, diff: dict) -> bool:
        file_args = self.module.load_file_common_arguments(self.module.params, path=target)
        if file_args.get('mode') is None:
            file_args['mode'] = DEFAULT_FILE_MODE
        if not os.path.exists(target):  # check mode, key still to be generated
            return changed
        return self.module.set_fs_attributes_if_different(file_args, changed, diff=diff)

    # -- states ----------------------------------------------------------------------------

    def run(self) -> dict:
        if self.state == 'absent':
            return self._absent()
        return self._present()

    def _present(self) -> dict:
        supplied = self._supplied()
        existing = self._inspect()
        if supplied is not None:
            generate = self._must_write_supplied(existing, supplied)
            if self.type == 'private' and not is_clamped(decode_key(supplied)) and self.regenerate == 'fail':
                self._unclamped(_Existing('valid', key=supplied))
        else:
            generate = self._must_generate(existing)
        target = os.path.realpath(self.path)
        dirname = os.path.dirname(target)
        make_dir = not os.path.isdir(dirname)
        if make_dir and os.path.lexists(dirname):
            raise InputError(f'{dirname} exists and is not a directory: fix path')
        if not make_dir:
            self._check_directory(dirname)

        key = existing.key
        if generate:
            key = supplied
            if not self.check_mode:
                if make_dir:
                    self._make_directory(dirname)
                if existing.status != 'absent' and self.backup:
                    self.backup_file = self._make_backup(target)
                if key is None:
                    key = generate_private_key() if self.type == 'private' else generate_preshared_key()
                self._write(target, key)

        attr_diff: Dict[str, dict] = {}
        changed = self._apply_file_attributes(target, generate, attr_diff)

        public_key = public_key_of(key) if self.type == 'private' and key else None
        before = self._describe(existing)
        after = self._describe(_Existing('valid', key=key), generated=generate)
        if existing.status != 'absent':  # a new file has no "before" mode worth showing
            before.update(attr_diff.get('before', {}))
            after.update(attr_diff.get('after', {}))

        result = {'changed': changed, 'path': self.path, 'type': self.type}
        if self.type == 'private':
            result['public_key'] = public_key
        if self.backup_file:
            result['backup_file'] = self.backup_file
        if self.return_content and key:
            result['content'] = key
        if self.module._diff:
            result['diff'] = {
                'before': before, 'after': after, 'before_header': self.path, 'after_header': self.path,
            }
        return result

    def _absent(self) -> dict:
        existing = self._inspect()
        target = os.path.realpath(self.path)
        changed = existing.status != 'absent'
        if changed and not self.check_mode:
            if self.backup:
                self.backup_file = self._make_backup(target)
            try:
                os.unlink(target)
            except OSError as e:
                raise KeyFileError(f'cannot remove {target}: {e.strerror}') from None
            fsync_dir(os.path.dirname(target))
        result = {'changed': changed, 'path': self.path, 'type': self.type}
        if self.backup_file:
            result['backup_file'] = self.backup_file
        if self.module._diff:
            result['diff'] = {
                'before': self._describe(existing), 'after': {'state': 'absent'},
                'before_header': self.path, 'after_header': self.path,
            }
        return result
