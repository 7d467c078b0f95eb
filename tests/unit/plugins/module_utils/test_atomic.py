"""The one atomic writer (_atomic): modes from the first byte, owner kept, nothing left behind."""
import os
import stat

import pytest

from ansible_collections.meshlab.wireguard.plugins.module_utils import _atomic


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def leftovers(directory, name):
    return [f for f in os.listdir(directory) if f != name]


def test_new_file_gets_the_mode_and_the_content(tmp_path):
    p = tmp_path / 'a.conf'
    _atomic.write_atomic(str(p), 'x = 1\n', mode=0o644)
    assert p.read_text() == 'x = 1\n' and mode(p) == 0o644
    _atomic.write_atomic(str(p), b'\x00\x01', mode=0o600)
    assert p.read_bytes() == b'\x00\x01' and mode(p) == 0o600
    assert leftovers(tmp_path, 'a.conf') == []


def test_temp_file_is_0600_before_anything_is_written(tmp_path, monkeypatch):
    seen = []

    def move(tmp, path):
        seen.append(mode(tmp))
        os.replace(tmp, path)

    _atomic.write_atomic(str(tmp_path / 'k'), 'secret', mode=None, move=move)
    assert seen == [0o600] and mode(tmp_path / 'k') == 0o600


@pytest.mark.parametrize('where', ['check', 'move'])
def test_a_failure_keeps_the_old_file_and_removes_the_temp_file(tmp_path, where):
    p = tmp_path / 'rules.nft'
    p.write_text('old\n')

    def boom(*_args):
        raise SystemExit(1)  # what fail_json does inside a module

    kwargs = {'check': boom} if where == 'check' else {'move': boom}
    with pytest.raises(SystemExit):
        _atomic.write_atomic(str(p), 'new\n', mode=0o644, **kwargs)
    assert p.read_text() == 'old\n'
    assert leftovers(tmp_path, 'rules.nft') == []


def test_temp_file_error_names_the_cause(tmp_path):
    missing = tmp_path / 'no' / 'such' / 'f'
    with pytest.raises(_atomic.TempFileError) as e:
        _atomic.write_atomic(str(missing), 'x')
    assert e.value.strerror and isinstance(e.value, OSError)


class FakeModule:
    def __init__(self, core216=False):
        self.core216 = core216
        self.calls = []

    def atomic_move(self, src, dest, unsafe_writes=False, **kw):
        if self.core216 and 'keep_dest_attrs' in kw:
            raise TypeError("atomic_move() got an unexpected keyword argument 'keep_dest_attrs'")
        before = mode(dest) if os.path.exists(dest) else None
        self.calls.append((kw.get('keep_dest_attrs', True), unsafe_writes, before))
        os.replace(src, dest)


def test_module_mover_passes_keep_dest_attrs(tmp_path):
    m = FakeModule()
    _atomic.write_atomic(str(tmp_path / 'k'), 'a', mode=None,
                         move=_atomic.module_mover(m, keep_dest_attrs=False, unsafe_writes=True))
    assert m.calls == [(False, True, None)]


def test_module_mover_on_core_216_narrows_the_replaced_file_first(tmp_path):
    p = tmp_path / 'k'
    p.write_text('old')
    os.chmod(p, 0o644)
    m = FakeModule(core216=True)
    _atomic.write_atomic(str(p), 'new', mode=None, move=_atomic.module_mover(m, keep_dest_attrs=False))
    # the retry without keep_dest_attrs sees the old file already narrowed to its owner bits
    assert m.calls == [(True, False, 0o600)]
    assert p.read_text() == 'new' and mode(p) == 0o600
