"""The normalizer's keys and defaults (_topology_fields) agree with the role's argument spec.

roles/wireguard/meta/argument_specs.yml types the role's input; _topology_fields is what the
controller-side normalizer accepts. A field added to one and not the other is a drift: this test
names it. The drift check itself is shown to fail on deliberately drifted copies of the spec.
"""
import copy
import os

import pytest
import yaml

from ansible_collections.meshlab.wireguard.plugins.module_utils import _topology_fields as f

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))))
SPEC = os.path.join(ROOT, 'roles', 'wireguard', 'meta', 'argument_specs.yml')


def load_spec():
    with open(SPEC, encoding='utf-8') as fh:
        return yaml.safe_load(fh)


def _keys(got, known, where, out):
    got, known = set(got), set(known)
    if got != known:
        out.append(f'{where}: keys differ: only in spec {sorted(got - known)}, '
                   f'only in normalizer {sorted(known - got)}')


def _want(opts, key, field, value, where, out):
    got = (opts.get(key) or {}).get(field)
    if got != value:
        out.append(f'{where}.{key}.{field}: spec says {got!r}, normalizer {value!r}')


def drift(spec):
    """Every disagreement between the spec and _topology_fields, as readable lines."""
    out = []
    checked = 0
    for ep, entry in sorted(spec['argument_specs'].items()):
        options = entry.get('options') or {}
        nets = options.get('wireguard_networks')
        if nets is not None:
            checked += 1
            where = f'{ep}.wireguard_networks'
            opts = nets.get('options') or {}
            _keys(opts, f.NETWORK_KEYS, where, out)
            _want(opts, 'port', 'default', f.DEFAULT_PORT, where, out)
            _want(opts, 'keepalive', 'default', f.DEFAULT_KEEPALIVE, where, out)
            _want(opts, 'state', 'choices', list(f.NETWORK_STATES), where, out)
            _want(opts, 'state', 'default', f.NETWORK_STATES[0], where, out)
            _want(opts, 'topology', 'choices', list(f.TOPOLOGIES), where, out)
            _want(opts, 'topology', 'default', f.TOPOLOGIES[0], where, out)
            _want(opts, 'mtu', 'default', None, where, out)
            for flag in f.NETWORK_FLAGS:
                _want(opts, flag, 'type', 'bool', where, out)
                _want(opts, flag, 'default', False, where, out)
            copts = (opts.get('clients') or {}).get('options') or {}
            _keys(copts, f.CLIENT_KEYS, where + '.clients', out)
            _want(copts, 'keepalive', 'default', f.DEFAULT_KEEPALIVE, where + '.clients', out)
        sites = options.get('wireguard_sites')
        if sites is not None:
            checked += 1
            sopts = sites.get('options') or {}
            _keys(sopts, f.SITE_KEYS, f'{ep}.wireguard_sites', out)
    if not checked:
        out.append('no entry point declares wireguard_networks or wireguard_sites')
    return out


def test_spec_and_normalizer_agree():
    assert drift(load_spec()) == []


def _first_networks(spec):
    return spec['argument_specs']['main']['options']['wireguard_networks']['options']


def _add_network_key(spec):
    _first_networks(spec)['listen_address'] = {'type': 'str'}


def _port_default(spec):
    _first_networks(spec)['port']['default'] = 51821


def _drop_client_key(spec):
    del _first_networks(spec)['clients']['options']['dns']


def _topology_choice(spec):
    _first_networks(spec)['topology']['choices'].append('star')


def _site_key(spec):
    spec['argument_specs']['main']['options']['wireguard_sites']['options']['vlan'] = {'type': 'int'}


def _flag_default(spec):
    _first_networks(spec)['masquerade']['default'] = True


@pytest.mark.parametrize('mutate, names', [
    (_add_network_key, 'listen_address'),
    (_port_default, 'port.default'),
    (_drop_client_key, "only in normalizer ['dns']"),
    (_topology_choice, 'topology.choices'),
    (_site_key, 'vlan'),
    (_flag_default, 'masquerade.default'),
])
def test_drift_is_caught(mutate, names):
    spec = copy.deepcopy(load_spec())
    mutate(spec)
    found = drift(spec)
    assert found, 'a drifted spec must be reported'
    assert any(names in line and line.startswith('main.') for line in found), found


def test_normalizer_uses_the_declared_defaults():
    from ansible_collections.meshlab.wireguard.plugins.module_utils import _topology as t
    fleet = t.normalize([{'name': 'wg0', 'ipv4_pool': '100.64.0.0/24',
                          'clients': [{'name': 'phone', 'host': 'h1'}]}], [], {'all': ['h1']}, {})
    assert fleet['errors'] == []
    net = fleet['networks']['wg0']
    spec = _first_networks(load_spec())
    for key in ('port', 'keepalive', 'state', 'topology', *f.NETWORK_FLAGS):
        assert net[key] == spec[key]['default'], key
    assert net['mtu'] is None and 'default' not in spec['mtu']
    assert net['clients'][0]['keepalive'] == spec['clients']['options']['keepalive']['default']
