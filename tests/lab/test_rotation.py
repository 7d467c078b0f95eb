"""Key rotation on lab tier 1 (wireguard-go): playbooks/rotate.yml on a converged mesh with
preshared keys on two networks and a phone on h3, with 10 ms ping streams in both directions
across every link of the rotating hosts. One host, then the whole fleet, then a rotation whose
ansible-playbook is killed half-way and a re-run that completes it."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from ping_streams import PingStreams, ping_argv, summary, switch_report, within_bound
from role_helpers import (
    COLLECTIONS,
    LAB_VARS,
    ROOT,
    registry,
    run_site,
    state_dir,
    tunnel_ip,
    wg_peers,
    wg_public_key,
)

pytestmark = pytest.mark.lab

INV = [os.path.join(ROOT, 'tests', 'lab', 'inventory', 'rotation.yml')]
ROTATE = os.path.join(ROOT, 'playbooks', 'rotate.yml')
HOSTS = ('h1', 'h2', 'h3')


@pytest.fixture(scope='module')
def lab(nslab_module_factory):
    lab = nslab_module_factory(3)
    run = run_site(lab, INV, label='rotation: converge')
    assert run.rc == 0, run.tail()
    return lab


def rotate(lab, extra=None, label='rotate'):
    args = ['-e', json.dumps(extra)] if extra else []
    run = run_site(lab, INV, args=args, playbook=ROTATE, label=label)
    run.ended_at = time.time()
    return run


def streams_for(lab, hosts):
    """Both directions of every wg0 (IPv4) and wg1 (IPv6) link that touches HOSTS."""
    reg = registry(lab)
    streams = PingStreams()
    links = {(a, b) for a in hosts for b in HOSTS if a != b}
    pairs = sorted(links | {(b, a) for a, b in links})
    for src, dst in pairs:
        for net, version in (('wg0', 4), ('wg1', 6)):
            address = tunnel_ip(reg, dst, net, version)
            # every link answers before the streams start: a first handshake that a converge left
            # to the next packet (retried after 5 s when both ends start it at once) is not the
            # rotation's loss
            warm = lab.exec(src, ['ping', '-n', '-c', '1', '-w', '30', address], check=False)
            assert warm.returncode == 0, (src, dst, net, warm.stdout)
            streams.start(f'{src}->{dst} {net}',
                          lambda address=address, src=src, **kw: lab.popen(src, ping_argv(address), **kw))
    time.sleep(1.0)  # every stream running (and its first handshake done) before the change
    return streams


def key_files(lab, host):
    return sorted(lab.exec(host, 'ls /etc/wireguard').stdout.split())


def assert_converged_with(lab, host, keys):
    """HOST's live keys are KEYS, every peer has them, the registry says so, and nothing is pending."""
    reg = registry(lab)
    for net in ('wg0', 'wg1'):
        assert wg_public_key(lab, host, net) == keys[net]
        entry = reg['networks'][net]['hosts'][host]
        assert entry['public_key'] == keys[net]
        assert 'next_public_key' not in entry and isinstance(entry['key_created'], int)
        for other in HOSTS:
            if other != host:
                peers = wg_peers(lab, other, net)
                assert keys[net] in peers, (other, net)
                assert entry['previous_public_key'] not in peers
    assert not [f for f in key_files(lab, host) if f.endswith(('.next', '.old'))]


def assert_no_loss(results, run):
    """Every stream ran across the whole rotation (a reply after it ended) and lost nothing but, at
    most, single packets caught in a replaced peer's pipeline (ping_streams.within_bound)."""
    print('switches:', switch_report(run.stdout))
    for name, r in results.items():
        assert r['last_reply_at'] and r['last_reply_at'] > run.ended_at, (name, r)
        assert within_bound(r), (name, r, switch_report(run.stdout))


def test_a_host_with_clients_is_refused_without_consent(lab):
    before = registry(lab)
    files = {h: key_files(lab, h) for h in HOSTS}
    run = rotate(lab, {'wireguard_rotate_hosts': ['h3']}, label='rotation: refused (clients)')
    assert run.rc != 0
    assert 'wireguard_rotate_with_clients=true' in run.stdout and 'phone' in run.stdout
    assert registry(lab) == before
    assert {h: key_files(lab, h) for h in HOSTS} == files
    assert run.total_changed() == 0


def test_one_host_rotates_without_losing_a_packet(lab):
    old = {net: wg_public_key(lab, 'h2', net) for net in ('wg0', 'wg1')}
    streams = streams_for(lab, ['h2'])
    try:
        run = rotate(lab, {'wireguard_rotate_hosts': ['h2']}, label='rotation: h2')
    finally:
        results = streams.stop()
    print('one host:', summary(results))
    assert run.rc == 0, run.tail()
    new = {net: wg_public_key(lab, 'h2', net) for net in ('wg0', 'wg1')}
    assert all(new[n] != old[n] for n in new)
    assert_converged_with(lab, 'h2', new)
    assert_no_loss(results, run)
    # the rotation left what site.yml builds: a converge changes nothing (PSKs follow the keys)
    again = run_site(lab, INV, label='rotation: converge after h2')
    assert again.rc == 0 and again.total_changed() == 0, again.tail()
    assert all(p['psk'] for p in wg_peers(lab, 'h1', 'wg0').values())


def test_the_whole_fleet_rotates_host_by_host_with_a_new_psk_secret(lab):
    old = {h: wg_public_key(lab, h, 'wg0') for h in HOSTS}
    secret_path = os.path.join(state_dir(lab), 'psk.secret')
    with open(secret_path) as f:
        old_secret = f.read()
    streams = streams_for(lab, list(HOSTS))
    try:
        run = rotate(lab, {'wireguard_rotate_with_clients': True, 'wireguard_rotate_psk_secret': True},
                     label='rotation: fleet and PSK secret')
    finally:
        results = streams.stop()
    print('fleet:', summary(results))
    assert run.rc == 0, run.tail()
    for h in HOSTS:
        assert_converged_with(lab, h, {n: wg_public_key(lab, h, n) for n in ('wg0', 'wg1')})
        assert wg_public_key(lab, h, 'wg0') != old[h]
    assert_no_loss(results, run)
    # the phone's config was issued again with h3's new key (its old config stops working)
    with open(os.path.join(state_dir(lab), 'clients', 'wg0', 'phone.conf')) as f:
        phone = f.read()
    assert wg_public_key(lab, 'h3', 'wg0') in phone and old['h3'] not in phone
    # a new secret, the old one kept beside it; the live preshared keys are the new secret's
    with open(secret_path) as f:
        assert f.read() != old_secret
    with open(secret_path + '.old') as f:
        assert f.read() == old_secret
    assert old_secret.strip() not in run.stdout + run.stderr
    again = run_site(lab, INV, label='rotation: converge after the fleet')
    assert again.rc == 0 and again.total_changed() == 0, again.tail()


def test_health_reports_keys_older_than_the_maximum_age(lab):
    health = os.path.join(ROOT, 'playbooks', 'health.yml')
    time.sleep(2)
    run = run_site(lab, INV, args=['-e', '{"wireguard_key_max_age": 0.00001}'], playbook=health,
                   label='rotation: health with a maximum key age')
    assert run.rc == 0, run.tail()
    for h in HOSTS:
        assert f'{h} wg0: the private key is 0 days old (wireguard_key_max_age is 1e-05)' in run.stdout
    run = run_site(lab, INV, args=['-e', '{"wireguard_key_max_age": 365}'], playbook=health,
                   label='rotation: health, keys young enough')
    assert run.rc == 0 and 'the private key is' not in run.stdout


def test_a_killed_rotation_is_completed_by_a_re_run(lab):
    """ansible-playbook is killed as soon as the registry holds h1's new key (after the key file
    was switched, around the armed switch): every pair keeps a working key, and a re-run completes
    the rotation instead of making another key."""
    old = wg_public_key(lab, 'h1', 'wg0')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR='1')
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', lab.inventory_path,
           '-i', INV[0], '-i', LAB_VARS, ROTATE, '-e', '{"wireguard_rotate_hosts": ["h1"]}']
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    in_flight = None
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            entry = registry(lab)['networks']['wg0']['hosts']['h1']
            if entry.get('next_public_key') and entry['next_public_key'] == entry['public_key']:
                in_flight = entry['public_key']
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert in_flight and in_flight != old
    time.sleep(8)  # an armed switch (if any) has happened by now
    # every pair still has a working key: h1 and its peers agree on one of its two keys
    live = wg_public_key(lab, 'h1', 'wg0')
    assert live in (old, in_flight)
    for other in ('h2', 'h3'):
        assert live in wg_peers(lab, other, 'wg0')
    run = rotate(lab, {'wireguard_rotate_hosts': ['h1']}, label='rotation: re-run after kill')
    assert run.rc == 0, run.tail()
    assert wg_public_key(lab, 'h1', 'wg0') == in_flight  # completed, not rotated twice
    assert_converged_with(lab, 'h1', {n: wg_public_key(lab, 'h1', n) for n in ('wg0', 'wg1')})
    reg = registry(lab)
    for other in ('h2', 'h3'):
        proc = lab.exec(other, ['ping', '-n', '-c', '2', '-W', '2', tunnel_ip(reg, 'h1', 'wg0', 4)],
                        check=False)
        assert proc.returncode == 0, proc.stdout
