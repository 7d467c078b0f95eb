"""docs/BAD-INPUTS.md lists exactly the cases of tests/lab/bad_inputs.py (no lab needed)."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lab'))

import bad_inputs  # noqa: E402


def test_the_table_in_the_docs_is_the_catalogue():
    with open(os.path.join(ROOT, 'docs', 'BAD-INPUTS.md')) as f:
        doc = f.read()
    assert bad_inputs.markdown() in doc, 'run: python tests/lab/bad_inputs.py, and paste the table'


def test_every_case_names_a_stage_and_a_fix():
    for case in bad_inputs.CASES:
        assert case.stage in bad_inputs.STAGES, case.id
        assert case.expect and all(case.expect), case.id
