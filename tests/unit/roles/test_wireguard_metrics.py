"""The metrics collector script the role installs: dump parsing, names, exposition format."""
import importlib.util
import os
import stat
import threading
import urllib.request

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, 'roles', 'wireguard', 'files', 'metrics', 'wireguard_metrics.py')
ALERTS = os.path.join(ROOT, 'docs', 'prometheus', 'wireguard-alerts.yml')

spec = importlib.util.spec_from_file_location('wireguard_metrics', SCRIPT)
wm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(wm)

PRIV = 'cHJpdmF0ZXByaXZhdGVwcml2YXRlcHJpdmF0ZXByaXY='
PSK = 'cHNrcHNrcHNrcHNrcHNrcHNrcHNrcHNrcHNrcHNrcHM='
K1 = 'aDFoMWgxaDFoMWgxaDFoMWgxaDFoMWgxaDFoMWgxaDE='
K2 = 'aDJoMmgyaDJoMmgyaDJoMmgyaDJoMmgyaDJoMmgyaDI='
K3 = 'aDNoM2gzaDNoM2gzaDNoM2gzaDNoM2gzaDNoM2gzaDM='
DUMP = '\n'.join([
    '\t'.join(['wg0', PRIV, K1, '51820', 'off']),
    '\t'.join(['wg0', K2, PSK, '198.51.100.12:51820', '100.64.0.2/32', '1700000000', '1234', '5678', '25']),
    '\t'.join(['wg0', K3, '(none)', '(none)', '100.64.0.3/32,fd3a:6c1e:9b42:100::3/128',
               '0', '0', '0', 'off']),
    '\t'.join(['wg1', PRIV, K1, '51821', '0x1']),
    '\t'.join(['wg1', K2, '(none)', '[fd3a:6c1e:9b42:1::12]:51821', '(none)', '1700000100', '1', '2', 'off']),
]) + '\n'

CONF = f"""[Interface]
# Name = not a peer
PrivateKey = {PRIV}
ListenPort = 51820

[Peer]
# Name = h2
PublicKey = {K2}
AllowedIPs = 100.64.0.2/32

[Peer]
PublicKey = {K3}
# friendly_name = h3 "the third"
AllowedIPs = 100.64.0.3/32
"""


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_parse_dump_skips_interfaces_and_secrets():
    peers = wm.parse_dump(DUMP)
    assert [(p['interface'], p['public_key']) for p in peers] == [('wg0', K2), ('wg0', K3), ('wg1', K2)]
    assert peers[0]['endpoint'] == '198.51.100.12:51820' and peers[0]['persistent_keepalive'] == 25
    assert peers[1]['endpoint'] is None and peers[1]['persistent_keepalive'] == 0
    assert peers[2]['allowed_ips'] == ''
    assert PSK not in repr(peers) and PRIV not in repr(peers)


def test_parse_names_only_from_peer_sections():
    assert wm.parse_names(CONF) == {K2: 'h2', K3: 'h3 "the third"'}
    assert wm.parse_names('') == {}


def test_exposition_parses_with_prometheus_client():
    peers = wm.parse_dump(DUMP)
    names = {('wg0', K2): 'h2', ('wg0', K3): 'h3 "the third"\\x'}
    text = wm.render(peers, names)
    fams = families(text)
    assert fams['wireguard_sent_bytes'].type == 'counter'
    assert fams['wireguard_received_bytes'].type == 'counter'
    assert fams['wireguard_latest_handshake_seconds'].type == 'gauge'
    assert fams['wireguard_collector_success'].samples[0].value == 1
    sent = {(s.labels['interface'], s.labels['public_key']): s for s in fams['wireguard_sent_bytes'].samples}
    assert all(s.name == 'wireguard_sent_bytes_total' for s in sent.values())
    assert sent[('wg0', K2)].value == 5678
    assert sent[('wg0', K2)].labels == {'interface': 'wg0', 'public_key': K2, 'allowed_ips': '100.64.0.2/32',
                                        'friendly_name': 'h2'}
    assert sent[('wg0', K3)].labels['friendly_name'] == 'h3 "the third"\\x'  # escaped and read back
    assert sent[('wg0', K3)].labels['allowed_ips'] == '100.64.0.3/32,fd3a:6c1e:9b42:100::3/128'
    assert 'friendly_name' not in sent[('wg1', K2)].labels
    recv = {(s.labels['interface'], s.labels['public_key']): s.value
            for s in fams['wireguard_received_bytes'].samples}
    assert recv[('wg0', K2)] == 1234
    hs = {(s.labels['interface'], s.labels['public_key']): s.value
          for s in fams['wireguard_latest_handshake_seconds'].samples}
    assert hs == {('wg0', K2): 1700000000, ('wg0', K3): 0, ('wg1', K2): 1700000100}
    assert PRIV not in text and PSK not in text


def test_failure_exposes_only_success_zero():
    fams = families(wm.render([], success=False))
    assert fams['wireguard_collector_success'].samples[0].value == 0
    assert fams['wireguard_sent_bytes'].samples == []


@pytest.fixture
def fake_wg(tmp_path):
    """A `wg` that prints DUMP, and a config dir with names for wg0."""
    wg = tmp_path / 'wg'
    (tmp_path / 'dump').write_text(DUMP)
    wg.write_text(f'#!/bin/sh\n[ "$*" = "show all dump" ] || exit 2\ncat {tmp_path / "dump"}\n')
    wg.chmod(0o755)
    conf = tmp_path / 'etc'
    conf.mkdir()
    (conf / 'wg0.conf').write_text(CONF)
    return str(wg), str(conf)


def test_collect_reads_names_from_configs(fake_wg):
    wg, conf = fake_wg
    fams = families(wm.collect(wg, conf))
    names = {s.labels['public_key']: s.labels.get('friendly_name')
             for s in fams['wireguard_sent_bytes'].samples if s.labels['interface'] == 'wg0'}
    assert names == {K2: 'h2', K3: 'h3 "the third"'}


def test_collect_when_wg_fails(tmp_path):
    fams = families(wm.collect(str(tmp_path / 'no-such-wg'), str(tmp_path)))
    assert fams['wireguard_collector_success'].samples[0].value == 0


def test_main_writes_textfile_atomically(fake_wg, tmp_path):
    wg, conf = fake_wg
    out = tmp_path / 'textfile'
    out.mkdir()
    target = out / 'wireguard.prom'
    assert wm.main(['--wg', wg, '--config-dir', conf, '--output', str(target)]) == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.listdir(out) == ['wireguard.prom']  # no temp file left behind
    assert 'wireguard_sent_bytes' in families(target.read_text())
    assert wm.main(['--wg', str(tmp_path / 'missing'), '--output', str(target)]) == 1
    assert families(target.read_text())['wireguard_collector_success'].samples[0].value == 0


def test_exporter_mode_serves_metrics(fake_wg):
    wg, conf = fake_wg
    server = wm.make_server('127.0.0.1', 0, wg, conf)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f'http://127.0.0.1:{server.server_address[1]}/metrics'
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert resp.headers['Content-Type'].startswith('text/plain; version=0.0.4')
            fams = families(resp.read().decode())
        assert len(fams['wireguard_received_bytes'].samples) == 3
    finally:
        server.shutdown()
        server.server_close()


def test_alert_rules_are_valid_and_use_our_metrics():
    with open(ALERTS, encoding='utf-8') as f:
        doc = yaml.safe_load(f)
    ours = {'wireguard_latest_handshake_seconds', 'wireguard_sent_bytes_total',
            'wireguard_received_bytes_total', 'wireguard_collector_success'}
    exposed = set()
    for fam in text_string_to_metric_families(wm.render(wm.parse_dump(DUMP))):
        exposed.update(s.name for s in fam.samples)
    assert ours <= exposed
    (group,) = doc['groups']
    assert group['name'] == 'wireguard'
    names = set()
    for rule in group['rules']:
        assert set(rule) <= {'alert', 'expr', 'for', 'labels', 'annotations', 'keep_firing_for'}
        assert rule['alert'].isidentifier() and rule['alert'] not in names
        names.add(rule['alert'])
        assert rule['for'][-1] in 'smh' and rule['for'][:-1].isdigit()
        assert {'summary', 'description'} <= set(rule['annotations'])
        metrics = {m for m in ours | {'node_textfile_mtime_seconds'} if m in rule['expr']}
        assert metrics, rule['alert']
        assert rule['expr'].count('(') == rule['expr'].count(')')
    assert {'WireGuardHandshakeStale', 'WireGuardHandshakeNever'} <= names


def test_names_agree_with_the_collection_parser():
    """The standalone script reads names exactly as wireguard_info (_wgquick.parse_names) does."""
    from ansible_collections.meshlab.wireguard.plugins.module_utils import _wgquick
    from ansible_collections.meshlab.wireguard.plugins.module_utils._model import (
        Device,
        Interface,
        Link,
        Peer,
    )

    iface = Interface('wg0', Device(private_key=PRIV, listen_port=51820, peers={
        K2: Peer(K2, allowed_ips=('100.64.0.2/32',)), K3: Peer(K3, allowed_ips=('100.64.0.3/32',))}),
        Link(addresses=frozenset({'100.64.0.1/24'})))
    rendered = _wgquick.render(iface, {K2: 'h2', K3: 'h3 (the third)'})
    assert wm.parse_names(rendered) == _wgquick.parse_names(rendered) == {K2: 'h2', K3: 'h3 (the third)'}
    tricky = f"""[Interface]
# Name = interface comment
ListenPort = 1

# name = first
[Peer]
PublicKey = {K2}
# Name = second, below the header

[Peer]
# Name = ignored: the one above wins
PublicKey = {K3}
"""
    assert wm.parse_names(tricky) == _wgquick.parse_names(tricky)
