# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Aggregate callback for bench/bench.py: per-host task counts and per-task durations.

Enabled only by the bench (ANSIBLE_CALLBACKS_ENABLED=bench_record, ANSIBLE_CALLBACK_PLUGINS=
bench/callback_plugins); writes one JSON document to $BENCH_RECORD_FILE when the playbook ends.
"""
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_record
type: aggregate
short_description: Record per-host task results and durations for the benchmark
description:
  - Writes JSON to the file named by the environment variable BENCH_RECORD_FILE at the end of the run.
requirements:
  - enabled with ANSIBLE_CALLBACKS_ENABLED=bench_record
"""



def peer_changes(plan):
    """Peers added, updated and removed (plan.counts; the plan's peer list is bounded)."""
    counts = plan.get('counts')
    if counts:
        return sum(counts.get(k, 0) for k in ('peers_add', 'peers_update', 'peers_remove'))
    return len(plan.get('peers') or [])

class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'bench_record'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display)
        self._started = {}
        self._results = []
        self._t0 = time.monotonic()

    def v2_runner_on_start(self, host, task):
        self._started[(host.get_name(), task._uuid)] = time.monotonic()

    def _record(self, result, status):
        host = result._host.get_name()
        task = result._task
        end = time.monotonic()
        start = self._started.pop((host, task._uuid), end)
        res = result._result or {}
        items = res.get('results')
        entry = {
            'host': host,
            'task': task.get_name(),
            'task_id': str(task._uuid),
            'action': task.action,
            'status': status,
            'changed': bool(res.get('changed')),
            # a loop is one task but one module call per item
            'items': len(items) if isinstance(items, list) else None,
            'start': round(start - self._t0, 4),
            'duration': round(end - start, 4),
        }
        plan = res.get('plan')
        if isinstance(plan, dict):  # wireguard_interface: how many peers the plan touched
            entry['plan_peers'] = peer_changes(plan)
        self._results.append(entry)

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, 'failed')

    def v2_runner_on_skipped(self, result):
        self._record(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._record(result, 'unreachable')

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get('BENCH_RECORD_FILE')
        if not path:
            return
        doc = {
            'elapsed': round(time.monotonic() - self._t0, 4),
            'stats': {h: stats.summarize(h) for h in sorted(stats.processed)},
            'results': self._results,
        }
        with open(path, 'w') as f:
            json.dump(doc, f, indent=1)
