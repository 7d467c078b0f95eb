# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sites: ``wireguard_sites`` normalized, and which member of a network announces which LANs."""

from __future__ import annotations

from ansible_collections.meshlab.wireguard.plugins.module_utils._topology_fields import (
    NAME_RE,
    SITE_KEYS,
    _as_list,
    _expand,
    _net,
    _sort_nets,
    _unknown_keys,
)


def _site_hosts(raw, where, groups, all_hosts, p):
    """The hosts of one site (its group and its hosts) and its gateway (None when not valid)."""
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
    return lans, hosts, gateway


def _normalize_site(i, raw, out, host_site, groups, all_hosts, p):
    where = f'wireguard_sites[{i}]'
    if not isinstance(raw, dict):
        p.err(f'{where}: must be a dict with name, lans and hosts or group')
        return
    _unknown_keys(raw, SITE_KEYS, where, p)
    name = str(raw.get('name') or '')
    if not NAME_RE.match(name):
        p.err(f'{where}.name: {name!r} is not a valid site name; use letters, digits, _ . -')
        return
    where = f'{where} ({name})'
    if name in out:
        p.err(f'{where}.name: site {name} is defined twice; merge the two entries')
        return
    lans, hosts, gateway = _site_hosts(raw, where, groups, all_hosts, p)
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


def _lan_overlaps(out, p):
    """Overlapping LANs, across all sites (and within one)."""
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


def _normalize_sites(sites, groups, all_hosts, p):
    """({site name: {name, lans, hosts, gateway, where}}, {host: site name})."""
    out, host_site = {}, {}
    if sites is None:
        sites = []
    if not isinstance(sites, list):
        p.err('wireguard_sites: must be a list of sites ({name, lans, hosts or group}), got '
              + type(sites).__name__)
        return out, host_site
    for i, raw in enumerate(sites):
        _normalize_site(i, raw, out, host_site, groups, all_hosts, p)
    _lan_overlaps(out, p)
    return out, host_site


def _network_sites(net, where, sites_n, host_site, p):
    """Which member of one network announces which site's LANs: sets net['lans'] ({gateway: LANs})
    and net['gateways'] ({site: gateway})."""
    lans, gateways = {}, {}
    members, name = net['members'], net['name']
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
    if net['topology'] == 'site_to_site' and net['state'] == 'present':
        for h in members:
            if h not in host_site:
                p.err(f'{where}: host {h} is in no site; in a site_to_site network every member is a '
                      'site gateway: add it to wireguard_sites')
    net['lans'] = lans
    net['gateways'] = gateways


def _site_of(sites, host):
    for name, s in sites.items():
        if host in s['hosts']:
            return name
    return '?'


def _site_of_net(net, host):
    for site, gw in net['gateways'].items():
        if gw == host:
            return site
    return None
