"""A newcomer's project with a directory inventory, the defaults only (lab tier 1), and a lost
registry rebuilt from the hosts.

    project/inventory/hosts.yml, project/inventory/group_vars/all.yml
    cd project && ansible-playbook meshlab.wireguard.site -i inventory/      (twice)

- nothing is written inside inventory/ (a registry or clients path set there is refused in the
  check stage): the registry is project/wireguard-registry.yml, the
  client's private key and the health reports are in the per-user state directory
  ($XDG_STATE_HOME/meshlab-wireguard/project-<hash>); the second run changes nothing;
- the registry deleted: the next run stops before it changes a host, naming the rebuild
  command, and every live peer stays; `ansible-playbook meshlab.wireguard.registry_rebuild -i
  inventory/` writes back exactly the registry that was lost (keys, addresses, ports, endpoints,
  the client), and a run after it changes nothing.
"""
import glob
import os

import pytest
import pytest_nslab
import yaml
from registry_helpers import playbook, snapshot, write_inventory
from role_helpers import wg_peers

pytestmark = pytest.mark.lab

HOSTS = ('h1', 'h2', 'h3')
GROUP_VARS = {'wireguard_networks': [{'name': 'wg0', 'ipv4_pool': '100.64.0.0/24',
                                      'ipv6_pool': 'fd3a:6c1e:9b42:100::/64',
                                      'clients': [{'name': 'phone', 'host': 'h1'}]}]}
REBUILD = 'ansible-playbook meshlab.wireguard.registry_rebuild -i INVENTORY'


@pytest.fixture(scope='module')
def project(nslab_module_factory, tmp_path_factory):
    lab = nslab_module_factory(3, name=pytest_nslab.unique_lab_name('m12l'))
    root = tmp_path_factory.mktemp('m12newcomer')
    proj = root / 'project'
    write_inventory(str(proj / 'inventory'), lab, HOSTS, GROUP_VARS)
    env = {'XDG_STATE_HOME': str(root / 'state-home')}
    return {'lab': lab, 'dir': str(proj), 'inventory': str(proj / 'inventory'), 'env': env,
            'state_home': str(root / 'state-home')}


def site(p, *args, label):
    return playbook(p['dir'], 'meshlab.wireguard.site', ['-i', 'inventory/', *args], env=p['env'],
                    label=label)


def state_dir(p):
    [d] = glob.glob(os.path.join(p['state_home'], 'meshlab-wireguard', 'project-*'))
    return d


def test_directory_inventory_with_the_defaults(project):
    inv_before = snapshot(project['inventory'])
    run = site(project, label='newcomer -i inventory/: first run')
    assert run.rc == 0, run.tail()
    run2 = site(project, label='newcomer -i inventory/: second run')
    assert run2.rc == 0 and run2.total_changed() == 0, (run2.recap, run2.tail())
    assert snapshot(project['inventory']) == inv_before  # nothing written inside inventory/
    assert sorted(os.listdir(project['dir'])) == ['inventory', 'wireguard-registry.yml',
                                                  'wireguard-registry.yml.lock']
    with open(os.path.join(project['dir'], 'wireguard-registry.yml')) as f:
        reg = yaml.safe_load(f)
    assert sorted(reg['networks']['wg0']['hosts']) == list(HOSTS)
    # the client's private key: per-user state, 0600 in 0700 directories, and its key is the peer's
    clients = os.path.join(state_dir(project), 'clients', 'wg0')
    assert os.stat(clients).st_mode & 0o777 == 0o700
    assert os.stat(os.path.join(clients, 'phone.key')).st_mode & 0o777 == 0o600
    assert reg['networks']['wg0']['clients']['phone']['public_key'] in wg_peers(project['lab'], 'h1')
    for h in HOSTS:
        assert len(wg_peers(project['lab'], h)) == (3 if h == 'h1' else 2)


def test_paths_inside_the_inventory_are_refused_before_anything_changes(project):
    inv_before = snapshot(project['inventory'])
    run = site(project, '-e', 'wireguard_registry_path=inventory/wireguard-registry.yml',
               '-e', 'wireguard_clients_dir=inventory/clients', label='registry inside inventory/: refused')
    assert run.rc != 0
    for setting in ('wireguard_registry_path', 'wireguard_clients_dir'):
        assert f'{setting} is {project["inventory"]}/' in run.stdout, run.tail()
    assert 'inside the inventory directory' in run.stdout and 'nothing was changed' in run.stdout
    assert run.total_changed() == 0 and snapshot(project['inventory']) == inv_before


def test_health_reports_go_to_the_state_directory(project):
    inv_before = snapshot(project['inventory'])
    run = playbook(project['dir'], 'meshlab.wireguard.health', ['-i', 'inventory/'], env=project['env'],
                   label='newcomer: health')
    assert run.rc == 0, run.tail()
    assert snapshot(project['inventory']) == inv_before
    assert os.path.exists(os.path.join(state_dir(project), 'health', 'health.json'))


def test_lost_registry_stops_the_run_and_is_rebuilt_from_the_hosts(project):
    lab = project['lab']
    path = os.path.join(project['dir'], 'wireguard-registry.yml')
    with open(path) as f:
        lost = yaml.safe_load(f)
    peers = {h: wg_peers(lab, h) for h in HOSTS}
    os.unlink(path)
    run = site(project, '--limit', 'h1', label='lost registry: run stops')
    assert run.rc != 0
    assert REBUILD in run.stdout and 'does not exist' in run.stdout, run.stdout[-4000:]
    assert run.changed() == {'h1': 0}  # stopped before anything changed
    assert {h: set(wg_peers(lab, h)) for h in HOSTS} == {h: set(p) for h, p in peers.items()}
    assert not os.path.exists(path)

    run = playbook(project['dir'], 'meshlab.wireguard.registry_rebuild', ['-i', 'inventory/'],
                   env=project['env'], label='registry_rebuild')
    assert run.rc == 0, run.tail()
    with open(path) as f:
        assert yaml.safe_load(f) == lost  # all came back: keys, addresses, ports, endpoints, the client
    run = site(project, label='after the rebuild: full run')
    assert run.rc == 0 and run.total_changed() == 0, (run.recap, run.tail())
