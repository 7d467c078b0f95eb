"""_keys: X25519 against RFC 7748 and `wg pubkey`, clamping, strict decoding, key files."""
import base64
import binascii
import os
import shutil
import subprocess

import pytest
from nacl.bindings import crypto_scalarmult

from ansible_collections.meshlab.wireguard.plugins.module_utils import _keys
from ansible_collections.meshlab.wireguard.plugins.module_utils._keys import (
    KeyFormatError,
    b64_to_hex,
    canonical_key,
    clamp,
    decode_key,
    generate_preshared_key,
    generate_private_key,
    hex_to_b64,
    is_clamped,
    public_key_of,
    read_key_file,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import InputError

# RFC 7748 section 6.1 (X25519), hex.
ALICE_PRIV = '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'
ALICE_PUB = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a'
BOB_PRIV = '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'
BOB_PUB = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f'
SHARED = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742'


def b64(hex_text):
    return base64.b64encode(binascii.unhexlify(hex_text)).decode()


# -- RFC 7748 ------------------------------------------------------------------------------

@pytest.mark.parametrize('priv, pub', [(ALICE_PRIV, ALICE_PUB), (BOB_PRIV, BOB_PUB)])
def test_rfc7748_public_keys(priv, pub):
    # The RFC's private keys are not clamped: X25519 clamps them, and so must public_key_of.
    assert not is_clamped(binascii.unhexlify(priv))
    assert public_key_of(b64(priv)) == b64(pub)
    assert public_key_of(base64.b64encode(clamp(binascii.unhexlify(priv))).decode()) == b64(pub)


def test_rfc7748_shared_secret():
    a, b = binascii.unhexlify(ALICE_PRIV), binascii.unhexlify(BOB_PRIV)
    alice_pub = decode_key(public_key_of(b64(ALICE_PRIV)))
    bob_pub = decode_key(public_key_of(b64(BOB_PRIV)))
    assert crypto_scalarmult(a, bob_pub) == binascii.unhexlify(SHARED)
    assert crypto_scalarmult(b, alice_pub) == binascii.unhexlify(SHARED)


# -- against wireguard-tools ---------------------------------------------------------------

needs_wg = pytest.mark.skipif(
    shutil.which('wg') is None, reason='`wg` (Debian package wireguard-tools) is not installed')


@pytest.fixture(scope='module')
def thousand_keys():
    return [generate_private_key() for _i in range(1000)]


@needs_wg
def test_public_keys_match_wg_pubkey(thousand_keys):
    # One shell for all 1,000 keys: `wg pubkey` reads a single key from stdin per call.
    script = 'while read -r k; do printf "%s\\n" "$k" | wg pubkey || exit 1; done'
    out = subprocess.run(['sh', '-c', script], input='\n'.join(thousand_keys) + '\n',
                         capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.split() == [public_key_of(k) for k in thousand_keys]


@needs_wg
def test_wg_genkey_output_is_accepted_and_clamped():
    for _i in range(20):
        key = subprocess.run(['wg', 'genkey'], capture_output=True, text=True, check=True).stdout
        assert is_clamped(decode_key(key, 'wg genkey output'))


# -- clamping and generation ---------------------------------------------------------------

def test_clamp_bits():
    assert clamp(b'\xff' * 32) == b'\xf8' + b'\xff' * 30 + b'\x7f'
    assert clamp(bytes(32)) == bytes(31) + b'\x40'
    raw = os.urandom(32)
    assert clamp(clamp(raw)) == clamp(raw)
    with pytest.raises(KeyFormatError):
        clamp(b'\x00' * 31)


def test_generated_private_keys_are_clamped_and_distinct(thousand_keys):
    assert len(set(thousand_keys)) == len(thousand_keys)
    for key in thousand_keys:
        assert len(key) == 44
        assert is_clamped(decode_key(key))


def test_preshared_keys_are_random_not_clamped():
    keys = [generate_preshared_key() for _i in range(200)]
    assert len(set(keys)) == 200
    assert all(len(decode_key(k)) == 32 for k in keys)
    # A PSK is no scalar: clamping would throw away 5 bits. 200 clamped ones in a row: p = 32**-200.
    assert not all(is_clamped(decode_key(k)) for k in keys)


def test_public_keys_are_rarely_clamped_shaped(thousand_keys):
    """Why a public key in a private key file is detectable 15 times in 16 (see module notes)."""
    pubs = [decode_key(public_key_of(k)) for k in thousand_keys]
    assert all(p[31] & 0x80 == 0 for p in pubs)  # u < 2^255 - 19: top bit always clear
    clamped = sum(is_clamped(p) for p in pubs)
    assert 20 <= clamped <= 120  # expected 1000/16 = 62.5, sd ~7.7
    assert not is_clamped(binascii.unhexlify(ALICE_PUB))


# -- decoding ------------------------------------------------------------------------------

GOOD = b64(ALICE_PUB)  # hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=


def test_decode_accepts_one_trailing_newline():
    assert decode_key(GOOD) == binascii.unhexlify(ALICE_PUB)
    assert decode_key(GOOD + '\n') == binascii.unhexlify(ALICE_PUB)
    assert decode_key((GOOD + '\n').encode()) == binascii.unhexlify(ALICE_PUB)
    assert canonical_key(GOOD + '\n') == GOOD


@pytest.mark.parametrize('text, words', [
    ('', 'is empty'),
    ('\n', 'is empty'),
    (None, 'is empty'),
    (GOOD + '\n\n', 'whitespace'),
    (GOOD + '\r\n', 'whitespace'),
    (' ' + GOOD, 'whitespace'),
    (GOOD[:20] + ' ' + GOOD[20:], 'whitespace'),
    ('-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VuBCIEIA==\n-----END PRIVATE KEY-----\n', 'PEM'),
    (GOOD[:43] + '!', 'not valid base64'),
    (GOOD[:43], 'not valid base64'),  # missing padding
    (GOOD.replace('/', '_'), 'URL-safe'),
    (base64.b64encode(bytes(range(1, 17))).decode(), 'decodes to 16 bytes'),
    (base64.b64encode(bytes(range(1, 34))).decode(), 'decodes to 33 bytes'),
    ('AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl', 'decodes to 51 bytes'),
    (GOOD[:42] + 'p=', 'not canonical'),  # 'o' -> 'p' sets one of the two unused low bits
    ('A' * 43 + '=', 'all zeros'),
    (b'\xff\xfe' * 22, 'binary'),
    (12345, 'must be a string'),
])
def test_decode_rejects(text, words):
    with pytest.raises(KeyFormatError) as e:
        decode_key(text, 'peer public key')
    msg = str(e.value)
    assert msg.startswith('peer public key')
    assert words in msg
    assert GOOD not in msg  # errors never echo key material


def test_key_format_error_is_input_error():
    assert issubclass(KeyFormatError, InputError)


def test_hex_round_trip():
    assert b64_to_hex(b64(ALICE_PUB)) == ALICE_PUB
    assert hex_to_b64(ALICE_PUB) == b64(ALICE_PUB)
    assert hex_to_b64(ALICE_PUB.upper()) == b64(ALICE_PUB)
    key = generate_private_key()
    assert hex_to_b64(b64_to_hex(key)) == key


@pytest.mark.parametrize('text', ['', 'ab', ALICE_PUB[:-2], ALICE_PUB[:-1] + 'g'])
def test_hex_rejects(text):
    with pytest.raises(KeyFormatError):
        hex_to_b64(text, 'uapi key')


# -- key files -----------------------------------------------------------------------------

def write(path, data, mode=0o600):
    with open(path, 'wb') as f:
        f.write(data)
    os.chmod(path, mode)
    return str(path)


def test_read_key_file(tmp_path):
    key = generate_private_key()
    assert read_key_file(write(tmp_path / 'k', (key + '\n').encode()), 'private key') == key
    assert read_key_file(write(tmp_path / 'k2', key.encode()), 'private key') == key


def test_read_key_file_follows_symlinks(tmp_path):
    key = generate_private_key()
    target = write(tmp_path / 'k', (key + '\n').encode())
    os.symlink(target, tmp_path / 'link')
    assert read_key_file(str(tmp_path / 'link')) == key


def test_read_key_file_missing(tmp_path):
    with pytest.raises(InputError) as e:
        read_key_file(str(tmp_path / 'nope'), 'private key')
    assert not isinstance(e.value, KeyFormatError)
    assert str(tmp_path / 'nope') in str(e.value) and 'does not exist' in str(e.value)


def test_read_key_file_directory_and_fifo(tmp_path):
    with pytest.raises(InputError, match='is a directory'):
        read_key_file(str(tmp_path))
    os.mkfifo(tmp_path / 'fifo')
    with pytest.raises(InputError, match='not a regular file'):  # and it did not hang
        read_key_file(str(tmp_path / 'fifo'))


def test_read_key_file_unreadable(tmp_path, monkeypatch):
    path = write(tmp_path / 'k', b'x')

    def denied(*args, **kwargs):
        raise PermissionError(13, 'Permission denied')

    monkeypatch.setattr(_keys.os, 'open', denied)
    with pytest.raises(InputError, match='become: true') as e:
        read_key_file(path, 'private key')
    assert path in str(e.value)


@pytest.mark.parametrize('data, words', [
    (b'', 'is empty'),
    (b'notakey!\n', 'not valid base64'),
    (b'two words\n', 'whitespace'),
    (b'\xff' * 32, 'binary'),  # raw key bytes instead of base64
    (b'x' * 5000, 'larger than 4096 bytes'),
    (b'\x00' * 32, 'not valid base64'),
])
def test_read_key_file_not_a_key(tmp_path, data, words):
    path = write(tmp_path / 'k', data)
    with pytest.raises(KeyFormatError) as e:
        read_key_file(path, 'private key')
    assert str(e.value).startswith(f'private key file {path}')
    assert words in str(e.value)


def test_public_key_in_private_key_file_reads_as_a_key(tmp_path):
    """Format alone cannot tell: the module's clamping check (warning) is what catches it."""
    pub = public_key_of(generate_private_key())
    path = write(tmp_path / 'private.key', (b64(ALICE_PUB) + '\n').encode())
    assert read_key_file(path, 'private key') == b64(ALICE_PUB)
    assert not is_clamped(decode_key(b64(ALICE_PUB)))
    assert len(decode_key(pub)) == 32
