"""pytest setup for every molecule scenario's tests: the shared checks in molecule/shared."""

import sys
from pathlib import Path

_SHARED = str(Path(__file__).resolve().parent / "shared")
if _SHARED not in sys.path:
    sys.path.insert(0, _SHARED)


def pytest_terminal_summary(terminalreporter):
    """Print what the tests measured (verify_mesh.REPORT), e.g. how fast an alert fired."""
    from verify_mesh import REPORT

    if REPORT:
        terminalreporter.section("measured")
        for line in REPORT:
            terminalreporter.write_line(line)
