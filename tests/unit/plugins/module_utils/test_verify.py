"""The probe's `verify` (_verify): the interface and firewall backends run in check mode on the
role's arguments; only "would change nothing" counts as in sync, and the role's arguments are ones
the modules accept."""
from types import SimpleNamespace

import pytest

from ansible_collections.meshlab.wireguard.plugins.filter.topology import (
    wireguard_interface_args,
    wireguard_psk_map,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils import _firewall, _verify
from ansible_collections.meshlab.wireguard.plugins.module_utils import _interface_backend as _iface
from ansible_collections.meshlab.wireguard.plugins.module_utils._keys import (
    generate_private_key,
    public_key_of,
)

OWN = public_key_of(generate_private_key())
PEER = public_key_of(generate_private_key())
HOST = {'networks': [{
    'name': 'wg0', 'port': 51820, 'mtu': None, 'addresses': ['100.64.0.1/24'], 'missing': [],
    'preshared_keys': True,
    'peers': [{'public_key': PEER, 'name': 'h2', 'endpoint': '198.51.100.2:51820',
               'allowed_ips': ['100.64.0.2/32'], 'persistent_keepalive': 0}],
}], 'absent': [], 'forwarding': False, 'ipv6': False, 'warnings': []}
SECRET = 'x' * 48


@pytest.fixture
def backend(monkeypatch):
    """A stand-in InterfaceBackend: records what it was given, answers with `answer`."""
    seen = SimpleNamespace(answer={'changed': False}, fail=None, modules=[])

    class Backend:
        def __init__(self, module):
            seen.modules.append(module)
            self.module = module

        def run(self):
            if seen.fail:
                self.module.fail_json(msg=seen.fail, plan={})
            self.module.exit_json(**seen.answer)

    monkeypatch.setattr(_iface, 'InterfaceBackend', Backend)
    monkeypatch.setattr(_verify._iproute, 'HAS_PYROUTE2', True)
    return seen


def test_role_arguments_are_accepted_by_the_interface_module():
    args = wireguard_interface_args(HOST, 'userspace', '/k', '/c', 'no')
    assert [a['name'] for a in args] == ['wg0'] and 'mtu' not in args[0]
    params = _verify._validated(_iface.argument_spec(), args[0])
    assert params['private_key_path'] == '/k/wg0.key' and params['config_path'] == '/c/wg0.conf'
    assert params['protect_live_peers'] is True  # the module's defaults, as the real task gets them


def test_in_sync_runs_the_backend_in_check_mode_with_the_preshared_keys(backend):
    args = wireguard_interface_args(HOST)
    psks = wireguard_psk_map(HOST, SECRET, {'wg0': OWN})
    result = _verify.verify(object(), {'interfaces': args}, psks)
    assert result == {'in_sync': {'interfaces': {'wg0': True}, 'firewall': False}, 'out_of_sync': []}
    module = backend.modules[0]
    assert module.check_mode is True and module._diff is False
    assert module.params['peers'][0]['preshared_key'] == psks['wg0'][PEER]


@pytest.mark.parametrize('answer, fail, why', [
    ({'changed': True, 'config_changed': True}, None, 'wg0: the wg-quick config to change'),
    ({'changed': True}, None, 'wg0: the live interface to change'),
    (None, 'a live peer would be dropped', 'wg0: a live peer would be dropped'),
])
def test_anything_but_no_change_is_out_of_sync(backend, answer, fail, why):
    backend.answer, backend.fail = answer or {}, fail
    result = _verify.verify(object(), {'interfaces': wireguard_interface_args(HOST)}, {})
    assert result['in_sync']['interfaces'] == {'wg0': False} and result['out_of_sync'] == [why]


def test_an_interface_that_does_not_run_is_not_checked(backend):
    result = _verify.verify(object(), {'interfaces': wireguard_interface_args(HOST)}, {}, not_running=['wg0'])
    assert result['in_sync']['interfaces'] == {'wg0': False} and backend.modules == []


def test_bad_arguments_are_out_of_sync_not_an_error(backend):
    result = _verify.verify(object(), {'interfaces': [{'name': 'wg0', 'bogus': 1}]}, {})
    assert result['in_sync']['interfaces'] == {'wg0': False} and 'bogus' in result['out_of_sync'][0]


def test_iptables_is_never_in_sync_and_firewall_changes_are_named(monkeypatch):
    assert _verify.firewall_in_sync(object(), {'backend': 'iptables'})[0] is False

    class Firewall:
        def __init__(self, module, params):
            assert module.check_mode is True and params['nftables']['family'] == 'inet'

        def run(self):
            return {'changed': True, 'actions': ['nftables: table inet meshlab_wireguard missing']}

    monkeypatch.setattr(_firewall, 'Firewall', Firewall)
    nft = {'content': 'x', 'marker': 'm'}
    ok, why = _verify.firewall_in_sync(object(), {'backend': 'nftables', 'nftables': nft})
    assert not ok and why == 'firewall: nftables: table inet meshlab_wireguard missing'
