"""testinfra backend for lab tier 1 hosts (lab/nslab.py).

``ansible://`` with ``ansible_connection: local`` runs testinfra's commands on the machine itself,
not in the namespace host. This backend wraps every command in nsenter (the host's net, mount and
UTS namespaces), so ``host.interface('eth0')``, ``host.file('/etc/wireguard')``, ``host.run(...)``
see the lab host::

    from nslab_testinfra import host_for
    host = host_for(lab, 'h1')             # lab: nslab.Lab (or a lab name: nslab.Lab.attach(name))
    assert host.interface('eth0').addresses == [...]
    assert host.file('/etc/wireguard').mode == 0o700

Commands run with the working directory / inside the host.
"""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Any, Union

import testinfra.host
from testinfra.backend import base

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nslab import Lab


class NslabBackend(base.BaseBackend):
    NAME = 'nslab'

    def __init__(self, lab: Lab, hostname: str, *args: Any, **kwargs: Any):
        self.lab = lab
        self.argv = lab.nsenter_argv(hostname)  # raises LabError for an unknown host
        super().__init__(hostname, *args, **kwargs)

    def get_pytest_id(self) -> str:
        return f'nslab://{self.lab.name}/{self.hostname}'

    def run(self, command: str, *args: str, **kwargs: Any) -> base.CommandResult:
        cmd = self.get_command(command, *args)
        proc = subprocess.run([*self.argv, '/bin/sh', '-c', cmd], capture_output=True, check=False,
                              cwd='/')
        return self.result(proc.returncode, self.encode(cmd), proc.stdout, proc.stderr)


def host_for(lab: Union[Lab, str], hostname: str) -> testinfra.host.Host:
    """A testinfra Host whose commands run inside lab host `hostname` (h1, h1-lan, ...)."""
    if isinstance(lab, str):
        lab = Lab.attach(lab)
    return testinfra.host.Host(NslabBackend(lab, hostname))
