"""Verify the tier 2 mesh (molecule/default): 3 systemd containers, wireguard-go, wg-quick@wg0.

Hosts are reached with testinfra's podman backend (``podman exec``): molecule's inventory says
``ansible_connection: podman``, which testinfra would otherwise run through one Ansible call per
command. The restart test comes last: it restarts wg-quick@wg0 on each host in turn.
"""

import os

import pytest
import testinfra
from verify_mesh import (
    assert_key_files,
    assert_mesh,
    assert_restart_recovers,
    assert_unit_enabled,
    nodes_from_inventory,
    split,
    with_public_keys,
)

IFNAME = "wg0"
PACKAGES = ["wireguard-tools", "wireguard-go", "python3-nacl", "python3-pyroute2", "nftables"]
NODES = nodes_from_inventory(os.environ["MOLECULE_INVENTORY_FILE"])
testinfra_hosts = [f"podman://{n.name}" for n in NODES]


def _host(name):
    return testinfra.get_host(f"podman://{name}")


@pytest.fixture(scope="module")
def nodes():
    return with_public_keys(NODES, _host, IFNAME)


@pytest.fixture
def me_and_peers(host, nodes):
    return split(nodes, host.backend.get_hostname())


@pytest.mark.parametrize("package", PACKAGES)
def test_package_installed_from_lab_repo(host, package):
    assert host.package(package).is_installed
    # the lab's repository is the image's only apt source: apt installed it from there
    policy = host.check_output(f"apt-cache policy {package}")
    assert "file:/srv/meshlab-apt" in policy


def test_key_files(host):
    assert_key_files(host, [f"/etc/wireguard/{IFNAME}.key", f"/etc/wireguard/{IFNAME}.conf"])


def test_wg_quick_unit_enabled(host):
    assert_unit_enabled(host, IFNAME)


def test_mesh(host, me_and_peers):
    me, peers = me_and_peers
    assert_mesh(host, me, peers, IFNAME)


def test_restart_recovers(host, me_and_peers):
    _me, peers = me_and_peers
    assert_restart_recovers(host, peers, IFNAME)
