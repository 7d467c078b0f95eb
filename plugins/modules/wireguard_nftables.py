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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshlab.wireguard.plugins.module_utils import _nftables


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
    present = module.params['state'] == 'present'
    result = _nftables.keep_table(module, module.params, present=present)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
