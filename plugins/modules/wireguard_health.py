#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation stub: the work is done on the controller by plugins/action/wireguard_health.py.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wireguard_health
short_description: Compare the live WireGuard links with the inventory and report a link matrix
version_added: 0.2.0
description:
  - Runs on the controller. Used by the playbook C(meshlab.wireguard.health) in two phases.
  - V(plan) works out the links that should exist from the role variables
    (C(wireguard_networks), C(wireguard_sites)), the inventory groups and the registry of public
    keys and endpoints the role keeps, and which tunnel addresses each host should ping.
  - V(report) reads each host's M(meshlab.wireguard.wireguard_info) and
    M(meshlab.wireguard.wireguard_ping) results (registered variables O(info_var) and
    O(ping_var)), decides per link whether it is up, names the likely cause of every broken
    link, and renders a hosts-by-hosts matrix per network (handshake age and ping result in each
    cell) as text, JSON, a self-contained HTML page and a PNG (the PNG needs C(matplotlib) on the
    controller).
  - 'Causes, most specific first: V(host_unreachable) (no data from the host),
    V(interface_missing) (engine stopped or interface deleted), V(key_mismatch) (public key differs
    from the registry), V(peer_missing) (one side has no peer for the other), V(no_handshake)
    (never a handshake: endpoint or firewall), V(stale) (last handshake older than 180 s: peer
    down), V(ping_failed) (fresh handshake but no ping reply).'
  - The task itself never fails because a link is broken; the playbook checks RV(ok).
author:
  - meshlab.wireguard contributors (@meshlab)
options:
  phase:
    description: V(plan) or V(report), see above.
    type: str
    required: true
    choices: [plan, report]
  fleet:
    description:
      - With O(phase=plan), the normalized fleet (the C(meshlab.wireguard.wireguard_fleet) filter's
        result, as the role computes it). When not set it is computed from O(networks), O(sites),
        the inventory groups and O(host_vars).
    type: dict
  networks:
    description: With O(phase=plan) and no O(fleet), the role's C(wireguard_networks).
    type: list
    elements: dict
    default: []
  sites:
    description: With O(phase=plan) and no O(fleet), the role's C(wireguard_sites).
    type: list
    elements: dict
    default: []
  registry:
    description:
      - With O(phase=plan), the registry itself (as the role's registry file holds it). Takes
        precedence over O(registry_path).
    type: raw
  registry_path:
    description:
      - With O(phase=plan), the registry file on the controller (with O(registry_backend=file)),
        read by the same strict reader as the role's. A missing file means an empty registry
        (nothing configured yet); default C(wireguard-registry.yml) beside the inventory, as the
        role's.
    type: path
  host_vars:
    description:
      - With O(phase=plan), per host C(wireguard_addresses) and C(wireguard_primary_hub). Read from
        the inventory's hostvars when not given.
    type: dict
  hosts:
    description:
      - The hosts taking part (normally C(ansible_play_hosts_all)). With O(phase=plan) links with
        an end outside this list are not checked (a C(--limit) run checks the links among the
        limited hosts). With O(phase=report) the hosts whose results are read; default every host
        of O(expected).
    type: list
    elements: str
  expected:
    description: With O(phase=report), RV(expected) of the plan phase.
    type: list
    elements: dict
    default: []
  info_var:
    description: With O(phase=report), the variable each host registered wireguard_info's result in.
    type: str
    default: wireguard_health_info
  ping_var:
    description: With O(phase=report), the variable each host registered wireguard_ping's result in.
    type: str
    default: wireguard_health_ping
  warnings:
    description:
      - With O(phase=report), extra warnings to carry into the report (RV(health_warnings) of the
        plan phase).
    type: list
    elements: str
    default: []
  output_dir:
    description:
      - With O(phase=report), the controller directory to write C(health.json), C(health.html),
        C(health.png) and C(health.txt) into (created if needed; files replaced atomically).
        Nothing is written when not set. A directory inside an inventory directory or an
        ansible-runner / AWX job directory is refused.
    type: path
  formats:
    description:
      - Which files to write into O(output_dir).
      - When not set, V(json), V(html) and V(txt), and V(png) too when the Python package
        C(matplotlib) is installed on the controller (no warning when it is not).
      - V(png) listed here without C(matplotlib) on the controller fails the task with a message
        that names the package.
    type: list
    elements: str
    choices: [json, html, png, txt]
  title:
    description: Title of the HTML page and the PNG.
    type: str
    default: WireGuard health
  key_max_age:
    description:
      - With O(phase=report), days after which a private key is reported as too old (a warning per
        interface naming the rotation command, C(health.old_keys) in the result), from the C(key_age) that
        M(meshlab.wireguard.wireguard_info) returns. V(0) checks nothing.
    type: float
    default: 0
    version_added: 0.3.0
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - meshlab.wireguard.registry_store
attributes:
  check_mode:
    support: full
    details: Only reads variables and writes report files on the controller, also in check mode.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
  action:
    support: full
    description: Runs on the controller only (an action plugin); no module is sent to the hosts.
seealso:
  - module: meshlab.wireguard.wireguard_info
  - module: meshlab.wireguard.wireguard_ping
"""

EXAMPLES = r"""
# The whole check is the playbook meshlab.wireguard.health; in short (the registry where the
# role keeps it by default, the report in the role's per-user state directory):
- name: Expected links
  meshlab.wireguard.wireguard_health:
    phase: plan
    networks: "{{ wireguard_networks }}"
    sites: "{{ wireguard_sites | default([]) }}"
    registry_path: "{{ lookup('meshlab.wireguard.wireguard_state', 'registry_path') }}"
    hosts: "{{ ansible_play_hosts_all }}"
  run_once: true
  delegate_to: localhost
  register: plan

- name: One end of each link starts the handshake (both at once would stall it for 5 s)
  meshlab.wireguard.wireguard_ping:
    targets: "{{ plan.first_targets[inventory_hostname] | default([]) }}"
    count: 1
    deadline: 6
  failed_when: false

- name: Ping the tunnel address of every expected peer
  meshlab.wireguard.wireguard_ping:
    targets: "{{ plan.targets[inventory_hostname] | default([]) }}"
  register: wireguard_health_ping  # the default of ping_var
  ignore_errors: true

- name: Read the live interfaces
  meshlab.wireguard.wireguard_info:
  register: wireguard_health_info  # the default of info_var

- name: Report
  meshlab.wireguard.wireguard_health:
    phase: report
    expected: "{{ plan.expected }}"
    hosts: "{{ ansible_play_hosts_all }}"
    output_dir: "{{ lookup('meshlab.wireguard.wireguard_state', 'health_dir') }}"
  run_once: true
  delegate_to: localhost
  register: health

- name: Every expected link is up
  ansible.builtin.assert:
    that: health.ok
    fail_msg: "{{ health.lines }}"
  run_once: true
"""

RETURN = r"""
expected:
  description: With O(phase=plan), the links that should exist.
  returned: phase=plan
  type: list
  elements: dict
  sample:
    - network: wg0
      a: {host: h1, interface: wg0, public_key: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=,
          addresses: [100.64.0.1/24], endpoint: "198.51.100.11:51820", listen_port: 51820}
      b: {host: h2, interface: wg0, public_key: HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=,
          addresses: [100.64.0.2/24], endpoint: "198.51.100.12:51820", listen_port: 51820}
targets:
  description: With O(phase=plan), per host the tunnel addresses to ping.
  returned: phase=plan
  type: dict
  sample: {h1: [100.64.0.2], h2: [100.64.0.1]}
first_targets:
  description:
    - With O(phase=plan), per host the tunnel addresses to ping before RV(targets), so that only one
      end of each link starts its handshake (two handshakes started at once both fail, and
      WireGuard retries only after 5 seconds).
  returned: phase=plan
  type: dict
  sample: {h1: [100.64.0.2]}
health_warnings:
  description: With O(phase=plan), hosts not in the registry, links skipped by C(--limit), topology warnings.
  returned: phase=plan
  type: list
  elements: str
registry_found:
  description: With O(phase=plan), whether a non-empty registry was found.
  returned: phase=plan
  type: bool
ok:
  description: With O(phase=report), true when every expected link is up.
  returned: phase=report
  type: bool
health:
  description:
    - With O(phase=report), the whole analysis (C(health.json) holds the same).
    - C(summary) counts links, C(broken) lists each broken link with C(cause), C(culprit) (the
      host at fault when known) and C(detail); C(networks) holds per network the C(hosts) and the
      C(matrix) (row host -> column host -> cell with C(handshake_age), C(ping), C(ok), C(view));
      C(links) every expected link with both ends' views; C(suspects) the hosts whose every link is
      broken; C(old_keys) (with O(key_max_age)) one warning per interface whose key is too old.
  returned: phase=report
  type: dict
lines:
  description: With O(phase=report), the matrix and the broken links as text lines.
  returned: phase=report
  type: list
  elements: str
files:
  description: With O(phase=report), the files written, by format.
  returned: phase=report
  type: dict
  sample:
    json: /home/u/.local/state/meshlab-wireguard/proj-1a2b3c4d/health/health.json
    html: /home/u/.local/state/meshlab-wireguard/proj-1a2b3c4d/health/health.html
"""
