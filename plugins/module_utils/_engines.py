# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Engines: who holds the WireGuard device state, and how to reach it.

Two engines implement one interface (docs/ARCHITECTURE.md, "Engines"):
- 'kernel'    : the in-kernel WireGuard, driven over generic netlink (`_engine_netlink`);
- 'userspace' : wireguard-go, driven over its UAPI socket (`_engine_uapi`).
Both only handle WireGuard's own state (keys, port, fwmark, peers); the link's addresses, MTU,
up/down and routes are `_iproute`'s job for both.

ENGINES is the one table of engines (name, link kind, factory, UAPI socket directory, probe):
the `engine` option's choices (ENGINE_NAMES), wireguard_info's discovery and wireguard_probe's
link facts (live_engine), and the role (a unit test holds its argument spec to ENGINE_NAMES)
all come from it. Adding an engine is one new file (an Engine subclass) and one entry here.

`resolve_engine_name('auto', ifname)` picks: the kind of an existing link wins ('wireguard' -> kernel,
'tun' -> userspace); otherwise the first engine in ENGINES whose probe says yes (kernel: a probe
link of type wireguard can be created, it is deleted at once; userspace: no probe).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Optional

from ansible_collections.meshlab.wireguard.plugins.module_utils import _iproute
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import Device, Plan

# Where wireguard-go (and any UAPI engine) listens: <dir>/<ifname>.sock. Defined here only.
UAPI_SOCKET_DIR = '/var/run/wireguard'


class EngineError(RuntimeError):
    """The engine could not do what was asked; the message says what and, if known, the fix."""


class Engine:
    """The WireGuard side of one interface. Subclasses: NetlinkEngine, UapiEngine."""

    kind = ''

    def exists(self, ifname: str) -> bool:
        """True when a WireGuard device of this engine's kind runs under IFNAME."""
        raise NotImplementedError

    def preflight(self) -> None:
        """Raise EngineError when create() cannot work here (checked in check mode too)."""

    def create(self, ifname: str) -> None:
        """Create the device; the link exists afterwards (down, no addresses, no peers)."""
        raise NotImplementedError

    def delete(self, ifname: str) -> None:
        """Remove the device (and for userspace, make sure its process ends)."""
        raise NotImplementedError

    def read(self, ifname: str, peers: Optional[Iterable[str]] = None) -> Device:
        """The full live device: private key, port, fwmark, peers merged by key, stats.

        peers: only these public keys' peers (and stats); None for all. For a verification that
        needs only the peers a plan touched.
        """
        raise NotImplementedError

    def apply(self, ifname: str, plan: Plan) -> None:
        """Apply plan.device and plan.peers, and nothing else: untouched peers keep their sessions."""
        raise NotImplementedError


def kernel_supported(probe_name: Optional[str] = None) -> bool:
    """Whether `ip link add NAME type wireguard` works here (probe link created and deleted)."""
    name = probe_name or f'wgprobe{os.getpid() % 100000}'
    try:
        _iproute.create_link(name, 'wireguard')
    except _iproute.NetlinkError:
        return False
    _iproute.delete_link(name)
    return True


def _netlink_engine() -> Engine:
    from ansible_collections.meshlab.wireguard.plugins.module_utils._engine_netlink import NetlinkEngine

    return NetlinkEngine()


def _uapi_engine() -> Engine:
    from ansible_collections.meshlab.wireguard.plugins.module_utils._engine_uapi import UapiEngine

    return UapiEngine()


def _kernel_probe() -> bool:
    return kernel_supported()  # looked up at call time (tests replace it)


@dataclass(frozen=True)
class EngineSpec:
    name: str                          # the `engine` option's value, Engine.kind
    link_kind: str                     # IFLA_INFO_KIND of its links (`ip -d link` shows it)
    factory: Callable[[], Engine]      # imports its file only when used (static import: AnsiballZ)
    socket_dir: Optional[str] = None   # a UAPI engine's socket directory; None: the link kind suffices
    probe: Optional[Callable[[], bool]] = None  # 'auto' for a new link: can it be created here?


# In 'auto' preference order.
ENGINES = (
    EngineSpec('kernel', 'wireguard', _netlink_engine, probe=_kernel_probe),
    EngineSpec('userspace', 'tun', _uapi_engine, socket_dir=UAPI_SOCKET_DIR),
)
ENGINE_BY_NAME: Dict[str, EngineSpec] = {e.name: e for e in ENGINES}
ENGINE_BY_KIND: Dict[str, EngineSpec] = {e.link_kind: e for e in ENGINES}
ENGINE_NAMES = ('auto', *ENGINE_BY_NAME)
LINK_KINDS = tuple(ENGINE_BY_KIND)


def _kind_engine(kind: str, ifname: str) -> str:
    spec = ENGINE_BY_KIND.get(kind)
    if spec is None:
        raise EngineError(
            f"a link named {ifname} exists and is of kind {kind or 'unknown'!r}, not WireGuard: "
            'choose another interface name or delete that link'
        )
    return spec.name


def live_engine(ifname: str, kind: Optional[str], socket_dir: Optional[str] = None) -> Optional[str]:
    """The engine whose device runs as the link IFNAME of KIND, or None (not WireGuard).

    A UAPI engine's link (TUN) counts only when its socket answers: a TUN link may be anything,
    and one whose wireguard-go died is absent. socket_dir: instead of the table's (tests).
    """
    spec = ENGINE_BY_KIND.get(kind or '')
    if spec is None:
        return None
    if spec.socket_dir is None:
        return spec.name
    from ansible_collections.meshlab.wireguard.plugins.module_utils._engine_uapi import socket_state

    path = os.path.join(socket_dir or spec.socket_dir, ifname + '.sock')
    return spec.name if socket_state(path) == 'alive' else None


def engine_for_existing(ifname: str) -> Optional[str]:
    """'kernel' / 'userspace' for an existing WireGuard link, None when no link has that name."""
    kind = _iproute.link_kind(ifname)
    if kind is None:
        return None
    return _kind_engine(kind, ifname)


def resolve_engine_name(name: str, ifname: str, probe: bool = True) -> Optional[str]:
    """The concrete engine ('kernel'|'userspace') for NAME ('auto'|'kernel'|'userspace').

    An existing link of the other kind is an error (engines do not silently replace each
    other's interfaces). With probe=False, 'auto' for a missing link gives None.
    """
    if name not in ENGINE_NAMES:
        raise EngineError(f"engine must be one of {', '.join(ENGINE_NAMES)}, not {name!r}")
    existing = engine_for_existing(ifname)
    if name == 'auto':
        if existing is not None:
            return existing
        if not probe:
            return None
        return next(e.name for e in ENGINES if e.probe is None or e.probe())
    if existing is not None and existing != name:
        raise EngineError(
            f'{ifname} exists as a {existing} WireGuard interface but engine={name} was asked: '
            f'use engine=auto (or {existing}), or delete the interface first (state=absent)'
        )
    return name


def make_engine(kind: str) -> Engine:
    spec = ENGINE_BY_NAME.get(kind)
    if spec is None:
        raise EngineError(f'unknown engine {kind!r}')
    return spec.factory()
