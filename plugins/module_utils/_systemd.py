# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd for the modules: whether it runs, a unit's state, and the unit files we own.

wireguard_interface keeps a drop-in for wg-quick@NAME, wireguard_nftables a unit that loads its
rules at boot; both decide what to do first (check mode) and then write through `Systemctl`.
A file is replaced atomically (0644) and followed by `systemctl daemon-reload`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

RUNNING_DIR = '/run/systemd/system'   # exists where systemd is the running init
UNIT_DIR = '/etc/systemd/system'
ENABLED = ('enabled', 'enabled-runtime', 'alias', 'static', 'indirect', 'linked')
ACTIVE = ('active', 'activating', 'reloading')


def running() -> bool:
    return os.path.isdir(RUNNING_DIR)


def unit_path(*parts: str) -> str:
    """A path under UNIT_DIR (read when called, so tests can move it)."""
    return os.path.join(UNIT_DIR, *parts)


def file_is(path: str, content: bytes) -> bool:
    try:
        with open(path, 'rb') as f:
            return f.read() == content
    except FileNotFoundError:
        return False


class Systemctl:
    """`systemctl` through module.run_command; a failed change fails the module with its output."""

    def __init__(self, module):
        self.module = module
        self.bin = module.get_bin_path('systemctl', required=True)

    def _query(self, verb: str, unit: str) -> str:
        rc, out, _err = self.module.run_command([self.bin, verb, unit])
        return out.strip() if rc == 0 else ''

    def enabled(self, unit: str) -> bool:
        return self._query('is-enabled', unit) in ENABLED

    def active(self, unit: str) -> bool:
        return self._query('is-active', unit) in ACTIVE

    def run(self, *args: str, hint: str = '') -> None:
        rc, out, err = self.module.run_command([self.bin, *args])
        if rc != 0:
            detail = (err or out).strip()
            self.module.fail_json(msg=f"systemctl {' '.join(args)} failed (rc={rc}): {detail}{hint}")

    def write_file(self, path: str, content: bytes) -> None:
        folder = os.path.dirname(path)
        os.makedirs(folder, mode=0o755, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix='.meshlab-wireguard.', suffix='.tmp')
        try:
            with os.fdopen(fd, 'wb') as f:
                f.write(content)
            os.chmod(tmp, 0o644)
            os.rename(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        self.run('daemon-reload')

    def remove_file(self, path: str, remove_empty_dir: bool = False) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        if remove_empty_dir:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(path))  # only when empty
        self.run('daemon-reload')
