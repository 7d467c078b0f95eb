# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Clients of a network (``wireguard_networks[].clients``): peers not managed by Ansible."""

from __future__ import annotations

from ansible_collections.meshlab.wireguard.plugins.module_utils._checks import endpoint_host_problem
from ansible_collections.meshlab.wireguard.plugins.module_utils._topology_fields import (
    CLIENT_KEYS,
    DEFAULT_KEEPALIVE,
    MTU_MAX,
    MTU_MIN,
    NAME_RE,
    _as_list,
    _iface,
    _int,
    _label,
    _net,
    _sort_nets,
    _unknown_keys,
    rendezvous,
)


def _client_name_host(raw, where, net, seen, p):
    """(name, host, where) of one client, or None when it cannot be used (the error reported)."""
    name = str(raw.get('name') or '')
    if not NAME_RE.match(name):
        p.err(f'{where}.name: {name!r} is not a valid client name; use letters, digits, _ . - (it names '
              'the config file)')
        return None
    where = f'{where} ({name})'
    if name in seen:
        p.err('{}.name: client {} is listed twice in network {}; give each client its own '
              'name'.format(where, name, net['name']))
        return None
    if name in net['members']:
        p.err(f'{where}.name: {name} is also an inventory host in this network; give the client another '
              'name')
        return None
    seen.add(name)
    host = raw.get('host')
    if host is None:
        if net['topology'] == 'hub_and_spoke' and net['hubs']:
            host = rendezvous(net['name'], 'client:' + name, net['hubs'])
        else:
            p.err('{}.host: missing; name the member that this client connects to (in {} '
                  'networks only hub_and_spoke picks a hub by itself)'.format(where, net['topology']))
            return None
    host = str(host)
    if host not in net['members']:
        p.err('{}.host: {!r} is not a member of network {} ({}); name one of its hosts'.format(
            where, host, net['name'], ', '.join(net['members'][:8]) or 'no members'))
        return None
    return name, host, where


def _client_fields(raw, where, p):
    """The address, route, DNS, keepalive, MTU and endpoint fields of one client."""
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
    return {'addresses': addresses, 'allowed_ips': _sort_nets(allowed) if allowed else [], 'dns': dns,
            'keepalive': keepalive, 'endpoint': str(endpoint) if endpoint else None, 'mtu': mtu}


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
        _unknown_keys(raw, CLIENT_KEYS, where, p)
        head = _client_name_host(raw, where, net, seen, p)
        if head is None:
            continue
        name, host, where = head
        out.append({'name': name, 'host': host, **_client_fields(raw, where, p)})
    return out
