"""Kernel engine without a kernel: dump merging, set messages (flags, packing, continuation).

Dump messages are built with pyroute2's own `wgmsg` class and sent through encode() and
decode(), so they have the exact wire layout the kernel produces (attribute by attribute). The
same checks run under /usr/bin/python3 with Debian's pyroute2 0.7.2 when it is installed
(test_same_under_system_pyroute2): the messages go through each line's own encoder.
"""

import base64
import os
import subprocess
import sys

import pytest

from ansible_collections.meshlab.wireguard.plugins.module_utils import _engine_netlink as eng
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import Peer, PeerChange, Plan

pyroute2 = pytest.importorskip('pyroute2')
from pyroute2.netlink.exceptions import NetlinkError  # noqa: E402
from pyroute2.netlink.generic import wireguard as pr_wg  # noqa: E402

KERNEL_REMOVE_ME = 0x1
KERNEL_REPLACE_ALLOWEDIPS = 0x2
KERNEL_UPDATE_ONLY = 0x4


def key(n):
    return base64.b64encode(bytes([n]) * 32).decode()


PRIV = key(8)
A, B, C = key(1), key(2), key(3)
PSK = key(9)


def allowed(net):
    import ipaddress
    import socket
    n = ipaddress.ip_network(net)
    fam = socket.AF_INET if n.version == 4 else socket.AF_INET6
    return {'attrs': [['WGALLOWEDIP_A_FAMILY', fam],
                      ['WGALLOWEDIP_A_IPADDR', n.network_address.packed],
                      ['WGALLOWEDIP_A_CIDR_MASK', n.prefixlen]]}


def wire(attrs):
    """Encode and decode one WG_CMD_GET_DEVICE reply, as it would come from the kernel."""
    m = pr_wg.wgmsg()
    m['cmd'] = pr_wg.WG_CMD_GET_DEVICE
    m['version'] = 1
    m['attrs'] = attrs
    m.encode()
    d = pr_wg.wgmsg(m.data)
    d.decode()
    return d


def peer_nla(pub, *extra, nets=()):
    attrs = [['WGPEER_A_PUBLIC_KEY', pub], *extra]
    if nets:
        attrs.append(['WGPEER_A_ALLOWEDIPS', [allowed(n) for n in nets]])
    return {'attrs': attrs}


def dump_split():
    """A dump cut the way the kernel cuts it: peer B's allowed IPs continue in message 2."""
    m1 = wire([
        ['WGDEVICE_A_IFINDEX', 7], ['WGDEVICE_A_IFNAME', 'wg0'],
        ['WGDEVICE_A_PRIVATE_KEY', PRIV], ['WGDEVICE_A_PUBLIC_KEY', key(10)],
        ['WGDEVICE_A_LISTEN_PORT', 51820], ['WGDEVICE_A_FWMARK', 0x42],
        ['WGDEVICE_A_PEERS', [
            peer_nla(A, ['WGPEER_A_PRESHARED_KEY', PSK],
                     ['WGPEER_A_ENDPOINT', {'addr': '198.51.100.12', 'port': 51820}],
                     ['WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL', 25],
                     ['WGPEER_A_LAST_HANDSHAKE_TIME', {'tv_sec': 1700000000, 'tv_nsec': 5}],
                     ['WGPEER_A_RX_BYTES', 1000], ['WGPEER_A_TX_BYTES', 2000],
                     nets=['100.64.0.2/32', 'fd3a:6c1e:9b42:100::2/128']),
            peer_nla(B, ['WGPEER_A_PRESHARED_KEY', base64.b64encode(bytes(32)).decode()],
                     ['WGPEER_A_ENDPOINT', {'addr': 'fd3a:6c1e:9b42:1::13', 'port': 51821}],
                     ['WGPEER_A_RX_BYTES', 7], ['WGPEER_A_TX_BYTES', 8],
                     nets=['10.3.0.0/24', '100.64.0.3/32']),
        ]],
    ])
    m2 = wire([
        ['WGDEVICE_A_IFINDEX', 7], ['WGDEVICE_A_IFNAME', 'wg0'],
        ['WGDEVICE_A_PEERS', [
            peer_nla(B, nets=['fd3a:6c1e:9b42:100::3/128', '10.3.1.0/24']),
            peer_nla(C, nets=['100.64.0.4/32']),
        ]],
    ])
    return [m1, m2]


def test_merge_split_dump():
    dev = eng.device_from_messages(dump_split())
    assert dev.private_key == PRIV
    assert dev.listen_port == 51820
    assert dev.fwmark == 0x42
    assert list(dev.peers) == [A, B, C]
    assert dev.peers[A] == Peer(A, PSK, '198.51.100.12:51820',
                                ('100.64.0.2/32', 'fd3a:6c1e:9b42:100::2/128'), 25)
    # the continuation message carries only the key and allowed IPs: nothing else is lost
    assert dev.peers[B] == Peer(B, None, '[fd3a:6c1e:9b42:1::13]:51821',
                                ('10.3.0.0/24', '10.3.1.0/24', '100.64.0.3/32',
                                 'fd3a:6c1e:9b42:100::3/128'), 0)
    assert dev.peers[C] == Peer(C, None, None, ('100.64.0.4/32',), 0)
    assert dev.stats[A].latest_handshake == 1700000000
    assert (dev.stats[A].rx_bytes, dev.stats[A].tx_bytes) == (1000, 2000)
    assert (dev.stats[B].rx_bytes, dev.stats[B].tx_bytes) == (7, 8)
    assert dev.stats[C].latest_handshake == 0


def test_merge_only_some_peers():
    full = eng.device_from_messages(dump_split())
    dev = eng.device_from_messages(dump_split(), only={B})
    assert dev.peers == {B: full.peers[B]} and list(dev.stats) == [B]
    assert dev.private_key == full.private_key


def test_merge_does_not_depend_on_where_the_dump_is_cut():
    one = wire([['WGDEVICE_A_PRIVATE_KEY', PRIV], ['WGDEVICE_A_LISTEN_PORT', 1],
                ['WGDEVICE_A_PEERS', [peer_nla(A, nets=['10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/24'])]]])
    cut = [wire([['WGDEVICE_A_PRIVATE_KEY', PRIV], ['WGDEVICE_A_LISTEN_PORT', 1],
                 ['WGDEVICE_A_PEERS', [peer_nla(A, nets=['10.0.2.0/24'])]]]),
           wire([['WGDEVICE_A_PEERS', [peer_nla(A, nets=['10.0.0.0/24'])]]]),
           wire([['WGDEVICE_A_PEERS', [peer_nla(A, nets=['10.0.1.0/24'])]]])]
    assert eng.device_from_messages([one]) == eng.device_from_messages(cut)


def test_empty_device():
    dev = eng.device_from_messages([wire([['WGDEVICE_A_IFNAME', 'wg0'], ['WGDEVICE_A_LISTEN_PORT', 0]])])
    assert dev.private_key is None
    assert dev.peers == {}
    assert dev.fwmark == 0


def test_many_peers_over_many_messages():
    keys = [base64.b64encode(i.to_bytes(2, 'big') * 16).decode() for i in range(1, 1001)]
    msgs = []
    for start in range(0, 1000, 37):
        chunk = keys[start:start + 37]
        msgs.append(wire([['WGDEVICE_A_PEERS', [
            peer_nla(k, nets=[f'10.{(start + i) // 250}.{(start + i) % 250}.0/24'])
            for i, k in enumerate(chunk)]]]))
    dev = eng.device_from_messages(msgs)
    assert len(dev.peers) == 1000
    assert dev.peers[keys[999]].allowed_ips == ('10.3.249.0/24',)


# --------------------------------------------------------------------------- writing

def encode_decode(attrs):
    """A set message as the kernel receives it: encoded by pyroute2, decoded back."""
    m = pr_wg.wgmsg()
    m['cmd'] = eng.WG_CMD_SET_DEVICE
    m['version'] = 1
    m['attrs'] = attrs
    m.encode()
    d = pr_wg.wgmsg(m.data)
    d.decode()
    return d, len(m.data)


def peers_of(decoded):
    out = []
    for p in decoded.get_attr('WGDEVICE_A_PEERS') or ():
        out.append({
            'key': eng._key_text(p.get_attr('WGPEER_A_PUBLIC_KEY')),
            'flags': p.get_attr('WGPEER_A_FLAGS'),
            'psk': p.get_attr('WGPEER_A_PRESHARED_KEY'),
            'endpoint': p.get_attr('WGPEER_A_ENDPOINT'),
            'keepalive': p.get_attr('WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL'),
            'aips': [a.get('addr') for a in p.get_attr('WGPEER_A_ALLOWEDIPS') or ()],
        })
    return out


def test_set_message_order_flags_and_fields():
    add = Peer(C, PSK, '[fd3a:6c1e:9b42:1::14]:51820', ('100.64.0.4/32', 'fd3a:6c1e:9b42:100::4/128'), 25)
    upd = Peer(B, None, None, ('10.3.0.0/24',), 0)
    plan = Plan(
        name='wg0', device={'listen_port': 51820, 'private_key': PRIV},
        peers=(PeerChange('remove', A),
               PeerChange('update', B, upd, ('preshared_key', 'allowed_ips')),
               PeerChange('add', C, add)),
    )
    (attrs,) = eng.set_messages('wg0', plan)
    msg = encode_decode(attrs)[0]
    assert msg.get_attr('WGDEVICE_A_IFNAME') == 'wg0'
    assert eng._key_text(msg.get_attr('WGDEVICE_A_PRIVATE_KEY')) == PRIV
    assert msg.get_attr('WGDEVICE_A_LISTEN_PORT') == 51820
    assert msg.get_attr('WGDEVICE_A_FWMARK') is None
    rem, upd_, add_ = peers_of(msg)
    assert rem == {'key': A, 'flags': KERNEL_REMOVE_ME, 'psk': None, 'endpoint': None, 'keepalive': None,
                   'aips': []}
    assert upd_['key'] == B and upd_['flags'] == KERNEL_UPDATE_ONLY | KERNEL_REPLACE_ALLOWEDIPS
    assert eng._key_text(upd_['psk']) is None and upd_['psk'] is not None  # all-zero key: PSK removed
    assert upd_['aips'] == ['10.3.0.0/24'] and upd_['endpoint'] is None and upd_['keepalive'] is None
    assert add_['key'] == C and add_['flags'] == KERNEL_REPLACE_ALLOWEDIPS
    assert eng._key_text(add_['psk']) == PSK
    assert (add_['endpoint']['addr'], add_['endpoint']['port']) == ('fd3a:6c1e:9b42:1::14', 51820)
    assert add_['keepalive'] == 25
    assert add_['aips'] == ['100.64.0.4/32', 'fd3a:6c1e:9b42:100::4/128']


def test_update_sends_only_changed_fields():
    upd = Peer(B, PSK, '198.51.100.13:51820', ('10.3.0.0/24',), 0)
    plan = Plan(name='wg0', peers=(PeerChange('update', B, upd, ('persistent_keepalive',)),))
    (attrs,) = eng.set_messages('wg0', plan)
    (peer,) = peers_of(encode_decode(attrs)[0])
    # no allowed IPs, no replace flag: the live ones stay; keepalive 0 is sent to turn it off
    assert peer == {'key': B, 'flags': KERNEL_UPDATE_ONLY, 'psk': None, 'endpoint': None, 'keepalive': 0,
                    'aips': []}


def test_update_to_no_allowed_ips_clears_them():
    plan = Plan(name='wg0', peers=(PeerChange('update', B, Peer(B), ('allowed_ips',)),))
    (peer,) = peers_of(encode_decode(eng.set_messages('wg0', plan)[0])[0])
    assert peer['flags'] == KERNEL_UPDATE_ONLY | KERNEL_REPLACE_ALLOWEDIPS and peer['aips'] == []


def test_device_only_and_empty_plans():
    assert eng.set_messages('wg0', Plan(name='wg0')) == []
    (attrs,) = eng.set_messages('wg0', Plan(name='wg0', device={'fwmark': 0}))
    msg = encode_decode(attrs)[0]
    assert msg.get_attr('WGDEVICE_A_FWMARK') == 0 and msg.get_attr('WGDEVICE_A_PEERS') is None


def test_a_peer_with_many_allowed_ips_continues_in_more_messages():
    nets = tuple(f'10.{i // 250}.{i % 250}.0/24' for i in range(5000))
    plan = Plan(name='wg0', device={'listen_port': 1},
                peers=(PeerChange('add', A, Peer(A, PSK, '198.51.100.12:51820', nets, 0)),
                       PeerChange('add', B, Peer(B, None, None, ('100.64.0.2/32',), 0))))
    messages = eng.set_messages('wg0', plan)
    assert len(messages) > 2
    seen = []
    for i, attrs in enumerate(messages):
        msg, size = encode_decode(attrs)  # pyroute2 encodes it: no attribute over 64 KiB
        assert size < 65535
        assert (msg.get_attr('WGDEVICE_A_LISTEN_PORT') is not None) == (i == 0)
        seen.extend(peers_of(msg))
    first, *rest = [p for p in seen if p['key'] == A]
    assert first['flags'] == KERNEL_REPLACE_ALLOWEDIPS and eng._key_text(first['psk']) == PSK
    assert all(p['flags'] == KERNEL_UPDATE_ONLY and p['psk'] is None and p['endpoint'] is None for p in rest)
    assert [n for p in [first, *rest] for n in p['aips']] == list(nets)
    assert seen[-1]['key'] == B and seen[-1]['aips'] == ['100.64.0.2/32']


def test_many_peers_are_packed_into_few_messages():
    keys = [base64.b64encode(i.to_bytes(2, 'big') * 16).decode() for i in range(1, 1001)]
    plan = Plan(name='wg0', peers=tuple(
        PeerChange('add', k, Peer(k, None, f'198.51.100.{i % 200}:{40000 + i}',
                                  (f'100.80.{i // 250}.{i % 250}/32',), 0))
        for i, k in enumerate(keys)))
    messages = eng.set_messages('wg0', plan)
    assert 2 <= len(messages) <= 10
    got = [p['key'] for attrs in messages for p in peers_of(encode_decode(attrs)[0])]
    assert got == keys


class FakeWireGuard:
    """Stands in for pyroute2's WireGuard socket: serves a dump, records set messages."""

    prid = 42

    def __init__(self, messages=(), fail_on=None):
        self.messages = list(messages)
        self.sent = []
        self.closed = False
        self.fail_on = fail_on

    def info(self, ifname):
        return iter(self.messages)

    def nlm_request(self, msg, msg_type, msg_flags):
        assert msg_type == self.prid and msg_flags == eng.NLM_F_REQUEST | eng.NLM_F_ACK
        assert msg['cmd'] == eng.WG_CMD_SET_DEVICE
        if self.fail_on and self.fail_on(msg):
            raise NetlinkError(22, 'Invalid argument')
        self.sent.append(msg['attrs'])
        return iter(())

    def close(self):
        self.closed = True


def test_engine_read_and_apply_with_fake_socket():
    fake = FakeWireGuard(dump_split())
    engine = eng.NetlinkEngine(wireguard_factory=lambda: fake)
    dev = engine.read('wg0')
    assert len(dev.peers) == 3
    assert fake.closed
    fake2 = FakeWireGuard()
    engine = eng.NetlinkEngine(wireguard_factory=lambda: fake2)
    engine.apply('wg0', Plan(name='wg0', device={'fwmark': 0}, peers=(PeerChange('remove', A),)))
    assert fake2.sent == [[['WGDEVICE_A_IFNAME', 'wg0'], ['WGDEVICE_A_FWMARK', 0],
                           ['WGDEVICE_A_PEERS', [{'attrs': [['WGPEER_A_PUBLIC_KEY', A],
                                                            ['WGPEER_A_FLAGS', KERNEL_REMOVE_ME]]}]]]]
    assert fake2.closed
    fake3 = FakeWireGuard()
    eng.NetlinkEngine(wireguard_factory=lambda: fake3).apply('wg0', Plan(name='wg0'))
    assert fake3.sent == []


def test_engine_apply_error_names_the_peer_not_secrets():
    fake = FakeWireGuard(fail_on=lambda msg: True)
    engine = eng.NetlinkEngine(wireguard_factory=lambda: fake)
    plan = Plan(name='wg0', device={'private_key': PRIV},
                peers=(PeerChange('add', A, Peer(A, PSK, None, ('10.0.0.0/24',), 0)),))
    with pytest.raises(eng.EngineError) as err:
        engine.apply('wg0', plan)
    assert A in str(err.value) and 'private_key' in str(err.value)
    assert PSK not in str(err.value) and PRIV not in str(err.value)
    assert fake.closed


def test_preflight_and_create_without_kernel_support(monkeypatch):
    monkeypatch.setattr(eng, 'kernel_supported', lambda: False)
    engine = eng.NetlinkEngine(wireguard_factory=FakeWireGuard)
    with pytest.raises(eng.EngineError, match='engine=userspace'):
        engine.preflight()

    def unsupported(name, kind):
        raise NetlinkError(95, 'Operation not supported')
    monkeypatch.setattr(eng._iproute, 'create_link', unsupported)
    with pytest.raises(eng.EngineError, match='engine=userspace'):
        engine.create('wg0')


def test_engine_reports_missing_genl_family():
    def factory():
        raise NetlinkError(2, 'No such file or directory')
    engine = eng.NetlinkEngine(wireguard_factory=factory)
    with pytest.raises(eng.EngineError, match='userspace'):
        engine.read('wg0')


SYSTEM_PYTHON = '/usr/bin/python3'


@pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason='no /usr/bin/python3')
def test_same_under_system_pyroute2():
    """Run this file's checks with Debian's python3-pyroute2 (0.7.x) and no pytest."""
    probe = subprocess.run([SYSTEM_PYTHON, '-c', 'import pyroute2'], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip('python3-pyroute2 is not installed for /usr/bin/python3')
    here = os.path.abspath(__file__)
    collections = next(p for p in sys.path if p.endswith(os.path.join('.build', 'collections')))
    script = f"""
import inspect, sys, types
sys.path.insert(0, {collections!r})
# a minimal stand-in for pytest: importorskip and raises
pt = types.ModuleType('pytest')
def importorskip(name):
    return __import__(name)
class _Raises:
    def __init__(self, exc, match=None): self.exc = exc; self.match = match
    def __enter__(self): return self
    def __exit__(self, et, ev, tb):
        if et is None: raise AssertionError('did not raise')
        if not issubclass(et, self.exc): return False
        if self.match and self.match not in str(ev): raise AssertionError(str(ev))
        self.value = ev
        return True
pt.importorskip = importorskip
pt.raises = _Raises
pt.mark = types.SimpleNamespace(skipif=lambda *a, **k: (lambda f: f))
pt.skip = lambda msg: None
sys.modules['pytest'] = pt
import importlib.util
spec = importlib.util.spec_from_file_location('t', {here!r})
t = importlib.util.module_from_spec(spec); spec.loader.exec_module(t)
import pyroute2
from pyroute2.netlink.generic import wireguard as w
assert not hasattr(w, 'AsyncWireGuard'), 'expected the 0.7 line'
n = 0
for name in dir(t):
    fn = getattr(t, name)
    # tests that need fixtures (monkeypatch) run under pytest only
    if name.startswith('test_') and name != 'test_same_under_system_pyroute2' \
            and not inspect.signature(fn).parameters:
        fn(); n += 1
print('ok', n)
"""
    proc = subprocess.run([SYSTEM_PYTHON, '-c', script], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith('ok '), proc.stdout
    assert int(proc.stdout.split()[1]) >= 10, proc.stdout
