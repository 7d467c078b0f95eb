"""Observe a live mesh (lab tier 1): playbooks/health.yml, wireguard_info, metrics.

Three namespace hosts get a userspace WireGuard mesh from playbooks/site.yml (the role, with
metrics enabled). Then:

- healthy mesh: health.yml exits 0 and every link is up (handshake fresh, pings answered);
- every link without a session (peers removed and added again, as on a fresh mesh): the health
  run still finds every link up, though every host pings at once (two ends that start a handshake
  at the same moment would stall it for 5 s);
- h3's wireguard-go killed (by pid, inside h3's namespaces): exit != 0, exactly h3's links are
  broken, cause interface_missing on h3; converge again: healthy;
- h3's UDP port blocked with nftables inside h3 and its engine restarted: exactly h3's links are
  broken, cause no_handshake (endpoint or firewall); unblock: healthy;
- the metrics the role installed: the textfile parses, the counters grow with traffic, and the
  prober reaches every expected peer's tunnel address (the peers the role wrote for it).
"""
import json
import os
import sys
import time

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.lab

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'tests'))
import nslab  # noqa: E402 - on sys.path through tests/lab/conftest.py
from functional.helpers import run_playbook  # noqa: E402
from role_helpers import state_dir, wg_peers, xdg_state_home  # noqa: E402

HEALTH = os.path.join(ROOT, 'playbooks', 'health.yml')
SITE = os.path.join(ROOT, 'playbooks', 'site.yml')
TEXTFILE_DIR = '/etc/wireguard/textfile'
SCRIPT = '/etc/wireguard/wireguard-metrics'
STATE_DIR = '/etc/wireguard/metrics-state'  # /var is the machine's, shared by the lab hosts
HOSTS = ('h1', 'h2', 'h3')
PORT = 51820

# The lab inventory's group_vars: one userspace mesh, endpoints on the underlay, metrics written
# by the role to a per-host directory (/etc is private to each lab host).
GROUP_VARS = f"""
wireguard_networks:
  - name: wg0
    ipv4_pool: 100.64.0.0/24
    port: {PORT}
wireguard_endpoint: "{{{{ lab_underlay_ipv4 }}}}"
wireguard_engine: userspace
wireguard_install_packages: false
wireguard_metrics_enabled: true
wireguard_metrics_mode: textfile
wireguard_metrics_interval: 30
wireguard_metrics_textfile_dir: {TEXTFILE_DIR}
wireguard_metrics_script_path: {SCRIPT}
wireguard_metrics_config_dir: /etc/wireguard
wireguard_metrics_listen: 127.0.0.1:9586
wireguard_metrics_state_dir: {STATE_DIR}
"""


@pytest.fixture(scope='module')
def lab(nslab_module_factory):
    lab = nslab_module_factory(3)
    inv_dir = os.path.dirname(lab.inventory_path)
    os.makedirs(os.path.join(inv_dir, 'group_vars'), exist_ok=True)
    with open(os.path.join(inv_dir, 'group_vars', 'all.yml'), 'w') as f:
        f.write(GROUP_VARS)
    return lab


def converge(lab):
    rc, out, err, _ = run_playbook(SITE, lab.inventory_path, env={'XDG_STATE_HOME': xdg_state_home(lab)},
                                   timeout=600)
    assert rc == 0, out[-4000:] + err[-2000:]


@pytest.fixture(scope='module')
def converged(lab):
    converge(lab)
    return lab


def registry(lab):
    with open(os.path.join(os.path.dirname(lab.inventory_path), 'wireguard-registry.yml')) as f:
        return yaml.safe_load(f)


def health(lab):
    """Run the health playbook; (rc, report from health.json, stdout)."""
    path = os.path.join(state_dir(lab), 'health', 'health.json')  # the default report directory
    if os.path.exists(path):
        os.unlink(path)
    rc, out, err, _ = run_playbook(HEALTH, lab.inventory_path, env={'XDG_STATE_HOME': xdg_state_home(lab)},
                                   timeout=300)
    assert os.path.exists(path), out[-4000:] + err[-2000:]
    with open(path) as f:
        return rc, json.load(f), out


def healthy_again(lab, tries=3):
    """After a repair the first pings may only start the new handshakes: allow a few runs."""
    for _ in range(tries):
        rc, report, out = health(lab)
        if rc == 0:
            return report, out
        time.sleep(2)
    pytest.fail('mesh did not become healthy again:\n' + out[-4000:])


def links_of(host):
    return {frozenset((host, o)) for o in HOSTS if o != host}


def broken(report):
    return {frozenset((b['a'], b['b'])): (b['cause'], b['culprit']) for b in report['broken']}


def wireguard_go_pids(lab, host):
    pids = []
    for pid in nslab.pids_in_namespaces([lab.ns_files(host)['net']]):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if any(os.path.basename(a) == b'wireguard-go' for a in argv[:2]):
            pids.append(pid)
    return pids


def kill_engine(lab, host):
    pids = wireguard_go_pids(lab, host)
    assert pids, f'no wireguard-go in {host}'
    for pid in pids:
        os.kill(pid, 15)
    deadline = time.monotonic() + 10
    while wireguard_go_pids(lab, host) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not wireguard_go_pids(lab, host)


def test_healthy_mesh_every_link_up(converged):
    lab = converged
    rc, report, out = health(lab)
    assert rc == 0, out[-4000:]
    assert report['ok'] is True
    assert report['summary']['links'] == 3 and report['summary']['up'] == 3
    matrix = report['networks']['wg0']['matrix']
    for a in HOSTS:
        for b in HOSTS:
            if a != b:
                cell = matrix[a][b]
                assert cell['ok'] and cell['ping'] is True and cell['view'] == 'up', (a, b, cell)
                assert 0 <= cell['handshake_age'] < 180
    assert '3 of 3 links up, 0 broken' in out
    assert 'BROKEN' not in out


def forget_sessions(lab):
    """Remove and re-add every peer on every host: the same config, no handshake, no session."""
    peers = {h: wg_peers(lab, h) for h in HOSTS}
    for h in HOSTS:
        for pub in peers[h]:
            lab.exec(h, ['wg', 'set', 'wg0', 'peer', pub, 'remove'])
    for h in HOSTS:
        for pub, p in peers[h].items():
            lab.exec(h, ['wg', 'set', 'wg0', 'peer', pub, 'endpoint', p['endpoint'],
                         'allowed-ips', ','.join(p['allowed_ips'])])
        assert all(p['handshake'] == 0 for p in wg_peers(lab, h).values())


def test_links_without_sessions_are_found_up(converged):
    lab = converged
    for attempt in range(2):
        forget_sessions(lab)
        rc, report, out = health(lab)
        assert rc == 0, f'attempt {attempt}:\n' + out[-4000:]
        assert report['summary']['up'] == 3


def test_engine_stopped_breaks_exactly_its_links(converged):
    lab = converged
    kill_engine(lab, 'h3')
    rc, report, out = health(lab)
    assert rc != 0
    assert broken(report) == dict.fromkeys(links_of('h3'), ('interface_missing', 'h3')), out[-3000:]
    assert report['suspects'] == ['h3']
    assert 'BROKEN h1 <-> h3 (wg0): interface_missing on h3' in out
    converge(lab)
    report, _ = healthy_again(lab)
    assert report['summary']['up'] == 3


def test_blocked_port_means_no_handshake(converged):
    lab = converged
    lab.exec('h3', ['nft', 'add', 'table', 'inet', 'healthtest'])
    try:
        lab.exec('h3', ['nft', 'add', 'chain', 'inet', 'healthtest', 'input',
                        '{ type filter hook input priority 0; policy accept; }'])
        lab.exec('h3', ['nft', 'add', 'rule', 'inet', 'healthtest', 'input', 'udp', 'dport', str(PORT),
                        'drop'])
        kill_engine(lab, 'h3')  # a fresh start behind the firewall: no session survives
        converge(lab)
        rc, report, out = health(lab)
        assert rc != 0
        assert broken(report) == dict.fromkeys(links_of('h3'), ('no_handshake', None)), out[-3000:]
        assert report['suspects'] == ['h3']
        assert all('198.51.100.13:51820' in b['detail'] for b in report['broken'])
    finally:
        lab.exec('h3', ['nft', 'delete', 'table', 'inet', 'healthtest'], check=False)
    report, _ = healthy_again(lab)
    assert report['ok']


def _scrape(lab, host, run=True):
    """Metric samples {(name, friendly_name): value} from the textfile the role's script writes."""
    if run:
        lab.exec(host, [SCRIPT, '--output', f'{TEXTFILE_DIR}/wireguard.prom', '--state-dir', STATE_DIR])
    text = lab.exec(host, ['cat', f'{TEXTFILE_DIR}/wireguard.prom']).stdout
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, s.labels.get('friendly_name'))] = s.value
    return out


def test_metrics_parse_and_counters_grow(converged):
    lab = converged
    installed = _scrape(lab, 'h1', run=False)  # written by the role's converge
    assert installed[('wireguard_collector_success', None)] == 1
    assert {k[1] for k in installed if k[0] == 'wireguard_sent_bytes_total'} == {'h2', 'h3'}
    h2 = registry(lab)['networks']['wg0']['hosts']['h2']['addresses'][0].split('/')[0]
    lab.exec('h1', ['ping', '-c', '2', '-i', '0.2', h2])
    before = _scrape(lab, 'h1')
    assert before[('wireguard_latest_handshake_seconds', 'h2')] > 0
    lab.exec('h1', ['ping', '-c', '5', '-i', '0.2', '-s', '1000', h2])
    after = _scrape(lab, 'h1')
    for name, grow in (('wireguard_sent_bytes_total', 5000), ('wireguard_received_bytes_total', 5000),
                       ('wireguard_latest_handshake_seconds', 0)):
        assert after[(name, 'h2')] >= before[(name, 'h2')] + grow, name
    # the prober pinged both peers' tunnel addresses, taken from the file the role wrote
    assert after[('wireguard_prober_up', None)] == 1
    assert after[('wireguard_peer_probe_success', 'h2')] == after[('wireguard_peer_probe_success', 'h3')] == 1
    text = lab.exec('h1', ['cat', f'{TEXTFILE_DIR}/wireguard.prom']).stdout
    status = {(s.labels['friendly_name'], s.labels['status']): s.value
              for fam in text_string_to_metric_families(text) for s in fam.samples
              if s.name == 'wireguard_peer_status'}
    assert {k for k, v in status.items() if v == 1} == {('h2', 'up'), ('h3', 'up')}
