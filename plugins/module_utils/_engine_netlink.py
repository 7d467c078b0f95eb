# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel WireGuard over generic netlink, through pyroute2's WireGuard() (0.7.x and 0.9.x).

Reading: WireGuard().info(ifname) answers a dump of several messages. A device with many peers
is split across messages, and so may be one peer's allowed IPs: the next message then repeats the
peer's public key with the rest of its allowed IPs and nothing else. `device_from_messages`
merges every message, peer by public key, so the result does not depend on where the kernel cut.

Writing: pyroute2's set() sends one peer per call. `set_calls(plan)` turns a Plan into those
calls: first one call with the device fields, then one per peer change. Differences between the
pyroute2 lines that matter here:
- 0.9.x has `replace_allowed_ips` and `update_only` flags; we always send replace_allowed_ips
  with the full allowed-IP list (replace semantics, like `wg set ... allowed-ips`).
- 0.7.2 ignores those keys and always sends flag 0x2 (= kernel WGPEER_F_REPLACE_ALLOWEDIPS;
  its own constants are off by one), so without allowed_ips a peer update would wipe them. Since
  we always send the full list, both lines behave the same.
- Peer removal sends flag 0x1 in both (0.7.2 by way of WGDEVICE_F_REPLACE_PEERS == 1).
A PSK is removed by setting the all-zero key; an endpoint must be a literal IP (names are
resolved earlier, in `_desired`); an endpoint cannot be cleared (WireGuard has no way), which
the plan already accounts for.
"""

from __future__ import annotations

import base64
import errno
import traceback
from typing import Dict, List, Optional

from ansible_collections.meshlab.wireguard.plugins.module_utils import _iproute
from ansible_collections.meshlab.wireguard.plugins.module_utils._engines import (
    Engine,
    EngineError,
    kernel_supported,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import (
    Device,
    Peer,
    PeerStats,
    Plan,
    format_endpoint,
    sorted_networks,
    split_endpoint,
)

try:
    from pyroute2 import WireGuard
    from pyroute2.netlink.exceptions import NetlinkError
except ImportError:
    HAS_PYROUTE2 = False
    PYROUTE2_IMPORT_ERROR = traceback.format_exc()
    WireGuard = None

    class NetlinkError(Exception):  # type: ignore[no-redef]
        code = 0
else:
    HAS_PYROUTE2 = True
    PYROUTE2_IMPORT_ERROR = None

ZERO_KEY = base64.b64encode(bytes(32)).decode('ascii')
NO_KERNEL_WIREGUARD = ('engine=kernel, but this kernel cannot create WireGuard links (no wireguard module): '
                       'use engine=userspace (wireguard-go) or engine=auto')


def _key_text(value) -> Optional[str]:
    """A key attribute as pyroute2 decodes it (base64 bytes or str) -> base64 str; zero -> None."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode('ascii')
    value = str(value)
    if value == ZERO_KEY:
        return None
    return value


def _endpoint_text(value) -> Optional[str]:
    if not value:
        return None
    addr = value.get('addr')
    port = value.get('port')
    if not addr or not port:
        return None
    return format_endpoint(addr, int(port))


def device_from_messages(messages) -> Device:
    """Merge every message of a WG_CMD_GET_DEVICE dump into one Device (peers by public key)."""
    private_key = None
    listen_port = None
    fwmark = 0
    peers: Dict[str, dict] = {}
    order: List[str] = []
    for msg in messages:
        value = _key_text(msg.get_attr('WGDEVICE_A_PRIVATE_KEY'))
        if value is not None:
            private_key = value
        value = msg.get_attr('WGDEVICE_A_LISTEN_PORT')
        if value is not None:
            listen_port = int(value)
        value = msg.get_attr('WGDEVICE_A_FWMARK')
        if value is not None:
            fwmark = int(value)
        for nla in msg.get_attr('WGDEVICE_A_PEERS') or ():
            pub = _key_text(nla.get_attr('WGPEER_A_PUBLIC_KEY'))
            if pub is None:
                continue
            rec = peers.get(pub)
            if rec is None:
                rec = peers[pub] = {'allowed': [], 'psk': None, 'endpoint': None, 'keepalive': 0,
                                    'handshake': 0, 'rx': 0, 'tx': 0}
                order.append(pub)
            psk = nla.get_attr('WGPEER_A_PRESHARED_KEY')
            if psk is not None:
                rec['psk'] = _key_text(psk)
            endpoint = _endpoint_text(nla.get_attr('WGPEER_A_ENDPOINT'))
            if endpoint is not None:
                rec['endpoint'] = endpoint
            value = nla.get_attr('WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL')
            if value is not None:
                rec['keepalive'] = int(value)
            value = nla.get_attr('WGPEER_A_LAST_HANDSHAKE_TIME')
            if value is not None:
                rec['handshake'] = int(value.get('tv_sec') or 0)
            value = nla.get_attr('WGPEER_A_RX_BYTES')
            if value is not None:
                rec['rx'] = int(value)
            value = nla.get_attr('WGPEER_A_TX_BYTES')
            if value is not None:
                rec['tx'] = int(value)
            for aip in nla.get_attr('WGPEER_A_ALLOWEDIPS') or ():
                text = aip.get('addr')
                if text:
                    rec['allowed'].append(text)
    out_peers = {}
    stats = {}
    for pub in order:
        rec = peers[pub]
        out_peers[pub] = Peer(
            public_key=pub,
            preshared_key=rec['psk'],
            endpoint=rec['endpoint'],
            allowed_ips=sorted_networks(rec['allowed']),
            persistent_keepalive=rec['keepalive'],
        )
        stats[pub] = PeerStats(latest_handshake=rec['handshake'], rx_bytes=rec['rx'], tx_bytes=rec['tx'])
    return Device(private_key=private_key, listen_port=listen_port, fwmark=fwmark,
                  peers=out_peers, stats=stats)


def _peer_args(peer: Peer, fields) -> dict:
    """The pyroute2 `peer` dict for an add (fields None: everything) or an update (changed fields)."""
    out = {
        'public_key': peer.public_key,
        # Replace semantics; sent always, since pyroute2 0.7.2 always sets the replace flag.
        'replace_allowed_ips': True,
        'allowed_ips': list(peer.allowed_ips),
    }
    update = fields is not None
    if (not update and peer.preshared_key) or (update and 'preshared_key' in fields):
        out['preshared_key'] = peer.preshared_key or ZERO_KEY
    if peer.endpoint and (not update or 'endpoint' in fields):
        host, port = split_endpoint(peer.endpoint)
        out['endpoint_addr'] = host
        out['endpoint_port'] = port
    if (not update and peer.persistent_keepalive) or (update and 'persistent_keepalive' in fields):
        out['persistent_keepalive'] = int(peer.persistent_keepalive or 0)
    return out


def set_calls(plan: Plan) -> List[dict]:
    """The keyword arguments of every WireGuard().set(ifname, **kw) call that applies the plan.

    One call with the device fields (if any), then one per peer change in plan order.
    """
    calls: List[dict] = []
    device = {}
    for field in ('private_key', 'listen_port', 'fwmark'):
        if field in plan.device:
            device[field] = plan.device[field]
    if device:
        calls.append(device)
    for change in plan.peers:
        if change.action == 'remove':
            calls.append({'peer': {'public_key': change.public_key, 'remove': True}})
        elif change.action == 'add':
            calls.append({'peer': _peer_args(change.peer, None)})
        elif change.action == 'update':
            calls.append({'peer': _peer_args(change.peer, tuple(change.fields))})
        else:
            raise EngineError(f'unknown peer change {change.action!r}')
    return calls


def _describe_call(kw: dict) -> str:
    """A call without secrets, for error messages."""
    if 'peer' in kw:
        peer = kw['peer']
        what = 'remove' if peer.get('remove') else 'set'
        return f"{what} peer {peer['public_key']}"
    return 'set ' + ', '.join(sorted(kw))


class NetlinkEngine(Engine):
    kind = 'kernel'

    def __init__(self, wireguard_factory=None):
        if wireguard_factory is None and not HAS_PYROUTE2:
            raise EngineError('the kernel engine needs ' + _iproute.PYROUTE2_REQUIREMENT)
        self._factory = wireguard_factory or WireGuard

    def _open(self):
        try:
            return self._factory()
        except NetlinkError as exc:
            raise EngineError(
                'the kernel has no WireGuard generic netlink family (module wireguard not loaded?): '
                f'{exc}; use engine=userspace with wireguard-go instead'
            ) from exc

    def exists(self, ifname: str) -> bool:
        return _iproute.link_kind(ifname) == 'wireguard'

    def preflight(self) -> None:
        if not kernel_supported():
            raise EngineError(NO_KERNEL_WIREGUARD)

    def create(self, ifname: str) -> None:
        try:
            _iproute.create_link(ifname, 'wireguard')
        except NetlinkError as exc:
            if getattr(exc, 'code', None) == errno.EOPNOTSUPP:
                raise EngineError(NO_KERNEL_WIREGUARD) from exc
            raise EngineError(f'cannot create WireGuard link {ifname}: {exc}') from exc

    def delete(self, ifname: str) -> None:
        _iproute.delete_link(ifname)

    def read(self, ifname: str) -> Device:
        wg = self._open()
        try:
            messages = list(wg.info(ifname))
        except NetlinkError as exc:
            raise EngineError(f'cannot read WireGuard device {ifname}: {exc}') from exc
        finally:
            wg.close()
        return device_from_messages(messages)

    def apply(self, ifname: str, plan: Plan) -> None:
        calls = set_calls(plan)
        if not calls:
            return
        wg = self._open()
        try:
            for kw in calls:
                try:
                    wg.set(ifname, **kw)
                except (NetlinkError, ValueError) as exc:
                    raise EngineError(f'{ifname}: {_describe_call(kw)} failed: {exc}') from exc
        finally:
            wg.close()
