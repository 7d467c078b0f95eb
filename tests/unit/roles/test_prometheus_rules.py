"""The shipped alert rules (docs/prometheus/wireguard-alerts.yml) with Prometheus's own promtool:
`promtool check rules`, `promtool test rules` on docs/prometheus/wireguard-alerts.test.yml, and
every alert has a test in which it fires. promtool comes from Debian's prometheus package
(scripts/promtool.sh fetches it once; the package itself is not installed)."""
import os
import subprocess

import pytest
import yaml
from promql_names import ROOT, collector_metric_names, metric_names

RULES = os.path.join(ROOT, 'docs', 'prometheus', 'wireguard-alerts.yml')
TESTS = os.path.join(ROOT, 'docs', 'prometheus', 'wireguard-alerts.test.yml')
# node_exporter's own metric for textfiles (the textfile mode's age check)
NODE_EXPORTER = {'node_textfile_mtime_seconds'}


@pytest.fixture(scope='module')
def promtool():
    proc = subprocess.run(['bash', os.path.join(ROOT, 'scripts', 'promtool.sh'), '--path'],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f'promtool is not available: {proc.stderr}'
    return proc.stdout.strip()


def load(path):
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f)


def alerts():
    return [r for g in load(RULES)['groups'] for r in g['rules'] if 'alert' in r]


def test_promtool_check_rules(promtool):
    proc = subprocess.run([promtool, 'check', 'rules', RULES], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f'SUCCESS: {len(alerts())} rules found' in proc.stdout


def test_promtool_test_rules(promtool):
    proc = subprocess.run([promtool, 'test', 'rules', TESTS], capture_output=True, text=True,
                          cwd=os.path.dirname(TESTS), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'SUCCESS' in proc.stdout


def test_every_alert_has_a_firing_and_a_quiet_case():
    fires, quiet = set(), set()
    for case in load(TESTS)['tests']:
        for t in case.get('alert_rule_test') or []:
            (fires if t.get('exp_alerts') else quiet).add(t['alertname'])
    names = {r['alert'] for r in alerts()}
    assert names - fires == set(), 'alerts no test makes fire'
    assert names - quiet == set(), 'alerts no test checks as not (yet) firing'
    assert fires <= names, 'tests of alerts that do not exist'


def test_rules_read_only_metrics_we_export():
    ours = collector_metric_names()
    for rule in alerts():
        used = metric_names(rule['expr'])
        assert used, rule['alert']
        assert used <= ours | NODE_EXPORTER, (rule['alert'], used - ours)
        assert {'summary', 'description'} <= set(rule['annotations']), rule['alert']
        assert rule['labels']['severity'] in ('critical', 'warning', 'info'), rule['alert']


@pytest.mark.parametrize('expr,names', [
    ('wireguard_peer_probe_success == 0', {'wireguard_peer_probe_success'}),
    ('sum by (instance, friendly_name) (rate(wireguard_sent_bytes_total{interface=~"$if"}[5m]))',
     {'wireguard_sent_bytes_total'}),
    ('1 - increase(a_total[10m]) / increase(b_total[10m]) > 0.1 and on (instance, address) c == 1',
     {'a_total', 'b_total', 'c'}),
    ('label_replace(up, "x", "$1", "instance", "(.*):.*") offset 5m', {'up'}),
    ('time() - node_textfile_mtime_seconds{file=~".*wireguard\\\\.prom"} > 3e2',
     {'node_textfile_mtime_seconds'}),
])
def test_metric_name_extraction(expr, names):
    assert metric_names(expr) == names


def _lab_rules():
    import importlib.util

    path = os.path.join(ROOT, 'lab', 'prometheus', 'lab_rules.py')
    spec = importlib.util.spec_from_file_location('lab_rules', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_lab_rules_are_the_shipped_rules_with_waits_divided(promtool, tmp_path):
    """The lab's Prometheus (molecule/default) loads the shipped rules with only their waits
    compressed: same alerts, labels, annotations and expressions but for range durations."""
    lab = _lab_rules()
    assert [lab.scaled(d, 60) for d in ('15m', '2m', '1h30m', '5s')] == ['15s', '2s', '90s', '83ms']
    assert lab.scale_expr('rate(x[10m]) / y[1h:5m]', 60) == 'rate(x[10s]) / y[60s:5s]'
    scaled = lab.scale_rules(load(RULES), 60)
    for shipped, fast in zip(alerts(), [r for g in scaled['groups'] for r in g['rules']]):
        assert {k: v for k, v in fast.items() if k not in ('for', 'expr')} == \
            {k: v for k, v in shipped.items() if k not in ('for', 'expr')}
        assert lab.seconds(fast.get('for', '0s')) * 60 == lab.seconds(shipped.get('for', '0s'))
        ranges = lab._RANGE.findall(shipped['expr'])
        assert lab._RANGE.sub('[]', fast['expr']) == lab._RANGE.sub('[]', shipped['expr'])
        fast_ranges = lab._RANGE.findall(fast['expr'])
        assert [lab.seconds(r[0]) / 60 for r in ranges] == [lab.seconds(r[0]) for r in fast_ranges]
    path = tmp_path / 'lab.yml'
    path.write_text(yaml.safe_dump(scaled))
    proc = subprocess.run([promtool, 'check', 'rules', str(path)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
