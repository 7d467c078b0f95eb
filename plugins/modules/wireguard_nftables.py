#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wireguard_nftables
short_description: Keep one nftables table in a rules file and loaded, in one round trip
version_added: 0.2.0
description:
  - Writes an nft script that owns one table to O(path) and loads it with C(nft -f) when the file
    changed, when the table is not loaded (reboot, C(nft flush ruleset)) or when the loaded table
    lacks O(marker) (changed by hand, or an older version). Other tables are never touched.
  - The script must replace its table atomically, e.g. C(table inet T), C(delete table inet T), then
    the table's full definition; the role M(meshlab.wireguard.wireguard) renders such a script.
  - A new file is checked with C(nft -c -f) before it replaces the old one (atomic rename), so a bad
    script never lands and never loads.
  - With O(boot_unit), where systemd runs, a unit of that name loads the file at boot (after
    C(nftables.service), which may flush the ruleset); it is written and enabled in the same call.
  - With O(state=absent) the table is deleted and the file removed (and the boot unit disabled and
    removed).
author:
  - meshlab.wireguard contributors (@meshlab)
options:
  path:
    description: The rules file. Its directory is created (mode 0755) when missing.
    type: path
    required: true
  content:
    description: The whole nft script. Required with O(state=present).
    type: str
  table:
    description: The name of the table the script defines.
    type: str
    required: true
  family:
    description: The table's family.
    type: str
    default: inet
    choices: [inet, ip, ip6, arp, bridge, netdev]
  marker:
    description:
      - Text that the loaded table must contain (e.g. a rule comment with a checksum of the rules).
        When it is missing from C(nft list table), the file is loaded again.
      - Required with O(state=present).
    type: str
  boot_unit:
    description:
      - Name of a systemd unit (e.g. V(meshlab-wireguard-firewall.service)) that loads O(path) at
        boot, kept in C(/etc/systemd/system) and enabled (not started; this module loads the table itself).
        Ignored where systemd does not run (C(/run/systemd/system) is missing).
    type: str
  state:
    description: V(present) keeps the table loaded from O(path); V(absent) deletes both.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Reports whether the file would be written and the table loaded; changes nothing.
    support: full
  diff_mode:
    description: Shows the rules file before and after.
    support: full
  platform:
    description: Linux hosts with nftables.
    platforms: posix
    support: full
requirements:
  - nft (the nftables package)
seealso:
  - module: meshlab.wireguard.wireguard_interface
    description: The WireGuard interface whose port and forwarding such a table opens.
  - name: Atomic rule replacement
    description: The nftables wiki on replacing a table in one C(nft -f) transaction, as the script does.
    link: https://wiki.nftables.org/wiki-nftables/index.php/Atomic_rule_replacement
"""

EXAMPLES = r"""
# The script replaces its own table atomically: create it (a no-op when it exists), delete it,
# define it again. The marker is a rule comment: a table changed by hand, or an older version,
# lacks it and is loaded again. In a playbook project the content usually comes from a template
# of your own: content: "{{ lookup('ansible.builtin.template', 'wireguard.nft.j2') }}".
- name: Accept the WireGuard port in a table of our own, loaded now and at boot
  meshlab.wireguard.wireguard_nftables:
    path: /etc/nftables.d/wireguard-port.nft
    table: wireguard_port
    marker: wireguard-port v1
    boot_unit: wireguard-port.service
    content: |
      table inet wireguard_port
      delete table inet wireguard_port
      table inet wireguard_port {
        chain input {
          type filter hook input priority filter - 5; policy accept;
          udp dport 51820 counter accept comment "wireguard-port v1"
        }
      }

- name: Remove the table, its file and its boot unit
  meshlab.wireguard.wireguard_nftables:
    path: /etc/nftables.d/wireguard-port.nft
    table: wireguard_port
    boot_unit: wireguard-port.service
    state: absent
"""

RETURN = r"""
file_changed:
  description: Whether the rules file was (or, in check mode, would be) written or removed.
  returned: success
  type: bool
loaded:
  description: Whether the table was (or would be) loaded (V(present)) or deleted (V(absent)).
  returned: success
  type: bool
systemd_running:
  description: Whether systemd runs on the host (C(/run/systemd/system) exists), for a boot unit.
  returned: always
  type: bool
unit_actions:
  description:
    - What was (or would be) done to O(boot_unit), in order; V(write) and V(remove) are followed by
      C(systemctl daemon-reload).
  returned: success
  type: list
  elements: str
  sample: [write, enable]
reason:
  description: Why the table was loaded, e.g. V(file changed), V(table missing), V(marker missing).
  returned: when loaded
  type: str
"""

import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshlab.wireguard.plugins.module_utils import _systemd

UNIT_NAME = re.compile(r'^[A-Za-z0-9:_.@-]+\.service$')


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

    def __init__(self, module, nft):
        p = module.params
        self.name = p['boot_unit']
        self.path = _systemd.unit_path(self.name)
        self.text = unit_text(nft, p['path'], p['family'], p['table']).encode()
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
    """Work out what differs (file, live table), then change it once, outside check mode."""

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.nft = module.get_bin_path('nft', opt_dirs=['/usr/sbin', '/sbin'])
        if not self.nft:
            module.fail_json(msg='nft is not installed on this host: install the nftables package '
                                 '(role: wireguard_install_packages: true), or choose another firewall '
                                 'backend (wireguard_firewall: iptables, firewalld, ufw or none)')

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
        rc, out = self._nft('list', 'table', self.p['family'], self.p['table'], check=False)
        return out if rc == 0 else None

    def _write(self, content):
        directory = os.path.dirname(self.p['path']) or '.'
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o755)
        fd, tmp = tempfile.mkstemp(prefix='.meshlab-nft-', dir=directory)
        try:
            with os.fdopen(fd, 'w', encoding='utf-8') as f:
                f.write(content)
            os.chmod(tmp, 0o644)
            rc, out, err = self.module.run_command([self.nft, '-c', '-f', tmp])
            if rc != 0:
                self.module.fail_json(msg=f"the rules for {self.p['path']} do not pass `nft -c`; the file "
                                          f'and the live table are unchanged: {err.strip() or out.strip()}')
            self.module.atomic_move(tmp, self.p['path'])
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

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


def main():
    module = AnsibleModule(
        argument_spec={
            'path': {'type': 'path', 'required': True},
            'content': {'type': 'str'},
            'table': {'type': 'str', 'required': True},
            'family': {'type': 'str', 'default': 'inet',
                       'choices': ['inet', 'ip', 'ip6', 'arp', 'bridge', 'netdev']},
            'marker': {'type': 'str'},
            'boot_unit': {'type': 'str'},
            'state': {'type': 'str', 'default': 'present', 'choices': ['present', 'absent']},
        },
        required_if=[('state', 'present', ('content', 'marker'))],
        supports_check_mode=True,
    )
    unit_name = module.params['boot_unit']
    if unit_name is not None and not UNIT_NAME.match(unit_name):
        module.fail_json(msg=f'boot_unit: {unit_name!r} is not a service unit name such as '
                             'meshlab-wireguard-firewall.service')
    present = module.params['state'] == 'present'
    backend = NftablesFile(module)
    systemd_running = _systemd.running()
    unit = BootUnit(module, backend.nft) if unit_name and systemd_running else None
    unit_actions = unit.actions(present) if unit else []  # worked out before anything changes
    result = backend.present() if present else backend.absent()
    if not module.check_mode:
        for action in unit_actions:
            unit.run(action)
    result.update(systemd_running=systemd_running, unit_actions=unit_actions,
                  changed=result['changed'] or bool(unit_actions))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
