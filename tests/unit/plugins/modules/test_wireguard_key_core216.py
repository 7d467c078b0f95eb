"""wireguard_key on ansible-core 2.16, whose AnsibleModule.atomic_move has no keep_dest_attrs and
always copies the replaced file's mode onto the new one: the new key is still never looser than
0600 on its way into place (the old file is tightened first), and the result is the same."""
import os
import stat

import pytest
from ansible.module_utils import basic
from test_wireguard_key import run  # noqa: F401  # pylint: disable=unused-import

from ansible_collections.meshlab.wireguard.plugins.module_utils._keys import public_key_of


@pytest.fixture
def core216_atomic_move(monkeypatch):
    """2.16's signature and mode copying, recording the mode of the new file before the move."""
    real_move = basic.AnsibleModule.atomic_move
    seen = []

    def atomic_move(self, src, dest, unsafe_writes=False):
        if os.path.exists(dest):
            os.chmod(src, stat.S_IMODE(os.stat(dest).st_mode))  # what 2.16 does
        seen.append(stat.S_IMODE(os.stat(src).st_mode))
        return real_move(self, src, dest, unsafe_writes=unsafe_writes)

    monkeypatch.setattr(basic.AnsibleModule, 'atomic_move', atomic_move)
    return seen


def test_regenerating_a_world_readable_key_never_exposes_the_new_one(run, tmp_path, core216_atomic_move):  # noqa: F811
    path = str(tmp_path / 'wg0.key')
    first = run({'path': path})
    os.chmod(path, 0o644)
    r = run({'path': path, 'regenerate': 'always'})
    assert r['changed'] is True and r['public_key'] != first['public_key']
    assert core216_atomic_move == [0o600, 0o600]  # new file, then the replacement: never 0644
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as f:
        assert public_key_of(f.read().strip()) == r['public_key']
