"""The rotation's switch passes wireguard_interface the same arguments as the role's own task:
the interface a rotation leaves is the one a converge builds (tasks/rotate_host.yml beside
tasks/interfaces.yml; only the signal options differ)."""
from pathlib import Path

import yaml

TASKS = Path(__file__).resolve().parents[3] / 'roles' / 'wireguard' / 'tasks'


def interface_args(filename):
    tasks = yaml.safe_load((TASKS / filename).read_text())
    calls = [t['meshlab.wireguard.wireguard_interface'] for t in tasks
             if 'meshlab.wireguard.wireguard_interface' in t
             and t['meshlab.wireguard.wireguard_interface'].get('state') != 'absent']
    assert len(calls) == 1, filename
    return calls[0]


def test_switch_and_converge_pass_the_same_interface_arguments():
    converge = interface_args('interfaces.yml')
    switch = interface_args('rotate_host.yml')
    assert {k: v for k, v in switch.items() if k not in ('apply_signal', 'apply_timeout')} == converge
