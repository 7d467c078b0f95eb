# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plan(desired, live) -> Plan: the smallest change that turns the live interface into the desired one.

Pure: no host access. Like `wg syncconf`, peers that are already right are not touched, so their
sessions and counters survive a run. Everything in the Plan is sorted, so the same inputs always
give the same plan (stable check-mode output and diffs).

Comparison rules (documented in docs/ARCHITECTURE.md, "Plan semantics"):
- Peer fields compared: preshared_key, endpoint, allowed_ips (as a set of canonical networks),
  persistent_keepalive. A desired endpoint of None means "no opinion": WireGuard learns an
  endpoint from the peer's handshakes (roaming) and it cannot be cleared without re-creating the
  peer, so a missing desired endpoint never causes a change.
- Device: private_key always; listen_port only when desired is not None; fwmark (0 = off).
- MTU only when the desired MTU is not None.
- Addresses are exact (desired set == live set), except that IPv6 link-local addresses
  (fe80::/10) on the live link are never removed: the kernel may add one to a TUN link.
- Routes: see desired_routes(). With manage_routes=False routes are not looked at at all.
  With exclusive=False the live peers that are kept also keep their routes.
- PeerChange order: removes, then updates, then adds, each sorted by public key.
"""

from __future__ import annotations

import ipaddress
from typing import Dict, FrozenSet, Iterable, List, Optional, Tuple

from ansible_collections.meshlab.wireguard.plugins.module_utils._model import (
    Device,
    Interface,
    Link,
    Peer,
    PeerChange,
    Plan,
    canonical_endpoint,
)

PEER_FIELDS = ('preshared_key', 'endpoint', 'allowed_ips', 'persistent_keepalive')
_LINK_LOCAL_V6 = ipaddress.ip_network('fe80::/10')


def _is_default(net) -> bool:
    return net.prefixlen == 0


def _is_link_local_v6(net) -> bool:
    return net.version == 6 and net.subnet_of(_LINK_LOCAL_V6)


def _net_sort_key(text: str):
    net = ipaddress.ip_network(text, strict=False)
    return (net.version, net.network_address, net.prefixlen)


def _iface_sort_key(text: str):
    iface = ipaddress.ip_interface(text)
    return (iface.version, iface.ip, iface.network.prefixlen)


def routes_for(peers: Iterable[Peer], addresses: Iterable[str]) -> FrozenSet[str]:
    """The routes the link needs for these peers, given the link's own addresses.

    Every allowed-IP network of every peer, except
    - default routes (0.0.0.0/0, ::/0): never installed by this collection; sending all traffic
      into the tunnel needs policy routing the user sets up on purpose;
    - networks inside one of the link's own address prefixes: the kernel's connected route
      (proto kernel) already covers them (100.64.0.0/24 on the link covers peer 100.64.0.2/32).
    """
    own = []
    for addr in addresses:
        own.append(ipaddress.ip_interface(addr).network)
    own_v4 = [n for n in own if n.version == 4]
    own_v6 = [n for n in own if n.version == 6]
    out = set()
    seen = set()
    for peer in peers:
        for text in peer.allowed_ips:
            if text in seen:
                continue
            seen.add(text)
            net = ipaddress.ip_network(text, strict=False)
            if _is_default(net):
                continue
            candidates = own_v4 if net.version == 4 else own_v6
            if any(net.subnet_of(o) for o in candidates):
                continue
            out.add(str(net))
    return frozenset(out)


def desired_routes(interface: Interface) -> FrozenSet[str]:
    """Routes via the link that `interface` (desired) implies: routes_for(its peers, its addresses).

    Canonical destination networks; default routes and networks covered by the interface's own
    address prefixes are left out (see routes_for).
    """
    return routes_for(interface.device.peers.values(), interface.link.addresses)


def _endpoint_key(endpoint: Optional[str]) -> Optional[str]:
    if endpoint is None:
        return None
    try:
        return canonical_endpoint(endpoint)
    except ValueError:
        return endpoint


def peer_diff(desired: Peer, live: Peer) -> Tuple[str, ...]:
    """The Peer fields in which live differs from desired (see the module docstring)."""
    fields = []
    if (desired.preshared_key or None) != (live.preshared_key or None):
        fields.append('preshared_key')
    if desired.endpoint is not None and _endpoint_key(desired.endpoint) != _endpoint_key(live.endpoint):
        fields.append('endpoint')
    if desired.allowed_ips != live.allowed_ips and set(desired.allowed_ips) != set(live.allowed_ips):
        fields.append('allowed_ips')
    if int(desired.persistent_keepalive or 0) != int(live.persistent_keepalive or 0):
        fields.append('persistent_keepalive')
    return tuple(fields)


def _peer_changes(desired: Dict[str, Peer], live: Dict[str, Peer], exclusive: bool) -> Tuple[PeerChange, ...]:
    removes: List[PeerChange] = []
    updates: List[PeerChange] = []
    adds: List[PeerChange] = []
    if exclusive:
        for key in sorted(live):
            if key not in desired:
                removes.append(PeerChange('remove', key))
    for key in sorted(desired):
        want = desired[key]
        have = live.get(key)
        if have is None:
            adds.append(PeerChange('add', key, want))
            continue
        if want is have:
            continue
        fields = peer_diff(want, have)
        if fields:
            updates.append(PeerChange('update', key, want, fields))
    return tuple(removes + updates + adds)


def _device_changes(desired: Device, live: Device) -> Dict[str, object]:
    out: Dict[str, object] = {}
    if desired.private_key is not None and desired.private_key != live.private_key:
        out['private_key'] = desired.private_key
    if desired.listen_port is not None and desired.listen_port != live.listen_port:
        out['listen_port'] = desired.listen_port
    want_mark = int(desired.fwmark or 0)
    if want_mark != int(live.fwmark or 0):
        out['fwmark'] = want_mark
    return out


def plan(desired: Optional[Interface], live: Optional[Interface], exclusive: bool = True,
         manage_routes: bool = True) -> Plan:
    """The smallest Plan that turns `live` into `desired`.

    desired None means state=absent: Plan(delete=True) when the link exists, else an empty plan.
    live None (or a live Link with exists=False) means the link is created: create=True and every
    desired item appears as an add. exclusive=False keeps live peers that desired does not list
    (and their routes). manage_routes=False leaves routes alone.
    """
    if live is not None and not live.link.exists:
        live = None
    if desired is None:
        name = live.name if live is not None else ''
        return Plan(name=name, delete=live is not None)

    create = live is None
    if create:
        live = Interface(desired.name, Device(), Link(exists=False, mtu=None, up=False))

    dev_changes = _device_changes(desired.device, live.device)
    peer_changes = _peer_changes(desired.device.peers, live.device.peers, exclusive)

    mtu = None
    if desired.link.mtu is not None and (create or desired.link.mtu != live.link.mtu):
        mtu = int(desired.link.mtu)

    want_addrs = set(desired.link.addresses)
    have_addrs = set(live.link.addresses)
    addresses_add = sorted(want_addrs - have_addrs, key=_iface_sort_key)
    addresses_remove = sorted(
        (a for a in have_addrs - want_addrs
         if not _is_link_local_v6(ipaddress.ip_interface(a).network)),
        key=_iface_sort_key,
    )

    routes_add: List[str] = []
    routes_remove: List[str] = []
    if manage_routes:
        peers = list(desired.device.peers.values())
        if not exclusive:
            peers.extend(p for k, p in live.device.peers.items() if k not in desired.device.peers)
        want_routes = routes_for(peers, desired.link.addresses)
        have_routes = set(live.link.routes)
        routes_add = sorted(want_routes - have_routes, key=_net_sort_key)
        routes_remove = sorted(
            (r for r in have_routes - want_routes
             if not _is_link_local_v6(ipaddress.ip_network(r, strict=False))),
            key=_net_sort_key,
        )

    return Plan(
        name=desired.name,
        create=create,
        device=dev_changes,
        peers=peer_changes,
        mtu=mtu,
        addresses_add=tuple(addresses_add),
        addresses_remove=tuple(addresses_remove),
        routes_add=tuple(routes_add),
        routes_remove=tuple(routes_remove),
        set_up=bool(desired.link.up and (create or not live.link.up)),
    )
