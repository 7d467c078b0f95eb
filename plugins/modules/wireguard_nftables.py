#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wireguard_nftables
short_description: Keep one nftables table in a rules file and loaded, in one round trip
version_added: 0.1.0
description:
  - Writes an nft script that owns one table to O(path) and loads it with C(nft -f) when the file
    changed, when the table is not loaded (reboot, C(nft flush ruleset)) or when the loaded table
    lacks O(marker) (changed by hand, or an older version). Other tables are never touched.
  - The script must replace its table atomically, e.g. C(table inet T), C(delete table inet T), then
    the table's full definition; the role M(meshlab.wireguard.wireguard) renders such a script.
  - A new file is checked with C(nft -c -f) before it replaces the old one (atomic rename), so a bad
    script never lands and never loads.
  - With O(state=absent) the table is deleted and the file removed.
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
"""

EXAMPLES = r"""
- name: Our own table, loaded and kept in a file
  meshlab.wireguard.wireguard_nftables:
    path: /etc/nftables.d/meshlab-wireguard.nft
    table: meshlab_wireguard
    marker: "meshlab.wireguard 3f2a9c"
    content: "{{ lookup('ansible.builtin.template', 'meshlab-wireguard.nft.j2') }}"
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
reason:
  description: Why the table was loaded, e.g. V(file changed), V(table missing), V(marker missing).
  returned: when loaded
  type: str
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule


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
            'state': {'type': 'str', 'default': 'present', 'choices': ['present', 'absent']},
        },
        required_if=[('state', 'present', ('content', 'marker'))],
        supports_check_mode=True,
    )
    backend = NftablesFile(module)
    result = backend.present() if module.params['state'] == 'present' else backend.absent()
    result['systemd_running'] = os.path.isdir('/run/systemd/system')
    module.exit_json(**result)


if __name__ == '__main__':
    main()
