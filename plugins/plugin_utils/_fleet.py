# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet from the inventory (controller side): role variables, groups and per-host variables."""

from __future__ import annotations

from ansible_collections.meshlab.wireguard.plugins.module_utils import _topology as topo
from ansible_collections.meshlab.wireguard.plugins.plugin_utils._plain import plain

# Per-host variables the topology reads from every member (set in host_vars or group_vars).
HOST_VARS = ('wireguard_addresses', 'wireguard_primary_hub', 'wireguard_endpoint')

_UNDEFINED = ('AnsibleUndefined', 'StrictUndefined', 'Undefined')


def host_value(hostvars, host, name):
    """hostvars[host][name] as plain data, None when the host or the variable is not there."""
    try:
        hv = hostvars[host]
    except KeyError:
        return None
    try:
        value = hv.get(name) if hasattr(hv, 'get') else hv[name]
    except KeyError:
        return None
    if value is None or type(value).__name__ in _UNDEFINED:
        return None
    return plain(value)


def per_host_vars(hostvars, hosts):
    """{host: {name: value}} of HOST_VARS for the given hosts (only the variables that are set)."""
    out = {}
    if hostvars is None:
        return out
    for host in sorted(hosts):
        entry = {}
        for name in HOST_VARS:
            value = host_value(hostvars, host, name)
            if value is not None:
                entry[name] = value
        out[host] = entry
    return out


def normalize(networks, sites, groups, hostvars):
    """The normalized fleet (see _topology.normalize) with its 'errors' and 'warnings'."""
    groups = plain(groups or {})
    networks = plain(networks) if networks is not None else []
    sites = plain(sites) if sites is not None else []
    return topo.normalize(networks, sites, groups, per_host_vars(hostvars, set(groups.get('all', []))))
