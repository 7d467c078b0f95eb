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

This file is the facade: the work is in one file per concern, and callers import from here.

* ``_topology_fields``    accepted keys, defaults, limits and the small parsers (one source of
  truth; ``test_topology_fields.py`` fails when ``roles/wireguard/meta/argument_specs.yml`` drifts)
* ``_topology_normalize`` ``normalize``: walks wireguard_networks and calls, in order,
* ``_topology_members``   members, pools, explicit addresses
* ``_topology_hubs``      hubs, primary hubs, peer groups
* ``_topology_sites``     wireguard_sites and which member announces which LANs
* ``_topology_clients``   clients of a network
* ``_topology_checks``    checks across networks, sites and host variables
* ``_topology_alloc``     address allocation and ``validate``
* ``_topology_host``      ``host_config`` / ``network_config``, preshared keys, registry entries
"""

from __future__ import annotations

from ansible_collections.meshlab.wireguard.plugins.module_utils._topology_alloc import (
    allocate_network,
    allocate_pool,
    validate,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._topology_fields import (
    CLIENT_KEYS,
    DEFAULT_KEEPALIVE,
    DEFAULT_PORT,
    IFNAME_RE,
    MTU_MAX,
    MTU_MIN,
    NAME_RE,
    NETWORK_KEYS,
    PER_NETWORK_HOST_VARS,
    PSK_LABEL,
    PSK_SECRET_MIN_LEN,
    REGISTRY_VERSION,
    SITE_KEYS,
    TOPOLOGIES,
    format_endpoint,
    host_prefix,
    interface_ok,
    rendezvous,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._topology_host import (
    add_preshared_keys,
    derive_psk,
    host_config,
    network_config,
    registered_keys,
    registry_entry,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._topology_normalize import normalize

__all__ = [
    'CLIENT_KEYS', 'DEFAULT_KEEPALIVE', 'DEFAULT_PORT', 'IFNAME_RE', 'MTU_MAX', 'MTU_MIN', 'NAME_RE',
    'NETWORK_KEYS', 'PER_NETWORK_HOST_VARS', 'PSK_LABEL', 'PSK_SECRET_MIN_LEN', 'REGISTRY_VERSION',
    'SITE_KEYS', 'TOPOLOGIES', 'add_preshared_keys', 'allocate_network', 'allocate_pool',
    'derive_psk', 'format_endpoint', 'host_config', 'host_prefix', 'interface_ok', 'network_config',
    'normalize', 'registered_keys', 'registry_entry', 'rendezvous', 'validate',
]
