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

Reading (link_kind, read_link) speaks rtnetlink with the standard library (`_Rtnl`): importing
pyroute2 costs 0.1-0.2 s (its package __init__ loads every entry point), more than everything
else in an unchanged run. pyroute2 is imported on first use by the writes (create_link,
delete_link, apply_link) and iproute(); `IPRoute` and `NetlinkError` stay module attributes
(resolved lazily by __getattr__).
"""

from __future__ import annotations

import errno
import importlib.util
import ipaddress
import os
import socket
import struct
from contextlib import contextmanager
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

from ansible_collections.meshlab.wireguard.plugins.module_utils._model import Link, Plan

# Presence only: the import itself waits until a write needs it (see the module docstring).
HAS_PYROUTE2 = importlib.util.find_spec('pyroute2') is not None
PYROUTE2_IMPORT_ERROR = None if HAS_PYROUTE2 else "ModuleNotFoundError: No module named 'pyroute2'"

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


class _MissingNetlinkError(Exception):
    """Stand-in so `except _iproute.NetlinkError` stays valid when pyroute2 cannot be imported."""

    code = 0


def _pyroute2():
    """(IPRoute, NetlinkError) from pyroute2, imported on first use."""
    try:
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError
    except ImportError as exc:
        raise IPRouteError(f'the ip link side needs {PYROUTE2_REQUIREMENT}: {exc}') from exc
    return IPRoute, NetlinkError


def __getattr__(name):
    # PEP 562: `_iproute.IPRoute` / `_iproute.NetlinkError` import pyroute2 only when asked for.
    if name == 'IPRoute':
        return _pyroute2()[0]
    if name == 'NetlinkError':
        try:
            return _pyroute2()[1]
        except IPRouteError:
            return _MissingNetlinkError
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


@contextmanager
def iproute() -> Iterator:
    """An IPRoute socket that is always closed (pyroute2 0.7 and 0.9 alike)."""
    if not HAS_PYROUTE2:
        raise RuntimeError('the ip link side needs ' + PYROUTE2_REQUIREMENT)
    ipr = _pyroute2()[0]()
    try:
        yield ipr
    finally:
        ipr.close()


# --------------------------------------------------------------------------- reading (stdlib rtnetlink)

NETLINK_ROUTE = 0
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_DUMP_INTR, NLM_F_DUMP = 0x1, 0x2, 0x10, 0x300
RTM_NEWLINK, RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE = 16, 18, 22, 26
IFLA_IFNAME, IFLA_MTU, IFLA_LINKINFO, IFLA_INFO_KIND = 3, 4, 18, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_OIF, RTA_TABLE = 1, 4, 15
NLA_TYPE_MASK = 0x3FFF  # without the nested / byte-order flag bits
_NLMSGHDR = struct.Struct('=IHHII')  # len, type, flags, seq, pid
_IFINFOMSG = struct.Struct('=BxHiII')  # family, type, index, flags, change
_IFADDRMSG = struct.Struct('=BBBBI')  # family, prefixlen, flags, scope, index
_RTMSG = struct.Struct('=BBBBBBBBI')  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
_RTATTR = struct.Struct('=HH')  # len, type
_RECV_BYTES = 1 << 20
_DUMP_TRIES = 3


def _attrs(data: bytes, offset: int) -> Dict[int, bytes]:
    """{type: payload} of the rtattrs from OFFSET (the first of a repeated type wins)."""
    out: Dict[int, bytes] = {}
    end = len(data)
    while offset + 4 <= end:
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < 4:
            break
        out.setdefault(kind & NLA_TYPE_MASK, data[offset + 4:offset + length])
        offset += (length + 3) & ~3
    return out


def _u32(payload: Optional[bytes]) -> Optional[int]:
    return struct.unpack('=I', payload[:4])[0] if payload and len(payload) >= 4 else None


class _Rtnl:
    """A read-only rtnetlink socket: one GETLINK by name, dumps of addresses and routes.

    The same requests `ip link show dev IF`, `ip addr` and `ip route show table all` send.
    """

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def _request(self, msg_type: int, flags: int, body: bytes) -> List[Tuple[int, bytes]]:
        """[(type, message bytes)] answering one request; NLMSG_ERROR raises OSError(errno)."""
        self.seq += 1
        seq = self.seq
        self.sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), msg_type, flags, seq, 0) + body)
        out: List[Tuple[int, bytes]] = []
        while True:
            data = self.sock.recv(_RECV_BYTES)
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, kind, mflags, mseq, _pid = _NLMSGHDR.unpack_from(data, offset)
                if length < _NLMSGHDR.size:
                    raise IPRouteError('malformed rtnetlink reply')
                msg = data[offset:offset + length]
                offset += (length + 3) & ~3
                if mseq != seq:
                    continue
                if mflags & NLM_F_DUMP_INTR:
                    raise InterruptedError(errno.EINTR, 'rtnetlink dump interrupted by a change')
                if kind == NLMSG_DONE:
                    return out
                if kind == NLMSG_ERROR:
                    code = -struct.unpack_from('=i', msg, _NLMSGHDR.size)[0]
                    if code:
                        raise OSError(code, os.strerror(code))
                    return out  # an ACK
                out.append((kind, msg))
                if not mflags & NLM_F_MULTI:
                    return out

    def dump(self, msg_type: int, body: bytes) -> List[Tuple[int, bytes]]:
        for attempt in range(_DUMP_TRIES):
            try:
                return self._request(msg_type, NLM_F_REQUEST | NLM_F_DUMP, body)
            except InterruptedError:
                if attempt == _DUMP_TRIES - 1:
                    raise
        return []

    def link(self, ifname: str) -> Optional[dict]:
        """{index, flags, mtu, kind} of IFNAME, or None when there is no such link."""
        name = ifname.encode() + b'\0'
        attr = _RTATTR.pack(4 + len(name), IFLA_IFNAME) + name
        attr += b'\0' * (-len(attr) % 4)
        try:
            msgs = self._request(RTM_GETLINK, NLM_F_REQUEST, _IFINFOMSG.pack(0, 0, 0, 0, 0) + attr)
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                return None
            raise
        for kind, msg in msgs:
            if kind != RTM_NEWLINK:
                continue
            _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(msg, _NLMSGHDR.size)
            attrs = _attrs(msg, _NLMSGHDR.size + _IFINFOMSG.size)
            info = attrs.get(IFLA_LINKINFO)
            link_kind = _attrs(info, 0).get(IFLA_INFO_KIND) if info else None
            return {'index': index, 'flags': flags, 'mtu': _u32(attrs.get(IFLA_MTU)),
                    'kind': link_kind.rstrip(b'\0').decode('ascii', 'replace') if link_kind else ''}
        return None

    def addresses(self, index: int) -> List[str]:
        out = []
        for _kind, msg in self.dump(RTM_GETADDR, _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
            family, prefixlen, _flags, _scope, msg_index = _IFADDRMSG.unpack_from(msg, _NLMSGHDR.size)
            if msg_index != index or family not in (socket.AF_INET, socket.AF_INET6):
                continue
            attrs = _attrs(msg, _NLMSGHDR.size + _IFADDRMSG.size)
            raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
            if not raw:
                continue
            iface = ipaddress.ip_interface(f'{socket.inet_ntop(family, raw)}/{prefixlen}')
            if _is_link_local(iface.network):
                continue
            out.append(str(iface))
        return out

    def routes(self, index: int) -> List[str]:
        out = []
        for family in (socket.AF_INET, socket.AF_INET6):
            for _kind, msg in self.dump(RTM_GETROUTE, _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)):
                (msg_family, dst_len, _src_len, _tos, table, proto, _scope, rtype,
                 _flags) = _RTMSG.unpack_from(msg, _NLMSGHDR.size)
                if msg_family != family:
                    continue
                attrs = _attrs(msg, _NLMSGHDR.size + _RTMSG.size)
                if _u32(attrs.get(RTA_OIF)) != index:
                    continue
                table_attr = _u32(attrs.get(RTA_TABLE))
                if (table_attr if table_attr is not None else table) != RT_TABLE_MAIN:
                    continue
                if proto == RTPROT_KERNEL or rtype != RTN_UNICAST:
                    continue
                raw = attrs.get(RTA_DST) or bytes(4 if family == socket.AF_INET else 16)  # default route
                net = ipaddress.ip_network(f'{socket.inet_ntop(family, raw)}/{dst_len}', strict=False)
                if _is_link_local(net):
                    continue
                out.append(str(net))
        return out


@contextmanager
def _rtnl(ifname: str, what: str) -> Iterator[_Rtnl]:
    try:
        conn = _Rtnl()
    except OSError as exc:
        raise IPRouteError(f'cannot {what} {ifname}: rtnetlink socket: {exc}') from exc
    try:
        yield conn
    except OSError as exc:
        raise IPRouteError(f'cannot {what} {ifname}: {exc}') from exc
    finally:
        conn.close()


def _is_link_local(net) -> bool:
    return net.version == 6 and net.subnet_of(_LINK_LOCAL_V6)


def link_kind(ifname: str) -> Optional[str]:
    """The link's kind ('wireguard', 'tun', ...), '' for a link without one, None when absent."""
    with _rtnl(ifname, 'look up link') as conn:
        link = conn.link(ifname)
    return None if link is None else link['kind']


def read_link(ifname: str) -> Optional[Link]:
    """The live Link of IFNAME, or None when there is no such link."""
    with _rtnl(ifname, 'read link') as conn:
        link = conn.link(ifname)
        if link is None:
            return None
        return Link(
            exists=True,
            mtu=link['mtu'],
            addresses=frozenset(conn.addresses(link['index'])),
            up=bool(link['flags'] & IFF_UP),
            routes=frozenset(conn.routes(link['index'])),
        )


# --------------------------------------------------------------------------- writing (pyroute2)

def link_index(ipr, ifname: str) -> Optional[int]:
    found = ipr.link_lookup(ifname=ifname)
    return found[0] if found else None


def create_link(ifname: str, kind: str) -> None:
    """`ip link add IFNAME type KIND`; NetlinkError passes through (the engines interpret it)."""
    with iproute() as ipr:
        ipr.link('add', ifname=ifname, kind=kind)


def delete_link(ifname: str) -> bool:
    """`ip link del IFNAME`; False when there was no such link."""
    netlink_error = _pyroute2()[1]
    with iproute() as ipr:
        idx = link_index(ipr, ifname)
        if idx is None:
            return False
        try:
            ipr.link('del', index=idx)
        except netlink_error as exc:
            if getattr(exc, 'code', None) == 19:  # ENODEV: gone meanwhile
                return False
            raise IPRouteError(f'cannot delete link {ifname}: {exc}') from exc
        return True


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


def apply_link(ifname: str, plan: Plan, routes: Iterable[str] = ()) -> None:
    """Apply the link part of a plan: MTU, addresses (remove, then add), up, then routes.

    Routes come last: the kernel refuses a route through a link that is down. ROUTES are all the
    desired routes: removing an interface's last IPv4 address makes the kernel flush every IPv4
    route through it, so after a plan that removed addresses the desired routes missing then are
    added again (a changed tunnel address converges in one run).
    """
    if not (plan.mtu is not None or plan.addresses_remove or plan.addresses_add or plan.set_up
            or plan.routes_remove or plan.routes_add):
        return  # a peer-only change: no need to import pyroute2
    netlink_error = _pyroute2()[1]
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
                except netlink_error as exc:
                    if getattr(exc, 'code', None) != 99:  # EADDRNOTAVAIL: already gone
                        raise
            for text in plan.addresses_add:
                step = f'add address {text}'
                try:
                    ipr.addr('add', index=idx, **_addr_args(text))
                except netlink_error as exc:
                    if getattr(exc, 'code', None) != 17:  # EEXIST: already there
                        raise
            if plan.set_up:
                step = 'set link up'
                ipr.link('set', index=idx, state='up')
            routes_add = list(plan.routes_add)
            if plan.addresses_remove and routes:
                step = 'read the routes again after the address change'
                now = read_link(ifname)
                have = now.routes if now is not None else frozenset()
                routes_add += [r for r in sorted(routes) if r not in have and r not in routes_add
                               and r not in plan.routes_remove]
            for text in plan.routes_remove:
                step = f'remove route {text}'
                try:
                    ipr.route('del', **_route_args(text, idx, delete=True))
                except netlink_error as exc:
                    if getattr(exc, 'code', None) != 3:  # ESRCH: no such route
                        raise
            for text in routes_add:
                step = f'add route {text}'
                try:
                    ipr.route('add', **_route_args(text, idx))
                except netlink_error as exc:
                    if getattr(exc, 'code', None) == 17:  # EEXIST, and not through this link
                        raise IPRouteError(
                            f'{ifname}: a route to {text} already exists in the main table through'
                            ' another device; remove it, or set manage_routes=false'
                        ) from exc
                    raise
        except netlink_error as exc:
            raise IPRouteError(f'{ifname}: cannot {step}: {exc}') from exc
