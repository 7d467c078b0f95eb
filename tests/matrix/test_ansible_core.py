"""The collection on older ansible-core lines (the main .venv has the newest, 2.19).

For each version in MATRIX_VERSIONS (default "2.16 2.17 2.18"), in its own venv
(.venv-matrix/<version>, built from requirements/ansible-<version>.txt by scripts/matrix-venv.sh,
cached):

- `ansible-test sanity` of that version on the built tarball (scripts/sanity.sh, empty
  tests/sanity/ignore-<version>.txt);
- on a fresh 3-host lab (tier 1, with site LANs): site.yml converges examples/site-to-site plus a
  client and metrics (tests/matrix/matrix-vars.yml) with no warning, LAN A reaches LAN C through
  the tunnels, a second run changes nothing, and playbooks/health.yml finds every link up.

Each version converges its own lab from nothing (a lab is up in under a second), so a version
never passes on the work of another. ansible.posix and community.general come from the main
.venv's `ansible` package through ANSIBLE_COLLECTIONS_PATH. The matrix venvs have no qrcode,
pillow or matplotlib: the runs also prove those are optional (no warning, no health.png).
"""
import json
import os
import subprocess
import sys
import time

import pytest
import pytest_nslab
from role_helpers import LAB_VARS, example, parse_recap, ping, state_dir, xdg_state_home

pytestmark = pytest.mark.matrix

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VERSIONS = os.environ.get('MATRIX_VERSIONS', '2.16 2.17 2.18').split()
SITE = os.path.join(ROOT, 'site.yml')
HEALTH = os.path.join(ROOT, 'playbooks', 'health.yml')
MATRIX_VARS = os.path.join(ROOT, 'tests', 'matrix', 'matrix-vars.yml')
MAIN_SITE_PACKAGES = os.path.join(ROOT, '.venv', 'lib', 'python{}.{}'.format(*sys.version_info[:2]),
                                  'site-packages')


def venv_bin(version, name):
    return os.path.join(ROOT, '.venv-matrix', version, 'bin', name)


@pytest.fixture(scope='module', params=VERSIONS)
def version(request):
    v = request.param
    proc = subprocess.run(['bash', os.path.join(ROOT, 'scripts', 'matrix-venv.sh'), v], cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = subprocess.run([venv_bin(v, 'ansible'), '--version'], capture_output=True, text=True,
                         check=True).stdout
    assert out.splitlines()[0].startswith(f'ansible [core {v}.'), out
    return v


def run(lab, version, playbook, label):
    """ansible-playbook of VERSION: the lab's inventory, the example, lab-vars, matrix-vars."""
    cmd = [venv_bin(version, 'ansible-playbook'), '-i', lab.inventory_path, '-i', example('site-to-site'),
           '-i', LAB_VARS, '-i', MATRIX_VARS, playbook]
    env = dict(os.environ)
    env.update({
        'ANSIBLE_COLLECTIONS_PATH': os.pathsep.join([os.path.join(ROOT, '.build', 'collections'),
                                                     MAIN_SITE_PACKAGES]),
        'ANSIBLE_CONFIG': os.path.join(ROOT, 'ansible.cfg'),
        'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_FORCE_COLOR': '0',
        'XDG_STATE_HOME': xdg_state_home(lab),  # the role's private state stays in the lab
    })
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    pytest_nslab.TIMINGS.append((f'{version} {label}', time.monotonic() - t0))
    return proc


def show(proc):
    return proc.stdout[-6000:] + '\n' + proc.stderr[-3000:]


def warnings_in(proc):
    return [line for line in (proc.stdout + proc.stderr).splitlines() if '[WARNING]' in line]


def test_sanity(version):
    proc = subprocess.run(['bash', os.path.join(ROOT, 'scripts', 'sanity.sh')], cwd=ROOT,
                          env={**os.environ, 'VENV': os.path.join('.venv-matrix', version)},
                          capture_output=True, text=True, timeout=1800, check=False)
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith('ERROR')]
    assert proc.returncode == 0, '\n'.join(errors) or show(proc)
    assert 'Running sanity test "validate-modules"' in proc.stdout, show(proc)


@pytest.fixture(scope='module')
def lab(version):
    make, teardown = pytest_nslab._factory()  # this version's lab goes before the next one comes
    try:
        lab = make(3, sites=True)
        proc = run(lab, version, SITE, 'site.yml: first run')
        assert proc.returncode == 0, show(proc)
        recap = parse_recap(proc.stdout)
        assert set(recap) == {'h1', 'h2', 'h3'} and all(c['changed'] > 0 for c in recap.values()), recap
        assert warnings_in(proc) == [], show(proc)
        yield lab
    finally:
        teardown()


def test_lan_a_reaches_lan_c_through_the_tunnels(lab):
    for src, dst in (('h1-lan', '203.0.113.74'), ('h3-lan', 'fd3a:6c1e:9b42:a1::10')):
        proc = ping(lab, src, dst, count=3)
        assert proc.returncode == 0, (src, dst, proc.stdout, proc.stderr)


def test_client_and_metrics_were_made(lab):
    conf = os.path.join(state_dir(lab), 'clients', 'wg0', 'phone.conf')
    with open(conf) as f:
        assert '[Peer]' in f.read()
    assert not os.path.exists(conf[:-len('conf')] + 'png')  # qr: false
    prom = lab.exec('h2', ['cat', '/etc/wireguard/textfile/wireguard.prom']).stdout
    assert 'wireguard_latest_handshake_seconds' in prom


def test_second_run_changes_nothing(lab, version):
    proc = run(lab, version, SITE, 'site.yml: second run')
    assert proc.returncode == 0, show(proc)
    recap = parse_recap(proc.stdout)
    assert set(recap) == {'h1', 'h2', 'h3'}, recap
    assert {h: c['changed'] for h, c in recap.items()} == {'h1': 0, 'h2': 0, 'h3': 0}, show(proc)


def test_health_finds_every_link_up(lab, version):
    report_dir = os.path.join(state_dir(lab), 'health')
    proc = run(lab, version, HEALTH, 'health.yml')
    assert proc.returncode == 0, show(proc)
    assert 'all 3 links up' in proc.stdout, show(proc)
    with open(os.path.join(report_dir, 'health.json')) as f:
        report = json.load(f)
    assert report['ok'] and report['summary']['up'] == 3 == report['summary']['links'], report['summary']
    # no matplotlib in this venv: no PNG, and not a word about it
    assert sorted(os.listdir(report_dir)) == ['health.html', 'health.json', 'health.txt']
    assert warnings_in(proc) == [], show(proc)
