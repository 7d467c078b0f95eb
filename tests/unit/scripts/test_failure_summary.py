"""scripts/failure_summary.py: CI keeps only the tail of `make test`, so its last lines must name
the failing test and why, for pytest stages, molecule's verify and stages that only have a log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / 'scripts' / 'failure_summary.py'

JUNIT = """<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="2" failures="1">
<testcase classname="tests.test_kernel_mesh" name="test_rotation">
<failure message="AssertionError: ('vm1-&gt;vm2', 31 lost)&#10;assert False">long trace</failure>
</testcase><testcase classname="tests.test_kernel_mesh" name="test_mesh"/></testsuite></testsuites>
"""


def _run(tmp_path, *stages):
    argv = [sys.executable, str(SCRIPT), str(tmp_path / 'junit'), str(tmp_path / 'logs'), *stages]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.splitlines()


def test_names_the_failing_case_and_the_first_line_of_its_message(tmp_path):
    (tmp_path / 'junit').mkdir()
    (tmp_path / 'junit' / 'molecule-kernel-verify.xml').write_text(JUNIT)
    out = _run(tmp_path, 'molecule-kernel')
    assert out[1:] == ["  molecule-kernel-verify: tests.test_kernel_mesh::test_rotation: "
                       "AssertionError: ('vm1->vm2', 31 lost)"]


def test_a_stage_without_a_failing_case_is_told_from_its_log(tmp_path):
    (tmp_path / 'junit').mkdir()
    (tmp_path / 'logs').mkdir()
    (tmp_path / 'logs' / 'molecule-podman.log').write_text(
        '\x1b[31m  │ fatal: [h1]: FAILED! => {"msg": "no package wireguard"}\x1b[0m\n'
        '  │ all good here\n  │ h1 : ok=3 changed=0 unreachable=0 failed=1\n')
    out = _run(tmp_path, 'molecule-podman', 'ruff')
    assert out[1:] == ['  molecule-podman: fatal: [h1]: FAILED! => {"msg": "no package wireguard"}',
                       '  molecule-podman: h1 : ok=3 changed=0 unreachable=0 failed=1',
                       '  ruff: (no log)']


def test_nothing_failed_prints_nothing(tmp_path):
    (tmp_path / 'junit').mkdir()
    passing = JUNIT.replace('failures="1"', 'failures="0"').replace('failure', 'skipped')
    (tmp_path / 'junit' / 'unit.xml').write_text(passing)
    assert _run(tmp_path) == []
