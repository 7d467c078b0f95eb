# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a key rotation records in the registry (wireguard_registry state=rotate); pure.

Per network of the rotating host, one step (docs/ARCHITECTURE.md, "Key rotation"):
  announce  next_public_key = NEXT                  (prepared on the host; nothing live changed)
  commit    public_key = NEXT, previous_public_key = the old key, next_public_key kept
            (the host's key file holds NEXT; its peers now swap old -> new, the guard allows it)
  finish    next_public_key removed, key_created = the key file's time (every peer confirmed)
  cancel    next_public_key removed while it is not the public key yet (never switched)
A registry entry with next_public_key == public_key is a rotation in flight: the next run of the
rotation confirms it instead of making another key.
"""

from __future__ import annotations

STEPS = ('announce', 'commit', 'finish', 'cancel')


class RotationFailure(ValueError):
    """The registry has no entry the rotation could change; the message names the fix."""


def rotation_change(host, step, next_keys, key_created=None):
    """change(data) for a registry store's update: STEP for HOST in every network of NEXT_KEYS
    ({network: next public key}; only the names count for finish and cancel)."""
    if step not in STEPS:
        raise RotationFailure(f'rotation_step must be one of {", ".join(STEPS)}, got {step!r}')

    def change(data):
        for name, next_key in sorted((next_keys or {}).items()):
            hosts = (((data.get('networks') or {}).get(name) or {}).get('hosts') or {})
            entry = hosts.get(host)
            if entry is None:
                raise RotationFailure(f'{host} has no entry in network {name} of the registry: converge the '
                                      'network first (meshlab.wireguard.site), then rotate')
            apply_step(entry, step, next_key, key_created)
        return {}
    return change


def apply_step(entry, step, next_key=None, key_created=None):
    """Apply one rotation STEP to one registry host ENTRY in place."""
    if step in ('announce', 'commit') and not next_key:
        raise RotationFailure(f'step {step} needs next_public_key')
    if step == 'announce':
        if entry['public_key'] != next_key:
            entry['next_public_key'] = next_key
    elif step == 'commit':
        if entry['public_key'] != next_key:
            entry['previous_public_key'] = entry['public_key']
            entry['public_key'] = next_key
        entry['next_public_key'] = next_key
    elif step == 'finish':
        entry.pop('next_public_key', None)
        if key_created is not None:
            entry['key_created'] = int(key_created)
    elif step == 'cancel' and entry.get('next_public_key') != entry['public_key']:
        entry.pop('next_public_key', None)


def in_flight(entry):
    """True when ENTRY's rotation switched the key but was not confirmed yet."""
    return bool(entry) and entry.get('next_public_key') is not None \
        and entry.get('next_public_key') == entry.get('public_key')
