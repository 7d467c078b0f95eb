# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The registry store options of the actions that read or write the registry."""

    DOCUMENTATION = r"""
options:
  registry_backend:
    description:
      - V(file) the registry file O(registry_path); V(redis) one key in Redis, O(registry_redis)
        (the role's C(wireguard_registry_backend)).
    type: str
    choices: [file, redis]
    default: file
  registry_redis:
    description: The Redis store, with O(registry_backend=redis); the role's C(wireguard_registry_redis).
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
"""
