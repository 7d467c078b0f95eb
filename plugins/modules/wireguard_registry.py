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
    site and LANs) for each network it is a member of into the registry, a YAML file on the
    controller (O(backend=file)) or one key in Redis (O(backend=redis)), and returns the whole
    registry. The role M(meshlab.wireguard.wireguard) builds every host's peers
    from this registry, so a run with C(--limit), or with a member unreachable, still configures
    every peer.
  - Tunnel addresses that are not set explicitly are allocated here from the network's pools,
    while the lock is held. Deterministic (a hash of network and host name picks the preferred
    slot, collisions probe upwards, names are placed in sorted order), and once an address is in
    the registry it is kept, so adding a host never moves another.
  - Concurrency safe. A file change holds an exclusive C(flock) on C(<path>.lock) and replaces
    the file by an atomic rename of a synced temporary file; a Redis change is a compare-and-set
    (C(WATCH), C(MULTI), C(SET), C(EXEC), worked out again when another writer came first). Forks,
    C(strategy=free), several playbook runs, AWX execution nodes and several controllers sharing
    one Redis never lose or duplicate an entry.
  - O(state=rebuild) fills the registry's gaps from the hosts' M(meshlab.wireguard.wireguard_info)
    results, as the playbook C(meshlab.wireguard.registry_rebuild) does.
  - Never stores a secret. Preshared keys are derived from a secret on the controller when they
    are used (see the role) and are not kept anywhere.
  - This is an action plugin; it runs on the controller only and needs no connection to the host.
author:
  - meshlab.wireguard contributors (@meshlab)
options:
  path:
    description:
      - The registry file on the controller (with O(backend=file)). Its directory is created when
        missing.
      - Default C(wireguard-registry.yml) beside the first inventory source, never inside an
        inventory directory (P(meshlab.wireguard.wireguard_state#lookup)). A path inside an
        inventory directory or an ansible-runner / AWX job directory is refused.
    type: path
  backend:
    description:
      - V(file) the registry file O(path); V(redis) one key in Redis, O(redis).
    type: str
    choices: [file, redis]
    default: file
  redis:
    description: The Redis store, with O(backend=redis); the role's C(wireguard_registry_redis).
    type: dict
    default: {}
    suboptions:
      url:
        description: C(redis://HOST:PORT/DB), C(rediss://HOST:PORT/DB) (TLS) or C(unix:///PATH?db=DB).
        type: str
      key:
        description: The key that holds the registry.
        type: str
        default: meshlab:wireguard:registry
      username:
        description: Redis ACL user.
        type: str
      password:
        description: Its password.
        type: str
      tls_ca_file:
        description: CA certificate that signed the server's certificate.
        type: path
      tls_cert_file:
        description: Client certificate, when the server asks for one.
        type: path
      tls_key_file:
        description: The client certificate's key.
        type: path
      timeout:
        description: Seconds to wait for the server.
        type: float
        default: 10.0
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
      - V(rebuild) adds the entries that the hosts' M(meshlab.wireguard.wireguard_info) results (the
        variable O(info_var) of O(hosts)) show and the registry lacks; entries it holds are kept.
      - V(rotate) records one step of a key rotation of O(host) (O(rotation_step)); used by
        the playbook C(meshlab.wireguard.rotate).
    type: str
    choices: [present, absent, read, rebuild, rotate]
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
        derivation (48 random bytes, base64, mode C(0600)); created once, never overwritten
        (unless O(psk_secret_rotate=true)), never returned. Creation is safe when many hosts try at once.
    type: path
  registry_existed:
    description:
      - Whether the registry existed before this run (the role passes what its check stage saw).
        With V(false) and O(existing_keys) not empty the call fails and names the rebuild command,
        a registry that was never written while the host already has keys was lost.
    type: bool
    default: true
  existing_keys:
    description: Networks for which O(host) had its key before this run (not made now, not from vault).
    type: list
    elements: str
    default: []
  hosts:
    description: With O(state=rebuild), the hosts whose O(info_var) is read; default every host.
    type: list
    elements: str
  info_var:
    description: With O(state=rebuild), the variable holding M(meshlab.wireguard.wireguard_info) per host.
    type: str
    default: wireguard_rebuild_info
  rotation_step:
    description:
      - With O(state=rotate), one step of a key rotation of O(host) in every network of
        O(public_keys) (there the next public key per network). V(announce) records it as
        C(next_public_key) (prepared on the host); V(commit) makes it the C(public_key) and keeps
        the old one as C(previous_public_key), so the peers may swap the live key; V(finish) drops
        C(next_public_key) and records O(key_created); V(cancel) drops a C(next_public_key) that
        was never switched to.
    type: str
    choices: [announce, commit, finish, cancel]
  key_created:
    description: With O(rotation_step=finish), when the new key went live (seconds since the epoch).
    type: int
  psk_secret_rotate:
    description:
      - Replace the secret in O(psk_secret_path) by a new random one (the old one is kept as
        O(psk_secret_path)C(.old)); the file must exist. Used by the playbook
        C(meshlab.wireguard.rotate) with C(wireguard_rotate_psk_secret=true), right before the first
        switch, so every pair's preshared key changes at the switch of its network.
    type: bool
    default: false
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
    details: The controller needs C(fcntl) (any POSIX system); O(backend=redis) the Python library C(redis).
    platforms: posix
notes:
  - Under ansible-runner or AWX the job's directories are removed after the job, and every
    execution node has its own disk; use O(backend=redis) there (the role's
    C(wireguard_registry_backend)). A O(path) inside a job directory is refused.
seealso:
  - module: meshlab.wireguard.wireguard_key
  - module: meshlab.wireguard.wireguard_interface
"""

EXAMPLES = r"""
# The registry lives on the controller; here where the role keeps it by default (beside the
# inventory; the role's wireguard_registry_path chooses another place).
- name: This host's key
  meshlab.wireguard.wireguard_key:
    path: /etc/wireguard/wg0.key
  register: wg0_key

- name: Publish this host's public data and get its tunnel addresses
  meshlab.wireguard.wireguard_registry:
    path: "{{ lookup('meshlab.wireguard.wireguard_state', 'registry_path') }}"
    fleet: >-
      {{ wireguard_networks
         | meshlab.wireguard.wireguard_fleet(wireguard_sites | default([]), groups, hostvars) }}
    public_keys:
      wg0: "{{ wg0_key.public_key }}"
    endpoint: "{{ ansible_host }}"
  register: published

- name: Read the registry
  meshlab.wireguard.wireguard_registry:
    path: "{{ lookup('meshlab.wireguard.wireguard_state', 'registry_path') }}"
    state: read
  register: registry

- name: Read a registry kept in Redis
  meshlab.wireguard.wireguard_registry:
    backend: redis
    redis:
      url: rediss://redis.example.net:6379/0
      username: meshlab
      password: "{{ vault_wireguard_redis_password }}"
      tls_ca_file: /etc/ssl/certs/example-ca.pem
    state: read
  register: registry

- name: Forget a decommissioned host
  meshlab.wireguard.wireguard_registry:
    path: "{{ lookup('meshlab.wireguard.wireguard_state', 'registry_path') }}"
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
  description: The registry, a file path or the Redis URL (without password) and key.
  returned: with O(state=present), O(state=absent) or O(state=rebuild)
  type: str
source:
  description: The same as RV(path), with O(state=read).
  returned: with O(state=read)
  type: str
added:
  description: With O(state=rebuild), the host and client names added per network.
  returned: with O(state=rebuild)
  type: dict
  sample: {wg0: {hosts: [h2, h3], clients: [phone]}}
hosts_read:
  description: With O(state=rebuild), the hosts whose interfaces were read.
  returned: with O(state=rebuild)
  type: list
  elements: str
psk_secret_created:
  description: Whether O(psk_secret_path) was created by this call.
  returned: when O(psk_secret_path) is set
  type: bool
"""
