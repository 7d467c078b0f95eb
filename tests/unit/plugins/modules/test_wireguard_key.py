"""wireguard_key module: run main() with exit_json/fail_json patched to raise (no host needed)."""
import base64
import binascii
import json
import os
import stat

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.meshlab.wireguard.plugins.module_utils import _key_backend
from ansible_collections.meshlab.wireguard.plugins.module_utils._keys import (
    decode_key,
    is_clamped,
    public_key_of,
)
from ansible_collections.meshlab.wireguard.plugins.modules import wireguard_key

# RFC 7748 6.1 Alice's public key: not clamped, the typical "public key in the private key file".
ALICE_PUB = base64.b64encode(binascii.unhexlify(
    '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a')).decode()


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


@pytest.fixture
def run(monkeypatch):
    """run(args) -> result dict of exit_json; raises FailJson with the fail_json dict."""
    warnings = []

    def exit_json(self, **kwargs):
        kwargs.setdefault('changed', False)
        kwargs['warnings'] = list(warnings)
        raise ExitJson(kwargs)

    def fail_json(self, msg, **kwargs):
        kwargs.update(failed=True, msg=msg, warnings=list(warnings))
        raise FailJson(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, w, **kw: warnings.append(w))

    def _run(args, check=False, diff=False):
        del warnings[:]
        args = dict(args)
        args['_ansible_check_mode'] = check
        args['_ansible_diff'] = diff
        with patch_module_args(args), pytest.raises(ExitJson) as e:
            wireguard_key.main()
        return e.value.args[0]

    return _run


def fail(run, args, **kw):
    with pytest.raises(FailJson) as e:
        run(args, **kw)
    return e.value.args[0]


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def put(path, data, mode=0o600):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)
    os.chmod(path, mode)


@pytest.fixture
def key_path(tmp_path):
    return str(tmp_path / 'wireguard' / 'private.key')


def assert_no_secret(result, *secrets):
    text = json.dumps(result)
    for secret in secrets:
        assert secret not in text


# -- create / keep -------------------------------------------------------------------------

def test_create_private(run, key_path):
    r = run({'path': key_path})
    assert r['changed'] is True
    data = read(key_path).decode()
    assert data.endswith('\n') and data.count('\n') == 1
    key = data.strip()
    assert is_clamped(decode_key(key))
    assert r['public_key'] == public_key_of(key)
    assert r['path'] == key_path and r['type'] == 'private'
    assert 'content' not in r and 'backup_file' not in r
    assert mode_of(key_path) == 0o600
    assert mode_of(os.path.dirname(key_path)) == 0o700
    assert_no_secret(r, key)
    assert os.listdir(os.path.dirname(key_path)) == ['private.key']  # no temp file left


def test_keep_existing(run, key_path):
    first = run({'path': key_path})
    before = read(key_path)
    again = run({'path': key_path})
    assert again['changed'] is False
    assert again['public_key'] == first['public_key']
    assert read(key_path) == before
    assert again['warnings'] == []


def test_keep_key_without_newline_and_unclamped_from_other_tools(run, key_path):
    raw = bytearray(os.urandom(32))
    raw[0] |= 1  # unclamped, as a raw X25519 key from another tool may be
    key = base64.b64encode(bytes(raw)).decode()
    put(key_path, key.encode())
    r = run({'path': key_path})
    assert r['changed'] is False
    assert r['public_key'] == public_key_of(key)
    assert read(key_path) == key.encode()
    assert len(r['warnings']) == 1  # explained, not refused


def test_temp_file_is_private_before_the_move(run, key_path, monkeypatch):
    seen = []
    real_move = basic.AnsibleModule.atomic_move

    def spy(self, src, dest, *args, **kwargs):
        umask = os.umask(0)
        os.umask(umask)
        seen.append((mode_of(src), os.path.dirname(src), umask))
        return real_move(self, src, dest, *args, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, 'atomic_move', spy)
    run({'path': key_path})
    assert seen == [(0o600, os.path.dirname(key_path), 0o077)]


# -- regenerate ----------------------------------------------------------------------------

def test_regenerate_always_with_backup(run, key_path):
    first = run({'path': key_path})
    old = read(key_path)
    r = run({'path': key_path, 'regenerate': 'always', 'backup': True})
    assert r['changed'] is True
    assert r['public_key'] != first['public_key']
    assert read(key_path) != old
    assert read(r['backup_file']) == old
    assert mode_of(r['backup_file']) == 0o600
    assert os.path.dirname(r['backup_file']) == os.path.dirname(key_path)
    assert_no_secret(r, old.decode().strip(), read(key_path).decode().strip())


def test_regenerate_always_without_backup_leaves_no_copy(run, key_path):
    run({'path': key_path})
    r = run({'path': key_path, 'regenerate': 'always', 'backup': False})
    assert r['changed'] is True and 'backup_file' not in r
    assert os.listdir(os.path.dirname(key_path)) == ['private.key']


@pytest.mark.parametrize('content', [b'', b'\n', b'garbage\n', b'AAAA\n', b'# comment\nkey\n',
                                     b'-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn==\n'])
@pytest.mark.parametrize('regenerate', ['never', 'fail'])
def test_invalid_file_is_never_replaced(run, key_path, content, regenerate):
    put(key_path, content, mode=0o640)
    r = fail(run, {'path': key_path, 'regenerate': regenerate})
    assert key_path in r['msg']
    assert 'regenerate=always' in r['msg'] and 'remove the file' in r['msg']
    assert 'left unchanged' in r['msg']
    assert read(key_path) == content
    assert mode_of(key_path) == 0o640  # not even the mode is touched on failure


def test_invalid_file_replaced_with_always(run, key_path):
    put(key_path, b'garbage\n')
    r = run({'path': key_path, 'regenerate': 'always', 'backup': True}, diff=True)
    assert r['changed'] is True
    assert read(r['backup_file']) == b'garbage\n'
    assert r['public_key'] == public_key_of(read(key_path).decode())
    assert r['diff']['before'] == {'state': 'present', 'content': '<not a valid key>'}


def test_public_key_in_private_key_file_warns(run, key_path):
    put(key_path, (ALICE_PUB + '\n').encode())
    r = run({'path': key_path})
    assert r['changed'] is False
    assert len(r['warnings']) == 1
    warning = r['warnings'][0]
    assert key_path in warning and 'public key' in warning and 'regenerate=fail' in warning
    assert public_key_of(ALICE_PUB) in warning  # the derived public key, to compare with peers'
    assert read(key_path) == (ALICE_PUB + '\n').encode()


def test_public_key_in_private_key_file_fails_with_regenerate_fail(run, key_path):
    put(key_path, (ALICE_PUB + '\n').encode())
    r = fail(run, {'path': key_path, 'regenerate': 'fail'})
    assert 'regenerate=always' in r['msg'] and 'regenerate=never' in r['msg']
    assert read(key_path) == (ALICE_PUB + '\n').encode()


def test_regenerate_fail_keeps_clamped_key(run, key_path):
    first = run({'path': key_path})
    r = run({'path': key_path, 'regenerate': 'fail'})
    assert r['changed'] is False and r['public_key'] == first['public_key'] and r['warnings'] == []


# -- check mode and diff -------------------------------------------------------------------

def test_check_mode_creates_nothing(run, key_path):
    r = run({'path': key_path}, check=True, diff=True)
    assert r['changed'] is True
    assert r['public_key'] is None
    assert not os.path.exists(os.path.dirname(key_path))
    assert r['diff']['before'] == {'state': 'absent'}
    assert r['diff']['after']['state'] == 'present'


def test_four_runs(run, key_path):
    assert [run({'path': key_path}, check=c)['changed'] for c in (True, False, True, False)] == \
        [True, True, False, False]


def test_check_mode_regenerate_always_changes_nothing(run, key_path):
    run({'path': key_path})
    old = read(key_path)
    r = run({'path': key_path, 'regenerate': 'always', 'backup': True}, check=True)
    assert r['changed'] is True and 'backup_file' not in r
    assert read(key_path) == old
    assert os.listdir(os.path.dirname(key_path)) == ['private.key']


def test_diff_shows_public_key_only(run, key_path):
    first = run({'path': key_path}, diff=True)
    key = read(key_path).decode().strip()
    assert first['diff']['before'] == {'state': 'absent'}
    assert first['diff']['after'] == {'state': 'present', 'public_key': first['public_key']}
    second = run({'path': key_path, 'regenerate': 'always'}, diff=True)
    assert second['diff']['before']['public_key'] == first['public_key']
    assert second['diff']['after']['public_key'] == second['public_key']
    assert_no_secret(first, key)
    assert_no_secret(second, key, read(key_path).decode().strip())


def test_diff_includes_mode_change(run, key_path):
    run({'path': key_path})
    os.chmod(key_path, 0o644)
    r = run({'path': key_path}, diff=True)
    assert r['changed'] is True
    assert r['diff']['before']['mode'] == '0644' and r['diff']['after']['mode'] == '0600'
    assert mode_of(key_path) == 0o600


# -- preshared -----------------------------------------------------------------------------

def test_preshared(run, tmp_path):
    path = str(tmp_path / 'psk' / 'a-b.psk')
    r = run({'path': path, 'type': 'preshared'}, diff=True)
    psk = read(path).decode().strip()
    assert r['changed'] is True and 'public_key' not in r
    assert len(decode_key(psk)) == 32
    assert r['diff'] == {'before': {'state': 'absent'},
                         'after': {'state': 'present', 'preshared_key': '<new>'},
                         'before_header': path, 'after_header': path}
    again = run({'path': path, 'type': 'preshared'}, diff=True)
    assert again['changed'] is False
    assert again['diff']['before'] == again['diff']['after'] == {'state': 'present', 'preshared_key': '<set>'}
    rotated = run({'path': path, 'type': 'preshared', 'regenerate': 'always'}, diff=True)
    assert rotated['diff']['before']['preshared_key'] == '<set>'
    assert rotated['diff']['after']['preshared_key'] == '<new>'
    assert_no_secret(r, psk)
    assert_no_secret(rotated, psk, read(path).decode().strip())


def test_preshared_unclamped_is_normal(run, tmp_path):
    path = str(tmp_path / 'p.psk')
    put(path, (ALICE_PUB + '\n').encode())
    r = run({'path': path, 'type': 'preshared', 'regenerate': 'fail'})
    assert r['changed'] is False and r['warnings'] == []


# -- return_content ------------------------------------------------------------------------

def test_return_content(run, key_path):
    r = run({'path': key_path, 'return_content': True})
    assert r['content'] == read(key_path).decode().strip()
    r = run({'path': key_path, 'return_content': True})
    assert r['content'] == read(key_path).decode().strip()
    assert 'content' not in run({'path': key_path})


def test_return_content_check_mode_new_key(run, key_path):
    assert 'content' not in run({'path': key_path, 'return_content': True}, check=True)


# -- absent --------------------------------------------------------------------------------

def test_absent(run, key_path):
    run({'path': key_path})
    old = read(key_path)
    r = run({'path': key_path, 'state': 'absent'}, check=True)
    assert r['changed'] is True and os.path.exists(key_path)
    r = run({'path': key_path, 'state': 'absent', 'backup': True}, diff=True)
    assert r['changed'] is True and not os.path.exists(key_path)
    assert read(r['backup_file']) == old and mode_of(r['backup_file']) == 0o600
    assert r['diff']['after'] == {'state': 'absent'}
    assert r['diff']['before']['public_key'] == public_key_of(old.decode())
    assert run({'path': key_path, 'state': 'absent'})['changed'] is False


def test_absent_removes_invalid_file(run, key_path):
    put(key_path, b'garbage')
    assert run({'path': key_path, 'state': 'absent'})['changed'] is True
    assert not os.path.exists(key_path)


# -- files, modes, owners ------------------------------------------------------------------

def test_mode_option(run, key_path):
    r = run({'path': key_path, 'mode': '0640'})
    assert r['changed'] is True and mode_of(key_path) == 0o640
    assert run({'path': key_path, 'mode': '0640'})['changed'] is False
    assert run({'path': key_path})['changed'] is True  # back to the default 0600
    assert mode_of(key_path) == 0o600


def test_loose_existing_directory_warns_but_is_kept(run, tmp_path):
    shared = tmp_path / 'shared'
    shared.mkdir()
    os.chmod(shared, 0o777)  # noqa: S103 - the loose directory under test
    r = run({'path': str(shared / 'k')})
    assert mode_of(shared) == 0o777
    assert any(str(shared) in w and 'writable by group or others' in w for w in r['warnings'])


def test_sticky_directory_does_not_warn(run, tmp_path):
    shared = tmp_path / 'sticky'
    shared.mkdir()
    os.chmod(shared, 0o1777)  # noqa: S103 - like /tmp
    assert run({'path': str(shared / 'k')})['warnings'] == []


def test_existing_directory_mode_is_not_changed(run, tmp_path):
    d = tmp_path / 'd'
    d.mkdir()
    os.chmod(d, 0o755)  # noqa: S103 - a usual /etc-like directory
    run({'path': str(d / 'k')})
    assert mode_of(d) == 0o755


@pytest.mark.skipif(os.geteuid() != 0, reason='chown to another user needs root')
def test_replaced_key_keeps_owner(run, key_path):
    run({'path': key_path})
    os.chown(key_path, 65534, 65534)
    run({'path': key_path, 'regenerate': 'always'})
    st = os.stat(key_path)
    assert (st.st_uid, st.st_gid) == (65534, 65534)
    assert mode_of(key_path) == 0o600


def test_path_is_directory(run, tmp_path):
    r = fail(run, {'path': str(tmp_path)})
    assert 'is a directory' in r['msg'] and 'private.key' in r['msg']


def test_parent_is_a_file(run, tmp_path):
    put(str(tmp_path / 'f'), b'x')
    r = fail(run, {'path': str(tmp_path / 'f' / 'k')})
    assert 'not a directory' in r['msg']


def test_symlink_is_followed(run, tmp_path):
    real = tmp_path / 'real'
    real.mkdir()
    os.chmod(real, 0o700)
    os.symlink(real / 'private.key', tmp_path / 'link.key')  # dangling until created
    r = run({'path': str(tmp_path / 'link.key')})
    assert os.path.islink(tmp_path / 'link.key')
    assert r['public_key'] == public_key_of(read(str(real / 'private.key')).decode())
    assert run({'path': str(tmp_path / 'link.key'), 'regenerate': 'always'})['changed'] is True
    assert os.path.islink(tmp_path / 'link.key')
    run({'path': str(tmp_path / 'link.key'), 'state': 'absent'})
    assert not os.path.exists(real / 'private.key')


def test_default_path(run, tmp_path, monkeypatch):
    paths = {'private': str(tmp_path / 'etc' / 'private.key'), 'preshared': str(tmp_path / 'etc' / 'psk.key')}
    monkeypatch.setattr(_key_backend, 'DEFAULT_PATHS', paths)
    assert run({})['path'] == paths['private']
    assert run({'type': 'preshared'})['path'] == paths['preshared']
    assert sorted(os.listdir(tmp_path / 'etc')) == ['private.key', 'psk.key']


def test_missing_pynacl(run, key_path, monkeypatch):
    monkeypatch.setattr(wireguard_key, 'HAS_NACL', False)
    monkeypatch.setattr(wireguard_key, 'NACL_IMPORT_ERROR', 'ImportError: No module named nacl')
    r = fail(run, {'path': key_path})
    assert 'PyNaCl' in r['msg'] and 'python3-nacl' in r['msg']
    assert not os.path.exists(key_path)
    # A preshared key needs no PyNaCl.
    assert run({'path': key_path + '.psk', 'type': 'preshared'})['changed'] is True


def test_generated_keys_are_not_reused(run, tmp_path):
    keys = set()
    for i in range(5):
        path = str(tmp_path / f'{i}.key')
        run({'path': path})
        keys.add(read(path))
    assert len(keys) == 5


# --------------------------------------------------------------------------- content (a key from vault)

def test_content_is_written_into_a_missing_file(run, key_path):
    from ansible_collections.meshlab.wireguard.plugins.module_utils._keys import generate_private_key
    key = generate_private_key()
    r = run({'path': key_path, 'content': key})
    assert r['changed'] and read(key_path) == (key + '\n').encode() and r['public_key'] == public_key_of(key)
    assert mode_of(key_path) == 0o600
    assert key not in json.dumps(r)
    # the same key again, also with regenerate=always: unchanged (no rotation on every run)
    assert run({'path': key_path, 'content': key})['changed'] is False
    assert run({'path': key_path, 'content': key, 'regenerate': 'always'})['changed'] is False


@pytest.mark.parametrize('bad', ['', 'short', ALICE_PUB[:40], 'A' * 43 + '=', ' ' + ALICE_PUB,
                                 base64.b64encode(bytes(32)).decode()])
def test_bad_content_writes_nothing(run, key_path, bad):
    run({'path': key_path})
    old = read(key_path)
    if bad == '':
        assert run({'path': key_path, 'content': bad})['changed'] is False  # '' = no content given
    else:
        r = fail(run, {'path': key_path, 'content': bad, 'regenerate': 'always'})
        assert 'Nothing was written' in r['msg']
        assert len(bad.strip()) < 8 or bad.strip() not in r['msg']
    assert read(key_path) == old
    assert os.listdir(os.path.dirname(key_path)) == ['private.key']


def test_content_never_replaces_another_valid_key_unless_asked(run, key_path):
    from ansible_collections.meshlab.wireguard.plugins.module_utils._keys import generate_private_key
    old_key = run({'path': key_path, 'return_content': True})['content']
    new_key = generate_private_key()
    r = fail(run, {'path': key_path, 'content': new_key})
    assert 'regenerate=always' in r['msg'] and public_key_of(old_key) in r['msg']
    assert new_key not in r['msg'] and old_key not in r['msg']
    assert read(key_path) == (old_key + '\n').encode()
    r = run({'path': key_path, 'content': new_key, 'regenerate': 'always'})
    assert r['changed'] and read(key_path) == (new_key + '\n').encode()
    assert read(r['backup_file']) == (old_key + '\n').encode()  # backup is the default


def test_content_over_an_invalid_file_keeps_a_backup(run, key_path):
    from ansible_collections.meshlab.wireguard.plugins.module_utils._keys import generate_private_key
    os.makedirs(os.path.dirname(key_path), exist_ok=True)
    with open(key_path, 'w') as f:
        f.write('garbage\n')
    key = generate_private_key()
    r = run({'path': key_path, 'content': key})
    assert r['changed'] and read(r['backup_file']) == b'garbage\n'


def test_unclamped_content_equal_to_the_clamped_file_is_the_same_key(run, key_path):
    key = run({'path': key_path, 'return_content': True})['content']
    raw = bytearray(decode_key(key))
    raw[0] |= 7  # the low bits WireGuard clears when it clamps
    unclamped = base64.b64encode(bytes(raw)).decode()
    assert not is_clamped(bytes(raw))
    assert run({'path': key_path, 'content': unclamped})['changed'] is False
