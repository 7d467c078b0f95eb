# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small pure checks of single values, shared by the controller's input check, the registry
schema (plugin_utils/_registry_schema.py) and the preflight verdict.

Each returns None when the value is good, else the problem as a phrase that a caller prefixes with
the variable or file it came from and follows with the fix. Nothing here prints a key's text.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Optional

from ansible_collections.meshlab.wireguard.plugins.module_utils._keys import decode_key
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import InputError

# RFC 1123 host name label; a name may end with one dot (fully qualified)
_LABEL = re.compile(r'^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$')


def key_problem(value, what: str = 'the key') -> Optional[str]:
    """None for a valid base64 WireGuard key (32 bytes, canonical, not all zeros), else why not."""
    if not isinstance(value, str):
        return f'{what} must be a string of 44 base64 characters, got {type(value).__name__}'
    try:
        decode_key(value, what)
    except InputError as exc:
        return str(exc)
    return None


def _is_ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text.partition('%')[0]).version == 6
    except ValueError:
        return False


def endpoint_host_problem(value) -> Optional[str]:
    """None for '' (no endpoint), an IP address or a DNS name; else the problem.

    The endpoint of a member is its host part only: the port is the network's port. So
    '198.51.100.12:51820' is refused (it names the port problem, not an IPv6 one), as are
    spaces, a bracketed IPv4 address, loopback, unspecified and multicast addresses (peers
    cannot reach a host there) and names that are not valid DNS names.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        return f'must be a string (an address or a DNS name), got {type(value).__name__}'
    text = value.strip()
    if text == '':
        return None
    if text != value or any(c.isspace() for c in text):
        return f'{value!r} contains spaces or line breaks; write only the address or DNS name'
    bracketed = text.startswith('[') and text.endswith(']')
    inner = text[1:-1] if bracketed else text
    try:
        ip = ipaddress.ip_address(inner.partition('%')[0])
    except ValueError:
        ip = None
    if ip is not None:
        if bracketed and ip.version == 4:
            return f'{value!r}: brackets are only for IPv6 addresses; write {inner}'
        if ip.is_loopback or ip.is_unspecified or ip.is_multicast:
            kind = 'loopback' if ip.is_loopback else ('unspecified' if ip.is_unspecified else 'multicast')
            return f'{value!r} is a {kind} address, which peers cannot dial; give an address they reach'
        return None
    host, sep, port = text.rpartition(':')
    if sep and port.isdigit() and host:
        bare = host[1:-1] if host.startswith('[') and host.endswith(']') else host
        if ':' not in bare or _is_ipv6(bare):
            return (f'{value!r} holds a port (:{port}); give the host only: {bare} (the port is '
                    'the network\'s port, wireguard_networks[].port)')
    if bracketed or ':' in text:
        return (f'{value!r} is not an IPv6 address (write an IPv6 address without a port, '
                'e.g. fd3a:6c1e:9b42:1::11)')
    name = text[:-1] if text.endswith('.') else text
    labels = name.split('.')
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        return f'{value!r} is neither an IP address nor a valid DNS name'
    if all(label.isdigit() for label in labels):
        return f'{value!r} is not a valid IPv4 address'
    return None


def interface_address_problem(value) -> Optional[str]:
    """None for an interface address with a prefix ('100.64.0.1/24'), else the problem."""
    if not isinstance(value, str):
        return f'{value!r} is not an address with a prefix (a string such as 100.64.0.1/24)'
    try:
        ipaddress.ip_interface(value.strip())
    except ValueError:
        return f'{value!r} is not an address with a prefix, e.g. 100.64.0.1/24'
    return None


def network_problem(value) -> Optional[str]:
    """None for a network in CIDR ('203.0.113.0/27'), else the problem."""
    if not isinstance(value, str):
        return f'{value!r} is not a network (a string such as 203.0.113.0/27)'
    try:
        ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return f'{value!r} is not a network in CIDR form, e.g. 203.0.113.0/27'
    return None


def port_problem(value) -> Optional[str]:
    """None for a UDP port 1..65535 (an int, not a bool), else the problem."""
    if isinstance(value, bool) or not isinstance(value, int):
        return f'{value!r} is not a port number'
    if not 1 <= value <= 65535:
        return f'{value} is outside 1..65535'
    return None
