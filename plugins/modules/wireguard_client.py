#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the work is done on the controller by plugins/action/wireguard_client.py.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wireguard_client
short_description: Keys, config and QR codes for a WireGuard client not managed by Ansible
version_added: 0.2.0
description:
  - For a peer that Ansible does not manage (a phone, a laptop), makes a private key on the
    controller and writes a ready-to-import C(wg-quick) config plus a QR code as PNG and as
    terminal text, all under O(dir)C(/<network>/) with mode C(0600) in C(0700) directories.
  - The private key is generated once and kept; the config and QR codes are rewritten only when
    their content changes. The client's public key is merged into the registry (O(registry_path))
    so the host it connects to adds it as a peer.
  - With O(psk_secret) the pair's preshared key is derived the same way the role derives it for
    the host (HMAC-SHA256 over the network and both public keys), so both ends agree.
  - Nothing secret is returned or shown; the diff shows the config with keys redacted. The QR codes
    contain the private key; treat the files like the key.
  - This is an action plugin; it runs on the controller only.
author:
  - meshlab.wireguard contributors (@meshlab)
requirements:
  - cryptography on the controller (ansible-core depends on it).
  - qrcode on the controller for the QR codes, and pillow for the PNG one (both optional; without
    them, with O(qr=true), a warning names the missing package and the config is written alone).
options:
  dir:
    description: Controller directory for all clients; C(<dir>/<network>/<name>.key|conf|png|txt).
    type: path
    required: true
  network:
    description: The network (interface) name.
    type: str
    required: true
  name:
    description: Client name (letters, digits, C(_ . -)).
    type: str
    required: true
  host:
    description: Inventory name of the host the client connects to (a comment in the config and the registry).
    type: str
  addresses:
    description: The client's tunnel addresses with prefix length.
    type: list
    elements: str
    required: true
  allowed_ips:
    description: What the client routes into the tunnel.
    type: list
    elements: str
    required: true
  dns:
    description: DNS servers for the config.
    type: list
    elements: str
    default: []
  keepalive:
    description: Persistent keepalive the client sends; V(0) for none.
    type: int
    default: 25
  mtu:
    description: MTU for the config.
    type: int
  endpoint:
    description: C(host:port) the client dials.
    type: str
  server_public_key:
    description: Public key of the host the client connects to.
    type: str
  psk_secret:
    description: Fleet secret to derive the preshared key from; none when not given.
    type: str
  qr:
    description: Write C(<name>.png) and C(<name>.txt) QR codes.
    type: bool
    default: true
  registry_path:
    description:
      - Registry file to record the client's public key and addresses in (with
        O(registry_backend=file)); with neither it nor O(registry_backend=redis) no registry is used.
      - A client whose public key is in the registry but whose private key is not in O(dir) (made
        by another controller, or in another state directory) fails instead of getting a new key.
    type: path
  state:
    description: V(absent) removes the client's files and registry entry.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - meshlab.wireguard.controller_action
  - meshlab.wireguard.registry_store
attributes:
  check_mode:
    support: full
    details: Reports what would change; a key that does not exist yet is not made.
  diff_mode:
    support: full
    details: The config before and after, keys redacted.
  platform:
    support: full
    details: The controller.
    platforms: posix
seealso:
  - module: meshlab.wireguard.wireguard_registry
"""

EXAMPLES = r"""
- name: This host's key (the client needs its public key)
  meshlab.wireguard.wireguard_key:
    path: /etc/wireguard/wg0.key
  register: wg0_key

- name: A phone attached to this host; its key, config and QR codes go to the role's state directory
  meshlab.wireguard.wireguard_client:
    dir: "{{ lookup('meshlab.wireguard.wireguard_state', 'clients_dir') }}"
    network: wg0
    name: phone
    host: "{{ inventory_hostname }}"
    addresses: [100.64.0.200/24]
    allowed_ips: [100.64.0.0/24]
    endpoint: vpn.example.net:51820
    server_public_key: "{{ wg0_key.public_key }}"
"""

RETURN = r"""
public_key:
  description: The client's public key (null in check mode when the key does not exist yet).
  returned: with O(state=present)
  type: str
paths:
  description: The client's files on the controller.
  returned: always
  type: dict
  sample:
    key: /home/u/.local/state/meshlab-wireguard/proj-1a2b3c4d/clients/wg0/phone.key
    conf: /home/u/.local/state/meshlab-wireguard/proj-1a2b3c4d/clients/wg0/phone.conf
    png: /home/u/.local/state/meshlab-wireguard/proj-1a2b3c4d/clients/wg0/phone.png
    txt: /home/u/.local/state/meshlab-wireguard/proj-1a2b3c4d/clients/wg0/phone.txt
registry_changed:
  description: Whether the registry entry changed.
  returned: when O(registry_path) is set
  type: bool
"""
