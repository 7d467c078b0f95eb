#!/usr/bin/env python3
"""Lab only: the shipped alert rules with time compressed, for a Prometheus that must show an
alert fire and resolve within seconds (molecule/default, tier 2).

    lab_rules.py docs/prometheus/wireguard-alerts.yml --factor 60 > wireguard-alerts.lab.yml

Every duration the rules *wait* for is divided by FACTOR: each rule's `for:` and
`keep_firing_for:`, and every range of its expression (`[15m]` -> `[15s]`). Nothing else changes:
the same alerts, expressions, thresholds, labels and annotations as the file promtool tests
(docs/prometheus/wireguard-alerts.test.yml). Plain numbers in expressions are not durations to
this script (WireGuardHandshakeStale's 300 s stays 300 s, so the lab does not exercise it; its
promtool test does).
"""
import argparse
import re
import sys

import yaml

_UNITS = {'ms': 0.001, 's': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800, 'y': 31536000}
_PART = re.compile(r'(\d+)(ms|[smhdwy])')
_RANGE = re.compile(r'\[([0-9a-z]+)(:[0-9a-z]*)?\]')


def seconds(duration: str) -> float:
    """A Prometheus duration ('1h30m', '15m', '500ms') in seconds."""
    parts = _PART.findall(duration)
    if not parts or ''.join(n + u for n, u in parts) != duration:
        raise ValueError(f'not a Prometheus duration: {duration!r}')
    return sum(int(n) * _UNITS[u] for n, u in parts)


def scaled(duration: str, factor: float) -> str:
    """The duration divided by factor, in whole milliseconds (at least 1 ms)."""
    ms = max(1, round(seconds(duration) * 1000 / factor))
    return f'{ms // 1000}s' if ms % 1000 == 0 else f'{ms}ms'


def scale_expr(expr: str, factor: float) -> str:
    def one(m):
        step = m.group(2) or ''
        if len(step) > 1:
            step = ':' + scaled(step[1:], factor)
        return f'[{scaled(m.group(1), factor)}{step}]'
    return _RANGE.sub(one, expr)


def scale_rules(doc: dict, factor: float) -> dict:
    for group in doc['groups']:
        if 'interval' in group:
            group['interval'] = scaled(group['interval'], factor)
        for rule in group['rules']:
            rule['expr'] = scale_expr(rule['expr'], factor)
            for key in ('for', 'keep_firing_for'):
                if key in rule:
                    rule[key] = scaled(rule[key], factor)
    return doc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    ap.add_argument('rules')
    ap.add_argument('--factor', type=float, default=60)
    args = ap.parse_args(argv)
    with open(args.rules, encoding='utf-8') as f:
        doc = yaml.safe_load(f)
    sys.stdout.write(f'# LAB ONLY: {args.rules} with every wait divided by {args.factor:g} '
                     '(lab/prometheus/lab_rules.py)\n')
    yaml.safe_dump(scale_rules(doc, args.factor), sys.stdout, sort_keys=False, width=1000)
    return 0


if __name__ == '__main__':
    sys.exit(main())
