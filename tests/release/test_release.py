"""What ships: execution-environment metadata, the release, galaxy-importer (make test stage `release`).

On the built tarball, installed the way users install it (`ansible-galaxy collection install
--no-deps`), with the pinned tools of requirements/tools.txt (.venv-matrix/tools):

- `ansible-builder introspect` lists exactly the Python packages of meta/ee-requirements.txt and
  the system packages of bindep.txt (through meta/execution-environment.yml);
- `ansible-builder create` writes a build context for an execution environment with the
  collection (building the image needs a base image from a registry, not reachable here);
- the tarball carries the release: CHANGELOG.rst and changelogs/changelog.yaml with the version
  of galaxy.yml, and no development pin list;
- galaxy-importer (scripts/galaxy-importer.sh) accepts the tarball: as long as galaxy.yml names no
  repository (the project has no public one yet), it refuses the shipped tarball for that alone,
  and accepts a copy that names a stand-in.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
TOOLS = os.path.join(ROOT, '.venv-matrix', 'tools', 'bin')
pytestmark = pytest.mark.release


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)


def requirement_names(path, system=False):
    names = []
    with open(os.path.join(ROOT, path)) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                names.append(line.split()[0] if system else re.split(r'[<>=!~\[; ]', line, maxsplit=1)[0])
    return names


@pytest.fixture(scope='module')
def tools():
    proc = run(['bash', os.path.join(ROOT, 'scripts', 'matrix-venv.sh'), 'tools'], cwd=ROOT, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return TOOLS


@pytest.fixture(scope='module')
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp('dist')
    proc = run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(out)],
               cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = glob.glob(str(out / 'meshlab-wireguard-*.tar.gz'))
    return path


@pytest.fixture(scope='module')
def installed(tarball, tmp_path_factory):
    dest = tmp_path_factory.mktemp('collections')
    proc = run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--no-deps', '--force',
                '-p', str(dest), tarball])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dest


def test_introspect_lists_the_python_and_system_requirements(tools, installed):
    proc = run([os.path.join(tools, 'ansible-builder'), 'introspect', '--sanitize', str(installed)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = yaml.safe_load(proc.stdout)
    python = [re.split(r'[<>=!~ ]', line, maxsplit=1)[0] for line in data['python']]
    system = [line.split()[0] for line in data['system']]
    assert python == requirement_names('meta/ee-requirements.txt')
    assert {'cryptography', 'qrcode', 'pillow', 'matplotlib', 'PyNaCl', 'pyroute2'} <= set(python)
    assert system == requirement_names('bindep.txt', system=True) and 'nftables' in system
    for line in data['python'] + data['system']:
        assert line.endswith('# from collection meshlab.wireguard'), line


def test_create_writes_a_build_context(tools, tarball, tmp_path):
    name = os.path.basename(tarball)
    shutil.copy(tarball, tmp_path / name)
    definition = {
        'version': 3,
        'images': {'base_image': {'name': 'quay.io/fedora/python-311:latest'}},
        'dependencies': {
            'ansible_core': {'package_pip': 'ansible-core>=2.16,<2.20'},
            'ansible_runner': {'package_pip': 'ansible-runner'},
            'galaxy': {'collections': [{'name': f'collections/{name}', 'type': 'file'},
                                       {'name': 'ansible.posix'}, {'name': 'community.general'}]},
        },
        'additional_build_files': [{'src': name, 'dest': 'collections'}],
    }
    (tmp_path / 'execution-environment.yml').write_text(yaml.safe_dump(definition, sort_keys=False))
    proc = run([os.path.join(tools, 'ansible-builder'), 'create', '--context', 'context'], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    context = tmp_path / 'context'
    containerfile = (context / 'Containerfile').read_text()
    assert 'quay.io/fedora/python-311:latest' in containerfile
    assert 'ansible-galaxy collection install' in containerfile
    assert '/output/scripts/introspect.py' in containerfile  # the collections' requirements, at build time
    assert (context / '_build' / 'collections' / name).is_file()
    assert f'collections/{name}' in (context / '_build' / 'requirements.yml').read_text()


def test_tarball_carries_the_release(tarball):
    with open(os.path.join(ROOT, 'galaxy.yml')) as f:
        galaxy = yaml.safe_load(f)
    version = galaxy['version']
    assert os.path.basename(tarball) == f"meshlab-wireguard-{version}.tar.gz"
    assert not any('example.invalid' in str(v) for v in galaxy.values())
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
        changelog = yaml.safe_load(tar.extractfile('changelogs/changelog.yaml'))
        rst = tar.extractfile('CHANGELOG.rst').read().decode()
    assert version in changelog['releases'] and f'v{version}' in rst
    assert {'meta/execution-environment.yml', 'meta/ee-requirements.txt', 'bindep.txt'} <= names
    assert not {'requirements.txt', 'constraints.txt'} & names
    assert not any(n.startswith(('requirements/', '.venv', 'tests/matrix', 'tests/release')) for n in names)


def test_galaxy_importer_accepts_the_tarball(tools):
    proc = run(['bash', os.path.join(ROOT, 'scripts', 'galaxy-importer.sh')], cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert 'galaxy-importer: passed' in proc.stdout
