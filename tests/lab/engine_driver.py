"""Drive an engine and _iproute inside one lab host, without Ansible.

Run inside a host with either interpreter:
    <host>-python tests/lab/engine_driver.py COLLECTIONS_PATH [userspace|kernel]
(tier 1 namespace host: userspace; tier 3 VM: kernel, with the collection copied there).
Prints one JSON object per step; exits non-zero on the first failed check. Stdlib + the
collection + pyroute2 only (no pytest), so Debian's python3 (pyroute2 0.7.2) can run it too.
"""

import base64
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, sys.argv[1])

from ansible_collections.meshlab.wireguard.plugins.module_utils import (
    _engine_uapi,
    _engines,
    _iproute,
    _keys,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import (
    Device,
    Interface,
    Link,
    Peer,
    sorted_networks,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._plan import desired_routes
from ansible_collections.meshlab.wireguard.plugins.module_utils._plan import plan as make_plan

IF = 'wgdrv0'
BIG_PEER_IPS = 5000


def step(name, **data):
    print(json.dumps({'step': name, **data}), flush=True)


def check(cond, msg):
    if not cond:
        step('FAIL', msg=msg)
        sys.exit(1)


def live(engine):
    if not engine.exists(IF):
        return None
    return Interface(IF, engine.read(IF), _iproute.read_link(IF))


def main(kind):
    import pyroute2
    step('start', python=sys.version.split()[0], pyroute2=getattr(pyroute2, '__version__', '0.7.x'),
         engine=kind)
    check(_engines.engine_for_existing(IF) is None, 'interface exists before the test')
    check(_engines.resolve_engine_name('auto', IF) == kind, f'auto should pick {kind} here')
    engine = _engines.make_engine(kind)  # wireguard-go started as the modules do
    engine.preflight()

    priv = _keys.generate_private_key()
    peers = {}
    for i in range(1, 4):
        pub = _keys.public_key_of(_keys.generate_private_key())
        peers[pub] = Peer(pub, _keys.generate_preshared_key() if i == 2 else None,
                          f'198.51.100.{100 + i}:51820' if i != 3 else None,
                          (f'100.64.0.{10 + i}/32', f'10.{i}.0.0/24', f'fd3a:6c1e:9b42:{200 + i}::/64'),
                          25 if i == 1 else 0)
    desired = Interface(IF, Device(priv, 51999, 0, peers),
                        Link(True, 1380, frozenset({'100.64.0.1/24', 'fd3a:6c1e:9b42:100::1/64'}), True,
                             frozenset()))
    desired = Interface(IF, desired.device,
                        Link(True, 1380, desired.link.addresses, True, desired_routes(desired)))

    p = make_plan(desired, None)
    t0 = time.monotonic()
    engine.create(IF)
    engine.apply(IF, p)
    _iproute.apply_link(IF, p)
    step('created', seconds=round(time.monotonic() - t0, 3))
    now = live(engine)
    check(now is not None, 'not live after create')
    rest = make_plan(desired, now)
    check(not rest.changed, f'remaining plan after create: {rest.describe()}')
    check(_engines.engine_for_existing(IF) == kind, f'existing link should be {kind}')
    step('verified', routes=sorted(now.link.routes), addresses=sorted(now.link.addresses), mtu=now.link.mtu)

    # link-local addresses never show up, and IPv6 works without DAD (no 'tentative')
    # (the kernel's own fe80:: address does DAD: only our global addresses must not be tentative)
    out = subprocess.run(['ip', '-6', 'addr', 'show', 'dev', IF, 'scope', 'global'], capture_output=True,
                         text=True).stdout
    check('tentative' not in out, 'IPv6 address is tentative: ' + out)

    # updates: change one peer, remove one, add one; a link change too
    keys = sorted(peers)
    new_pub = _keys.public_key_of(_keys.generate_private_key())
    new_peers = dict(peers)
    del new_peers[keys[0]]
    p1 = peers[keys[1]]
    new_peers[keys[1]] = Peer(p1.public_key, None, p1.endpoint, ('100.64.0.99/32',), 5)
    new_peers[new_pub] = Peer(new_pub, None, '[fd3a:6c1e:9b42:1::99]:51820', ('10.99.0.0/16',), 0)
    d2 = Interface(IF, Device(priv, 51999, 7, new_peers),
                   Link(True, 1400, frozenset({'100.64.0.1/24', 'fd3a:6c1e:9b42:100::1/64'}), True,
                        frozenset()))
    d2 = Interface(IF, d2.device, Link(True, 1400, d2.link.addresses, True, desired_routes(d2)))
    p2 = make_plan(d2, now)
    step('plan2', plan=p2.describe())
    engine.apply(IF, p2)
    _iproute.apply_link(IF, p2)
    rest = make_plan(d2, live(engine))
    check(not rest.changed, f'remaining plan after update: {rest.describe()}')

    # a route on the link that is not wanted is removed; an address too
    subprocess.run(['ip', 'route', 'add', '10.250.0.0/24', 'dev', IF], check=True)
    subprocess.run(['ip', 'addr', 'add', '100.65.0.1/24', 'dev', IF], check=True)
    p3 = make_plan(d2, live(engine))
    check(p3.routes_remove == ('10.250.0.0/24',) and p3.addresses_remove == ('100.65.0.1/24',),
          f'drift not seen: {p3.describe()}')
    _iproute.apply_link(IF, p3)
    check(not make_plan(d2, live(engine)).changed, 'drift not healed')

    if kind == 'userspace':
        userspace_only(engine, d2)
    else:
        kernel_only(engine, d2)

    # delete: link gone (and for userspace: process gone, socket gone)
    pids = _engine_uapi.find_processes(IF)
    engine.delete(IF)
    check(_iproute.link_kind(IF) is None, 'link still there after delete')
    check(not any(_engine_uapi._is_running(pid) for pid in pids), f'wireguard-go {pids} still running')
    check(not os.path.exists(_engine_uapi.socket_path(IF)), 'socket left behind')

    # key material never shows up in a plan description
    text = json.dumps(make_plan(desired, None).describe())
    check(priv not in text and all(p.preshared_key not in text for p in peers.values() if p.preshared_key),
          'secret in plan description')
    scale(engine)
    step('done')


def kernel_only(engine, d2):
    """One peer with BIG_PEER_IPS allowed IPs: more than one dump message can carry (the kernel
    caps a dump message at 64 KiB), so the peer's allowed IPs continue in the next messages."""
    check(_iproute.link_kind(IF) == 'wireguard', 'the kernel engine made no wireguard link')
    big = _keys.public_key_of(_keys.generate_private_key())
    nets = tuple(f'10.200.{i // 250}.{(i % 250) + 1}/32' for i in range(BIG_PEER_IPS))
    peers = dict(d2.device.peers)
    peers[big] = Peer(big, None, '198.51.100.250:51820', sorted_networks(nets), 0)
    # an address covering them all: no route per allowed IP
    addresses = d2.link.addresses | {'10.200.0.0/16'}
    d3 = Interface(IF, Device(d2.device.private_key, d2.device.listen_port, d2.device.fwmark, peers),
                   Link(True, d2.link.mtu, addresses, True, frozenset()))
    d3 = Interface(IF, d3.device, Link(True, d3.link.mtu, d3.link.addresses, True, desired_routes(d3)))
    p = make_plan(d3, live(engine))
    engine.apply(IF, p)
    _iproute.apply_link(IF, p)
    from pyroute2 import WireGuard
    wg = WireGuard()
    try:
        messages = list(wg.info(IF))
    finally:
        wg.close()
    now = live(engine)
    check(set(now.device.peers[big].allowed_ips) == set(nets), 'allowed IPs lost in the merge')
    out = subprocess.run(['wg', 'show', IF, 'allowed-ips'], capture_output=True, text=True, check=True).stdout
    wg_count = {line.split('\t')[0]: len(line.split('\t')[1].split()) for line in out.splitlines()}
    check(wg_count[big] == BIG_PEER_IPS, f'wg show sees {wg_count[big]} allowed IPs')
    check(not make_plan(d3, now).changed, 'big peer: remaining plan')
    step('split', messages=len(messages), peer_allowed_ips=len(now.device.peers[big].allowed_ips))
    check(len(messages) > 1, 'expected the dump to span several messages')
    # back to d2 (removes the big peer)
    p = make_plan(d2, now)
    engine.apply(IF, p)
    _iproute.apply_link(IF, p)
    check(not make_plan(d2, live(engine)).changed, 'not back to d2')


def userspace_only(engine, d2):
    # killed wireguard-go: link gone, socket stale -> absent, and create recovers
    pids = _engine_uapi.find_processes(IF)
    check(len(pids) == 1, f'expected one wireguard-go, found {pids}')
    os.kill(pids[0], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _iproute.link_kind(IF) is not None:
        time.sleep(0.05)
    state = _engine_uapi.socket_state(engine.socket_path(IF))
    step('killed', socket=state, link=_iproute.link_kind(IF))
    check(not engine.exists(IF), 'killed wireguard-go still counts as existing')
    p4 = make_plan(d2, live(engine))
    check(p4.create, 'plan after kill should create')
    engine.create(IF)
    engine.apply(IF, p4)
    _iproute.apply_link(IF, p4)
    check(not make_plan(d2, live(engine)).changed, 'not healed after kill')
    check(_engine_uapi.socket_state(engine.socket_path(IF)) == 'alive', 'socket not alive after recreate')


def scale(engine, n=1000):
    """Engine-level timing: create + apply N peers and N routes, re-read and re-plan, delete."""
    name = 'wgdrv1'
    peers = {}
    for i in range(n):
        pub = base64.b64encode(os.urandom(32)).decode()
        peers[pub] = Peer(pub, None, f'198.51.100.{200 + i % 50}:{40000 + i}',
                          (f'100.80.{i // 250}.{i % 250 + 1}/32',), 0)
    desired = Interface(name, Device(_keys.generate_private_key(), 51998, 0, peers),
                        Link(True, None, frozenset({'100.79.0.1/24'}), True, frozenset()))
    desired = Interface(name, desired.device, Link(True, None, desired.link.addresses, True,
                                                   desired_routes(desired)))
    try:
        t0 = time.monotonic()
        p = make_plan(desired, None)
        engine.create(name)
        engine.apply(name, p)
        _iproute.apply_link(name, p)
        t_apply = time.monotonic() - t0
        t0 = time.monotonic()
        live_now = Interface(name, engine.read(name), _iproute.read_link(name))
        rest = make_plan(desired, live_now)
        t_reread = time.monotonic() - t0
        check(not rest.changed, f'{n} peers: remaining plan {rest.describe()}')
        check(len(live_now.device.peers) == n and len(live_now.link.routes) == n, f'{n} peers not all there')
        step('scale', peers=n, apply_seconds=round(t_apply, 3), reread_and_plan_seconds=round(t_reread, 3))
    finally:
        engine.delete(name)


if __name__ == '__main__':
    try:
        main(sys.argv[2] if len(sys.argv) > 2 else 'userspace')
    finally:
        if _iproute.link_kind(IF) is not None:
            _iproute.delete_link(IF)
