"""The strict registry check: every broken shape is refused with the source, the entry and the way out."""
import base64
import copy
import hashlib

import pytest
import yaml

from ansible_collections.meshlab.wireguard.plugins.plugin_utils import _registry as reg
from ansible_collections.meshlab.wireguard.plugins.plugin_utils import _registry_schema as schema


def key(tag):
    return base64.b64encode(hashlib.sha256(tag.encode()).digest()).decode()


GOOD = {
    'version': 1,
    'networks': {
        'wg0': {
            'hosts': {
                'h1': {'public_key': key('h1'), 'endpoint': '198.51.100.11', 'port': 51820,
                       'addresses': ['100.64.0.1/24', 'fd3a:6c1e:9b42:100::1/64'], 'role': 'gateway',
                       'site': 'a', 'lans': ['203.0.113.0/27']},
                'h2': {'public_key': key('h2'), 'endpoint': 'h2.example.net', 'port': 51820,
                       'addresses': ['100.64.0.2/24'], 'role': 'member',
                       'previous_public_key': key('h2-old')},
                'h3': {'public_key': key('h3'), 'endpoint': '', 'port': 51820,
                       'addresses': ['100.64.0.3/24'], 'role': 'spoke', 'hub': 'h1'},
            },
            'clients': {
                'phone': {'host': 'h1', 'addresses': ['100.64.0.200/24'], 'public_key': key('phone')},
                'laptop': {'host': 'h1', 'addresses': ['100.64.0.201/24']},
            },
        },
    },
}


def broken(edit):
    data = copy.deepcopy(GOOD)
    edit(data)
    return data


def h(data, host='h1'):
    return data['networks']['wg0']['hosts'][host]


CASES = {
    'empty file': (None, 'is empty'),
    'a list': (['x'], 'not a meshlab.wireguard registry'),
    'no version': (broken(lambda d: d.pop('version')), 'version: is missing'),
    'version 2': (broken(lambda d: d.update(version=2)), 'upgrade the collection'),
    'version true': (broken(lambda d: d.update(version=True)), 'version: True'),
    'no networks': (broken(lambda d: d.pop('networks')), 'networks: is missing'),
    'networks a list': (broken(lambda d: d.update(networks=[])), 'networks: must be a mapping'),
    'unknown top field': (broken(lambda d: d.update(extra=1)), "unknown top-level field 'extra'"),
    'bad network name': (broken(lambda d: d['networks'].update({'this name is too long': {}})),
                         'networks.this name is too long: is not a network'),
    'network a list': (broken(lambda d: d['networks'].update(wg0=[])), 'networks.wg0: must be a mapping'),
    'unknown network field': (broken(lambda d: d['networks']['wg0'].update(peers={})),
                              "networks.wg0: unknown field 'peers'"),
    'hosts a list': (broken(lambda d: d['networks']['wg0'].update(hosts=[])), 'networks.wg0.hosts: must be'),
    'entry a string': (broken(lambda d: d['networks']['wg0']['hosts'].update(h1='x')),
                       'networks.wg0.hosts.h1: must be a mapping'),
    'no public key': (broken(lambda d: h(d).pop('public_key')), 'hosts.h1: public_key is missing'),
    'short key': (broken(lambda d: h(d).update(public_key=key('h1')[:40])), 'hosts.h1.public_key'),
    'key not base64': (broken(lambda d: h(d).update(public_key='!' * 43 + '=')), 'not valid base64'),
    'zero key': (broken(lambda d: h(d).update(public_key=base64.b64encode(bytes(32)).decode())), 'all zeros'),
    'key an int': (broken(lambda d: h(d).update(public_key=5)), 'must be a string'),
    'bad previous key': (broken(lambda d: h(d, 'h2').update(previous_public_key='nope')),
                         'hosts.h2.previous_public_key'),
    'key_created not a time': (broken(lambda d: h(d, 'h2').update(key_created='yesterday')),
                               'hosts.h2.key_created'),
    'endpoint with port': (broken(lambda d: h(d).update(endpoint='198.51.100.11:51820')), 'holds a port'),
    'endpoint spaces': (broken(lambda d: h(d).update(endpoint='h 1')), 'contains spaces'),
    'endpoint loopback': (broken(lambda d: h(d).update(endpoint='127.0.0.1')), 'loopback'),
    'port 0': (broken(lambda d: h(d).update(port=0)), 'hosts.h1.port: 0 is outside'),
    'port text': (broken(lambda d: h(d).update(port='51820')), 'is not a port number'),
    'bad role': (broken(lambda d: h(d).update(role='boss')), "'boss' is not one of"),
    'addresses a string': (broken(lambda d: h(d).update(addresses='100.64.0.1/24')), 'must be a list'),
    'bad address': (broken(lambda d: h(d).update(addresses=['100.64.0.999/24'])), 'addresses[0]'),
    'bad lan': (broken(lambda d: h(d).update(lans=['lan-a'])), 'lans[0]'),
    'unknown host field': (broken(lambda d: h(d).update(private_key=key('x'))),
                           "unknown field 'private_key'"),
    'duplicate key': (broken(lambda d: h(d, 'h2').update(public_key=key('h1'))),
                      'the same public key as host h1'),
    'client with host key': (broken(lambda d: d['networks']['wg0']['clients']['phone'].update(
        public_key=key('h3'))), 'the same public key as host h3'),
    'duplicate address': (broken(lambda d: h(d, 'h3').update(addresses=['100.64.0.2/24'])),
                          'tunnel address 100.64.0.2 is also held by host h2'),
    'client without host': (broken(lambda d: d['networks']['wg0']['clients']['phone'].pop('host')),
                            'clients.phone: host is missing'),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_broken_registry_is_refused_naming_source_entry_and_fix(case):
    data, fragment = CASES[case]
    with pytest.raises(reg.RegistryError) as exc:
        schema.validate(data, '/srv/inv/wireguard-registry.yml', reg.RegistryError)
    msg = str(exc.value)
    assert fragment in msg
    assert '/srv/inv/wireguard-registry.yml' in msg
    assert schema.REBUILD_COMMAND in msg and 'restore a good copy' in msg
    assert key('h1') not in msg or case in ('duplicate key',)  # keys are public, but never needed


def test_good_registry_passes_unchanged():
    data = copy.deepcopy(GOOD)
    assert schema.validate(data, 'x') is data
    assert schema.problems(reg.empty()) == []


def test_every_problem_in_one_message():
    data = broken(lambda d: (h(d).update(port=0), h(d, 'h2').update(role='x')))
    with pytest.raises(ValueError) as exc:
        schema.validate(data, 'src')
    msg = str(exc.value)
    assert '2 problem(s)' in msg and 'hosts.h1.port' in msg and 'hosts.h2.role' in msg


def test_loader_reads_strictly(tmp_path):
    path = tmp_path / 'r.yml'
    path.write_text(yaml.safe_dump(GOOD))
    assert reg.load(str(path))['networks']['wg0']['hosts']['h1']['port'] == 51820
    path.write_text('')  # truncated to nothing
    with pytest.raises(reg.RegistryError, match='is empty'):
        reg.load(str(path))
    path.write_text(reg.HEADER)  # only the header comment survived
    with pytest.raises(reg.RegistryError, match='is empty'):
        reg.load(str(path))
    text = yaml.safe_dump(GOOD)
    path.write_text(text[:text.index('version:')])  # cut before the last line, version: 1
    with pytest.raises(reg.RegistryError, match=str(path)):
        reg.load(str(path))
    assert reg.load(str(tmp_path / 'missing.yml')) == reg.empty()
