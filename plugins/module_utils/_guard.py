# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The live-peer guard of wireguard_interface: a plan never drops or swaps a live peer by accident.

Peers are known by name from the `# Name = X` comments of the wg-quick config this module wrote.
Before any change (check mode too) a plan is refused when it would
(a) remove a live peer whose name is an expected member that has no key yet (`missing`): the
    registry lost it, so removing the peer would cut a link the registry merely forgot; or
(b) remove or replace (by name) a live peer that has a fresh handshake while the name is still an
    expected peer and the new key is not its announced successor (the desired peer's
    `previous_public_key` is the live key).
A peer whose name is not expected any more (its host left the network) is removed as usual.
Pure: the caller passes the live interface, the names and the clock.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional

from ansible_collections.meshlab.wireguard.plugins.module_utils._model import REBUILD_COMMAND
from ansible_collections.meshlab.wireguard.plugins.module_utils._plan import handshake_fresh


def live_peer_problems(ifname: str, desired, live, desired_names: Dict[str, str],
                       live_names: Dict[str, str], missing: Iterable[str],
                       previous: Dict[str, Optional[str]], now: Optional[float]) -> List[str]:
    """Why the plan from LIVE to DESIRED must not be applied ([] when it may)."""
    if live is None or desired is None:
        return []
    missing = set(missing or ())
    by_name = {name: key for key, name in desired_names.items()}
    problems = []
    for key in sorted(live.device.peers):
        if key in desired.device.peers:
            continue
        name = live_names.get(key)
        if not name:
            continue
        if name in missing:
            problems.append(
                f'{ifname}: live peer {name} ({key}) would be removed because there is no key for {name} '
                f'(the registry lost it). Nothing was changed. Restore the registry from a good copy, or '
                f'rebuild it from the live hosts with `{REBUILD_COMMAND}`')
            continue
        new = by_name.get(name)
        if new is None:
            continue  # not an expected peer any more: removed as usual
        stats = live.device.stats.get(key)
        if handshake_fresh(stats, now) and previous.get(new) != key:
            age = int(now - stats.latest_handshake) if stats and stats.latest_handshake else 0
            problems.append(
                f'{ifname}: peer {name} would change from its live key {key} (handshake {age} s ago) to '
                f'{new}, which is not announced as its successor (previous_public_key). Nothing was '
                f'changed. If {name} really has a new key, run {name} too so that it publishes the change; '
                f'otherwise correct the key (the registry entry of {name}), or rebuild the registry with '
                f'`{REBUILD_COMMAND}`')
    return problems
