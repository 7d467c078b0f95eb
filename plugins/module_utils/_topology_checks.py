# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks across networks, sites and host variables, once every network is normalized."""

from __future__ import annotations

import ipaddress

from ansible_collections.meshlab.wireguard.plugins.module_utils._checks import endpoint_host_problem
from ansible_collections.meshlab.wireguard.plugins.module_utils._topology_fields import (
    PER_NETWORK_HOST_VARS,
    _iface,
    _label,
    _net,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._topology_sites import _site_of


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
