# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The strict check of a loaded registry: every backend's reader calls `validate()` once.

A registry is public data that every host's peers are computed from, so a damaged one must stop
the run rather than be half-read: a truncated file would drop live peers, a wrong key would swap
one. `validate(data, source, error)` accepts exactly what the writers write::

    version: 1                       # required
    networks:
      NET:                           # an interface name
        hosts:
          HOST: {public_key, endpoint, port, addresses, role, [hub], [site], [lans],
                 [previous_public_key], [next_public_key], [key_created]}
        clients:
          NAME: {host, addresses, [public_key]}

and checks across entries: no public key twice in a network (hosts and clients), no tunnel
address twice in a network. All problems are collected and raised as ONE error (of the class the
caller passes, its RegistryError) that names the source (a file path or a store URL), each entry
and the ways out: restore a good copy, rebuild from the hosts, or fix or remove the entry.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.meshlab.wireguard.plugins.module_utils._checks import (
    endpoint_host_problem,
    interface_address_problem,
    key_problem,
    network_problem,
    port_problem,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import REBUILD_COMMAND

REGISTRY_VERSION = 1
IFNAME_RE = re.compile(r'^[A-Za-z0-9_=+.-]{1,15}$')
ROLES = ('member', 'gateway', 'hub', 'spoke')
TOP_KEYS = ('version', 'networks')
NETWORK_KEYS = ('hosts', 'clients')
HOST_REQUIRED = ('public_key', 'endpoint', 'port', 'addresses', 'role')
HOST_OPTIONAL = ('hub', 'site', 'lans', 'previous_public_key', 'next_public_key', 'key_created')
CLIENT_REQUIRED = ('host', 'addresses')
CLIENT_OPTIONAL = ('public_key',)
MAX_SHOWN = 15


def ways_out(source):
    return (f'restore a good copy of {source} (e.g. from version control); or move it aside (keep it) and '
            f'rebuild it from the live hosts with `{REBUILD_COMMAND}`; or fix or remove the entries named')


class _Problems:
    def __init__(self):
        self.items = []

    def add(self, where, text):
        self.items.append(f'{where}: {text}')


def _check_keys(entry, where, required, optional, p):
    for key in required:
        if key not in entry:
            p.add(where, f'{key} is missing')
    for key in sorted(k for k in entry if k not in required and k not in optional):
        p.add(where, f'unknown field {key!r} (known: {", ".join(required + optional)})')


def _check_addresses(value, where, p):
    if not isinstance(value, list):
        p.add(where + '.addresses', f'must be a list of addresses, got {type(value).__name__}')
        return []
    good = []
    for i, a in enumerate(value):
        problem = interface_address_problem(a)
        if problem:
            p.add(f'{where}.addresses[{i}]', problem)
        else:
            good.append(str(ipaddress.ip_interface(a.strip()).ip))
    return good


def _check_key(entry, field, where, p, required):
    if field not in entry:
        return None
    value = entry[field]
    if value in (None, '') and not required:
        return None
    problem = key_problem(value, field)
    if problem:
        p.add(f'{where}.{field}', problem)
        return None
    return value


def _check_host(entry, where, p):
    if not isinstance(entry, dict):
        p.add(where, f'must be a mapping of public_key, endpoint, port, addresses, role; got '
                     f'{type(entry).__name__}')
        return None, []
    _check_keys(entry, where, HOST_REQUIRED, HOST_OPTIONAL, p)
    key = _check_key(entry, 'public_key', where, p, required=True)
    for field in ('previous_public_key', 'next_public_key'):
        _check_key(entry, field, where, p, required=False)
    created = entry.get('key_created')
    if created is not None and (isinstance(created, bool) or not isinstance(created, int) or created < 0):
        p.add(where + '.key_created', f'must be seconds since the epoch (a whole number), got {created!r}')
    if 'endpoint' in entry:
        problem = endpoint_host_problem(entry['endpoint'])
        if problem:
            p.add(where + '.endpoint', problem)
    if 'port' in entry:
        problem = port_problem(entry['port'])
        if problem:
            p.add(where + '.port', problem)
    if 'role' in entry and entry['role'] not in ROLES:
        p.add(where + '.role', f'{entry["role"]!r} is not one of {", ".join(ROLES)}')
    for field in ('hub', 'site'):
        if field in entry and not (isinstance(entry[field], str) and entry[field]):
            p.add(f'{where}.{field}', 'must be a non-empty name')
    if 'lans' in entry:
        if not isinstance(entry['lans'], list):
            p.add(where + '.lans', 'must be a list of networks')
        else:
            for i, lan in enumerate(entry['lans']):
                problem = network_problem(lan)
                if problem:
                    p.add(f'{where}.lans[{i}]', problem)
    addresses = _check_addresses(entry['addresses'], where, p) if 'addresses' in entry else []
    return key, addresses


def _check_client(entry, where, p):
    if not isinstance(entry, dict):
        p.add(where, f'must be a mapping of host, addresses, public_key; got {type(entry).__name__}')
        return None, []
    _check_keys(entry, where, CLIENT_REQUIRED, CLIENT_OPTIONAL, p)
    key = _check_key(entry, 'public_key', where, p, required=False)
    if 'host' in entry and not (isinstance(entry['host'], str) and entry['host']):
        p.add(where + '.host', 'must be the name of the member the client connects to')
    addresses = _check_addresses(entry['addresses'], where, p) if 'addresses' in entry else []
    return key, addresses


def _check_network(name, net, p):
    where = f'networks.{name}'
    if not isinstance(name, str) or not IFNAME_RE.match(name):
        p.add(where, 'is not a network (interface) name')
    if not isinstance(net, dict):
        p.add(where, f'must be a mapping with hosts and clients, got {type(net).__name__}')
        return
    for key in sorted(str(k) for k in net if k not in NETWORK_KEYS):
        p.add(where, f'unknown field {key!r} (known: hosts, clients)')
    keys, addresses = {}, {}
    for kind, check in (('hosts', _check_host), ('clients', _check_client)):
        table = net.get(kind)
        if table is None:
            continue
        if not isinstance(table, dict):
            p.add(f'{where}.{kind}', f'must be a mapping of name -> entry, got {type(table).__name__}')
            continue
        for owner, entry in sorted(table.items(), key=lambda kv: str(kv[0])):
            label = f'{where}.{kind}.{owner}'
            if not isinstance(owner, str) or not owner:
                p.add(label, 'the name must be a non-empty string')
            key, addrs = check(entry, label, p)
            who = f'{kind[:-1]} {owner}'
            if key is not None:
                if key in keys:
                    p.add(label + '.public_key', f'the same public key as {keys[key]}: every host and '
                                                 'client has its own key')
                else:
                    keys[key] = who
            for ip in addrs:
                if ip in addresses:
                    p.add(label + '.addresses', f'tunnel address {ip} is also held by {addresses[ip]}')
                else:
                    addresses[ip] = who


def problems(data):
    """Every problem of a loaded registry (a list of 'where: what' strings); [] when it is good."""
    p = _Problems()
    if data is None:
        p.add('the registry', 'is empty (no version, no networks): it was truncated or is not a '
                              'registry; if this is a new fleet, remove the empty file')
        return p.items
    if not isinstance(data, dict):
        p.add('the registry', 'is not a meshlab.wireguard registry (a mapping with version and networks), '
                              f'got {type(data).__name__}')
        return p.items
    for key in sorted(str(k) for k in data if k not in TOP_KEYS):
        p.add('the registry', f'unknown top-level field {key!r} (known: version, networks)')
    if 'version' not in data:
        p.add('version', 'is missing: a registry always starts with version: 1, so this one is '
                         'incomplete (truncated, or not written by meshlab.wireguard)')
    elif isinstance(data['version'], bool) or data['version'] != REGISTRY_VERSION:
        p.add('version', f'{data["version"]!r} is not a version this collection reads ({REGISTRY_VERSION}); '
                         'if a newer collection wrote it, upgrade the collection')
    networks = data.get('networks')
    if networks is None:
        p.add('networks', 'is missing')
    elif not isinstance(networks, dict):
        p.add('networks', f'must be a mapping of network name -> hosts and clients, got '
                          f'{type(networks).__name__}')
    else:
        for name, net in sorted(networks.items(), key=lambda kv: str(kv[0])):
            _check_network(name, net, p)
    return p.items


def validate(data, source, error=ValueError):
    """`data` when it is a good registry; else raise `error` (the caller's RegistryError) with one
    message naming `source` (file path or store URL), every problem and the ways out."""
    found = problems(data)
    if not found:
        return data
    shown = found[:MAX_SHOWN]
    more = f'\n- ... and {len(found) - MAX_SHOWN} more' if len(found) > MAX_SHOWN else ''
    raise error(f'the registry {source} is damaged; nothing was changed. {len(found)} problem(s):\n- '
                + '\n- '.join(shown) + more + f'\nWays out: {ways_out(source)}.')
