"""Run ansible-playbook from pytest and read the outcome.

`run_playbook()` runs the venv's ansible-playbook as a subprocess, the way a user would, with
this working tree as the collection (ANSIBLE_COLLECTIONS_PATH, set by tests/conftest.py).

Output format: by default the normal `default` stdout callback, so what a test asserts on (for
example that a secret never appears, even at -vvv) is exactly what a user would see. The recap
is parsed from the text. To get machine-readable task results, pass
`env={'ANSIBLE_STDOUT_CALLBACK': 'json'}`: stdout is then one JSON document
(`json.loads(stdout)['plays']`), and the recap is read from its `stats`.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, Iterable, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')

# localhost through the local connection, with Debian's python3 (python3-nacl, python3-pyroute2)
LOCAL_INVENTORY = 'localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n'

_RECAP_LINE = re.compile(r'^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$')

Recap = Dict[str, Dict[str, int]]


def ansible_playbook_binary() -> str:
    """The ansible-playbook next to the running interpreter (the venv), else the one on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    return here if os.path.exists(here) else (shutil.which('ansible-playbook') or 'ansible-playbook')


def parse_recap(stdout: str) -> Recap:
    """{host: {'ok': n, 'changed': n, 'unreachable': n, 'failed': n, ...}} from either format."""
    text = stdout.strip()
    if text.startswith('{'):
        try:
            stats = json.loads(text).get('stats', {})
        except ValueError:
            stats = None
        if stats is not None:
            return {host: {k: int(v) for k, v in counts.items()} for host, counts in stats.items()}
    recap: Recap = {}
    in_recap = False
    for line in stdout.splitlines():
        if line.startswith('PLAY RECAP'):
            in_recap = True
            continue
        if in_recap:
            m = _RECAP_LINE.match(line.strip())
            if m:
                recap[m.group(1)] = {k: int(v) for k, v in re.findall(r'(\w+)=(\d+)', m.group(2))}
    return recap


def _as_file(text_or_path: str, directory: str, name: str) -> str:
    if '\n' not in text_or_path and os.path.exists(text_or_path):
        return text_or_path
    path = os.path.join(directory, name)
    with open(path, 'w') as f:
        f.write(text_or_path)
    return path


def run_playbook(
    playbook_text_or_path: str,
    inventory: str = LOCAL_INVENTORY,
    extra_args: Iterable[str] = (),
    check: bool = False,
    env: Optional[Dict[str, str]] = None,
    timeout: int = 600,
) -> Tuple[int, str, str, Recap]:
    """Run a playbook; return (rc, stdout, stderr, parsed_recap).

    playbook_text_or_path / inventory: an existing file path, or the YAML / INI text itself
    (written to a temporary directory that is removed afterwards).
    extra_args: more ansible-playbook arguments, e.g. ('-vvv', '--diff', '-e', 'x=1').
    check: add --check. env: variables added to (or overriding) the environment.
    """
    with tempfile.TemporaryDirectory(prefix='meshlab-pb-') as tmp:
        playbook = _as_file(playbook_text_or_path, tmp, 'playbook.yml')
        inv = _as_file(inventory, tmp, 'inventory.ini')
        full_env = dict(os.environ)
        full_env.update({
            'ANSIBLE_COLLECTIONS_PATH': os.environ.get('ANSIBLE_COLLECTIONS_PATH', COLLECTIONS),
            'ANSIBLE_NOCOLOR': '1',
            'ANSIBLE_FORCE_COLOR': '0',
            'ANSIBLE_RETRY_FILES_ENABLED': '0',
            'ANSIBLE_HOST_KEY_CHECKING': '0',
            'ANSIBLE_LOCAL_TEMP': os.path.join(tmp, 'local-tmp'),
            'ANSIBLE_REMOTE_TEMP': os.path.join(tmp, 'remote-tmp'),
        })
        full_env.update(env or {})
        cmd = [ansible_playbook_binary(), '-i', inv, playbook, *extra_args]
        if check:
            cmd.append('--check')
        proc = subprocess.run(cmd, cwd=tmp, env=full_env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    return proc.returncode, proc.stdout, proc.stderr, parse_recap(proc.stdout)
