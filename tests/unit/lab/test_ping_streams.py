"""tests/lab/ping_streams.py: the rotation tests' loss accounting, without a lab."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lab'))

from ping_streams import (  # noqa: E402
    MAX_LOST_PER_STREAM_TCG,
    max_lost_tcg,
    parse,
    switch_lateness,
    switch_report,
    within_bound,
)

# what roles/wireguard/tasks/rotate_host.yml prints, as ansible-playbook shows it
ON_PLAN = ['"msg": "vm1/wg0 +0.000 s; vm2/wg0 +0.203 s; vm3/wg0 +0.210 s; "']
LATE = ['"msg": "vm1/wg0 +0.004 s; vm2/wg0 +0.200 s; vm3/wg0 +0.854 s; "']


def test_a_switch_on_plan_adds_nothing_to_the_tcg_bound():
    assert switch_lateness(ON_PLAN, 'vm1', peer_delay=0.2) == pytest.approx(0.010)
    assert max_lost_tcg(switch_lateness(ON_PLAN, 'vm1', 0.2)) == MAX_LOST_PER_STREAM_TCG + 1


def test_a_late_peer_adds_the_packets_of_its_lateness():
    lateness = switch_lateness(LATE, 'vm1', peer_delay=0.2)
    assert lateness == pytest.approx(0.65)
    assert max_lost_tcg(lateness) == MAX_LOST_PER_STREAM_TCG + 65


def test_a_report_without_the_rotating_host_is_an_error_not_a_pass():
    with pytest.raises(AssertionError, match='no switch of vm1'):
        switch_lateness(['"msg": "vm2/wg0 +0.200 s; "'], 'vm1', 0.2)
    with pytest.raises(AssertionError, match='no switch of vm1'):
        switch_lateness([], 'vm1', 0.2)


def test_loss_is_counted_before_the_last_reply_only():
    out = '\n'.join(f'[100.{i:03d}] 64 bytes from 100.64.0.2: icmp_seq={i} ttl=64 time=0.5 ms'
                    for i in (1, 2, 5, 6))
    r = parse(out)
    assert r['lost'] == [3, 4] and r['last_seq'] == 6
    assert within_bound(r, 2, isolated=False) and not within_bound(r, 2, isolated=True)
    assert not within_bound(r, 1, isolated=False)


def test_the_report_lines_are_picked_from_the_play_output():
    stdout = ('TASK [When each host switched] ***\nok: [vm1] => {\n    ' + ON_PLAN[0]
              + '\n}\nPLAY RECAP ***\nvm1 : ok=3 changed=1\n')
    assert switch_report(stdout) == ON_PLAN
