"""Shared by the rule and dashboard tests: which metrics a PromQL expression reads, and which
metrics the collector exports (every sample name of a full rendering: peers, a never-seen peer, a
missing peer, node info, endpoint counters, a probe round)."""
import importlib.util
import os
import re

from prometheus_client.parser import text_string_to_metric_families

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, 'roles', 'wireguard', 'files', 'metrics', 'wireguard_metrics.py')

_KEYWORDS = {'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless',
             'bool', 'offset', 'inf', 'nan', 'atan2'}
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r'\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)')
_IDENT = re.compile(r'(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?')


def metric_names(expr: str) -> set:
    """The metric names a PromQL expression selects (function and label names left out)."""
    text = _STRINGS.sub('""', expr)
    text = re.sub(r'\{[^}]*\}', ' ', text)
    text = re.sub(r'\[[^\]]*\]', ' ', text)
    text = _GROUPING.sub(' ', text)
    return {m.group(1) for m in _IDENT.finditer(text)
            if not m.group(2) and m.group(1).lower() not in _KEYWORDS}


def load_collector():
    spec = importlib.util.spec_from_file_location('wireguard_metrics_for_names', SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def collector_metric_names() -> set:
    wm = load_collector()
    k1, k2, k3, k4 = ('%s=' % (c * 43) for c in 'ABCD')
    peers = [
        {'interface': 'wg0', 'public_key': k2, 'endpoint': '198.51.100.12:51820',
         'allowed_ips': '100.64.0.2/32', 'latest_handshake': 1000, 'rx_bytes': 1, 'tx_bytes': 2,
         'persistent_keepalive': 0},
        {'interface': 'wg0', 'public_key': k3, 'endpoint': None, 'allowed_ips': '100.64.0.3/32',
         'latest_handshake': 0, 'rx_bytes': 0, 'tx_bytes': 0, 'persistent_keepalive': 0},
    ]
    expected = {'wg0': [{'public_key': k, 'name': n, 'addresses': [a]} for k, n, a in (
        (k2, 'h2', '100.64.0.2'), (k3, 'h3', '100.64.0.3'), (k4, 'h4', '100.64.0.4'))]}
    state = wm.State(None)
    state.observe_endpoints(peers)
    result = {'transmitted': 3, 'received': 3, 'rtt_ms': 0.5}
    probes = {'up': True, 'duration': 0.5, 'timestamp': 1100,
              'results': {('wg0', k2, '100.64.0.2'): result}, 'totals': {}}
    interfaces = [{'interface': 'wg0', 'public_key': k1, 'listen_port': '51820', 'engine': 'userspace'}]
    text = wm.render(peers, {}, interfaces=interfaces, expected=expected, state=state, probes=probes,
                     now=1100)
    names = set()
    for fam in text_string_to_metric_families(text):
        names.update(s.name for s in fam.samples)
    return names


DASHBOARD = os.path.join(ROOT, 'docs', 'grafana', 'wireguard-mesh.json')
# What Grafana puts in for its variables when the queries run (all hosts, all interfaces).
GRAFANA_VARIABLES = {'$__rate_interval': '1m', '$__interval': '30s', '$__range': '1h',
                     '$instance': '.*', '$interface': '.*'}
_LABEL_VALUES = re.compile(r'^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$')


def dashboard_queries(dashboard: dict) -> list:
    """[(where, PromQL)] of every panel target (rows' panels too) and every query variable
    (`label_values(SELECTOR, label)` -> SELECTOR)."""
    out = []

    def panels(items):
        for p in items:
            yield p
            yield from panels(p.get('panels') or [])

    for p in panels(dashboard.get('panels') or []):
        for t in p.get('targets') or []:
            out.append((f"panel {p['id']} {p['title']!r} {t['refId']}", t['expr']))
    for v in (dashboard.get('templating') or {}).get('list') or []:
        if v.get('type') != 'query':
            continue
        q = v['query']['query'] if isinstance(v['query'], dict) else v['query']
        m = _LABEL_VALUES.match(q)
        out.append((f"variable {v['name']}", m.group(1) if m else q))
    return out


def substitute(expr: str, variables=None) -> str:
    """The query as Grafana sends it, its variables replaced (longest names first)."""
    variables = variables or GRAFANA_VARIABLES
    for name in sorted(variables, key=len, reverse=True):
        expr = expr.replace(name, variables[name])
    return expr
