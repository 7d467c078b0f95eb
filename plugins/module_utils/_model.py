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
from typing import Dict, FrozenSet, Optional, Tuple

KEY_B64_LEN = 44
HANDSHAKE_FRESH_SECONDS = 180  # WireGuard rekeys every 120 s; older than 180 s means no live session


class InputError(ValueError):
    """Bad user input, detected before anything on the host changes. The message names the fix."""


def canonical_network(text: str) -> str:
    """'10.0.0.1/24' -> '10.0.0.0/24'; a bare address becomes a host route (/32 or /128)."""
    return str(ipaddress.ip_network(str(text).strip(), strict=False))


def canonical_interface_address(text: str) -> str:
    """'100.64.0.1/24' stays, a bare address gets /32 or /128."""
    return str(ipaddress.ip_interface(str(text).strip()))


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
class Plan:
    """The smallest set of changes that turns live into desired. Empty plan == no change."""
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

    @property
    def changed(self) -> bool:
        return bool(
            self.create or self.delete or self.device or self.peers or self.mtu is not None
            or self.addresses_add or self.addresses_remove or self.routes_add
            or self.routes_remove or self.set_up
        )

    def describe(self) -> dict:
        """A user-facing summary with every secret redacted (used for results and diff)."""
        device = dict(self.device)
        if 'private_key' in device:
            device['private_key'] = '<changed>'
        return {
            'create': self.create,
            'delete': self.delete,
            'device': device,
            'peers': [c.describe() for c in self.peers],
            'mtu': self.mtu,
            'addresses_add': list(self.addresses_add),
            'addresses_remove': list(self.addresses_remove),
            'routes_add': list(self.routes_add),
            'routes_remove': list(self.routes_remove),
            'set_up': self.set_up,
        }
