# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One atomic file writer for modules and controller plugins (pure Python, no Ansible import).

``write_atomic(path, data, mode)``: a temporary file in the same directory (mkstemp: O_EXCL and
mode 0600 from its first byte), write, fsync, optionally keep the replaced file's owner, chmod to
MODE, optionally CHECK the temporary file (``nft -c -f``), move it over PATH with MOVE (default
``os.replace``), fsync the directory. The temporary file is removed on any failure, also when a
module's ``fail_json`` ends the process from inside CHECK or MOVE.

Modules pass ``move=module_mover(module, ...)``: AnsibleModule.atomic_move (SELinux context,
unsafe_writes), with the ansible-core 2.16 fallback for ``keep_dest_attrs`` kept here, in one place.

Not used by ``roles/wireguard/files/metrics/wireguard_metrics.py``: that is a standalone script
installed on hosts, which cannot import module_utils; it keeps its own small writer.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile


class TempFileError(OSError):
    """The temporary file could not be created (callers name the directory in their message)."""


@contextlib.contextmanager
def held_umask(mask):
    """The process umask set to MASK inside the block."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def fsync_dir(directory):
    """Make a rename or unlink in DIRECTORY durable; a failure changes nothing about correctness."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path, data, mode=0o600, move=os.replace, keep_owner=False, check=None, prefix=None):
    """Replace PATH with DATA (bytes, or str written as UTF-8) in one step.

    mode        the file's final mode (chmod on the temporary file before the move); None keeps
                mkstemp's 0600 (the caller sets the mode later)
    move        move(tmp, path): os.replace, or module_mover(module) in a module
    keep_owner  chown the temporary file to the replaced file's owner and group (when allowed)
    check       check(tmp) before the move: raise (or fail_json) to keep PATH as it is
    prefix      the temporary file's name prefix (default '.<name>.'); the suffix is '.tmp'
    Raises TempFileError when the temporary file cannot be made, else what failed (OSError ...).
    """
    directory = os.path.dirname(os.path.abspath(path)) or '.'
    if isinstance(data, str):
        data = data.encode('utf-8')
    old = None
    if keep_owner:
        with contextlib.suppress(OSError):
            old = os.stat(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix or f'.{os.path.basename(path)}.', suffix='.tmp',
                                   dir=directory)
    except OSError as e:
        raise TempFileError(e.errno, e.strerror, directory) from None
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if old is not None:
            with contextlib.suppress(PermissionError):
                os.chown(tmp, old.st_uid, old.st_gid)
        if mode is not None:
            os.chmod(tmp, mode)
        if check is not None:
            check(tmp)
        move(tmp, path)
    finally:
        if os.path.lexists(tmp):
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    fsync_dir(directory)


def module_mover(module, keep_dest_attrs=True, unsafe_writes=False, umask=None):
    """move(tmp, path) for write_atomic in a module: module.atomic_move.

    keep_dest_attrs=False (the new file keeps its own mode, not the replaced file's) is what
    ansible-core 2.16 lacks: there atomic_move copies the replaced file's mode onto the new one,
    so the replaced file is first narrowed to its owner bits (never looser than the new file).
    umask: held around the move (atomic_move chmods a new file to 0666 & ~umask).
    """
    def move(tmp, path):
        with (held_umask(umask) if umask is not None else contextlib.nullcontext()):
            if keep_dest_attrs:
                module.atomic_move(tmp, path, unsafe_writes=unsafe_writes)
                return
            try:
                module.atomic_move(tmp, path, keep_dest_attrs=False, unsafe_writes=unsafe_writes)
            except TypeError as e:
                if 'keep_dest_attrs' not in str(e):
                    raise
                with contextlib.suppress(FileNotFoundError):
                    old = stat.S_IMODE(os.lstat(path).st_mode)
                    if old & 0o077:
                        os.chmod(path, old & 0o700)
                module.atomic_move(tmp, path, unsafe_writes=unsafe_writes)
    return move
