"""Helpers of the wireguard_client action plugin: keys, config text, private files, QR codes."""
import os
import stat

from ansible_collections.meshlab.wireguard.plugins.action import wireguard_client as wc
from ansible_collections.meshlab.wireguard.plugins.module_utils import _topology as topo

ARGS = {'name': 'phone', 'network': 'wg0', 'host': 'h1', 'addresses': ['100.64.0.200/24'],
        'allowed_ips': ['100.64.0.0/24', '203.0.113.0/27'], 'dns': ['100.64.0.1'], 'mtu': None,
        'keepalive': 25, 'endpoint': '198.51.100.11:51820',
        'server_public_key': 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg='}


def test_key_generation_is_clamped_and_public_key_matches_nacl():
    private = wc.generate_private_key()
    assert wc.KEY_RE.match(private)
    import base64
    raw = base64.b64decode(private)
    assert raw[0] & 7 == 0 and raw[31] & 128 == 0 and raw[31] & 64
    from nacl.bindings import crypto_scalarmult_base
    assert wc.public_key_of(private) == base64.b64encode(crypto_scalarmult_base(raw)).decode()


def test_config_psk_and_redaction():
    private = wc.generate_private_key()
    psk = topo.derive_psk('s' * 40, 'wg0', wc.public_key_of(private), ARGS['server_public_key'])
    conf = wc.render_config(ARGS, private, psk)
    assert f'PrivateKey = {private}' in conf and f'PresharedKey = {psk}' in conf
    assert 'AllowedIPs = 100.64.0.0/24, 203.0.113.0/27' in conf and 'PersistentKeepalive = 25' in conf
    assert 'DNS = 100.64.0.1' in conf and 'Endpoint = 198.51.100.11:51820' in conf
    red = wc.redact(conf)
    assert private not in red and psk not in red and 'PrivateKey = <redacted>' in red
    assert '#' not in wc._qr_text(conf)


def test_private_files_and_directories(tmp_path):
    d = str(tmp_path / 'clients' / 'wg0')
    assert wc._private_dir(d) is True and stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert wc._private_dir(d) is False
    p = os.path.join(d, 'x.conf')
    assert wc._write_private(p, 'a\n') is True
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    assert wc._write_private(p, 'a\n') is False
    os.chmod(p, 0o644)
    assert wc._write_private(p, 'a\n') is True and stat.S_IMODE(os.stat(p).st_mode) == 0o600
    assert os.listdir(d) == ['x.conf']  # no temporary file left


def test_qr_codes_are_deterministic():
    conf = wc.render_config(ARGS, wc.generate_private_key(), None)
    png = wc.qr_png(conf)
    assert png.startswith(b'\x89PNG') and png == wc.qr_png(conf)
    assert wc.qr_terminal(conf) == wc.qr_terminal(conf)
