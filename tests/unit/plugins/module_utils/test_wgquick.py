"""wg-quick rendering: golden output, names read back, and wg-quick itself reading the file."""
import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import textwrap

import pytest
import scratch_netns

from ansible_collections.meshlab.wireguard.plugins.module_utils._model import Device, Interface, Link, Peer
from ansible_collections.meshlab.wireguard.plugins.module_utils._plan import desired_routes
from ansible_collections.meshlab.wireguard.plugins.module_utils._wgquick import (
    HEADER,
    parse_endpoints,
    parse_names,
    render,
)


def k(byte):
    return base64.b64encode(bytes([byte]) * 32).decode()


PRIV, A, B, C, PSK = k(0x10), k(0xA1), k(0xB2), k(0xC3), k(0x55)


def make(peers, addresses=('100.64.0.1/24', 'fd3a:6c1e:9b42:100::1/64'), mtu=1380, port=51820, fwmark=0,
         name='wg0'):
    return Interface(name, Device(PRIV, port, fwmark, {p.public_key: p for p in peers}),
                     Link(True, mtu, frozenset(addresses)))


PEERS = [
    Peer(B, None, '[fd3a:6c1e:9b42:1::12]:51820', ('100.64.0.3/32', 'fd3a:6c1e:9b42:a2::/64'), 0),
    Peer(A, PSK, '198.51.100.11:51820', ('100.64.0.2/32', '203.0.113.32/27'), 25),
]

GOLDEN = f"""{HEADER}
[Interface]
PrivateKey = {PRIV}
ListenPort = 51820
Address = 100.64.0.1/24, fd3a:6c1e:9b42:100::1/64
MTU = 1380

# Name = h2
[Peer]
PublicKey = {A}
PresharedKey = {PSK}
Endpoint = 198.51.100.11:51820
AllowedIPs = 100.64.0.2/32, 203.0.113.32/27
PersistentKeepalive = 25

[Peer]
PublicKey = {B}
Endpoint = [fd3a:6c1e:9b42:1::12]:51820
AllowedIPs = 100.64.0.3/32, fd3a:6c1e:9b42:a2::/64
"""


def test_golden():
    assert render(make(PEERS), {A: 'h2'}) == GOLDEN


def test_stable_output():
    assert render(make(PEERS), {A: 'h2'}) == render(make(list(reversed(PEERS))), {A: 'h2'})


def test_optional_fields():
    text = render(make([Peer(C)], addresses=(), mtu=None, port=None, fwmark=0x20))
    assert text == f'{HEADER}\n[Interface]\nPrivateKey = {PRIV}\nFwMark = 32\n\n[Peer]\nPublicKey = {C}\n'


def test_default_route_turns_table_off_and_adds_route_lines():
    peers = [Peer(A, allowed_ips=('0.0.0.0/0', '::/0')),
             Peer(B, allowed_ips=('100.64.0.3/32', '203.0.113.64/27', 'fd3a:6c1e:9b42:a2::/64'))]
    text = render(make(peers))
    assert 'Table = off\n' in text
    assert ('PostUp = ip -4 route replace 203.0.113.64/27 dev %i\n'
            'PostUp = ip -6 route replace fd3a:6c1e:9b42:a2::/64 dev %i\n') in text
    assert '0.0.0.0/0 dev' not in text and '::/0 dev' not in text


def test_manage_routes_off():
    text = render(make(PEERS), manage_routes=False)
    assert 'Table = off\n' in text and 'PostUp' not in text


def test_private_key_path():
    text = render(make(PEERS), private_key_path='/etc/wireguard/my key')
    assert 'PrivateKey' not in text and PRIV not in text
    assert "PostUp = wg set %i private-key '/etc/wireguard/my key'\n" in text
    with pytest.raises(ValueError):
        render(make(PEERS), private_key_path='/etc/x#y')


def test_names_one_line():
    assert '# Name = a b\n' in render(make(PEERS), {A: 'a\n  b'})


def test_parse_names_round_trip():
    names = {A: 'h2', B: 'gateway (site 2)'}
    assert parse_names(render(make(PEERS), names)) == names
    assert parse_names(render(make(PEERS), {})) == {}
    assert parse_names('') == {}


def test_parse_names_hand_written():
    text = textwrap.dedent(f"""\
        [Interface]
        # name = not-a-peer
        PrivateKey = {PRIV}
        # NAME=alpha
        [peer]
        publickey = {A}   # trailing comment
        [Peer]
        PublicKey = {B}
        # Name = beta
        AllowedIPs = 10.0.0.0/8
        [Peer]
        PublicKey = {C}
        # Name = dangling
        """)
    assert parse_names(text) == {A: 'alpha', B: 'beta'}


def test_no_secrets_in_names():
    names = parse_names(render(make(PEERS), {A: 'h2'}))
    assert PRIV not in json.dumps(names) and PSK not in json.dumps(names)


def test_parse_endpoints_round_trip():
    peers = [*PEERS, Peer(C, allowed_ips=('100.64.0.4/32',))]
    text = render(make(peers), {A: 'h2'})
    assert parse_endpoints(text) == {A: '198.51.100.11:51820', B: '[fd3a:6c1e:9b42:1::12]:51820', C: None}
    assert parse_endpoints('') == {} and parse_endpoints(None) == {}
    assert PRIV not in json.dumps(parse_endpoints(text)) and PSK not in json.dumps(parse_endpoints(text))


def test_parse_endpoints_hand_written():
    text = textwrap.dedent(f"""\
        [Interface]
        Endpoint = 198.51.100.99:1   # not a peer's
        PrivateKey = {PRIV}
        [peer]
        endpoint=[FD3A:6C1E:9B42:1:0:0:0:12]:51820  # canonical afterwards
        publickey = {A}
        [Peer]
        # no PublicKey: skipped
        Endpoint = 198.51.100.50:51820
        [Peer]
        PublicKey = {B}
        Endpoint = vpn.example.org:51820
        [Peer]
        PublicKey = {C}
        Endpoint =
        """)
    assert parse_endpoints(text) == {A: '[fd3a:6c1e:9b42:1::12]:51820', B: 'vpn.example.org:51820', C: None}


def test_wg_quick_strip(tmp_path):
    if shutil.which('wg-quick') is None or shutil.which('bash') is None:
        pytest.skip('wg-quick is not installed')
    if os.geteuid() != 0:
        pytest.skip('wg-quick re-executes itself with sudo when not root')
    peers = [*PEERS, Peer(C, allowed_ips=('0.0.0.0/0',))]
    path = tmp_path / 'wgt0.conf'
    path.write_text(render(make(peers), {A: 'h2', C: 'exit'}))
    path.chmod(0o600)
    out = subprocess.run(['wg-quick', 'strip', str(path)], capture_output=True, text=True, timeout=30,
                         check=False)
    assert out.returncode == 0, out.stderr
    stripped = out.stdout
    for word in ('Address', 'MTU', 'Table', 'PostUp'):
        assert word not in stripped
    assert f'PublicKey = {A}' in stripped and f'PresharedKey = {PSK}' in stripped
    assert f'PrivateKey = {PRIV}' in stripped


# --- wg-quick up in a network + mount namespace: the file rebuilds what the module sets ----------

INNER = textwrap.dedent('''
    import json, subprocess, sys
    conf, ifname = sys.argv[1], sys.argv[2]
    def run(*cmd):
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', '/run'], check=True)
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    up = subprocess.run(['wg-quick', 'up', conf], capture_output=True, text=True, check=False)
    out = {'up_rc': up.returncode, 'up_err': up.stderr[-3000:]}
    if up.returncode == 0:
        out['routes'] = [r for fam in ('-4', '-6')
                         for r in json.loads(run('ip', '-j', fam, 'route', 'show', 'dev', ifname) or '[]')]
        out['rules'] = run('ip', 'rule') + run('ip', '-6', 'rule')
        out['link'] = json.loads(run('ip', '-j', 'addr', 'show', 'dev', ifname))[0]
        out['showconf'] = run('wg', 'showconf', ifname)
        down = subprocess.run(['wg-quick', 'down', conf], capture_output=True, text=True, check=False)
        out['down_rc'] = down.returncode
    print(json.dumps(out))
''')


def wg_quick_up(tmp_path, text):
    scratch_netns.require('wg-quick', 'wg', 'wireguard-go')
    ifname = 'wgt' + secrets.token_hex(3)
    conf = tmp_path / f'{ifname}.conf'
    conf.write_text(text)
    conf.chmod(0o600)
    script = tmp_path / 'inner.py'
    script.write_text(INNER)
    rc, out, err = scratch_netns.run([sys.executable, str(script), str(conf), ifname], timeout=90)
    assert rc == 0, err.decode()
    result = json.loads(out)
    assert result['up_rc'] == 0, result['up_err']
    return result


def real_keys():
    keys = pytest.importorskip('ansible_collections.meshlab.wireguard.plugins.module_utils._keys')
    if not keys.HAS_NACL:
        pytest.skip('PyNaCl missing')
    return keys


def live_routes(result):
    return {r['dst'] if '/' in r['dst'] else r['dst'] + ('/128' if ':' in r['dst'] else '/32')
            for r in result['routes'] if r.get('protocol') != 'kernel' and r['dst'] != 'default'}


@pytest.mark.lab
@pytest.mark.parametrize('with_default_route', [False, True])
def test_wg_quick_up_matches_desired_state(tmp_path, with_default_route):
    keys = real_keys()
    pa, pb = (keys.public_key_of(keys.generate_private_key()) for _i in range(2))
    peers = [Peer(pa, keys.generate_preshared_key(), '198.51.100.11:51820',
                  ('100.64.0.2/32', '203.0.113.32/27', '10.20.0.0/16'), 25),
             Peer(pb, None, '[fd3a:6c1e:9b42:1::12]:51820',
                  ('100.64.0.3/32', 'fd3a:6c1e:9b42:a2::/64', 'fd3a:6c1e:9b42:100::3/128')
                  + (('0.0.0.0/0', '::/0') if with_default_route else ()), 0)]
    device = Device(keys.generate_private_key(), 51820, 0, {p.public_key: p for p in peers})
    addresses = frozenset({'100.64.0.1/24', 'fd3a:6c1e:9b42:100::1/64'})
    interface = Interface('x', device, Link(True, 1380, addresses))
    result = wg_quick_up(tmp_path, render(interface, {pa: 'h2'}))
    assert live_routes(result) == set(desired_routes(interface))
    assert set(desired_routes(interface)) == {'203.0.113.32/27', '10.20.0.0/16', 'fd3a:6c1e:9b42:a2::/64'}
    assert '51820' not in result['rules']  # no wg-quick policy routing
    link = result['link']
    assert link['mtu'] == 1380
    assert {f"{a['local']}/{a['prefixlen']}" for a in link['addr_info'] if a.get('scope') != 'link'} == \
        set(interface.link.addresses)
    assert f'PublicKey = {pa}' in result['showconf'] and 'ListenPort = 51820' in result['showconf']
    assert result['down_rc'] == 0
