"""Default places of the controller-side state, job detection, and the paths that are refused."""
import os

import pytest

from ansible_collections.meshlab.wireguard.plugins.action import wireguard_inventory as wi
from ansible_collections.meshlab.wireguard.plugins.plugin_utils import _fleet
from ansible_collections.meshlab.wireguard.plugins.plugin_utils import _state_paths as sp


@pytest.fixture
def project(tmp_path):
    """A playbook project: inventory/ (hosts.yml, group_vars/) and a single-file inventory."""
    inv = tmp_path / 'proj' / 'inventory'
    (inv / 'group_vars').mkdir(parents=True)
    (inv / 'hosts.yml').write_text('all: {hosts: {h1: }}\n')
    (tmp_path / 'proj' / 'single.yml').write_text('all: {hosts: {h1: }}\n')
    return tmp_path / 'proj'


def tv(*sources, **extra):
    return dict(extra, ansible_inventory_sources=[str(s) for s in sources])


ENV = {'XDG_STATE_HOME': '/home/u/.local/state'}


def test_registry_beside_a_file_and_beside_never_inside_a_directory(project):
    beside = str(project / 'wireguard-registry.yml')
    assert sp.default('registry_path', ENV, tv(project / 'single.yml')) == beside
    assert sp.default('registry_path', ENV, tv(project / 'inventory')) == beside
    # every source counts, not only the first: a file inside a directory source moves out too
    assert sp.default('registry_path', ENV, tv(project / 'inventory' / 'hosts.yml', project / 'inventory')) \
        == str(project / 'wireguard-registry.yml')
    # the project directory itself given as a source: one level further up
    assert sp.default('registry_path', ENV, tv(project / 'single.yml', project)) \
        == str(project.parent / 'wireguard-registry.yml')


def test_private_state_per_user_and_project_never_next_to_the_inventory(project, tmp_path):
    a = sp.default('state_dir', ENV, tv(project / 'inventory'))
    assert a.startswith('/home/u/.local/state/meshlab-wireguard/proj-') and len(os.path.basename(a)) == 13
    # the same project through its single-file inventory: the same directory; another project: another
    assert sp.default('state_dir', ENV, tv(project / 'single.yml')) == a
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'inv.yml').write_text('all: {}\n')
    assert sp.default('state_dir', ENV, tv(other / 'inv.yml')) != a
    assert sp.default('clients_dir', ENV, tv(project / 'inventory')) == a + '/clients'
    assert sp.default('health_dir', ENV, tv(project / 'inventory')) == a + '/health'
    assert sp.default('state_dir', {'HOME': '/home/v'}, tv(project / 'inventory')).startswith(
        '/home/v/.local/state/meshlab-wireguard/')
    # a host list ("h1,h2,") is no path: the registry goes to the state of the working directory
    reg = sp.default('registry_path', ENV, tv('h1,h2,'), cwd=str(project))
    assert reg.startswith('/home/u/.local/state/meshlab-wireguard/proj-')
    with pytest.raises(ValueError, match='unknown state setting'):
        sp.default('bogus', ENV, tv())


def test_ansible_runner_job_is_recognised(tmp_path):
    pdd = tmp_path / 'job'
    (pdd / 'inventory').mkdir(parents=True)
    (pdd / 'artifacts' / 'ident').mkdir(parents=True)
    env = dict(ENV, AWX_ISOLATED_DATA_DIR=str(pdd / 'artifacts' / 'ident'))
    assert sp.job(env, {}, []) == {'kind': 'ansible-runner job', 'dirs': [str(pdd)]}
    # the private data dir layout alone (runner with a custom artifact dir): still a job
    sources = sp.inventory_sources(tv(pdd / 'inventory'))
    assert sp.job(ENV, {}, sources)['dirs'] == [str(pdd)]
    # no safe default for private state; the registry default lands in the job and is refused
    assert sp.default('state_dir', env, tv(pdd / 'inventory')) == ''
    assert sp.default('clients_dir', env, tv(pdd / 'inventory')) == ''
    registry = sp.default('registry_path', env, tv(pdd / 'inventory'))
    assert registry == str(pdd / 'wireguard-registry.yml')
    [msg] = sp.problems('wireguard_registry_path', registry, env, tv(pdd / 'inventory'))
    assert 'inside the ansible-runner job directory' in msg and 'wireguard_registry_backend: redis' in msg
    keep = str(tmp_path / 'keep' / 'r.yml')
    assert sp.problems('wireguard_registry_path', keep, env, tv(pdd / 'inventory')) == []


def test_awx_job_is_recognised():
    job = sp.job({}, {'awx_job_id': 42}, ['/tmp/awx_42_x7k2/inventory'])  # noqa: S108
    assert job['kind'] == 'AWX job 42' and '/tmp/awx_42_x7k2' in job['dirs']  # noqa: S108
    assert sp.job({}, {'tower_job_id': 7}, [])['kind'] == 'AWX job 7'
    ee = sp.job({'AWX_ISOLATED_DATA_DIR': '/runner/artifacts/42'}, {}, ['/runner/inventory/hosts'])
    assert ee['dirs'] == ['/runner']
    assert sp.job(ENV, {}, ['/srv/inventory']) is None


def test_inventory_paths_are_refused(project):
    sources = tv(project / 'inventory', project / 'single.yml')
    [msg] = sp.problems('wireguard_registry_path', str(project / 'inventory' / 'wireguard-registry.yml'), ENV,
                        sources)
    assert 'inside the inventory directory' in msg and 'as inventory' in msg
    [msg] = sp.problems('wireguard_clients_dir', str(project / 'single.yml'), ENV, sources)
    assert 'an inventory source itself' in msg
    assert sp.problems('wireguard_registry_path', str(project / 'wireguard-registry.yml'), ENV, sources) == []
    assert sp.problems('wireguard_registry_path', '', ENV, sources) == []


def test_state_of_an_earlier_version_must_be_moved(project):
    (project / 'inventory' / 'wireguard-registry.yml').write_text('version: 1\nnetworks: {}\n')
    (project / 'wireguard-clients' / 'wg0').mkdir(parents=True)
    new_reg = str(project / 'wireguard-registry.yml')
    inventory = tv(project / 'inventory')
    errors = sp.legacy_problems(new_reg, '/home/u/state/clients', ENV, inventory)
    assert len(errors) == 2
    assert f"mv {project}/inventory/wireguard-registry.yml {new_reg}" in errors[0]
    assert 'wireguard_clients_dir' in errors[1] and f'{project}/wireguard-clients' in errors[1]
    # moved: nothing left to say
    os.rename(project / 'inventory' / 'wireguard-registry.yml', new_reg)
    assert sp.legacy_problems(new_reg, str(project / 'wireguard-clients'), ENV, inventory) == []


def _fleet_with_clients():
    nets = [{'name': 'wg0', 'ipv4_pool': '100.64.0.0/24', 'clients': [{'name': 'phone', 'host': 'h1'}]}]
    return _fleet.normalize(nets, [], {'all': ['h1', 'h2']}, {'h1': {}, 'h2': {}})


def test_check_stage_errors_name_the_setting(tmp_path):
    pdd = tmp_path / 'job'
    (pdd / 'inventory').mkdir(parents=True)
    (pdd / 'artifacts').mkdir()
    env = {'AWX_ISOLATED_DATA_DIR': str(pdd / 'artifacts' / '1')}
    args = {'registry_backend': 'file', 'registry_path': str(pdd / 'wireguard-registry.yml'),
            'clients_dir': '', 'psk_secret_path': ''}
    errors = wi.state_errors(args, tv(pdd / 'inventory'), _fleet_with_clients(), env)
    assert len(errors) == 2
    assert 'wireguard_registry_backend: redis' in errors[0]
    assert 'wireguard_state_dir' in errors[1] and 'ansible-runner job' in errors[1]
    # the store and a persistent state directory: nothing to say
    args.update(registry_backend='redis', clients_dir=str(tmp_path / 'volume' / 'clients'))
    assert wi.state_errors(args, tv(pdd / 'inventory'), _fleet_with_clients(), env) == []
    # without clients no place for client keys is needed
    nets = [{'name': 'wg0', 'ipv4_pool': '100.64.0.0/24'}]
    no_clients = _fleet.normalize(nets, [], {'all': ['h1']}, {'h1': {}})
    args.update(clients_dir='')
    assert wi.state_errors(args, tv(pdd / 'inventory'), no_clients, env) == []
