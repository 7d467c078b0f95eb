#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wireguard_probe
short_description: Find out, without changing anything, what a host has and can do for WireGuard
version_added: 0.3.0
description:
  - Reads, per network, the private key file, a key supplied from vault, the live interface (its
    public key, addresses, listen port, and each peer's public key, name and handshake age) and
    whether the listen port is free; and per host the capabilities the role's steps need
    (CAP_NET_ADMIN, C(/dev/net/tun), kernel WireGuard, wireguard-go, writable sysctls,
    a usable C(nft), writable directories with free space) and the resolution of host names.
  - The role runs it on every host before the first change on any host, and the controller
    judges all answers together, so a fleet never stops half-applied because one host cannot do a
    step, and no key, live peer or address is replaced by a bad input.
  - Changes nothing. A UDP socket is bound and closed at once to see whether a port is free;
    C(/proc/sys) files are opened for writing and closed without writing; C(nft -c) checks a
    table without creating it.
  - Never returns a secret. Keys are reported by their public key (and whether a key file holds
    one of the O(public_keys), that is a public key pasted where a private key belongs).
author:
  - meshlab.wireguard contributors (@meshlab)
requirements:
  - PyNaCl on the managed host to derive public keys (Debian/Ubuntu package C(python3-nacl));
    without it the public keys are reported as V(null).
attributes:
  check_mode:
    support: full
    description: The module never changes anything, so it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
options:
  networks:
    description: The networks to look at on this host.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Interface name.
        type: str
        required: true
      key_path:
        description: The private key file of the network.
        type: path
        required: true
      config_dir:
        description: Directory of the wg-quick config C(NAME.conf) (peer names).
        type: path
        default: /etc/wireguard
      port:
        description: The listen port the network will use (checked for another program holding it).
        type: int
  private_keys:
    description: Keys supplied from vault, network name -> private key; validated, never returned.
    type: dict
    default: {}
  public_keys:
    description: Known public keys (public key -> whose), to recognise a public key in a key file.
    type: dict
    default: {}
  resolve:
    description: Host names to resolve here (the endpoints of this host's peers).
    type: list
    elements: str
    default: []
  sysctls:
    description: Sysctls whose current value and writability to report, for example V(net.ipv4.ip_forward).
    type: list
    elements: str
    default: []
  sysctl_file:
    description: The file forwarding settings would be persisted in (its directory is checked).
    type: path
  dirs:
    description: Directories files would be written to (checked for write access and free space).
    type: list
    elements: path
    default: []
  nft:
    description: Check that C(nft) exists and may load rules (C(nft -c)).
    type: bool
    default: false
  verify:
    description:
      - What the role's later tasks would set, checked here so that a host already right is
        contacted once per run. V(interfaces) is a list of the arguments of
        M(meshlab.wireguard.wireguard_interface), one per interface, without preshared keys;
        V(firewall) the arguments of M(meshlab.wireguard.wireguard_firewall).
      - Each is run by that module's own code in check mode (which predicts exactly what it would
        change); the answer is RV(in_sync). Nothing is changed.
    type: dict
    default: {}
  verify_psks:
    description:
      - The preshared keys of O(verify), interface name -> peer public key -> preshared key.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: What can this host do
  meshlab.wireguard.wireguard_probe:
    networks:
      - name: wg0
        key_path: /etc/wireguard/wg0.key
        port: 51820
    sysctls: [net.ipv4.ip_forward]
    nft: true
  register: probe
"""

RETURN = r"""
networks:
  description: Per network name what was found.
  returned: always
  type: dict
  contains:
    key:
      description:
        - The key file - V(state) (V(absent), V(valid), V(invalid), V(unreadable)), V(error),
          V(public_key), V(clamped), V(public_key_of) (set when the file holds a known PUBLIC key),
          V(mode), V(backups) (backup copies next to it).
      type: dict
    supplied:
      description: The same facts of the key supplied from vault, when there is one.
      type: dict
    link:
      description: V(kind) of a link with the network's name (V(null) when there is none) and its V(engine).
      type: dict
    live:
      description:
        - The live interface - V(engine), V(public_key), V(listen_port), V(addresses), V(peers)
          (each V(public_key), V(name), V(endpoint), V(handshake_age) in seconds or V(null)).
        - V(null) when the interface does not run.
      type: dict
    config_names:
      description: Public key -> peer name from the C(# Name =) comments of C(NAME.conf).
      type: dict
    port_problem:
      description: Why the listen port cannot be used (another program holds it), or V(null).
      type: str
in_sync:
  description:
    - What O(verify) found already right - V(interfaces) (interface name -> V(true) when
      M(meshlab.wireguard.wireguard_interface) would change nothing) and V(firewall) (V(true)
      when M(meshlab.wireguard.wireguard_firewall) would change nothing; never for iptables,
      whose chains have their own tasks).
  returned: always
  type: dict
  sample: {"interfaces": {"wg0": true}, "firewall": true}
out_of_sync:
  description: Why each checked part is not in sync (no secrets).
  returned: always
  type: list
  elements: str
  sample: ["wg0: the live interface to change"]
capabilities:
  description:
    - V(net_admin), V(tun), V(kernel_wireguard), V(wireguard_go), V(nacl), V(pyroute2), V(sysctl)
      (name -> value, writable, error), V(sysctl_file), V(dirs) (path -> writable, free_bytes,
      read_only), V(nft) (present, usable, error).
  returned: always
  type: dict
resolved:
  description: Host name -> V(addresses) (and V(error) when it does not resolve).
  returned: always
  type: dict
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshlab.wireguard.plugins.module_utils import _probe, _verify


def main():
    module = AnsibleModule(
        argument_spec={
            'networks': {'type': 'list', 'elements': 'dict', 'default': [], 'options': {
                'name': {'type': 'str', 'required': True},
                'key_path': {'type': 'path', 'required': True, 'no_log': False},
                'config_dir': {'type': 'path', 'default': '/etc/wireguard'},
                'port': {'type': 'int'},
            }},
            'private_keys': {'type': 'dict', 'default': {}, 'no_log': True},
            'public_keys': {'type': 'dict', 'default': {}, 'no_log': False},
            'resolve': {'type': 'list', 'elements': 'str', 'default': []},
            'sysctls': {'type': 'list', 'elements': 'str', 'default': []},
            'sysctl_file': {'type': 'path'},
            'dirs': {'type': 'list', 'elements': 'path', 'default': []},
            'nft': {'type': 'bool', 'default': False},
            'verify': {'type': 'dict', 'default': {}},
            'verify_psks': {'type': 'dict', 'default': {}, 'no_log': True},
        },
        supports_check_mode=True,
    )
    try:
        result = _probe.probe(module.params, module.run_command)
        not_running = [n for n, facts in result['networks'].items() if not facts['link'].get('engine')]
        params = module.params
        result.update(_verify.verify(module, params['verify'], params['verify_psks'], not_running))
    except Exception as exc:
        module.fail_json(msg=f'the probe could not read this host: {exc}', exception=traceback.format_exc())
    for warning in result.pop('warnings'):
        module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
