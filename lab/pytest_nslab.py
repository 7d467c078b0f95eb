"""pytest fixtures for lab tier 1 (lab/nslab.py).

Use from a conftest.py::

    sys.path.insert(0, os.path.join(ROOT, 'lab'))
    from pytest_nslab import nslab_factory, nslab_module_factory  # noqa: F401 (fixtures)

    def test_x(nslab_factory):
        lab = nslab_factory(3)              # 3 hosts, a fresh unique lab name
        lab.exec('h1', 'ping -c1 198.51.100.12')

Every lab a factory made is torn down when the test (or module) ends, whether it passed, failed or
was interrupted; teardown fails the test when anything of the lab is left over. Labs are also in
nslab's atexit list, so a Ctrl-C or SIGTERM of the pytest run still removes them; labs of a run
that was SIGKILLed are removed by the next run's first factory call (``lab/nslab.py down --stale``
does the same by hand). Set ``NSLAB_KEEP=1`` to keep the labs of a run for debugging (remove them
with ``lab/nslab.py down --name NAME``). The fixtures skip when not run as root.
"""
from __future__ import annotations

import itertools
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nslab import Lab, destroy, stale_labs

_COUNTER = itertools.count(1)
# (label, seconds) pairs that tests append; tests/lab/conftest.py prints them at the end of the run
TIMINGS = []


def unique_lab_name(prefix: str = 'pt') -> str:
    """A lab name no other pytest run on this machine uses at the same time."""
    return f'{prefix}{os.getpid()}x{next(_COUNTER)}'


def _require_lab():
    if os.geteuid() != 0:
        pytest.skip('lab tier 1 needs root')
    missing = [t for t in ('ip', 'nsenter') if not shutil.which(t)]
    if missing:
        pytest.skip('lab tier 1 needs ' + ', '.join(missing))


_STALE_CLEANED = []


def _clean_stale():
    """Once per run: remove labs of earlier runs that were killed (SIGKILL) before cleaning up."""
    if not _STALE_CLEANED:
        _STALE_CLEANED.append(True)
        for name in stale_labs():
            destroy(name)


def _factory():
    labs = []

    def make(n: int = 3, sites: bool = False, name: str | None = None, **kwargs) -> Lab:
        _require_lab()
        _clean_stale()
        lab = Lab(name or unique_lab_name(), n, sites=sites, **kwargs)
        labs.append(lab)  # before up(): a half-built lab is torn down as well
        lab.up()
        return lab

    def teardown():
        if os.environ.get('NSLAB_KEEP') == '1':
            for lab in labs:
                lab.keep()
            return
        problems = []
        for lab in reversed(labs):
            try:
                left = {k: v for k, v in lab.down().items() if v}
            except Exception as exc:
                left = {'error': str(exc)}
            if left:
                problems.append(f'lab {lab.name}: {left}')
        if problems:
            pytest.fail('lab teardown left things behind: ' + '; '.join(problems))

    return make, teardown


@pytest.fixture
def nslab_factory():
    """make(n, sites=False, name=None, **Lab kwargs) -> Lab that is up; all torn down after the test."""
    make, teardown = _factory()
    try:
        yield make
    finally:
        teardown()


@pytest.fixture(scope='module')
def nslab_module_factory():
    """Same as nslab_factory, but the labs live until the end of the test module."""
    make, teardown = _factory()
    try:
        yield make
    finally:
        teardown()
