# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Userspace WireGuard: wireguard-go, driven over its UAPI socket (no `wg` binary needed).

- create: run `wireguard-go IFNAME` (it opens the TUN link and the socket
  /var/run/wireguard/IFNAME.sock, then daemonizes itself), and wait until the socket answers.
  It runs in a session of its own: its daemon stays in the session it was started in, and a
  module run over SSH without pipelining (Ansible's default) runs in a terminal session whose end
  hangs up its process group; a Go program ends on that SIGHUP.
- read/apply: `get=1` / `set=1` through `_uapi.UapiClient`; `_uapi.encode_set(plan)` writes only
  the device fields and peer changes of the plan, so untouched peers keep their sessions.
- delete: remove the link; wireguard-go exits when its TUN goes. Any process still running for
  that interface in this network namespace is then terminated (by pid), and a socket file left
  behind is removed.
- A socket file that nobody listens on (wireguard-go was killed) means "absent": the next
  create removes it and starts a new wireguard-go. A TUN link with that name that belongs to a
  wireguard-go that no longer answers is deleted and its process ended before the new start.

Processes are found through /proc: the command line `wireguard-go [-f] IFNAME`, in the same
network namespace as this process (hosts that share a pid namespace but not a network namespace
each keep their own wireguard-go).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import socket
import subprocess
import time
from typing import Iterable, List, Optional

from ansible_collections.meshlab.wireguard.plugins.module_utils import _iproute, _uapi
from ansible_collections.meshlab.wireguard.plugins.module_utils._engines import (
    ENGINE_BY_NAME,
    Engine,
    EngineError,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import Device, Plan

SOCKET_DIR = ENGINE_BY_NAME['userspace'].socket_dir  # _engines.UAPI_SOCKET_DIR
LINK_KIND = ENGINE_BY_NAME['userspace'].link_kind  # 'tun'
WIREGUARD_GO = 'wireguard-go'
EXTRA_BIN_DIRS = ('/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin')
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
POLL = 0.05
NO_WIREGUARD_GO = ('wireguard-go is not installed (the userspace engine runs it): install the package '
                   'wireguard-go, or use a kernel with WireGuard and engine=kernel')


def socket_path(ifname: str, socket_dir: str = SOCKET_DIR) -> str:
    return os.path.join(socket_dir, ifname + '.sock')


def socket_state(path: str) -> str:
    """'alive' (a process accepts connections), 'stale' (file, nobody listening) or 'missing'."""
    if not os.path.exists(path):
        return 'missing'
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(2.0)
    try:
        sock.connect(path)
    except FileNotFoundError:
        return 'missing'
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOTSOCK, errno.EACCES):
            return 'stale'
        return 'stale'
    finally:
        sock.close()
    return 'alive'


def _ns_id(pid, ns: str) -> Optional[str]:
    try:
        return os.readlink(f'/proc/{pid}/ns/{ns}')
    except OSError:
        return None


def _is_running(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        with open(f'/proc/{pid}/stat', 'rb') as f:
            data = f.read()
    except OSError:
        return False
    # the state follows the last ')' (the command name may hold spaces and parentheses)
    rest = data[data.rfind(b')') + 1:].split()
    return bool(rest) and rest[0] not in (b'Z', b'X')


def find_processes(ifname: str, proc: str = '/proc') -> List[int]:
    """Pids of `wireguard-go [-f] IFNAME` running in this process' network namespace."""
    own_net = _ns_id('self', 'net')
    out = []
    try:
        entries = os.listdir(proc)
    except OSError:
        return out
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, 'cmdline'), 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        argv = [a.decode('utf-8', 'replace') for a in argv if a]
        if len(argv) < 2 or os.path.basename(argv[0]) != WIREGUARD_GO:
            continue
        args = [a for a in argv[1:] if a not in ('-f', '--foreground')]
        if args != [ifname]:
            continue
        if _ns_id(entry, 'net') != own_net:
            continue
        if _is_running(int(entry)):
            out.append(int(entry))
    return sorted(out)


def find_binary(name: str = WIREGUARD_GO) -> Optional[str]:
    found = shutil.which(name)
    if found:
        return found
    for folder in EXTRA_BIN_DIRS:
        path = os.path.join(folder, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def start_in_own_session(argv: List[str]) -> tuple:
    """(rc, stdout, stderr) of ARGV run in a new session, without a terminal, stdin from /dev/null."""
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              errors='replace', start_new_session=True, timeout=START_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, '', str(exc)
    return proc.returncode, proc.stdout, proc.stderr


class UapiEngine(Engine):
    kind = 'userspace'

    def __init__(self, socket_dir: str = SOCKET_DIR, binary: Optional[str] = None):
        self._socket_dir = socket_dir
        self._binary = binary

    # -- helpers --------------------------------------------------------------------------
    def socket_path(self, ifname: str) -> str:
        return socket_path(ifname, self._socket_dir)

    def _client(self, ifname: str):
        return _uapi.UapiClient(self.socket_path(ifname))

    def _stop_processes(self, pids: List[int], timeout: float = STOP_TIMEOUT) -> None:
        """Wait for PIDS to end; SIGTERM (then SIGKILL) the ones that do not."""
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None:
                for pid in pids:
                    if _is_running(pid):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, sig)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not any(_is_running(pid) for pid in pids):
                    return
                time.sleep(POLL)
        alive = [pid for pid in pids if _is_running(pid)]
        if alive:
            raise EngineError(f'wireguard-go (pid {alive}) does not stop')

    def _remove_stale_socket(self, ifname: str) -> None:
        path = self.socket_path(ifname)
        if socket_state(path) == 'stale':
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    # -- Engine -----------------------------------------------------------------------------
    def preflight(self) -> None:
        if not (self._binary or find_binary()):
            raise EngineError(NO_WIREGUARD_GO)

    def exists(self, ifname: str) -> bool:
        return (_iproute.link_kind(ifname) == LINK_KIND
                and socket_state(self.socket_path(ifname)) == 'alive')

    def create(self, ifname: str) -> None:
        kind = _iproute.link_kind(ifname)
        if kind is not None:
            pids = find_processes(ifname)
            if kind != LINK_KIND or not pids:
                raise EngineError(
                    f'a {kind or "link"} named {ifname} exists and no wireguard-go runs for it: '
                    'delete that link or choose another interface name'
                )
            # wireguard-go for this link is running but its socket does not answer: restart it.
            _iproute.delete_link(ifname)
            self._stop_processes(pids)
        else:
            leftover = find_processes(ifname)
            if leftover:
                self._stop_processes(leftover, timeout=1.0)
        self._remove_stale_socket(ifname)

        binary = self._binary or find_binary()
        if not binary:
            raise EngineError(NO_WIREGUARD_GO)
        # No environment tweaks: wireguard-go passes its environment on to the daemon it starts,
        # and Go reads the first of duplicate variables, so an added WG_PROCESS_FOREGROUND breaks it.
        path = self.socket_path(ifname)
        rc, out, err = start_in_own_session([binary, ifname])
        if rc != 0:
            detail = (err or out or '').strip().splitlines()
            raise EngineError(f'{binary} {ifname} failed (rc={rc}): '
                              + (detail[-1] if detail else 'no output'))
        if not self._wait_alive(ifname, path):
            self._remove_stale_socket(ifname)
            raise EngineError(f'wireguard-go {ifname} started but {path} did not answer within '
                              f'{START_TIMEOUT:.0f} s')

    def _wait_alive(self, ifname: str, path: str) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if socket_state(path) == 'alive' and _iproute.link_kind(ifname) == LINK_KIND:
                return True
            time.sleep(POLL)
        return False

    def delete(self, ifname: str) -> None:
        pids = find_processes(ifname)
        _iproute.delete_link(ifname)
        if pids:
            self._stop_processes(pids)
        self._remove_stale_socket(ifname)

    def read(self, ifname: str, peers: Optional[Iterable[str]] = None) -> Device:
        try:
            return self._client(ifname).get(only=peers)
        except (OSError, _uapi.UapiError) as exc:
            raise EngineError(f'cannot read {ifname} through {self.socket_path(ifname)}: {exc}') from exc

    def apply(self, ifname: str, plan: Plan) -> None:
        if not plan.device and not plan.peers:
            return
        request = _uapi.encode_set(plan)
        try:
            self._client(ifname).set(request)
        except (OSError, _uapi.UapiError) as exc:
            raise EngineError(f'cannot configure {ifname} through {self.socket_path(ifname)}: {exc}') from exc
