"""Fixtures for the ansible-core matrix (tests/matrix): lab tier 1 helpers on sys.path."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for sub in ('lab', os.path.join('tests', 'lab')):
    path = os.path.join(ROOT, sub)
    if path not in sys.path:
        sys.path.insert(0, path)

import pytest_nslab  # noqa: E402


def pytest_terminal_summary(terminalreporter):
    if pytest_nslab.TIMINGS:
        terminalreporter.section('nslab timings')
        for label, seconds in pytest_nslab.TIMINGS:
            terminalreporter.write_line(f'{label}: {seconds:.2f}s')
