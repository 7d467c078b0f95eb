#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the work is done on the controller by plugins/action/wireguard_inventory.py.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wireguard_inventory
short_description: Check a fleet's WireGuard variables and work out one host's networks and peers
version_added: 0.2.0
description:
  - Runs on the controller only; it never contacts the host. The role M(meshlab.wireguard.wireguard)
    calls it twice per host and run, in place of a chain of C(set_fact) and C(assert) tasks (every
    task is a round over all hosts, so fewer tasks make a faster run).
  - Reads the networks and sites (C(wireguard_networks), C(wireguard_sites)), the inventory groups
    and each member's C(wireguard_addresses) and C(wireguard_primary_hub) (from C(hostvars)).
    Membership comes from inventory groups and host lists only, never from the play's hosts, so
    C(--limit) cannot shrink a network.
  - V(check) checks every input against the registry (pools, pinned addresses, duplicates) and
    fails with every problem, each naming the variable and the fix, before anything on a host is
    changed; it returns the normalized fleet that M(meshlab.wireguard.wireguard_registry) publishes.
  - V(check) also checks the controller's own files (the registry directory, the preshared-key
    secret, the clients directory) and returns what the read-only probe
    (M(meshlab.wireguard.wireguard_probe)) of the host must look at, and the host's O(settings).
  - V(preflight) (run once per run, C(run_once)) judges the probe results of every host of the run
    together (read from C(hostvars), see O(probe_var) and O(inputs_var)) - a key file that holds no
    key or a public key, a vault key that is invalid or another host's, a registry that lost a live
    peer or would swap one that has a fresh handshake, a key change whose peers are not in the run,
    and what a host cannot do (create the link, turn on forwarding, load nft rules, write its files,
    bind its port, resolve its peers' names). Any problem fails every host before the first change
    on any host.
  - V(config) returns what O(host) configures, per network its addresses, listen port, peers
    (public keys, endpoints, allowed IPs; never a preshared key), LANs and firewall inputs.
  - Input warnings (e.g. a peer that has not published a key yet) are shown as Ansible warnings.
author:
  - meshlab.wireguard contributors (@meshlab)
options:
  stage:
    description:
      - V(check) (validate, return the fleet), V(preflight) (judge every host's probe) or V(config)
        (return the host's configuration).
    type: str
    choices: [check, preflight, config]
    default: config
  networks:
    description:
      - The networks, normally C(wireguard_networks) (a list of dicts); see the role's argument spec.
        Any shape is accepted here and checked by the stage itself, which names every problem.
    type: raw
    default: []
  fleet:
    description:
      - With V(config), the RV(fleet) an earlier V(check) returned, instead of working it out again
        from O(networks), O(sites) and every member's variables (the slow part on a large
        inventory).
    type: dict
  sites:
    description: The sites, normally C(wireguard_sites) (a list of dicts, checked like O(networks)).
    type: raw
    default: []
  registry_path:
    description:
      - The registry file on the controller (with O(registry_backend=file); see
        M(meshlab.wireguard.wireguard_registry)).
      - With O(stage=check) a path inside an inventory directory, an inventory file itself, or a
        path inside an ansible-runner / AWX job directory is an input error.
    type: path
    default: ''
  clients_dir:
    description:
      - With O(stage=check), the role's C(wireguard_clients_dir), checked like O(registry_path) when
        the fleet has clients; empty with clients is an error (under ansible-runner and AWX there
        is no default place for client private keys). The directory must be writable.
    type: path
    default: ''
  psk_secret_path:
    description:
      - With O(stage=check), the role's C(wireguard_psk_secret_path), checked like O(registry_path).
      - The controller file the secret is read from must be long enough and mode C(0600).
    type: path
    default: ''
  registry:
    description:
      - Use this registry data instead of reading O(registry_path), e.g. the registry a check-mode
        run of M(meshlab.wireguard.wireguard_registry) returned.
    type: dict
  host:
    description: The host to work out; defaults to C(inventory_hostname).
    type: str
  firewall:
    description: The role's firewall backend; V(ufw) cannot masquerade, which is reported as an error.
    type: str
    default: ''
  psk_secret_set:
    description:
      - Whether a preshared-key secret is available; without one, a network with preshared keys
        is an input error.
    type: bool
    default: true
  psk_secret_length:
    description: The length of the inline secret (C(wireguard_psk_secret)); 0 when there is none.
    type: int
    default: 0
  key_dir:
    description: The directory of the private key files on the host (for the probe).
    type: path
    default: /etc/wireguard
  config_dir:
    description: The directory of the wg-quick configs on the host (for the probe).
    type: path
    default: /etc/wireguard
  settings:
    description:
      - With V(check), the host's role settings the V(preflight) verdict needs - C(regenerate),
        C(manage_forwarding), C(firewall), C(install_packages), C(engine) and
        C(private_key_networks) (the names of the networks that have a key from vault; never the
        keys). Returned as RV(settings).
    type: dict
    default: {}
  probe_var:
    description: With V(preflight), the variable each host registered the probe result in.
    type: str
    default: wireguard__probe
  inputs_var:
    description: With V(preflight), the variable each host registered the V(check) result in.
    type: str
    default: wireguard__inputs
  run_id:
    description:
      - With V(config), the RV(run_id) of this run's V(check), returned as given, so that the role
        tells this run's configuration from one an earlier play left in its variables.
    type: str
    default: ''
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - meshlab.wireguard.controller_action
  - meshlab.wireguard.registry_store
attributes:
  check_mode:
    support: full
    details: Reads only; the same in check mode.
  diff_mode:
    support: none
    details: Nothing to show.
  platform:
    support: full
    details: Runs on the controller only.
    platforms: all
notes:
  - This is an action plugin; it needs no connection to the host.
seealso:
  - module: meshlab.wireguard.wireguard_registry
  - module: meshlab.wireguard.wireguard_interface
"""

EXAMPLES = r"""
# The registry of public keys on the controller, here where the role keeps it by default
# (beside the inventory; the role's wireguard_registry_path chooses another place).
- name: Check the inputs (controller)
  meshlab.wireguard.wireguard_inventory:
    stage: check
    networks: "{{ wireguard_networks }}"
    sites: "{{ wireguard_sites | default([]) }}"
    registry_path: "{{ lookup('meshlab.wireguard.wireguard_state', 'registry_path') }}"
  register: wg_inputs

- name: This host's networks and peers (controller)
  meshlab.wireguard.wireguard_inventory:
    networks: "{{ wireguard_networks }}"
    registry_path: "{{ lookup('meshlab.wireguard.wireguard_state', 'registry_path') }}"
  register: wg_config

- name: Configure the interfaces
  meshlab.wireguard.wireguard_interface:
    name: "{{ item.name }}"
    private_key_path: "/etc/wireguard/{{ item.name }}.key"
    listen_port: "{{ item.port }}"
    addresses: "{{ item.addresses }}"
    peers: "{{ item.peers }}"
  loop: "{{ wg_config.host.networks }}"
"""

RETURN = r"""
member:
  description: Whether the host is a member of any network (present or absent).
  returned: success
  type: bool
networks:
  description: The present networks the host is a member of.
  returned: success
  type: list
  elements: str
absent:
  description: The networks with C(state=absent) the host is a member of (their interfaces are removed).
  returned: success
  type: list
  elements: str
uses_psk:
  description: Whether any present network of the fleet uses preshared keys.
  returned: success
  type: bool
fleet:
  description: The normalized fleet (networks with members, pools, roles; sites).
  returned: stage=check
  type: dict
registry_exists:
  description:
    - Whether the registry was ever written (file or Redis key). The role passes it to
      M(meshlab.wireguard.wireguard_registry), which stops a host that already has keys when it was
      not (a lost registry).
  returned: stage=check
  type: bool
registry_source:
  description: The registry read, a file path or the Redis URL (without password) and key.
  returned: stage=check
  type: str
host:
  description:
    - What the host configures. C(networks) is a list, one entry per network, with C(name), C(port),
      C(mtu), C(role), C(addresses), C(peers), C(clients), C(local_lans), C(forward_tunnel),
      C(forwarding), C(masquerade), C(preshared_keys) and C(missing); C(absent) lists network
      names; C(forwarding) and C(ipv6) tell whether the host forwards and has IPv6 tunnel addresses.
  returned: stage=config
  type: dict
expected_host:
  description:
    - What the host would configure (as RV(host)) from the registry as it is before this run
      publishes anything; the probe checks the host against it, so that an unchanged run skips the
      tasks that would change nothing. Not returned while a network of the host has no public key
      in the registry.
  returned: stage=check
  type: dict
registered_keys:
  description: The host's public key per network in the registry (with RV(expected_host)).
  returned: stage=check
  type: dict
run_id:
  description: A new random id with V(check); the O(run_id) given with V(config).
  returned: stage=check, stage=config
  type: str
probe:
  description: What the host's probe looks at (networks with key paths and ports, known public keys, names).
  returned: stage=check
  type: dict
settings:
  description: The O(settings) given, for the V(preflight) stage.
  returned: stage=check
  type: dict
key_work:
  description: Per host, the networks whose key file the key task must handle (the others are settled).
  returned: stage=preflight
  type: dict
forwarding_work:
  description: Per host, the forwarding sysctls that are not yet 1 both live and in the sysctl file.
  returned: stage=preflight
  type: dict
public_keys:
  description: Per host and network, the public key of the key file the probe read.
  returned: stage=preflight
  type: dict
errors:
  description: Every input problem, each naming the variable and the fix (the task fails).
  returned: failure
  type: list
  elements: str
"""
