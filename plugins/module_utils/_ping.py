# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ping many addresses at once (wireguard_ping): iputils `ping` per target, in threads.

A target is up when at least one reply came back: the first packet to a peer may wait for the
WireGuard handshake it triggers. With a deadline, ping goes on until `count` replies came back or
the deadline passed, which lets one lost handshake be retried (WireGuard tries again after 5 s).
"""

from __future__ import annotations

import ipaddress
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Optional

_COUNTS_RE = re.compile(r'(\d+) packets transmitted, (\d+) (?:packets )?received')
_RTT_RE = re.compile(r'(?:rtt|round-trip) min/avg/max/\S+ = ([\d.]+)/([\d.]+)/([\d.]+)')


def check_target(text: str) -> str:
    """An IP address (host bits of a CIDR form dropped) or a host name; never an option."""
    text = str(text).strip()
    try:
        return str(ipaddress.ip_interface(text).ip)
    except ValueError:
        pass
    if not re.match(r'^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})$', text):
        raise ValueError(f'{text!r} is neither an IP address nor a host name')
    return text


def parse_ping(output: str) -> dict:
    """{'transmitted', 'received', 'rtt_ms' (average, or None)} from ping's summary."""
    m = _COUNTS_RE.search(output or '')
    transmitted, received = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    r = _RTT_RE.search(output or '')
    return {'transmitted': transmitted, 'received': received,
            'rtt_ms': float(r.group(2)) if r else None}


def ping_command(ping: str, target: str, count: int, timeout: int, interval: float,
                 deadline: Optional[int] = None) -> List[str]:
    argv = [ping, '-n', '-q', '-c', str(count), '-i', str(interval), '-W', str(timeout)]
    if deadline:
        argv += ['-w', str(deadline)]
    return [*argv, target]


def ping_all(run_command: Callable, ping: str, targets: List[str], count: int = 3, timeout: int = 1,
             interval: float = 0.2, workers: int = 16, deadline: Optional[int] = None) -> Dict[str, dict]:
    """{target: {'ok', 'rtt_ms', 'transmitted', 'received', 'rc'}} for every target, in parallel."""
    def one(target: str) -> dict:
        rc, out, err = run_command(ping_command(ping, target, count, timeout, interval, deadline))
        res = parse_ping(out)
        res['ok'] = res['received'] > 0
        res['rc'] = rc
        if not res['ok'] and rc not in (0, 1):  # 1: no reply; anything else: ping itself failed
            lines = (err or out or '').strip().splitlines()
            res['error'] = lines[-1] if lines else f'ping exited {rc}'
        return res

    unique = []  # type: List[str]
    for t in targets:
        if t not in unique:
            unique.append(t)
    if not unique:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(unique)))) as pool:
        results = list(pool.map(one, unique))
    return dict(zip(unique, results))


def summary(results: Dict[str, dict]) -> List[str]:
    """The targets without any reply, sorted."""
    return sorted(t for t, r in results.items() if not r['ok'])
