# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``normalize``: the role variables and the inventory turned into one normalized fleet.

Each concern has its file: fields (keys, defaults, parsers), members (members, pools, explicit
addresses), hubs (hubs, primary hubs, peer groups), sites, clients, checks (across networks).
This file only walks ``wireguard_networks`` and calls them in order.
"""

from __future__ import annotations

from ansible_collections.meshlab.wireguard.plugins.module_utils._topology_checks import (
    _address_checks,
    _cross_checks,
    _host_var_checks,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._topology_clients import _normalize_clients
from ansible_collections.meshlab.wireguard.plugins.module_utils._topology_fields import (
    DEFAULT_KEEPALIVE,
    DEFAULT_PORT,
    IFNAME_RE,
    MTU_MAX,
    MTU_MIN,
    NETWORK_FLAGS,
    NETWORK_KEYS,
    NETWORK_STATES,
    REGISTRY_VERSION,
    TOPOLOGIES,
    _bool,
    _int,
    _label,
    _Problems,
    _unknown_keys,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._topology_hubs import (
    _hubs,
    _peer_groups,
    _primary_hubs,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._topology_members import (
    _explicit_addresses,
    _members,
    _pools,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._topology_sites import (
    _network_sites,
    _normalize_sites,
)


def _network_head(i, raw, out_nets, p):
    """{'index', 'name'} of one entry of wireguard_networks, or None when it cannot be used."""
    where = f'wireguard_networks[{i}]'
    if not isinstance(raw, dict):
        p.err(f'{where}: must be a dict with at least a name')
        return None
    name = str(raw.get('name') or '')
    if not IFNAME_RE.match(name):
        p.err(f'{where}.name: {name!r} is not a valid interface name; use 1-15 of letters, digits, '
              '_ = + . -')
        return None
    net = {'index': i, 'name': name}
    where = _label(net)
    _unknown_keys(raw, NETWORK_KEYS, where, p)
    if name in out_nets:
        p.err(f'{where}.name: network {name} is defined twice (also {_label(out_nets[name])}); '
              'give each network its own interface name')
        return None
    return net


def _network_scalars(raw, where, p):
    """state, topology, port, keepalive, mtu and the boolean flags, defaults filled in."""
    state = str(raw.get('state') or NETWORK_STATES[0])
    if state not in NETWORK_STATES:
        p.err(f'{where}.state: {state!r}; use present or absent')
        state = NETWORK_STATES[0]
    topology = str(raw.get('topology') or TOPOLOGIES[0])
    if topology not in TOPOLOGIES:
        p.err(f'{where}.topology: {topology!r} is not known; use one of ' + ', '.join(TOPOLOGIES))
        topology = TOPOLOGIES[0]
    out = {
        'state': state, 'topology': topology,
        'port': _int(raw.get('port'), DEFAULT_PORT, 1, 65535, where + '.port', p,
                     'set a UDP port between 1 and 65535'),
        'keepalive': _int(raw.get('keepalive'), DEFAULT_KEEPALIVE, 0, 65535, where + '.keepalive', p,
                          'seconds between 0 (off) and 65535'),
        'mtu': _int(raw.get('mtu'), None, MTU_MIN, MTU_MAX, where + '.mtu', p,
                    f'use {MTU_MIN}..{MTU_MAX} or leave it unset'),
    }
    flags = {}
    for key in NETWORK_FLAGS:
        try:
            flags[key] = _bool(raw.get(key), False)
        except ValueError:
            p.err(f'{where}.{key}: {raw.get(key)!r} is not a boolean; use true or false')
            flags[key] = False
    return out, flags


def _normalize_network(i, raw, ctx, out_nets, p):
    """One entry of wireguard_networks, normalized into out_nets (errors and warnings into p)."""
    net = _network_head(i, raw, out_nets, p)
    if net is None:
        return
    where = _label(net)
    scalars, flags = _network_scalars(raw, where, p)
    members, group = _members(raw, where, scalars['state'], ctx['groups'], ctx['all_hosts'], p)
    pools = _pools(raw, where, p)
    net.update(scalars, members=members, group=group, **pools, **flags)
    _explicit_addresses(net, where, ctx['hostvars'], p)
    _hubs(raw, net, where, ctx['groups'], ctx['all_hosts'], p)
    _primary_hubs(net, ctx['hostvars'], p)
    _peer_groups(raw, net, where, ctx['groups'], ctx['all_hosts'], p)
    _network_sites(net, where, ctx['sites'], ctx['host_site'], p)
    net['clients'] = _normalize_clients(raw.get('clients'), net, p)
    out_nets[net['name']] = net


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
    ctx = {'groups': groups, 'hostvars': hostvars, 'all_hosts': all_hosts, 'sites': sites_n,
           'host_site': host_site}
    out_nets = {}
    if networks is None:
        networks = []
    if not isinstance(networks, list):
        p.err('wireguard_networks: must be a list of networks ({name, port, topology, ...}), got '
              f'{type(networks).__name__}')
        networks = []
    for i, raw in enumerate(networks):
        _normalize_network(i, raw, ctx, out_nets, p)
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
