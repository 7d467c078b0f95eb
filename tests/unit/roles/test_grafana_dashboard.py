"""The Grafana dashboard shipped in docs/grafana/ (Grafana itself cannot run here): every query
reads only metrics the collector exports, parses as PromQL (promtool, as recording rules), and the
dashboard is importable (a datasource variable, no hard-coded datasource, unique panel ids).
Its queries also run against the lab's Prometheus in molecule/default (test_prometheus.py)."""
import json
import os
import subprocess

import pytest
import yaml
from promql_names import DASHBOARD, ROOT, collector_metric_names, dashboard_queries, metric_names, substitute


@pytest.fixture(scope='module')
def dashboard():
    with open(DASHBOARD, encoding='utf-8') as f:
        return json.load(f)


def test_queries_read_only_metrics_we_export(dashboard):
    ours = collector_metric_names()
    queries = dashboard_queries(dashboard)
    assert len(queries) >= 10
    for where, expr in queries:
        used = metric_names(substitute(expr))
        assert used, where
        assert used <= ours, (where, sorted(used - ours))


def test_every_exported_family_is_shown(dashboard):
    """The dashboard covers the collector: each metric family appears in some query (histogram
    and counter helpers aside), so a new metric gets a panel or a reason."""
    shown = set()
    for _where, expr in dashboard_queries(dashboard):
        shown |= metric_names(substitute(expr))
    not_shown = collector_metric_names() - shown
    # the handshake timestamp is shown as its age (delay); probe bookkeeping is not a panel
    assert not_shown <= {'wireguard_latest_handshake_seconds', 'wireguard_peer_probe_loss_ratio',
                         'wireguard_probe_duration_seconds', 'wireguard_probe_timestamp_seconds'}, not_shown


def test_queries_parse_as_promql(dashboard, tmp_path):
    proc = subprocess.run(['bash', os.path.join(ROOT, 'scripts', 'promtool.sh'), '--path'],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    rules = {'groups': [{'name': 'dashboard', 'rules': [
        {'record': f'dashboard:query_{i}', 'expr': substitute(expr)}
        for i, (_where, expr) in enumerate(dashboard_queries(dashboard))]}]}
    path = tmp_path / 'dashboard-queries.yml'
    path.write_text(yaml.safe_dump(rules))
    check = subprocess.run([proc.stdout.strip(), 'check', 'rules', str(path)], capture_output=True, text=True,
                           check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_dashboard_is_importable(dashboard):
    assert dashboard['uid'] and dashboard['title'] and dashboard['schemaVersion'] >= 36
    variables = {v['name']: v for v in dashboard['templating']['list']}
    assert variables['datasource']['type'] == 'datasource'
    assert variables['datasource']['query'] == 'prometheus'
    ids = [p['id'] for p in dashboard['panels']]
    assert len(ids) == len(set(ids))
    for p in dashboard['panels']:
        assert p['datasource'] == {'type': 'prometheus', 'uid': '${datasource}'}, p['title']
        g = p['gridPos']
        assert g['x'] >= 0 and g['x'] + g['w'] <= 24 and g['h'] > 0, p['title']
        for t in p['targets']:
            assert t['datasource']['uid'] == '${datasource}' and t['refId'] and t['expr'], p['title']
