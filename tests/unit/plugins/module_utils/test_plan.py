"""plan(): the smallest change from live to desired, deterministic; endpoint roaming."""
import base64
import time
from dataclasses import replace

import pytest

from ansible_collections.meshlab.wireguard.plugins.module_utils._model import (
    HANDSHAKE_FRESH_SECONDS,
    Device,
    Interface,
    Link,
    Peer,
    PeerChange,
    PeerStats,
    Plan,
    Roam,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._plan import (
    desired_routes,
    endpoint_roams,
    handshake_fresh,
    plan,
    predict,
    routes_for,
    verify,
)


def key(n):
    """A distinct valid base64 key for a small integer."""
    return base64.b64encode(n.to_bytes(4, 'big') + bytes(27) + b'\x01').decode()


PRIV = key(1_000_000)
A, B, C = key(1), key(2), key(3)
PSK = key(999)


def iface(peers=(), priv=PRIV, port=51820, fwmark=0, mtu=1420, addresses=('100.64.0.1/24',), up=True,
          routes=None, name='wg0'):
    peers = {p.public_key: p for p in peers}
    i = Interface(name, Device(priv, port, fwmark, peers), Link(True, mtu, frozenset(addresses), up))
    if routes is None:
        routes = desired_routes(i)
    return Interface(name, i.device, Link(True, mtu, frozenset(addresses), up, frozenset(routes)))


PA = Peer(A, endpoint='198.51.100.11:51820', allowed_ips=('100.64.0.2/32',))
PB = Peer(B, endpoint='198.51.100.12:51820', allowed_ips=('100.64.0.3/32', '203.0.113.32/27'),
          persistent_keepalive=25)
PC = Peer(C, allowed_ips=('fd3a:6c1e:9b42:a3::/64',))


def test_noop_plan_is_empty():
    want = iface([PA, PB, PC])
    live = iface([PA, PB, PC])
    p = plan(want, live)
    assert p == Plan(name='wg0')
    assert not p.changed


def test_absent():
    live = iface([PA])
    assert plan(None, live) == Plan(name='wg0', delete=True)
    assert plan(None, live).changed
    assert not plan(None, None).changed


def test_create_lists_everything_as_adds():
    want = iface([PB, PA], fwmark=7)
    p = plan(want, None)
    assert p.create and p.set_up
    assert p.device == {'private_key': PRIV, 'listen_port': 51820, 'fwmark': 7}
    assert p.peers == (PeerChange('add', A, PA), PeerChange('add', B, PB))
    assert p.mtu == 1420
    assert p.addresses_add == ('100.64.0.1/24',)
    assert p.routes_add == ('203.0.113.32/27',)  # 100.64.0.x/32 are inside the connected /24
    assert p.changed


def test_create_without_fwmark_or_port():
    want = iface([], port=None, mtu=None)
    p = plan(want, Interface('wg0', link=Link(exists=False)))
    assert p.create
    assert p.device == {'private_key': PRIV}
    assert p.mtu is None


def test_device_fields():
    live = iface([PA])
    assert plan(iface([PA], priv=key(5)), live).device == {'private_key': key(5)}
    assert plan(iface([PA], port=51821), live).device == {'listen_port': 51821}
    assert plan(iface([PA], port=None), live).device == {}  # None keeps the live port
    assert plan(iface([PA], fwmark=0x20), live).device == {'fwmark': 0x20}
    assert plan(iface([PA]), iface([PA], fwmark=3)).device == {'fwmark': 0}


def test_mtu():
    live = iface([PA])
    assert plan(iface([PA], mtu=1380), live).mtu == 1380
    assert plan(iface([PA], mtu=None), live).mtu is None
    assert not plan(iface([PA], mtu=None), live).changed


def test_set_up():
    p = plan(iface([PA]), iface([PA], up=False))
    assert p.set_up and p.changed
    assert p.peers == ()


def test_peer_add_update_remove_order():
    live = iface([PA, PB])
    pb2 = Peer(B, endpoint='198.51.100.99:51820', allowed_ips=PB.allowed_ips, persistent_keepalive=25)
    p = plan(iface([pb2, PC]), live)
    assert [(c.action, c.public_key) for c in p.peers] == [('remove', A), ('update', B), ('add', C)]
    assert p.peers[1].fields == ('endpoint',)
    assert p.peers[1].peer == pb2
    assert p.peers[0].peer is None


def test_update_fields_each():
    live = iface([PB])
    cases = {
        'preshared_key': Peer(B, PSK, PB.endpoint, PB.allowed_ips, 25),
        'endpoint': Peer(B, None, '[fd3a:6c1e:9b42:1::12]:51820', PB.allowed_ips, 25),
        'allowed_ips': Peer(B, None, PB.endpoint, ('100.64.0.3/32',), 25),
        'persistent_keepalive': Peer(B, None, PB.endpoint, PB.allowed_ips, 0),
    }
    for field, want in cases.items():
        p = plan(iface([want], routes=desired_routes(iface([PB]))), live)
        assert p.peers == (PeerChange('update', B, want, (field,)),), field


def test_psk_removal_is_a_change():
    live = iface([Peer(A, PSK, PA.endpoint, PA.allowed_ips)])
    p = plan(iface([PA]), live)
    assert p.peers[0].fields == ('preshared_key',)


def test_several_fields_listed_in_order():
    live = iface([PB])
    want = Peer(B, PSK, None, ('100.64.0.3/32',), 0)
    p = plan(iface([want]), live)
    assert p.peers[0].fields == ('preshared_key', 'allowed_ips', 'persistent_keepalive')


def test_desired_endpoint_none_is_no_opinion():
    live = iface([Peer(A, endpoint='198.51.100.77:4444', allowed_ips=PA.allowed_ips)])
    assert not plan(iface([Peer(A, allowed_ips=PA.allowed_ips)]), live).changed


def test_endpoint_and_allowed_ips_compared_canonically():
    live = iface([Peer(A, endpoint='[fd3a:6c1e:9b42:1::11]:51820',
                       allowed_ips=('100.64.0.2/32', '10.9.0.0/16'))], routes={'10.9.0.0/16'})
    want = iface([Peer(A, endpoint='[FD3A:6C1E:9B42:1:0:0:0:11]:51820',
                       allowed_ips=('10.9.0.0/16', '100.64.0.2/32'))])
    assert not plan(want, live).changed


def test_exclusive_false_keeps_unmanaged_peers_and_their_routes():
    live = iface([PA, PB])
    want = iface([PA])
    p = plan(want, live, exclusive=False)
    assert not p.changed
    p = plan(want, live, exclusive=True)
    assert p.peers == (PeerChange('remove', B),)
    assert p.routes_remove == ('203.0.113.32/27',)


def test_addresses():
    live = iface([], addresses=('100.64.0.1/24', '10.0.0.1/24', 'fe80::1/64'))
    p = plan(iface([], addresses=('100.64.0.1/24', 'fd3a:6c1e:9b42:100::1/64')), live)
    assert p.addresses_add == ('fd3a:6c1e:9b42:100::1/64',)
    assert p.addresses_remove == ('10.0.0.1/24',)  # link-local fe80:: is never removed


def test_routes_add_remove():
    live = iface([PA], routes={'10.77.0.0/16', 'fe80::/64'})
    p = plan(iface([PA, PB, PC]), live)
    assert p.routes_add == ('203.0.113.32/27', 'fd3a:6c1e:9b42:a3::/64')
    assert p.routes_remove == ('10.77.0.0/16',)


def test_manage_routes_false_ignores_routes():
    live = iface([PA], routes={'10.77.0.0/16'})
    p = plan(iface([PA, PB]), live, manage_routes=False)
    assert p.routes_add == () and p.routes_remove == ()


def test_desired_routes_rules():
    peers = [
        Peer(A, allowed_ips=('0.0.0.0/0', '::/0', '100.64.0.2/32')),
        Peer(B, allowed_ips=('100.64.0.0/16', '203.0.113.0/27')),
        Peer(C, allowed_ips=('fd3a:6c1e:9b42:100::3/128', 'fd3a:6c1e:9b42:a1::/64')),
    ]
    got = routes_for(peers, ['100.64.0.1/24', 'fd3a:6c1e:9b42:100::1/64'])
    assert got == frozenset({'100.64.0.0/16', '203.0.113.0/27', 'fd3a:6c1e:9b42:a1::/64'})
    assert desired_routes(iface(peers, addresses=('100.64.0.1/24', 'fd3a:6c1e:9b42:100::1/64'))) == got


def test_deterministic_output():
    live = iface([])
    peers = [Peer(key(i), allowed_ips=(f'10.{i}.0.0/16',)) for i in range(50, 0, -1)]
    p1 = plan(iface(peers, routes=()), live)
    p2 = plan(iface(list(reversed(peers)), routes=()), live)
    assert p1 == p2
    assert [c.public_key for c in p1.peers] == sorted(c.public_key for c in p1.peers)
    assert list(p1.routes_add) == [f'10.{i}.0.0/16' for i in range(1, 51)]  # numeric, not string order


def test_describe_redacts_secrets():
    p = plan(iface([Peer(A, PSK, allowed_ips=('100.64.0.2/32',))]), None)
    text = repr(p.describe())
    assert PRIV not in text and PSK not in text
    assert A in text


def test_thousand_peers_one_change_fast():
    peers = [Peer(key(i), endpoint=f'198.51.100.{i % 200 + 1}:51820',
                  allowed_ips=(f'100.64.{i // 250}.{i % 250 + 2}/32', f'10.{i // 250}.{i % 250}.0/24'),
                  persistent_keepalive=25)
             for i in range(1000)]
    live = iface(peers, addresses=('100.64.0.1/16',))
    changed = list(peers)
    changed[500] = Peer(peers[500].public_key, endpoint='198.51.100.250:51820',
                        allowed_ips=peers[500].allowed_ips, persistent_keepalive=25)
    want = iface(changed, addresses=('100.64.0.1/16',))
    start = time.perf_counter()
    p = plan(want, live)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0
    assert p.peers == (PeerChange('update', peers[500].public_key, changed[500], ('endpoint',)),)
    assert p.routes_add == () and p.routes_remove == ()
    assert len(desired_routes(want)) == 1000


# --------------------------------------------------------------------------- endpoint roaming
# h3's view of peer A (h1): configured at h1's IPv4 address, h1 dialled from its IPv6 address.

NOW = 1_700_000_000
V4 = '198.51.100.11:51820'
V6 = '[fd3a:6c1e:9b42:1::11]:51820'
FRESH = PeerStats(latest_handshake=NOW - 5, rx_bytes=100, tx_bytes=100)
STALE = PeerStats(latest_handshake=NOW - HANDSHAKE_FRESH_SECONDS - 1)
NEVER = PeerStats()


def roam_case(live_endpoint=V6, stats=FRESH, want_endpoint=V4, keepalive=0):
    want = iface([Peer(A, endpoint=want_endpoint, allowed_ips=PA.allowed_ips,
                       persistent_keepalive=keepalive)])
    live = iface([Peer(A, endpoint=live_endpoint, allowed_ips=PA.allowed_ips)])
    if stats is not None:
        live = replace(live, device=replace(live.device, stats={A: stats}))
    return want, live


def test_handshake_fresh():
    assert handshake_fresh(FRESH, NOW)
    assert handshake_fresh(PeerStats(latest_handshake=NOW - HANDSHAKE_FRESH_SECONDS + 1), NOW)
    assert not handshake_fresh(PeerStats(latest_handshake=NOW - HANDSHAKE_FRESH_SECONDS), NOW)
    assert not handshake_fresh(STALE, NOW)
    assert not handshake_fresh(NEVER, NOW)
    assert not handshake_fresh(None, NOW)
    assert not handshake_fresh(FRESH, None)  # no clock: nothing is fresh
    assert handshake_fresh(PeerStats(latest_handshake=NOW + 3), NOW)  # after the clock reading


@pytest.mark.parametrize('previous', [None, {}, {A: V4}, {B: V4}],
                         ids=['no-config', 'empty-config', 'same', 'peer-not-in-config'])
def test_fresh_roam_is_tolerated(previous):
    want, live = roam_case()
    p = plan(want, live, previous_endpoints=previous, now=NOW)
    assert not p.changed and p.peers == ()
    assert p.roamed == (Roam(A, V4, V6),)
    assert p.describe() == Plan(name='wg0').describe()  # roams are not changes, not in describe()
    assert endpoint_roams(want, live, previous, NOW) == {A: Roam(A, V4, V6)}


def test_previous_endpoint_compared_canonically():
    want, live = roam_case(live_endpoint=V4, want_endpoint=V6)
    p = plan(want, live, previous_endpoints={A: '[FD3A:6C1E:9B42:1:0:0:0:11]:51820'}, now=NOW)
    assert not p.changed and p.roamed == (Roam(A, V6, V4),)


@pytest.mark.parametrize('stats', [STALE, NEVER, None], ids=['stale', 'never', 'no-stats'])
@pytest.mark.parametrize('previous', [None, {A: V4}], ids=['no-config', 'same'])
def test_no_session_means_the_configured_endpoint_is_set_again(stats, previous):
    want, live = roam_case(stats=stats)
    p = plan(want, live, previous_endpoints=previous, now=NOW)
    assert p.peers == (PeerChange('update', A, want.device.peers[A], ('endpoint',)),)
    assert p.roamed == ()


@pytest.mark.parametrize('previous', [{A: '198.51.100.99:51820'}, {A: V6}, {A: None}],
                         ids=['other', 'equals-live', 'none-configured-before'])
def test_user_change_is_always_applied(previous):
    # the inventory now says V4; the config written last time said something else (or nothing)
    want, live = roam_case()
    p = plan(want, live, previous_endpoints=previous, now=NOW)
    assert p.peers == (PeerChange('update', A, want.device.peers[A], ('endpoint',)),)
    assert p.roamed == ()


def test_no_clock_tolerates_nothing():
    want, live = roam_case()
    assert plan(want, live).peers[0].fields == ('endpoint',)  # the default: now=None
    assert plan(want, live, previous_endpoints={A: V4}).peers[0].fields == ('endpoint',)
    assert endpoint_roams(want, live, {A: V4}, None) == {}


def test_live_without_endpoint_is_not_a_roam():
    want, live = roam_case(live_endpoint=None)
    p = plan(want, live, previous_endpoints={A: V4}, now=NOW)
    assert p.peers[0].fields == ('endpoint',) and p.roamed == ()


def test_equal_or_no_desired_endpoint_is_no_roam():
    want, live = roam_case(live_endpoint=V4)
    assert plan(want, live, now=NOW) == Plan(name='wg0')
    want, live = roam_case(want_endpoint=None)
    assert plan(want, live, now=NOW) == Plan(name='wg0')  # no opinion, nothing reported


def test_roamed_peer_with_another_change_keeps_its_live_endpoint():
    want, live = roam_case(keepalive=25)
    p = plan(want, live, previous_endpoints={A: V4}, now=NOW)
    assert p.peers == (PeerChange('update', A, want.device.peers[A], ('persistent_keepalive',)),)
    assert p.roamed == (Roam(A, V4, V6),)


def test_roams_sorted_and_only_desired_live_peers():
    stats = {A: FRESH, B: FRESH, C: FRESH}
    want = iface([Peer(B, endpoint=V4, allowed_ips=('100.64.0.3/32',)),
                  Peer(A, endpoint=V4, allowed_ips=PA.allowed_ips),
                  Peer(C, endpoint=V4, allowed_ips=('100.64.0.4/32',))])
    live = iface([Peer(A, endpoint=V6, allowed_ips=PA.allowed_ips),
                  Peer(B, endpoint=V6, allowed_ips=('100.64.0.3/32',))])
    live = replace(live, device=replace(live.device, stats=stats))
    p = plan(want, live, now=NOW)
    assert [r.public_key for r in p.roamed] == [A, B]
    assert p.peers == (PeerChange('add', C, want.device.peers[C]),)
    assert plan(want, None, now=NOW).roamed == ()  # a create has no live endpoints
    assert plan(None, live, now=NOW).roamed == ()


def test_roam_describe():
    assert Roam(A, V4, V6).describe() == {'public_key': A, 'configured': V4, 'live': V6}


def test_verify_compares_only_what_the_plan_touched():
    desired = iface(peers=[Peer(A, allowed_ips=('10.1.0.0/24',)), Peer(B, allowed_ips=('10.2.0.0/24',))])
    live = iface(peers=[Peer(A, allowed_ips=('10.1.0.0/24',)),
                        Peer(B, allowed_ips=('10.2.0.0/24',), persistent_keepalive=9)])
    applied = plan(desired, live)
    assert [c.public_key for c in applied.peers] == [B]
    # after applying: B is right, A drifted meanwhile (not touched: not looked at)
    after = iface(peers=[Peer(A, allowed_ips=('10.9.0.0/24',)), Peer(B, allowed_ips=('10.2.0.0/24',))])
    assert not verify(applied, desired, after).changed
    assert plan(desired, after).changed  # a full check would see A
    # B not done: the same remaining change as a full check
    assert verify(applied, desired, live).peers == plan(desired, live).peers
    # only B's peer is needed in the live state read back
    only_b = replace(after, device=replace(after.device, peers={B: after.device.peers[B]}))
    assert not verify(applied, desired, only_b).changed
    # a create is verified in full
    created = plan(desired, None)
    assert verify(created, desired, after).peers == plan(desired, after).peers


@pytest.mark.parametrize('exclusive', [True, False])
@pytest.mark.parametrize('manage_routes', [True, False])
def test_predict_is_what_the_plan_makes(exclusive, manage_routes):
    """The diff's "after" follows the plan's own rules: planning again from it changes nothing."""
    want, live = roam_case()  # A roamed to V6 (fresh handshake)
    want = replace(want, device=replace(want.device, listen_port=None, peers={
        **want.device.peers, B: replace(PB, endpoint=None)}))  # no opinion on B's endpoint
    live_peers = {**live.device.peers, B: PB, C: PC}  # C is not desired
    live = replace(live, device=replace(live.device, listen_port=4000, peers=live_peers))
    p = plan(want, live, exclusive=exclusive, manage_routes=manage_routes, now=NOW)
    after = predict(want, live, exclusive, manage_routes, p.roamed)
    assert after.device.peers[A].endpoint == V6 and after.device.peers[B].endpoint == PB.endpoint
    assert (C in after.device.peers) is not exclusive
    assert after.device.listen_port == 4000
    assert after.link.routes == (routes_for(after.device.peers.values(), want.link.addresses)
                                 if manage_routes else live.link.routes)
    after = replace(after, device=replace(after.device, stats=live.device.stats))
    again = plan(want, after, exclusive=exclusive, manage_routes=manage_routes, now=NOW)
    assert not again.changed, again.describe()


def test_predict_of_absent_and_of_a_create():
    want = iface([PA])
    assert predict(None, iface([PA])) is None
    after = predict(want, None)
    assert after.device.peers == want.device.peers and after.link.routes == desired_routes(want)
    assert not plan(want, after).changed
