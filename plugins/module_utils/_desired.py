# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module parameters -> the desired Interface, with every input check done before any change.

All problems found in one run are reported together in one InputError (up to MAX_ERRORS), each
naming the option, the peer (by its `name` when given, else its public key or list position) and
the fix. Host access is injected (read_secret, resolve, public_key_of), so tests need no files,
DNS or PyNaCl.

Decisions (also in the module documentation):
- Interface name: 1..15 characters from [A-Za-z0-9_=+.-], not '.' or '..' — the set wg-quick
  accepts (a subset of what Linux accepts), since the interface is persisted as <name>.conf.
- listen_port: omitted/None = keep the live port (WireGuard picks a random one at creation);
  1..65535 otherwise. 0 is refused: it would mean "a new random port" and never converge.
- fwmark: omitted = 0 (off); 0..4294967295; a string such as '0x1f' is read as a number.
- mtu: omitted = leave the link's MTU alone; 576..65455 (65455 is the kernel's WireGuard maximum);
  with an IPv6 address on the interface at least 1280 (IPv6's minimum link MTU).
- persistent_keepalive: 0..65535 seconds, 0 (default) = off.
- addresses: canonical interface addresses ('100.64.0.1' -> '100.64.0.1/32'); the same IP
  twice (even with different prefixes) is an error.
- allowed_ips: host bits are cleared ('10.0.0.1/24' -> '10.0.0.0/24'), duplicates dropped, sorted.
  The same network claimed by two peers is an error: WireGuard would silently move it to the
  peer configured last. Nested networks of different peers (0.0.0.0/0 on an exit peer and
  10.1.0.0/24 on another) are allowed: WireGuard routes by longest prefix, as intended.
- endpoint: 'host:port' or '[ipv6]:port'; a host name is resolved on the managed host (the
  first address `resolve` returns is used) and stored literally, as WireGuard itself does.
- Keys: strict base64 of 32 bytes (see _keys.decode_key); a peer with the interface's own public
  key, or two peers with the same key, is an error.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Callable, Dict, List, Optional

from ansible_collections.meshlab.wireguard.plugins.module_utils._keys import canonical_key, clamped_key
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import (
    Device,
    InputError,
    Interface,
    Link,
    Peer,
    format_endpoint,
    network,
    split_endpoint,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._plan import desired_routes

MAX_ERRORS = 20
IFNAME_RE = re.compile(r'^[A-Za-z0-9_=+.-]{1,15}$')
MTU_MIN = 576
MTU_MIN_IPV6 = 1280
MTU_MAX = 65455
FWMARK_MAX = 0xFFFFFFFF


class _Errors:
    def __init__(self):
        self.items: List[str] = []

    def add(self, msg: str) -> None:
        self.items.append(msg)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        shown = self.items[:MAX_ERRORS]
        msg = '; '.join(shown)
        if len(self.items) > MAX_ERRORS:
            msg += f'; ... and {len(self.items) - MAX_ERRORS} more problems'
        if len(self.items) > 1:
            msg = f'{len(self.items)} problems: {msg}'
        raise InputError(msg)


def check_ifname(name) -> str:
    """Validate an interface name; return it. Raises InputError."""
    text = '' if name is None else str(name)
    if not IFNAME_RE.match(text) or text in ('.', '..'):
        raise InputError(
            f'name {text!r} is not a usable interface name: use 1 to 15 characters '
            "from A-Z a-z 0-9 _ = + . - (not '.' or '..'), for example 'wg0'"
        )
    return text


def _int_in_range(value, option: str, low: int, high: int, errors: _Errors, hint: str = '') -> Optional[int]:
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(value, 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        errors.add(f'{option} {value!r} is not a whole number: give a number from {low} to {high}{hint}')
        return None
    if not low <= number <= high:
        errors.add(f'{option} {number} is outside {low}..{high}{hint}')
        return None
    return number


def resolve_host(host: str, port: int) -> List[str]:
    """Default resolver for endpoints: getaddrinfo (UDP) on the managed host, in its preference order.

    Returns literal addresses without duplicates; raises OSError (socket.gaierror) when the name
    does not resolve.
    """
    out: List[str] = []
    for info in socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM, socket.IPPROTO_UDP):
        addr = info[4][0]
        if addr not in out:
            out.append(addr)
    return out


def _is_literal_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.partition('%')[0])
    except ValueError:
        return False
    return True


def _key(text, what: str, errors: _Errors) -> Optional[str]:
    try:
        if text is None:
            text = ''
        return canonical_key(text if isinstance(text, (str, bytes)) else str(text), what)
    except InputError as e:
        errors.add(str(e))
        return None


def _secret(value, path, option: str, label: str, read_secret, errors: _Errors,
            required: bool, how: str) -> Optional[str]:
    """One key given either inline (`option`) or as a file (`option`_path)."""
    path_option = option + '_path'
    has_value = value not in (None, '')
    has_path = path not in (None, '')
    if has_value and has_path:
        errors.add(f'{label}: give {option} or {path_option}, not both '
                   f'({path_option} is recommended: the key stays on the host)')
        return None
    if has_path:
        what = f'{label} {path_option}'
        try:
            text = read_secret(path, what)
        except InputError as e:
            msg = str(e)
            errors.add(msg if path_option in msg else f'{what}: {msg}')
            return None
        except Exception as e:  # read_secret is injected: report whatever it raises, with the option
            detail = getattr(e, 'strerror', None) or str(e) or type(e).__name__
            errors.add(f'{what}: cannot read {path} ({detail}): {how}')
            return None
        return _key(text, what, errors)
    if has_value:
        return _key(value, f'{label} {option}', errors)
    if required:
        errors.add(f'{label}: give {path_option} (a key file, recommended) or {option}: {how}')
    return None


def _peer_label(index: int, raw: dict, public_key: Optional[str]) -> str:
    name = raw.get('name')
    if name not in (None, ''):
        return f'peer {str(name)!r}'
    if public_key:
        return f'peer {public_key}'
    return f'peers[{index}]'


def _endpoint(text, label: str, resolve, errors: _Errors) -> Optional[str]:
    if text in (None, ''):
        return None
    try:
        host, port = split_endpoint(str(text))
    except ValueError as e:
        errors.add(f"{label} endpoint {text!r}: {e} (for example '198.51.100.1:51820' or '[fd3a::1]:51820')")
        return None
    if str(text).strip().startswith('[') and ':' not in host:
        errors.add(f"{label} endpoint {text!r}: brackets are only for IPv6 addresses: write 'host:port'")
        return None
    if _is_literal_ip(host) or ':' in host:
        try:
            return format_endpoint(host, port)
        except ValueError as e:
            errors.add(f'{label} endpoint {text!r}: {e}')
            return None
    try:
        found = list(resolve(host, port) or [])
    except Exception as e:  # resolve is injected; socket.gaierror and friends
        found = []
        reason = str(e) or type(e).__name__
    else:
        reason = 'no address returned'
    for addr in found:
        try:
            return format_endpoint(addr, port)
        except ValueError:
            continue
    errors.add(f'{label} endpoint {text!r}: the host name {host!r} does not resolve on the managed host '
               f'({reason}): use a literal IP address, or fix DNS or /etc/hosts on the host')
    return None


def _allowed_ips(items, label: str, errors: _Errors) -> tuple:
    nets = set()
    for item in items or ():
        try:
            nets.add(network(item))
        except ValueError:
            errors.add(f'{label} allowed_ips: {item!r} is not a network: write an address or CIDR, '
                       "for example '100.64.0.2/32' or 'fd3a:6c1e:9b42:100::2/128'")
    ordered = sorted(nets, key=lambda n: (n.version, n.network_address, n.prefixlen))
    return tuple(str(n) for n in ordered)


def _addresses(items, errors: _Errors) -> frozenset:
    out = {}
    for item in items or ():
        try:
            iface = ipaddress.ip_interface(str(item).strip())
        except ValueError:
            errors.add(f'addresses: {item!r} is not an interface address: write it as address/prefix, '
                       "for example '100.64.0.1/24' or 'fd3a:6c1e:9b42:100::1/64'")
            continue
        other = out.get(iface.ip)
        if other is not None and other != iface:
            errors.add(f'addresses: {other} and {iface} hold the same address with different prefixes: '
                       'keep one')
            continue
        out[iface.ip] = iface
    return frozenset(str(i) for i in out.values())


def desired_from_params(
    params: dict,
    read_secret: Callable[[str, str], str],
    resolve: Callable[[str, int], List[str]],
    public_key_of: Callable[[str], str],
) -> Optional[Interface]:
    """Build the validated desired Interface from wireguard_interface's parameters.

    Returns None for state=absent (after checking the name). Raises InputError listing every
    problem found. read_secret(path, what) returns a key file's text (e.g. _keys.read_key_file);
    resolve(host, port) returns addresses (e.g. resolve_host); public_key_of(private_b64)
    derives a public key (e.g. _keys.public_key_of).
    """
    name = check_ifname(params.get('name'))
    if (params.get('state') or 'present') == 'absent':
        return None
    errors = _Errors()

    private_key = _secret(
        params.get('private_key'), params.get('private_key_path'), 'private_key', 'interface ' + name,
        read_secret, errors, required=True,
        how='create one with meshlab.wireguard.wireguard_key',
    )
    if private_key:
        # The kernel and wireguard-go store the key clamped; compare (and configure) it that way, so
        # a valid unclamped key from another tool does not look changed on every run.
        private_key = clamped_key(private_key)
    own_public = public_key_of(private_key) if private_key else None

    listen_port = params.get('listen_port')
    if listen_port is not None and not isinstance(listen_port, bool) and str(listen_port).strip() == '0':
        errors.add('listen_port 0 is not allowed: leave listen_port out to let WireGuard pick a random port, '
                   'or give a port from 1 to 65535')
        listen_port = None
    else:
        listen_port = _int_in_range(listen_port, 'listen_port', 1, 65535, errors)
    fwmark = _int_in_range(params.get('fwmark'), 'fwmark', 0, FWMARK_MAX, errors, ' (0 = off)') or 0

    addresses = _addresses(params.get('addresses'), errors)
    has_v6 = any(':' in a for a in addresses)
    mtu = _int_in_range(params.get('mtu'), 'mtu', MTU_MIN, MTU_MAX, errors)
    if mtu is not None and has_v6 and mtu < MTU_MIN_IPV6:
        errors.add(f'mtu {mtu} is below {MTU_MIN_IPV6}, the minimum for IPv6, and the interface has an IPv6 '
                   f'address: raise mtu to at least {MTU_MIN_IPV6} or drop the IPv6 address')
        mtu = None

    peers: Dict[str, Peer] = {}
    labels: Dict[str, str] = {}
    owner_of_net: Dict[str, tuple] = {}
    for index, raw in enumerate(params.get('peers') or ()):
        raw = raw or {}
        pre_label = _peer_label(index, raw, None)
        public_key = _key(raw.get('public_key'), f'{pre_label} public_key', errors)
        label = _peer_label(index, raw, public_key)
        if public_key is not None and public_key == own_public:
            errors.add(f'{label} has the public key of interface {name} itself: remove this peer from the '
                       'list (a host does not peer with itself)')
            public_key = None
        if public_key is not None and public_key in peers:
            errors.add(f'{labels[public_key]} and {label} have the same public key {public_key}: '
                       'list each peer once')
            public_key = None
        peer_name = raw.get('name')
        if peer_name is not None and ('\n' in str(peer_name) or '\r' in str(peer_name)):
            errors.add(f'{label}: name must be one line')
        psk = _secret(raw.get('preshared_key'), raw.get('preshared_key_path'), 'preshared_key', label,
                      read_secret, errors, required=False,
                      how='create one with meshlab.wireguard.wireguard_key type=preshared')
        keepalive = _int_in_range(raw.get('persistent_keepalive'), f'{label} persistent_keepalive',
                                  0, 65535, errors, ' (0 = off)') or 0
        allowed = _allowed_ips(raw.get('allowed_ips'), label, errors)
        endpoint = _endpoint(raw.get('endpoint'), label, resolve, errors)
        for net in allowed:
            other = owner_of_net.get(net)
            if other is not None:
                errors.add(f'{other[1]} and {label} both claim allowed IP {net}: WireGuard would '
                           'silently give it to the peer configured last; keep it on one peer')
            else:
                owner_of_net[net] = (index, label)
        if public_key is None:
            continue
        labels[public_key] = label
        peers[public_key] = Peer(public_key=public_key, preshared_key=psk, endpoint=endpoint,
                                 allowed_ips=allowed, persistent_keepalive=keepalive)

    errors.raise_if_any()
    interface = Interface(
        name=name,
        device=Device(private_key=private_key, listen_port=listen_port, fwmark=fwmark, peers=peers),
        link=Link(exists=True, mtu=mtu, addresses=addresses, up=True),
    )
    if params.get('manage_routes', True):
        interface = Interface(
            name=name, device=interface.device,
            link=Link(exists=True, mtu=mtu, addresses=addresses, up=True, routes=desired_routes(interface)),
        )
    return interface


def own_public_key(interface: Optional[Interface], public_key_of: Callable[[str], str]) -> Optional[str]:
    """The public key of a (desired or live) interface, or None without a private key."""
    if interface is None or not interface.device.private_key:
        return None
    return public_key_of(interface.device.private_key)


def peer_names(params: dict) -> Dict[str, str]:
    """{public_key: friendly name} for the peers that have a `name` (for the wg-quick comments)."""
    out: Dict[str, str] = {}
    for raw in params.get('peers') or ():
        raw = raw or {}
        name = raw.get('name')
        if name in (None, ''):
            continue
        try:
            key = canonical_key(str(raw.get('public_key')), 'public_key')
        except InputError:
            continue
        out[key] = ' '.join(str(name).split())
    return out
