"""Verify molecule/kernel: a WireGuard mesh among 3 QEMU VMs made by the kernel module.

testinfra reaches the VMs over SSH (its ansible backend turns molecule's inventory into plain
ssh calls). The mesh checks are the shared ones (molecule/shared/verify_mesh.py); the kernel
specific one is the link kind.
"""

from __future__ import annotations

import json
import os

import pytest
import testinfra
from verify_mesh import assert_key_files, assert_mesh, nodes_from_inventory, split, with_public_keys

IFNAME = "wg0"
INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
NODES = nodes_from_inventory(INVENTORY)
testinfra_hosts = [f"ansible://{n.name}?ansible_inventory={INVENTORY}" for n in NODES]


def _host(name):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


@pytest.fixture(scope="module")
def nodes():
    return with_public_keys(NODES, _host, IFNAME)


def test_link_is_kernel_wireguard(host):
    # `ip -d link show wg0`: the kernel module's link kind is wireguard (wireguard-go's is tun)
    link = json.loads(host.check_output(f"ip -j -d link show {IFNAME}"))[0]
    assert link["linkinfo"]["info_kind"] == "wireguard", link.get("linkinfo")
    assert "UP" in link["flags"]


def test_key_files(host):
    assert_key_files(host, [f"/etc/wireguard/{IFNAME}.key", f"/etc/wireguard/{IFNAME}.conf"])


def test_mesh(host, nodes):
    # pings to every peer over IPv4 and IPv6 through the tunnel, then a recent handshake each
    me, peers = split(nodes, host.backend.host)
    assert_mesh(host, me, peers, IFNAME)
