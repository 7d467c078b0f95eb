"""Key rotation's pure parts: the key files on the host (_rotation), the apply signal (_signal),
the registry steps (_registry_rotation) and the order and refusals (_rotation_plan)."""
import os
import stat
from types import SimpleNamespace

import pytest

from ansible_collections.meshlab.wireguard.plugins.module_utils._keys import (
    generate_private_key,
    public_key_of,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._rotation import KeyRotation, RotationError
from ansible_collections.meshlab.wireguard.plugins.module_utils._signal import ApplySignal, SignalTimeout
from ansible_collections.meshlab.wireguard.plugins.plugin_utils._registry_rotation import (
    RotationFailure,
    apply_step,
    in_flight,
    rotation_change,
)
from ansible_collections.meshlab.wireguard.plugins.plugin_utils._rotation_plan import (
    rotation_next,
    rotation_plan,
)


def step(path, name, check=False, **params):
    module = SimpleNamespace(params={'path': str(path), 'step': name, 'next_public_key': None, **params},
                             check_mode=check)
    return KeyRotation(module).run()


@pytest.fixture
def key(tmp_path):
    path = tmp_path / 'wg0.key'
    private = generate_private_key()
    path.write_text(private + '\n')
    path.chmod(0o600)
    return path, public_key_of(private)


def test_prepare_promote_finish_each_once(key):
    path, current = key
    checked = step(path, 'prepare', check=True)
    assert checked['changed'] and checked['next_public_key'] is None and not os.path.exists(f'{path}.next')
    prepared = step(path, 'prepare')
    nxt = prepared['next_public_key']
    assert prepared['changed'] and prepared['public_key'] == current and nxt != current
    assert stat.S_IMODE(os.stat(f'{path}.next').st_mode) == 0o600
    assert step(path, 'prepare') == dict(prepared, changed=False)  # a re-run keeps the same next key
    assert step(path, 'promote', check=True, next_public_key=nxt)['changed']
    assert step(path, 'status')['public_key'] == current  # check mode changed nothing
    promoted = step(path, 'promote', next_public_key=nxt)
    assert promoted['changed'] and promoted['public_key'] == nxt and promoted['old_public_key'] == current
    assert promoted['next_public_key'] is None
    assert stat.S_IMODE(os.stat(f'{path}.old').st_mode) == 0o600
    assert not step(path, 'promote', next_public_key=nxt)['changed']  # done already: a re-run passes
    assert step(path, 'finish')['changed'] and not os.path.exists(f'{path}.old')
    assert not step(path, 'finish')['changed']


def test_promote_refuses_a_next_key_it_does_not_hold(key):
    path, current = key
    other = public_key_of(generate_private_key())
    with pytest.raises(RotationError, match='does not hold the next key'):
        step(path, 'promote', next_public_key=other)
    step(path, 'prepare')
    with pytest.raises(RotationError, match='cancel it'):
        step(path, 'promote', next_public_key=other)
    assert step(path, 'status')['public_key'] == current


def test_cancel_and_broken_files(key, tmp_path):
    path, _current = key
    step(path, 'prepare')
    assert step(path, 'cancel')['changed'] and not os.path.exists(f'{path}.next')
    with pytest.raises(RotationError, match='does not exist: converge'):
        step(tmp_path / 'missing.key', 'prepare')
    (tmp_path / 'wg0.key.next').write_text('not a key\n')
    with pytest.raises(RotationError, match='remove or fix it'):
        step(path, 'prepare')


def test_signal_ready_wait_and_timeout(tmp_path):
    path = str(tmp_path / 'run' / 'signal')
    sig = ApplySignal(path, 'wg0', timeout=1)
    sig.ready()
    assert os.path.exists(path + '.wg0.ready')
    with open(path, 'w') as f:
        f.write('1796345411.19\n')
    assert sig.wait() == 1796345411.19
    os.unlink(path)
    now = [0.0]
    with pytest.raises(SignalTimeout, match='nothing was applied'):
        sig.wait(clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + 0.5))
    with open(path, 'w') as f:
        f.write('soon')
    with pytest.raises(SignalTimeout, match='does not hold a time'):
        sig.wait()
    ApplySignal(path, 'wg1', timeout=1).ready()  # a stale instant is dropped before waiting
    assert not os.path.exists(path)


def entry(key):
    return {'public_key': key, 'endpoint': '', 'port': 51820, 'addresses': [], 'role': 'member'}


def test_registry_steps():
    e = entry('OLD')
    apply_step(e, 'announce', 'NEW')
    assert e['next_public_key'] == 'NEW' and e['public_key'] == 'OLD' and not in_flight(e)
    apply_step(e, 'commit', 'NEW')
    assert (e['public_key'], e['previous_public_key'], e['next_public_key']) == ('NEW', 'OLD', 'NEW')
    assert in_flight(e)
    apply_step(e, 'cancel')  # too late to cancel a switched key
    assert in_flight(e)
    apply_step(e, 'commit', 'NEW')  # a re-run's commit changes nothing
    assert e['previous_public_key'] == 'OLD'
    apply_step(e, 'finish', key_created=1796345411)
    assert 'next_public_key' not in e and e['key_created'] == 1796345411 and not in_flight(e)
    data = {'networks': {'wg0': {'hosts': {'h1': entry('A')}}}}
    with pytest.raises(RotationFailure, match='h2 has no entry in network wg0'):
        rotation_change('h2', 'announce', {'wg0': 'B'})(data)
    with pytest.raises(RotationFailure, match='must be one of'):
        rotation_change('h1', 'undo', {'wg0': 'B'})


FLEET = {'networks': {
    'wg0': {'state': 'present', 'members': ['h1', 'h2', 'h3'], 'clients': [{'name': 'phone', 'host': 'h3'}]},
    'old': {'state': 'absent', 'members': ['h4'], 'clients': []},
}}


def registry(**entries):
    return {'networks': {'wg0': {'hosts': {h: entries.get(h, entry(h.upper())) for h in ('h1', 'h2', 'h3')}}}}


def test_plan_order_and_refusals():
    plan = rotation_plan(FLEET, registry(), ['h1', 'h2', 'h3'], [], with_clients=True)
    assert plan == {'order': ['h1', 'h2', 'h3'], 'problems': []}
    plan = rotation_plan(FLEET, registry(), ['h1', 'h2', 'h3'])
    assert plan['order'] == ['h1', 'h2', 'h3'] and len(plan['problems']) == 1
    assert 'wireguard_rotate_with_clients=true' in plan['problems'][0] and 'phone' in plan['problems'][0]
    plan = rotation_plan(FLEET, registry(), ['h1', 'h2'], ['h1'])
    assert 'h3 (peers of h1) are not in this run' in plan['problems'][0]
    plan = rotation_plan(FLEET, registry(), ['h1', 'h2', 'h3'], 'h9, h2')
    assert plan['order'] == ['h2'] and 'h9 is not in this run' in plan['problems'][0]
    # an interrupted rotation (h3 switched, not confirmed) comes first, whatever was asked
    flying = dict(entry('N3'), next_public_key='N3', previous_public_key='H3')
    plan = rotation_plan(FLEET, registry(h3=flying), ['h1', 'h2', 'h3'], ['h1'], with_clients=True)
    assert plan['order'] == ['h3', 'h1']


def test_next_keys_from_the_prepare_results():
    flying = dict(entry('N1'), next_public_key='N1')
    prepared = {'results': [{'item': 'wg0', 'skipped': True}]}
    assert rotation_next(prepared, registry(h1=flying), 'h1') == {'wg0': 'N1'}
    prepared = {'results': [{'item': 'wg0', 'next_public_key': 'N2'}]}
    assert rotation_next(prepared, registry(), 'h1') == {'wg0': 'N2'}


def test_key_age_from_the_config_and_old_keys_in_health(tmp_path):
    from ansible_collections.meshlab.wireguard.plugins.module_utils._health import old_keys
    from ansible_collections.meshlab.wireguard.plugins.module_utils._info import key_age
    from ansible_collections.meshlab.wireguard.plugins.module_utils._wgquick import parse_private_key_path

    keyfile = tmp_path / 'wg0.key'
    keyfile.write_text(generate_private_key() + '\n')
    os.utime(keyfile, (1_000_000, 1_000_000))
    (tmp_path / 'wg0.conf').write_text(f"[Interface]\nPostUp = wg set %i private-key '{keyfile}'\n")
    assert parse_private_key_path((tmp_path / 'wg0.conf').read_text()) == str(keyfile)
    assert key_age('wg0', str(tmp_path), now=1_000_000 + 400 * 86400) == 400 * 86400
    assert key_age('wg1', str(tmp_path)) is None  # no config: unknown, not zero
    infos = {'h1': {'interfaces': {'wg0': {'key_age': 400 * 86400}, 'wg1': {'key_age': None}}},
             'h2': {'interfaces': {'wg0': {'key_age': 10 * 86400}}}}
    warnings = old_keys(infos, 365)
    assert len(warnings) == 1 and warnings[0].startswith('h1 wg0: the private key is 400 days old')
    assert 'meshlab.wireguard.rotate' in warnings[0] and '"h1"' in warnings[0]


def test_psk_secret_rotation_needs_the_whole_fleet_and_a_file(tmp_path):
    from ansible_collections.meshlab.wireguard.plugins.plugin_utils._registry import replace_secret

    hosts = ['h1', 'h2', 'h3']
    assert rotation_plan(FLEET, registry(), hosts, [], True, 'file')['problems'] == []
    partial = rotation_plan(FLEET, registry(), hosts, ['h1'], True, 'file')
    assert 'every member must rotate' in partial['problems'][0]
    in_vault = rotation_plan(FLEET, registry(), hosts, [], True, 'variable')
    assert 'put the new secret there' in in_vault['problems'][0]
    secret = tmp_path / 'psk.secret'
    secret.write_text('old secret\n')
    secret.chmod(0o600)
    assert replace_secret(str(secret), check_mode=True) and secret.read_text() == 'old secret\n'
    assert replace_secret(str(secret))
    assert secret.read_text() != 'old secret\n'
    assert (tmp_path / 'psk.secret.old').read_text() == 'old secret\n'
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
