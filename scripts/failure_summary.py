"""The last lines of `make test` when something failed: which test, and the first line of why.

CI keeps only the tail of the output, so a failure has to be readable from these few lines.
Pytest stages (and molecule's testinfra verify) are read from their JUnit reports; a failed stage
without a failing test case (lint, an Ansible task in a molecule converge) from its log, by the
lines that say what went wrong.

    python scripts/failure_summary.py JUNIT_DIR LOG_DIR FAILED_STAGE...
"""

from __future__ import annotations

import glob
import os
import re
import sys
import xml.etree.ElementTree as ET

WIDTH = 220
MAX_LINES_PER_STAGE = 6
# ANSI colours, and the box drawing molecule puts around a command's output
ANSI = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')
BOX = re.compile(r'^[\s│┌└─]+')
# what an Ansible run, molecule or a linter prints when something went wrong
TELLING = re.compile(r'fatal: \[|FAILED!|failed=[1-9]|Idempotence test failed|^ERROR|Error:|'
                     r'AssertionError|^E\s{3}|\bFAILED\b|CRITICAL|Traceback|Timeout')


def _short(text, width=WIDTH):
    line = ' '.join(text.split())
    return line if len(line) <= width else line[:width - 3] + '...'


def failed_cases(junit_dir):
    """{stage: ['test id: first line of the message', ...]} from every JUnit report."""
    found = {}
    for path in sorted(glob.glob(os.path.join(junit_dir, '*.xml'))):
        stage = os.path.basename(path)[:-4]
        try:
            root = ET.parse(path).getroot()  # noqa: S314 - reports this run wrote
        except ET.ParseError as exc:
            found.setdefault(stage, []).append(f'unreadable JUnit report: {exc}')
            continue
        for case in root.iter('testcase'):
            for bad in [c for c in case if c.tag in ('failure', 'error')]:
                message = (bad.get('message') or bad.text or '').strip().splitlines() or ['']
                test_id = f"{case.get('classname', '')}::{case.get('name', '')}".lstrip(':')
                found.setdefault(stage, []).append(_short(f'{test_id}: {message[0]}'))
    return found


def telling_lines(log_path):
    try:
        with open(log_path, encoding='utf-8', errors='replace') as handle:
            lines = [BOX.sub('', ANSI.sub('', line)).rstrip() for line in handle]
    except OSError:
        return ['(no log)']
    picked = [_short(line) for line in lines if line and TELLING.search(line)]
    return picked[-MAX_LINES_PER_STAGE:] or [_short(line) for line in lines if line][-3:]


def main(junit_dir, log_dir, failed_stages):
    cases = failed_cases(junit_dir)
    out = []
    for stage, lines in cases.items():
        out += [f'  {stage}: {line}' for line in lines[:MAX_LINES_PER_STAGE]]
        if len(lines) > MAX_LINES_PER_STAGE:
            out.append(f'  {stage}: ... and {len(lines) - MAX_LINES_PER_STAGE} more')
    for stage in failed_stages:
        verify = cases.get(stage) or cases.get(f'{stage}-verify')
        if not verify:
            out += [f'  {stage}: {line}' for line in telling_lines(os.path.join(log_dir, f'{stage}.log'))]
    if out:
        print(f'what failed (full logs in {log_dir}/):')
        print('\n'.join(out))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
