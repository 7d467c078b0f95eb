"""wireguard_info's logic without a host: peer/interface descriptions, gather() with fakes."""
import json

import pytest

from ansible_collections.meshlab.wireguard.plugins.module_utils import _info, _keys
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import Device, Link, Peer, PeerStats

NOW = 1_700_000_000
PRIV = _keys.generate_private_key()
PSK = _keys.generate_preshared_key()
K2 = _keys.public_key_of(_keys.generate_private_key())
K3 = _keys.public_key_of(_keys.generate_private_key())


def device():
    return Device(
        private_key=PRIV, listen_port=51820, fwmark=0,
        peers={
            K2: Peer(K2, preshared_key=PSK, endpoint='198.51.100.12:51820', allowed_ips=('100.64.0.2/32',),
                     persistent_keepalive=25),
            K3: Peer(K3, allowed_ips=('100.64.0.3/32',)),
        },
        stats={K2: PeerStats(latest_handshake=NOW - 12, rx_bytes=300, tx_bytes=400),
               K3: PeerStats(latest_handshake=NOW - 600, rx_bytes=1, tx_bytes=2)},
    )


@pytest.mark.parametrize('age, status', [(None, 'never'), (0, 'up'), (179, 'up'), (180, 'stale')])
def test_peer_status(age, status):
    assert _info.peer_status(age) == status


def test_describe_peer():
    d = device()
    assert _info.describe_peer(d.peers[K2], d.stats[K2], 'h2', NOW) == {
        'public_key': K2, 'name': 'h2', 'endpoint': '198.51.100.12:51820', 'allowed_ips': ['100.64.0.2/32'],
        'latest_handshake': NOW - 12, 'handshake_age': 12, 'rx_bytes': 300, 'tx_bytes': 400,
        'persistent_keepalive': 25, 'status': 'up'}
    never = _info.describe_peer(Peer(K3), None, None, NOW)
    assert never['latest_handshake'] == 0 and never['handshake_age'] is None and never['status'] == 'never'


class FakeEngine:
    def __init__(self, kind, fail=()):
        self.kind, self.fail = kind, fail

    def read(self, ifname):
        if ifname in self.fail:
            raise RuntimeError('socket does not answer')
        return device()


@pytest.fixture
def host(monkeypatch):
    monkeypatch.setattr(_info, 'discover', lambda: {'wg0': 'userspace', 'wg1': 'kernel'})
    monkeypatch.setattr(_info._iproute, 'read_link', lambda ifname: Link(
        mtu=1420, addresses=frozenset({'100.64.0.1/24', 'fd3a:6c1e:9b42:100::1/64'}), up=True))
    monkeypatch.setattr(_info, 'read_names', lambda ifname, config_dir: {K3: 'h3'} if ifname == 'wg0' else {})


def test_gather_every_interface_without_secrets(host):
    interfaces, warnings = _info.gather(engine_factory=FakeEngine, now=NOW)
    assert warnings == []
    assert sorted(interfaces) == ['wg0', 'wg1']
    wg0 = interfaces['wg0']
    assert wg0['engine'] == 'userspace' and interfaces['wg1']['engine'] == 'kernel'
    assert wg0['public_key'] == _keys.public_key_of(PRIV)
    assert wg0['listen_port'] == 51820 and wg0['mtu'] == 1420 and wg0['up'] is True
    assert wg0['addresses'] == ['100.64.0.1/24', 'fd3a:6c1e:9b42:100::1/64']
    # named peers first
    assert [(p['name'], p['status']) for p in wg0['peers']] == [('h3', 'stale'), (None, 'up')]
    assert [p['name'] for p in interfaces['wg1']['peers']] == [None, None]
    text = json.dumps(interfaces)
    assert PRIV not in text and PSK not in text and 'private_key' not in text and 'preshared' not in text


def test_gather_one_interface_and_a_missing_one(host):
    assert list(_info.gather('wg1', engine_factory=FakeEngine, now=NOW)[0]) == ['wg1']
    assert _info.gather('wg9', engine_factory=FakeEngine, now=NOW) == ({}, [])


def test_gather_reports_unreadable_interface_as_warning(host):
    interfaces, warnings = _info.gather(engine_factory=lambda kind: FakeEngine(kind, fail=('wg1',)), now=NOW)
    assert list(interfaces) == ['wg0']
    assert warnings == ['wg1: cannot read the kernel interface: socket does not answer']


def test_interface_without_private_key(host, monkeypatch):
    class Bare(FakeEngine):
        def read(self, ifname):
            return Device(listen_port=1234)

    interfaces, _warnings = _info.gather('wg0', engine_factory=Bare, now=NOW)
    assert interfaces['wg0']['public_key'] is None and interfaces['wg0']['peers'] == []
