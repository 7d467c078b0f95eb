# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ip(8) side of a WireGuard interface: link, MTU, addresses, up/down, routes.

Used by both engines (kernel and userspace): WireGuard itself knows nothing of addresses or
routes, so these are read and written here through pyroute2's IPRoute. Works with pyroute2 0.7.x
(Debian 12's python3-pyroute2) and 0.9.x: only calls whose behaviour is the same in both lines
are used (link_lookup, get_links, get_addr, get_routes dumps filtered here, link/addr/route
add/set/del with plain keyword arguments).

What counts as part of the link (see docs/ARCHITECTURE.md):
- addresses: every address on the link except IPv6 link-local (fe80::/10), which the kernel adds
  to a TUN link by itself; canonical interface form ('100.64.0.1/24').
- routes: unicast routes in the main table whose output device is the link, except routes the
  kernel made (proto kernel: the connected routes of the link's addresses) and IPv6 link-local.
"""

from __future__ import annotations

import ipaddress
import socket
import traceback
from contextlib import contextmanager
from typing import Iterator, List, Optional

from ansible_collections.meshlab.wireguard.plugins.module_utils._model import Link, Plan

try:
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError
except ImportError:
    HAS_PYROUTE2 = False
    PYROUTE2_IMPORT_ERROR = traceback.format_exc()
    IPRoute = None

    class NetlinkError(Exception):  # type: ignore[no-redef]
        """Stand-in so `except NetlinkError` stays valid when pyroute2 is missing."""

        code = 0
else:
    HAS_PYROUTE2 = True
    PYROUTE2_IMPORT_ERROR = None

PYROUTE2_REQUIREMENT = 'pyroute2 (Debian/Ubuntu: python3-pyroute2)'

IFF_UP = 0x1
IFA_F_NODAD = 0x02
RT_TABLE_MAIN = 254
RTPROT_KERNEL = 2
RTPROT_STATIC = 4
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RT_SCOPE_NOWHERE = 255
RTN_UNICAST = 1
_LINK_LOCAL_V6 = ipaddress.ip_network('fe80::/10')


class IPRouteError(RuntimeError):
    """A netlink call on the link failed; the message names the interface and the operation."""


@contextmanager
def iproute() -> Iterator[IPRoute]:
    """An IPRoute socket that is always closed (pyroute2 0.7 and 0.9 alike)."""
    if not HAS_PYROUTE2:
        raise RuntimeError('the ip link side needs ' + PYROUTE2_REQUIREMENT)
    ipr = IPRoute()
    try:
        yield ipr
    finally:
        ipr.close()


def _nested(msg, *names):
    """msg.get_attr(a).get_attr(b)... or None when any level is missing (works in 0.7 and 0.9)."""
    cur = msg
    for name in names:
        if cur is None:
            return None
        cur = cur.get_attr(name)
    return cur


def link_index(ipr, ifname: str) -> Optional[int]:
    found = ipr.link_lookup(ifname=ifname)
    return found[0] if found else None


def link_kind(ifname: str) -> Optional[str]:
    """The link's kind ('wireguard', 'tun', ...), '' for a link without one, None when absent."""
    with iproute() as ipr:
        idx = link_index(ipr, ifname)
        if idx is None:
            return None
        (msg,) = ipr.get_links(idx)
        return _nested(msg, 'IFLA_LINKINFO', 'IFLA_INFO_KIND') or ''


def link_exists(ifname: str) -> bool:
    return link_kind(ifname) is not None


def create_link(ifname: str, kind: str) -> None:
    """`ip link add IFNAME type KIND`; NetlinkError passes through (the engines interpret it)."""
    with iproute() as ipr:
        ipr.link('add', ifname=ifname, kind=kind)


def delete_link(ifname: str) -> bool:
    """`ip link del IFNAME`; False when there was no such link."""
    with iproute() as ipr:
        idx = link_index(ipr, ifname)
        if idx is None:
            return False
        try:
            ipr.link('del', index=idx)
        except NetlinkError as exc:
            if getattr(exc, 'code', None) == 19:  # ENODEV: gone meanwhile
                return False
            raise IPRouteError(f'cannot delete link {ifname}: {exc}') from exc
        return True


def _is_link_local(net) -> bool:
    return net.version == 6 and net.subnet_of(_LINK_LOCAL_V6)


def _route_table(msg) -> int:
    table = msg.get_attr('RTA_TABLE')
    return int(table if table is not None else msg['table'])


def _read_addresses(ipr, idx: int) -> List[str]:
    out = []
    for msg in ipr.get_addr():
        if msg['index'] != idx:
            continue
        addr = msg.get_attr('IFA_LOCAL') or msg.get_attr('IFA_ADDRESS')
        if not addr:
            continue
        iface = ipaddress.ip_interface(f"{addr}/{msg['prefixlen']}")
        if _is_link_local(iface.network):
            continue
        out.append(str(iface))
    return out


def _read_routes(ipr, idx: int) -> List[str]:
    out = []
    for family in (socket.AF_INET, socket.AF_INET6):
        for msg in ipr.get_routes(family=family):
            if msg.get_attr('RTA_OIF') != idx:
                continue
            if _route_table(msg) != RT_TABLE_MAIN:
                continue
            if msg['proto'] == RTPROT_KERNEL or msg['type'] != RTN_UNICAST:
                continue
            dst = msg.get_attr('RTA_DST')
            if dst is None:
                dst = str(ipaddress.IPv4Address(0) if family == socket.AF_INET else ipaddress.IPv6Address(0))
            net = ipaddress.ip_network(f"{dst}/{msg['dst_len']}", strict=False)
            if _is_link_local(net):
                continue
            out.append(str(net))
    return out


def read_link(ifname: str) -> Optional[Link]:
    """The live Link of IFNAME, or None when there is no such link."""
    with iproute() as ipr:
        idx = link_index(ipr, ifname)
        if idx is None:
            return None
        (msg,) = ipr.get_links(idx)
        return Link(
            exists=True,
            mtu=msg.get_attr('IFLA_MTU'),
            addresses=frozenset(_read_addresses(ipr, idx)),
            up=bool(msg['flags'] & IFF_UP),
            routes=frozenset(_read_routes(ipr, idx)),
        )


def _addr_args(text: str) -> dict:
    iface = ipaddress.ip_interface(text)
    args = {'address': str(iface.ip), 'prefixlen': iface.network.prefixlen}
    if iface.version == 6:
        # No duplicate address detection on a tunnel: the address works at once instead of
        # staying "tentative" for a second or two after the link comes up.
        args['flags'] = IFA_F_NODAD
    return args


def _route_args(text: str, idx: int, delete: bool = False) -> dict:
    """Keyword arguments for IPRoute.route(): a device route in the main table, like `ip route`.

    Adding: proto static, scope link for IPv4 (what `ip route add NET dev IF` makes). Deleting:
    any proto and scope (0 and RT_SCOPE_NOWHERE are the kernel's wildcards), so a route someone
    added by hand with another proto or scope is removed too.
    """
    net = ipaddress.ip_network(text, strict=False)
    args = {
        'dst': str(net.network_address),
        'dst_len': net.prefixlen,
        'oif': idx,
        'family': socket.AF_INET if net.version == 4 else socket.AF_INET6,
        'table': RT_TABLE_MAIN,
    }
    if delete:
        args.update(proto=0, scope=RT_SCOPE_NOWHERE)
    else:
        args.update(proto=RTPROT_STATIC, scope=RT_SCOPE_LINK if net.version == 4 else RT_SCOPE_UNIVERSE)
    return args


def apply_link(ifname: str, plan: Plan) -> None:
    """Apply the link part of a plan: MTU, addresses (remove, then add), up, then routes.

    Routes come last: the kernel refuses a route through a link that is down.
    """
    with iproute() as ipr:
        idx = link_index(ipr, ifname)
        if idx is None:
            raise IPRouteError(f'link {ifname} does not exist')
        step = ''
        try:
            if plan.mtu is not None:
                step = f'set mtu {plan.mtu}'
                ipr.link('set', index=idx, mtu=int(plan.mtu))
            for text in plan.addresses_remove:
                step = f'remove address {text}'
                try:
                    ipr.addr('del', index=idx, **_addr_args(text))
                except NetlinkError as exc:
                    if getattr(exc, 'code', None) != 99:  # EADDRNOTAVAIL: already gone
                        raise
            for text in plan.addresses_add:
                step = f'add address {text}'
                try:
                    ipr.addr('add', index=idx, **_addr_args(text))
                except NetlinkError as exc:
                    if getattr(exc, 'code', None) != 17:  # EEXIST: already there
                        raise
            if plan.set_up:
                step = 'set link up'
                ipr.link('set', index=idx, state='up')
            for text in plan.routes_remove:
                step = f'remove route {text}'
                try:
                    ipr.route('del', **_route_args(text, idx, delete=True))
                except NetlinkError as exc:
                    if getattr(exc, 'code', None) != 3:  # ESRCH: no such route
                        raise
            for text in plan.routes_add:
                step = f'add route {text}'
                try:
                    ipr.route('add', **_route_args(text, idx))
                except NetlinkError as exc:
                    if getattr(exc, 'code', None) == 17:  # EEXIST, and not through this link
                        raise IPRouteError(
                            f'{ifname}: a route to {text} already exists in the main table through'
                            ' another device; remove it, or set manage_routes=false'
                        ) from exc
                    raise
        except NetlinkError as exc:
            raise IPRouteError(f'{ifname}: cannot {step}: {exc}') from exc
