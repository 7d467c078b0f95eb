# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who peers with whom, which prefixes each peer carries, and tunnel address allocation.

Pure functions on plain data (dicts, lists, strings), so they run in filter plugins, in the
registry action plugin and in unit tests alike. Nothing here touches a host or a file.

Three inputs:

* the *fleet*: ``normalize(networks, sites, groups, hostvars)`` turns the role variables
  ``wireguard_networks`` and ``wireguard_sites``, the inventory groups and the few per-host
  variables (``wireguard_addresses``, ``wireguard_primary_hub``) into one normalized dict, and
  lists every input error (naming the variable and the fix) and warning. Membership comes from
  inventory groups and variables only, never from the play's host list, so ``--limit`` cannot
  shrink a network.
* the *registry*: public data each host published the last time it was configured
  (public key, endpoint, port, addresses ...), see ``plugins/action/wireguard_registry.py``.
* a host name: ``host_config(fleet, registry, host)`` gives that host's interfaces, peers,
  forwarding and firewall inputs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re

from ansible_collections.meshlab.wireguard.plugins.module_utils._checks import endpoint_host_problem

TOPOLOGIES = ('mesh', 'hub_and_spoke', 'site_to_site', 'groups')
DEFAULT_PORT = 51820
DEFAULT_KEEPALIVE = 25
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


# --------------------------------------------------------------------------- small helpers

def _net(text):
    return ipaddress.ip_network(str(text).strip(), strict=False)


def _iface(text):
    return ipaddress.ip_interface(str(text).strip())


def host_prefix(address):
    """'100.64.0.5/24' -> '100.64.0.5/32' (what a peer's allowed IPs carry for one address)."""
    ip = _iface(address).ip
    return f'{ip}/{ip.max_prefixlen}'


def _sort_nets(items):
    nets = {_net(i) for i in items}
    return [str(n) for n in sorted(nets, key=lambda n: (n.version, n.network_address, n.prefixlen))]


def _h(*parts):
    """A stable integer from text parts (sha256; not Python's randomized hash())."""
    data = '\0'.join(str(p) for p in parts).encode('utf-8')
    return int.from_bytes(hashlib.sha256(data).digest(), 'big')


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


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


def derive_psk(secret, network, public_key_a, public_key_b):
    """The preshared key of one pair: HMAC-SHA256(secret, label | network | both keys sorted).

    Identical on both ends (the keys are sorted), stable across runs and --limit (nothing random,
    nothing stored), different for every pair and network, and it changes by itself when either
    side's key is rotated. Returned base64 (44 chars), the form WireGuard tools use.
    """
    if not secret:
        raise ValueError('a preshared-key secret is required')
    first, second = sorted([str(public_key_a), str(public_key_b)])
    msg = b'\0'.join([PSK_LABEL, str(network).encode(), first.encode(), second.encode()])
    digest = hmac.new(str(secret).encode('utf-8'), msg, hashlib.sha256).digest()
    return base64.b64encode(digest).decode('ascii')


def rendezvous(network, name, candidates):
    """The candidate that `name` prefers (highest random weight): adding a candidate moves only
    the names that now prefer it, and the result does not depend on the order of candidates."""
    best = None
    for cand in sorted(candidates):
        score = _h('hub', network, name, cand)
        if best is None or score > best[0]:
            best = (score, cand)
    return best[1] if best else None


# --------------------------------------------------------------------------- allocation

def _usable_range(pool):
    """(first offset, count) of host offsets to hand out in a pool."""
    size = pool.num_addresses
    if pool.version == 4:
        if pool.prefixlen >= 31:
            return 0, size
        return 1, size - 2  # no network, no broadcast address
    if pool.prefixlen >= 127:
        return 0, size
    return 1, size - 1  # no subnet-router anycast address (::0)


def allocate_pool(pool, names, network, pinned=None, reserved=(), preferred=None):
    """Deterministic addresses from one pool.

    names      names that need an address from this pool (order does not matter)
    pinned     {name: 'ip/len'} addresses held before (the registry): kept when still inside the
               pool and not taken by a reserved address
    reserved   addresses (any form) that must not be handed out (explicit ones, stale entries)
    preferred  {name: offset} a preferred slot (used to give IPv6 the IPv4 host number)

    Every other name starts at a slot chosen by a hash of (network, name) and probes upwards to
    the next free one. Names are placed in sorted order, so the result depends only on the set of
    names, the pins and the reservations: not on host order, play order or --limit. Returns
    ({name: 'ip/poolprefix'}, unplaced names).
    """
    pool = _net(pool)
    pinned = pinned or {}
    preferred = preferred or {}
    first, count = _usable_range(pool)
    base = int(pool.network_address)
    taken = set()
    for addr in reserved:
        try:
            ip = _iface(addr).ip
        except ValueError:
            continue
        if ip in pool:
            taken.add(int(ip))
    out = {}
    # pins first, in name order; a pin that collides with a reservation or an earlier pin is dropped
    for name in sorted(n for n in names if n in pinned):
        try:
            ip = _iface(pinned[name]).ip
        except ValueError:
            continue
        off = int(ip) - base
        if ip.version != pool.version or ip not in pool or not first <= off < first + count:
            continue
        if int(ip) in taken:
            continue
        taken.add(int(ip))
        out[name] = f'{ip}/{pool.prefixlen}'
    todo = sorted(n for n in names if n not in out)
    free = count - sum(1 for t in taken if first <= t - base < first + count)
    unplaced = []
    for name in todo:
        if free <= 0:
            unplaced.append(name)
            continue
        if name in preferred and first <= preferred[name] < first + count:
            start = preferred[name] - first
        else:
            start = _h('slot', network, name) % count
        # linear probe; bounded by `count` but a free slot exists, and pools that are huge
        # (IPv6 /64) are nearly empty, so this ends after a few steps
        for step in range(count):
            off = first + (start + step) % count
            if base + off not in taken:
                taken.add(base + off)
                out[name] = f'{ipaddress.ip_address(base + off)}/{pool.prefixlen}'
                free -= 1
                break
    return out, unplaced


def _explicit_by_family(addresses):
    fam = {4: [], 6: []}
    for a in addresses:
        fam[_iface(a).version].append(str(_iface(a)))
    return fam


def _who(key):
    kind, name = key.split(':', 1)
    return f'{kind} {name}'


def _taken_by_explicit(net, parts, pins):
    """An explicit address (wireguard_addresses, clients[].addresses) that the registry holds for
    another host or client: honouring it would silently renumber that one. Refused instead."""
    holder = {}
    for k, addrs in pins.items():
        for a in addrs:
            try:
                holder.setdefault(_iface(a).ip, k)
            except ValueError:
                continue
    errors = []
    for k, fam in sorted(parts.items()):
        for a in fam[4] + fam[6]:
            other = holder.get(_iface(a).ip)
            if other is None or other == k:
                continue
            stale = other not in parts
            kind, name = k.split(':', 1)
            var = (f'wireguard_addresses.{net["name"]} of host {name}' if kind == 'host'
                   else f'{_label(net)}.clients ({name}).addresses')
            errors.append(
                f'{var}: {_iface(a).ip} is already allocated to {_who(other)} in the registry'
                + (' (a stale entry: it is no longer in the network)' if stale else '')
                + '; nothing already allocated moves: choose a free address'
                + (', or prune the stale entry (wireguard_registry_prune: true)' if stale else
                   f', or first give {_who(other)} another address'))
    return errors


def _pool_moves(net, key, pool, need, pins):
    """Registry addresses of participants that the current pool no longer holds: allocating again
    would renumber them. Refused unless the network says `renumber: true`."""
    first, count = _usable_range(pool)
    moved = []
    for k in sorted(need):
        addrs = [_iface(a) for a in pins.get(k, []) if interface_ok(a)]
        same = [a for a in addrs if a.version == pool.version]
        if not same:
            continue
        if not any(a.ip in pool and first <= int(a.ip) - int(pool.network_address) < first + count
                   for a in same):
            moved.append(f'{_who(k)} ({same[0]})')
    if not moved:
        return []
    return [f'{_label(net)}.{key}: {pool} no longer holds the addresses the registry gives '
            f'{", ".join(moved[:5])}{" ..." if len(moved) > 5 else ""}: this would renumber them. '
            f'Nothing already allocated moves by accident: restore the old {key}, or set '
            f'renumber: true on the network for the run that renumbers on purpose']


def interface_ok(text):
    try:
        _iface(text)
    except ValueError:
        return False
    return True


def allocate_network(net, registry_net=None):
    """Addresses of every member and client of one normalized network.

    Explicit addresses win; the rest come from ipv4_pool / ipv6_pool, keeping what the registry
    holds (so adding a host never moves another) and never reusing an address that any registry
    entry (also a stale one) or any explicit address holds. Returns
    {'hosts': {host: [addr, ...]}, 'clients': {client: [...]}, 'errors': [...]}.
    """
    registry_net = registry_net or {}
    reg_hosts = registry_net.get('hosts') or {}
    reg_clients = registry_net.get('clients') or {}
    label = _label(net)
    errors = []
    # participants: ('host', name) / ('client', name) -> explicit addresses by family
    parts = {}
    for h in net['members']:
        parts['host:' + h] = _explicit_by_family(net['explicit'].get(h, []))
    for c in net['clients']:
        parts['client:' + c['name']] = _explicit_by_family(c.get('addresses') or [])
    pins = {}
    for h, entry in reg_hosts.items():
        pins['host:' + h] = list((entry or {}).get('addresses') or [])
    for c, entry in reg_clients.items():
        pins['client:' + c] = list((entry or {}).get('addresses') or [])
    result = {k: list(v[4] + v[6]) for k, v in parts.items()}
    errors.extend(_taken_by_explicit(net, parts, pins))
    offsets4 = {}
    for version, key in ((4, 'ipv4_pool'), (6, 'ipv6_pool')):
        pool_text = net.get(key)
        if not pool_text:
            continue
        pool = _net(pool_text)
        need = [k for k, fam in parts.items() if not fam[version]]
        if not net.get('renumber'):
            errors.extend(_pool_moves(net, key, pool, need, pins))
        reserved = [a for fam in parts.values() for a in fam[version]]
        # registry addresses of names that no longer take part (stale) stay reserved until pruned
        for k, addrs in pins.items():
            if k not in parts or parts[k][version]:
                reserved.extend(addrs)
        pinned = {}
        for k in need:
            for a in pins.get(k, []):
                try:
                    ip = _iface(a).ip
                except ValueError:
                    continue
                if ip.version == version and ip in pool:
                    pinned[k] = a
                    break
        preferred = offsets4 if version == 6 else None
        got, unplaced = allocate_pool(pool, need, net['name'], pinned, reserved, preferred)
        if unplaced:
            _first, count = _usable_range(pool)
            errors.append(
                '{label}.{key}: pool {pool} is exhausted: {count} addresses for {need} hosts and '
                'clients that need one ({left} left without: {names}); widen {key}, or give some '
                'hosts explicit addresses in wireguard_addresses, or prune stale registry '
                'entries'.format(label=label, key=key, pool=pool, count=count, need=len(need),
                                 left=len(unplaced),
                                 names=', '.join(u.split(':', 1)[1] for u in unplaced[:5])))
        for k, addr in got.items():
            result[k].append(addr)
            if version == 4:
                offsets4[k] = int(_iface(addr).ip) - int(pool.network_address)
    hosts = {k.split(':', 1)[1]: v for k, v in result.items() if k.startswith('host:')}
    clients = {k.split(':', 1)[1]: v for k, v in result.items() if k.startswith('client:')}
    return {'hosts': hosts, 'clients': clients, 'errors': errors}


# --------------------------------------------------------------------------- normalization

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


def _normalize_sites(sites, groups, all_hosts, p):
    out, host_site = {}, {}
    if sites is None:
        sites = []
    if not isinstance(sites, list):
        p.err('wireguard_sites: must be a list of sites ({name, lans, hosts or group}), got '
              + type(sites).__name__)
        return out, host_site
    for i, raw in enumerate(sites):
        where = f'wireguard_sites[{i}]'
        if not isinstance(raw, dict):
            p.err(f'{where}: must be a dict with name, lans and hosts or group')
            continue
        for k in raw:
            if k not in SITE_KEYS:
                p.err('{}: unknown key {!r}; known keys: {}'.format(where, k, ', '.join(SITE_KEYS)))
        name = str(raw.get('name') or '')
        if not NAME_RE.match(name):
            p.err(f'{where}.name: {name!r} is not a valid site name; use letters, digits, _ . -')
            continue
        where = f'{where} ({name})'
        if name in out:
            p.err(f'{where}.name: site {name} is defined twice; merge the two entries')
            continue
        lans = []
        for j, lan in enumerate(_as_list(raw.get('lans'))):
            try:
                lans.append(str(_net(lan)))
            except ValueError:
                p.err(f'{where}.lans[{j}]: {lan!r} is not a network; write it as CIDR, e.g. 203.0.113.0/27')
        hosts = set()
        if raw.get('group') is not None:
            g = str(raw['group'])
            if g not in groups:
                p.err(f'{where}.group: inventory group {g!r} does not exist; add it to the inventory or '
                      'list the gateway in hosts')
            else:
                hosts.update(groups[g])
        more, unknown = _expand(raw.get('hosts'), {}, all_hosts)
        hosts.update(more)
        for u in unknown:
            p.err(f'{where}.hosts: {u!r} is not an inventory host; fix the name or add the host to the '
                  'inventory')
        gateway = raw.get('gateway')
        if gateway is not None:
            gateway = str(gateway)
            if gateway not in hosts:
                p.err('{}.gateway: {!r} is not one of the site\'s hosts ({}); add it to hosts or '
                      'fix the name'.format(where, gateway, ', '.join(sorted(hosts)) or 'none'))
                gateway = None
        if not hosts:
            p.warn(f'{where}: has no hosts; its LANs are announced by nobody')
        for h in sorted(hosts):
            if h in host_site:
                p.err('host {} is in two sites, {} and {} ({} and {}); a host belongs to one site: '
                      'remove it from one of them'.format(
                          h, host_site[h], name, out[host_site[h]]['where'], where))
            else:
                host_site[h] = name
        out[name] = {'name': name, 'lans': _sort_nets(lans) if lans else [], 'hosts': sorted(hosts),
                     'gateway': gateway, 'where': where}
    # overlapping LANs, across all sites (and within one)
    flat = [(s['name'], s['where'], _net(lan)) for s in out.values() for lan in s['lans']]
    for a in range(len(flat)):
        for b in range(a + 1, len(flat)):
            (sa, wa, na), (sb, wb, nb) = flat[a], flat[b]
            if na.version == nb.version and na.overlaps(nb):
                if sa == sb:
                    p.err(f'{wa}.lans: {na} and {nb} overlap; list each LAN once')
                else:
                    p.err(f'LANs overlap: {na} of site {sa} and {nb} of site {sb} ({wa} / {wb}); WireGuard '
                          'routes each prefix to one peer: make the LANs disjoint')
    return out, host_site


def _normalize_clients(raw_clients, net, p):
    out = []
    where0 = _label(net) + '.clients'
    if raw_clients is None:
        return out
    if not isinstance(raw_clients, list):
        p.err(f'{where0}: must be a list of clients ({{name, host, ...}})')
        return out
    seen = set()
    for i, raw in enumerate(raw_clients):
        where = f'{where0}[{i}]'
        if not isinstance(raw, dict):
            p.err(f'{where}: must be a dict with at least a name')
            continue
        for k in raw:
            if k not in CLIENT_KEYS:
                p.err('{}: unknown key {!r}; known keys: {}'.format(where, k, ', '.join(CLIENT_KEYS)))
        name = str(raw.get('name') or '')
        if not NAME_RE.match(name):
            p.err(f'{where}.name: {name!r} is not a valid client name; use letters, digits, _ . - (it names '
                  'the config file)')
            continue
        where = f'{where} ({name})'
        if name in seen:
            p.err('{}.name: client {} is listed twice in network {}; give each client its own '
                  'name'.format(where, name, net['name']))
            continue
        if name in net['members']:
            p.err(f'{where}.name: {name} is also an inventory host in this network; give the client another '
                  'name')
            continue
        seen.add(name)
        host = raw.get('host')
        if host is None:
            if net['topology'] == 'hub_and_spoke' and net['hubs']:
                host = rendezvous(net['name'], 'client:' + name, net['hubs'])
            else:
                p.err('{}.host: missing; name the member that this client connects to (in {} '
                      'networks only hub_and_spoke picks a hub by itself)'.format(where, net['topology']))
                continue
        host = str(host)
        if host not in net['members']:
            p.err('{}.host: {!r} is not a member of network {} ({}); name one of its hosts'.format(
                where, host, net['name'], ', '.join(net['members'][:8]) or 'no members'))
            continue
        addresses = []
        for j, a in enumerate(_as_list(raw.get('addresses'))):
            try:
                addresses.append(str(_iface(a)))
            except ValueError:
                p.err(f'{where}.addresses[{j}]: {a!r} is not an address; write e.g. 100.64.0.200/24')
        allowed = []
        for j, a in enumerate(_as_list(raw.get('allowed_ips'))):
            try:
                allowed.append(str(_net(a)))
            except ValueError:
                p.err(f'{where}.allowed_ips[{j}]: {a!r} is not a network; write CIDR, e.g. 0.0.0.0/0')
        dns = [str(d) for d in _as_list(raw.get('dns'))]
        keepalive = _int(raw.get('keepalive'), DEFAULT_KEEPALIVE, 0, 65535, where + '.keepalive', p,
                         'use seconds between 0 (off) and 65535')
        mtu = _int(raw.get('mtu'), None, MTU_MIN, MTU_MAX, where + '.mtu', p,
                   f'use {MTU_MIN}..{MTU_MAX} or leave it unset')
        endpoint = raw.get('endpoint')
        problem = endpoint_host_problem(endpoint) if endpoint not in (None, '') else None
        if problem:
            p.err(f'{where}.endpoint: {problem}')
            endpoint = None
        out.append({'name': name, 'host': host, 'addresses': addresses,
                    'allowed_ips': _sort_nets(allowed) if allowed else [], 'dns': dns,
                    'keepalive': keepalive, 'endpoint': str(endpoint) if endpoint else None,
                    'mtu': mtu})
    return out


def normalize(networks, sites=None, groups=None, hostvars=None):
    """The fleet: normalized networks and sites plus every input error and warning.

    networks  wireguard_networks (list of dicts)
    sites     wireguard_sites (list of dicts)
    groups    the inventory's groups ({'all': [...], 'gw': [...]}); membership comes from here
    hostvars  {host: {'wireguard_addresses': {net: [...]}, 'wireguard_primary_hub': {net: hub}}}
              for the hosts of the inventory (other variables are ignored)
    """
    p = _Problems()
    groups = {str(k): sorted({str(h) for h in (v or [])}) for k, v in (groups or {}).items()}
    hostvars = hostvars or {}
    all_hosts = set(groups.get('all', [])) | set(hostvars)
    sites_n, host_site = _normalize_sites(sites, groups, all_hosts, p)
    out_nets = {}
    if networks is None:
        networks = []
    if not isinstance(networks, list):
        p.err('wireguard_networks: must be a list of networks ({name, port, topology, ...}), got '
              f'{type(networks).__name__}')
        networks = []
    for i, raw in enumerate(networks):
        where = f'wireguard_networks[{i}]'
        if not isinstance(raw, dict):
            p.err(f'{where}: must be a dict with at least a name')
            continue
        name = str(raw.get('name') or '')
        if not IFNAME_RE.match(name):
            p.err(f'{where}.name: {name!r} is not a valid interface name; use 1-15 of letters, digits, '
                  '_ = + . -')
            continue
        net = {'index': i, 'name': name}
        where = _label(net)
        for k in raw:
            if k not in NETWORK_KEYS:
                p.err('{}: unknown key {!r}; known keys: {}'.format(where, k, ', '.join(NETWORK_KEYS)))
        if name in out_nets:
            p.err(f'{where}.name: network {name} is defined twice (also {_label(out_nets[name])}); '
                  'give each network its own interface name')
            continue
        state = str(raw.get('state') or 'present')
        if state not in ('present', 'absent'):
            p.err(f'{where}.state: {state!r}; use present or absent')
            state = 'present'
        topology = str(raw.get('topology') or 'mesh')
        if topology not in TOPOLOGIES:
            p.err(f'{where}.topology: {topology!r} is not known; use one of ' + ', '.join(TOPOLOGIES))
            topology = 'mesh'
        port = _int(raw.get('port'), DEFAULT_PORT, 1, 65535, where + '.port', p,
                    'set a UDP port between 1 and 65535')
        keepalive = _int(raw.get('keepalive'), DEFAULT_KEEPALIVE, 0, 65535, where + '.keepalive', p,
                         'seconds between 0 (off) and 65535')
        mtu = _int(raw.get('mtu'), None, MTU_MIN, MTU_MAX, where + '.mtu', p,
                   f'use {MTU_MIN}..{MTU_MAX} or leave it unset')
        flags = {}
        for key in ('preshared_keys', 'masquerade', 'renumber'):
            try:
                flags[key] = _bool(raw.get(key), False)
            except ValueError:
                p.err(f'{where}.{key}: {raw.get(key)!r} is not a boolean; use true or false')
                flags[key] = False
        # members: an inventory group and/or a list of hosts; 'all' when neither is given
        members = set()
        group = raw.get('group')
        if group is None and raw.get('hosts') is None:
            group = 'all'
        if group is not None:
            group = str(group)
            if group not in groups:
                p.err(f'{where}.group: inventory group {group!r} does not exist; add the group to the '
                      'inventory or fix the name')
            else:
                members.update(groups[group])
        more, unknown = _expand(raw.get('hosts'), groups, all_hosts)
        members.update(more)
        for u in unknown:
            p.err(f'{where}.hosts: {u!r} is neither an inventory host nor a group; fix the name')
        members = sorted(members)
        if state == 'present' and not members:
            p.warn(f'{where}: has no members')
        pools = {}
        for key, version in (('ipv4_pool', 4), ('ipv6_pool', 6)):
            val = raw.get(key)
            if not val:
                pools[key] = None
                continue
            try:
                pool = _net(val)
            except ValueError:
                p.err('{}.{}: {!r} is not a network; write CIDR, e.g. {}'.format(
                    where, key, val, '100.64.0.0/24' if version == 4 else 'fd3a:6c1e:9b42:100::/64'))
                pools[key] = None
                continue
            if pool.version != version:
                p.err('{}.{}: {} is an IPv{} network; put it in {}'.format(
                    where, key, pool, pool.version, f'ipv{pool.version}_pool'))
                pools[key] = None
                continue
            special = _special_range(pool)
            if special:
                p.err(f'{where}.{key}: {pool} is {special}, not usable for tunnel addresses; use a '
                      'private range such as 100.64.0.0/24 or fd3a:6c1e:9b42:100::/64')
                pools[key] = None
                continue
            pools[key] = str(pool)
        net.update({'state': state, 'topology': topology, 'port': port, 'keepalive': keepalive,
                    'mtu': mtu, 'members': members, 'group': group,
                    'ipv4_pool': pools['ipv4_pool'], 'ipv6_pool': pools['ipv6_pool']}, **flags)
        # explicit addresses per member (host variable wireguard_addresses: {network: [...]})
        explicit = {}
        for h in members:
            hv = hostvars.get(h) or {}
            addrs = hv.get('wireguard_addresses') or {}
            if not isinstance(addrs, dict):
                p.err(f'host {h}: wireguard_addresses must be a dict of network name -> list of '
                      f'addresses, e.g. {{{name}: [100.64.0.1/24]}}')
                continue
            vals = []
            for a in _as_list(addrs.get(name)):
                try:
                    vals.append(str(_iface(a)))
                except ValueError:
                    p.err(f'host {h}: wireguard_addresses.{name}: {a!r} is not an address; write it with '
                          'a prefix, e.g. 100.64.0.1/24')
            if vals:
                explicit[h] = vals
        net['explicit'] = explicit
        if state == 'present':
            for h in members:
                if h not in explicit and not (net['ipv4_pool'] or net['ipv6_pool']):
                    p.err(f'{where}: host {h} has no tunnel address; set ipv4_pool/ipv6_pool on the '
                          f'network or wireguard_addresses.{name} on the host')
        # hubs
        hubs, unknown = _expand(raw.get('hubs'), groups, all_hosts)
        for u in unknown:
            p.err(f'{where}.hubs: unknown hub {u!r}: neither an inventory host nor a group; fix the name')
        for hub in sorted(hubs - set(members)):
            p.err(f'{where}.hubs: unknown hub {hub!r}: it is not a member of network {name}; add it to the '
                  'network\'s group or hosts')
        net['hubs'] = sorted(hubs & set(members))
        if topology == 'hub_and_spoke' and not net['hubs'] and state == 'present':
            p.err(f'{where}.hubs: a hub_and_spoke network needs at least one hub; list hub hosts in '
                  'hubs')
        elif topology != 'hub_and_spoke' and raw.get('hubs'):
            p.warn(f'{where}.hubs: ignored for topology {topology}')
        primary = {}
        for h in members:
            hv = hostvars.get(h) or {}
            pref = hv.get('wireguard_primary_hub') or {}
            if isinstance(pref, dict):
                pref = pref.get(name)
            if pref:
                pref = str(pref)
                if pref not in net['hubs']:
                    p.err('host {h}: wireguard_primary_hub.{n} is {p!r}, which is not a hub of network '
                          '{n} ({hubs}); name one of its hubs'.format(
                              h=h, n=name, p=pref, hubs=', '.join(net['hubs']) or 'none'))
                elif h not in net['hubs']:
                    primary[h] = pref
        if topology == 'hub_and_spoke':
            for h in members:
                if h not in net['hubs'] and h not in primary and net['hubs']:
                    primary[h] = rendezvous(name, 'host:' + h, net['hubs'])
        net['primary_hub'] = primary
        # explicit peer groups
        peer_groups = {}
        raw_pg = raw.get('peer_groups')
        if raw_pg is not None and not isinstance(raw_pg, dict):
            p.err(f'{where}.peer_groups: must be a dict of group name -> list of hosts or inventory '
                  'groups')
            raw_pg = None
        for gname, entries in sorted((raw_pg or {}).items()):
            hosts, unknown = _expand(entries, groups, all_hosts)
            for u in unknown:
                p.err(f'{where}.peer_groups.{gname}: {u!r} is neither an inventory host nor a group; fix the '
                      'name')
            outside = sorted(hosts - set(members))
            if outside:
                p.err('{}.peer_groups.{}: {} not members of network {}; add them to the network\'s '
                      'group or hosts'.format(where, gname, ', '.join(outside), name))
            peer_groups[str(gname)] = sorted(hosts & set(members))
        net['peer_groups'] = peer_groups
        if topology == 'groups' and state == 'present':
            if not peer_groups:
                p.err(f'{where}.peer_groups: topology groups needs peer_groups (name -> hosts that peer '
                      'with each other)')
            grouped = {h for hs in peer_groups.values() for h in hs}
            for h in members:
                if h not in grouped:
                    p.warn(f'{where}: host {h} is in no peer group: it gets no peers')
        elif raw_pg and topology != 'groups':
            p.warn(f'{where}.peer_groups: ignored for topology {topology}')
        # sites: which member announces which LANs
        lans, gateways = {}, {}
        for sname, site in sorted(sites_n.items()):
            in_net = [h for h in site['hosts'] if h in members]
            if not in_net:
                continue
            if site['gateway'] is not None:
                gw = site['gateway'] if site['gateway'] in in_net else None
            elif len(in_net) == 1:
                gw = in_net[0]
            else:
                p.err('{w}: site {s} has {c} members in network {n} ({m}); WireGuard routes each LAN '
                      'to one peer: set wireguard_sites[].gateway for site {s}'.format(
                          w=where, s=sname, c=len(in_net), n=name, m=', '.join(in_net)))
                continue
            if gw is not None:
                gateways[sname] = gw
                lans[gw] = list(site['lans'])
        if topology == 'site_to_site' and state == 'present':
            for h in members:
                if h not in host_site:
                    p.err(f'{where}: host {h} is in no site; in a site_to_site network every member is a '
                          'site gateway: add it to wireguard_sites')
        net['lans'] = lans
        net['gateways'] = gateways
        net['clients'] = _normalize_clients(raw.get('clients'), net, p)
        out_nets[name] = net
    endpoints = _host_var_checks(out_nets, [n.get('name') for n in networks if isinstance(n, dict)],
                                 hostvars, p)
    _cross_checks(out_nets, sites_n, p)
    _address_checks(out_nets, sites_n, endpoints, p)
    return {
        'version': REGISTRY_VERSION,
        'networks': out_nets,
        'sites': {k: {kk: vv for kk, vv in v.items() if kk != 'where'} for k, v in sites_n.items()},
        'host_site': host_site,
        'endpoints': endpoints,
        'errors': p.errors,
        'warnings': p.warnings,
    }


def _cross_checks(nets, sites, p):
    present = [n for n in nets.values() if n['state'] == 'present']
    # two networks on one port (or one interface name) on a host
    for a in range(len(present)):
        for b in range(a + 1, len(present)):
            na, nb = present[a], present[b]
            common = sorted(set(na['members']) & set(nb['members']))
            if not common:
                continue
            if na['port'] == nb['port']:
                p.err('two networks on one port: {} and {} both use port {} on {}; give each '
                      'network its own port'.format(_label(na), _label(nb), na['port'],
                                                    ', '.join(common[:5])))
            for key in ('ipv4_pool', 'ipv6_pool'):
                if na[key] and nb[key] and _net(na[key]).overlaps(_net(nb[key])):
                    p.err('{a}.{k} {pa} overlaps {b}.{k} {pb} and both networks share hosts ({h}); '
                          'use disjoint pools'.format(a=_label(na), k=key, pa=na[key], b=_label(nb),
                                                      pb=nb[key], h=', '.join(common[:5])))
    for net in present:
        where = _label(net)
        # duplicate tunnel addresses among explicit host and client addresses
        seen = {}
        owners = [('host ' + h, a) for h, addrs in sorted(net['explicit'].items()) for a in addrs]
        owners += [('client ' + c['name'], a) for c in net['clients'] for a in c['addresses']]
        for owner, a in owners:
            ip = str(_iface(a).ip)
            if ip in seen and seen[ip] != owner:
                p.err('{}: duplicate tunnel address {}: {} and {} both have it; give each its own '
                      'address (wireguard_addresses.{} / clients[].addresses) or leave one unset to '
                      'allocate from the pool'.format(where, ip, seen[ip], owner, net['name']))
            seen.setdefault(ip, owner)
        # LANs must not overlap the tunnel pools or tunnel addresses
        for gw, lans in sorted(net['lans'].items()):
            for lan in lans:
                for key in ('ipv4_pool', 'ipv6_pool'):
                    if net[key] and _net(lan).version == _net(net[key]).version \
                            and _net(lan).overlaps(_net(net[key])):
                        p.err(f'{where}: LAN {lan} of site {_site_of(sites, gw)} overlaps {key} '
                              f'{net[key]}; make the LANs and the tunnel pool disjoint')


def _host_var_checks(nets, names, hostvars, p):
    """Per-host variables of members: networks named in their keys must exist and have the host as
    a member; wireguard_endpoint must be an address or DNS name without a port. Returns
    {host: endpoint} of the members that have one."""
    names = {str(n) for n in names if n}
    members = {}
    for net in nets.values():
        for h in net['members']:
            members.setdefault(h, set()).add(net['name'])
    endpoints = {}
    for h in sorted(members):
        hv = hostvars.get(h) or {}
        for var in PER_NETWORK_HOST_VARS:
            value = hv.get(var)
            if not isinstance(value, dict):
                continue  # wrong types are reported where the variable is read
            for key in sorted(str(k) for k in value):
                if key not in names:
                    p.err(f'host {h}: {var}.{key}: there is no network {key} in wireguard_networks '
                          f'({", ".join(sorted(names)) or "none"}); fix the name or remove the entry')
                elif key not in members[h]:
                    p.err(f'host {h}: {var}.{key}: {h} is not a member of network {key}; remove the '
                          'entry, or add the host to the network (its group or hosts)')
        endpoint = hv.get('wireguard_endpoint')
        problem = endpoint_host_problem(endpoint)
        if problem:
            p.err(f'host {h}: wireguard_endpoint: {problem}')
        elif isinstance(endpoint, str) and endpoint.strip():
            endpoints[h] = endpoint.strip()
    return endpoints


def _address_checks(nets, sites, endpoints, p):
    """Tunnel addresses must not reach into a site's LAN (the connected route would swallow the LAN's
    route to its gateway), and no member's endpoint may be routed into the tunnel it carries."""
    lans = [(s['name'], _net(lan)) for s in sites.values() for lan in s['lans']]
    for net in nets.values():
        if net['state'] != 'present':
            continue
        owners = [(f'wireguard_addresses.{net["name"]} of host {h}', a)
                  for h, addrs in sorted(net['explicit'].items()) for a in addrs]
        owners += [(f'{_label(net)}.clients ({c["name"]}).addresses', a)
                   for c in net['clients'] for a in c['addresses']]
        for var, a in owners:
            iface = _iface(a)
            for site, lan in lans:
                if lan.version == iface.version and iface.network.overlaps(lan):
                    p.err(f'{var}: {a} reaches into LAN {lan} of site {site}: the tunnel address '
                          'would take over the route to that LAN; choose an address (and prefix) '
                          'outside every site LAN')
        tunnel = [(key, _net(net[key])) for key in ('ipv4_pool', 'ipv6_pool') if net[key]]
        tunnel += [(f'LAN of site {_site_of(sites, gw)}', _net(lan))
                   for gw, ls in sorted(net['lans'].items()) for lan in ls]
        for h in net['members']:
            ep = endpoints.get(h, '').strip('[]')
            try:
                ip = ipaddress.ip_address(ep)
            except ValueError:
                continue
            for what, prefix in tunnel:
                if prefix.version == ip.version and ip in prefix:
                    p.err(f'host {h}: wireguard_endpoint {ip} is inside {what} {prefix} of network '
                          f'{net["name"]}, which is routed through the tunnel itself: give the '
                          f'address peers reach {h} at over the underlay')


def _site_of(sites, host):
    for name, s in sites.items():
        if host in s['hosts']:
            return name
    return '?'


# --------------------------------------------------------------------------- validation

def validate(fleet, registry=None):
    """Every input error (input checks plus what needs the registry: pool exhaustion, pinned
    addresses) as a list of messages naming the variable and the fix. Empty list = good."""
    errors = list(fleet.get('errors') or [])
    networks = ((registry or {}).get('networks') or {})
    for name, net in sorted((fleet.get('networks') or {}).items()):
        if net['state'] != 'present':
            continue
        alloc = allocate_network(net, networks.get(name))
        errors.extend(alloc['errors'])
        # an address from the registry that an explicit address now collides with
        seen = {}
        for kind, table in (('host', alloc['hosts']), ('client', alloc['clients'])):
            for owner, addrs in sorted(table.items()):
                for a in addrs:
                    ip = str(_iface(a).ip)
                    if ip in seen and seen[ip] != (kind, owner):
                        errors.append(f'{_label(net)}: duplicate tunnel address {ip}: {seen[ip][0]} '
                                      f'{seen[ip][1]} and {kind} {owner}; change one explicit address '
                                      'or remove the stale registry entry')
                    seen.setdefault(ip, (kind, owner))
    out = []
    for e in errors:
        if e not in out:
            out.append(e)
    return out


# --------------------------------------------------------------------------- peers

def _reg(registry, network):
    net = ((registry or {}).get('networks') or {}).get(network) or {}
    return net.get('hosts') or {}, net.get('clients') or {}


def _pub(entry):
    return (entry or {}).get('public_key') or None


def host_config(fleet, registry, host):
    """What `host` configures: one entry per network it is a member of.

    Returns {'networks': [...], 'absent': [names], 'forwarding': bool, 'ipv6': bool,
    'warnings': [...]} where each network is {name, port, mtu, role, addresses, peers, clients,
    local_lans, forward_tunnel, forwarding, masquerade, preshared_keys, expected_peers, missing}.
    Peers carry no preshared key: add them with ``add_preshared_keys()`` at the last moment (no
    secret in facts). ``expected_peers`` lists the host peers (not clients) with their own tunnel
    addresses, bare: [{public_key, name, addresses}] (the metrics prober pings them).
    """
    out = {'networks': [], 'absent': [], 'forwarding': False, 'ipv6': False, 'warnings': []}
    for name, net in sorted((fleet.get('networks') or {}).items()):
        if host not in net['members']:
            continue
        if net['state'] == 'absent':
            out['absent'].append(name)
            continue
        cfg = network_config(net, registry, host)
        out['networks'].append(cfg)
        out['warnings'].extend(cfg.pop('warnings'))
        out['forwarding'] = out['forwarding'] or cfg['forwarding']
        out['ipv6'] = out['ipv6'] or any(_iface(a).version == 6 for a in cfg['addresses'])
    return out


def _collapse(prefixes, pools):
    """Drop prefixes covered by a pool, add the pools; sorted and unique."""
    pool_nets = [_net(p) for p in pools if p]
    keep = []
    for pfx in prefixes:
        n = _net(pfx)
        if any(n.version == pn.version and n.subnet_of(pn) for pn in pool_nets):
            continue
        keep.append(str(n))
    return _sort_nets(keep + [str(pn) for pn in pool_nets])


def network_config(net, registry, host):
    """One host's view of one normalized network (see host_config)."""
    name = net['name']
    reg_hosts, reg_clients = _reg(registry, name)
    alloc = allocate_network(net, ((registry or {}).get('networks') or {}).get(name))
    warnings = []
    present = [h for h in net['members'] if _pub(reg_hosts.get(h))]
    missing = [h for h in net['members'] if h not in present and h != host]
    if missing:
        warnings.append('network {}: {} not configured yet (no public key in the registry): no peer '
                        'for {} until {} run{} once'.format(
                            name, ', '.join(missing[:10]), 'it' if len(missing) == 1 else 'them',
                            'it' if len(missing) == 1 else 'they', 's' if len(missing) == 1 else ''))
    addresses = {h: alloc['hosts'].get(h, []) for h in net['members']}
    caddr = alloc['clients']
    clients_of = {}
    for c in net['clients']:
        clients_of.setdefault(c['host'], []).append(c)

    def own(y):
        return [host_prefix(a) for a in addresses.get(y, [])] + list(net['lans'].get(y, []))

    def served(y):
        out = own(y)
        for c in clients_of.get(y, []):
            out += [host_prefix(a) for a in caddr.get(c['name'], [])]
        return out

    def endpoint_of(y):
        entry = reg_hosts.get(y) or {}
        ep = entry.get('endpoint')
        if not ep:
            return None
        return format_endpoint(ep, entry.get('port') or net['port'])

    me = reg_hosts.get(host) or {}
    i_have_endpoint = bool(me.get('endpoint'))
    topology = net['topology']
    hubs = net['hubs']
    role = 'member'
    if topology == 'hub_and_spoke':
        role = 'hub' if host in hubs else 'spoke'
    elif topology == 'site_to_site':
        role = 'gateway'
    # who this host peers with, and what each peer carries
    links = {}  # peer -> list of prefixes
    if topology in ('mesh', 'site_to_site'):
        for y in net['members']:
            if y != host:
                links[y] = served(y)
    elif topology == 'groups':
        mine = [g for g, hs in net['peer_groups'].items() if host in hs]
        for g in mine:
            for y in net['peer_groups'][g]:
                if y != host:
                    links[y] = served(y)
    else:  # hub_and_spoke
        if role == 'hub':
            for y in net['members']:
                if y == host:
                    continue
                if y in hubs:
                    pfx = served(y)
                    for s, hub in sorted(net['primary_hub'].items()):
                        if hub == y:
                            pfx += served(s)
                    links[y] = pfx
                elif net['primary_hub'].get(y) == host:
                    links[y] = served(y)
        else:
            hub = net['primary_hub'].get(host)
            if hub:
                others = []
                for y in net['members']:
                    if y != host:
                        others += served(y)
                links[hub] = _collapse(others, [net['ipv4_pool'], net['ipv6_pool']])
    peers = []
    expected_peers = []  # the metrics prober's targets: each host peer's own tunnel addresses
    for y in sorted(links):
        entry = reg_hosts.get(y)
        if not _pub(entry):
            continue
        expected_peers.append({'public_key': entry['public_key'], 'name': y,
                               'addresses': [str(_iface(a).ip) for a in addresses.get(y, [])]})
        ep = endpoint_of(y)
        keepalive = net['keepalive'] if (not i_have_endpoint and ep) else 0
        if not ep and not i_have_endpoint:
            warnings.append(f'network {name}: {host} and {y} both have no endpoint (wireguard_endpoint is '
                            'empty on both): they cannot reach each other directly')
        peer = {'public_key': entry['public_key'], 'name': y, 'endpoint': ep,
                'allowed_ips': _sort_nets(links[y]), 'persistent_keepalive': keepalive}
        if entry.get('previous_public_key'):
            peer['previous_public_key'] = entry['previous_public_key']
        peers.append(peer)
    # clients attached to this host: peers here, and the configs the role writes for them
    my_clients = []
    everything = []
    for y in net['members']:
        everything += served(y)
    default_client_allowed = _collapse(everything, [net['ipv4_pool'], net['ipv6_pool']])
    my_endpoint = format_endpoint(me['endpoint'], net['port']) if me.get('endpoint') else None
    for c in clients_of.get(host, []):
        creg = reg_clients.get(c['name']) or {}
        c_addrs = caddr.get(c['name'], [])
        pub = _pub(creg)
        if pub:
            peers.append({'public_key': pub, 'name': 'client ' + c['name'], 'endpoint': None,
                          'allowed_ips': _sort_nets(host_prefix(a) for a in c_addrs),
                          'persistent_keepalive': 0})
        endpoint = format_endpoint(c['endpoint'], net['port']) if c['endpoint'] else my_endpoint
        if not endpoint:
            warnings.append('network {}: client {} has no endpoint to connect to: set the client\'s '
                            'endpoint or wireguard_endpoint on {}'.format(name, c['name'], host))
        my_clients.append({
            'name': c['name'], 'network': name, 'addresses': c_addrs,
            'allowed_ips': c['allowed_ips'] or default_client_allowed, 'dns': c['dns'],
            'keepalive': c['keepalive'], 'endpoint': endpoint, 'mtu': c['mtu'] or net['mtu'],
            'public_key': pub, 'preshared_keys': net['preshared_keys'],
        })
    forward_tunnel = role == 'hub' or bool(clients_of.get(host))
    local_lans = list(net['lans'].get(host, []))
    forwarding = forward_tunnel or bool(local_lans) or net['masquerade']
    return {
        'name': name, 'port': net['port'], 'mtu': net['mtu'], 'role': role,
        'addresses': addresses.get(host, []), 'peers': peers, 'clients': my_clients,
        'local_lans': local_lans, 'forward_tunnel': forward_tunnel, 'forwarding': forwarding,
        'masquerade': net['masquerade'], 'preshared_keys': net['preshared_keys'],
        'site': _site_of_net(net, host), 'hub': net['primary_hub'].get(host),
        'expected_peers': expected_peers, 'missing': missing, 'warnings': warnings + list(alloc['errors']),
    }


def _site_of_net(net, host):
    for site, gw in net['gateways'].items():
        if gw == host:
            return site
    return None


def add_preshared_keys(peers, secret, network, own_public_key):
    """Peers with `preshared_key` set to the pair's derived key (call where the secret is used)."""
    out = []
    for peer in peers:
        peer = dict(peer)
        peer['preshared_key'] = derive_psk(secret, network, own_public_key, peer['public_key'])
        out.append(peer)
    return out


# --------------------------------------------------------------------------- registry entries

def registry_entry(fleet_net, host, public_key, endpoint, addresses, old_entry=None):
    """The public record a host publishes for one network (never a secret).

    When the host's key changed since OLD_ENTRY, the old key is kept as previous_public_key: its
    peers then know the swap is legitimate (wireguard_interface's live-peer guard); an unchanged
    key keeps the previous_public_key it had.
    """
    old_entry = old_entry or {}
    entry = {
        'public_key': public_key,
        'endpoint': endpoint or '',
        'port': fleet_net['port'],
        'addresses': list(addresses or []),
        'role': 'member',
    }
    if fleet_net['topology'] == 'hub_and_spoke':
        entry['role'] = 'hub' if host in fleet_net['hubs'] else 'spoke'
        if host in fleet_net['primary_hub']:
            entry['hub'] = fleet_net['primary_hub'][host]
    elif fleet_net['topology'] == 'site_to_site':
        entry['role'] = 'gateway'
    lans = fleet_net['lans'].get(host)
    if lans:
        entry['lans'] = list(lans)
    site = _site_of_net(fleet_net, host)
    if site:
        entry['site'] = site
    old_key = old_entry.get('public_key')
    if old_key and old_key != public_key:
        entry['previous_public_key'] = old_key
    elif old_entry.get('previous_public_key') and old_entry['previous_public_key'] != public_key:
        entry['previous_public_key'] = old_entry['previous_public_key']
    for field in ('next_public_key', 'key_created'):  # reserved for key rotation: kept as they are
        if field in old_entry:
            entry[field] = old_entry[field]
    return entry
