"""wireguard_interface against real hosts: a 3-host full mesh through Ansible playbooks.

Default target: lab tier 1 (3 namespace hosts, wireguard-go picked by engine=auto). Choose targets
with WG_IFACE_TARGETS (comma separated names of helpers_interface.TARGET_FACTORIES): `vm` is lab
tier 3 (3 QEMU VMs, kernel WireGuard picked by engine=auto, systemd=auto). The tests only use the
Target interface, so both run the same checks.

Covers: keys via wireguard_key; mesh over IPv4 and IPv6 (ping every pair both ways); four runs
(check, run, check, run -> changed True, True, False, False); check-mode plans equal executed
plans; handshake and counters of an untouched peer survive add/change/remove of others; drift
(peer removed with `wg set`, interface deleted, wireguard-go killed) reported by check mode and
healed; wg-quick down/up from the written config equals desired; no secret in -v/--diff output;
state=absent; a 1,000-peer interface applied and re-applied (timings in the summary).

One 3-host lab per target for the module, tests in file order: a test that needs the plain mesh
asks for it with mesh_ready(), which applies it only when it may not be in place (every real run
and hand-made change clears target.mesh_ok; an unchanged check or re-run of the mesh sets it), so
no unchanged apply is repeated between tests; the drifts run at once, one per host.

Run: .venv/bin/pytest -m lab tests/lab/test_wireguard_interface.py -q   (root)
     WG_IFACE_TARGETS=vm .venv/bin/pytest -m kernel tests/lab/test_wireguard_interface.py -q
"""
import base64
import os
import time

import pytest
from helpers_interface import (
    IFNAME,
    INTERFACE_PLAYBOOK,
    KEY_DIR,
    TARGET_FACTORIES,
    diagnose,
    mesh_vars,
    ping,
    ping_until,
    plan_summary,
    public_keys,
    random_public_key,
    run,
    secret_forms,
    task_result,
    wg_dump,
    wireguard_go_pids,
)
from pytest_nslab import TIMINGS

pytestmark = pytest.mark.lab

TARGETS = [pytest.param(t, marks=pytest.mark.kernel) if t == 'vm' else t
           for t in os.environ.get('WG_IFACE_TARGETS', 'nslab').split(',') if t]


@pytest.fixture(scope='module', params=TARGETS)
def target(request, nslab_module_factory):
    factory = TARGET_FACTORIES.get(request.param)
    if factory is None:
        pytest.skip(f'unknown target {request.param!r} (known: {", ".join(TARGET_FACTORIES)})')
    return factory(request, nslab_module_factory)


@pytest.fixture(scope='module')
def pubs(target):
    return public_keys(target)


def apply(target, extra_vars, check=False, args=(), expect_rc=0):
    if not check:
        target.mesh_ok = False  # a real run may leave something else than the plain mesh
    rc, out, err, results, seconds = run(target, INTERFACE_PLAYBOOK, extra_vars, check=check, args=args)
    assert rc == expect_rc, (out[-4000:], err[-4000:])
    return results, seconds


def results_of(target, results):
    return {h: task_result(results, h) for h in target.hosts if h in results}


def changed_of(target, results):
    return {h: r['changed'] for h, r in results_of(target, results).items()}


def plans_of(target, results):
    return {h: r['plan'] for h, r in results_of(target, results).items()}


def assert_mesh_carries_traffic(target, first=()):
    """Every pair over IPv4. The hosts FIRST (re-created interfaces) ping before the others: their
    peers still hold a session the new interface forgot, and would send into it for 15 s
    (keepalive + rekey timeout) before they start a handshake themselves."""
    for src in sorted(target.hosts, key=lambda h: h not in first):
        for dst in target.hosts:
            if src != dst:
                assert ping_until(target, src, target.tunnel4(dst)), (
                    f'{src} -> {dst} over IPv4\n' + diagnose(target, (src, dst)))


def ensure_mesh(target, pubs, first=()):
    """Apply the plain mesh (real run) and make sure every tunnel carries traffic."""
    results, _ = apply(target, mesh_vars(target, pubs))
    assert_mesh_carries_traffic(target, first)
    target.mesh_ok = True
    return results


def mesh_ready(target, pubs):
    """The plain mesh with every tunnel carrying traffic, applied only when it may not be in place.

    Every real run (apply) and every change made by hand clears ``target.mesh_ok``; a step that
    proved the plain mesh in place (an apply or check of it with changed=0 on every host) sets it.
    A test that failed half-way leaves it clear, so the next test applies the mesh again. An
    unchanged apply on a TCG VM costs about 17 s and proves nothing a later assertion needs.
    """
    if not target.mesh_ok:
        return ensure_mesh(target, pubs)
    assert_mesh_carries_traffic(target)
    return None


def all_pairs(target):
    return [(a, b) for a in target.hosts for b in target.hosts if a != b]


# --------------------------------------------------------------------------- basic life cycle

def test_four_runs_and_check_mode_accuracy_on_create(target, pubs):
    v = mesh_vars(target, pubs)
    checked, _ = apply(target, v, check=True)
    assert all(changed_of(target, checked).values()), changed_of(target, checked)
    for h, r in results_of(target, checked).items():
        assert r['plan']['create'] is True, h
        assert r['engine'] == target.expected_engine
        assert r['config_changed'] is True
    # check mode changed nothing: no interface, no config file
    for h in target.hosts:
        assert target.sh(h, f'ip link show {IFNAME}', check=False).returncode != 0
        assert target.sh(h, f'test -e {KEY_DIR}/{IFNAME}.conf', check=False).returncode != 0

    applied, t_apply = apply(target, v)
    assert all(changed_of(target, applied).values())
    assert plans_of(target, applied) == plans_of(target, checked), 'check mode predicted another plan'
    for h, r in results_of(target, applied).items():
        assert r['engine'] == target.expected_engine
        assert r['public_key'] == pubs[h]

    checked2, _ = apply(target, v, check=True)
    applied2, t_again = apply(target, v)
    assert not any(changed_of(target, checked2).values()), {h: plan_summary(p) for h, p in
                                                            plans_of(target, checked2).items()}
    assert not any(changed_of(target, applied2).values())
    target.mesh_ok = True  # the plain mesh, unchanged on a re-run (its traffic: mesh_ready)
    TIMINGS.append((f'{target.name}: mesh of {len(target.hosts)} apply', t_apply))
    TIMINGS.append((f'{target.name}: mesh of {len(target.hosts)} re-apply', t_again))


def test_config_file_written_0600_with_peer_names(target, pubs):
    for h in target.hosts:
        mode = target.sh(h, f'stat -c %a {KEY_DIR}/{IFNAME}.conf').stdout.strip()
        assert mode == '600'
        text = target.sh(h, f'cat {KEY_DIR}/{IFNAME}.conf').stdout
        others = [o for o in target.hosts if o != h]
        assert all(f'# Name = {o}' in text for o in others), text
        assert all(pubs[o] in text for o in others), text


def test_mesh_pings_every_pair_ipv4_and_ipv6(target, pubs):
    mesh_ready(target, pubs)
    failures = []
    for src, dst in all_pairs(target):
        for addr in (target.tunnel4(dst), target.tunnel6(dst)):
            if not ping_until(target, src, addr, seconds=10):
                failures.append(f'{src} -> {dst} {addr}')
    assert not failures, failures


def test_check_mode_accuracy_on_mixed_update(target, pubs):
    mesh_ready(target, pubs)
    first, second = target.hosts[0], target.hosts[1]
    psk = base64.b64encode(os.urandom(32)).decode()
    v = mesh_vars(target, pubs, psks={frozenset((first, second)): psk})
    v['wg_addresses'][first].append('100.64.9.1/24')
    for item in v['wg_peers'][first]:
        if item['name'] == target.hosts[2]:
            item['persistent_keepalive'] = 25
            item['allowed_ips'].append('10.77.0.0/24')
    checked, _ = apply(target, v, check=True)
    applied, _ = apply(target, v)
    assert plans_of(target, applied) == plans_of(target, checked)
    plan = plans_of(target, applied)[first]
    assert plan['addresses_add'] == ['100.64.9.1/24']
    assert plan['routes_add'] == ['10.77.0.0/24']
    assert sorted(c['action'] for c in plan['peers']) == ['update', 'update'], plan['peers']
    # the PSK pair still talks (both ends got the same key)
    assert ping_until(target, first, target.tunnel4(second))
    again, _ = apply(target, v, check=True)
    assert not any(changed_of(target, again).values())
    # the next test that needs the plain mesh applies it (mesh_ready): no run here to go back


# --------------------------------------------------------------------------- sessions survive

REKEY_AFTER_TIME = 120  # WireGuard starts a new handshake on a session this old (whitepaper 6.1)


def assert_same_session(b, a):
    """The peer was not re-created between the dumps B and A: its counters only grew, and its
    handshake is the same one, or a rekey WireGuard itself makes REKEY_AFTER_TIME after the last
    (a slow apply on a loaded machine can take that long); a re-created peer starts from zero
    counters and handshakes again within seconds."""
    assert a['rx'] >= b['rx'] and a['tx'] >= b['tx'], ('counters went back: the peer was re-created', b, a)
    if a['handshake'] != b['handshake']:
        assert a['handshake'] - b['handshake'] >= REKEY_AFTER_TIME - 10, ('a new handshake before '
                                                                         'the rekey time', b, a)

def test_untouched_peer_keeps_handshake_and_counters(target, pubs):
    first, keep, change = target.hosts[0], target.hosts[1], target.hosts[2]
    doomed = {'name': 'doomed', 'public_key': random_public_key(), 'allowed_ips': ['100.64.0.200/32']}
    v1 = mesh_vars(target, pubs, extra_peers={first: [doomed]})
    apply(target, v1)
    for dst in (keep, change):
        assert ping_until(target, first, target.tunnel4(dst))
    before = wg_dump(target, first)
    assert before[pubs[keep]]['handshake'] > 0 and before[pubs[keep]]['rx'] > 0, before[pubs[keep]]
    time.sleep(1.1)  # a re-created peer would have handshake 0 or a newer timestamp

    newcomer = {'name': 'newcomer', 'public_key': random_public_key(), 'allowed_ips': ['100.64.0.201/32']}
    v2 = mesh_vars(target, pubs, extra_peers={first: [newcomer]})
    for item in v2['wg_peers'][first]:
        if item['name'] == change:
            item['persistent_keepalive'] = 15
    results, _ = apply(target, v2)
    plan = plans_of(target, results)[first]
    touched = {(c['action'], c['public_key']) for c in plan['peers']}
    assert touched == {('remove', doomed['public_key']), ('add', newcomer['public_key']),
                       ('update', pubs[change])}, plan['peers']

    after = wg_dump(target, first)
    assert_same_session(before[pubs[keep]], after[pubs[keep]])
    assert_same_session(before[pubs[change]], after[pubs[change]])
    assert doomed['public_key'] not in after and newcomer['public_key'] in after
    assert ping(target, first, target.tunnel4(keep))


# --------------------------------------------------------------------------- drift

def _remove_peer(target, host, pubs):
    other = next(h for h in target.hosts if h != host)
    target.sh(host, f'wg set {IFNAME} peer {pubs[other]} remove')


def _delete_interface(target, host, pubs):
    target.sh(host, f'ip link del {IFNAME}')


def _kill_wireguard_go(target, host, pubs):
    pids = wireguard_go_pids(target, host)
    assert len(pids) == 1, pids
    target.sh(host, f'kill -9 {pids[0]}')
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if target.sh(host, f'ip link show {IFNAME}', check=False).returncode != 0:
            break
        time.sleep(0.1)
    # the socket file stays behind: the module must see a dead socket as "absent"
    assert target.sh(host, f'test -S /var/run/wireguard/{IFNAME}.sock', check=False).returncode == 0


# name -> (make the drift, what the check-mode plan must hold, engines it exists on)
DRIFTS = {'peer-removed': (_remove_peer, 'peers', ('userspace', 'kernel')),
          'interface-deleted': (_delete_interface, 'create', ('userspace', 'kernel')),
          'wireguard-go-killed': (_kill_wireguard_go, 'create', ('userspace',))}


def test_drift_is_reported_and_healed(target, pubs):
    """Each drift of DRIFTS on a host of its own, all at once: one check run reports exactly the
    drifted hosts, each with its own plan (the hosts are independent: a host's plan is computed
    from its own live state), one run heals them with that plan, a check run after it is clean,
    and every drifted host talks to every other over IPv4 and IPv6."""
    mesh_ready(target, pubs)
    drifts = [d for d in DRIFTS if target.expected_engine in DRIFTS[d][2]]
    assert len(drifts) <= len(target.hosts)
    on = dict(zip(drifts, target.hosts))  # drift -> host
    target.mesh_ok = False
    for drift, host in on.items():
        DRIFTS[drift][0](target, host, pubs)
    v = mesh_vars(target, pubs)
    checked, _ = apply(target, v, check=True)
    changed = changed_of(target, checked)
    assert changed == {h: h in on.values() for h in target.hosts}, (on, changed)
    plans = plans_of(target, checked)
    for drift, host in on.items():
        plan = plans[host]
        if DRIFTS[drift][1] == 'create':
            assert plan['create'] is True, (drift, plan)
        else:
            assert [c['action'] for c in plan['peers']] == ['add'], (drift, plan)
    healed, _ = apply(target, v)
    assert {h: plans_of(target, healed)[h] for h in on.values()} == {h: plans[h] for h in on.values()}
    again, _ = apply(target, v, check=True)
    assert not any(changed_of(target, again).values()), {
        h: (plan_summary(plans_of(target, again)[h]),
            target.sh(h, f'ls -l /var/run/wireguard; ip link show {IFNAME}', check=False).stdout,
            wireguard_go_pids(target, h)) for h in on.values()}
    # re-created interfaces ping first (assert_mesh_carries_traffic)
    for drift, host in sorted(on.items(), key=lambda item: DRIFTS[item[0]][1] != 'create'):
        for dst in (h for h in target.hosts if h != host):
            assert ping_until(target, host, target.tunnel4(dst)), f'{host} -> {dst} after healing {drift}'
            assert ping_until(target, host, target.tunnel6(dst)), f'{host} -> {dst} v6 after healing {drift}'
    target.mesh_ok = True  # healed into the plain mesh: a check run of it changes nothing


def test_wg_quick_restart_from_written_config(target, pubs):
    mesh_ready(target, pubs)
    host = target.hosts[0]
    target.mesh_ok = False
    target.sh(host, f'wg-quick down {IFNAME}', timeout=60)
    assert target.sh(host, f'ip link show {IFNAME}', check=False).returncode != 0
    target.sh(host, f'wg-quick up {IFNAME}', timeout=60)
    checked, _ = apply(target, mesh_vars(target, pubs), check=True)
    assert not any(changed_of(target, checked).values()), plan_summary(plans_of(target, checked)[host])
    for dst in target.hosts[1:]:
        assert ping_until(target, host, target.tunnel4(dst))
        assert ping_until(target, host, target.tunnel6(dst))
    target.mesh_ok = True  # the config wg-quick brought back is the plain mesh (check: no change)


# --------------------------------------------------------------------------- secrets

def test_secrets_never_in_output(target, pubs):
    mesh_ready(target, pubs)
    first, second = target.hosts[0], target.hosts[1]
    psk = base64.b64encode(os.urandom(32)).decode()
    secrets = []
    for h in target.hosts:
        secrets += secret_forms(target.sh(h, f'cat {KEY_DIR}/{IFNAME}.key').stdout.strip())
    secrets += secret_forms(psk)
    v = mesh_vars(target, pubs, psks={frozenset((first, second)): psk})
    outputs = []
    target.mesh_ok = False  # the real run below gives first and second a PSK
    for check in (True, False):
        rc, out, err, _, _ = run(target, INTERFACE_PLAYBOOK, v, check=check, args=['-v', '--diff'],
                                 json_output=False)
        assert rc == 0, out[-3000:]
        outputs.append(out + err)
    # an input error in a run that carries the PSK inline
    bad = mesh_vars(target, pubs, psks={frozenset((first, second)): psk})
    bad['wg_peers'][first][0]['allowed_ips'].append('not-a-network')
    rc, out, err, _, _ = run(target, INTERFACE_PLAYBOOK, bad, args=['-vvv'], json_output=False)
    assert rc != 0 and 'not-a-network' in out
    outputs.append(out + err)
    text = '\n'.join(outputs)
    leaked = [s[:6] + '...' for s in secrets if s in text]
    assert not leaked, f'secrets in the output: {leaked}'
    assert pubs[first] in text  # the public keys are shown


# --------------------------------------------------------------------------- absent

def test_state_absent_and_back(target, pubs):
    host = target.hosts[-1]
    absent = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Interface
      meshlab.wireguard.wireguard_interface:
        name: "{{ wg_ifname }}"
        state: absent
        systemd: "{{ wg_systemd }}"
      when: inventory_hostname == wg_host
"""
    v = {'wg_ifname': IFNAME, 'wg_host': host, 'wg_systemd': target.systemd}
    rcs = []
    target.mesh_ok = False
    for check in (True, False, True, False):
        rc, out, _err, results, _ = run(target, absent, v, check=check)
        assert rc == 0, out[-3000:]
        rcs.append(task_result(results, host)['changed'])
    assert rcs == [True, True, False, False]
    assert target.sh(host, f'ip link show {IFNAME}', check=False).returncode != 0
    assert target.sh(host, f'test -e {KEY_DIR}/{IFNAME}.conf', check=False).returncode != 0
    assert not wireguard_go_pids(target, host)
    ensure_mesh(target, pubs, first=[host])


# --------------------------------------------------------------------------- scale

def test_thousand_peers(target, request):
    if request.node.callspec.params.get('target') == 'vm':
        # 216 s on the TCG VMs for what two cheaper tests already prove there and here: the kernel
        # engine with 1000 peers + routes, create, apply and an unchanged re-read, on both pyroute2
        # lines (test_engines_kernel.py), and the module's run / re-run / check mode at 1000 peers
        # (this test on tier 1; the module code above the engine is the same).
        pytest.skip('1000 peers on the kernel: proven by test_engines_kernel.py (engine) and tier 1 (module)')
    host = target.hosts[0]
    ifname = 'wg1'
    keys = public_keys(target, ifname=ifname)
    assert keys[host]
    peers = []
    for i in range(1000):
        peers.append({
            'public_key': random_public_key(),
            'allowed_ips': [f'100.80.{i // 250}.{i % 250 + 1}/32'],
            'endpoint': f'198.51.100.{200 + i % 50}:{40000 + i}',
            'persistent_keepalive': 0,
        })
    v = {'wg_ifname': ifname, 'wg_engine': target.engine_option, 'wg_systemd': target.systemd,
         'wg_port': {host: 51900}, 'wg_addresses': {host: ['100.79.0.1/24']}, 'wg_peers': {host: peers}}
    applied, t_apply = apply(target, v)
    r = task_result(applied, host)
    counts = r['plan']['counts']
    assert r['changed'] and counts['peers_add'] == 1000 and counts['routes_add'] == 1000
    # the result lists the first 20 of each (Ansible scans a whole result for secrets)
    assert len(r['plan']['peers']) == 20 and len(r['plan']['routes_add']) == 20 and r['plan']['truncated']
    again, t_again = apply(target, v)
    assert task_result(again, host)['changed'] is False
    checked, t_check = apply(target, v, check=True)
    assert task_result(checked, host)['changed'] is False
    dump = wg_dump(target, host, ifname)
    assert len(dump) == 1000
    routes = target.sh(host, f'ip -4 route show dev {ifname} | grep -c "^100.80."').stdout.strip()
    assert routes == '1000'
    TIMINGS.append((f'{target.name}: 1000 peers apply (playbook)', t_apply))
    TIMINGS.append((f'{target.name}: 1000 peers re-apply (playbook, changed=0)', t_again))
    TIMINGS.append((f'{target.name}: 1000 peers check mode (playbook)', t_check))
    print(f'1000 peers: apply {t_apply:.1f}s, re-apply {t_again:.1f}s, check {t_check:.1f}s')
    rc, out, _, _, _ = run(target, """
- hosts: all
  gather_facts: false
  tasks:
    - meshlab.wireguard.wireguard_interface: {name: wg1, state: absent, systemd: "{{ wg_systemd }}"}
""", {'wg_systemd': target.systemd})
    assert rc == 0, out[-2000:]
