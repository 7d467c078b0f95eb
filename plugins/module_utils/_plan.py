# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plan(desired, live, ...) -> Plan: the smallest change that turns the live interface into the desired one.

Pure: no host access. Like `wg syncconf`, peers that are already right are not touched, so their
sessions and counters survive a run. Everything in the Plan is sorted, so the same inputs always
give the same plan (stable check-mode output and diffs).

Comparison rules (documented in docs/ARCHITECTURE.md, "Plan semantics"):
- Peer fields compared: preshared_key, endpoint, allowed_ips (as a set of canonical networks),
  persistent_keepalive. A desired endpoint of None means "no opinion": WireGuard learns an
  endpoint from the peer's handshakes (roaming) and it cannot be cleared without re-creating the
  peer, so a missing desired endpoint never causes a change.
- Endpoint roaming (endpoint_roams): a configured endpoint is where a peer starts. WireGuard
  moves a peer's endpoint to the source address of its latest authenticated packet, so a live
  endpoint that differs from the desired one is a change only when it is not a roam. It is a
  roam (left alone, listed in Plan.roamed) when
  1. the peer has a fresh handshake (latest_handshake younger than HANDSHAKE_FRESH_SECONDS at
     `now`: without a live session nothing can have roamed), and
  2. the live endpoint is not the one this module configured last time (`previous_endpoints`,
     read from the wg-quick config it wrote), and
  3. the user did not change the endpoint: a desired endpoint that differs from the previously
     configured one (including "none configured before") is always applied.
  With no previous configuration for the peer (no config file, or the peer is not in it) the
  module never set this endpoint, so rule 2 holds and a fresh handshake decides. A stale or
  missing handshake, or a live peer without an endpoint, is a change: the configured endpoint is
  set again so the next handshake starts there. `now=None` (no clock) disables the tolerance.
- Device: private_key always; listen_port only when desired is not None; fwmark (0 = off).
- MTU only when the desired MTU is not None.
- Addresses are exact (desired set == live set), except that IPv6 link-local addresses
  (fe80::/10) on the live link are never removed: the kernel may add one to a TUN link.
- Routes: see desired_routes(). With manage_routes=False routes are not looked at at all.
  With exclusive=False the live peers that are kept also keep their routes.
- PeerChange order: removes, then updates, then adds, each sorted by public key.

predict(desired, live, ...) is the interface once the plan is applied (the diff's "after"); it
uses the same rules (endpoint_applies, resulting_peers, routes_for), so plan and prediction agree.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import Dict, FrozenSet, Iterable, List, Optional, Tuple

from ansible_collections.meshlab.wireguard.plugins.module_utils._model import (
    HANDSHAKE_FRESH_SECONDS,
    Device,
    Interface,
    Link,
    Peer,
    PeerChange,
    PeerStats,
    Plan,
    Roam,
    canonical_endpoint,
    network,
)

PEER_FIELDS = ('preshared_key', 'endpoint', 'allowed_ips', 'persistent_keepalive')
_LINK_LOCAL_V6 = ipaddress.ip_network('fe80::/10')


def _is_default(net) -> bool:
    return net.prefixlen == 0


def _is_link_local_v6(net) -> bool:
    return net.version == 6 and net.subnet_of(_LINK_LOCAL_V6)


def _net_sort_key(text: str):
    net = network(text)
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
            net = network(text)
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


def handshake_fresh(stats: Optional[PeerStats], now: Optional[float]) -> bool:
    """Whether the peer has a live session at `now`: a handshake younger than HANDSHAKE_FRESH_SECONDS.

    False without a clock (now None) or without a handshake (latest_handshake 0). A handshake
    later than `now` (clock stepped back, or `now` read before the handshake) counts as fresh.
    Same limit as wireguard_info's status 'up'.
    """
    if now is None or stats is None:
        return False
    latest = int(stats.latest_handshake or 0)
    if latest <= 0:
        return False
    return max(0.0, float(now) - latest) < HANDSHAKE_FRESH_SECONDS


def endpoint_roams(desired: Optional[Interface], live: Optional[Interface],
                   previous_endpoints: Optional[Dict[str, Optional[str]]] = None,
                   now: Optional[float] = None) -> Dict[str, Roam]:
    """{public_key: Roam} for the desired peers whose differing live endpoint is a roam.

    previous_endpoints: {public_key: endpoint or None} as this module configured them last time
    (_wgquick.parse_endpoints of the existing config; None when there is no previous config).
    now: epoch seconds the live stats are judged at; None disables the tolerance (empty result).
    The rule is in the module docstring ("Endpoint roaming").
    """
    out: Dict[str, Roam] = {}
    if desired is None or live is None or now is None:
        return out
    for key in sorted(desired.device.peers):
        want = desired.device.peers[key]
        have = live.device.peers.get(key)
        if have is None or want.endpoint is None or have.endpoint is None:
            continue  # an add; no opinion; or nothing learnt (roaming always leaves an endpoint)
        want_ep = _endpoint_key(want.endpoint)
        live_ep = _endpoint_key(have.endpoint)
        if live_ep == want_ep:
            continue
        if not handshake_fresh(live.device.stats.get(key), now):
            continue  # no session: nothing roamed, the configured endpoint is set again
        # Configured last time (key in previous_endpoints)? prev != want: the user changed the
        # endpoint (or set one where there was none): always applied. prev == want: then
        # live != prev, the live endpoint is not the one this module set: a roam. Not configured
        # by this module before (no config, or the peer is not in it): a roam as well.
        configured_before = previous_endpoints is not None and key in previous_endpoints
        if configured_before and _endpoint_key(previous_endpoints[key]) != want_ep:
            continue
        out[key] = Roam(key, str(want.endpoint), str(have.endpoint))
    return out


def endpoint_applies(want: Peer, roamed: bool) -> bool:
    """Whether the desired endpoint is set on a live peer that differs: not when there is none
    (no opinion) and not for a roam (the live endpoint is left alone)."""
    return want.endpoint is not None and not roamed


def resulting_peers(desired: Dict[str, Peer], live: Dict[str, Peer], exclusive: bool,
                    roamed: Iterable[str] = ()) -> Dict[str, Peer]:
    """{public_key: Peer} the interface has once the plan is applied.

    The desired peers (a live endpoint the plan leaves alone is kept: see endpoint_applies), and
    with exclusive=False also the live peers desired does not list. ROAMED: public keys of roams.
    """
    roamed = set(roamed)
    peers = {}
    for key, peer in desired.items():
        have = live.get(key)
        if have is not None and have.endpoint and not endpoint_applies(peer, key in roamed):
            peer = replace(peer, endpoint=have.endpoint)
        peers[key] = peer
    if not exclusive:
        for key, peer in live.items():
            peers.setdefault(key, peer)
    return peers


def _peer_changes(desired: Dict[str, Peer], live: Dict[str, Peer], exclusive: bool,
                  roamed: Optional[Dict[str, Roam]] = None) -> Tuple[PeerChange, ...]:
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
        if not endpoint_applies(want, bool(roamed) and key in roamed):
            fields = tuple(f for f in fields if f != 'endpoint')
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


def _address_changes(want: Iterable[str], have: Iterable[str]) -> Tuple[List[str], List[str]]:
    """(add, remove), sorted; IPv6 link-local addresses on the live link are never removed."""
    want_addrs, have_addrs = set(want), set(have)
    add = sorted(want_addrs - have_addrs, key=_iface_sort_key)
    remove = sorted(
        (a for a in have_addrs - want_addrs
         if not _is_link_local_v6(ipaddress.ip_interface(a).network)),
        key=_iface_sort_key,
    )
    return add, remove


def _route_changes(want_routes: FrozenSet[str], have: Iterable[str]) -> Tuple[List[str], List[str]]:
    """(add, remove), sorted; IPv6 link-local routes on the live link are never removed."""
    have_routes = set(have)
    add = sorted(want_routes - have_routes, key=_net_sort_key)
    remove = sorted(
        (r for r in have_routes - want_routes
         if not _is_link_local_v6(network(r))),
        key=_net_sort_key,
    )
    return add, remove


def plan(desired: Optional[Interface], live: Optional[Interface], exclusive: bool = True,
         manage_routes: bool = True, previous_endpoints: Optional[Dict[str, Optional[str]]] = None,
         now: Optional[float] = None) -> Plan:
    """The smallest Plan that turns `live` into `desired`.

    desired None means state=absent: Plan(delete=True) when the link exists, else an empty plan.
    live None (or a live Link with exists=False) means the link is created: create=True and every
    desired item appears as an add. exclusive=False keeps live peers that desired does not list
    (and their routes). manage_routes=False leaves routes alone.

    Endpoint roaming: a configured endpoint is where a peer starts; a live endpoint that differs
    from the desired one is a change only when it is not a roam (endpoint_roams(desired, live,
    previous_endpoints, now): fresh handshake at `now`, and the desired endpoint equals the one
    configured last time, or there is no previous configuration for the peer). Roams are not
    changes: the peer's update (if other fields differ) leaves 'endpoint' out, and they are listed
    in Plan.roamed. now=None (the default) tolerates no roam.
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
    roamed = {} if create else endpoint_roams(desired, live, previous_endpoints, now)
    peer_changes = _peer_changes(desired.device.peers, live.device.peers, exclusive, roamed)

    mtu = None
    if desired.link.mtu is not None and (create or desired.link.mtu != live.link.mtu):
        mtu = int(desired.link.mtu)

    addresses_add, addresses_remove = _address_changes(desired.link.addresses, live.link.addresses)
    routes_add: List[str] = []
    routes_remove: List[str] = []
    if manage_routes:
        peers = resulting_peers(desired.device.peers, live.device.peers, exclusive, roamed)
        routes_add, routes_remove = _route_changes(routes_for(peers.values(), desired.link.addresses),
                                                   live.link.routes)

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
        roamed=tuple(roamed[k] for k in sorted(roamed)),
    )


def link_changed(applied: Plan) -> bool:
    """Whether APPLIED sets anything on the link (MTU, addresses, up, routes)."""
    return bool(applied.mtu is not None or applied.addresses_add or applied.addresses_remove
                or applied.set_up or applied.routes_add or applied.routes_remove)


def verify(applied: Plan, desired: Optional[Interface], live: Optional[Interface], exclusive: bool = True,
           manage_routes: bool = True, previous_endpoints: Optional[Dict[str, Optional[str]]] = None,
           now: Optional[float] = None) -> Plan:
    """What of the APPLIED plan is not true of LIVE (read after applying): the remaining Plan.

    A create, a delete, or an interface that is gone: everything is checked, plan(desired, live,
    ...). Otherwise only what APPLIED changed, so a one-peer change of 1,000 peers compares one
    peer: the device fields (always, three values); the peers it added or updated (every field,
    roams tolerated as in plan()) or removed (must be gone); the link items it set (MTU, the
    addresses and routes it added or removed, up). LIVE needs to hold only those peers (see
    Engine.read(peers=)); its link only matters when APPLIED changed the link.
    """
    if applied.create or applied.delete or desired is None or live is None or not live.link.exists:
        return plan(desired, live, exclusive=exclusive, manage_routes=manage_routes,
                    previous_endpoints=previous_endpoints, now=now)
    touched = [c.public_key for c in applied.peers]
    want = {k: desired.device.peers[k] for k in touched if k in desired.device.peers}
    have = {k: live.device.peers[k] for k in touched if k in live.device.peers}
    roamed = endpoint_roams(
        Interface(desired.name, Device(peers=want)),
        Interface(live.name, Device(peers=have, stats=live.device.stats)),
        previous_endpoints, now)
    peer_changes = _peer_changes(want, have, exclusive=True, roamed=roamed)

    mtu = None
    addresses_add: Tuple[str, ...] = ()
    addresses_remove: Tuple[str, ...] = ()
    routes_add: Tuple[str, ...] = ()
    routes_remove: Tuple[str, ...] = ()
    set_up = False
    if link_changed(applied):
        link = live.link
        if applied.mtu is not None and link.mtu != applied.mtu:
            mtu = applied.mtu
        addresses_add = tuple(a for a in applied.addresses_add if a not in link.addresses)
        addresses_remove = tuple(a for a in applied.addresses_remove if a in link.addresses)
        if manage_routes:
            wanted = set(applied.routes_add)
            if applied.addresses_remove:  # the kernel may have flushed routes with the old address
                wanted |= set(desired.link.routes)
            routes_add = tuple(sorted((r for r in wanted if r not in link.routes), key=_net_sort_key))
            routes_remove = tuple(r for r in applied.routes_remove if r in link.routes)
        set_up = applied.set_up and not link.up

    return Plan(
        name=desired.name,
        device=_device_changes(desired.device, live.device),
        peers=peer_changes,
        mtu=mtu,
        addresses_add=addresses_add,
        addresses_remove=addresses_remove,
        routes_add=routes_add,
        routes_remove=routes_remove,
        set_up=set_up,
        roamed=tuple(roamed[k] for k in sorted(roamed)),
    )


def predict(desired: Optional[Interface], live: Optional[Interface], exclusive: bool = True,
            manage_routes: bool = True, roamed: Iterable[Roam] = ()) -> Optional[Interface]:
    """The interface as it will be after the plan is applied (the diff's "after"); None for absent.

    The plan's own rules: resulting_peers (a roam in ROAMED, the Plan's Roam list, or a peer
    without a desired endpoint keeps its live endpoint; exclusive=False keeps unlisted live
    peers), routes_for those peers (manage_routes=False: the live routes), and listen_port and MTU
    kept when the desired value is None.
    """
    if desired is None:
        return None
    live_dev = live.device if live is not None else Device()
    live_link = live.link if live is not None else Link(exists=False, mtu=None, up=False)
    peers = resulting_peers(desired.device.peers, live_dev.peers, exclusive, (r.public_key for r in roamed))
    routes = routes_for(peers.values(), desired.link.addresses) if manage_routes else live_link.routes
    device = Device(
        private_key=desired.device.private_key,
        listen_port=desired.device.listen_port if desired.device.listen_port is not None
        else live_dev.listen_port,
        fwmark=desired.device.fwmark,
        peers=peers,
    )
    link = Link(
        exists=True,
        mtu=desired.link.mtu if desired.link.mtu is not None else live_link.mtu,
        addresses=frozenset(desired.link.addresses),
        up=True,
        routes=frozenset(routes),
    )
    return Interface(name=desired.name, device=device, link=link)
