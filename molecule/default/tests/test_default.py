"""Verify tier 2 (molecule/default): the whole role on 3 systemd containers, wireguard-go.

Hosts are reached with testinfra's podman backend (``podman exec``): molecule's inventory says
``ansible_connection: podman``, which testinfra would otherwise run through one Ansible call per
command. Container and inventory names carry the run id (``t2-<run>-hI``, lab/podman/molecule.sh);
the nodes come from molecule's inventory. The restart test comes last: it restarts
wg-quick@wg0 on each host in turn, then the metrics must show the new handshakes too.
"""

import os

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner
from verify_mesh import (
    assert_key_files,
    assert_mesh,
    assert_metrics_text,
    assert_metrics_textfile,
    assert_nft_allows_ports,
    assert_preshared_keys,
    assert_restart_recovers,
    assert_timer_refreshes,
    assert_unit_enabled,
    nodes_from_inventory,
    scrape_exporter,
    split,
    with_public_keys,
)

IFNAME = "wg0"
PORT = 51820
# what the role installs on Debian for the userspace engine with the nftables firewall
PACKAGES = ["wireguard-tools", "wireguard-go", "python3-nacl", "python3-pyroute2", "nftables"]
METRICS_FILE = "/var/lib/node_exporter/textfile_collector/wireguard.prom"
METRICS_INTERVAL = 5  # wireguard_metrics_interval in molecule.yml
NODES = nodes_from_inventory(os.environ["MOLECULE_INVENTORY_FILE"], pattern="t2_mesh")
# h1, h2: textfile for node_exporter; h3: the exporter (molecule.yml)
_RUNNER = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
MODES = {n.name: _RUNNER.get_variables(n.name).get("wireguard_metrics_mode", "textfile") for n in NODES}
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
    # the lab's repository is the image's only apt source: the role installed it from there
    policy = host.check_output(f"apt-cache policy {package}")
    assert "file:/srv/meshlab-apt" in policy


def test_key_files(host):
    assert_key_files(host, [f"/etc/wireguard/{IFNAME}.key", f"/etc/wireguard/{IFNAME}.conf"])


def test_wg_quick_unit_enabled_and_active(host):
    assert_unit_enabled(host, IFNAME, active=True)


def test_mesh(host, me_and_peers):
    me, peers = me_and_peers
    assert_mesh(host, me, peers, IFNAME)


def test_preshared_keys(host, me_and_peers):
    _me, peers = me_and_peers
    assert_preshared_keys(host, peers, IFNAME)


def test_firewall_table(host):
    assert_nft_allows_ports(host, "meshlab_wireguard", [PORT])
    assert host.service("meshlab-wireguard-firewall.service").is_enabled


def test_metrics_timer_and_textfile(host, me_and_peers):
    me, peers = me_and_peers
    if MODES[me.name] == "exporter":
        assert host.service("wireguard-exporter.service").is_running
        assert not host.file(METRICS_FILE).exists
        assert_metrics_text(host, scrape_exporter(host), peers, IFNAME)
        return
    # the timer rewrites the file; the rewrite after the mesh test has every handshake in it
    assert_timer_refreshes(host, "wireguard-metrics.timer", METRICS_FILE, METRICS_INTERVAL)
    assert_metrics_textfile(host, METRICS_FILE, peers, IFNAME)


def test_restart_recovers(host, me_and_peers):
    me, peers = me_and_peers
    assert_restart_recovers(host, peers, IFNAME)
    if MODES[me.name] == "exporter":  # read per scrape: the new handshakes at once
        assert_metrics_text(host, scrape_exporter(host), peers, IFNAME, max_age=60)
        return
    # the timer's next run sees the new handshakes
    assert_timer_refreshes(host, "wireguard-metrics.timer", METRICS_FILE, METRICS_INTERVAL)
    assert_metrics_textfile(host, METRICS_FILE, peers, IFNAME, max_age=60)
