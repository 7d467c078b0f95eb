"""Every example a user may copy parses, and is a valid playbook in a project of the user's own.

- each module's EXAMPLES is a YAML list of tasks that call modules by FQCN, and none writes
  under {{ inventory_dir }} (the directory of whatever inventory a user passes);
- all of them, as one play each, and the playbooks in README.md pass `ansible-playbook
  --syntax-check` in a scratch project that has nothing but the installed collection
  (ansible.builtin and this collection; no role path, no repo files);
- the YAML blocks of README.md and roles/wireguard/README.md parse (Ansible's loader: !vault).

The examples that can run on a host run on lab tier 1: tests/lab/test_examples_run.py.
"""
import ast
import glob
import os
import re
import subprocess
import sys

import pytest
import yaml
from ansible.parsing.yaml.loader import AnsibleLoader

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
MODULE_FILES = sorted(glob.glob(os.path.join(ROOT, 'plugins', 'modules', '*.py')))
FENCE = re.compile(r'^```yaml\n(.*?)^```', re.S | re.M)


def module_examples(path):
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', '') == 'EXAMPLES':
            return node.value.value
    raise AssertionError(f'{path}: no EXAMPLES')


def readme_blocks(path):
    with open(path) as f:
        return FENCE.findall(f.read())


EXAMPLES = {os.path.basename(p)[:-3]: module_examples(p) for p in MODULE_FILES}


@pytest.mark.parametrize('module', sorted(EXAMPLES))
def test_examples_are_tasks_calling_modules_by_fqcn(module):
    tasks = yaml.safe_load(EXAMPLES[module])
    assert isinstance(tasks, list) and tasks, module
    keywords = {'name', 'register', 'loop', 'when', 'run_once', 'delegate_to', 'ignore_errors',
                'failed_when', 'changed_when', 'vars', 'become'}
    used = set()
    for task in tasks:
        actions = [k for k in task if k not in keywords]
        assert len(actions) == 1, task
        assert actions[0].count('.') == 2, f'{module}: use the FQCN, not {actions[0]}'
        used.add(actions[0])
    assert f'meshlab.wireguard.{module}' in used, f'{module}: its EXAMPLES never call it'
    assert 'inventory_dir' not in EXAMPLES[module], f'{module}: writes beside the inventory'


def test_readme_yaml_blocks_parse():
    blocks = readme_blocks(os.path.join(ROOT, 'README.md'))
    blocks += readme_blocks(os.path.join(ROOT, 'roles', 'wireguard', 'README.md'))
    assert len(blocks) >= 5
    for text in blocks:
        assert AnsibleLoader(text).get_single_data() is not None, text


def test_examples_and_readme_playbooks_pass_syntax_check(tmp_path):
    """One scratch project, one playbook: a play per module's EXAMPLES, then README's playbooks."""
    plays = [{'name': f'EXAMPLES of {m}', 'hosts': 'all', 'gather_facts': False,
              'tasks': yaml.safe_load(text)} for m, text in sorted(EXAMPLES.items())]
    for text in readme_blocks(os.path.join(ROOT, 'README.md')):
        doc = yaml.safe_load(text)
        if isinstance(doc, list) and all('hosts' in p for p in doc):  # a playbook
            plays.extend(doc)
    assert len(plays) == len(EXAMPLES) + 2
    (tmp_path / 'site.yml').write_text(yaml.safe_dump(plays, sort_keys=False))
    (tmp_path / 'inventory.ini').write_text('[vpn]\nh1\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith('ANSIBLE_')}
    env['ANSIBLE_COLLECTIONS_PATH'] = os.path.join(ROOT, '.build', 'collections')
    proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', 'inventory.ini', 'site.yml',
                           '--syntax-check'], cwd=tmp_path, env=env, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '[WARNING]' not in proc.stderr, proc.stderr
