# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""wireguard_interface's apply signal: apply at an instant the controller sends once every host is ready.

A key rotation needs the rotating host to switch first and its peers a fraction of a second
later. A time fixed before the modules start cannot know how long they take to start on a busy
host (measured on a loaded lab: 4-8 s late), so the instant is sent after they are all ready:
1. the module (run with async) plans, removes a PATH left by an earlier run, writes
   PATH.<interface>.ready and waits for PATH;
2. the controller waits for every host's ready files, then writes the instant into each host's
   PATH (one file per host: every interface of the host reads the same instant);
3. the module applies at that instant. The controller removes the files afterwards.
No signal within the timeout: nothing is applied (an interrupted run changes nothing here).
"""

from __future__ import annotations

import contextlib
import os
import time

from ansible_collections.meshlab.wireguard.plugins.module_utils._atomic import write_atomic

POLL_SECONDS = 0.02


class SignalTimeout(Exception):
    """No instant arrived in time; nothing was applied."""


class ApplySignal:
    def __init__(self, path, interface, timeout):
        self.path = path
        self.ready_path = f'{path}.{interface}.ready'
        self.timeout = timeout

    def ready(self):
        """Drop a stale instant of an earlier run, then tell the controller this host is ready."""
        directory = os.path.dirname(self.path) or '.'
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o700)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        write_atomic(self.ready_path, f'{os.getpid()}\n', mode=0o600)

    def wait(self, clock=time.monotonic, sleep=time.sleep):
        """The instant (seconds since the epoch) the controller wrote into PATH."""
        deadline = clock() + self.timeout
        while True:
            try:
                with open(self.path) as f:
                    text = f.read().strip()
                if text:
                    return float(text)
            except FileNotFoundError:
                pass
            except ValueError:
                raise SignalTimeout(f'{self.path} does not hold a time (seconds since the epoch): '
                                    'nothing was applied') from None
            if clock() > deadline:
                raise SignalTimeout(f'no apply signal in {self.path} within {self.timeout:g} s (the run '
                                    'that armed it stopped?): nothing was applied; run it again')
            sleep(POLL_SECONDS)
