# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One nftables table kept in a rules file and loaded, plus the systemd unit that loads it at boot.

Shared by the modules wireguard_nftables (the table on its own) and wireguard_firewall (the
role's firewall step, which also removes the other backends' objects). Both work out what
differs first (check mode reports exactly that) and change it once, outside check mode.

`params`: path, content, table, family, marker, boot_unit (as the wireguard_nftables options).
"""

from __future__ import annotations

import os
import re

from ansible_collections.meshlab.wireguard.plugins.module_utils import _systemd
from ansible_collections.meshlab.wireguard.plugins.module_utils._atomic import module_mover, write_atomic

UNIT_NAME = re.compile(r'^[A-Za-z0-9:_.@-]+\.service$')
NFT_MISSING = ('nft is not installed on this host: install the nftables package '
               '(role: wireguard_install_packages: true), or choose another firewall '
               'backend (wireguard_firewall: iptables, firewalld, ufw or none)')


def unit_text(nft, path, family, table):
    """The boot unit: load the file after nftables.service (which may flush everything)."""
    return f"""# Managed by meshlab.wireguard (wireguard_nftables): loads {path} at boot.
[Unit]
Description=nftables table {family} {table} from {path}
After=nftables.service network-pre.target
Wants=network-pre.target
Before=network.target
PartOf=nftables.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={nft} -f {path}
ExecStop={nft} delete table {family} {table}

[Install]
WantedBy=multi-user.target
WantedBy=nftables.service
"""


class BootUnit:
    """The unit that loads the rules file at boot: worked out first, changed after the table."""

    def __init__(self, module, nft, params):
        self.name = params['boot_unit']
        self.path = _systemd.unit_path(self.name)
        self.text = unit_text(nft or 'nft', params['path'], params['family'], params['table']).encode()
        self.systemctl = _systemd.Systemctl(module)

    def actions(self, present):
        exists = os.path.lexists(self.path)
        enabled = exists and self.systemctl.enabled(self.name)
        if present:
            current = _systemd.file_is(self.path, self.text)
            return ([] if current else ['write']) + ([] if enabled else ['enable'])
        return (['disable'] if enabled else []) + (['remove'] if exists else [])

    def run(self, action):
        if action == 'write':
            self.systemctl.write_file(self.path, self.text)
        elif action == 'remove':
            self.systemctl.remove_file(self.path)
        else:
            self.systemctl.run(action, self.name)


class NftablesFile:
    """Work out what differs (file, live table), then change it once, outside check mode.

    With required=False a host without nft is not an error: there is no live table to read
    (the absent side still removes the file).
    """

    def __init__(self, module, params, required=True):
        self.module = module
        self.p = params
        self.nft = module.get_bin_path('nft', opt_dirs=['/usr/sbin', '/sbin'])
        if not self.nft and required:
            module.fail_json(msg=NFT_MISSING)

    def _nft(self, *args, check=True):
        rc, out, err = self.module.run_command([self.nft, *args])
        if check and rc != 0:
            self.module.fail_json(msg=f"nft {' '.join(args)} failed: {err.strip() or out.strip()}", rc=rc)
        return rc, out

    def _current(self):
        try:
            with open(self.p['path'], encoding='utf-8') as f:
                return f.read()
        except FileNotFoundError:
            return None

    def _live(self):
        """The table as `nft list table` prints it, or None when it is not loaded."""
        if not self.nft:
            return None
        rc, out = self._nft('list', 'table', self.p['family'], self.p['table'], check=False)
        return out if rc == 0 else None

    def _write(self, content):
        directory = os.path.dirname(self.p['path']) or '.'
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o755)

        def nft_check(tmp):
            rc, out, err = self.module.run_command([self.nft, '-c', '-f', tmp])
            if rc != 0:
                self.module.fail_json(msg=f"the rules for {self.p['path']} do not pass `nft -c`; the file "
                                          f'and the live table are unchanged: {err.strip() or out.strip()}')

        write_atomic(self.p['path'], content, mode=0o644, move=module_mover(self.module), check=nft_check,
                     prefix='.meshlab-nft-')

    def present(self):
        content = self.p['content']
        if not content.endswith('\n'):
            content += '\n'
        current = self._current()
        file_changed = current != content
        live = self._live()
        reason = None
        if file_changed:
            reason = 'file changed'
        elif live is None:
            reason = 'table missing'
        elif self.p['marker'] not in live:
            reason = 'marker missing'
        result = {'changed': file_changed or reason is not None, 'file_changed': file_changed,
                  'loaded': reason is not None}
        if reason:
            result['reason'] = reason
        if self.module._diff and file_changed:
            result['diff'] = {'before': current or '', 'after': content,
                              'before_header': self.p['path'], 'after_header': self.p['path']}
        if self.module.check_mode:
            return result
        if file_changed:
            self._write(content)
        if reason:
            self._nft('-f', self.p['path'])
        return result

    def absent(self):
        current = self._current()
        live = self._live()
        result = {'changed': current is not None or live is not None,
                  'file_changed': current is not None, 'loaded': live is not None}
        if self.module._diff and current is not None:
            result['diff'] = {'before': current, 'after': '', 'before_header': self.p['path'],
                              'after_header': self.p['path']}
        if self.module.check_mode:
            return result
        if live is not None:
            self._nft('delete', 'table', self.p['family'], self.p['table'])
        if current is not None:
            os.unlink(self.p['path'])
        return result


def check_unit_name(module, name):
    if name is not None and not UNIT_NAME.match(name):
        module.fail_json(msg=f'boot_unit: {name!r} is not a service unit name such as '
                             'meshlab-wireguard-firewall.service')


def keep_table(module, params, present=True, required=True):
    """The whole job of wireguard_nftables: table + file (+ boot unit). Returns the result dict."""
    check_unit_name(module, params.get('boot_unit'))
    backend = NftablesFile(module, params, required=required)
    systemd_running = _systemd.running()
    unit = BootUnit(module, backend.nft, params) if params.get('boot_unit') and systemd_running else None
    unit_actions = unit.actions(present) if unit else []  # worked out before anything changes
    result = backend.present() if present else backend.absent()
    if not module.check_mode:
        for action in unit_actions:
            unit.run(action)
    result.update(systemd_running=systemd_running, unit_actions=unit_actions,
                  changed=result['changed'] or bool(unit_actions))
    return result
