"""wireguard_key through ansible-playbook on localhost (local connection, Debian's python3).

Four runs (check, run, check, run) must report changed True, True, False, False; the secret
never appears in any output, even at -vvv with --diff.
"""
import os
import re
import shutil
import stat
import subprocess

import pytest

from .helpers import LOCAL_INVENTORY, run_playbook

TARGET_PYTHON = '/usr/bin/python3'


def _target_has_nacl():
    if not os.path.exists(TARGET_PYTHON):
        return False
    return subprocess.run([TARGET_PYTHON, '-c', 'import nacl.bindings'], capture_output=True,
                          check=False).returncode == 0


pytestmark = pytest.mark.skipif(
    not _target_has_nacl(),
    reason=f'{TARGET_PYTHON} cannot import nacl: install the Debian package python3-nacl',
)
needs_wg = pytest.mark.skipif(shutil.which('wg') is None,
                              reason='`wg` (Debian package wireguard-tools) is not installed')

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Key
      meshlab.wireguard.wireguard_key:
        path: "{path}"
        type: {type}
        regenerate: {regenerate}
      register: r
    - name: Report
      ansible.builtin.debug:
        msg: "public_key={{{{ r.public_key | default('n/a') }}}}"
"""

PUBLIC_KEY = re.compile(r'public_key=(\S*?)"')


def playbook(path, type_='private', regenerate='never'):
    return PLAYBOOK.format(path=path, type=type_, regenerate=regenerate)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def four_runs(path, type_):
    """check, run, check, run at -vvv with --diff; returns [(changed, public_key, output), ...]."""
    runs = []
    for check in (True, False, True, False):
        rc, out, err, recap = run_playbook(playbook(path, type_), LOCAL_INVENTORY,
                                           extra_args=('-vvv', '--diff'), check=check)
        assert rc == 0, out + err
        assert recap['localhost']['failed'] == 0
        found = PUBLIC_KEY.findall(out)
        runs.append((recap['localhost']['changed'] == 1, found[-1] if found else None, out + err))
    return runs


@needs_wg
def test_private_key_four_runs(tmp_path):
    path = str(tmp_path / 'etc' / 'wireguard' / 'private.key')
    runs = four_runs(path, 'private')
    assert [changed for changed, _, _ in runs] == [True, True, False, False]

    with open(path) as f:
        key = f.read().strip()
    wg_pub = subprocess.run(['wg', 'pubkey'], input=key + '\n', capture_output=True, text=True,
                            check=True).stdout.strip()
    assert runs[0][1] in ('', 'None')  # check mode cannot know the key it would generate
    assert [pub for _, pub, _ in runs[1:]] == [wg_pub] * 3
    assert mode_of(path) == 0o600
    assert mode_of(os.path.dirname(path)) == 0o700
    for _, _, output in runs:
        assert key not in output
    assert 'AnsiballZ' in runs[3][2]  # it really was -vvv output


def test_preshared_key_four_runs(tmp_path):
    path = str(tmp_path / 'psk' / 'a-b.psk')
    runs = four_runs(path, 'preshared')
    assert [changed for changed, _, _ in runs] == [True, True, False, False]
    with open(path) as f:
        psk = f.read().strip()
    assert len(psk) == 44
    assert mode_of(path) == 0o600
    assert mode_of(os.path.dirname(path)) == 0o700
    for _, pub, output in runs:
        assert psk not in output
        assert pub == 'n/a'
    assert '<set>' in runs[3][2]  # the diff marker stands in for the key


@pytest.mark.parametrize('regenerate', ['never', 'fail'])
def test_invalid_existing_file_fails_and_is_left_intact(tmp_path, regenerate):
    path = tmp_path / 'private.key'
    content = b'this is not a wireguard key\n'
    path.write_bytes(content)
    os.chmod(path, 0o640)
    rc, out, _err, recap = run_playbook(playbook(path, regenerate=regenerate), LOCAL_INVENTORY)
    assert rc != 0
    assert recap['localhost']['failed'] == 1
    assert str(path) in out
    assert 'regenerate=always' in out and 'remove the file' in out
    assert path.read_bytes() == content
    assert mode_of(path) == 0o640


def test_public_key_in_private_key_file_warns(tmp_path):
    # RFC 7748 Alice's public key: unclamped, like 15 in 16 public keys.
    alice_pub = 'hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo='
    path = tmp_path / 'private.key'
    path.write_text(alice_pub + '\n')
    os.chmod(path, 0o600)
    rc, out, err, recap = run_playbook(playbook(path), LOCAL_INVENTORY)
    assert rc == 0 and recap['localhost']['changed'] == 0
    assert '[WARNING]' in out + err and 'is not clamped' in out + err
    rc, out, err, recap = run_playbook(playbook(path, regenerate='fail'), LOCAL_INVENTORY)
    assert rc != 0 and 'regenerate=fail refuses' in out
    assert path.read_text() == alice_pub + '\n'
