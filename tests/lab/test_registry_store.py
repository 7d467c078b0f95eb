"""The registry in a shared store (a real redis-server), lab tier 1.

ansible-runner jobs as AWX runs them: every job in a fresh private data directory with the
inventory as a directory (DIR/inventory/hosts.yml + group_vars/), removed after the job:

- a job with the defaults stops in the check stage, naming wireguard_registry_backend and
  wireguard_state_dir, and changes nothing;
- a full job, a `--limit h1` job, a job whose inventory adds h4: every live peer stays on every
  host, the client's key stays the same, nothing lands in a job directory, the store holds the
  registry key only and no private key.

Two controllers (two working directories sharing no file, one Redis with a password) run at the
same time on one fresh fleet (disjoint --limit, as two AWX execution nodes running two jobs): the
store ends with every host exactly once, addresses unique, each key the host's own; a full run
then converges everything and the other controller's next run changes nothing.
"""
import ipaddress
import os
import shutil
import subprocess
import time

import pytest
import pytest_nslab
from registry_helpers import (
    BASE_ENV,
    BIN,
    finish_playbook,
    playbook,
    snapshot,
    start_playbook,
    write_inventory,
)
from role_helpers import Run, parse_recap, ping, wg_peers, wg_public_key

pytestmark = pytest.mark.lab

KEY = 'meshlab:wireguard:registry'
NETWORKS = [{'name': 'wg0', 'ipv4_pool': '100.64.0.0/24', 'ipv6_pool': 'fd3a:6c1e:9b42:100::/64'}]
CLIENTS = [dict(NETWORKS[0], clients=[{'name': 'phone', 'host': 'h1'}])]
SITE = '- ansible.builtin.import_playbook: meshlab.wireguard.site\n'


def runner_job(root, name, lab, hosts, group_vars, limit=None):
    """A fresh private data directory (as AWX lays it out), `ansible-runner run` on it; a Run and the
    directory (left in place for the checks, removed by the test's tmp dir)."""
    pdd = os.path.join(root, name)
    write_inventory(os.path.join(pdd, 'inventory'), lab, hosts, group_vars)
    os.makedirs(os.path.join(pdd, 'project'))
    with open(os.path.join(pdd, 'project', 'site.yml'), 'w') as f:
        f.write(SITE)
    os.makedirs(os.path.join(pdd, 'env'))
    with open(os.path.join(pdd, 'env', 'envvars'), 'w') as f:
        f.write(''.join(f'{k}: "{v}"\n' for k, v in BASE_ENV.items()))
    cmd = [os.path.join(BIN, 'ansible-runner'), 'run', pdd, '-p', 'site.yml', '--ident', 'job', '-q']
    if limit:
        cmd += ['--limit', limit]
    t0 = time.monotonic()
    # runner starts the ansible-playbook it finds on PATH: the venv's
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get('PATH', ''))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)
    with open(os.path.join(pdd, 'artifacts', 'job', 'stdout')) as f:
        out = f.read()
    run = Run(subprocess.CompletedProcess(cmd, proc.returncode, out, proc.stderr), time.monotonic() - t0)
    run.recap = parse_recap(out)
    pytest_nslab.TIMINGS.append((f'ansible-runner {name}', run.seconds))
    return run, pdd


def registry_of(server, password=None):
    import yaml
    return yaml.safe_load(server.client(password=password).get(KEY))


def collection_files(pdd):
    """What the collection could have written into a job directory (runner's own files aside)."""
    return sorted(p for p in snapshot(pdd) if 'wireguard' in p or p.startswith(('clients', 'health')))


def host_peers(lab, hosts):
    return {h: set(wg_peers(lab, h)) for h in hosts}


def test_ansible_runner_jobs_in_fresh_private_data_dirs(nslab_factory, redis_factory, tmp_path):
    lab = nslab_factory(4, name=pytest_nslab.unique_lab_name('m12r'))
    server = redis_factory()
    jobs = str(tmp_path / 'jobs')
    volume = str(tmp_path / 'volume')  # a persistent volume mounted into every job (AWX: the EE)

    # the defaults under a job: stopped in the check stage with the settings to use, nothing changed
    run, pdd = runner_job(jobs, 'defaults', lab, ['h1', 'h2', 'h3'], {'wireguard_networks': CLIENTS})
    assert run.rc != 0
    assert 'wireguard_registry_backend: redis' in run.stdout, run.tail()
    assert 'wireguard_state_dir' in run.stdout
    assert 'ansible-runner job directory' in run.stdout
    assert all(c.get('changed', 0) == 0 for c in run.recap.values()) and run.recap
    assert collection_files(pdd) == []

    settings = {'wireguard_networks': CLIENTS, 'wireguard_registry_backend': 'redis',
                'wireguard_registry_redis': {'url': server.url}, 'wireguard_state_dir': volume}
    run, pdd = runner_job(jobs, 'full', lab, ['h1', 'h2', 'h3'], settings)
    assert run.rc == 0, run.tail()
    peers = host_peers(lab, ('h1', 'h2', 'h3'))
    assert {h: len(p) for h, p in peers.items()} == {'h1': 3, 'h2': 2, 'h3': 2}  # h1 also has the phone
    phone_key = os.path.join(volume, 'clients', 'wg0', 'phone.key')
    with open(phone_key) as f:
        phone = f.read()
    assert collection_files(pdd) == []
    shutil.rmtree(pdd)  # AWX removes the job directory

    run, pdd = runner_job(jobs, 'limit-h1', lab, ['h1', 'h2', 'h3'], settings, limit='h1')
    assert run.rc == 0, run.tail()
    assert run.changed() == {'h1': 0}
    assert host_peers(lab, ('h1', 'h2', 'h3')) == peers  # every live peer kept everywhere
    shutil.rmtree(pdd)

    run, pdd = runner_job(jobs, 'add-h4', lab, ['h1', 'h2', 'h3', 'h4'], settings)
    assert run.rc == 0, run.tail()
    after = host_peers(lab, ('h1', 'h2', 'h3', 'h4'))
    k4 = wg_public_key(lab, 'h4')
    for h in ('h1', 'h2', 'h3'):
        assert after[h] == peers[h] | {k4}, h  # the old peers stay, h4 is added
    assert len(after['h4']) == 3
    with open(phone_key) as f:
        assert f.read() == phone  # the client's key is stable across jobs
    reg = registry_of(server)
    assert sorted(reg['networks']['wg0']['hosts']) == ['h1', 'h2', 'h3', 'h4']
    assert reg['networks']['wg0']['clients']['phone']['public_key'] in after['h1']
    assert collection_files(pdd) == []
    # the store holds the registry key and nothing secret
    assert server.client().keys('*') == [KEY.encode()]
    raw = server.client().get(KEY).decode()
    secrets = [phone.strip()] + [lab.exec(h, ['cat', '/etc/wireguard/wg0.key']).stdout.strip()
                                 for h in ('h1', 'h2', 'h3', 'h4')]
    assert all(s and s not in raw for s in secrets)


def test_two_controllers_one_store(nslab_factory, redis_factory, tmp_path):
    lab = nslab_factory(4, name=pytest_nslab.unique_lab_name('m12c'))
    password = 'c0ntr0ller-pw'  # noqa: S105 - a throw-away test server's
    server = redis_factory(password=password)
    hosts = ['h1', 'h2', 'h3', 'h4']
    settings = {'wireguard_networks': NETWORKS, 'wireguard_registry_backend': 'redis',
                'wireguard_registry_redis': {'url': server.url, 'password': password}}
    ctl = {}
    for name in ('a', 'b'):  # two working directories that share no file
        d = tmp_path / name
        write_inventory(str(d / 'inventory'), lab, hosts, settings)
        ctl[name] = (str(d), {'XDG_STATE_HOME': str(tmp_path / f'state-{name}')})
    args = ['-i', 'inventory/']
    site = 'meshlab.wireguard.site'
    started = [start_playbook(ctl[n][0], site, [*args, '--limit', limit, *extra], ctl[n][1])
               for n, limit, extra in (('a', 'h1,h2', ['-vvv']), ('b', 'h3,h4', []))]
    runs = [finish_playbook(s, f'controller {n} in parallel') for s, n in zip(started, 'ab')]
    for run in runs:
        assert run.rc == 0, run.tail()
        assert password not in run.stdout + run.stderr  # also at -vvv (controller a)
    reg = registry_of(server, password)
    entries = reg['networks']['wg0']['hosts']
    assert sorted(entries) == hosts  # none lost, none twice
    for h in hosts:
        assert entries[h]['public_key'] == wg_public_key(lab, h)
    for version in (4, 6):
        addrs = [a for e in entries.values() for a in e['addresses']
                 if ipaddress.ip_interface(a).version == version]
        assert len(addrs) == len(set(addrs)) == 4
    # one full run converges every host; the other controller then has nothing left to do
    run = playbook(ctl['a'][0], 'meshlab.wireguard.site', args, ctl['a'][1], label='controller a: full run')
    assert run.rc == 0, run.tail()
    for h in hosts:
        assert set(wg_peers(lab, h)) == {entries[o]['public_key'] for o in hosts if o != h}
    ip4 = entries['h4']['addresses'][0].split('/')[0]
    assert ping(lab, 'h1', ip4).returncode == 0
    run = playbook(ctl['b'][0], 'meshlab.wireguard.site', args, ctl['b'][1], label='controller b: full run')
    assert run.rc == 0 and run.total_changed() == 0, (run.recap, run.tail())
    assert registry_of(server, password) == reg
