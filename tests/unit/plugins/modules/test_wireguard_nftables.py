"""wireguard_nftables' boot unit with fake nft and systemctl (the table itself: tests/lab).

The unit is worked out before anything changes (check mode predicts the real run), written and
loaded (daemon-reload) before it is enabled, left alone on a second run, and only where systemd
runs.
"""
import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.meshlab.wireguard.plugins.module_utils import _systemd
from ansible_collections.meshlab.wireguard.plugins.modules import wireguard_nftables as mod

UNIT = 'meshlab-wireguard-firewall.service'


class Done(Exception):
    pass


class FakeHost:
    def __init__(self, tmp_path):
        self.table = None          # the loaded script, or None
        self.enabled = False
        self.loaded_unit = None    # the unit text as systemd last loaded it
        self.commands = []
        self.unit_dir = tmp_path / 'etc-systemd-system'
        self.unit_dir.mkdir()

    def run(self, argv):
        self.commands.append(argv[1:])
        tool, args = argv[0].rsplit('/', 1)[-1], argv[1:]
        if tool == 'nft':
            if args[:2] == ['list', 'table']:
                return (0, self.table, '') if self.table else (1, '', 'No such file or directory')
            if args[:2] == ['-c', '-f']:
                return 0, '', ''
            if args[0] == '-f':
                with open(args[1]) as f:
                    self.table = f.read()
                return 0, '', ''
            if args[:2] == ['delete', 'table']:
                self.table = None
                return 0, '', ''
        if tool == 'systemctl':
            unit = self.unit_dir / UNIT
            if args[0] == 'daemon-reload':
                self.loaded_unit = unit.read_text() if unit.exists() else None
                return 0, '', ''
            if args[0] == 'is-enabled':
                return (0, 'enabled\n', '') if self.enabled else (1, 'disabled\n', '')
            if args[0] in ('enable', 'disable'):
                if self.loaded_unit is None:
                    return 1, '', f'Unit {UNIT} does not exist'
                self.enabled = args[0] == 'enable'
                return 0, '', ''
        raise AssertionError(f'unexpected command {argv}')


@pytest.fixture
def host(monkeypatch, tmp_path):
    h = FakeHost(tmp_path)
    running = tmp_path / 'run-systemd-system'
    running.mkdir()
    monkeypatch.setattr(_systemd, 'RUNNING_DIR', str(running))
    monkeypatch.setattr(_systemd, 'UNIT_DIR', str(h.unit_dir))
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', lambda self, argv, **kw: h.run(argv))
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path',
                        lambda self, name, required=False, opt_dirs=None: '/usr/sbin/' + name)

    def exit_json(self, **kw):
        raise Done(kw)

    def fail_json(self, msg, **kw):
        raise Done(dict(kw, failed=True, msg=msg))

    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
    h.running = running
    return h


def run(tmp_path, check=False, **over):
    args = {'path': str(tmp_path / 'nft' / 'meshlab-wireguard.nft'), 'table': 'meshlab_wireguard',
            'marker': 'meshlab 1', 'boot_unit': UNIT, 'state': 'present',
            'content': 'table inet meshlab_wireguard\ndelete table inet meshlab_wireguard\n'
                       'table inet meshlab_wireguard { comment "meshlab 1" }\n',
            '_ansible_check_mode': check}
    args.update(over)
    with patch_module_args(args), pytest.raises(Done) as done:
        mod.main()
    return done.value.args[0]


def test_boot_unit_four_runs(host, tmp_path):
    checked = run(tmp_path, check=True)
    assert checked['changed'] and checked['unit_actions'] == ['write', 'enable']
    assert not (host.unit_dir / UNIT).exists() and host.table is None
    done = run(tmp_path)
    assert done['unit_actions'] == checked['unit_actions'] and host.enabled
    text = (host.unit_dir / UNIT).read_text()
    assert host.loaded_unit == text
    assert f"ExecStart=/usr/sbin/nft -f {tmp_path / 'nft' / 'meshlab-wireguard.nft'}" in text
    assert 'After=nftables.service' in text and 'WantedBy=multi-user.target' in text
    for check in (True, False):
        again = run(tmp_path, check=check)
        assert not again['changed'] and again['unit_actions'] == []


def test_boot_unit_edited_by_hand_is_put_back(host, tmp_path):
    run(tmp_path)
    (host.unit_dir / UNIT).write_text('[Service]\nExecStart=/bin/true\n')
    fixed = run(tmp_path)
    assert fixed['changed'] and fixed['unit_actions'] == ['write'] and 'nft -f' in host.loaded_unit


def test_absent_disables_and_removes_the_unit(host, tmp_path):
    run(tmp_path)
    gone = run(tmp_path, state='absent')
    assert gone['unit_actions'] == ['disable', 'remove'] and not host.enabled
    assert not (host.unit_dir / UNIT).exists() and host.loaded_unit is None and host.table is None


def test_no_unit_without_systemd(host, tmp_path):
    host.running.rmdir()
    done = run(tmp_path)
    assert done['changed'] and done['unit_actions'] == [] and not done['systemd_running']
    assert not any(c[0] in ('daemon-reload', 'enable', 'is-enabled') for c in host.commands)
    assert list(host.unit_dir.iterdir()) == []


@pytest.mark.parametrize('bad', ['../../etc/passwd', 'firewall', 'a b.service'])
def test_boot_unit_name_is_checked_before_anything_changes(host, tmp_path, bad):
    res = run(tmp_path, boot_unit=bad)
    assert res['failed'] and 'is not a service unit name' in res['msg'] and host.commands == []
