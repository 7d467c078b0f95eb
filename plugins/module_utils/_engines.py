# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Engines: who holds the WireGuard device state, and how to reach it.

Two engines implement one interface (docs/ARCHITECTURE.md, "Engines"):
- 'kernel'    : the in-kernel WireGuard, driven over generic netlink (`_engine_netlink`);
- 'userspace' : wireguard-go, driven over its UAPI socket (`_engine_uapi`).
Both only handle WireGuard's own state (keys, port, fwmark, peers); the link's addresses, MTU,
up/down and routes are `_iproute`'s job for both.

`resolve_engine_name('auto', ifname)` picks: the kind of an existing link wins ('wireguard' -> kernel,
'tun' -> userspace); otherwise kernel when a probe link of type wireguard can be created (it is
deleted at once), else userspace.
"""

from __future__ import annotations

import os
from typing import Iterable, Optional

from ansible_collections.meshlab.wireguard.plugins.module_utils import _iproute
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import Device, Plan

ENGINE_NAMES = ('auto', 'kernel', 'userspace')


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


def _kind_engine(kind: str, ifname: str) -> str:
    if kind == 'wireguard':
        return 'kernel'
    if kind == 'tun':
        return 'userspace'
    raise EngineError(
        f"a link named {ifname} exists and is of kind {kind or 'unknown'!r}, not WireGuard: "
        'choose another interface name or delete that link'
    )


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
        return 'kernel' if kernel_supported() else 'userspace'
    if existing is not None and existing != name:
        raise EngineError(
            f'{ifname} exists as a {existing} WireGuard interface but engine={name} was asked: '
            f'use engine=auto (or {existing}), or delete the interface first (state=absent)'
        )
    return name


def make_engine(kind: str) -> Engine:
    if kind == 'kernel':
        from ansible_collections.meshlab.wireguard.plugins.module_utils._engine_netlink import NetlinkEngine

        return NetlinkEngine()
    if kind == 'userspace':
        from ansible_collections.meshlab.wireguard.plugins.module_utils._engine_uapi import UapiEngine

        return UapiEngine()
    raise EngineError(f'unknown engine {kind!r}')

