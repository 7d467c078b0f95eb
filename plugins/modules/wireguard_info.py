#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wireguard_info
short_description: Read the live WireGuard interfaces of a host, their peers, handshakes and counters
version_added: 0.2.0
description:
  - Lists every WireGuard interface of the managed host (or only O(name)), whichever engine runs
    it, and reports its public key, listen port, addresses and, per peer, the endpoint, allowed
    IPs, latest handshake, bytes received and sent, keepalive and a status.
  - Kernel interfaces are links of kind C(wireguard), read over netlink. Userspace interfaces are
    TUN links whose C(wireguard-go) UAPI socket C(/var/run/wireguard/NAME.sock) answers.
  - A peer's V(status) is V(up) when its latest handshake is younger than 180 seconds (WireGuard
    renews the session every 2 minutes while traffic flows), V(stale) when older, V(never)
    without a handshake. An idle peer without keepalive becomes V(stale) while the link is fine.
  - Friendly peer names come from the C(# name = ...) comments that
    M(meshlab.wireguard.wireguard_interface) writes into C(O(config_dir)/NAME.conf).
  - Never returns a secret. The private key is only used to derive the public key; preshared
    keys are not reported at all.
author:
  - meshlab.wireguard contributors (@meshlab)
requirements:
  - pyroute2 on the managed host (Debian/Ubuntu package C(python3-pyroute2)).
  - PyNaCl on the managed host to derive the public key (Debian/Ubuntu package C(python3-nacl)).
options:
  name:
    description:
      - Report only this interface. When it does not exist, RV(interfaces) is empty (the task
        does not fail).
      - Default is every WireGuard interface of the host.
    type: str
  config_dir:
    description:
      - Directory of the C(wg-quick) configuration files, C(NAME.conf), read for the peer names.
        A missing or unreadable file only means no names.
    type: path
    default: /etc/wireguard
  require:
    description:
      - Interfaces that must be running. The task fails, naming each missing one and the fix, when
        one is not (for example a C(wireguard-go) that exited after it was configured).
    type: list
    elements: str
    default: []
    version_added: 0.3.0
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads, so check mode changes nothing in its behaviour.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
seealso:
  - module: meshlab.wireguard.wireguard_interface
  - module: meshlab.wireguard.wireguard_ping
"""

EXAMPLES = r"""
- name: Read every WireGuard interface
  meshlab.wireguard.wireguard_info:
  register: wg

- name: Show peers of wg0 that are not up
  ansible.builtin.debug:
    msg: "{{ wg.interfaces.wg0.peers | rejectattr('status', 'eq', 'up') | map(attribute='name') }}"
  when: "'wg0' in wg.interfaces"

- name: Only wg0
  meshlab.wireguard.wireguard_info:
    name: wg0
  register: wg0

- name: Fail unless wg0 is running (after a play that configured it)
  meshlab.wireguard.wireguard_info:
    require: [wg0]
"""

RETURN = r"""
interfaces:
  description: The interfaces by name. Empty when there is none (or O(name) does not exist).
  returned: always
  type: dict
  contains:
    engine:
      description: V(kernel) or V(userspace).
      type: str
    public_key:
      description: The interface's public key, V(null) when no private key is set.
      type: str
    listen_port:
      description: The UDP port it listens on.
      type: int
    fwmark:
      description: Firewall mark, 0 for none.
      type: int
    addresses:
      description: Addresses of the link (IPv6 link-local left out).
      type: list
      elements: str
    mtu:
      description: The link MTU.
      type: int
    up:
      description: Whether the link is up.
      type: bool
    key_age:
      description:
        - Seconds since the interface's private key file was written (the key file named in its
          C(wg-quick) config in O(config_dir), as M(meshlab.wireguard.wireguard_interface) writes
          it); a key rotation writes a new file. V(null) when there is no such config or file.
      type: int
      version_added: 0.3.0
    peers:
      description: The peers, named ones first (by name), then by public key.
      type: list
      elements: dict
      contains:
        public_key:
          description: The peer's public key.
          type: str
        name:
          description: Friendly name from the config file comment, V(null) when unknown.
          type: str
        endpoint:
          description: V(ip:port) or V([ipv6]:port) the peer is sent to, V(null) when unknown.
          type: str
        allowed_ips:
          description: Networks routed to and accepted from the peer.
          type: list
          elements: str
        latest_handshake:
          description: UNIX time of the latest handshake, 0 for never.
          type: int
        handshake_age:
          description: Seconds since the latest handshake (host clock), V(null) for never.
          type: int
        rx_bytes:
          description: Bytes received from the peer.
          type: int
        tx_bytes:
          description: Bytes sent to the peer.
          type: int
        persistent_keepalive:
          description: Keepalive interval in seconds, 0 for off.
          type: int
        status:
          description: V(up) (handshake younger than 180 s), V(stale) or V(never).
          type: str
  sample:
    wg0:
      engine: userspace
      public_key: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
      listen_port: 51820
      fwmark: 0
      addresses: [100.64.0.1/24]
      mtu: 1420
      up: true
      key_age: 864000
      peers:
        - public_key: HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=
          name: h2
          endpoint: 198.51.100.12:51820
          allowed_ips: [100.64.0.2/32]
          latest_handshake: 1767225600
          handshake_age: 12
          rx_bytes: 3228
          tx_bytes: 3532
          persistent_keepalive: 25
          status: up
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meshlab.wireguard.plugins.module_utils import _info, _iproute, _keys


def main():
    module = AnsibleModule(
        argument_spec={
            'name': {'type': 'str'},
            'config_dir': {'type': 'path', 'default': _info.CONFIG_DIR},
            'require': {'type': 'list', 'elements': 'str', 'default': []},
        },
        supports_check_mode=True,
    )
    if not _iproute.HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib(_iproute.PYROUTE2_REQUIREMENT),
                         exception=_iproute.PYROUTE2_IMPORT_ERROR)
    if not _keys.HAS_NACL:
        module.fail_json(msg=missing_required_lib(_keys.NACL_REQUIREMENT), exception=_keys.NACL_IMPORT_ERROR)

    def factory(kind):
        from ansible_collections.meshlab.wireguard.plugins.module_utils._engines import make_engine

        return make_engine(kind)

    try:
        interfaces, warnings = _info.gather(module.params['name'], module.params['config_dir'], factory)
    except Exception as exc:
        module.fail_json(msg=f'cannot list the WireGuard interfaces: {exc}', exception=traceback.format_exc())
    for warning in warnings:
        module.warn(warning)
    gone = [n for n in module.params['require'] if n not in interfaces]
    if gone:
        module.fail_json(
            msg=f'{", ".join(gone)} is not running although it was configured in this run (a wireguard-go '
                'that exited, or a link removed meanwhile): run the play again to bring it back, and find '
                'out what stopped it (journalctl, dmesg)', missing=gone, interfaces=interfaces)
    module.exit_json(changed=False, interfaces=interfaces)


if __name__ == '__main__':
    main()
