"""Fixtures for tests against lab tier 1 (lab/nslab.py): nslab_factory, nslab_module_factory."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB_DIR = os.path.join(ROOT, 'lab')
if LAB_DIR not in sys.path:
    sys.path.insert(0, LAB_DIR)

import pytest_nslab  # noqa: E402
from pytest_nslab import nslab_factory, nslab_module_factory  # noqa: E402, F401 - fixtures


def pytest_terminal_summary(terminalreporter):
    if pytest_nslab.TIMINGS:
        terminalreporter.section('nslab timings')
        for label, seconds in pytest_nslab.TIMINGS:
            terminalreporter.write_line(f'{label}: {seconds:.2f}s')
