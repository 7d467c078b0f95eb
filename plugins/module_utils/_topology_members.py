# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who is in a network: its members (inventory groups and hosts), its pools and the members'
explicit tunnel addresses (host variable ``wireguard_addresses``)."""

from __future__ import annotations

from ansible_collections.meshlab.wireguard.plugins.module_utils._topology_fields import (
    _as_list,
    _expand,
    _iface,
    _net,
    _special_range,
)


def _members(raw, where, state, groups, all_hosts, p):
    """(sorted member names, the group): an inventory group and/or a list of hosts; 'all' when
    neither is given."""
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
    return members, group


def _pool(raw, where, key, version, p):
    """One pool as text, or None (unset or wrong, the error reported)."""
    val = raw.get(key)
    if not val:
        return None
    try:
        pool = _net(val)
    except ValueError:
        p.err('{}.{}: {!r} is not a network; write CIDR, e.g. {}'.format(
            where, key, val, '100.64.0.0/24' if version == 4 else 'fd3a:6c1e:9b42:100::/64'))
        return None
    if pool.version != version:
        p.err('{}.{}: {} is an IPv{} network; put it in {}'.format(
            where, key, pool, pool.version, f'ipv{pool.version}_pool'))
        return None
    special = _special_range(pool)
    if special:
        p.err(f'{where}.{key}: {pool} is {special}, not usable for tunnel addresses; use a '
              'private range such as 100.64.0.0/24 or fd3a:6c1e:9b42:100::/64')
        return None
    return str(pool)


def _pools(raw, where, p):
    return {key: _pool(raw, where, key, version, p)
            for key, version in (('ipv4_pool', 4), ('ipv6_pool', 6))}


def _explicit_addresses(net, where, hostvars, p):
    """Sets net['explicit'] ({member: [addresses]}, from wireguard_addresses: {network: [...]})
    and reports a present network's members that get no address at all."""
    name = net['name']
    explicit = {}
    for h in net['members']:
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
    if net['state'] == 'present':
        for h in net['members']:
            if h not in explicit and not (net['ipv4_pool'] or net['ipv6_pool']):
                p.err(f'{where}: host {h} has no tunnel address; set ipv4_pool/ipv6_pool on the '
                      f'network or wireguard_addresses.{name} on the host')
