# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every registry backend shares: the data format, the strict reader and the update rule.

A backend subclasses `Registry` and implements `_load()` (the current data, `None` when the
registry was never written), `exists()` and `_transact(apply)` (run `apply(current)` and store its
result as one atomic compare-and-set: a lock and a rename for the file, WATCH/MULTI for Redis).
`update()` is the same for all: the change is worked out on a lock-free snapshot first (check mode
and every no-op stop there), and only a real change goes through `_transact`, where it is worked
out again on the current data, so concurrent writers never lose each other's entries.
"""

from __future__ import annotations

import copy

import yaml

from ansible_collections.meshlab.wireguard.plugins.module_utils._model import REBUILD_COMMAND
from ansible_collections.meshlab.wireguard.plugins.plugin_utils import _registry_schema

REGISTRY_VERSION = 1
HEADER = (
    '# meshlab.wireguard registry: public keys, endpoints and tunnel addresses of every member.\n'
    '# No secrets. Written by the role under a lock (<this file>.lock); safe to commit.\n'
    '# Edit only while no play runs. Remove an entry to forget a host (its address becomes free).\n'
)

# libyaml's loader when PyYAML has it: every host's run reads the registry several times
_Loader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)


class RegistryError(Exception):
    """The registry cannot be read or written; the message says what to do."""


def empty():
    return {'version': REGISTRY_VERSION, 'networks': {}}


def validate(data, source):
    """The strict check of a loaded registry (every backend calls this one function).

    `source` names the registry in messages (a file path, or the store URL and key). The check
    itself is plugins/plugin_utils/_registry_schema.py (version, schema, keys, no duplicates).
    """
    return _registry_schema.validate(data, source, RegistryError)


def parse(text, source):
    """Registry text (YAML, as written by `dump`) -> data, checked by `validate`."""
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise RegistryError(f'cannot read the registry {source}: {exc}; fix it, restore a copy, or run '
                            f'{REBUILD_COMMAND} (it reads every host)') from None
    data = validate(data, source)  # an existing but empty registry is damaged, not new
    data.setdefault('networks', {})
    data['version'] = REGISTRY_VERSION
    for net in data['networks'].values():
        if isinstance(net, dict):
            net.setdefault('hosts', {})
            net.setdefault('clients', {})
    return data


def dump(data, header=HEADER):
    return header + yaml.safe_dump(data, default_flow_style=False, sort_keys=True, width=120)


class Registry:
    """One registry: `source` (for messages), `read()`, `exists()`, `update(change, check_mode)`."""

    source = ''

    def _load(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def exists(self):  # pragma: no cover - abstract
        """Whether the registry was ever written (a missing one while hosts have keys was lost)."""
        raise NotImplementedError

    def _transact(self, apply):  # pragma: no cover - abstract
        raise NotImplementedError

    def read(self):
        """The whole registry; an empty one when it does not exist. Takes no lock."""
        data = self._load()
        return empty() if data is None else data

    def update(self, change, check_mode=False):
        """Read-modify-write. `change(data)` edits a deep copy in place and may return a value.
        Returns (before, after, changed, value); nothing is written in check mode or when nothing
        changed."""
        def apply(before):
            after = copy.deepcopy(before)
            value = change(after)
            return before, after, after != before, value

        # A snapshot needs no lock (writers replace the whole registry atomically). It is all that
        # check mode needs, and all that an unchanged host (every re-run) needs: a change that is
        # a no-op on a consistent snapshot is a no-op. Only a real change is worked out again in
        # the backend's transaction.
        snapshot = apply(self.read())
        if check_mode or not snapshot[2]:
            return snapshot
        return self._transact(apply)
