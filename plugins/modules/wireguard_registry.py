#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the work is done on the controller by plugins/action/wireguard_registry.py.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wireguard_registry
short_description: Keep the controller-side registry of public WireGuard data for a fleet
version_added: 0.2.0
description:
  - Merges one host's public data (public key, endpoint, listen port, tunnel addresses, role,
    site and LANs) for each network it is a member of into a YAML file on the controller, and
    returns the whole registry. The role M(meshlab.wireguard.wireguard) builds every host's peers
    from this registry, so a run with C(--limit), or with a member unreachable, still configures
    every peer.
  - Tunnel addresses that are not set explicitly are allocated here from the network's pools,
    while the lock is held. Deterministic (a hash of network and host name picks the preferred
    slot, collisions probe upwards, names are placed in sorted order), and once an address is in
    the registry it is kept, so adding a host never moves another.
  - Concurrency safe. Every change holds an exclusive C(flock) on C(<path>.lock) and replaces
    the file by an atomic rename of a synced temporary file, so forks, C(strategy=free), several
    playbook runs, ansible-runner and AWX jobs sharing the file never lose an entry.
  - Never stores a secret. Preshared keys are derived from a secret on the controller when they
    are used (see the role) and are not kept anywhere.
  - This is an action plugin; it runs on the controller only and needs no connection to the host.
author:
  - meshlab.wireguard contributors (@meshlab)
options:
  path:
    description:
      - The registry file on the controller. Its directory is created when missing.
      - The role defaults to C(wireguard-registry.yml) beside the first inventory source.
    type: path
    required: true
  host:
    description:
      - The inventory name whose entries are written. Defaults to the current host.
    type: str
  state:
    description:
      - V(present) merges the O(public_keys), O(endpoint) and O(clients) data of O(host) and allocates its
        addresses.
      - V(absent) removes O(host) (and the clients attached to it) from O(networks), or from every
        network when O(networks) is not given.
      - V(read) only returns the registry; nothing is created or changed.
    type: str
    choices: [present, absent, read]
    default: present
  fleet:
    description:
      - The normalized fleet, the result of the P(meshlab.wireguard.wireguard_fleet#filter) filter.
        Required with O(state=present). Networks that O(host) is a member of and that have
        C(state=absent) lose O(host)'s entry.
    type: dict
  public_keys:
    description:
      - 'This host''s public key per network name, C({wg0: ..., wg1: ...}).'
      - Required outside check mode for every present network the host is a member of (in check
        mode a host whose key does not exist yet is left out).
    type: dict
    default: {}
  endpoint:
    description:
      - The address or DNS name peers dial to reach O(host) (the port is the network's). Empty
        when the host cannot be reached, for example behind NAT; its peers then get no endpoint
        for it and it sends keepalives to them.
    type: str
    default: ''
  clients:
    description:
      - 'Public keys of the clients attached to O(host), C({wg0: {phone: {public_key: ...}}}).
        Client addresses are allocated and kept whether or not a key is given.'
    type: dict
    default: {}
  networks:
    description:
      - With O(state=absent), the networks to remove O(host) from.
    type: list
    elements: str
  prune:
    description:
      - Also remove, from the networks O(host) is in, entries of hosts that are no longer members
        and of clients that are no longer listed. Without it such entries stay (their addresses
        stay reserved) until removed by hand or by a pruning run.
    type: bool
    default: false
  psk_secret_path:
    description:
      - When set, make sure this file on the controller holds a random secret for preshared-key
        derivation (48 random bytes, base64, mode C(0600)); created once, never overwritten,
        never returned. Creation is safe when many hosts try at once.
    type: path
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - meshlab.wireguard.controller_action
attributes:
  check_mode:
    support: full
    details: Nothing is written; the returned registry is what would be written.
  diff_mode:
    support: full
    details: Shows this host's entries before and after.
  platform:
    support: full
    details: The controller needs C(fcntl) (any POSIX system).
    platforms: posix
notes:
  - Under ansible-runner or AWX the default path beside the inventory may live in a job's
    temporary directory; point O(path) (the role's C(wireguard_registry_path)) at storage that
    outlives the job, or commit the file with the inventory (it holds only public data).
seealso:
  - module: meshlab.wireguard.wireguard_key
  - module: meshlab.wireguard.wireguard_interface
"""

EXAMPLES = r"""
# The registry lives on the controller; here beside the playbook (the role's
# wireguard_registry_path decides where the role keeps it).
- name: This host's key
  meshlab.wireguard.wireguard_key:
    path: /etc/wireguard/wg0.key
  register: wg0_key

- name: Publish this host's public data and get its tunnel addresses
  meshlab.wireguard.wireguard_registry:
    path: "{{ playbook_dir }}/wireguard-registry.yml"
    fleet: >-
      {{ wireguard_networks
         | meshlab.wireguard.wireguard_fleet(wireguard_sites | default([]), groups, hostvars) }}
    public_keys:
      wg0: "{{ wg0_key.public_key }}"
    endpoint: "{{ ansible_host }}"
  register: published

- name: Read the registry
  meshlab.wireguard.wireguard_registry:
    path: "{{ playbook_dir }}/wireguard-registry.yml"
    state: read
  register: registry

- name: Forget a decommissioned host
  meshlab.wireguard.wireguard_registry:
    path: "{{ playbook_dir }}/wireguard-registry.yml"
    host: old-gateway
    state: absent
"""

RETURN = r"""
registry:
  description: The whole registry after the change (what would be written in check mode).
  returned: always
  type: dict
  sample:
    version: 1
    networks:
      wg0:
        hosts:
          h1:
            public_key: dGhpcyBpcyBub3QgYSByZWFsIGtleSBqdXN0IGEgc2FtcGw=
            endpoint: 198.51.100.11
            port: 51820
            addresses: [100.64.0.37/24, fd3a:6c1e:9b42:100::25/64]
            role: gateway
            site: a
            lans: [203.0.113.0/27]
        clients: {}
addresses:
  description: This host's tunnel addresses per network (explicit or allocated).
  returned: with O(state=present)
  type: dict
  sample: {wg0: [100.64.0.37/24, fd3a:6c1e:9b42:100::25/64]}
path:
  description: The registry file.
  returned: with O(state=present) or O(state=absent)
  type: str
psk_secret_created:
  description: Whether O(psk_secret_path) was created by this call.
  returned: when O(psk_secret_path) is set
  type: bool
"""
