# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""WireGuard (X25519) keys: generate, clamp, derive public keys, decode and read key files.

Keys travel as base64 strings (44 characters, as `wg genkey` prints them); `b64_to_hex` and
`hex_to_b64` serve the UAPI codec. No message raised here ever contains key material: errors
name the key (`what`), the problem and the fix, never the text that was read.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
import stat
import traceback

from ansible_collections.meshlab.wireguard.plugins.module_utils._model import InputError

try:
    from nacl.bindings import crypto_scalarmult_base
except ImportError:
    HAS_NACL = False
    NACL_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_NACL = True
    NACL_IMPORT_ERROR = None

KEY_LEN = 32
KEY_B64_LEN = 44
NACL_REQUIREMENT = 'PyNaCl (Debian/Ubuntu: python3-nacl)'
# A key file is one line; anything much larger is certainly not a key, so reading stops there.
MAX_KEY_FILE_BYTES = 4096


class KeyFormatError(InputError):
    """Text that should be a WireGuard key is not one. The message names the fix, never the key."""


def clamp(raw: bytes) -> bytes:
    """Clamp a 32-byte X25519 scalar exactly as the kernel and wireguard-go do before storing it."""
    if len(raw) != KEY_LEN:
        raise KeyFormatError(f'a key must be {KEY_LEN} bytes, got {len(raw)}')
    k = bytearray(raw)
    k[0] &= 248
    k[31] = (k[31] & 127) | 64
    return bytes(k)


def clamped_key(text: str) -> str:
    """A base64 private key as WireGuard stores it (clamped); equal keys after clamping are one key."""
    return base64.b64encode(clamp(decode_key(text, 'private key'))).decode('ascii')


def is_clamped(raw: bytes) -> bool:
    return clamp(raw) == bytes(raw)


def generate_private_key() -> str:
    """A new private key, clamped like `wg genkey` (so the key read back from a device is equal)."""
    return base64.b64encode(clamp(os.urandom(KEY_LEN))).decode('ascii')


def generate_preshared_key() -> str:
    """32 random bytes like `wg genpsk`; a PSK is not a scalar, so no clamping."""
    return base64.b64encode(os.urandom(KEY_LEN)).decode('ascii')


def public_key_of(private_b64: str) -> str:
    """The public key of a base64 private key (clamped first, as WireGuard does)."""
    if not HAS_NACL:
        raise RuntimeError('public_key_of() needs ' + NACL_REQUIREMENT)
    raw = decode_key(private_b64, 'private key')
    return base64.b64encode(crypto_scalarmult_base(clamp(raw))).decode('ascii')


def decode_key(text: str, what: str = 'key') -> bytes:
    """Decode a base64 WireGuard key to its 32 bytes, strictly (as `wg` itself does).

    One trailing newline is removed (key files end with one); any other whitespace is an error
    rather than being silently stripped, because it usually means the wrong file or a paste
    accident. Non-canonical base64 and the all-zero key (which WireGuard reads as "no key")
    are refused.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode('ascii')
        except UnicodeDecodeError:
            raise KeyFormatError(
                f'{what} is not text (binary data): a WireGuard key is 44 characters of base64 as '
                '`wg genkey` prints it'
            ) from None
    if text is not None and not isinstance(text, str):
        raise KeyFormatError(f'{what} must be a string, got {type(text).__name__}')
    if text is None or text == '' or text == '\n':
        raise KeyFormatError(
            f'{what} is empty: give a 44-character base64 WireGuard key as `wg genkey` (private), '
            '`wg pubkey` (public) or `wg genpsk` (preshared) prints it'
        )
    if text.endswith('\n'):
        text = text[:-1]
    if any(c.isspace() for c in text):
        raise KeyFormatError(
            f'{what} contains whitespace or line breaks besides one trailing newline: keep only the key, '
            'on a single line (a PEM or SSH key file is not a WireGuard key)'
        )
    if any(c in '-_' for c in text):
        raise KeyFormatError(
            f"{what} uses URL-safe base64 ('-' or '_'): WireGuard keys use standard base64 ('+' and '/')"
        )
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError(
            f"{what} is not valid base64: a WireGuard key is 44 characters of standard base64 ending "
            "in '=' (as `wg genkey` and `wg pubkey` print it)"
        ) from None
    if len(raw) != KEY_LEN:
        raise KeyFormatError(
            f'{what} decodes to {len(raw)} bytes, but a WireGuard key is exactly {KEY_LEN} bytes '
            "(44 base64 characters ending in '='): check that it is a WireGuard key and not another "
            'kind of key or a truncated copy'
        )
    if base64.b64encode(raw).decode('ascii') != text:
        # wg refuses these too; accepting them would make every later comparison differ.
        raise KeyFormatError(
            f'{what} is not canonical base64 (stray bits in the last character): copy the key again '
            'from `wg genkey`/`wg pubkey` output'
        )
    if raw == bytes(KEY_LEN):
        raise KeyFormatError(
            f'{what} is all zeros, which WireGuard treats as "no key": generate a real key '
            '(meshlab.wireguard.wireguard_key or `wg genkey`)'
        )
    return raw


def canonical_key(text: str, what: str = 'key') -> str:
    """Validate a base64 key and return it without the trailing newline."""
    return base64.b64encode(decode_key(text, what)).decode('ascii')


def b64_to_hex(text: str, what: str = 'key') -> str:
    """Base64 key -> 64 lowercase hex characters (the UAPI wire form)."""
    return binascii.hexlify(decode_key(text, what)).decode('ascii')


def hex_to_b64(text: str, what: str = 'key') -> str:
    """64 hex characters (UAPI) -> base64 key."""
    text = (text or '').strip()
    if len(text) != 2 * KEY_LEN:
        raise KeyFormatError(f'{what} must be {2 * KEY_LEN} hex characters, got {len(text)}')
    try:
        raw = binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        raise KeyFormatError(f'{what} is not valid hex') from None
    return base64.b64encode(raw).decode('ascii')


def read_key_file(path: str, what: str = 'key') -> str:
    """Read and validate a key file; return the key as canonical base64 (no newline).

    Raises InputError when the file cannot be read (missing, a directory or other non-regular
    file, permission denied) and KeyFormatError when it can be read but holds no valid key.
    Symlinks are followed, as `wg` follows them.
    """
    label = f'{what} file {path}'
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NOCTTY', 0) | getattr(os, 'O_NONBLOCK', 0))
    except OSError as e:
        if e.errno == errno.ENOENT:
            raise InputError(
                f'{label} does not exist: create it first (meshlab.wireguard.wireguard_key) or fix the path'
            ) from None
        if e.errno in (errno.EACCES, errno.EPERM):
            raise InputError(
                f'{label} cannot be read (permission denied): run the task with become: true, or give the '
                'connecting user read access'
            ) from None
        raise InputError(f'{label} cannot be opened: {e.strerror}') from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = 'a directory' if stat.S_ISDIR(st.st_mode) else 'not a regular file'
            raise InputError(f'{label} is {kind}: point the path at the key file itself')
        # O_NONBLOCK was only there so a FIFO could not hang the open; regular files ignore it.
        data = b''
        while len(data) <= MAX_KEY_FILE_BYTES:
            chunk = os.read(fd, MAX_KEY_FILE_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as e:
        raise InputError(f'{label} cannot be read: {e.strerror}') from None
    finally:
        os.close(fd)
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyFormatError(
            f'{label} is larger than {MAX_KEY_FILE_BYTES} bytes, so it is not a WireGuard key file '
            '(one 44-character line): check the path'
        )
    return canonical_key(data, label)
