# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Topology filters (controller side): thin wrappers around module_utils/_topology.py.

Documentation of each filter is in plugins/filter/<name>.yml.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.meshlab.wireguard.plugins.module_utils import _topology as topo
from ansible_collections.meshlab.wireguard.plugins.plugin_utils._fleet import (
    normalize as fleet_from_inventory,
)
from ansible_collections.meshlab.wireguard.plugins.plugin_utils._plain import plain as _plain


def wireguard_fleet(networks, sites=None, groups=None, hostvars=None):
    """Normalized fleet with 'errors' and 'warnings' (see _topology.normalize)."""
    return fleet_from_inventory(networks, sites, groups, hostvars)


def wireguard_validate(fleet, registry=None):
    """Every input error as a list of messages; empty when the inputs are good."""
    if not isinstance(fleet, dict) or 'networks' not in fleet:
        raise AnsibleFilterError('wireguard_validate expects the result of wireguard_fleet')
    return topo.validate(_plain(fleet), _plain(registry or {}))


def wireguard_host_config(fleet, registry, host):
    """One host's networks, peers (without preshared keys), forwarding and firewall inputs."""
    if not isinstance(fleet, dict) or 'networks' not in fleet:
        raise AnsibleFilterError('wireguard_host_config expects the result of wireguard_fleet')
    return topo.host_config(_plain(fleet), _plain(registry or {}), str(host))


def wireguard_with_psk(peers, secret, network, own_public_key):
    """Peers with the pair's derived preshared key added (use only inside a module's arguments)."""
    if not secret:
        raise AnsibleFilterError(
            'preshared keys are enabled but no secret is set: put wireguard_psk_secret in vault, e.g. '
            '`ansible-vault encrypt_string "$(head -c 48 /dev/urandom | base64 -w0)" --name '
            'wireguard_psk_secret`, or set wireguard_psk_secret_path to a file the role may create')
    if len(str(secret).strip()) < topo.PSK_SECRET_MIN_LEN:
        raise AnsibleFilterError(
            f'wireguard_psk_secret is shorter than {topo.PSK_SECRET_MIN_LEN} characters; use at least '
            '32 random bytes, e.g. `head -c 48 /dev/urandom | base64 -w0`')
    return topo.add_preshared_keys(_plain(peers), str(secret).strip(), str(network), str(own_public_key))


def wireguard_psk(secret, network, public_key_a, public_key_b):
    """The preshared key of one pair (identical from both sides)."""
    return topo.derive_psk(str(secret).strip(), str(network), str(public_key_a), str(public_key_b))


class FilterModule:
    def filters(self):
        return {
            'wireguard_fleet': wireguard_fleet,
            'wireguard_validate': wireguard_validate,
            'wireguard_host_config': wireguard_host_config,
            'wireguard_with_psk': wireguard_with_psk,
            'wireguard_psk': wireguard_psk,
        }
