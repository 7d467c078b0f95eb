# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tunnel address allocation: deterministic, registry-pinned, never renumbering by accident.

``allocate_network(net, registry_net)`` gives every member and client of one normalized network
its addresses; ``validate(fleet, registry)`` adds what needs the registry to the fleet's errors.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.meshlab.wireguard.plugins.module_utils._topology_fields import (
    _h,
    _iface,
    _label,
    _net,
    interface_ok,
)


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


def _place_pins(pool, names, pinned, taken):
    """Pins first, in name order; a pin that collides with a reservation or an earlier pin is
    dropped. Returns {name: 'ip/poolprefix'} and adds the pinned addresses to `taken`."""
    first, count = _usable_range(pool)
    base = int(pool.network_address)
    out = {}
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
    return out


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
    out = _place_pins(pool, names, pinned, taken)
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


def _participants(net, registry_net):
    """({'host:h' / 'client:c': explicit addresses by family}, {same keys: registry addresses})."""
    parts = {}
    for h in net['members']:
        parts['host:' + h] = _explicit_by_family(net['explicit'].get(h, []))
    for c in net['clients']:
        parts['client:' + c['name']] = _explicit_by_family(c.get('addresses') or [])
    pins = {}
    for h, entry in (registry_net.get('hosts') or {}).items():
        pins['host:' + h] = list((entry or {}).get('addresses') or [])
    for c, entry in (registry_net.get('clients') or {}).items():
        pins['client:' + c] = list((entry or {}).get('addresses') or [])
    return parts, pins


def _allocate_family(net, version, key, parts, pins, offsets4):
    """Pool addresses of one family for the participants without an explicit one:
    ({participant: address}, errors). Fills offsets4 (IPv4 host numbers) for IPv6 to follow."""
    pool = _net(net[key])
    errors = []
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
            'entries'.format(label=_label(net), key=key, pool=pool, count=count, need=len(need),
                             left=len(unplaced),
                             names=', '.join(u.split(':', 1)[1] for u in unplaced[:5])))
    if version == 4:
        for k, addr in got.items():
            offsets4[k] = int(_iface(addr).ip) - int(pool.network_address)
    return got, errors


def allocate_network(net, registry_net=None):
    """Addresses of every member and client of one normalized network.

    Explicit addresses win; the rest come from ipv4_pool / ipv6_pool, keeping what the registry
    holds (so adding a host never moves another) and never reusing an address that any registry
    entry (also a stale one) or any explicit address holds. Returns
    {'hosts': {host: [addr, ...]}, 'clients': {client: [...]}, 'errors': [...]}.
    """
    parts, pins = _participants(net, registry_net or {})
    result = {k: list(v[4] + v[6]) for k, v in parts.items()}
    errors = list(_taken_by_explicit(net, parts, pins))
    offsets4 = {}
    for version, key in ((4, 'ipv4_pool'), (6, 'ipv6_pool')):
        if not net.get(key):
            continue
        got, more = _allocate_family(net, version, key, parts, pins, offsets4)
        errors.extend(more)
        for k, addr in got.items():
            result[k].append(addr)
    hosts = {k.split(':', 1)[1]: v for k, v in result.items() if k.startswith('host:')}
    clients = {k.split(':', 1)[1]: v for k, v in result.items() if k.startswith('client:')}
    return {'hosts': hosts, 'clients': clients, 'errors': errors}


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
