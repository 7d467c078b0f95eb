#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wireguard_firewall
short_description: The role's WireGuard firewall in one round trip; other backends' leftovers removed
version_added: 0.1.0
description:
  - Keeps the firewall objects of one backend for the WireGuard networks of a host (the listen
    ports, forwarding between the tunnel and the site LANs and, on hubs and hosts with clients,
    between peers; masquerade where a network asks for it and the backend has it) and removes what
    the other backends of the role left on the host (switching V(nftables) to V(firewalld) to
    V(ufw) leaves nothing of the earlier backend behind).
  - Each backend owns its objects by name and touches nothing else. V(nftables) one table, its
    rules file and boot unit (as M(meshlab.wireguard.wireguard_nftables)). V(firewalld) zone
    C(meshlab-wg) (the WireGuard interfaces) and policies C(meshlab-wg-listen) (the listen ports,
    from every zone or O(firewalld.zone) to the host), C(meshlab-wg-to-lan) and
    C(meshlab-lan-to-wg) (forwarding to and from the site LANs by rich rule; masquerade towards the
    LANs), kept as XML files in C(/etc/firewalld/zones) and C(/etc/firewalld/policies) and loaded with
    C(firewall-cmd --reload) when a file changed or the running firewalld differs from them (a
    reload also drops runtime-only changes; keep yours permanent). V(ufw) rules commented
    C(meshlab.wireguard ...); ufw is never enabled, disabled or reset by this module. V(iptables)
    chains C(<chain_prefix>-INPUT), C(-FORWARD), nat C(-POSTROUTING), the jumps to them, the rules
    files and script in O(iptables.rules_dir) and O(iptables.unit), which the role's iptables tasks keep
    and this module only removes.
  - Everything is worked out first and then changed, so check mode reports exactly what the real
    run does. What is looked at for a backend that is not in use is cheap (files of ours, a grep of
    ufw's rules files, C(iptables-save) where iptables exists).
author:
  - meshlab.wireguard contributors (@meshlab)
options:
  backend:
    description:
      - The backend in use. V(nftables), V(firewalld) and V(ufw) are kept here; with V(iptables) the
        caller keeps the chains (the role's iptables tasks) and this module only removes the other
        backends' objects.
    type: str
    required: true
    choices: [nftables, iptables, firewalld, ufw]
  networks:
    description:
      - The host's WireGuard networks. Keys used, per network, C(name) (the interface), C(port),
        C(forward_tunnel) (forward between peers), C(local_lans) (the site LANs behind this host),
        C(masquerade); other keys are ignored (the role passes its per-host network entries).
      - Used by V(firewalld) and V(ufw) (V(nftables) takes the rendered rules in O(nftables.content)).
    type: list
    elements: dict
    default: []
  cleanup:
    description: Remove the objects of the backends other than O(backend) that are present on the host.
    type: bool
    default: true
  nftables:
    description: The nftables table; the rules when O(backend=nftables), else what to remove.
    type: dict
    default: {}
    suboptions:
      path:
        description: The rules file.
        type: path
        default: /etc/nftables.d/meshlab-wireguard.nft
      table:
        description: The table the rules define.
        type: str
        default: meshlab_wireguard
      family:
        description: The table's family.
        type: str
        default: inet
        choices: [inet, ip, ip6]
      content:
        description:
          - The whole nft script (required with O(backend=nftables)); see
            M(meshlab.wireguard.wireguard_nftables).
        type: str
      marker:
        description: Text the loaded table must contain (required with O(backend=nftables)).
        type: str
      boot_unit:
        description: The systemd unit that loads the file at boot (where systemd runs); omit for none.
        type: str
  iptables:
    description: What the role's iptables tasks made (to remove it when another backend is in use).
    type: dict
    default: {}
    suboptions:
      rules_dir:
        description: The directory of the rules files and script.
        type: path
        default: /etc/iptables
      chain_prefix:
        description: The prefix of our chains.
        type: str
        default: MESHLAB-WG
      unit:
        description: The unit that loads the chains at boot.
        type: str
        default: meshlab-wireguard-iptables.service
  firewalld:
    description: Zones for O(backend=firewalld).
    type: dict
    default: {}
    suboptions:
      zone:
        description: The zone the listen ports are opened from; empty for every zone (C(ANY)).
        type: str
        default: ''
      lan_zone:
        description:
          - The zone of the site LAN interfaces; the forwarding policies go between it and
            C(meshlab-wg). Empty for every zone (C(ANY)); the rich rules still limit forwarding to
            the site LAN prefixes.
        type: str
        default: ''
attributes:
  check_mode:
    description: Reports what would be written, loaded, added and removed; changes nothing.
    support: full
  diff_mode:
    description: Shows the nftables rules file before and after (the other backends report C(actions)).
    support: partial
  platform:
    description: Linux hosts with the backend's tools (nft, firewalld with python3-firewall, or ufw).
    platforms: posix
    support: full
requirements:
  - nft for O(backend=nftables); firewalld and python3-firewall for V(firewalld); ufw for V(ufw)
seealso:
  - module: meshlab.wireguard.wireguard_nftables
"""

EXAMPLES = r"""
- name: firewalld for the WireGuard networks; nftables and ufw leftovers of earlier runs removed
  meshlab.wireguard.wireguard_firewall:
    backend: firewalld
    networks:
      - name: wg0
        port: 51820
        local_lans: [203.0.113.0/27]
        masquerade: true

- name: ufw rules instead
  meshlab.wireguard.wireguard_firewall:
    backend: ufw
    networks:
      - {name: wg0, port: 51820, local_lans: [203.0.113.0/27]}
"""

RETURN = r"""
backend:
  description: The backend in use (O(backend)).
  returned: always
  type: str
actions:
  description: What was (or, in check mode, would be) done, in order.
  returned: always
  type: list
  elements: str
  sample:
    - "firewalld: write policy meshlab-wg-listen"
    - "firewalld: reload (files changed)"
    - "nftables: remove table inet meshlab_wireguard"
removed:
  description: The other backends whose objects were (or would be) removed.
  returned: always
  type: list
  elements: str
  sample: [nftables]
nftables:
  description:
    - With O(backend=nftables), C(file_changed), C(loaded) and C(unit_actions) as
      M(meshlab.wireguard.wireguard_nftables) returns them.
  returned: when O(backend=nftables)
  type: dict
firewalld_running:
  description: Whether firewalld runs (without it the files are written and load when it starts).
  returned: when O(backend=firewalld)
  type: bool
ufw_enabled:
  description: Whether ufw is enabled (C(ENABLED=yes) in C(/etc/ufw/ufw.conf)); the rules act only then.
  returned: when O(backend=ufw)
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshlab.wireguard.plugins.module_utils import _firewall


def main():
    module = AnsibleModule(
        argument_spec=_firewall.argument_spec(),
        supports_check_mode=True,
    )
    try:
        networks = _firewall.network_inputs(module.params['networks'])
    except (KeyError, TypeError, ValueError) as exc:
        module.fail_json(msg='networks: every entry needs name and port, and local_lans must be '
                             f'prefixes: {exc}')
    module.params['networks'] = networks
    module.exit_json(**_firewall.Firewall(module, module.params).run())


if __name__ == '__main__':
    main()
