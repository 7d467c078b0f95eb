"""wireguard_interface module logic with an in-memory engine (no host, no pyroute2 calls).

main() runs with exit_json/fail_json patched to raise; the engine and the ip-link side are fakes
that keep a Device and a Link in memory and apply plans to them, so check mode, the real run,
verification, persistence, systemd handling, diffs and secrets can be checked quickly.
"""
import base64
import json
import os
import stat
import time
from dataclasses import replace

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.meshlab.wireguard.plugins.module_utils import _interface_backend as backend
from ansible_collections.meshlab.wireguard.plugins.module_utils import _keys, _systemd
from ansible_collections.meshlab.wireguard.plugins.module_utils._engines import EngineError
from ansible_collections.meshlab.wireguard.plugins.module_utils._interface_config import redact_config
from ansible_collections.meshlab.wireguard.plugins.module_utils._interface_unit import DROPIN_CONTENT
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import (
    HANDSHAKE_FRESH_SECONDS,
    Device,
    Link,
    PeerStats,
)
from ansible_collections.meshlab.wireguard.plugins.modules import wireguard_interface as mod


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


class FakeHost:
    """One interface's live state plus a log of what was done to it."""

    def __init__(self):
        self.device = None
        self.link = None
        self.calls = []
        self.drop_peers = False  # a broken engine: ignores peer changes (verification must catch it)
        self.commands = []
        self.unit_enabled = False
        self.unit_active = False
        self.cannot_create = False
        self.stats = {}  # {public_key: PeerStats} that read() reports
        self.roam_after_apply = {}  # {public_key: endpoint}: a packet from there arrives right after apply
        self.reads = []  # the `peers` argument of every engine read (None = all)
        self.dies_after_create = 0  # this many created devices are gone right after configuring
        self.kernel_flushes_routes = False  # removing an address drops the link's routes
        self.restore_routes = True  # apply_link adds the flushed desired routes again


def roam(host, public_key, endpoint):
    """The peer's endpoint moves to ENDPOINT, as WireGuard does on an authenticated packet."""
    peers = dict(host.device.peers)
    peers[public_key] = replace(peers[public_key], endpoint=endpoint)
    host.device = replace(host.device, peers=peers)


class FakeEngine:
    kind = 'userspace'

    def __init__(self, host):
        self.host = host

    def exists(self, name):
        return self.host.device is not None

    def preflight(self):
        if self.host.cannot_create:
            raise EngineError('wireguard-go is not installed (the userspace engine runs it)')

    def create(self, name):
        self.host.calls.append('create')
        self.host.device = Device(listen_port=40000)
        self.host.link = Link(exists=True, mtu=1420, up=False)

    def delete(self, name):
        self.host.calls.append('delete')
        self.host.device = None
        self.host.link = None

    def read(self, name, peers=None):
        self.host.reads.append(None if peers is None else sorted(peers))
        dev = replace(self.host.device, stats=dict(self.host.stats))
        if peers is not None:  # like the real engines: the other peers are not returned
            dev = replace(dev, peers={k: p for k, p in dev.peers.items() if k in peers},
                          stats={k: v for k, v in dev.stats.items() if k in peers})
        return dev

    def apply(self, name, plan):
        self.host.calls.append('apply')
        dev = self.host.device
        fields = dict(plan.device)
        peers = dict(dev.peers)
        if not self.host.drop_peers:
            for change in plan.peers:
                if change.action == 'remove':
                    peers.pop(change.public_key, None)
                elif change.action == 'add':
                    peers[change.public_key] = change.peer
                else:  # update: only the listed fields, like the real engines
                    new = {f: getattr(change.peer, f) for f in change.fields}
                    peers[change.public_key] = replace(peers[change.public_key], **new)
        self.host.device = replace(dev, peers=peers, **fields)
        for key, endpoint in self.host.roam_after_apply.items():
            if key in peers:
                roam(self.host, key, endpoint)


def fake_read_link(host):
    return lambda name: host.link


def fake_apply_link(host):
    def apply_link(name, plan, desired_routes=()):
        host.calls.append('apply_link')
        link = host.link
        addrs = (set(link.addresses) - set(plan.addresses_remove)) | set(plan.addresses_add)
        routes = set(link.routes)
        if plan.addresses_remove and host.kernel_flushes_routes:
            # the kernel drops the routes through a link when its last old address goes;
            # _iproute.apply_link then adds the desired ones that are missing
            routes = set(desired_routes) if host.restore_routes else set()
        routes = (routes - set(plan.routes_remove)) | set(plan.routes_add)
        host.link = replace(link, mtu=plan.mtu if plan.mtu is not None else link.mtu,
                            addresses=frozenset(addrs), routes=frozenset(routes),
                            up=True if plan.set_up else link.up)
        if plan.create and host.dies_after_create:  # the daemon exits right after its start
            host.dies_after_create -= 1
            host.device = host.link = None
    return apply_link


@pytest.fixture
def host(monkeypatch, tmp_path):
    h = FakeHost()
    h.resolved = []

    def resolve(name, ifname, probe=True):
        h.resolved.append(name)
        if name == 'auto' and h.device is None and not probe:
            return None
        return 'userspace'

    monkeypatch.setattr(backend, 'resolve_engine_name', resolve)
    monkeypatch.setattr(backend, 'make_engine', lambda kind: FakeEngine(h))
    monkeypatch.setattr(backend._iproute, 'read_link', fake_read_link(h))
    monkeypatch.setattr(backend._iproute, 'apply_link', fake_apply_link(h))
    monkeypatch.setattr(_systemd, 'RUNNING_DIR', str(tmp_path / 'no-systemd'))
    monkeypatch.setattr(_systemd, 'UNIT_DIR', str(tmp_path / 'etc-systemd-system'))
    h.loaded_dropin = None  # the drop-in as systemd last loaded it (daemon-reload)

    def run_command(self, args, **kw):
        h.commands.append(list(args))
        verb = args[1]
        if verb == 'is-enabled':
            return (0, 'enabled\n', '') if h.unit_enabled else (1, 'disabled\n', '')
        if verb == 'is-active':
            return (0, 'active\n', '') if h.unit_active else (3, 'inactive\n', '')
        if verb == 'daemon-reload':
            path = tmp_path / 'etc-systemd-system' / 'wg-quick@wg0.service.d' / 'meshlab-wireguard.conf'
            h.loaded_dropin = path.read_bytes() if path.exists() else None
        elif verb == 'enable':
            h.unit_enabled = True
        elif verb == 'disable':
            h.unit_enabled = False
        elif verb == 'start':
            if h.device is not None and h.loaded_dropin != DROPIN_CONTENT:
                return 1, '', 'wg-quick: `wg0\' already exists'  # plain wg-quick up on a live link
            h.unit_active = True
        elif verb == 'stop':
            h.unit_active = False
            h.device = None
            h.link = None
        return 0, '', ''

    monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path',
                        lambda self, name, required=False, opt_dirs=None: '/bin/' + name)
    return h


@pytest.fixture
def run(monkeypatch):
    def exit_json(self, **kwargs):
        raise ExitJson(kwargs)

    def fail_json(self, msg, **kwargs):
        kwargs.update(failed=True, msg=msg)
        raise FailJson(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)

    def _run(args, check=False, diff=False):
        args = dict(args)
        args['_ansible_check_mode'] = check
        args['_ansible_diff'] = diff
        with patch_module_args(args):
            try:
                mod.main()
            except ExitJson as e:
                return e.args[0]
        raise AssertionError('module did not exit')

    return _run


def fail(run, args, **kw):
    with pytest.raises(FailJson) as e:
        run(args, **kw)
    return e.value.args[0]


PRIV = _keys.generate_private_key()
PUB = _keys.public_key_of(PRIV)
PEER1 = _keys.public_key_of(_keys.generate_private_key())
PEER2 = _keys.public_key_of(_keys.generate_private_key())
PSK = _keys.generate_preshared_key()


@pytest.fixture
def args(tmp_path):
    key = tmp_path / 'wg0.key'
    key.write_text(PRIV + '\n')
    return {
        'name': 'wg0',
        'private_key_path': str(key),
        'listen_port': 51820,
        'addresses': ['100.64.0.1/24', 'fd3a:6c1e:9b42:100::1/64'],
        'peers': [
            {'name': 'h2', 'public_key': PEER1, 'endpoint': '198.51.100.12:51820',
             'allowed_ips': ['100.64.0.2/32', '10.2.0.0/24'], 'preshared_key': PSK},
            {'name': 'h3', 'public_key': PEER2, 'allowed_ips': ['100.64.0.3/32']},
        ],
        'config_path': str(tmp_path / 'etc' / 'wg0.conf'),
        'systemd': 'auto',
    }


def test_four_runs_and_check_plan_equals_executed_plan(host, run, args):
    checked = run(args, check=True)
    assert checked['changed'] and checked['plan']['create'] and checked['config_changed']
    assert host.calls == [] and not os.path.exists(args['config_path'])
    applied = run(args)
    assert applied['changed'] and applied['plan'] == checked['plan']
    assert host.calls == ['create', 'apply', 'apply_link']
    assert applied['public_key'] == PUB and applied['engine'] == 'userspace'
    assert applied['plan']['routes_add'] == ['10.2.0.0/24']
    again = run(args, check=True)
    assert not again['changed'] and not again['config_changed']
    last = run(args)
    assert not last['changed']
    assert host.calls == ['create', 'apply', 'apply_link']


def test_config_written_atomically_0600_in_a_new_0700_directory(host, run, args):
    run(args)
    path = args['config_path']
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    with open(path) as f:
        text = f.read()
    assert '# Name = h2' in text and f'PresharedKey = {PSK}' in text
    assert 'PrivateKey' not in text  # private_key_path: loaded by PostUp, not copied
    assert [f for f in os.listdir(os.path.dirname(path)) if f != 'wg0.conf'] == []  # no temp files
    os.chmod(path, 0o644)
    fixed = run(args)
    assert fixed['changed'] and fixed['config_changed'] and not any(fixed['plan'][k] for k in
                                                                    ('create', 'peers', 'device'))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_config_is_never_readable_by_others_not_even_for_a_moment(host, run, args, monkeypatch):
    modes = []
    original = basic.AnsibleModule.atomic_move

    def spy(self, src, dest, *a, **kw):
        original(self, src, dest, *a, **kw)
        modes.append(stat.S_IMODE(os.stat(dest).st_mode))

    monkeypatch.setattr(basic.AnsibleModule, 'atomic_move', spy)
    old = os.umask(0o022)
    try:
        run(args)  # a new file
        os.chmod(args['config_path'], 0o644)
        changed = dict(args, listen_port=51821)
        run(changed)  # replaces a 0644 file
    finally:
        os.umask(old)
    assert modes == [0o600, 0o600]


def test_config_path_that_is_a_directory_fails_cleanly(host, run, args, tmp_path):
    result = fail(run, dict(args, config_path=str(tmp_path)))
    assert 'config_path must be a file' in result['msg'] and host.calls == []


def test_inline_private_key_is_written_and_never_returned(host, run, args):
    args = dict(args, private_key=PRIV)
    del args['private_key_path']
    result = run(args, diff=True)
    with open(args['config_path']) as f:
        assert f'PrivateKey = {PRIV}' in f.read()
    text = json.dumps(result)
    assert PRIV not in text and PSK not in text
    assert base64.b64decode(PRIV).hex() not in text
    assert PUB in text and PEER1 in text


def test_diff_shows_public_keys_and_redacted_config(host, run, args):
    result = run(args, check=True, diff=True)
    live, config = result['diff']
    assert live['before'] == {'state': 'absent'}
    after = live['after']
    assert after['public_key'] == PUB
    assert after['peers'][PEER1]['preshared_key'] == '<set>' and after['peers'][PEER1]['name'] == 'h2'
    assert 'PresharedKey = <redacted>' in config['after']
    assert PSK not in json.dumps(result)


def test_input_errors_fail_before_the_host_is_touched(host, run, args):
    bad = dict(args)
    bad['peers'] = [dict(args['peers'][0], allowed_ips=['nonsense']),
                    dict(args['peers'][1], public_key='short')]
    result = fail(run, bad)
    assert 'nonsense' in result['msg'] and 'public_key' in result['msg']
    assert host.resolved == [] and host.calls == []
    assert PSK not in json.dumps(result)
    assert not os.path.exists(args['config_path'])


def test_missing_key_file_is_an_input_error(host, run, args, tmp_path):
    result = fail(run, dict(args, private_key_path=str(tmp_path / 'missing.key')))
    assert 'private_key_path' in result['msg'] and host.calls == []


def test_verification_catches_an_engine_that_did_not_do_its_job(host, run, args):
    host.drop_peers = True
    result = fail(run, args)
    assert 'still differs' in result['msg']
    assert {c['action'] for c in result['remaining_plan']['peers']} == {'add'}


def test_an_engine_gone_right_after_its_start_is_started_once_more(host, run, args):
    host.dies_after_create = 1
    result = run(args)
    assert result['changed'] and host.calls == ['create', 'apply', 'apply_link'] * 2
    assert host.device.private_key is not None and host.link.up
    assert run(args)['changed'] is False


def test_an_engine_gone_twice_right_after_its_start_fails(host, run, args):
    host.dies_after_create = 2
    assert 'gone right after it was created, twice' in fail(run, args)['msg']


def test_engine_errors_are_reported(host, run, args, monkeypatch):
    def boom(name, ifname, probe=True):
        raise EngineError('a link named wg0 exists and is of kind dummy')
    monkeypatch.setattr(backend, 'resolve_engine_name', boom)
    assert 'kind dummy' in fail(run, args)['msg']


def test_preflight_failure_is_reported_in_check_mode_too(host, run, args):
    host.cannot_create = True
    for check in (True, False):
        assert 'wireguard-go is not installed' in fail(run, args, check=check)['msg']
    assert host.calls == []


def test_peer_change_only_touches_that_peer(host, run, args):
    run(args)
    changed = dict(args)
    changed['peers'] = [args['peers'][0], dict(args['peers'][1], persistent_keepalive=25)]
    result = run(changed)
    assert result['plan']['peers'] == [{
        'action': 'update', 'public_key': PEER2, 'fields': ['persistent_keepalive'],
        'peer': {'public_key': PEER2, 'preshared_key': None, 'endpoint': None,
                 'allowed_ips': ['100.64.0.3/32'], 'persistent_keepalive': 25}}]
    assert result['config_changed']


def test_absent_removes_interface_and_config_with_backup(host, run, args):
    run(args)
    absent = {'name': 'wg0', 'state': 'absent', 'config_path': args['config_path'], 'backup': True}
    checked = run(absent, check=True)
    assert checked['changed'] and checked['plan']['delete'] and checked['config_changed']
    assert host.device is not None and os.path.exists(args['config_path'])
    done = run(absent)
    assert done['changed'] and host.device is None and not os.path.exists(args['config_path'])
    assert os.path.exists(done['backup_file'])
    assert 'public_key' not in done
    assert not run(absent)['changed']


def test_persist_false_leaves_files_alone(host, run, args):
    result = run(dict(args, persist=False))
    assert result['changed'] and not result['config_changed']
    assert not os.path.exists(args['config_path'])


def test_systemd_auto_hands_the_live_interface_over_to_the_unit(host, run, args, tmp_path, monkeypatch):
    sysdir = tmp_path / 'systemd-system'
    sysdir.mkdir()
    monkeypatch.setattr(_systemd, 'RUNNING_DIR', str(sysdir))
    dropin = tmp_path / 'etc-systemd-system' / 'wg-quick@wg0.service.d' / 'meshlab-wireguard.conf'
    checked = run(args, check=True)
    assert checked['unit'] == 'wg-quick@wg0.service' and checked['unit_changed']
    assert checked['unit_actions'] == ['dropin', 'enable', 'start']
    assert {c[1] for c in host.commands} <= {'is-enabled', 'is-active'} and not dropin.exists()
    done = run(args)
    assert done['unit_actions'] == checked['unit_actions']
    assert host.unit_enabled and host.unit_active and host.device is not None  # started on top of it
    assert dropin.read_bytes() == DROPIN_CONTENT and stat.S_IMODE(dropin.stat().st_mode) == 0o644
    assert ['/bin/systemctl', 'restart', 'wg-quick@wg0.service'] not in host.commands
    again = run(args)
    assert not again['changed'] and again['unit_actions'] == []
    # a drop-in edited by hand is put back and loaded; the unit is left running
    dropin.write_bytes(b'[Service]\n')
    fixed = run(args)
    assert fixed['changed'] and fixed['unit_actions'] == ['dropin']
    assert host.loaded_dropin == DROPIN_CONTENT
    # absent: stop (wg-quick down removes the link), disable, remove the drop-in
    gone = run({'name': 'wg0', 'state': 'absent', 'config_path': args['config_path']})
    assert gone['unit_actions'] == ['stop', 'disable', 'remove-dropin']
    assert not host.unit_enabled and not host.unit_active and host.device is None
    assert not dropin.parent.exists() and host.loaded_dropin is None


def test_systemd_yes_without_systemd_fails(host, run, args):
    assert 'systemd does not run' in fail(run, dict(args, systemd='yes'))['msg']


def test_systemd_no_and_auto_without_systemd_do_nothing(host, run, args):
    for choice in ('no', 'auto'):
        result = run(dict(args, systemd=choice))
        assert result['unit'] is None and not result['unit_changed']
    assert host.commands == []


def test_redact_config():
    text = 'PrivateKey = abc\n[Peer]\npresharedkey=def\nPublicKey = ghi\n'
    out = redact_config(text)
    assert 'abc' not in out and 'def' not in out and 'ghi' in out


# --------------------------------------------------------------------------- endpoint roaming
# PEER1 (h2) is configured at 198.51.100.12:51820 and dials this host from its IPv6 address.

V4 = '198.51.100.12:51820'
V6 = '[fd3a:6c1e:9b42:1::12]:51820'


def fresh():
    return PeerStats(latest_handshake=int(time.time()) - 2, rx_bytes=1, tx_bytes=1)


def stale():
    return PeerStats(latest_handshake=int(time.time()) - HANDSHAKE_FRESH_SECONDS - 60)


ROAMED = [{'public_key': PEER1, 'configured': V4, 'live': V6}]


def updates(plan):
    return [(c['action'], c.get('fields')) for c in plan['peers']]


def test_roam_with_a_fresh_handshake_is_not_drift(host, run, args):
    run(args)
    calls = list(host.calls)
    roam(host, PEER1, V6)
    host.stats = {PEER1: fresh()}
    checked = run(args, check=True, diff=True)
    assert not checked['changed'] and checked['roamed'] == ROAMED
    live = checked['diff'][0]
    assert live['before'] == live['after']  # the predicted state keeps the roamed endpoint
    done = run(args)
    assert not done['changed'] and done['roamed'] == ROAMED and done['plan'] == checked['plan']
    assert host.calls == calls and host.device.peers[PEER1].endpoint == V6


def test_roam_without_a_config_file_is_first_contact(host, run, args):
    run(dict(args, persist=False))
    roam(host, PEER1, V6)
    host.stats = {PEER1: fresh()}
    assert not os.path.exists(args['config_path'])
    result = run(dict(args, persist=False))
    assert not result['changed'] and result['roamed'] == ROAMED
    # persist=true, no file yet: only the config is written, the roam stays
    result = run(args)
    assert result['config_changed'] and not result['plan']['peers'] and result['roamed'] == ROAMED
    assert host.device.peers[PEER1].endpoint == V6


@pytest.mark.parametrize('stats', [stale, None], ids=['stale', 'never'])
def test_endpoint_without_a_session_is_set_again(host, run, args, stats):
    run(args)
    roam(host, PEER1, V6)
    host.stats = {PEER1: stats()} if stats else {}
    checked = run(args, check=True)
    assert checked['changed'] and checked['roamed'] == []
    assert updates(checked['plan']) == [('update', ['endpoint'])]
    done = run(args)
    assert done['plan'] == checked['plan'] and host.device.peers[PEER1].endpoint == V4
    assert not run(args)['changed']


def test_endpoint_changed_in_the_inventory_is_applied_despite_a_session(host, run, args):
    run(args)
    roam(host, PEER1, V6)
    host.stats = {PEER1: fresh()}
    moved = dict(args)
    moved['peers'] = [dict(args['peers'][0], endpoint='198.51.100.99:51820'), args['peers'][1]]
    checked = run(moved, check=True)
    assert checked['changed'] and checked['roamed'] == [] and checked['config_changed']
    assert updates(checked['plan']) == [('update', ['endpoint'])]
    done = run(moved)
    assert done['plan'] == checked['plan'] and host.device.peers[PEER1].endpoint == '198.51.100.99:51820'
    with open(args['config_path']) as f:
        assert 'Endpoint = 198.51.100.99:51820' in f.read()
    assert not run(moved)['changed']


def test_roamed_peer_keeps_its_endpoint_when_another_field_changes(host, run, args):
    run(args)
    roam(host, PEER1, V6)
    host.stats = {PEER1: fresh()}
    changed = dict(args)
    changed['peers'] = [dict(args['peers'][0], persistent_keepalive=25), args['peers'][1]]
    result = run(changed)
    assert updates(result['plan']) == [('update', ['persistent_keepalive'])]
    assert result['roamed'] == ROAMED
    assert host.device.peers[PEER1].endpoint == V6 and host.device.peers[PEER1].persistent_keepalive == 25


def test_roam_between_apply_and_verification_does_not_fail(host, run, args):
    # the interface is created; PEER1 dials in over IPv6 before the module reads it back
    host.roam_after_apply = {PEER1: V6}
    host.stats = {PEER1: fresh()}
    checked = run(args, check=True)
    done = run(args)
    assert done['changed'] and done['plan'] == checked['plan']
    assert checked['roamed'] == [] and done['roamed'] == ROAMED  # found by the verification
    host.roam_after_apply = {}
    again = run(args)  # the second converge: the roam is not drift
    assert not again['changed'] and again['roamed'] == ROAMED
    # a user change of the endpoint, and the peer roams away at once: applied, verified
    host.roam_after_apply = {PEER1: V6}
    moved = dict(args)
    moved['peers'] = [dict(args['peers'][0], endpoint='198.51.100.99:51820'), args['peers'][1]]
    done = run(moved)
    assert done['changed'] and done['roamed'] == [
        {'public_key': PEER1, 'configured': '198.51.100.99:51820', 'live': V6}]


def test_verification_still_requires_a_session_for_a_roam(host, run, args):
    host.roam_after_apply = {PEER1: V6}  # an endpoint that moves without any handshake: not a roam
    result = fail(run, args)
    assert 'still differs' in result['msg']
    assert updates(result['remaining_plan']) == [('update', ['endpoint'])]


# --------------------------------------------------------------------------- bounded result

def many_peers(count):
    return [{'public_key': _keys.public_key_of(_keys.generate_private_key()),
             'allowed_ips': [f'10.{i // 250}.{i % 250}.0/24']} for i in range(count)]


def test_result_lists_at_most_twenty_peers_and_routes_with_full_counts(host, run, args):
    args = dict(args, peers=many_peers(30))
    checked = run(args, check=True)
    done = run(args)
    plan = done['plan']
    assert done['changed'] and plan == checked['plan']
    assert len(plan['peers']) == 20 and len(plan['routes_add']) == 20 and plan['truncated']
    assert plan['counts'] == {'peers_add': 30, 'peers_update': 0, 'peers_remove': 0,
                              'routes_add': 30, 'routes_remove': 0}
    first = sorted(p['public_key'] for p in args['peers'])[:20]
    assert [c['public_key'] for c in plan['peers']] == first  # plan order: adds sorted by key
    assert len(host.device.peers) == 30  # only the result is bounded, not the work
    # one change among many: listed in full, nothing cut
    args['peers'][7] = dict(args['peers'][7], persistent_keepalive=25)
    one = run(args)['plan']
    assert [c['fields'] for c in one['peers']] == [['persistent_keepalive']] and not one['truncated']
    assert one['counts']['peers_update'] == 1
    unchanged = run(args)
    assert not unchanged['changed'] and not unchanged['plan']['truncated']
    assert unchanged['plan']['counts'] == dict.fromkeys(plan['counts'], 0)


# --------------------------------------------------------------------------- verification scope

def test_a_partial_change_reads_back_only_the_peers_it_touched(host, run, args):
    run(args)
    assert host.reads == [None]  # a create is verified in full
    changed = dict(args)
    changed['peers'] = [args['peers'][0], dict(args['peers'][1], persistent_keepalive=25)]
    host.reads = []
    assert run(changed)['changed']
    assert host.reads == [None, [PEER2]]  # plan: everything; verification: the updated peer
    host.reads = []
    run(dict(changed, peers=[args['peers'][0]]), diff=True)  # PEER2 removed; the diff shows all
    assert host.reads == [None, None]


def test_a_partial_verification_still_catches_what_was_not_done(host, run, args):
    run(args)
    host.drop_peers = True
    changed = dict(args)
    changed['peers'] = [dict(args['peers'][0], persistent_keepalive=25)]  # update PEER1, remove PEER2
    result = fail(run, changed)
    assert 'still differs' in result['msg']
    assert updates(result['remaining_plan']) == [('remove', None), ('update', ['persistent_keepalive'])]


def test_a_partial_verification_checks_the_link_items_it_set(host, run, args, monkeypatch):
    run(args)
    # a link that ignores us
    monkeypatch.setattr(backend._iproute, 'apply_link', lambda name, plan, routes=(): None)
    result = fail(run, dict(args, addresses=['100.64.0.1/24', '100.64.9.1/24'], mtu=1380))
    remaining = result['remaining_plan']
    assert remaining['addresses_add'] == ['100.64.9.1/24'] and remaining['mtu'] == 1380
    assert remaining['peers'] == [] and not remaining['create']


# --------------------------------------------------------------------------- issue 11

def test_a_changed_tunnel_address_keeps_the_routes_in_one_run(host, run, args):
    """The kernel flushes a link's routes with its last old IPv4 address: the routes come back in
    the same run, and a link that did not get them back fails the verification."""
    run(args)
    host.kernel_flushes_routes = True
    moved = dict(args, addresses=['100.64.0.9/24', 'fd3a:6c1e:9b42:100::1/64'])
    result = run(moved)
    assert result['changed'] and '10.2.0.0/24' in host.link.routes
    assert not run(moved)['changed']
    host.restore_routes = False
    failed = fail(run, dict(args))  # back to .1: the routes are flushed and not restored
    assert 'still differs' in failed['msg'] and failed['remaining_plan']['routes_add'] == ['10.2.0.0/24']


def named(args, **over):
    """ARGS with PEER1 (h2) replaced by a peer of the same name and another key."""
    other = _keys.public_key_of(_keys.generate_private_key())
    peers = [dict(args['peers'][0], public_key=other, **over), args['peers'][1]]
    return dict(args, peers=peers), other


def test_guard_refuses_to_swap_a_live_peer_with_a_fresh_handshake(host, run, args):
    run(args)
    host.stats = {PEER1: fresh()}
    swapped, other = named(args)
    for check in (True, False):
        result = fail(run, swapped, check=check)
        assert 'peer h2 would change from its live key' in result['msg'] and PEER1 in result['msg']
        assert other in result['msg'] and 'registry_rebuild' in result['msg']
    assert PEER1 in host.device.peers and other not in host.device.peers
    # announced as the successor: the swap is legitimate
    announced, other2 = named(args, previous_public_key=PEER1)
    assert run(announced)['changed'] and other2 in host.device.peers and PEER1 not in host.device.peers


def test_guard_lets_a_stale_peer_be_swapped(host, run, args):
    run(args)
    host.stats = {PEER1: stale()}
    swapped, other = named(args)
    assert run(swapped)['changed'] and other in host.device.peers


def test_guard_refuses_to_drop_a_peer_the_registry_lost(host, run, args):
    run(args)
    lost = dict(args, peers=[args['peers'][1]], missing_peers=['h2'])
    for check in (True, False):
        result = fail(run, lost, check=check)
        assert 'live peer h2' in result['msg'] and 'registry lost it' in result['msg']
        assert 'registry_rebuild' in result['msg']
    assert PEER1 in host.device.peers
    # a peer that left the network (no longer expected) is removed as before
    assert run(dict(args, peers=[args['peers'][1]]))['changed'] and PEER1 not in host.device.peers


def test_guard_can_be_turned_off(host, run, args):
    run(args)
    host.stats = {PEER1: fresh()}
    swapped, other = named(args)
    assert run(dict(swapped, protect_live_peers=False))['changed'] and other in host.device.peers
