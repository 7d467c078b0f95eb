"""The engine table is the one list of engines: the module, the role and discovery agree with it."""
import os
import re
import socket

import pytest
import yaml

from ansible_collections.meshlab.wireguard.plugins.module_utils import _engines
from ansible_collections.meshlab.wireguard.plugins.module_utils._engines import (
    ENGINE_BY_NAME,
    ENGINE_NAMES,
    ENGINES,
    EngineError,
    live_engine,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._interface_backend import argument_spec
from ansible_collections.meshlab.wireguard.plugins.modules import wireguard_interface

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
ROLE = os.path.join(ROOT, 'roles', 'wireguard')


def role_file(*parts):
    with open(os.path.join(ROLE, *parts), encoding='utf-8') as f:
        return f.read()


def test_the_option_choices_are_the_table():
    assert ENGINE_NAMES == ('auto', 'kernel', 'userspace')
    assert argument_spec()['engine']['choices'] == list(ENGINE_NAMES)
    docs = yaml.safe_load(wireguard_interface.DOCUMENTATION)
    assert docs['options']['engine']['choices'] == list(ENGINE_NAMES)


def test_the_role_engine_choices_are_the_table():
    spec = yaml.safe_load(role_file('meta', 'argument_specs.yml'))
    option = spec['argument_specs']['main']['options']['wireguard_engine']
    assert option['choices'] == list(ENGINE_NAMES)
    defaults = yaml.safe_load(role_file('defaults', 'main.yml'))
    assert defaults['wireguard_engine'] in ENGINE_NAMES


def test_the_role_kernel_probe_is_the_table_s_probe():
    """install.yml's shell probe (it runs before pyroute2 is installed) mirrors kernel_supported():
    a link of the kernel engine's kind is created and deleted, and only engine names come out."""
    tasks = yaml.safe_load(role_file('tasks', 'install.yml'))
    probe = next(t for t in tasks if 'Probe for kernel WireGuard' in t.get('name', ''))
    cmd = probe['ansible.builtin.shell']['cmd']
    assert f"type {ENGINE_BY_NAME['kernel'].link_kind}" in cmd
    echoed = re.findall(r'echo (\w+)', cmd)
    assert echoed == [e.name for e in ENGINES]  # 'auto' preference order


def test_engine_names_the_role_vars_compare_with_exist():
    text = role_file('vars', 'main.yml') + role_file('tasks', 'install.yml')
    compared = set(re.findall(r"wireguard__engine[^\n]*?==\s*'(\w+)'", text))
    assert compared and compared <= set(ENGINE_NAMES)


def test_make_engine_builds_each_table_entry(monkeypatch):
    from ansible_collections.meshlab.wireguard.plugins.module_utils import _engine_netlink

    monkeypatch.setattr(_engine_netlink, 'HAS_PYROUTE2', True)
    for spec in ENGINES:
        assert _engines.make_engine(spec.name).kind == spec.name
    with pytest.raises(EngineError, match='unknown engine'):
        _engines.make_engine('auto')


def test_auto_takes_the_first_engine_whose_probe_says_yes(monkeypatch):
    monkeypatch.setattr(_engines, 'engine_for_existing', lambda ifname: None)
    monkeypatch.setattr(_engines, 'kernel_supported', lambda: True)
    assert _engines.resolve_engine_name('auto', 'wg0') == 'kernel'
    monkeypatch.setattr(_engines, 'kernel_supported', lambda: False)
    assert _engines.resolve_engine_name('auto', 'wg0') == 'userspace'
    assert _engines.resolve_engine_name('auto', 'wg0', probe=False) is None


def test_live_engine_by_link_kind_and_socket(tmp_path):
    assert live_engine('wg0', 'wireguard') == 'kernel'
    assert live_engine('wg0', 'dummy') is None
    assert live_engine('wg0', None) is None
    assert live_engine('wg0', 'tun', str(tmp_path)) is None  # a TUN link without a socket
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(tmp_path / 'wg0.sock'))
        sock.listen(1)
        assert live_engine('wg0', 'tun', str(tmp_path)) == 'userspace'
        assert live_engine('wg1', 'tun', str(tmp_path)) is None
    finally:
        sock.close()
