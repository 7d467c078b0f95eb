"""desired_from_params(): every input check, before anything changes on a host."""
import base64

import pytest

from ansible_collections.meshlab.wireguard.plugins.module_utils._desired import (
    desired_from_params,
    own_public_key,
    peer_names,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import InputError, Peer


def key(n):
    return base64.b64encode(n.to_bytes(4, 'big') + bytes(27) + b'\x01').decode()


# Clamped, as WireGuard stores a private key (an unclamped one is compared after clamping)
PRIV = base64.b64encode((100).to_bytes(4, 'big') + bytes(27) + b'\x41').decode()
SELF_PUB = key(101)
A, B = key(1), key(2)
PSK = key(50)

FILES = {'/etc/wireguard/private.key': PRIV + '\n', '/etc/wireguard/psk-a': PSK + '\n'}
DNS = {'peer-b.example': ['fd3a:6c1e:9b42:1::12', '198.51.100.12'], 'v4.example': ['198.51.100.13']}


def read_secret(path, what):
    if path not in FILES:
        raise OSError(2, 'No such file or directory', path)
    return FILES[path]


def resolve(host, port):
    if host not in DNS:
        raise OSError(-2, 'Name or service not known')
    return list(DNS[host])


def public_key_of(priv):
    assert priv == PRIV
    return SELF_PUB


def params(**over):
    p = {
        'name': 'wg0', 'state': 'present', 'private_key_path': '/etc/wireguard/private.key',
        'private_key': None, 'listen_port': 51820, 'fwmark': None, 'mtu': None,
        'addresses': ['100.64.0.1/24', 'fd3a:6c1e:9b42:100::1/64'],
        'peers': [
            {'public_key': A, 'name': 'h2', 'endpoint': '198.51.100.12:51820',
             'allowed_ips': ['100.64.0.2/32', '203.0.113.33/27'], 'persistent_keepalive': 25,
             'preshared_key_path': '/etc/wireguard/psk-a'},
            {'public_key': B, 'endpoint': 'peer-b.example:51820', 'allowed_ips': ['100.64.0.3']},
        ],
        'exclusive': True, 'manage_routes': True,
    }
    p.update(over)
    return p


def build(**over):
    return desired_from_params(params(**over), read_secret, resolve, public_key_of)


def error(**over):
    with pytest.raises(InputError) as e:
        build(**over)
    return str(e.value)


def peer(**over):
    p = {'public_key': A, 'allowed_ips': ['100.64.0.2/32']}
    p.update(over)
    return p


def test_valid_params_build_a_normalized_interface():
    i = build()
    assert i.name == 'wg0'
    assert i.device.private_key == PRIV
    assert i.device.listen_port == 51820
    assert i.device.fwmark == 0
    assert i.link.mtu is None
    assert i.link.addresses == frozenset({'100.64.0.1/24', 'fd3a:6c1e:9b42:100::1/64'})
    assert i.device.peers[A] == Peer(A, PSK, '198.51.100.12:51820', ('100.64.0.2/32', '203.0.113.32/27'), 25)
    # the first resolved address wins; IPv6 gets brackets
    assert i.device.peers[B] == Peer(B, None, '[fd3a:6c1e:9b42:1::12]:51820', ('100.64.0.3/32',), 0)
    assert i.link.routes == frozenset({'203.0.113.32/27'})


def test_absent_returns_none_without_reading_keys():
    assert desired_from_params({'name': 'wg0', 'state': 'absent'}, None, None, None) is None


def test_normalization_of_allowed_ips_and_addresses():
    i = build(addresses=['100.64.0.1/24', '100.64.0.1/24', 'FD3A:6C1E:9B42:100:0::1/64', '10.1.1.1'],
              peers=[peer(allowed_ips=['10.0.0.0/8', '9.9.9.9/8', 'FD3A::5/64', '100.64.0.2', '10.0.0.0/8'])])
    assert i.device.peers[A].allowed_ips == ('9.0.0.0/8', '10.0.0.0/8', '100.64.0.2/32', 'fd3a::/64')
    assert i.link.addresses == frozenset({'100.64.0.1/24', 'fd3a:6c1e:9b42:100::1/64', '10.1.1.1/32'})


def test_inline_private_key_and_manage_routes_off():
    i = build(private_key_path=None, private_key=PRIV, manage_routes=False)
    assert i.device.private_key == PRIV
    assert i.link.routes == frozenset()


def test_own_public_key_and_peer_names():
    assert own_public_key(build(), public_key_of) == SELF_PUB
    assert own_public_key(None, public_key_of) is None
    assert peer_names(params()) == {A: 'h2'}


@pytest.mark.parametrize('name', ['', 'a' * 16, 'wg/0', 'wg 0', '.', '..', 'wg:0', None])
def test_bad_interface_name(name):
    assert "for example 'wg0'" in error(name=name)


def test_interface_name_ok_at_15():
    assert build(name='a' * 15).name == 'a' * 15


def test_both_private_key_forms():
    msg = error(private_key=PRIV)
    assert 'private_key or private_key_path, not both' in msg


def test_no_private_key():
    msg = error(private_key_path=None)
    assert 'give private_key_path' in msg and 'wireguard_key' in msg


def test_private_key_file_unreadable():
    msg = error(private_key_path='/nope/private.key')
    assert 'private_key_path' in msg and '/nope/private.key' in msg and 'No such file' in msg


def test_private_key_file_read_secret_input_error_passes_through():
    def reader(path, what):
        raise InputError(f'{what} file {path} does not exist: create it first')
    with pytest.raises(InputError) as e:
        desired_from_params(params(), reader, resolve, public_key_of)
    assert 'interface wg0 private_key_path file /etc/wireguard/private.key does not exist' in str(e.value)


@pytest.mark.parametrize('bad, fragment', [
    ('notbase64!', 'not valid base64'),
    (base64.b64encode(bytes(16) + b'\x01').decode(), 'decodes to 17 bytes'),
    ('\n', 'is empty'),
])
def test_malformed_keys(bad, fragment):
    assert fragment in error(private_key_path=None, private_key=bad)
    msg = error(peers=[peer(public_key=bad, name='h9')])
    assert "peer 'h9' public_key" in msg and fragment in msg
    msg = error(peers=[peer(preshared_key=bad)])
    assert f'peer {A} preshared_key' in msg and fragment in msg


def test_malformed_key_in_file():
    FILES['/etc/wireguard/bad.key'] = 'garbage\n'
    try:
        msg = error(peers=[peer(preshared_key_path='/etc/wireguard/bad.key')])
    finally:
        del FILES['/etc/wireguard/bad.key']
    assert 'preshared_key_path' in msg and 'not valid base64' in msg


def test_missing_peer_public_key():
    msg = error(peers=[{'allowed_ips': ['100.64.0.2/32']}])
    assert 'peers[0] public_key is empty' in msg


def test_both_psk_forms():
    msg = error(peers=[peer(preshared_key=PSK, preshared_key_path='/etc/wireguard/psk-a', name='h2')])
    assert "peer 'h2'" in msg and 'not both' in msg


def test_peer_with_own_public_key():
    msg = error(peers=[peer(public_key=SELF_PUB, name='me')])
    assert "peer 'me' has the public key of interface wg0 itself" in msg


def test_duplicate_peers():
    msg = error(peers=[peer(name='x'), peer(name='y', allowed_ips=['100.64.0.9/32'])])
    assert f"peer 'x' and peer 'y' have the same public key {A}" in msg


def test_same_allowed_ip_on_two_peers():
    msg = error(peers=[peer(name='h2', allowed_ips=['10.0.0.0/24']),
                       peer(public_key=B, name='h3', allowed_ips=['10.0.0.9/24'])])
    assert "peer 'h2' and peer 'h3' both claim allowed IP 10.0.0.0/24" in msg


def test_nested_allowed_ips_on_two_peers_are_allowed():
    i = build(peers=[peer(allowed_ips=['0.0.0.0/0']), peer(public_key=B, allowed_ips=['10.0.0.0/24'])])
    assert set(i.device.peers) == {A, B}


@pytest.mark.parametrize('bad', ['10.0.0.0/33', 'banana', '10.0.0.256/32', 'fd00::/129'])
def test_unparsable_allowed_ip(bad):
    msg = error(peers=[peer(name='h2', allowed_ips=[bad])])
    assert "peer 'h2' allowed_ips" in msg and repr(bad) in msg


@pytest.mark.parametrize('bad', ['10.0.0.1/33', 'nonsense', '300.1.1.1/24'])
def test_bad_address(bad):
    assert 'is not an interface address' in error(addresses=[bad])


def test_same_address_twice_with_different_prefixes():
    assert 'same address with different prefixes' in error(addresses=['100.64.0.1/24', '100.64.0.1/16'])


def test_listen_port():
    assert 'leave listen_port out' in error(listen_port=0)
    assert 'listen_port 65536 is outside 1..65535' in error(listen_port=65536)
    assert "listen_port 'x' is not a whole number" in error(listen_port='x')
    assert build(listen_port=None).device.listen_port is None
    assert build(listen_port=65535).device.listen_port == 65535


def test_fwmark():
    assert 'fwmark -1 is outside 0..4294967295' in error(fwmark=-1)
    assert 'outside 0..4294967295' in error(fwmark=2 ** 32)
    assert build(fwmark=2 ** 32 - 1).device.fwmark == 2 ** 32 - 1
    assert build(fwmark='0x20').device.fwmark == 0x20
    assert build(fwmark=None).device.fwmark == 0


def test_mtu():
    assert 'mtu 575 is outside 576..65455' in error(mtu=575, addresses=['100.64.0.1/24'])
    assert build(mtu=576, addresses=['100.64.0.1/24']).link.mtu == 576
    assert 'minimum for IPv6' in error(mtu=1279)
    assert build(mtu=1280).link.mtu == 1280
    assert 'outside' in error(mtu=65456)


def test_persistent_keepalive():
    assert "peer 'h2' persistent_keepalive 65536 is outside 0..65535" in error(
        peers=[peer(name='h2', persistent_keepalive=65536)])
    assert 'outside' in error(peers=[peer(persistent_keepalive=-1)])
    assert build(peers=[peer(persistent_keepalive=None)]).device.peers[A].persistent_keepalive == 0


@pytest.mark.parametrize('bad, fragment', [
    ('198.51.100.1', "written 'host:port'"),
    ('198.51.100.1:0', 'outside 1..65535'),
    ('198.51.100.1:65536', 'outside 1..65535'),
    ('198.51.100.1:port', 'not a number'),
    ('fd00::1:51820', 'needs brackets'),
    ('[fd00::1:51820', "'[address]:port'"),
    ('[fd00::1]', "'[address]:port'"),
    (':51820', "written 'host:port'"),
    ('[zz::1]:51820', 'does not appear to be an IPv4 or IPv6 address'),
    ('[host.example]:51820', 'brackets are only for IPv6'),
])
def test_endpoint_syntax(bad, fragment):
    msg = error(peers=[peer(name='h2', endpoint=bad)])
    assert "peer 'h2' endpoint" in msg and fragment in msg


def test_endpoint_literals_are_canonical():
    i = build(peers=[peer(endpoint='[FD3A:6C1E:9B42:1:0::12]:51820'),
                     peer(public_key=B, endpoint='[::ffff:198.51.100.9]:1', allowed_ips=[])])
    assert i.device.peers[A].endpoint == '[fd3a:6c1e:9b42:1::12]:51820'
    assert i.device.peers[B].endpoint == '198.51.100.9:1'


def test_endpoint_unresolvable():
    msg = error(peers=[peer(name='h2', endpoint='nowhere.invalid:51820')])
    assert "peer 'h2' endpoint 'nowhere.invalid:51820'" in msg
    assert "'nowhere.invalid' does not resolve" in msg and 'literal IP address' in msg
    assert 'Name or service not known' in msg


def test_endpoint_resolves_to_nothing():
    with pytest.raises(InputError) as e:
        desired_from_params(params(peers=[peer(endpoint='x.example:1')]), read_secret,
                            lambda h, p: [], public_key_of)
    assert 'no address returned' in str(e.value)


def test_endpoint_resolved_v4():
    i = build(peers=[peer(endpoint='v4.example:51820')])
    assert i.device.peers[A].endpoint == '198.51.100.13:51820'


def test_literal_endpoint_is_not_resolved():
    def no_dns(host, port):
        raise AssertionError('resolved a literal')
    p = params(peers=[peer(endpoint='198.51.100.1:51820')])
    desired_from_params(p, read_secret, no_dns, public_key_of)


def test_all_problems_reported_together():
    msg = error(listen_port=0, mtu=1, peers=[peer(name='h2', endpoint='bad')])
    assert msg.startswith('3 problems: ')
    assert 'listen_port' in msg and 'mtu' in msg and "peer 'h2' endpoint" in msg


def test_error_list_is_capped():
    msg = error(peers=[peer(public_key=key(1000 + i), allowed_ips=['x']) for i in range(30)])
    assert msg.startswith('30 problems: ') and '... and 10 more problems' in msg


def test_peer_name_must_be_one_line():
    assert 'name must be one line' in error(peers=[peer(name='a\nb')])


def test_thousand_peers():
    peers = [peer(public_key=key(10000 + i), allowed_ips=[f'100.64.{i // 250}.{i % 250 + 2}/32'],
                  endpoint=f'198.51.100.{i % 200 + 1}:51820') for i in range(1000)]
    i = build(addresses=['100.64.0.1/16'], peers=peers)
    assert len(i.device.peers) == 1000
    assert i.link.routes == frozenset()


def test_with_real_key_helpers(tmp_path):
    keys = pytest.importorskip('ansible_collections.meshlab.wireguard.plugins.module_utils._keys')
    if not keys.HAS_NACL:
        pytest.skip('PyNaCl missing')
    priv = keys.generate_private_key()
    path = tmp_path / 'private.key'
    path.write_text(priv + '\n')
    p = params(private_key_path=str(path), peers=[peer(public_key=keys.public_key_of(priv), name='self')])
    with pytest.raises(InputError) as e:
        desired_from_params(p, keys.read_key_file, resolve, keys.public_key_of)
    assert "peer 'self' has the public key of interface wg0 itself" in str(e.value)
    p = params(private_key_path=str(tmp_path / 'missing.key'))
    with pytest.raises(InputError) as e:
        desired_from_params(p, keys.read_key_file, resolve, keys.public_key_of)
    assert 'private_key_path' in str(e.value) and 'does not exist' in str(e.value)


def test_unclamped_private_key_is_compared_as_wireguard_stores_it():
    """A valid unclamped key (other tools write them) is the clamped key the device holds."""
    raw = bytearray(base64.b64decode(PRIV))
    raw[0] |= 7
    raw[31] &= 0x3F
    FILES['/etc/wireguard/unclamped.key'] = base64.b64encode(bytes(raw)).decode() + '\n'
    try:
        i = build(private_key_path='/etc/wireguard/unclamped.key')
    finally:
        del FILES['/etc/wireguard/unclamped.key']
    assert i.device.private_key == PRIV
