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


def wireguard_interface_args(host, engine='auto', key_dir='/etc/wireguard', config_dir='/etc/wireguard',
                             systemd='auto'):
    """The arguments of wireguard_interface for each network of HOST, without preshared keys."""
    if not isinstance(host, dict) or 'networks' not in host:
        raise AnsibleFilterError('wireguard_interface_args expects the result of wireguard_host_config')
    out = []
    for net in _plain(host['networks']):
        name = net['name']
        args = {'name': name, 'state': 'present', 'engine': engine,
                'private_key_path': f'{key_dir}/{name}.key', 'listen_port': net['port'],
                'addresses': net['addresses'], 'peers': net['peers'],
                'exclusive': True, 'missing_peers': net['missing'], 'manage_routes': True,
                'config_path': f'{config_dir}/{name}.conf', 'systemd': systemd}
        if net.get('mtu'):
            args['mtu'] = net['mtu']
        out.append(args)
    return out


def wireguard_psk_map(host, secret, public_keys):
    """{network: {peer public key: preshared key}} of HOST's networks with preshared keys
    (PUBLIC_KEYS: this host's own public key per network). For no_log arguments only."""
    if not isinstance(host, dict) or 'networks' not in host:
        raise AnsibleFilterError('wireguard_psk_map expects the result of wireguard_host_config')
    out = {}
    for net in _plain(host['networks']):
        if net.get('preshared_keys'):
            peers = wireguard_with_psk(net['peers'], secret, net['name'], (public_keys or {})[net['name']])
            out[net['name']] = {p['public_key']: p['preshared_key'] for p in peers}
    return out


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
            'wireguard_interface_args': wireguard_interface_args,
            'wireguard_psk_map': wireguard_psk_map,
        }
