# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hubs (hub_and_spoke: the hubs and each spoke's primary hub) and peer groups (topology groups)."""

from __future__ import annotations

from ansible_collections.meshlab.wireguard.plugins.module_utils._topology_fields import (
    _expand,
    rendezvous,
)


def _hubs(raw, net, where, groups, all_hosts, p):
    """Sets net['hubs']: the listed hubs that are members."""
    members, topology = net['members'], net['topology']
    hubs, unknown = _expand(raw.get('hubs'), groups, all_hosts)
    for u in unknown:
        p.err(f'{where}.hubs: unknown hub {u!r}: neither an inventory host nor a group; fix the name')
    for hub in sorted(hubs - set(members)):
        p.err(f'{where}.hubs: unknown hub {hub!r}: it is not a member of network {net["name"]}; add it '
              'to the network\'s group or hosts')
    net['hubs'] = sorted(hubs & set(members))
    if topology == 'hub_and_spoke' and not net['hubs'] and net['state'] == 'present':
        p.err(f'{where}.hubs: a hub_and_spoke network needs at least one hub; list hub hosts in '
              'hubs')
    elif topology != 'hub_and_spoke' and raw.get('hubs'):
        p.warn(f'{where}.hubs: ignored for topology {topology}')


def _primary_hubs(net, hostvars, p):
    """Sets net['primary_hub'] ({spoke: hub}): wireguard_primary_hub, else a stable choice."""
    name = net['name']
    primary = {}
    for h in net['members']:
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
    if net['topology'] == 'hub_and_spoke':
        for h in net['members']:
            if h not in net['hubs'] and h not in primary and net['hubs']:
                primary[h] = rendezvous(name, 'host:' + h, net['hubs'])
    net['primary_hub'] = primary


def _peer_groups(raw, net, where, groups, all_hosts, p):
    """Sets net['peer_groups'] ({group name: members that peer with each other})."""
    members, topology = net['members'], net['topology']
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
                  'group or hosts'.format(where, gname, ', '.join(outside), net['name']))
        peer_groups[str(gname)] = sorted(hosts & set(members))
    net['peer_groups'] = peer_groups
    if topology == 'groups' and net['state'] == 'present':
        if not peer_groups:
            p.err(f'{where}.peer_groups: topology groups needs peer_groups (name -> hosts that peer '
                  'with each other)')
        grouped = {h for hs in peer_groups.values() for h in hs}
        for h in members:
            if h not in grouped:
                p.warn(f'{where}: host {h} is in no peer group: it gets no peers')
    elif raw_pg and topology != 'groups':
        p.warn(f'{where}.peer_groups: ignored for topology {topology}')
