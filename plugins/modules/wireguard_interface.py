#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wireguard_interface
short_description: Reconcile a live WireGuard interface, its addresses, routes and wg-quick config
version_added: 0.2.0
description:
  - Makes a WireGuard interface on the managed host match the options (private key, listen
    port, firewall mark, peers, MTU, addresses and routes). The live interface is read, the
    smallest set of changes is worked out (the "plan", like C(wg syncconf) but including
    addresses, MTU and routes), applied once, and the interface is read again to verify that it
    now matches. If it does not, the task fails and returns what is still different. A peer that
    roams (see O(peers[].endpoint)) is not a difference, neither in the plan nor in this check.
  - Peers that are already right are not touched, so their sessions, handshakes and counters
    survive a run. Adding, changing or removing one peer never disturbs the others.
  - Two engines. V(kernel) drives in-kernel WireGuard over netlink (pyroute2). V(userspace) runs
    C(wireguard-go) and speaks its UAPI socket; it needs no kernel module and no C(wg) binary.
  - Also writes the C(wg-quick) configuration O(config_path) (mode C(0600), directory C(0700),
    atomically, only when its content changes), so C(wg-quick up) and C(wg-quick@NAME.service)
    bring up the same interface after a reboot, and enables that unit where systemd runs.
  - Check mode reports exactly the plan a real run would execute. Secrets (the private key and
    preshared keys) never appear in the result, the diff or error messages.
author:
  - meshlab.wireguard contributors (@meshlab)
requirements:
  - pyroute2 on the managed host (Debian/Ubuntu package C(python3-pyroute2); 0.7.x and 0.9.x work).
  - PyNaCl on the managed host to derive the public key (Debian/Ubuntu package C(python3-nacl)).
  - For O(engine=userspace) (or V(auto) on a kernel without WireGuard) the C(wireguard-go) program
    (Debian/Ubuntu package C(wireguard-go)).
options:
  name:
    description:
      - The interface name, for example V(wg0). 1 to 15 characters from C(A-Z a-z 0-9 _ = + . -),
        the names C(wg-quick) accepts.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the interface. V(absent) deletes it (for the userspace
        engine its C(wireguard-go) process ends too), disables C(wg-quick@NAME) and removes
        O(config_path) (when O(persist=true)).
    type: str
    choices: [present, absent]
    default: present
  engine:
    description:
      - V(kernel) uses in-kernel WireGuard, V(userspace) runs C(wireguard-go).
      - V(auto) keeps the engine of an existing interface; for a new one it uses the kernel when a
        WireGuard link can be created (a probe link is created and deleted at once), else
        C(wireguard-go).
      - An existing interface of the other engine is an error; delete it first with O(state=absent).
    type: str
    choices: [auto, kernel, userspace]
    default: auto
  private_key_path:
    description:
      - File on the managed host holding the interface's private key (base64, as C(wg genkey)
        writes it; see M(meshlab.wireguard.wireguard_key)). Recommended over O(private_key),
        since the key never leaves the host.
      - One of O(private_key_path) and O(private_key) is required with O(state=present).
    type: path
  private_key:
    description:
      - The private key itself (base64). Prefer O(private_key_path); when you use this, take the
        value from Ansible Vault.
    type: str
  listen_port:
    description:
      - UDP port to listen on, 1 to 65535.
      - When not set, the port of an existing interface is kept; a new one gets a random port.
        Set it on every host that others reach through an endpoint.
    type: int
  fwmark:
    description:
      - Firewall mark set on outgoing WireGuard packets; V(0) (the default) means none.
      - A number, or a string such as V(0x1f).
    type: str
  mtu:
    description:
      - Link MTU, 576 to 65455 (at least 1280 with an IPv6 address). When not set the MTU is left
        as it is (1420 for a new interface).
    type: int
  addresses:
    description:
      - Addresses of the interface in CIDR form, for example V(100.64.0.1/24) and
        V(fd3a:6c1e:9b42:100::1/64). Addresses on the link that are not listed are removed
        (IPv6 link-local addresses excepted). IPv6 addresses are added without duplicate address
        detection, so they work at once.
    type: list
    elements: str
    default: []
  peers:
    description:
      - The peers. With O(exclusive=true) (the default) live peers that are not listed are removed.
    type: list
    elements: dict
    default: []
    suboptions:
      public_key:
        description: The peer's public key (base64).
        type: str
        required: true
      name:
        description:
          - A friendly name. Written as a C(# name = ...) comment in O(config_path) (which
            M(meshlab.wireguard.wireguard_info) reports) and used in error messages.
        type: str
      preshared_key_path:
        description:
          - File on the managed host holding the preshared key for this peer (one key per pair of
            peers; see M(meshlab.wireguard.wireguard_key) with C(type=preshared)).
        type: path
      preshared_key:
        description: The preshared key itself (base64). Prefer O(peers[].preshared_key_path).
        type: str
      endpoint:
        description:
          - Where the peer listens, V(host:port) or V([ipv6]:port). A host name is resolved on the
            managed host at each run and the address is set (WireGuard keeps only addresses).
          - This is where the peer B(starts). WireGuard moves a peer's endpoint to the source
            address of its latest authenticated packet (roaming), for example to the peer's IPv6
            address when the peer dials this host over IPv6 while this host has its IPv4 address.
            A live endpoint that differs from this one is only changed back when it is not a roam.
            It is a roam (left alone, reported in RV(roamed)) when the peer has a fresh handshake
            (younger than 180 seconds, so a session is live) and the live endpoint is not the one this
            module configured last time (read from O(config_path); without that file, or for a
            peer not in it, this module never set the endpoint, so a fresh handshake decides).
          - Without a live session (stale or no handshake) the endpoint is set again, so the next
            handshake starts here. Changing the endpoint in your inventory (a value other than the
            one in O(config_path)) is always applied.
          - When not set, the endpoint the peer is seen from (roaming) is left as it is.
        type: str
      allowed_ips:
        description:
          - Networks routed to this peer and accepted from it, for example V(100.64.0.2/32).
            Host bits are cleared. A network may belong to one peer only.
        type: list
        elements: str
        default: []
      persistent_keepalive:
        description: Seconds between keepalive packets, 0 (the default) for none. Use 25 behind NAT.
        type: int
        default: 0
      previous_public_key:
        description:
          - The key this peer had before, when its key was changed on purpose (the role takes it
            from the registry). A live peer of the same O(peers[].name) with this key and a fresh
            handshake may then be replaced; see O(protect_live_peers).
        type: str
        version_added: 0.3.0
  missing_peers:
    description:
      - Names of peers this interface is expected to have that have no public key yet (the role
        passes the members without a key in the registry). A live peer with one of these names is
        never removed; see O(protect_live_peers).
    type: list
    elements: str
    default: []
    version_added: 0.3.0
  protect_live_peers:
    description:
      - Before any change (also in check mode), fail instead of applying a plan that would remove
        a live peer named in O(missing_peers) (its key was lost, not revoked), or that would remove
        or replace a live peer with a fresh handshake (younger than 180 s) whose name is still one
        of O(peers[].name), unless the new key's O(peers[].previous_public_key) is the live key.
      - Peers are known by name from the C(# Name =) comments of O(config_path); unnamed peers and
        peers whose name is not expected any more are removed as usual.
    type: bool
    default: true
    version_added: 0.3.0
  exclusive:
    description:
      - When true, live peers that are not in O(peers) are removed. When false they are kept, with
        their routes.
    type: bool
    default: true
  manage_routes:
    description:
      - When true, the main routing table gets a route through the interface for every allowed-IP
        network of every peer, except default routes (V(0.0.0.0/0), V(::/0); those need policy
        routing you set up on purpose) and networks already covered by the interface's own
        address prefixes. Other routes through the interface in the main table are removed.
      - When false, routes are not looked at, and the config file says C(Table = off).
    type: bool
    default: true
  persist:
    description:
      - Write the C(wg-quick) configuration O(config_path) (and with O(state=absent) remove it).
    type: bool
    default: true
  config_path:
    description:
      - The C(wg-quick) configuration file. Default V(/etc/wireguard/NAME.conf), the file
        C(wg-quick up NAME) and C(wg-quick@NAME.service) read.
      - Written atomically with mode C(0600) (the directory is created with mode C(0700)) and only
        when its content changes. It holds the preshared keys, and the private key unless
        O(private_key_path) is given (then C(PostUp = wg set %i private-key PATH) loads the key
        from that file, which must exist at C(wg-quick up) time).
    type: path
  backup:
    description:
      - Keep a timestamped copy of O(config_path) before it is replaced or removed. The copy holds
        the old keys.
    type: bool
    default: false
  systemd:
    description:
      - V(auto) hands the interface over to C(wg-quick@NAME.service) where systemd runs
        (C(/run/systemd/system) exists), so it comes back after a reboot. A drop-in
        (C(/etc/systemd/system/wg-quick@NAME.service.d/meshlab-wireguard.conf)) lets the unit start
        on top of the live interface without touching it, and the unit is enabled and started.
        C(systemctl restart wg-quick@NAME) then works as usual. V(yes) does the same and fails where
        systemd does not run. V(no) leaves systemd alone.
      - Only with O(persist=true). With O(state=absent) the unit is stopped and disabled and the
        drop-in removed.
      - The unit is never restarted; this module already configured the live interface.
    type: str
    choices: [auto, 'yes', 'no']
    default: auto
  apply_signal:
    description:
      - Apply at an instant the controller sends, once every host taking part is ready. The module
        checks the inputs, reads the live state and plans, removes an O(apply_signal) left by an
        earlier run, writes O(apply_signal)C(.)O(name)C(.ready), and waits for O(apply_signal) to
        hold a wall-clock time (seconds since the epoch); it applies at that time (at once when it
        is past), writes the files and verifies. Several interfaces of a host may share one
        O(apply_signal); the caller removes the files afterwards.
      - Without a signal within O(apply_timeout) nothing is applied and the task fails.
      - The playbook C(meshlab.wireguard.rotate) uses it (with C(async)) to switch a rotating host's
        key just before its peers replace the old key. The clocks of the hosts must be in sync (NTP).
      - Not used in check mode.
    type: path
  apply_timeout:
    description: Seconds to wait for O(apply_signal).
    type: float
    default: 120
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Reports the exact plan a real run would execute, the config file change and the unit
        change. The engine probe (O(engine=auto), no interface yet) creates and deletes a
        temporary link also in check mode.
  diff_mode:
    support: full
    details:
      - Shows the interface before and after (public keys, ports, peers, addresses, routes) and
        the config file with the private key and preshared keys replaced by markers.
  platform:
    support: full
    platforms: posix
notes:
  - B(What is compared.) Private key, listen port (when set), fwmark; per peer the preshared key,
    endpoint (when set; a roam is not a difference), allowed IPs and keepalive; MTU (when set),
    addresses, up, and routes (with O(manage_routes=true)). Handshakes and counters are only reported.
  - B(Endpoints cannot be removed.) WireGuard has no way to clear a peer's endpoint, so removing
    O(peers[].endpoint) from a peer does not change the live interface.
  - B(Endpoint roaming is not drift.) A peer with a live session whose endpoint moved (see
    O(peers[].endpoint)) does not make the task changed, and does not fail the verification after
    a change when it moves between applying and re-reading. With O(persist=false) there is no
    record of the endpoints configured last time, so a differing endpoint of a peer with a live
    session is always taken as a roam; an endpoint set by hand (C(wg set)) on such a peer looks
    the same and is reset only once its session goes stale.
  - B(wg-quick@NAME.service) is enabled but not started; if it is started while the interface
    already exists, C(wg-quick up) fails ("already exists"). After a reboot it creates the
    interface from O(config_path).
  - Drift is healed on the next run. A peer removed by hand, a deleted interface, a killed
    C(wireguard-go) (its leftover socket is treated as absent) are all reported by check mode and
    repaired by a real run.
seealso:
  - module: meshlab.wireguard.wireguard_key
  - module: meshlab.wireguard.wireguard_info
  - name: wg(8)
    description: The WireGuard configuration tool; C(wg syncconf) is the model for the plan.
    link: https://git.zx2c4.com/wireguard-tools/about/src/man/wg.8
  - name: wg-quick(8)
    description: The format of O(config_path).
    link: https://git.zx2c4.com/wireguard-tools/about/src/man/wg-quick.8
"""

EXAMPLES = r"""
- name: Key for wg0
  meshlab.wireguard.wireguard_key:
    path: /etc/wireguard/wg0.key
  register: wg0_key

- name: The preshared key this host shares with the laptop (copy it to the laptop's config)
  meshlab.wireguard.wireguard_key:
    path: /etc/wireguard/psk/laptop.psk
    type: preshared

- name: wg0 with two peers
  meshlab.wireguard.wireguard_interface:
    name: wg0
    private_key_path: /etc/wireguard/wg0.key
    listen_port: 51820
    addresses:
      - 100.64.0.1/24
      - fd3a:6c1e:9b42:100::1/64
    peers:
      - name: h2
        public_key: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
        endpoint: 198.51.100.12:51820
        allowed_ips: [100.64.0.2/32, "fd3a:6c1e:9b42:100::2/128"]
      - name: laptop
        public_key: TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=
        preshared_key_path: /etc/wireguard/psk/laptop.psk
        allowed_ips: [100.64.0.10/32, 10.20.0.0/24]
        persistent_keepalive: 25
  register: wg0

- name: Show what changed (keys redacted)
  ansible.builtin.debug:
    var: wg0.plan

- name: Key for wg1
  meshlab.wireguard.wireguard_key:
    path: /etc/wireguard/wg1.key

- name: Force the userspace engine, leave routes and systemd alone
  meshlab.wireguard.wireguard_interface:
    name: wg1
    engine: userspace
    private_key_path: /etc/wireguard/wg1.key
    addresses: [100.64.1.1/24]
    manage_routes: false
    systemd: "no"

- name: Add a peer without removing the peers configured elsewhere
  meshlab.wireguard.wireguard_interface:
    name: wg0
    private_key_path: /etc/wireguard/wg0.key
    addresses: [100.64.0.1/24]
    exclusive: false
    peers:
      - public_key: HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=
        allowed_ips: [100.64.0.20/32]

- name: Remove wg1, its config file and its unit
  meshlab.wireguard.wireguard_interface:
    name: wg1
    state: absent
"""

RETURN = r"""
applied_at:
  description: The wall-clock time at which the change was applied (seconds since the epoch).
  returned: when a change was applied (not in check mode)
  type: float
apply_late:
  description: How many seconds after the time in O(apply_signal) the change was applied (0 when on time).
  returned: when O(apply_signal) was given and a change was applied
  type: float
engine:
  description:
    - The engine that manages the interface, V(kernel) or V(userspace).
    - V(null) with O(state=absent) when there was no interface.
  returned: always
  type: str
  sample: userspace
public_key:
  description: The interface's public key (derived from its private key).
  returned: when O(state=present)
  type: str
  sample: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
plan:
  description:
    - The changes made (in check mode, the changes a real run would make), secrets redacted.
      All lists are empty and all flags false when nothing changed.
  returned: always
  type: dict
  contains:
    create:
      description: The interface is created.
      type: bool
    delete:
      description: The interface is deleted.
      type: bool
    device:
      description: Device fields set (V(private_key) shown as V(<changed>)), V(listen_port), V(fwmark).
      type: dict
    peers:
      description:
        - Peer changes, each with C(action) (add, update, remove), C(public_key),
          C(fields) (update), C(peer) (add, update; preshared key shown as V(<set>)).
        - In plan order (removes, updates, adds, each sorted by public key), at most the first 20;
          RV(plan.counts) has the full numbers and RV(plan.truncated) says whether the list was cut.
      type: list
      elements: dict
    mtu:
      description: The MTU set, or V(null).
      type: int
    addresses_add:
      description: Addresses added.
      type: list
      elements: str
    addresses_remove:
      description: Addresses removed.
      type: list
      elements: str
    routes_add:
      description: Routes added (destination networks through the interface), at most the first 20.
      type: list
      elements: str
    routes_remove:
      description: Routes removed, at most the first 20.
      type: list
      elements: str
    set_up:
      description: The link is set up.
      type: bool
    counts:
      description:
        - The full numbers behind the bounded lists, C(peers_add), C(peers_update), C(peers_remove),
          C(routes_add) and C(routes_remove).
      type: dict
    truncated:
      description:
        - Whether RV(plan.peers), RV(plan.routes_add) or RV(plan.routes_remove) hold fewer entries
          than RV(plan.counts) (more than 20 changes of one kind). A large result is slow (Ansible
          scans every value of a result for secrets).
      type: bool
  sample:
    create: false
    delete: false
    device: {}
    peers:
      - action: add
        public_key: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
        peer:
          public_key: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
          preshared_key: null
          endpoint: 198.51.100.12:51820
          allowed_ips: [100.64.0.2/32]
          persistent_keepalive: 0
    mtu: null
    addresses_add: []
    addresses_remove: []
    routes_add: []
    routes_remove: []
    set_up: false
    counts: {peers_add: 1, peers_update: 0, peers_remove: 0, routes_add: 0, routes_remove: 0}
    truncated: false
config_path:
  description: The C(wg-quick) configuration file.
  returned: always
  type: str
  sample: /etc/wireguard/wg0.conf
config_changed:
  description: Whether O(config_path) was (or in check mode would be) written or removed.
  returned: always
  type: bool
  sample: false
unit:
  description: The systemd unit handled, or V(null) when systemd is not used.
  returned: always
  type: str
  sample: wg-quick@wg0.service
unit_changed:
  description: Whether the unit or its drop-in was (or in check mode would be) changed; see RV(unit_actions).
  returned: always
  type: bool
  sample: false
unit_actions:
  description:
    - What was (or in check mode would be) done to the unit, in order; V(dropin) writes the drop-in,
      V(remove-dropin) removes it (both followed by C(systemctl daemon-reload)).
  returned: always
  type: list
  elements: str
  sample: [dropin, enable, start]
roamed:
  description:
    - Peers whose live endpoint differs from O(peers[].endpoint) because they roamed (see there);
      they are tolerated, not changed. Found by the plan (also in check mode) and, after a change, by the
      verification. Sorted by public key; empty when none.
  returned: always
  type: list
  elements: dict
  contains:
    public_key:
      description: The peer's public key.
      type: str
    configured:
      description: The endpoint from O(peers[].endpoint) (resolved).
      type: str
    live:
      description: The endpoint WireGuard uses now.
      type: str
  sample:
    - public_key: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
      configured: 198.51.100.11:51820
      live: "[fd3a:6c1e:9b42:1::11]:51820"
backup_file:
  description: The copy of O(config_path) made because of O(backup=true).
  returned: when O(config_path) was replaced or removed with O(backup=true), outside check mode
  type: str
  sample: /etc/wireguard/wg0.conf.2841.2026-01-01@12:00:00~
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meshlab.wireguard.plugins.module_utils import _iproute, _keys
from ansible_collections.meshlab.wireguard.plugins.module_utils._interface_backend import (
    InterfaceBackend,
    argument_spec,
)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not _iproute.HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib(_iproute.PYROUTE2_REQUIREMENT),
                         exception=_iproute.PYROUTE2_IMPORT_ERROR)
    if module.params['state'] == 'present' and not _keys.HAS_NACL:
        module.fail_json(msg=missing_required_lib(_keys.NACL_REQUIREMENT), exception=_keys.NACL_IMPORT_ERROR)
    InterfaceBackend(module).run()


if __name__ == '__main__':
    main()
