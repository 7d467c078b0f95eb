# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which hosts a key rotation replaces, in which order, and what stops it first (controller; pure).

A rotation switches a host's key and has every peer of the host replace the old key at once, so
every peer must be in the run. Rotations left in flight by an interrupted run (registry:
next_public_key == public_key) come first, so a re-run completes them before starting new ones.
"""

from __future__ import annotations

from ansible_collections.meshlab.wireguard.plugins.plugin_utils._registry_rotation import in_flight


def _present_networks(fleet):
    return {name: net for name, net in sorted((fleet.get('networks') or {}).items())
            if net.get('state', 'present') != 'absent'}


def _entry(registry, network, host):
    return ((((registry or {}).get('networks') or {}).get(network) or {}).get('hosts') or {}).get(host)


def rotation_plan(fleet, registry, play_hosts, rotate_hosts=None, with_clients=False, psk_source=None):
    """{'order': [hosts], 'problems': [messages]} for rotating ROTATE_HOSTS (None/[]: every member).

    psk_source: None, or where the preshared-key secret is kept when it is to be replaced too
    ('file' or 'variable'): every member must then rotate (each network's pairs change their
    preshared keys at its first switch, all at the same instant)."""
    nets = _present_networks(fleet)
    play = list(play_hosts or [])
    members = [h for h in play if any(h in net['members'] for net in nets.values())]
    if isinstance(rotate_hosts, str):
        rotate_hosts = [h.strip() for h in rotate_hosts.split(',') if h.strip()]
    wanted = list(rotate_hosts) if rotate_hosts else members
    problems = []
    for host in wanted:
        if host not in play:
            problems.append(f'wireguard_rotate_hosts: {host} is not in this run (not in the inventory, '
                            'left out by --limit, or unreachable); a rotation needs the host itself')
        elif host not in members:
            problems.append(f'wireguard_rotate_hosts: {host} is not a member of any WireGuard network')
    stale = [h for h in members if h not in wanted
             and any(in_flight(_entry(registry, name, h)) for name in nets)]
    order = stale + [h for h in wanted if h in members]
    for host in order:
        for name, net in nets.items():
            if host not in net['members']:
                continue
            if _entry(registry, name, host) is None:
                problems.append(f'{host} has no key in network {name} of the registry yet: converge '
                                'first (meshlab.wireguard.site), then rotate')
            missing = [m for m in net['members'] if m != host and m not in play]
            if missing:
                problems.append(
                    f'network {name}: {", ".join(missing)} (peers of {host}) are not in this run; they '
                    f'would keep {host}\'s old key and lose the link. Run the rotation for the whole fleet '
                    f'(no --limit), or leave {host} out of wireguard_rotate_hosts')
            clients = [c['name'] for c in net.get('clients') or [] if c.get('host') == host]
            if clients and not with_clients:
                problems.append(
                    f'network {name}: {host} serves clients not managed by Ansible ({", ".join(clients)}); '
                    'their configs must be imported again once its key changes (the old ones stop '
                    f'working then). Rotate {host} when you are ready to hand out the new configs and QR '
                    'codes, with -e wireguard_rotate_with_clients=true, or leave it out of '
                    'wireguard_rotate_hosts')
    if psk_source == 'variable':
        problems.append('wireguard_rotate_psk_secret: the secret is wireguard_psk_secret (a variable, '
                        'e.g. in vault): put the new secret there and run the rotation without '
                        'wireguard_rotate_psk_secret; only a secret file (wireguard_psk_secret_path) '
                        'is replaced')
    elif psk_source and sorted(order) != sorted(members):
        problems.append('wireguard_rotate_psk_secret: every member must rotate with the secret (each '
                        'network\'s preshared keys change at its first switch); leave wireguard_rotate_hosts '
                        'empty')
    return {'order': order, 'problems': problems}


def rotation_next(prepared, registry, host):
    """{network: next public key} of HOST from the prepare step's loop results; an in-flight
    network (skipped by prepare) keeps the key it already switched to."""
    out = {}
    for result in (prepared or {}).get('results') or []:
        network = result.get('item')
        if result.get('skipped'):
            entry = _entry(registry, network, host) or {}
            out[network] = entry.get('public_key')
        else:
            out[network] = result.get('next_public_key')
    return out
