# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a wg-quick(8) configuration from a desired Interface, and read peer names and endpoints back.

The file is what brings the interface back after a reboot (wg-quick@<name>), so `wg-quick up`
must rebuild the state wireguard_interface sets: keys, port, fwmark, peers, addresses, MTU and
the routes of desired_routes().

Routes (the decision, also in the module documentation):
- By default no `Table` line: wg-quick adds a route for every allowed IP unless a route on the
  interface already covers it (`ip route show dev IF match NET`), which is exactly
  desired_routes(): allowed IPs minus those inside the interface's own address prefixes.
- A default route (0.0.0.0/0 or ::/0) among the allowed IPs: wg-quick would install policy
  routing (fwmark 51820, `ip rule` suppress_prefixlength) that this collection never sets up.
  Then `Table = off`, and the routes of desired_routes() are added by `PostUp = ip -4|-6 route
  replace NET dev %i` lines instead (default routes stay out, as the module does).
- manage_routes=False: `Table = off` and no route lines (the module leaves routes alone too).
- MTU: written when the desired MTU is set; otherwise wg-quick picks its automatic MTU.

The file holds the private key (PrivateKey) unless private_key_path is given: then
`PostUp = wg set %i private-key PATH` loads it from the key file. The module writes the file 0600.
Output is stable: the same input gives the same bytes (peers sorted by public key, addresses and
allowed IPs sorted), so the module rewrites it only on a real change.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from typing import Dict, List, Optional

from ansible_collections.meshlab.wireguard.plugins.module_utils._model import (
    Interface,
    canonical_endpoint,
    network,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._plan import desired_routes

HEADER = '# Managed by meshlab.wireguard (wireguard_interface): local changes are overwritten.'
_NAME_RE = re.compile(r'^\s*#\s*name\s*=\s*(.*?)\s*$', re.IGNORECASE)


def _net_key(text: str):
    net = network(text)
    return (net.version, net.network_address, net.prefixlen)


def _iface_key(text: str):
    iface = ipaddress.ip_interface(text)
    return (iface.version, iface.ip, iface.network.prefixlen)


def _one_line(text) -> str:
    return ' '.join(str(text).split())


def _has_default_route(interface: Interface) -> bool:
    for peer in interface.device.peers.values():
        for net in peer.allowed_ips:
            if network(net).prefixlen == 0:
                return True
    return False


def render(interface: Interface, peer_names: Optional[Dict[str, str]] = None,
           private_key_path: Optional[str] = None, manage_routes: bool = True) -> str:
    """The wg-quick configuration text for `interface` (see the module docstring for the rules).

    peer_names maps public keys to friendly names, written as `# Name = X` above each [Peer].
    private_key_path: load the key from that file at `wg-quick up` instead of embedding it.
    """
    peer_names = peer_names or {}
    dev = interface.device
    link = interface.link
    lines: List[str] = [HEADER, '[Interface]']
    post_up: List[str] = []
    if private_key_path:
        if any(c in str(private_key_path) for c in '#\n\r%'):
            raise ValueError("private_key_path for wg-quick must not contain '#', '%' or line breaks")
        post_up.append('wg set %i private-key ' + shlex.quote(str(private_key_path)))
    elif dev.private_key:
        lines.append('PrivateKey = ' + dev.private_key)
    if dev.listen_port is not None:
        lines.append(f'ListenPort = {int(dev.listen_port)}')
    if dev.fwmark:
        lines.append(f'FwMark = {int(dev.fwmark)}')
    if link.addresses:
        lines.append('Address = ' + ', '.join(sorted(link.addresses, key=_iface_key)))
    if link.mtu is not None:
        lines.append(f'MTU = {int(link.mtu)}')
    if not manage_routes:
        lines.append('Table = off')
    elif _has_default_route(interface):
        lines.append('Table = off')
        for net in sorted(desired_routes(interface), key=_net_key):
            family = '-6' if ':' in net else '-4'
            post_up.append(f'ip {family} route replace {net} dev %i')
    lines.extend('PostUp = ' + cmd for cmd in post_up)

    for pub in sorted(dev.peers):
        peer = dev.peers[pub]
        lines.append('')
        name = peer_names.get(pub)
        if name:
            lines.append('# Name = ' + _one_line(name))
        lines.append('[Peer]')
        lines.append('PublicKey = ' + pub)
        if peer.preshared_key:
            lines.append('PresharedKey = ' + peer.preshared_key)
        if peer.endpoint:
            lines.append('Endpoint = ' + peer.endpoint)
        if peer.allowed_ips:
            lines.append('AllowedIPs = ' + ', '.join(sorted(peer.allowed_ips, key=_net_key)))
        if peer.persistent_keepalive:
            lines.append(f'PersistentKeepalive = {int(peer.persistent_keepalive)}')
    return '\n'.join(lines) + '\n'


def parse_names(text: str) -> Dict[str, str]:
    """{public_key: name} from the `# Name = X` comments of a wg-quick file (render's or a user's).

    A name comment belongs to the [Peer] that follows it (only blank or comment lines between),
    or, written inside a [Peer] section before its keys end, to that peer. Case-insensitive, as
    wg-quick is. Never returns secrets.
    """
    out: Dict[str, str] = {}
    pending: Optional[str] = None
    in_peer = False
    name: Optional[str] = None
    key: Optional[str] = None

    def close():
        if in_peer and key and name:
            out[key] = name

    for raw in (text or '').splitlines():
        line = raw.strip()
        match = _NAME_RE.match(line)
        if match:
            pending = match.group(1) or None
            continue
        content = line.split('#', 1)[0].strip()
        if not content:
            continue
        if content.startswith('['):
            close()
            in_peer = content.lower() == '[peer]'
            name, key = (pending if in_peer else None), None
            pending = None
            continue
        if in_peer and pending is not None and name is None:
            name = pending
        pending = None
        field, sep, value = content.partition('=')
        if in_peer and sep and field.strip().lower() == 'publickey':
            key = value.strip()
    close()
    return out


def parse_endpoints(text: str) -> Dict[str, Optional[str]]:
    """{public_key: endpoint or None} for every [Peer] of a wg-quick file (render's or a user's).

    The endpoints as configured (what wireguard_interface set last time, when it wrote the file);
    a peer without an `Endpoint` line maps to None, so "configured without endpoint" differs from
    "not in the file" (key missing). Literal endpoints come back canonical ('[FD00::1]:1' ->
    '[fd00::1]:1'); anything else (a host name in a hand-written file) as written. Keys and
    values are case-insensitive as in wg-quick; a [Peer] without PublicKey is skipped. Never
    returns secrets.
    """
    out: Dict[str, Optional[str]] = {}
    in_peer = False
    key: Optional[str] = None
    endpoint: Optional[str] = None

    def close():
        if in_peer and key:
            out[key] = endpoint

    for raw in (text or '').splitlines():
        content = raw.split('#', 1)[0].strip()
        if not content:
            continue
        if content.startswith('['):
            close()
            in_peer = content.lower() == '[peer]'
            key, endpoint = None, None
            continue
        if not in_peer:
            continue
        field, sep, value = content.partition('=')
        if not sep:
            continue
        field, value = field.strip().lower(), value.strip()
        if field == 'publickey':
            key = value or None
        elif field == 'endpoint' and value:
            try:
                endpoint = canonical_endpoint(value)
            except ValueError:
                endpoint = value
    close()
    return out


def parse_private_key_path(text: str) -> Optional[str]:
    """The key file of `PostUp = wg set %i private-key PATH` (what render writes), or None."""
    for line in text.splitlines():
        key, sep, value = line.partition('=')
        if not sep or key.strip().lower() != 'postup':
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            continue
        if words[:4] == ['wg', 'set', '%i', 'private-key'] and len(words) == 5:
            return words[4]
    return None
