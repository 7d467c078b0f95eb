# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Key rotation filters (controller side): thin wrappers around plugin_utils/_rotation_plan.py.

Documentation of each filter is in plugins/filter/<name>.yml.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.meshlab.wireguard.plugins.plugin_utils._plain import plain as _plain
from ansible_collections.meshlab.wireguard.plugins.plugin_utils._registry_rotation import in_flight
from ansible_collections.meshlab.wireguard.plugins.plugin_utils._rotation_plan import (
    rotation_next,
    rotation_plan,
)


def wireguard_rotation_plan(fleet, registry, play_hosts, rotate_hosts=None, with_clients=False,
                            psk_source=None):
    """{'order': hosts to rotate, 'problems': what stops the rotation before any change}."""
    if not isinstance(fleet, dict) or 'networks' not in fleet:
        raise AnsibleFilterError('wireguard_rotation_plan expects the result of wireguard_fleet')
    return rotation_plan(_plain(fleet), _plain(registry or {}), _plain(play_hosts),
                         _plain(rotate_hosts), bool(with_clients), psk_source or None)


def wireguard_rotation_next(prepared, registry, host):
    """{network: next public key} from the prepare step's registered loop result."""
    return rotation_next(_plain(prepared), _plain(registry or {}), str(host))


def wireguard_rotation_in_flight(entry):
    """True when a registry host entry holds a switched but unconfirmed key."""
    return in_flight(_plain(entry))


class FilterModule:
    def filters(self):
        return {
            'wireguard_rotation_plan': wireguard_rotation_plan,
            'wireguard_rotation_next': wireguard_rotation_next,
            'wireguard_rotation_in_flight': wireguard_rotation_in_flight,
        }
