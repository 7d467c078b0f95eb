# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet's fields: accepted keys, defaults and limits, and the small parsers the normalizer uses.

The keys and defaults here are the normalizer's side of ``roles/wireguard/meta/argument_specs.yml``;
``tests/unit/plugins/module_utils/test_topology_fields.py`` fails when the two drift apart.
Pure functions on plain data; nothing here touches a host or a file.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re

TOPOLOGIES = ('mesh', 'hub_and_spoke', 'site_to_site', 'groups')
NETWORK_STATES = ('present', 'absent')
DEFAULT_PORT = 51820
DEFAULT_KEEPALIVE = 25
# the boolean fields of a network, all false unless set
NETWORK_FLAGS = ('preshared_keys', 'masquerade', 'renumber')
REGISTRY_VERSION = 1
PSK_LABEL = b'meshlab.wireguard preshared key v1'
PSK_SECRET_MIN_LEN = 32
IFNAME_RE = re.compile(r'^[A-Za-z0-9_=+.-]{1,15}$')
NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$')

NETWORK_KEYS = (
    'name', 'state', 'port', 'topology', 'group', 'hosts', 'ipv4_pool', 'ipv6_pool', 'hubs',
    'peer_groups', 'preshared_keys', 'keepalive', 'mtu', 'masquerade', 'clients', 'renumber',
)
# WireGuard's largest MTU (the kernel's and wireguard_interface's limit); IPv6 needs 1280
MTU_MIN = 1280
MTU_MAX = 65455
# Per-host variables that name networks in their keys
PER_NETWORK_HOST_VARS = ('wireguard_addresses', 'wireguard_primary_hub')
SITE_KEYS = ('name', 'lans', 'hosts', 'group', 'gateway')
CLIENT_KEYS = ('name', 'host', 'addresses', 'allowed_ips', 'dns', 'keepalive', 'endpoint', 'mtu')


# --------------------------------------------------------------------------- addresses

def _net(text):
    return ipaddress.ip_network(str(text).strip(), strict=False)


def _iface(text):
    return ipaddress.ip_interface(str(text).strip())


def interface_ok(text):
    try:
        _iface(text)
    except ValueError:
        return False
    return True


def host_prefix(address):
    """'100.64.0.5/24' -> '100.64.0.5/32' (what a peer's allowed IPs carry for one address)."""
    ip = _iface(address).ip
    return f'{ip}/{ip.max_prefixlen}'


def _sort_nets(items):
    nets = {_net(i) for i in items}
    return [str(n) for n in sorted(nets, key=lambda n: (n.version, n.network_address, n.prefixlen))]


def format_endpoint(host, port):
    """'198.51.100.1', 51820 -> '198.51.100.1:51820'; IPv6 literals get brackets; names stay."""
    host = str(host).strip()
    if host.startswith('[') and host.endswith(']'):
        host = host[1:-1]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return f'{host}:{int(port)}'
    if ip.version == 6:
        return f'[{ip}]:{int(port)}'
    return f'{ip}:{int(port)}'


def _special_range(pool):
    """Why a pool cannot hold tunnel addresses (loopback, multicast ...), or None."""
    kinds = (('is_loopback', 'a loopback range'), ('is_multicast', 'a multicast range'),
             ('is_link_local', 'a link-local range'), ('is_unspecified', 'the unspecified address'))
    for test, what in kinds:
        if getattr(pool.network_address, test) or getattr(pool.broadcast_address, test):
            return what
    if pool.prefixlen == 0:
        return 'the whole address space'
    return None


# --------------------------------------------------------------------------- stable choices

def _h(*parts):
    """A stable integer from text parts (sha256; not Python's randomized hash())."""
    data = '\0'.join(str(p) for p in parts).encode('utf-8')
    return int.from_bytes(hashlib.sha256(data).digest(), 'big')


def rendezvous(network, name, candidates):
    """The candidate that `name` prefers (highest random weight): adding a candidate moves only
    the names that now prefer it, and the result does not depend on the order of candidates."""
    best = None
    for cand in sorted(candidates):
        score = _h('hub', network, name, cand)
        if best is None or score > best[0]:
            best = (score, cand)
    return best[1] if best else None


# --------------------------------------------------------------------------- input parsing

def _label(net):
    return 'wireguard_networks[{}] ({})'.format(net.get('index', '?'), net.get('name', '?'))


class _Problems:
    def __init__(self):
        self.errors = []
        self.warnings = []

    def err(self, msg):
        if msg not in self.errors:
            self.errors.append(msg)

    def warn(self, msg):
        if msg not in self.warnings:
            self.warnings.append(msg)


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _bool(value, default=False):
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ('yes', 'true', 'on', '1'):
            return True
        if low in ('no', 'false', 'off', '0', ''):
            return False
    if isinstance(value, int):
        return bool(value)
    raise ValueError(f'not a boolean: {value!r}')


def _int(value, default, lo, hi, where, problems, fix):
    if value is None or value == '':
        return default
    try:
        out = int(value)
    except (TypeError, ValueError):
        problems.err(f'{where}: {value!r} is not a number; {fix}')
        return default
    if not lo <= out <= hi:
        problems.err(f'{where}: {out} is outside {lo}..{hi}; {fix}')
        return default
    return out


def _unknown_keys(raw, known, where, p):
    for k in raw:
        if k not in known:
            p.err('{}: unknown key {!r}; known keys: {}'.format(where, k, ', '.join(known)))


def _expand(entries, groups, known_hosts):
    """Host names from a list of host names and inventory group names; unknown entries apart."""
    hosts, unknown = set(), []
    for e in _as_list(entries):
        e = str(e)
        if e in known_hosts:
            hosts.add(e)
        elif e in groups:
            hosts.update(groups[e])
        else:
            unknown.append(e)
    return hosts, unknown
