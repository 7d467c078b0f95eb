# Lab tier 2 only (not part of the collection): containers.podman.podman with pipelining.
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""containers.podman.podman, one `podman exec -i` per module instead of four podman calls.

The podman connection runs each module as `podman mount` (once per task), `podman exec` mkdir of a
temporary directory, a copy into the container's filesystem, and `podman exec` of the module
(plus its clean-up): every task pays three or four podman round trips, each a runc exec of its
own. It refuses pipelining because it never passes `-i`, so the container sees no stdin. Passing
`-i` when Ansible has data for stdin is all pipelining needs: a module is then one
`podman exec -i CONTAINER /bin/sh -c 'python3 && sleep 0'` with the module on stdin. Files
(template, copy) still go through `podman mount`, made on first use. The commands run exactly
as with the podman connection: in the container, through podman, as its root.

molecule/default selects it with `ansible_connection: lab_podman` (host_vars) and
ANSIBLE_CONNECTION_PLUGINS pointing here; testinfra keeps its own podman:// backend.
"""

from __future__ import annotations

import shlex

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.connection import ConnectionBase, ensure_connect

from ansible_collections.containers.podman.plugins.connection.podman import Connection as PodmanConnection

DOCUMENTATION = """
    name: lab_podman
    short_description: containers.podman.podman with pipelining (meshlab lab tier 2)
    description:
        - Run commands or put/fetch files to an existing container using podman; modules are
          pipelined through C(podman exec -i).
    options:
      remote_addr:
        description: The ID of the container you want to access.
        default: inventory_hostname
        vars:
          - name: ansible_host
          - name: inventory_hostname
          - name: ansible_podman_host
      remote_user:
        description: User inside the container (the lab uses root).
        ini:
          - section: defaults
            key: remote_user
        env:
          - name: ANSIBLE_REMOTE_USER
        vars:
          - name: ansible_user
      podman_extra_args:
        description: Extra arguments to pass to the podman command line.
        default: ''
        vars:
          - name: ansible_podman_extra_args
        env:
          - name: ANSIBLE_PODMAN_EXTRA_ARGS
      podman_executable:
        description: Executable for podman command.
        default: podman
        vars:
          - name: ansible_podman_executable
        env:
          - name: ANSIBLE_PODMAN_EXECUTABLE
      pipelining:
        description: Pipeline modules through C(podman exec -i) (the point of this plugin).
        type: boolean
        default: true
        vars:
          - name: ansible_pipelining
"""



class Connection(PodmanConnection):
    transport = "lab_podman"
    has_pipelining = True

    def _connect(self):
        # No `podman mount` for every task: pipelined modules need no file in the container.
        ConnectionBase._connect(self)
        self._connected = True
        self._mounted = False

    def _mount_once(self):
        if not self._mounted:
            self._mounted = True
            PodmanConnection._connect(self)

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        ConnectionBase.exec_command(self, cmd, in_data=in_data, sudoable=sudoable)
        args = shlex.split(to_native(cmd, errors="surrogate_or_strict"))
        exec_args = ["exec", "-i"] if in_data is not None else ["exec"]
        if self.user:
            exec_args.extend(("--user", self.user))
        return self._podman(exec_args, args, in_data)

    def put_file(self, in_path, out_path):
        self._mount_once()
        super().put_file(in_path, out_path)

    def fetch_file(self, in_path, out_path):
        self._mount_once()
        super().fetch_file(in_path, out_path)
