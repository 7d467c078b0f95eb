# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""WireGuard's cross-platform userspace API (UAPI): a text codec and a small socket client.

The protocol (https://www.wireguard.com/xplatform/, wireguard-go device/uapi.go): a request is
`get=1` or `set=1` followed by key=value lines and a blank line; the reply to `get` is key=value
lines, and every reply ends with `errno=N` and a blank line (N != 0 is a failure; wireguard-go
sends negative values such as -22 for EINVAL). Keys are 64 lowercase hex characters on the wire,
base64 everywhere else in this collection.

Order rules that wireguard-go enforces: device keys (private_key, listen_port, fwmark,
replace_peers) come before the first `public_key=`; every later line belongs to the peer named
by the last `public_key=`. Within a peer `update_only=true` / `remove=true` come right after
`public_key=` (update_only on a peer created by this very request removes it again), then
preshared_key, endpoint, persistent_keepalive_interval, replace_allowed_ips, allowed_ip — the
order wireguard-tools' ipc-uapi.h writes.

Stdlib only; key conversion comes from _keys.
"""

from __future__ import annotations

import errno as errno_mod
import os
import socket
from typing import Dict, Iterable, List, Optional, Union

from ansible_collections.meshlab.wireguard.plugins.module_utils._keys import b64_to_hex, hex_to_b64
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import (
    Device,
    Peer,
    PeerStats,
    Plan,
    canonical_endpoint,
    sorted_networks,
)

ZERO_KEY_HEX = '0' * 64
MAX_REPLY_BYTES = 64 * 1024 * 1024

_HINTS = {
    errno_mod.EINVAL: 'wireguard-go rejected a value or a line out of order',
    errno_mod.EADDRINUSE: 'the listen_port is already in use on this host: pick another listen_port',
    errno_mod.EPROTO: 'the reply was not understood',
    errno_mod.EIO: 'wireguard-go could not read or write the request',
}


class UapiError(Exception):
    """A UAPI reply with errno != 0, or a reply that could not be parsed.

    `errno` is the value as sent (wireguard-go sends negative numbers, e.g. -22).
    """

    def __init__(self, errno: int, message: str = ''):
        self.errno = int(errno)
        self.detail = message
        code = abs(self.errno)
        name = errno_mod.errorcode.get(code, 'E?')
        text = f'errno={self.errno} ({name}: {os.strerror(code)})' if code else 'errno=0'
        hint = _HINTS.get(code)
        parts = [p for p in (message, text, hint) if p]
        super().__init__(': '.join(parts))


def encode_get() -> bytes:
    return b'get=1\n\n'


def _reply_errno(lines: List[str]) -> Optional[int]:
    for line in reversed(lines):
        if line.startswith('errno='):
            try:
                return int(line[len('errno='):])
            except ValueError:
                raise UapiError(-errno_mod.EPROTO, f'malformed UAPI reply line {line!r}') from None
    return None


def parse_get(text: Union[str, bytes], only: Optional[Iterable[str]] = None) -> Device:
    """Parse a `get=1` reply into a Device (keys base64, stats filled, allowed IPs sorted).

    An all-zero preshared key means "no PSK" (None). A trailing errno=N with N != 0 raises
    UapiError; a missing errno line is accepted (text captured without it).
    only: public keys (base64); the other peers are skipped, not parsed (UAPI has no way to ask
    for some peers, and a verification after changing one peer of 1,000 needs only that one).
    """
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    lines = text.split('\n')
    # The reply ends at the first blank line after the data.
    if '' in lines:
        lines = lines[:lines.index('')]
    code = _reply_errno(lines)
    if code:
        raise UapiError(code, 'UAPI get failed')

    private_key = None
    listen_port = None
    fwmark = 0
    order: List[str] = []
    peers: Dict[str, dict] = {}
    current: Optional[dict] = None
    wanted = None if only is None else {b64_to_hex(k, 'public_key') for k in only}
    skipping = False
    for line in lines:
        key, sep, value = line.partition('=')
        if not sep:
            raise UapiError(-errno_mod.EPROTO, f'malformed UAPI reply line {line!r}')
        try:
            if key == 'errno':
                continue
            if key == 'public_key':
                skipping = wanted is not None and value.lower() not in wanted
                if skipping:
                    continue
                pub = hex_to_b64(value, 'public_key')
                current = peers.get(pub)
                if current is None:
                    current = {'psk': None, 'endpoint': None, 'allowed': [], 'keepalive': 0,
                               'sec': 0, 'rx': 0, 'tx': 0}
                    peers[pub] = current
                    order.append(pub)
                continue
            if skipping:
                continue
            if current is None:
                if key == 'private_key':
                    private_key = None if value == ZERO_KEY_HEX else hex_to_b64(value, 'private_key')
                elif key == 'listen_port':
                    listen_port = int(value)
                elif key == 'fwmark':
                    fwmark = int(value)
                continue  # unknown device keys are ignored (newer wireguard-go versions)
            if key == 'preshared_key':
                current['psk'] = None if value == ZERO_KEY_HEX else hex_to_b64(value, 'preshared_key')
            elif key == 'endpoint':
                current['endpoint'] = canonical_endpoint(value) if value else None
            elif key == 'allowed_ip':
                current['allowed'].append(value)
            elif key == 'persistent_keepalive_interval':
                current['keepalive'] = int(value)
            elif key == 'last_handshake_time_sec':
                current['sec'] = int(value)
            elif key == 'rx_bytes':
                current['rx'] = int(value)
            elif key == 'tx_bytes':
                current['tx'] = int(value)
            # protocol_version, last_handshake_time_nsec and unknown keys: nothing to keep
        except ValueError as e:
            raise UapiError(-errno_mod.EPROTO, f'malformed UAPI reply line {line!r}: {e}') from None

    out_peers: Dict[str, Peer] = {}
    stats: Dict[str, PeerStats] = {}
    for pub in order:
        p = peers[pub]
        try:
            allowed = sorted_networks(p['allowed'])
        except ValueError as e:
            raise UapiError(-errno_mod.EPROTO, f'malformed allowed_ip in UAPI reply: {e}') from None
        out_peers[pub] = Peer(public_key=pub, preshared_key=p['psk'], endpoint=p['endpoint'],
                              allowed_ips=allowed, persistent_keepalive=p['keepalive'])
        stats[pub] = PeerStats(latest_handshake=p['sec'], rx_bytes=p['rx'], tx_bytes=p['tx'])
    return Device(private_key=private_key, listen_port=listen_port, fwmark=fwmark, peers=out_peers,
                  stats=stats)


def _peer_lines(peer: Peer) -> List[str]:
    """All of a peer's configuration after its public_key line (used for adds and full sets)."""
    lines = []
    if peer.preshared_key:
        lines.append('preshared_key=' + b64_to_hex(peer.preshared_key, 'preshared_key'))
    if peer.endpoint:
        lines.append('endpoint=' + canonical_endpoint(peer.endpoint))
    if peer.persistent_keepalive:
        lines.append(f'persistent_keepalive_interval={int(peer.persistent_keepalive)}')
    lines.append('replace_allowed_ips=true')
    lines.extend('allowed_ip=' + net for net in peer.allowed_ips)
    return lines


def _update_lines(peer: Peer, fields) -> List[str]:
    lines = ['update_only=true']
    if 'preshared_key' in fields:
        psk = peer.preshared_key
        lines.append('preshared_key=' + (b64_to_hex(psk, 'preshared_key') if psk else ZERO_KEY_HEX))
    if 'endpoint' in fields and peer.endpoint:
        lines.append('endpoint=' + canonical_endpoint(peer.endpoint))
    if 'persistent_keepalive' in fields:
        lines.append(f'persistent_keepalive_interval={int(peer.persistent_keepalive or 0)}')
    if 'allowed_ips' in fields:
        lines.append('replace_allowed_ips=true')
        lines.extend('allowed_ip=' + net for net in peer.allowed_ips)
    return lines


def _device_lines(device_fields: Dict[str, object], replace_peers: bool) -> List[str]:
    lines = []
    if device_fields.get('private_key') is not None:
        lines.append('private_key=' + b64_to_hex(str(device_fields['private_key']), 'private_key'))
    if device_fields.get('listen_port') is not None:
        lines.append(f"listen_port={int(device_fields['listen_port'])}")
    if device_fields.get('fwmark') is not None:
        lines.append(f"fwmark={int(device_fields['fwmark'])}")
    if replace_peers:
        lines.append('replace_peers=true')
    return lines


def _finish(lines: List[str]) -> bytes:
    return ('\n'.join(lines) + '\n\n').encode('ascii')


def encode_set(plan: Plan, replace_peers: bool = False) -> bytes:
    """The minimal `set=1` request for the device fields and peer changes of a Plan.

    Device keys first (private_key, listen_port, fwmark), then per PeerChange `public_key=` and:
    remove -> `remove=true`; update -> `update_only=true` and only the changed fields (a changed
    allowed-IP set -> `replace_allowed_ips=true` + every allowed_ip; PSK removal -> an all-zero
    preshared_key); add -> everything (`replace_allowed_ips=true` too, so an add is exact even if
    the peer appeared meanwhile). Links (addresses, MTU, routes) are not UAPI's business.

    replace_peers=True drops every live peer first: only for plans that list every peer as an
    add (a create); remove changes are then skipped, update changes raise ValueError.
    A plan with no device or peer change gives `set=1` + blank line, a harmless no-op.
    """
    lines = ['set=1', *_device_lines(plan.device, replace_peers)]
    for change in plan.peers:
        if change.action == 'remove':
            if replace_peers:
                continue
            lines.append('public_key=' + b64_to_hex(change.public_key, 'public_key'))
            lines.append('remove=true')
        elif change.action == 'update':
            if replace_peers:
                raise ValueError('encode_set(replace_peers=True) needs a plan of adds only, got an update '
                                 f'for {change.public_key}')
            lines.append('public_key=' + b64_to_hex(change.public_key, 'public_key'))
            lines.extend(_update_lines(change.peer, change.fields))
        elif change.action == 'add':
            lines.append('public_key=' + b64_to_hex(change.public_key, 'public_key'))
            lines.extend(_peer_lines(change.peer))
        else:
            raise ValueError(f'unknown PeerChange action {change.action!r}')
    return _finish(lines)


class UapiClient:
    """Talks to one wireguard-go socket; one connection per request.

    OSError (missing socket, refused, timeout) propagates with a message naming the socket;
    replies with errno != 0 raise UapiError.
    """

    def __init__(self, socket_path: str, timeout: float = 5.0):
        self.socket_path = socket_path
        self.timeout = timeout

    def _os_error(self, e: OSError, op: str) -> OSError:
        hint = ''
        if e.errno in (errno_mod.ENOENT, errno_mod.ECONNREFUSED):
            hint = ': is wireguard-go running for this interface?'
        reason = e.strerror or str(e) or type(e).__name__
        if isinstance(e, socket.timeout) and not e.errno:
            reason = f'no complete reply within {self.timeout:.1f} s'
        msg = f'UAPI {op} on {self.socket_path} failed: {reason}{hint}'
        return OSError(e.errno, msg) if e.errno else OSError(msg)

    def request(self, payload: bytes, op: str = 'request') -> str:
        """Send one request, return the reply text up to and including `errno=N` (blank line dropped)."""
        chunks = []
        size = 0
        send_error = None
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(self.timeout)
                sock.connect(self.socket_path)
                try:
                    sock.sendall(payload)
                except (BrokenPipeError, ConnectionResetError) as e:
                    # wireguard-go answers an error at once and closes without reading the rest of
                    # the request: its errno reply may still be waiting to be read.
                    send_error = e
                tail = b''
                while True:
                    try:
                        data = sock.recv(65536)
                    except ConnectionResetError:
                        if not chunks:
                            raise
                        data = b''
                    if not data:
                        break
                    chunks.append(data)
                    size += len(data)
                    if size > MAX_REPLY_BYTES:
                        raise UapiError(-errno_mod.EPROTO, f'UAPI {op} on {self.socket_path}: reply '
                                                           f'larger than {MAX_REPLY_BYTES} bytes')
                    tail = (tail + data)[-4096:]
                    if tail.endswith(b'\n\n'):
                        last = tail[:-2].rsplit(b'\n', 1)[-1]
                        if last.startswith(b'errno='):
                            break
            finally:
                sock.close()
        except UapiError:
            raise
        except OSError as e:
            raise self._os_error(e, op) from None
        text = b''.join(chunks).decode('utf-8', 'replace')
        if send_error is not None and 'errno=' not in text:
            raise self._os_error(send_error, op)
        if not text.rstrip('\n').rsplit('\n', 1)[-1].startswith('errno='):
            raise UapiError(-errno_mod.EPROTO,
                            f'UAPI {op} on {self.socket_path}: the reply ended without errno=')
        return text.rstrip('\n')

    def get(self, only: Optional[Iterable[str]] = None) -> Device:
        """The device; with ONLY (public keys) just those peers (see parse_get)."""
        text = self.request(encode_get(), 'get')
        try:
            return parse_get(text, only)
        except UapiError as e:
            raise UapiError(e.errno, f'UAPI get on {self.socket_path}: {e.detail}') from None

    def set(self, payload: bytes) -> None:
        text = self.request(payload, 'set')
        code = _reply_errno(text.split('\n'))
        if code:
            raise UapiError(code, f'UAPI set on {self.socket_path} failed')
