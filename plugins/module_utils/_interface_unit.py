# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""wireguard_interface's systemd side: wg-quick@NAME with a drop-in that starts on the live interface.

`module` is duck-typed (fail_json, and run_command and get_bin_path through
`_systemd.Systemctl`); nothing here imports Ansible.
"""

from __future__ import annotations

import os

from ansible_collections.meshlab.wireguard.plugins.module_utils import _systemd

# Starting the unit while the interface exists only marks it active (oneshot, RemainAfterExit).
DROPIN_CONTENT = b"""# Managed by meshlab.wireguard (wireguard_interface), which configures the live interface
# itself. Starting the unit while the interface exists only marks it active (no wg-quick up, no
# outage); when it does not exist (boot, after a stop or restart) wg-quick brings it up from the
# config as usual.
[Service]
ExecStart=
ExecStart=/bin/sh -c 'if ip link show dev %i >/dev/null 2>&1; then exit 0; fi; exec wg-quick up %i'
"""


class WgQuickUnit:
    """wg-quick@NAME where systemd runs: a drop-in, then enabled and started on the live interface.

    unit is None when systemd is not used (systemd=no, persist=false, or systemd=auto where it
    does not run); systemd=yes where it does not run fails the module.
    """

    def __init__(self, module, name, wanted, persist):
        self.unit = f'wg-quick@{name}.service'
        self.dropin = _systemd.unit_path(f'{self.unit}.d', 'meshlab-wireguard.conf')
        self.systemctl = None
        if wanted == 'no' or not persist:
            self.unit = None
            return
        if not _systemd.running():
            if wanted == 'yes':
                module.fail_json(msg='systemd=yes but systemd does not run on this host '
                                     f'({_systemd.RUNNING_DIR} is missing): use systemd=auto or systemd=no')
            self.unit = None
            return
        self.systemctl = _systemd.Systemctl(module)

    def actions(self, present):
        """What brings the unit to the wanted state, in order (nothing is done here)."""
        ctl = self.systemctl
        if present:
            return ([] if _systemd.file_is(self.dropin, DROPIN_CONTENT) else ['dropin']) + \
                ([] if ctl.enabled(self.unit) else ['enable']) + ([] if ctl.active(self.unit) else ['start'])
        return (['stop'] if ctl.active(self.unit) else []) + \
            (['disable'] if ctl.enabled(self.unit) else []) + \
            (['remove-dropin'] if os.path.lexists(self.dropin) else [])

    def run(self, action):
        if action == 'dropin':
            self.systemctl.write_file(self.dropin, DROPIN_CONTENT)
        elif action == 'remove-dropin':
            self.systemctl.remove_file(self.dropin, remove_empty_dir=True)
        else:
            self.systemctl.run(action, self.unit,
                               hint='; is wireguard-tools installed?' if action == 'enable' else '')
