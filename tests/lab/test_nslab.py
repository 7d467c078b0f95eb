"""Lab tier 1 (lab/nslab.py): namespace hosts, isolation, tunnels across them, clean teardown.

Run: .venv/bin/pytest tests/lab/test_nslab.py -q -p no:cacheprovider   (root)
"""
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import nslab
import pytest
from nslab import Lab, LabError, leftovers
from nslab_testinfra import host_for
from pytest_nslab import TIMINGS, unique_lab_name

pytestmark = [pytest.mark.lab, pytest.mark.skipif(os.geteuid() != 0, reason='lab tier 1 needs root')]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NSLAB = os.path.join(ROOT, 'lab', 'nslab.py')
ANSIBLE = os.path.join(os.path.dirname(sys.executable), 'ansible')
TUNNEL4 = '100.64.0.{}'
TUNNEL6 = 'fd3a:6c1e:9b42:100::{}'


def root_links():
    """Interface names of the machine's own network namespace (the lab must never add one)."""
    out = subprocess.run(['ip', '-o', 'link', 'show'], capture_output=True, text=True, check=True).stdout
    return sorted(line.split(':')[1].strip().split('@')[0] for line in out.splitlines())


def assert_root_untouched(lab, before):
    """No interface of the lab appeared in the machine's namespace (others may add their own)."""
    ours = {'br0', 'lan0'} | {h['name'] for h in lab.hosts}
    new = set(root_links()) - set(before)
    assert not new & ours, f'lab interfaces in the root namespace: {sorted(new & ours)}'
    out = subprocess.run(['ip', '-o', 'addr', 'show'], capture_output=True, text=True, check=True).stdout
    for h in lab.hosts:
        assert f"inet {h['underlay_ipv4']}/" not in out and f"inet6 {h['underlay_ipv6']}/" not in out


def assert_gone(lab, pids=()):
    left = leftovers(lab.name, lab.root)
    assert left == {'netns': [], 'mounts': [], 'state_dir': [], 'pids': []}, left
    with open('/proc/self/mountinfo') as f:
        assert lab.state_dir not in f.read()
    netns = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True, check=True).stdout
    assert f'nslab-{lab.name}-' not in netns
    for pid in pids:
        assert not os.path.exists(f'/proc/{pid}') or nslab._is_zombie(pid), f'pid {pid} survived'


@pytest.fixture(scope='module')
def root_links_before():
    return root_links()


@pytest.fixture(scope='module')
def lab3(nslab_module_factory, root_links_before):
    t0 = time.monotonic()
    lab = nslab_module_factory(3)
    TIMINGS.append(('3 hosts up (module lab)', time.monotonic() - t0))
    return lab


# ----------------------------------------------------------------------------- isolation

def test_each_host_sees_only_itself(lab3, root_links_before):
    for h in lab3.hosts:
        out = lab3.exec(h['name'], 'hostname; ls /sys/class/net; ip -o link show | wc -l').stdout.split()
        assert out[0] == h['name']
        assert set(out[1:-1]) <= {'lo', 'eth0', 'wg0'} and {'lo', 'eth0'} <= set(out[1:-1])
        assert int(out[-1]) == len(out[1:-1])
        addrs = lab3.exec(h['name'], ['ip', '-o', 'addr', 'show', 'dev', 'eth0']).stdout
        assert f"{h['underlay_ipv4']}/24" in addrs and f"{h['underlay_ipv6']}/64" in addrs
        assert 'tentative' not in addrs  # nodad: IPv6 usable at once
        # like a fresh host: no forwarding (a new netns would inherit IPv4's from the machine)
        assert lab3.exec(h['name'], 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding'
                         ).stdout.split() == ['0', '0']
    assert_root_untouched(lab3, root_links_before)


def test_private_wireguard_dirs(lab3):
    lab3.exec('h1', 'echo h1 > /etc/wireguard/marker && touch /run/wireguard/marker')
    assert lab3.exec('h1', 'cat /etc/wireguard/marker').stdout == 'h1\n'
    for other in ('h2', 'h3'):
        assert lab3.exec(other, 'ls -A /etc/wireguard /run/wireguard | grep -c marker',
                         check=False).stdout.strip() == '0'
    assert not os.path.exists('/etc/wireguard/marker') and not os.path.exists('/run/wireguard/marker')
    lab3.exec('h1', 'rm /etc/wireguard/marker /run/wireguard/marker')
    mode = lab3.exec('h2', 'stat -c %a /etc/wireguard; readlink -f /var/run/wireguard').stdout.split()
    assert mode == ['700', '/run/wireguard']


def test_private_etc(lab3):
    name = f'nslab-test-{lab3.name}.conf'
    lab3.exec('h1', f'echo h1 > /etc/{name}; cat /etc/hostname')
    assert lab3.exec('h1', f'cat /etc/{name} /etc/hostname').stdout.split() == ['h1', 'h1']
    assert lab3.exec('h2', f'test -e /etc/{name}', check=False).returncode == 1
    assert not os.path.exists(f'/etc/{name}')
    assert os.path.exists(os.path.join(lab3.state_dir, 'hosts', 'h1', 'etc', name))
    lab3.exec('h1', f'rm /etc/{name}')


def test_exec_keeps_cwd_and_reports_errors(lab3, tmp_path):
    assert lab3.exec('h2', 'pwd', cwd=str(tmp_path)).stdout.strip() == str(tmp_path)
    assert lab3.exec('h2', 'pwd', cwd='/nonexistent-dir').stdout.strip() == '/'
    with pytest.raises(LabError, match='exited 3'):
        lab3.exec('h2', 'exit 3')
    assert lab3.exec('h2', 'exit 3', check=False).returncode == 3
    with pytest.raises(LabError, match='no host'):
        lab3.exec('h9', 'true')


# ----------------------------------------------------------------------------- underlay

@pytest.mark.parametrize('family', ['underlay_ipv4', 'underlay_ipv6'])
def test_underlay_ping_every_pair(lab3, family):
    def ping_all(src):
        targets = ' '.join(h[family] for h in lab3.hosts if h['name'] != src['name'])
        return lab3.exec(src['name'], f'for t in {targets}; do ping -c1 -W2 -q $t >/dev/null || '
                                      f'{{ echo "no reply from $t"; exit 1; }}; done', check=False)
    with ThreadPoolExecutor(3) as pool:
        for h, proc in zip(lab3.hosts, pool.map(ping_all, lab3.hosts)):
            assert proc.returncode == 0, f"{h['name']}: {proc.stdout}{proc.stderr}"


def test_etc_hosts_names_lab_hosts(lab3):
    lab3.exec('h1', 'ping -c1 -W2 -q h3 && getent hosts h2')


# ----------------------------------------------------------------------------- WireGuard

def start_wg(lab, host):
    """wireguard-go wg0 in the foreground (WG_PROCESS_FOREGROUND=1), as a background process."""
    env = dict(os.environ, WG_PROCESS_FOREGROUND='1', LOG_LEVEL='error')
    proc = lab.popen(host, ['wireguard-go', 'wg0'], env=env, stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT, text=True)
    for _ in range(100):
        if lab.exec(host, 'test -S /run/wireguard/wg0.sock', check=False).returncode == 0:
            return proc
        if proc.poll() is not None:
            pytest.fail(f'wireguard-go on {host} exited {proc.returncode}: {proc.stdout.read()}')
        time.sleep(0.05)
    pytest.fail(f'wireguard-go on {host}: no UAPI socket')


def test_wireguard_go_on_every_host_and_a_tunnel(lab3, tmp_path):
    procs = {h['name']: start_wg(lab3, h['name']) for h in lab3.hosts}
    for name, proc in procs.items():
        assert proc.poll() is None, f'{name}: wireguard-go died'
        assert lab3.exec(name, ['wg', 'show', 'wg0', 'listen-port']).stdout.strip().isdigit()
    keys = {}
    for i, name in enumerate(('h1', 'h2'), start=1):
        priv = lab3.exec(name, ['wg', 'genkey']).stdout.strip()
        pub = lab3.exec(name, ['wg', 'pubkey'], input=priv + '\n').stdout.strip()
        keyfile = tmp_path / f'{name}.key'
        keyfile.write_text(priv + '\n')
        keys[name] = (str(keyfile), pub, i)
    for name, peer in (('h1', 'h2'), ('h2', 'h1')):
        keyfile, _, i = keys[name]
        _, peer_pub, j = keys[peer]
        peer_host = lab3.host(peer)
        lab3.exec(name, ['wg', 'set', 'wg0', 'listen-port', str(51820), 'private-key', keyfile,
                         'peer', peer_pub, 'endpoint', f"{peer_host['underlay_ipv4']}:51820",
                         'allowed-ips', f'{TUNNEL4.format(j)}/32,{TUNNEL6.format(j)}/128'])
        lab3.exec(name, f'ip addr add {TUNNEL4.format(i)}/24 dev wg0 && '
                        f'ip addr add {TUNNEL6.format(i)}/64 dev wg0 nodad && ip link set wg0 up')
    lab3.exec('h1', f'ping -c2 -W3 -q {TUNNEL4.format(2)}')
    lab3.exec('h2', f'ping -c2 -W3 -q {TUNNEL6.format(1)}')
    hs = lab3.exec('h1', ['wg', 'show', 'wg0', 'latest-handshakes']).stdout.split()
    assert hs[0] == keys['h2'][1] and int(hs[1]) > 0
    # the tunnel traffic crossed the underlay: wg0 counters on both sides moved
    transfer = lab3.exec('h2', ['wg', 'show', 'wg0', 'transfer']).stdout.split()
    assert int(transfer[1]) > 0 and int(transfer[2]) > 0
    # h3 runs its own wg0 with no peers: separate devices, separate sockets
    assert lab3.exec('h3', ['wg', 'show', 'wg0', 'peers']).stdout.strip() == ''


# ----------------------------------------------------------------------------- Ansible, testinfra

def run_ansible(inventory, *args):
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='json',
               ANSIBLE_HOST_KEY_CHECKING='0', ANSIBLE_NOCOLOR='1')
    proc = subprocess.run([ANSIBLE, '-i', inventory, 'all', *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout)['plays'][0]['tasks'][0]['hosts']


def test_ansible_ping_and_facts(lab3):
    res = run_ansible(lab3.inventory_path, '-m', 'ansible.builtin.ping')
    assert sorted(res) == ['h1', 'h2', 'h3']
    assert all(r['ping'] == 'pong' for r in res.values())
    res = run_ansible(lab3.inventory_path, '-m', 'ansible.builtin.setup', '-a', 'gather_subset=network')
    for h in lab3.hosts:
        facts = res[h['name']]['ansible_facts']
        assert facts['ansible_hostname'] == h['name']
        assert set(facts['ansible_interfaces']) <= {'lo', 'eth0', 'wg0'}
        assert facts['ansible_eth0']['ipv4']['address'] == h['underlay_ipv4']
        assert facts['ansible_default_ipv4'] == {}  # lab hosts have no default route; the machine has


def test_inventory_contents(lab3, tmp_path):
    with open(lab3.inventory_path) as f:
        text = f.read()
    for h in lab3.hosts:
        for needle in (f'{h["name"]}:', f'"{h["underlay_ipv4"]}"', f'"{h["underlay_ipv6"]}"',
                       f'ansible_python_interpreter: "{h["python"]}"'):
            assert needle in text
        assert ' ' not in h['python']
        assert os.access(h['python'], os.X_OK) and os.access(h['sh'], os.X_OK)
    assert 'ansible_connection: "local"' in text
    out = subprocess.run([lab3.hosts[1]['sh'], '-c', 'hostname; pwd'], capture_output=True, text=True,
                         cwd=str(tmp_path), check=True).stdout.split()
    assert out == ['h2', str(tmp_path)]


def test_testinfra_backend(lab3):
    h1 = host_for(lab3, 'h1')
    eth0 = h1.interface('eth0')
    assert eth0.exists
    assert lab3.host('h1')['underlay_ipv4'] in eth0.addresses
    assert lab3.host('h1')['underlay_ipv6'] in eth0.addresses
    assert not h1.interface('eth1').exists
    wgdir = h1.file('/etc/wireguard')
    assert wgdir.is_directory and wgdir.mode == 0o700
    brief = h1.run('ip -br a')
    assert brief.rc == 0
    assert {line.split()[0].split('@')[0] for line in brief.stdout.splitlines()} <= {'lo', 'eth0', 'wg0'}
    assert h1.check_output('hostname') == 'h1'
    assert host_for(lab3.name, 'h2').check_output('hostname') == 'h2'


# ----------------------------------------------------------------------------- teardown

def test_down_leaves_nothing(nslab_factory):
    before = root_links()
    t0 = time.monotonic()
    lab = nslab_factory(3)
    TIMINGS.append(('3 hosts up', time.monotonic() - t0))
    pids = []
    for h in lab.hosts:  # daemonized wireguard-go plus a stray background process per host
        lab.exec(h['name'], 'LOG_LEVEL=error wireguard-go wg0 >/dev/null 2>&1; '
                            'sleep 600 >/dev/null 2>&1 </dev/null &')
    pids = nslab.pids_in_namespaces([lab.ns_files(h['name'])['net'] for h in lab.hosts])
    assert len(pids) >= 6
    assert_root_untouched(lab, before)
    t0 = time.monotonic()
    report = lab.down()
    TIMINGS.append(('3 hosts down (6 processes)', time.monotonic() - t0))
    assert not any(report.values()), report
    assert_gone(lab, pids)
    assert_root_untouched(lab, before)
    assert lab.down() == {'netns': [], 'mounts': [], 'state_dir': [], 'pids': []}  # idempotent


def test_up_refuses_existing_lab(nslab_factory):
    lab = nslab_factory(1)
    with pytest.raises(LabError, match='down --name'):
        Lab(lab.name, 1).up()
    assert lab.exec('h1', 'hostname').stdout.strip() == 'h1'  # the failed up() did not touch it


def test_failed_up_leaves_nothing(monkeypatch):
    name = unique_lab_name('fail')
    calls = []

    def broken(self, h):
        calls.append(h['name'])
        raise LabError('injected failure')

    monkeypatch.setattr(Lab, '_address_site', broken)
    with pytest.raises(LabError, match='injected'):
        Lab(name, 3).up()
    assert calls
    assert leftovers(name) == {'netns': [], 'mounts': [], 'state_dir': [], 'pids': []}


def test_nsfs_tops():
    mounts = [('1', '0', '/', 'ext4'), ('2', '1', '/run/netns', 'ext4'), ('3', '2', '/run/netns/a', 'nsfs'),
              ('4', '2', '/run/netns/b', 'nsfs'), ('5', '1', '/x/.lab/l/ns', 'ext4'),
              ('6', '5', '/x/.lab/l/ns/h1.mnt', 'nsfs'), ('7', '1', '/run', 'tmpfs'),
              ('8', '7', '/run/lone', 'nsfs'), ('9', '1', '/y/ns', 'ext4'), ('10', '9', '/y/ns/f', 'nsfs'),
              ('11', '9', '/y/ns/sub', 'tmpfs')]
    # whole dirs of namespace files at once; a lone file, or a dir that holds more, file by file
    assert nslab._nsfs_tops(mounts) == ['/run/lone', '/run/netns', '/x/.lab/l/ns', '/y/ns/f']
    assert nslab._unescape(r'/a\040b') == '/a b'


def test_two_labs_side_by_side(nslab_factory):
    a, b = nslab_factory(2), nslab_factory(2)
    a.exec('h1', 'ping -c1 -W2 -q 198.51.100.12')
    b.exec('h1', 'ping -c1 -W2 -q 198.51.100.12')
    a.down()
    assert_gone(a)
    b.exec('h2', 'ping -c1 -W2 -q fd3a:6c1e:9b42:1::11')


def test_sites(nslab_factory):
    lab = nslab_factory(2, sites=True)
    h1 = lab.host('h1')
    assert (h1['site_lan_ipv4'], h1['gateway_ipv4'], h1['lan_host_ipv4']) == (
        '203.0.113.0/27', '203.0.113.1', '203.0.113.10')
    assert lab.host('h2')['lan_host_ipv4'] == '203.0.113.42'
    assert lab.exec('h1-lan', 'hostname').stdout.strip() == 'h1-lan'
    lab.exec('h1-lan', f"ping -c1 -W2 -q {h1['gateway_ipv4']} && ping -c1 -W2 -q {h1['gateway_ipv6']}")
    lab.exec('h1-lan', f"ping -c1 -W2 -q {h1['underlay_ipv4']}")  # via the gateway's other side
    lab.exec('h1', f"ping -c1 -W2 -q {h1['lan_host_ipv6']}")
    assert lab.exec('h1', 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding'
                    ).stdout.split() == ['1', '1']
    assert lab.exec('h1-lan', 'ls /sys/class/net').stdout.split() == ['eth0', 'lo']
    assert lab.exec('h1-lan', 'cat /proc/sys/net/ipv4/ip_forward').stdout.strip() == '0'
    with open(lab.inventory_path) as f:
        text = f.read()
    for key in ('lab_site_lan_ipv4: "203.0.113.0/27"', 'lab_site_lan_ipv6: "fd3a:6c1e:9b42:a1::/64"',
                'lab_lan_host_ipv4: "203.0.113.10"', 'lab_lan_host_ipv6: "fd3a:6c1e:9b42:a1::10"'):
        assert key in text
    assert 'h1-lan' not in text  # LAN hosts are reachable with exec, they are not inventory hosts
    with pytest.raises(LabError, match='at most 8'):
        Lab(unique_lab_name(), 9, sites=True).up()


# ----------------------------------------------------------------------------- CLI, signals

def cli(*args, check=True, cwd=ROOT):
    proc = subprocess.run(['/usr/bin/python3', NSLAB, *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120, check=False)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_cli(tmp_path):
    name = unique_lab_name('cli')
    try:
        assert 'h2' in cli('up', '2', '--name', name).stdout
        again = cli('up', '2', '--name', name, check=False)
        assert again.returncode != 0 and f'down --name {name}' in again.stderr
        inv = cli('inventory', '--name', name).stdout.strip()
        assert inv == os.path.join(ROOT, '.lab', name, 'inventory.yml') and os.path.exists(inv)
        assert cli('exec', '--name', name, 'h2', '--', 'hostname').stdout.strip() == 'h2'
        pwd = cli('exec', '--name', name, 'h1', '--', 'pwd', cwd=str(tmp_path)).stdout.strip()
        assert pwd == str(tmp_path)
        assert cli('exec', '--name', name, 'h1', '--', 'sh', '-c', 'exit 7', check=False).returncode == 7
        assert f'{name}: 2 hosts, ok' in cli('status').stdout
        assert 'down in' in cli('down', '--name', name).stdout
        assert leftovers(name) == {'netns': [], 'mounts': [], 'state_dir': [], 'pids': []}
    finally:
        nslab.destroy(name)


def test_down_leaves_foreign_dirs_alone(tmp_path):
    root = str(tmp_path)
    os.makedirs(os.path.join(root, 'other', 'ns'))
    assert nslab.list_labs(root) == []
    nslab.destroy('other', root=root)
    assert os.path.isdir(os.path.join(root, 'other', 'ns'))


def test_interrupted_pytest_cleans_up(tmp_path):
    """SIGTERM to a pytest run in the middle of a test: fixtures tear the lab down, pytest stops."""
    name = unique_lab_name('pyt')
    (tmp_path / 'conftest.py').write_text(
        f"import sys\nsys.path.insert(0, {os.path.join(ROOT, 'lab')!r})\n"
        'from pytest_nslab import nslab_factory  # noqa\n')
    (tmp_path / 'test_x.py').write_text(
        'import time\n'
        'def test_a(nslab_factory):\n'
        f'    lab = nslab_factory(2, name={name!r})\n'
        "    lab.exec('h1', 'sleep 600 >/dev/null 2>&1 </dev/null &')\n"
        "    print('UP', flush=True)\n"
        '    time.sleep(120)\n'
        'def test_b():\n'
        '    time.sleep(120)\n')
    proc = subprocess.Popen([sys.executable, '-m', 'pytest', '-q', '-s', '-p', 'no:cacheprovider',
                             str(tmp_path / 'test_x.py')], cwd=str(tmp_path), stdout=subprocess.PIPE,
                            text=True)
    try:
        for line in proc.stdout:
            if 'UP' in line:
                break
        assert leftovers(name)['netns']
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)  # test_b never runs: pytest stopped
        assert leftovers(name) == {'netns': [], 'mounts': [], 'state_dir': [], 'pids': []}
    finally:
        proc.kill()
        nslab.destroy(name)


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT])
def test_interrupted_run_cleans_up(sig):
    name = unique_lab_name('sig')
    # SIGINT as a terminal delivers it: a run started in the background (nohup ... &) inherits
    # SIGINT ignored, and Python then installs no KeyboardInterrupt handler of its own
    code = (f"import signal, sys, time; sys.path.insert(0, {os.path.join(ROOT, 'lab')!r}); import nslab\n"
            'signal.signal(signal.SIGINT, signal.default_int_handler)\n'
            f'lab = nslab.Lab({name!r}, 2).up()\n'
            "lab.exec('h1', 'sleep 600 >/dev/null 2>&1 </dev/null &')\n"
            "print('UP', flush=True); time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == 'UP'
        assert leftovers(name)['netns']
        proc.send_signal(sig)
        proc.wait(timeout=30)
        assert leftovers(name) == {'netns': [], 'mounts': [], 'state_dir': [], 'pids': []}
    finally:
        proc.kill()
        nslab.destroy(name)


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_interrupted_cli_up_cleans_up(sig):
    name = unique_lab_name('iup')
    proc = subprocess.Popen(['/usr/bin/python3', NSLAB, 'up', '30', '--name', name],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not leftovers(name)['netns'] and time.monotonic() < deadline:  # wait until it builds
            time.sleep(0.02)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        if proc.returncode == 0:
            pytest.skip('up finished before the signal arrived')
        assert proc.returncode == 130 and 'interrupted' in err
        assert leftovers(name) == {'netns': [], 'mounts': [], 'state_dir': [], 'pids': []}
    finally:
        proc.kill()
        nslab.destroy(name)


def test_sigkilled_run_leaves_a_stale_lab_that_down_stale_removes():
    name = unique_lab_name('kill')
    code = (f"import sys, time; sys.path.insert(0, {os.path.join(ROOT, 'lab')!r}); import nslab\n"
            f"nslab.Lab({name!r}, 2).up(); print('UP', flush=True); time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == 'UP'
        assert name not in nslab.stale_labs()
        proc.kill()
        proc.wait(timeout=30)
        assert name in nslab.stale_labs()
        assert 'stale' in cli('status').stdout
        assert f'lab {name}: down' in cli('down', '--stale').stdout
        assert leftovers(name) == {'netns': [], 'mounts': [], 'state_dir': [], 'pids': []}
    finally:
        proc.kill()
        nslab.destroy(name)


# ----------------------------------------------------------------------------- scale

def test_fifty_hosts(nslab_factory):
    t0 = time.monotonic()
    lab = nslab_factory(50)
    TIMINGS.append(('50 hosts up', time.monotonic() - t0))
    target4, target6 = lab.host('h1')['underlay_ipv4'], lab.host('h1')['underlay_ipv6']

    def ping(h):
        return lab.exec(h['name'], f'ping -c1 -W3 -q {target4} && ping -c1 -W3 -q {target6}', check=False)

    t0 = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(ping, lab.hosts[1:]))
    TIMINGS.append(('49 hosts ping h1 (v4+v6)', time.monotonic() - t0))
    failed = [h['name'] for h, r in zip(lab.hosts[1:], results) if r.returncode != 0]
    assert not failed
    t0 = time.monotonic()
    report = lab.down()
    TIMINGS.append(('50 hosts down', time.monotonic() - t0))
    assert not any(report.values()), report
    assert_gone(lab)
