"""wireguard_ping's helpers: target checks, ping output parsing, the parallel runner."""
import threading
import time

import pytest

from ansible_collections.meshlab.wireguard.plugins.module_utils import _ping

OK = """PING 100.64.0.2 (100.64.0.2) 56(84) bytes of data.

--- 100.64.0.2 ping statistics ---
3 packets transmitted, 3 received, 0% packet loss, time 405ms
rtt min/avg/max/mdev = 0.321/0.456/0.612/0.120 ms
"""
PARTIAL = """--- 100.64.0.3 ping statistics ---
3 packets transmitted, 1 received, 66.6667% packet loss, time 402ms
rtt min/avg/max/mdev = 5.100/5.100/5.100/0.000 ms
"""
NONE = """--- 100.64.0.9 ping statistics ---
3 packets transmitted, 0 received, 100% packet loss, time 411ms
"""


def test_parse_ping():
    assert _ping.parse_ping(OK) == {'transmitted': 3, 'received': 3, 'rtt_ms': 0.456}
    assert _ping.parse_ping(PARTIAL) == {'transmitted': 3, 'received': 1, 'rtt_ms': 5.1}
    assert _ping.parse_ping(NONE) == {'transmitted': 3, 'received': 0, 'rtt_ms': None}
    assert _ping.parse_ping('') == {'transmitted': 0, 'received': 0, 'rtt_ms': None}


@pytest.mark.parametrize('text, want', [
    ('100.64.0.2', '100.64.0.2'), ('100.64.0.2/24', '100.64.0.2'),
    ('fd3a:6c1e:9b42:100::2/64', 'fd3a:6c1e:9b42:100::2'), ('h2.lab', 'h2.lab'),
])
def test_check_target(text, want):
    assert _ping.check_target(text) == want


@pytest.mark.parametrize('bad', ['-f', '--flood', 'a b', ''])
def test_check_target_rejects_options_and_junk(bad):
    with pytest.raises(ValueError):
        _ping.check_target(bad)


def test_ping_command():
    assert _ping.ping_command('/bin/ping', '100.64.0.2', 3, 1, 0.2) == [
        '/bin/ping', '-n', '-q', '-c', '3', '-i', '0.2', '-W', '1', '100.64.0.2']
    assert _ping.ping_command('/bin/ping', '100.64.0.2', 1, 1, 0.2, deadline=6)[-3:] == [
        '-w', '6', '100.64.0.2']


def test_ping_all_runs_in_parallel_and_reports_each_target():
    outputs = {'100.64.0.2': (0, OK, ''), '100.64.0.3': (0, PARTIAL, ''), '100.64.0.9': (1, NONE, ''),
               'nowhere': (2, '', 'ping: nowhere: Name or service not known')}
    running, peak, lock = [0], [0], threading.Lock()

    def run(argv):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return outputs[argv[-1]]

    res = _ping.ping_all(run, 'ping', ['100.64.0.2', '100.64.0.3', '100.64.0.9', 'nowhere', '100.64.0.2'])
    assert list(res) == ['100.64.0.2', '100.64.0.3', '100.64.0.9', 'nowhere']
    assert res['100.64.0.2']['ok'] and res['100.64.0.2']['rtt_ms'] == 0.456
    assert res['100.64.0.3']['ok'] and res['100.64.0.3']['received'] == 1
    assert not res['100.64.0.9']['ok'] and 'error' not in res['100.64.0.9']
    assert res['nowhere']['error'] == 'ping: nowhere: Name or service not known'
    assert _ping.summary(res) == ['100.64.0.9', 'nowhere']
    assert peak[0] > 1


def test_ping_all_nothing_to_do():
    assert _ping.ping_all(lambda argv: pytest.fail('no ping expected'), 'ping', []) == {}
