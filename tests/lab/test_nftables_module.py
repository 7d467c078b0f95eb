"""wireguard_nftables on a lab tier-1 host: a bad script never lands, the table follows the file,
check mode predicts the real run, drift is repaired, state=absent removes table and file."""
import json
import os
import subprocess
import sys

import pytest
from role_helpers import COLLECTIONS, ROOT

pytestmark = pytest.mark.lab

TABLE = 'meshlab_nft_test'
PATH = '/etc/wireguard/nft-test/rules.nft'  # /etc/wireguard is private to each lab host


def script(port, marker):
    return (f'table inet {TABLE}\ndelete table inet {TABLE}\n\ntable inet {TABLE} {{\n'
            '\tchain input {\n\t\ttype filter hook input priority filter - 5; policy accept;\n'
            f'\t\tcounter comment "{marker}"\n\t\tudp dport {port} accept\n\t}}\n}}\n')


@pytest.fixture(scope='module')
def lab(nslab_module_factory):
    return nslab_module_factory(1)


def nft(lab, check=False, diff=False, **args):
    """The module on h1 (ad hoc); returns its result."""
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible'), 'h1', '-i', lab.inventory_path,
           '-m', 'meshlab.wireguard.wireguard_nftables', '-a', json.dumps(args)]
    cmd += ['--check'] if check else []
    cmd += ['--diff'] if diff else []
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
               ANSIBLE_STDOUT_CALLBACK='ansible.builtin.json', ANSIBLE_NOCOLOR='1')
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    out = json.loads(proc.stdout)
    return out['plays'][0]['tasks'][0]['hosts']['h1']


def live(lab):
    res = lab.exec('h1', ['nft', 'list', 'table', 'inet', TABLE], check=False)
    return res.stdout if res.returncode == 0 else None


def exists(lab, path=PATH):
    return lab.exec('h1', ['test', '-e', path], check=False).returncode == 0


def test_bad_script_changes_nothing(lab):
    bad = script(51820, 'm1').replace('udp dport', 'udp dportx')
    res = nft(lab, path=PATH, table=TABLE, marker='m1', content=bad)
    assert res.get('failed') and 'nft -c' in res['msg'] and 'unchanged' in res['msg'], res
    assert not exists(lab) and live(lab) is None
    assert lab.exec('h1', ['ls', '-A', os.path.dirname(PATH)]).stdout.strip() == ''  # no temp file


def test_four_runs_then_drift_then_absent(lab):
    args = {'path': PATH, 'table': TABLE, 'marker': 'm1', 'content': script(51820, 'm1')}
    first_check = nft(lab, check=True, **args)
    assert first_check['changed'] and first_check['reason'] == 'file changed', first_check
    assert not exists(lab) and live(lab) is None  # check mode wrote and loaded nothing
    first = nft(lab, diff=True, **args)
    assert first['changed'] and first['loaded'] and 'udp dport 51820' in first['diff']['after'], first
    assert 'udp dport 51820 accept' in live(lab)
    assert not nft(lab, check=True, **args)['changed']
    assert not nft(lab, **args)['changed']

    lab.exec('h1', ['nft', 'delete', 'table', 'inet', TABLE])  # lost table (reboot, flush ruleset)
    drift = nft(lab, check=True, **args)
    assert drift['changed'] and drift['reason'] == 'table missing' and live(lab) is None, drift
    assert nft(lab, **args)['reason'] == 'table missing' and 'm1' in live(lab)

    changed = dict(args, marker='m2', content=script(51821, 'm2'))
    res = nft(lab, **changed)
    assert res['changed'] and res['file_changed'] and 'udp dport 51821 accept' in live(lab), res
    assert 'udp dport 51820' not in live(lab)  # replaced atomically, not appended

    assert nft(lab, check=True, path=PATH, table=TABLE, state='absent')['changed']
    assert exists(lab) and live(lab) is not None
    gone = nft(lab, path=PATH, table=TABLE, state='absent')
    assert gone['changed'] and not exists(lab) and live(lab) is None, gone
    assert not nft(lab, path=PATH, table=TABLE, state='absent')['changed']
