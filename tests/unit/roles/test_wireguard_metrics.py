"""The metrics collector script the role installs: dump parsing, names, exposition format."""
import importlib.util
import json
import os
import stat
import threading
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, 'roles', 'wireguard', 'files', 'metrics', 'wireguard_metrics.py')

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


# ----------------------------------------------------------------------------- new metrics

def sample_map(text, name):
    """{frozenset(labels): value} of one sample name."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name:
                out[frozenset(s.labels.items())] = s.value
    return out


def by(samples, *keys):
    """{tuple(label values): value}."""
    return {tuple(dict(k).get(x) for x in keys): v for k, v in samples.items()}


EXPECTED = {
    'version': 1,
    'interfaces': {'wg0': [
        {'public_key': K2, 'name': 'h2', 'addresses': ['100.64.0.2', 'fd3a:6c1e:9b42:100::2']},
        {'public_key': K3, 'name': 'h3', 'addresses': ['100.64.0.3/24']},
        {'public_key': K1, 'name': 'h4', 'addresses': ['100.64.0.4']},  # configured, not live
    ]},
}
NOW = 1700000100


def test_parse_interfaces_drops_the_private_key():
    ifs = wm.parse_interfaces(DUMP)
    assert ifs == [{'interface': 'wg0', 'public_key': K1, 'listen_port': '51820'},
                   {'interface': 'wg1', 'public_key': K1, 'listen_port': '51821'}]
    assert PRIV not in repr(ifs)


def test_engine_from_sysfs(tmp_path):
    (tmp_path / 'wg0').mkdir()
    (tmp_path / 'wg0' / 'tun_flags').write_text('0x1002\n')
    (tmp_path / 'wg1').mkdir()
    (tmp_path / 'wg1' / 'uevent').write_text('DEVTYPE=wireguard\nINTERFACE=wg1\nIFINDEX=4\n')
    (tmp_path / 'eth0').mkdir()
    (tmp_path / 'eth0' / 'uevent').write_text('INTERFACE=eth0\n')
    assert [wm.engine_of(i, str(tmp_path)) for i in ('wg0', 'wg1', 'eth0', 'gone')] == \
        ['userspace', 'kernel', 'unknown', 'unknown']


def test_load_expected(tmp_path):
    path = tmp_path / 'expected-peers.json'
    assert wm.load_expected(str(path)) == (None, None)  # no file: nothing expected, no prober
    path.write_text(json.dumps(EXPECTED))
    expected, error = wm.load_expected(str(path))
    assert error is None
    assert expected['wg0'][1] == {'public_key': K3, 'name': 'h3', 'addresses': ['100.64.0.3']}
    for bad in ('{not json', json.dumps({'interfaces': {'wg0': [{'name': 'no key'}]}}),
                json.dumps({'interfaces': {'wg0': [{'public_key': K2, 'addresses': ['nope']}]}})):
        path.write_text(bad)
        expected, error = wm.load_expected(str(path))
        assert expected is None and str(path) in error


def test_never_seen_peer_semantics():
    """No handshake yet: timestamp 0 (as prometheus_wireguard_exporter), no delay sample, status never."""
    text = wm.render(wm.parse_dump(DUMP), now=NOW)
    hs = by(sample_map(text, 'wireguard_latest_handshake_seconds'), 'interface', 'public_key')
    assert hs[('wg0', K3)] == 0
    delay = by(sample_map(text, 'wireguard_latest_handshake_delay_seconds'), 'interface', 'public_key')
    assert delay == {('wg0', K2): 100, ('wg1', K2): 0}  # K3 (never) has no sample
    status = by(sample_map(text, 'wireguard_peer_status'), 'interface', 'public_key', 'status')
    assert status[('wg0', K3, 'never')] == 1
    assert status[('wg0', K3, 'up')] == status[('wg0', K3, 'stale')] == status[('wg0', K3, 'missing')] == 0
    assert status[('wg0', K2, 'up')] == 1
    # every peer has exactly one status set
    per_peer = {}
    for (i, k, _s), v in status.items():
        per_peer[(i, k)] = per_peer.get((i, k), 0) + v
    assert set(per_peer.values()) == {1}


def test_status_agrees_with_wireguard_info():
    """up / stale / never: the rule of wireguard_info (_info.peer_status) and the health check."""
    from ansible_collections.meshlab.wireguard.plugins.module_utils import _info
    from ansible_collections.meshlab.wireguard.plugins.module_utils._model import HANDSHAKE_FRESH_SECONDS

    assert wm.HANDSHAKE_FRESH_SECONDS == HANDSHAKE_FRESH_SECONDS
    fresh = HANDSHAKE_FRESH_SECONDS
    for age in (0, 1, fresh - 1, fresh, fresh + 1, 10**6):
        assert wm.peer_status(NOW - age, NOW) == _info.peer_status(age), age
    assert wm.peer_status(0, NOW) == _info.peer_status(None) == 'never'


def test_node_info_and_missing_peers():
    expected = {'wg0': [dict(p, addresses=[a.split('/', maxsplit=1)[0] for a in p['addresses']])
                        for p in EXPECTED['interfaces']['wg0']]}
    ifs = wm.parse_interfaces(DUMP)
    ifs[0]['engine'] = 'userspace'
    text = wm.render(wm.parse_dump(DUMP), interfaces=ifs, expected=expected, now=NOW)
    info = by(sample_map(text, 'wireguard_interface_info'),
              'interface', 'public_key', 'listen_port', 'engine')
    assert info == {('wg0', K1, '51820', 'userspace'): 1, ('wg1', K1, '51821', 'unknown'): 1}
    status = by(sample_map(text, 'wireguard_peer_status'),
                'interface', 'public_key', 'friendly_name', 'status')
    assert status[('wg0', K1, 'h4', 'missing')] == 1  # configured by the role, not on the live interface
    assert status[('wg0', K3, 'h3', 'never')] == 1  # name from the expected-peers file
    peer_info = by(sample_map(text, 'wireguard_peer_info'), 'interface', 'public_key', 'endpoint')
    assert peer_info == {('wg0', K2, '198.51.100.12:51820'): 1, ('wg0', K3, ''): 1,
                         ('wg1', K2, '[fd3a:6c1e:9b42:1::12]:51821'): 1}
    assert PRIV not in text and PSK not in text


def test_endpoint_changes_are_counted_across_runs(tmp_path):
    state_path = str(tmp_path / 'state.json')

    def peers(endpoint):
        return [{'interface': 'wg0', 'public_key': K2, 'endpoint': endpoint}]

    s = wm.State(state_path)
    s.observe_endpoints(peers('198.51.100.12:51820'))  # first sight: not a change
    s.save()
    assert wm.State(state_path).endpoint_changes('wg0', K2) == 0
    s = wm.State(state_path)  # a new textfile run
    s.observe_endpoints(peers(None))  # no endpoint now: keeps the last one, no change
    s.observe_endpoints(peers('[fd3a:6c1e:9b42:2::12]:51820'))
    s.observe_endpoints(peers('[fd3a:6c1e:9b42:2::12]:51820'))
    s.save()
    s = wm.State(state_path)
    s.observe_endpoints(peers('198.51.100.12:51820'))
    assert s.endpoint_changes('wg0', K2) == 2
    s.observe_endpoints([])  # the interface is gone: forgotten
    assert s.endpoint_changes('wg0', K2) == 0
    (tmp_path / 'state.json').write_text('{broken')
    assert wm.State(state_path).error and wm.State(state_path).endpoint_changes('wg0', K2) == 0


PING_OUT_OK = """PING 100.64.0.2 (100.64.0.2) 56(84) bytes of data.

--- 100.64.0.2 ping statistics ---
3 packets transmitted, 2 received, 33.3333% packet loss, time 404ms
rtt min/avg/max/mdev = 0.400/0.500/0.600/0.100 ms
"""
PING_OUT_BUSYBOX = """--- 100.64.0.2 ping statistics ---
3 packets transmitted, 3 packets received, 0% packet loss
round-trip min/avg/max = 0.045/0.061/0.080 ms
"""


def test_ping_parser_agrees_with_wireguard_ping():
    from ansible_collections.meshlab.wireguard.plugins.module_utils import _ping

    for out in (PING_OUT_OK, PING_OUT_BUSYBOX, '3 packets transmitted, 0 received, 100% packet loss', ''):
        assert wm.parse_ping(out) == _ping.parse_ping(out)
    assert wm.parse_ping(PING_OUT_OK) == {'transmitted': 3, 'received': 2, 'rtt_ms': 0.5}


@pytest.fixture
def fake_ping(tmp_path):
    """A `ping` that logs its argv, answers for addresses not listed in `down`, never for those."""
    log = tmp_path / 'ping.log'
    down = tmp_path / 'down'
    down.write_text('')
    ping = tmp_path / 'ping'
    ping.write_text(f"""#!/bin/sh
echo "$*" >> {log}
for a; do addr=$a; done
count=0; prev=
for a; do [ "$prev" = "-c" ] && count=$a; prev=$a; done
if grep -qx "$addr" {down}; then
  printf -- '--- %s ping statistics ---\\n' "$addr"
  printf -- '%s packets transmitted, 0 received, 100%% packet loss\\n' "$count"
  exit 1
fi
printf -- '--- %s ping statistics ---\\n' "$addr"
printf -- '%s packets transmitted, %s received, 0%% packet loss\\n' "$count" "$count"
echo 'rtt min/avg/max/mdev = 0.100/0.250/0.400/0.100 ms'
""")
    ping.chmod(0o755)
    return {'ping': str(ping), 'log': log, 'down': down}


@pytest.fixture
def state_dir(tmp_path):
    d = tmp_path / 'state'
    d.mkdir()
    (d / 'expected-peers.json').write_text(json.dumps(EXPECTED))
    return d


def test_probe_is_bounded_and_reports_reachability(fake_ping, state_dir):
    fake_ping['down'].write_text('fd3a:6c1e:9b42:100::2\n100.64.0.4\n')
    expected, _error = wm.load_expected(str(state_dir / 'expected-peers.json'))
    results = wm.probe(expected, count=2, timeout=1, parallel=2, ping=fake_ping['ping'])
    calls = fake_ping['log'].read_text().splitlines()
    # one ping per expected address, each with exactly `count` echo requests and a reply timeout
    assert len(calls) == 4
    for call in calls:
        argv = call.split()
        assert argv[argv.index('-c') + 1] == '2' and argv[argv.index('-W') + 1] == '1'
    ok = {addr: r['received'] > 0 for (_i, _k, addr), r in results.items()}
    assert ok == {'100.64.0.2': True, 'fd3a:6c1e:9b42:100::2': False, '100.64.0.3': True, '100.64.0.4': False}
    assert wm.probe(expected, count=0, ping=fake_ping['ping']) == {}
    assert wm.probe_time_bound(3, 1) < 3  # one address: at most 3 packets in under 3 s


def test_probe_without_ping_binary(tmp_path, state_dir):
    expected, _error = wm.load_expected(str(state_dir / 'expected-peers.json'))
    results = wm.probe(expected, ping=str(tmp_path / 'no-ping'))
    assert all(r['received'] == 0 and 'cannot run' in r['error'] for r in results.values())


def test_textfile_runs_keep_counters(fake_wg, fake_ping, state_dir, tmp_path):
    """Two timer runs: probe counters add up, the endpoint change between them is counted."""
    wg, conf = fake_wg
    out = tmp_path / 'out'
    out.mkdir()
    target = out / 'wireguard.prom'
    fake_ping['down'].write_text('100.64.0.3\n')
    argv = ['--wg', wg, '--config-dir', conf, '--state-dir', str(state_dir), '--ping', fake_ping['ping'],
            '--probe-count', '2', '--output', str(target)]
    assert wm.main(argv) == 0
    dump = os.path.join(os.path.dirname(wg), 'dump')
    with open(dump, encoding='utf-8') as f:
        text = f.read()
    with open(dump, 'w', encoding='utf-8') as f:  # h2 roams to its IPv6 address
        f.write(text.replace('198.51.100.12:51820', '[fd3a:6c1e:9b42:2::12]:51820'))
    assert wm.main(argv) == 0
    text = target.read_text()
    changes = by(sample_map(text, 'wireguard_peer_endpoint_changes_total'), 'interface', 'public_key',
                 'friendly_name')
    assert changes == {('wg0', K2, 'h2'): 1, ('wg0', K3, 'h3 "the third"'): 0, ('wg1', K2, None): 0}
    sent = by(sample_map(text, 'wireguard_peer_probe_sent_total'), 'address')
    received = by(sample_map(text, 'wireguard_peer_probe_received_total'), 'address')
    assert sent == {('100.64.0.2',): 4, ('fd3a:6c1e:9b42:100::2',): 4, ('100.64.0.3',): 4, ('100.64.0.4',): 4}
    assert received[('100.64.0.3',)] == 0 and received[('100.64.0.2',)] == 4
    success = by(sample_map(text, 'wireguard_peer_probe_success'), 'friendly_name', 'address')
    assert success[('h3 "the third"', '100.64.0.3')] == 0 and success[('h2', '100.64.0.2')] == 1
    assert success[('h4', '100.64.0.4')] == 1  # the fake answers; the peer is still "missing" on wg0
    loss = by(sample_map(text, 'wireguard_peer_probe_loss_ratio'), 'address')
    assert loss[('100.64.0.3',)] == 1 and loss[('100.64.0.2',)] == 0
    rtt = by(sample_map(text, 'wireguard_peer_probe_rtt_seconds'), 'address')
    assert ('100.64.0.3',) not in rtt and rtt[('100.64.0.2',)] == pytest.approx(0.00025)
    assert sample_map(text, 'wireguard_prober_up') == {frozenset(): 1}
    assert stat.S_IMODE((state_dir / 'state.json').stat().st_mode) == 0o600
    assert PRIV not in (state_dir / 'state.json').read_text()


def test_probe_results_survive_a_failing_wg(fake_ping, state_dir, tmp_path):
    """`wg` fails (interface tools gone): collector_success 0, and the probes still say what answers."""
    fake_ping['down'].write_text('100.64.0.3\n')
    c = wm.Collector(str(tmp_path / 'no-wg'), str(tmp_path), str(state_dir), ping=fake_ping['ping'])
    c.probe_round()
    text = c.scrape()
    assert sample_map(text, 'wireguard_collector_success') == {frozenset(): 0}
    success = by(sample_map(text, 'wireguard_peer_probe_success'), 'address')
    assert success[('100.64.0.3',)] == 0 and success[('100.64.0.2',)] == 1
    assert sample_map(text, 'wireguard_peer_status') == {}  # no live interface read: no status


def test_no_expected_peers_means_no_prober(fake_wg, fake_ping, tmp_path):
    wg, conf = fake_wg
    empty = tmp_path / 'empty-state'
    empty.mkdir()
    c = wm.Collector(wg, conf, str(empty), ping=fake_ping['ping'])
    assert c.probe_round() is None
    text = c.scrape()
    assert 'wireguard_peer_probe_success' not in text and 'wireguard_prober_up' not in text
    assert not fake_ping['log'].exists()
    assert 'wireguard_peer_endpoint_changes_total' in text  # the state still counts endpoints


def test_unreadable_expected_peers_is_prober_down(fake_wg, fake_ping, state_dir):
    wg, conf = fake_wg
    (state_dir / 'expected-peers.json').write_text('{oops')
    c = wm.Collector(wg, conf, str(state_dir), ping=fake_ping['ping'])
    c.probe_round()
    assert sample_map(c.scrape(), 'wireguard_prober_up') == {frozenset(): 0}


def test_exporter_probes_in_the_background(fake_wg, fake_ping, state_dir):
    wg, conf = fake_wg
    collector = wm.Collector(wg, conf, str(state_dir), probe_count=1, ping=fake_ping['ping'])
    server = wm.make_server('127.0.0.1', 0, collector=collector)
    stop = threading.Event()
    threads = [threading.Thread(target=server.serve_forever, daemon=True),
               threading.Thread(target=collector.run_prober, args=(1.0, stop), daemon=True)]
    for t in threads:
        t.start()
    try:
        url = f'http://127.0.0.1:{server.server_address[1]}/metrics'
        text = ''
        for _attempt in range(100):  # the first round ends within a second; poll, never sleep a fixed time
            with urllib.request.urlopen(url, timeout=5) as resp:
                text = resp.read().decode()
            if 'wireguard_peer_probe_success{' in text:
                break
            time.sleep(0.05)
        assert len(sample_map(text, 'wireguard_peer_probe_success')) == 4
        assert sample_map(text, 'wireguard_collector_success') == {frozenset(): 1}
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def test_every_family_is_declared_once_and_parses(fake_wg, fake_ping, state_dir):
    wg, conf = fake_wg
    c = wm.Collector(wg, conf, str(state_dir), ping=fake_ping['ping'])
    c.probe_round()
    text = c.scrape()
    helps = [line.split()[2] for line in text.splitlines() if line.startswith('# HELP ')]
    assert len(helps) == len(set(helps))
    names = exported_metric_names(text)
    for want in ('wireguard_interface_info', 'wireguard_peer_info', 'wireguard_peer_status',
                 'wireguard_peer_endpoint_changes_total', 'wireguard_peer_probe_success',
                 'wireguard_peer_probe_loss_ratio', 'wireguard_peer_probe_rtt_seconds',
                 'wireguard_peer_probe_sent_total', 'wireguard_peer_probe_received_total',
                 'wireguard_prober_up', 'wireguard_probe_duration_seconds',
                 'wireguard_probe_timestamp_seconds',
                 'wireguard_latest_handshake_delay_seconds', 'wireguard_collector_success'):
        assert want in names, want


def exported_metric_names(text):
    names = set()
    for fam in text_string_to_metric_families(text):
        names.update(s.name for s in fam.samples)
    return names


def test_key_age_from_the_wg_quick_config(tmp_path):
    key = tmp_path / 'wg0.key'
    key.write_text('secret\n')
    os.utime(key, (NOW - 90 * 86400, NOW - 90 * 86400))
    (tmp_path / 'wg0.conf').write_text(f'[Interface]\nPostUp = wg set %i private-key {key}\n')
    assert wm.key_age('wg0', str(tmp_path), NOW) == 90 * 86400
    assert wm.key_age('wg1', str(tmp_path), NOW) is None
    ifs = wm.parse_interfaces(DUMP)
    ifs[0]['key_age'] = 90 * 86400
    text = wm.render(wm.parse_dump(DUMP), interfaces=ifs, now=NOW)
    assert by(sample_map(text, 'wireguard_key_age_seconds'), 'interface') == {('wg0',): 90 * 86400}
