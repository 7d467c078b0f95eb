"""The collection installs the way Ansible users install it, and every plugin documents itself."""
import glob
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
MODULES = sorted(
    os.path.splitext(os.path.basename(p))[0]
    for p in glob.glob(os.path.join(ROOT, 'plugins', 'modules', '*.py'))
    if not os.path.basename(p).startswith('_')
)


def run(*cmd, env=None):
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """Build the tarball and install it into an empty collections path."""
    tmp = tmp_path_factory.mktemp('galaxy')
    built = run(os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(tmp))
    assert built.returncode == 0, built.stdout + built.stderr
    tarballs = glob.glob(str(tmp / 'meshlab-wireguard-*.tar.gz'))
    assert len(tarballs) == 1
    dest = tmp / 'collections'
    inst = run(os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--force', '-p', str(dest),
               tarballs[0])
    assert inst.returncode == 0, inst.stdout + inst.stderr
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(dest))
    env.pop('ANSIBLE_CONFIG', None)
    return dest, env


def test_tarball_ships_the_collection_not_the_lab(installed):
    dest, _ = installed
    root = dest / 'ansible_collections' / 'meshlab' / 'wireguard'
    assert (root / 'MANIFEST.json').is_file()
    assert (root / 'plugins' / 'modules').is_dir()
    assert (root / 'roles' / 'wireguard').is_dir()
    for dev_only in ('lab', 'bench', '.venv', '.build', 'scripts', 'Makefile'):
        assert not (root / dev_only).exists(), dev_only


def test_galaxy_lists_installed_collection(installed):
    dest, env = installed
    listed = run(os.path.join(BIN, 'ansible-galaxy'), 'collection', 'list', '-p', str(dest), env=env)
    assert 'meshlab.wireguard' in listed.stdout, listed.stdout + listed.stderr


@pytest.mark.parametrize('module', MODULES)
def test_module_doc_renders(installed, module):
    _, env = installed
    doc = run(os.path.join(BIN, 'ansible-doc'), '-t', 'module', 'meshlab.wireguard.' + module, env=env)
    assert doc.returncode == 0, doc.stderr
    assert 'meshlab.wireguard.' + module in doc.stdout
    assert 'EXAMPLES' in doc.stdout and 'RETURN VALUES' in doc.stdout


def test_role_doc_renders(installed):
    _, env = installed
    doc = run(os.path.join(BIN, 'ansible-doc'), '-t', 'role', 'meshlab.wireguard.wireguard', env=env)
    assert doc.returncode == 0, doc.stderr
    assert 'wireguard_networks' in doc.stdout
