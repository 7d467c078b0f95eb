"""wireguard_firewall with a fake host: firewalld (files + a fake running daemon), ufw (a fake
`ufw show added`), iptables-save, nft; switching backends removes only our objects.

Every scenario runs check mode first and asserts it changed nothing and predicted what the real
run then does; the real firewalls run in lab tier 2 (molecule/default/tests/test_firewalls.py).
"""
import os
import shlex

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.meshlab.wireguard.plugins.module_utils import _firewall, _systemd
from ansible_collections.meshlab.wireguard.plugins.modules import wireguard_firewall as mod

NETS = [{'name': 'wg0', 'port': 51820, 'forward_tunnel': False, 'masquerade': True,
         'local_lans': ['203.0.113.0/27', 'fd3a:6c1e:9b42:a1::/64'], 'peers': ['ignored']}]
ADMIN_UFW = "ufw allow 22/tcp comment 'admin ssh'"


class Done(Exception):
    pass


class FakeFirewalld:
    """The running daemon: what it loaded from the files at its last (re)load."""

    def __init__(self, conf):
        self.conf = conf
        self.loaded = {}
        self.reloads = 0

    def reload(self):
        self.reloads += 1
        self.loaded = {}
        for kind in ('zones', 'policies'):
            d = os.path.join(self.conf, kind)
            for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                if f.endswith('.xml'):
                    with open(os.path.join(d, f)) as text:
                        self.loaded[(kind, f[:-4])] = text.read()


class Settings:
    def __init__(self, d):
        self.d = d

    def getSettingsDict(self):
        return dict(self.d)


class FakeHost:
    def __init__(self, tmp_path):
        self.commands = []
        self.tmp = tmp_path
        self.unit_dir = tmp_path / 'etc-systemd-system'
        self.unit_dir.mkdir()
        self.fw_conf = tmp_path / 'firewalld'
        self.firewalld = FakeFirewalld(str(self.fw_conf))
        self.firewalld_running = True
        self.ufw = [ADMIN_UFW]
        self.ufw_installed = True
        self.tables = {}           # nft: 'inet meshlab_wireguard' -> text
        self.iptables_save = ''
        self.enabled_units = set()
        self.bins = {'nft', 'firewall-cmd', 'ufw', 'iptables', 'ip6tables', 'iptables-save', 'ip6tables-save',
                     'systemctl'}

    def bin(self, name):
        if name == 'ufw' and not self.ufw_installed:
            return None
        return '/usr/sbin/' + name if name in self.bins else None

    def run(self, argv):
        self.commands.append(argv)
        tool, args = argv[0].rsplit('/', 1)[-1], argv[1:]
        if tool == 'nft':
            if args[:2] == ['list', 'table']:
                key = ' '.join(args[2:4])
                if key not in self.tables:
                    return 1, '', 'No such file or directory'
                return 0, self.tables[key], ''
            if args[:2] == ['-c', '-f']:
                return 0, '', ''
            if args[0] == '-f':
                with open(args[1]) as text:
                    self.tables['inet meshlab_wireguard'] = text.read()
                return 0, '', ''
            if args[:2] == ['delete', 'table']:
                self.tables.pop(' '.join(args[2:4]), None)
                return 0, '', ''
        if tool == 'firewall-cmd':
            if args == ['--state']:
                return (0, 'running\n', '') if self.firewalld_running else (252, 'not running\n', '')
            if args == ['--reload']:
                self.firewalld.reload()
                return 0, 'success\n', ''
        if tool == 'ufw':
            if args == ['show', 'added']:
                return 0, "Added user rules (see 'ufw status' for running firewall):\n" + \
                    ''.join(r + '\n' for r in self.ufw), ''
            if args[:1] == ['delete'] or args[:2] == ['route', 'delete']:
                rest = args[1:] if args[0] == 'delete' else ['route', *args[2:]]
                match = [r for r in self.ufw if shlex.split(r) == ['ufw', *rest]]
                assert match, (args, self.ufw)
                self.ufw.remove(match[0])
                return 0, 'Rule deleted\n', ''
            rule = 'ufw ' + ' '.join(f"'{a}'" if ' ' in a else a for a in args)
            self.ufw.append(rule)
            return 0, 'Rules updated\n', ''
        if tool in ('iptables-save', 'ip6tables-save'):
            return 0, self.iptables_save if tool == 'iptables-save' else '', ''
        if tool in ('iptables', 'ip6tables'):
            return 0, '', ''
        if tool == 'systemctl':
            if args[0] == 'is-enabled':
                return (0, 'enabled\n', '') if args[1] in self.enabled_units else (1, 'disabled\n', '')
            if args[0] in ('enable', 'disable'):
                (self.enabled_units.add if args[0] == 'enable' else self.enabled_units.discard)(args[1])
                return 0, '', ''
            if args[0] == 'daemon-reload':
                return 0, '', ''
        raise AssertionError(f'unexpected command {argv}')

    def mutating(self):
        """The commands that change something (for check mode: none)."""
        reads = (['--state'], ['show', 'added'], ['list', 'table'], ['is-enabled'])
        out = []
        for argv in self.commands:
            tool, args = argv[0].rsplit('/', 1)[-1], argv[1:]
            if tool.endswith('-save') or any(args[:len(r)] == r for r in reads) or args[:2] == ['-c', '-f']:
                continue
            out.append(argv)
        return out


@pytest.fixture
def host(monkeypatch, tmp_path):
    h = FakeHost(tmp_path)
    running = tmp_path / 'run-systemd-system'
    running.mkdir()
    monkeypatch.setattr(_systemd, 'RUNNING_DIR', str(running))
    monkeypatch.setattr(_systemd, 'UNIT_DIR', str(h.unit_dir))
    monkeypatch.setattr(_firewall.Firewalld, 'CONF', str(h.fw_conf))
    monkeypatch.setattr(_firewall.Ufw, 'RULES', (str(tmp_path / 'user.rules'), str(tmp_path / 'user6.rules')))
    monkeypatch.setattr(_firewall.Ufw, 'CONF', str(tmp_path / 'ufw.conf'))
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', lambda self, argv, **kw: h.run(argv))
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path',
                        lambda self, name, required=False, opt_dirs=None: h.bin(name))

    def client(self):
        if not h.firewalld_running:
            return None
        return _Client(h, self)

    monkeypatch.setattr(_firewall.Firewalld, '_client', client)

    def exit_json(self, **kw):
        raise Done(kw)

    def fail_json(self, msg, **kw):
        raise Done(dict(kw, failed=True, msg=msg))

    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, msg: h.commands.append(['warn', msg]))
    return h


class _Client:
    """A running firewalld reporting, for each object it loaded, the settings of that file (the
    module's own desired settings for the same inputs stand for firewalld's parsing of them)."""

    connected = True

    def __init__(self, host, fw):
        self.host = host
        self.want = {key: settings for key, (text, settings) in fw.desired().items()}
        self.texts = {key: text for key, (text, settings) in fw.desired().items()}

    def _get(self, kind, name):
        loaded = self.host.firewalld.loaded.get((kind, name))
        if loaded is None:
            raise KeyError(name)
        # a loaded file that is ours and current reports the wanted settings; anything else differs
        if self.texts.get((kind, name)) == loaded:
            return self.want[(kind, name)]
        return {'target': 'other'}

    def getZones(self):
        return ['public'] + [n for k, n in self.host.firewalld.loaded if k == 'zones']

    def getPolicies(self):
        return ['allow-host-ipv6'] + [n for k, n in self.host.firewalld.loaded if k == 'policies']

    def getZoneSettings(self, name):
        return Settings(self._get('zones', name))

    def getPolicySettings(self, name):
        return Settings(self._get('policies', name))


def run(tmp_path, backend, check=False, networks=None, **over):
    args = {'backend': backend, 'networks': NETS if networks is None else networks,
            '_ansible_check_mode': check,
            'nftables': {'path': str(tmp_path / 'nft' / 'meshlab-wireguard.nft'),
                         'table': 'meshlab_wireguard', 'boot_unit': 'meshlab-wireguard-firewall.service'},
            'iptables': {'rules_dir': str(tmp_path / 'iptables')}}
    if backend == 'nftables':
        args['nftables'].update(marker='meshlab 1', content='table inet meshlab_wireguard\n'
                                'delete table inet meshlab_wireguard\n'
                                'table inet meshlab_wireguard { comment "meshlab 1" }\n')
    args.update(over)
    with patch_module_args(args), pytest.raises(Done) as done:
        mod.main()
    return done.value.args[0]


def four(host, tmp_path, backend, **over):
    host.commands.clear()
    checked = run(tmp_path, backend, check=True, **over)
    assert host.mutating() == [], host.mutating()
    done = run(tmp_path, backend, **over)
    checked2 = run(tmp_path, backend, check=True, **over)
    done2 = run(tmp_path, backend, **over)
    assert checked['changed'] and done['changed'], (checked, done)
    assert checked['actions'] == done['actions']
    assert not checked2['changed'] and not done2['changed'], (checked2, done2)
    return done


def files(host):
    out = set()
    for kind in ('zones', 'policies'):
        d = host.fw_conf / kind
        out |= {f'{kind}/{f.name}' for f in d.iterdir()} if d.is_dir() else set()
    return out


def test_firewalld_four_runs_files_and_reload(host, tmp_path):
    done = four(host, tmp_path, 'firewalld')
    assert files(host) == {'zones/meshlab-wg.xml', 'policies/meshlab-wg-listen.xml',
                           'policies/meshlab-wg-to-lan.xml', 'policies/meshlab-lan-to-wg.xml'}
    assert done['actions'][-1] == 'firewalld: reload (files changed)' and host.firewalld.reloads == 1
    listen = (host.fw_conf / 'policies' / 'meshlab-wg-listen.xml').read_text()
    assert '<ingress-zone name="ANY"/>' in listen and '<egress-zone name="HOST"/>' in listen
    assert '<port protocol="udp" port="51820"/>' in listen
    to_lan = (host.fw_conf / 'policies' / 'meshlab-wg-to-lan.xml').read_text()
    assert '<masquerade/>' in to_lan and '<destination address="fd3a:6c1e:9b42:a1::/64"/>' in to_lan
    zone = (host.fw_conf / 'zones' / 'meshlab-wg.xml').read_text()
    assert '<interface name="wg0"/>' in zone and '<forward/>' not in zone


def test_firewalld_runtime_drift_is_a_reload_only(host, tmp_path):
    run(tmp_path, 'firewalld')
    del host.firewalld.loaded[('policies', 'meshlab-wg-listen')]   # e.g. a runtime --delete-policy
    res = run(tmp_path, 'firewalld', check=True)
    assert res['changed'] and res['actions'] == ['firewalld: reload (the running firewalld differs in policy '
                                                 'meshlab-wg-listen)']
    run(tmp_path, 'firewalld')
    assert not run(tmp_path, 'firewalld')['changed']


def test_firewalld_zones_and_fewer_objects(host, tmp_path):
    run(tmp_path, 'firewalld')
    nets = [dict(NETS[0], local_lans=[], masquerade=False, forward_tunnel=True)]
    res = run(tmp_path, 'firewalld', networks=nets, firewalld={'zone': 'public', 'lan_zone': 'internal'})
    assert 'firewalld: remove policy meshlab-wg-to-lan' in res['actions']
    assert files(host) == {'zones/meshlab-wg.xml', 'policies/meshlab-wg-listen.xml'}
    assert '<forward/>' in (host.fw_conf / 'zones' / 'meshlab-wg.xml').read_text()
    listen = (host.fw_conf / 'policies' / 'meshlab-wg-listen.xml').read_text()
    assert '<ingress-zone name="public"/>' in listen


def test_firewalld_not_running_writes_files_and_warns(host, tmp_path):
    host.firewalld_running = False
    res = run(tmp_path, 'firewalld')
    assert res['changed'] and not res['firewalld_running'] and host.firewalld.reloads == 0
    assert any(c[0] == 'warn' for c in host.commands)
    assert len(files(host)) == 4


def test_ufw_four_runs_keeps_the_admins_rules(host, tmp_path):
    done = four(host, tmp_path, 'ufw', networks=[dict(NETS[0], masquerade=False, forward_tunnel=True)])
    assert host.ufw[0] == ADMIN_UFW
    ours = host.ufw[1:]
    assert "ufw allow 51820/udp comment 'meshlab.wireguard wg0'" in ours
    assert "ufw route allow in on wg0 out on wg0 comment 'meshlab.wireguard wg0 peers'" in ours
    assert "ufw route allow out on wg0 from 203.0.113.0/27 comment 'meshlab.wireguard wg0 from LAN'" in ours
    assert len(ours) == 6 and len(done['actions']) == 6
    # a LAN less: only its two rules go
    res = run(tmp_path, 'ufw', networks=[dict(NETS[0], local_lans=['203.0.113.0/27'], forward_tunnel=True)])
    assert [a.split(' ', 2)[1] for a in res['actions']] == ['delete', 'delete'], res['actions']
    assert len(host.ufw) == 5 and host.ufw[0] == ADMIN_UFW


def test_ufw_missing_fails_in_a_real_run_only(host, tmp_path):
    host.ufw_installed = False
    checked = run(tmp_path, 'ufw', check=True)
    assert checked['changed'] and all(a.startswith('ufw: add ') for a in checked['actions'])
    res = run(tmp_path, 'ufw')
    assert res['failed'] and 'ufw is not installed' in res['msg']


def test_switching_removes_only_the_previous_backends_objects(host, tmp_path):
    (tmp_path / 'ufw.conf').write_text('ENABLED=yes\n')
    run(tmp_path, 'nftables')
    assert 'inet meshlab_wireguard' in host.tables
    assert 'meshlab-wireguard-firewall.service' in host.enabled_units
    host.tables['inet admin_own'] = 'table inet admin_own {}'
    # nftables -> firewalld: table, file and boot unit go
    res = run(tmp_path, 'firewalld')
    assert res['removed'] == ['nftables'] and 'inet meshlab_wireguard' not in host.tables
    assert not (tmp_path / 'nft' / 'meshlab-wireguard.nft').exists()
    assert not (host.unit_dir / 'meshlab-wireguard-firewall.service').exists()
    assert 'inet admin_own' in host.tables
    # an admin's zone stays
    (host.fw_conf / 'zones' / 'admin.xml').write_text('<zone/>')
    # firewalld -> ufw: our files go, with a reload of the running daemon
    (tmp_path / 'user.rules').write_text('')
    res = run(tmp_path, 'ufw')
    assert res['removed'] == ['firewalld'] and files(host) == {'zones/admin.xml'}
    assert 'firewalld: reload (zone and policies of ours removed)' in res['actions'] and res['ufw_enabled']
    # ufw -> iptables: our ufw rules go (the rules file carries our comment), the admin's stays
    (tmp_path / 'user.rules').write_text('### tuple ### allow udp 51820 0.0.0.0/0 any 0.0.0.0/0 in comment='
                                         + b'meshlab.wireguard wg0'.hex() + '\n')
    res = run(tmp_path, 'iptables')
    assert res['removed'] == ['ufw'] and host.ufw == [ADMIN_UFW]
    # iptables -> nftables: chains, jumps, files and unit go; the admin's chain stays
    (tmp_path / 'iptables').mkdir()
    for f in _firewall.IptablesCleanup.FILES:
        (tmp_path / 'iptables' / f).write_text('x')
    (host.unit_dir / 'meshlab-wireguard-iptables.service').write_text('[Unit]\n')
    host.enabled_units.add('meshlab-wireguard-iptables.service')
    host.iptables_save = ('*filter\n:INPUT ACCEPT [0:0]\n:ADMIN - [0:0]\n:MESHLAB-WG-INPUT - [0:0]\n'
                          ':MESHLAB-WG-FORWARD - [0:0]\n-A INPUT -j MESHLAB-WG-INPUT\n-A INPUT -j ADMIN\n'
                          '-A MESHLAB-WG-INPUT -p udp -m udp --dport 51820 -j ACCEPT\nCOMMIT\n'
                          '*nat\n:MESHLAB-WG-POSTROUTING - [0:0]\n'
                          '-A POSTROUTING -j MESHLAB-WG-POSTROUTING\nCOMMIT\n')
    host.commands.clear()
    checked = run(tmp_path, 'nftables', check=True)
    assert host.mutating() == [] and checked['removed'] == ['iptables']
    res = run(tmp_path, 'nftables')
    ipt = [c[1:] for c in host.commands if c[0].endswith('/iptables')]
    assert ['-w', '-t', 'filter', '-D', 'INPUT', '-j', 'MESHLAB-WG-INPUT'] in ipt
    assert ['-w', '-t', 'nat', '-X', 'MESHLAB-WG-POSTROUTING'] in ipt
    assert not any('ADMIN' in c for c in ipt), ipt
    assert res['removed'] == ['iptables']
    assert not (tmp_path / 'iptables' / 'meshlab-wireguard-iptables.sh').exists()
    assert 'meshlab-wireguard-iptables.service' not in host.enabled_units
    assert not (host.unit_dir / 'meshlab-wireguard-iptables.service').exists()
    assert 'inet meshlab_wireguard' in host.tables and checked['actions'] == res['actions']


def test_nothing_to_remove_is_cheap(host, tmp_path):
    run(tmp_path, 'nftables')
    host.commands.clear()
    res = run(tmp_path, 'nftables')
    assert not res['changed'] and res['removed'] == []
    tools = sorted({c[0].rsplit('/', 1)[-1] for c in host.commands})
    # no ufw, no firewall-cmd: their files say nothing of ours is there
    assert tools == ['ip6tables-save', 'iptables-save', 'nft', 'systemctl'], host.commands


def test_bad_networks_fail_before_anything(host, tmp_path):
    res = run(tmp_path, 'ufw', networks=[{'name': 'wg0', 'port': 51820, 'local_lans': ['not-a-prefix']}])
    assert res['failed'] and 'local_lans' in res['msg'] and host.commands == []
