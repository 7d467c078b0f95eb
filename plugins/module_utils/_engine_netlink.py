# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel WireGuard over generic netlink, through pyroute2's WireGuard() (0.7.x and 0.9.x).

Run on real kernels with Debian 12's python3-pyroute2 0.7.2 (kernel 6.1), Debian 13's 0.7.7
(kernel 6.12, Python 3.13) and 0.9.x (tests/lab/test_engines_kernel.py). pyroute2's changelog
between 0.7.2 and 0.7.7 touches nothing used here (netlink socket internals, link_lookup altnames),
so both Debian releases run the same code.

Reading: WireGuard().info(ifname) answers a dump of several messages. A device with many peers
is split across messages, and so may be one peer's allowed IPs: the next message then repeats the
peer's public key with the rest of its allowed IPs and nothing else. `device_from_messages`
merges every message, peer by public key, so the result does not depend on where the kernel cut.

Writing: pyroute2's own WireGuard().set() is not used. It sends one peer per call, its 0.7.x line
has the peer flag constants off by one (every call sets REPLACE_ALLOWEDIPS, none can set
UPDATE_ONLY), and neither line can send more allowed IPs than fit in one 64 KiB attribute (a
struct.error). Instead `set_messages(ifname, plan)` builds WG_CMD_SET_DEVICE messages from
pyroute2's message class `wgmsg` with the kernel's flag values, as wg(8) does:
- the device fields (private key, port, fwmark) go in the first message;
- peer changes follow in plan order, packed into messages of at most MESSAGE_BUDGET bytes of
  peer attributes (WGDEVICE_A_PEERS is a nested attribute with a 16-bit length);
- remove -> WGPEER_F_REMOVE_ME; add -> every field, REPLACE_ALLOWEDIPS; update ->
  UPDATE_ONLY and only the changed fields (REPLACE_ALLOWEDIPS + the full list when the allowed
  IPs changed; the all-zero key removes a PSK);
- a peer whose allowed IPs do not fit continues in the next message(s): public key,
  UPDATE_ONLY, more allowed IPs (no replace flag), as wg(8) continues a peer.
They are sent with `nlm_request(..., NLM_F_REQUEST | NLM_F_ACK)`, the same call in 0.7 and 0.9.
An endpoint must be a literal IP (names are resolved earlier, in `_desired`); an endpoint
cannot be cleared (WireGuard has no way), which the plan already accounts for.
"""

from __future__ import annotations

import base64
import errno
import socket
import struct
import traceback
from typing import Dict, Iterable, List, Optional

from ansible_collections.meshlab.wireguard.plugins.module_utils import _iproute
from ansible_collections.meshlab.wireguard.plugins.module_utils._engines import (
    ENGINE_BY_NAME,
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
    network,
    sorted_networks,
    split_endpoint,
)

try:
    from pyroute2 import WireGuard
    from pyroute2.netlink.exceptions import NetlinkError
    from pyroute2.netlink.generic.wireguard import wgmsg
except ImportError:
    HAS_PYROUTE2 = False
    PYROUTE2_IMPORT_ERROR = traceback.format_exc()
    WireGuard = None
    wgmsg = None

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


def device_from_messages(messages, only: Optional[Iterable[str]] = None) -> Device:
    """Merge every message of a WG_CMD_GET_DEVICE dump into one Device (peers by public key).

    only: public keys; the other peers are left out (the kernel dumps them all anyway).
    """
    wanted = None if only is None else set(only)
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
            if pub is None or (wanted is not None and pub not in wanted):
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


WG_CMD_SET_DEVICE = 1
WG_GENL_VERSION = 1
WGPEER_F_REMOVE_ME = 0x1
WGPEER_F_REPLACE_ALLOWEDIPS = 0x2
WGPEER_F_UPDATE_ONLY = 0x4
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
# Bytes of peer attributes per message: well below the 65535 a nested attribute can hold.
MESSAGE_BUDGET = 32 * 1024
# Attribute sizes (header included, padded to 4) for the budget.
_PEER_BASE = 4 + 36 + 8 + 4  # container, public key, flags, allowed-IPs container
_SIZE = {'preshared_key': 36, 'endpoint4': 20, 'endpoint6': 32, 'keepalive': 8}
_AIP_SIZE = {4: 28, 6: 40}


def _allowed_ip(text: str):
    net = network(text)
    family = socket.AF_INET if net.version == 4 else socket.AF_INET6
    nla = {'attrs': [['WGALLOWEDIP_A_FAMILY', family],
                     ['WGALLOWEDIP_A_IPADDR', net.network_address.packed],
                     ['WGALLOWEDIP_A_CIDR_MASK', net.prefixlen]]}
    return nla, _AIP_SIZE[net.version]


def _peer_chunks(change, budget: int):
    """[(peer nla dict, size)] for one PeerChange: one chunk, or more when its allowed IPs are many."""
    pub = change.public_key
    if change.action == 'remove':
        return [({'attrs': [['WGPEER_A_PUBLIC_KEY', pub], ['WGPEER_A_FLAGS', WGPEER_F_REMOVE_ME]]},
                 _PEER_BASE)]
    if change.action not in ('add', 'update'):
        raise EngineError(f'unknown peer change {change.action!r}')
    peer = change.peer
    update = change.action == 'update'
    fields = set(change.fields) if update else {'preshared_key', 'endpoint', 'persistent_keepalive',
                                                'allowed_ips'}
    attrs = [['WGPEER_A_PUBLIC_KEY', pub]]
    size = _PEER_BASE
    flags = WGPEER_F_UPDATE_ONLY if update else 0
    if 'preshared_key' in fields and (update or peer.preshared_key):
        attrs.append(['WGPEER_A_PRESHARED_KEY', peer.preshared_key or ZERO_KEY])
        size += _SIZE['preshared_key']
    if 'endpoint' in fields and peer.endpoint:
        host, port = split_endpoint(peer.endpoint)
        attrs.append(['WGPEER_A_ENDPOINT', {'addr': host.partition('%')[0], 'port': port}])
        size += _SIZE['endpoint6' if ':' in host else 'endpoint4']
    if 'persistent_keepalive' in fields and (update or peer.persistent_keepalive):
        attrs.append(['WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL', int(peer.persistent_keepalive or 0)])
        size += _SIZE['keepalive']
    nets = []
    if 'allowed_ips' in fields:
        flags |= WGPEER_F_REPLACE_ALLOWEDIPS
        nets = [_allowed_ip(text) for text in peer.allowed_ips]
    chunks = []
    current = []
    for nla, nla_size in nets:
        if current and size + nla_size > budget:
            chunks.append((attrs, flags, current, size))
            # a continuation: the same peer, more allowed IPs, nothing replaced
            attrs, flags, current, size = [['WGPEER_A_PUBLIC_KEY', pub]], WGPEER_F_UPDATE_ONLY, [], _PEER_BASE
        current.append(nla)
        size += nla_size
    chunks.append((attrs, flags, current, size))
    out = []
    for attrs, flags, aips, size in chunks:
        nla = {'attrs': [*attrs, ['WGPEER_A_FLAGS', flags]]}
        if aips:
            nla['attrs'].append(['WGPEER_A_ALLOWEDIPS', aips])
        out.append((nla, size))
    return out


def set_messages(ifname: str, plan: Plan, budget: int = MESSAGE_BUDGET) -> List[list]:
    """The attribute lists of the WG_CMD_SET_DEVICE messages that apply the plan, in order.

    Empty when the plan has no device field and no peer change.
    """
    device = []
    if plan.device.get('private_key') is not None:
        device.append(['WGDEVICE_A_PRIVATE_KEY', str(plan.device['private_key'])])
    if plan.device.get('listen_port') is not None:
        device.append(['WGDEVICE_A_LISTEN_PORT', int(plan.device['listen_port'])])
    if plan.device.get('fwmark') is not None:
        device.append(['WGDEVICE_A_FWMARK', int(plan.device['fwmark'])])
    messages: List[list] = []
    peers: list = []
    used = 0

    def flush():
        nonlocal peers, used
        attrs = [['WGDEVICE_A_IFNAME', ifname]]
        if not messages:
            attrs.extend(device)
        if peers:
            attrs.append(['WGDEVICE_A_PEERS', peers])
        messages.append(attrs)
        peers, used = [], 0

    for change in plan.peers:
        for nla, size in _peer_chunks(change, budget):
            if peers and used + size > budget:
                flush()
            peers.append(nla)
            used += size
    if peers or device:
        flush()
    return messages


def _describe_message(attrs: list) -> str:
    """What a message does, without secrets, for error messages."""
    peers = next((value for name, value in attrs if name == 'WGDEVICE_A_PEERS'), [])
    fields = [item[0][len('WGDEVICE_A_'):].lower() for item in attrs
              if item[0] not in ('WGDEVICE_A_IFNAME', 'WGDEVICE_A_PEERS')]
    keys = []
    for peer in peers:
        key = peer['attrs'][0][1]
        if key not in keys:
            keys.append(key)
    parts = []
    if fields:
        parts.append('set ' + ', '.join(fields))
    if keys:
        parts.append(f'{len(keys)} peer(s) starting with {keys[0]}')
    return ' and '.join(parts) or 'empty set'


LINK_KIND = ENGINE_BY_NAME['kernel'].link_kind  # 'wireguard'


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
        return _iproute.link_kind(ifname) == LINK_KIND

    def preflight(self) -> None:
        if not kernel_supported():
            raise EngineError(NO_KERNEL_WIREGUARD)

    def create(self, ifname: str) -> None:
        try:
            _iproute.create_link(ifname, LINK_KIND)
        except NetlinkError as exc:
            if getattr(exc, 'code', None) == errno.EOPNOTSUPP:
                raise EngineError(NO_KERNEL_WIREGUARD) from exc
            raise EngineError(f'cannot create WireGuard link {ifname}: {exc}') from exc

    def delete(self, ifname: str) -> None:
        _iproute.delete_link(ifname)

    def read(self, ifname: str, peers: Optional[Iterable[str]] = None) -> Device:
        wg = self._open()
        try:
            messages = list(wg.info(ifname))
        except NetlinkError as exc:
            raise EngineError(f'cannot read WireGuard device {ifname}: {exc}') from exc
        finally:
            wg.close()
        return device_from_messages(messages, only=peers)

    def apply(self, ifname: str, plan: Plan) -> None:
        messages = set_messages(ifname, plan)
        if not messages:
            return
        wg = self._open()
        try:
            for attrs in messages:
                msg = wgmsg()
                msg['cmd'] = WG_CMD_SET_DEVICE
                msg['version'] = WG_GENL_VERSION
                msg['attrs'] = attrs
                try:
                    for _reply in wg.nlm_request(msg, msg_type=wg.prid, msg_flags=NLM_F_REQUEST | NLM_F_ACK):
                        pass
                except (NetlinkError, ValueError, struct.error) as exc:
                    raise EngineError(f'{ifname}: {_describe_message(attrs)} failed: {exc}') from exc
        finally:
            wg.close()
