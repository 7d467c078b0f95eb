# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One structure for a WireGuard interface, desired or live (like wireguard-tools' wg_device).

Pure data: no host access, no third-party imports. Keys are base64 strings, addresses and
allowed IPs canonical CIDR strings, so equality of two values means equality on the wire.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Optional, Tuple, Union

KEY_B64_LEN = 44
# The way back from a lost or damaged registry, named in every message about one
REBUILD_COMMAND = 'ansible-playbook meshlab.wireguard.registry_rebuild -i INVENTORY'
HANDSHAKE_FRESH_SECONDS = 180  # WireGuard rekeys every 120 s; older than 180 s means no live session


class InputError(ValueError):
    """Bad user input, detected before anything on the host changes. The message names the fix."""


# Canonical forms are worked out once per distinct text and run: the desired and the live state
# name the same endpoints and networks, and _desired, the UAPI/netlink readers, plan(), the
# routes, render() and the verification would otherwise parse each of them again (with 1,000
# peers, ipaddress parsing was the largest part of a run). Cleared when full, so a long-lived
# process (tests) stays bounded.
_CACHE_LIMIT = 100000
_NETWORKS: Dict[str, Union[ipaddress.IPv4Network, ipaddress.IPv6Network]] = {}
_ENDPOINTS: Dict[str, str] = {}


def _remember(cache: dict, key, value):
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


def network(text) -> Union[ipaddress.IPv4Network, ipaddress.IPv6Network]:
    """ipaddress.ip_network(text, strict=False), parsed once per distinct text; ValueError if invalid."""
    key = text if isinstance(text, str) else str(text)
    found = _NETWORKS.get(key)
    if found is None:
        found = _remember(_NETWORKS, key, ipaddress.ip_network(key.strip(), strict=False))
    return found


def canonical_network(text: str) -> str:
    """'10.0.0.1/24' -> '10.0.0.0/24'; a bare address becomes a host route (/32 or /128)."""
    return str(network(text))


@dataclass(frozen=True)
class Peer:
    public_key: str
    preshared_key: Optional[str] = None  # secret; None means no PSK (all-zero on the wire)
    endpoint: Optional[str] = None  # literal 'ip:port' or '[ip6]:port', already resolved
    allowed_ips: Tuple[str, ...] = ()  # canonical networks, sorted
    persistent_keepalive: int = 0  # seconds, 0 = off

    def redacted(self) -> dict:
        """Peer as shown to users: the PSK is replaced by a marker, never printed."""
        return {
            'public_key': self.public_key,
            'preshared_key': '<set>' if self.preshared_key else None,
            'endpoint': self.endpoint,
            'allowed_ips': list(self.allowed_ips),
            'persistent_keepalive': self.persistent_keepalive,
        }


@dataclass(frozen=True)
class PeerStats:
    """Runtime counters of a live peer; never compared, only reported."""
    latest_handshake: int = 0  # epoch seconds, 0 = never
    rx_bytes: int = 0
    tx_bytes: int = 0


@dataclass(frozen=True)
class Device:
    """What WireGuard itself holds (the part `wg showconf` prints)."""
    private_key: Optional[str] = None  # secret
    listen_port: Optional[int] = None  # desired None = keep the live (possibly random) port
    fwmark: int = 0
    peers: Dict[str, Peer] = field(default_factory=dict)  # by public key
    # Live only: counters per public key, filled by the engines' read().
    stats: Dict[str, PeerStats] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Link:
    """What ip(8) holds for the interface: the part `wg syncconf` ignores."""
    exists: bool = True
    mtu: Optional[int] = None  # desired None = leave as is
    addresses: FrozenSet[str] = frozenset()  # canonical interface addresses
    up: bool = True
    routes: FrozenSet[str] = frozenset()  # canonical destination networks routed via the link


@dataclass(frozen=True)
class Interface:
    name: str
    device: Device = field(default_factory=Device)
    link: Link = field(default_factory=Link)


ABSENT = None  # a live interface that does not exist is represented as None


@dataclass(frozen=True)
class PeerChange:
    action: str  # 'add' | 'update' | 'remove'
    public_key: str
    peer: Optional[Peer] = None  # the desired peer for add/update
    fields: Tuple[str, ...] = ()  # for update: the Peer fields that differ

    def describe(self) -> dict:
        out = {'action': self.action, 'public_key': self.public_key}
        if self.fields:
            out['fields'] = list(self.fields)
        if self.peer is not None:
            out['peer'] = self.peer.redacted()
        return out


@dataclass(frozen=True)
class Roam:
    """A peer whose live endpoint differs from the configured one because the peer roamed.

    Not a change: WireGuard moves a peer's endpoint to the source address of its latest
    authenticated packet, and plan() leaves that alone (see _plan.endpoint_roams).
    """
    public_key: str
    configured: str  # the desired endpoint ('ip:port' / '[ip6]:port')
    live: str  # where the peer is now

    def describe(self) -> dict:
        return {'public_key': self.public_key, 'configured': self.configured, 'live': self.live}


@dataclass(frozen=True)
class Plan:
    """The smallest set of changes that turns live into desired. Empty plan == no change.

    `roamed` lists the peers whose differing live endpoint was tolerated as a roam; it is not a
    change (not in `changed`, not in describe()); the module returns it as `roamed`.
    """
    name: str
    create: bool = False
    delete: bool = False
    device: Dict[str, object] = field(default_factory=dict)  # subset of private_key/listen_port/fwmark
    peers: Tuple[PeerChange, ...] = ()
    mtu: Optional[int] = None
    addresses_add: Tuple[str, ...] = ()
    addresses_remove: Tuple[str, ...] = ()
    routes_add: Tuple[str, ...] = ()
    routes_remove: Tuple[str, ...] = ()
    set_up: bool = False
    roamed: Tuple[Roam, ...] = ()  # sorted by public key; information only

    @property
    def changed(self) -> bool:
        return bool(
            self.create or self.delete or self.device or self.peers or self.mtu is not None
            or self.addresses_add or self.addresses_remove or self.routes_add
            or self.routes_remove or self.set_up
        )

    def counts(self) -> Dict[str, int]:
        """How many peers are added, updated, removed and routes added, removed."""
        out = {'peers_add': 0, 'peers_update': 0, 'peers_remove': 0}
        for change in self.peers:
            out['peers_' + change.action] += 1
        out['routes_add'] = len(self.routes_add)
        out['routes_remove'] = len(self.routes_remove)
        return out

    def describe(self, limit: Optional[int] = None) -> dict:
        """A user-facing summary with every secret redacted (used for results and diff).

        With LIMIT, `peers`, `routes_add` and `routes_remove` hold at most LIMIT entries each
        (the first in plan order): a 1,000-peer result is large, and Ansible scans every string of
        a result for secrets. `counts` always has the full numbers, `truncated` says whether a
        list was cut.
        """
        device = dict(self.device)
        if 'private_key' in device:
            device['private_key'] = '<changed>'
        peers, routes_add, routes_remove = self.peers, self.routes_add, self.routes_remove
        if limit is not None:
            peers, routes_add, routes_remove = peers[:limit], routes_add[:limit], routes_remove[:limit]
        return {
            'create': self.create,
            'delete': self.delete,
            'device': device,
            'peers': [c.describe() for c in peers],
            'mtu': self.mtu,
            'addresses_add': list(self.addresses_add),
            'addresses_remove': list(self.addresses_remove),
            'routes_add': list(routes_add),
            'routes_remove': list(routes_remove),
            'set_up': self.set_up,
            'counts': self.counts(),
            'truncated': (len(peers), len(routes_add), len(routes_remove))
            != (len(self.peers), len(self.routes_add), len(self.routes_remove)),
        }


# --- Helpers shared by _desired, _uapi and the engines, so every producer of a Peer or an endpoint
# --- spells values the same way (equal values mean equal state on the wire).

def _network_sort_key(net):
    return (net.version, net.network_address, net.prefixlen)


def sorted_networks(items) -> Tuple[str, ...]:
    """Canonical, de-duplicated networks sorted by family, address, prefix length.

    ('10.0.0.1/24', '10.0.0.0/24', 'fd00::/64') -> ('10.0.0.0/24', 'fd00::/64'). Raises ValueError
    on an unparsable network.
    """
    nets = {network(item) for item in items}
    return tuple(str(n) for n in sorted(nets, key=_network_sort_key))


def split_endpoint(text: str) -> Tuple[str, int]:
    """'host:port' or '[v6]:port' -> (host, port) without resolving; ValueError on bad syntax.

    A bare IPv6 address with a port ('fd00::1:51820') is rejected: it is ambiguous, write
    '[fd00::1]:51820'.
    """
    text = str(text).strip()
    if text.startswith('['):
        host, sep, rest = text[1:].partition(']')
        if not sep or not rest.startswith(':') or not host:
            raise ValueError("an IPv6 endpoint is written '[address]:port'")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(':')
        if not sep or not host:
            raise ValueError("an endpoint is written 'host:port' or '[ipv6]:port'")
        if ':' in host:
            raise ValueError("an IPv6 endpoint needs brackets: '[address]:port'")
    if not port_text.isdigit():
        raise ValueError(f'the port {port_text!r} is not a number')
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f'the port {port} is outside 1..65535')
    return host, port


def format_endpoint(address: str, port: int) -> str:
    """A literal IP and a port as WireGuard prints them: '1.2.3.4:51820', '[fd00::1]:51820'.

    IPv4-mapped IPv6 addresses become IPv4; an IPv6 zone ('%eth0') is kept. ValueError if the
    address is not a literal IP.
    """
    address = str(address).strip()
    if address.startswith('[') and address.endswith(']'):
        address = address[1:-1]
    addr_text, pct, zone = address.partition('%')
    ip = ipaddress.ip_address(addr_text)
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip, pct, zone = ip.ipv4_mapped, '', ''
    out = f'[{ip}{pct}{zone}]:{int(port)}' if ip.version == 6 else f'{ip}:{int(port)}'
    if 1 <= int(port) <= 65535 and out not in _ENDPOINTS:
        _remember(_ENDPOINTS, out, out)  # already canonical: canonical_endpoint(out) needs no parsing
    return out


def canonical_endpoint(text: str) -> str:
    """A literal endpoint in WireGuard's spelling ('[FD00:0::1]:51820' -> '[fd00::1]:51820')."""
    key = text if isinstance(text, str) else str(text)
    found = _ENDPOINTS.get(key)
    if found is None:
        host, port = split_endpoint(key)
        found = _remember(_ENDPOINTS, key, format_endpoint(host, port))
    return found
