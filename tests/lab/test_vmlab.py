"""Lab tier 3 smoke test: two QEMU VMs (Debian 12 and 13), kernel WireGuard between them.

Run: `.venv/bin/pytest -m kernel tests/lab/test_vmlab.py` (root; the first run builds the VM image,
a few minutes; later runs reuse it from lab/cache/vm). Boot to SSH takes about a minute under
software emulation. With VMLAB_SHARED the first two VMs of that lab are used (reset first).
"""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lab" / "vm"))

import vmlab  # noqa: E402

pytestmark = pytest.mark.kernel

PORT = 51820
TUN4 = "100.64.0.{}"
TUN6 = "fd3a:6c1e:9b42:100::{}"


@pytest.fixture(scope="module")
def lab():
    missing = vmlab.missing_tools()
    if missing:
        pytest.skip(f"lab tier 3 needs {', '.join(missing)} (Debian: qemu-system-x86 qemu-utils debootstrap "
                    "e2fsprogs openssh-client; scripts/setup.sh installs them)")  # fmt: skip
    if os.geteuid() != 0:
        pytest.skip("lab tier 3 builds its VM image with debootstrap: run as root")
    shared = vmlab.shared_lab()
    if shared is not None:
        shared.reset(["vm1", "vm2"])
        yield shared
        return
    lab = vmlab.VMLab("pytest-kernel")
    try:
        lab.up(2, replace=True)
        yield lab
    finally:
        lab.down()


def test_both_debian_releases(lab):
    releases = {h.suite: lab.ssh(h.name, "cat /etc/debian_version").stdout.strip() for h in lab.hosts[:2]}
    assert sorted(releases) == ["bookworm", "trixie"], releases
    assert releases["bookworm"].startswith("12.") and releases["trixie"].startswith("13."), releases


def test_lan_between_vms(lab):
    _, vm2 = lab.hosts[:2]
    lab.ssh("vm1", f"ping -c1 -W5 {vm2.ipv4} && ping -c1 -W5 {vm2.ipv6}")


def test_kernel_wireguard_link(lab):
    out = lab.ssh("vm1", "ip link add wgprobe type wireguard && ip -d link show wgprobe; ip link del wgprobe")
    assert "wireguard" in out.stdout


def test_kernel_tunnel_passes_ping(lab):
    hosts = lab.hosts[:2]
    pubs = {}
    for h in hosts:
        out = lab.ssh(h.name, "umask 077; wg genkey >/root/wg0.key; wg pubkey </root/wg0.key").stdout.strip()
        assert len(base64.b64decode(out)) == 32
        pubs[h.name] = out
    for h in hosts:
        peers = " ".join(
            f"peer {pubs[p.name]} endpoint {p.ipv4}:{PORT} "
            f"allowed-ips {TUN4.format(p.index)}/32,{TUN6.format(p.index)}/128"
            for p in hosts
            if p is not h
        )
        lab.ssh(
            h.name,
            "ip link del wg0 2>/dev/null; ip link add wg0 type wireguard"
            f" && wg set wg0 listen-port {PORT} private-key /root/wg0.key {peers}"
            f" && ip addr add {TUN4.format(h.index)}/24 dev wg0"
            f" && ip addr add {TUN6.format(h.index)}/64 dev wg0"
            " && ip link set wg0 up",
        )
    a, b = hosts
    lab.ssh(a.name, f"ping -c2 -W5 {TUN4.format(b.index)} && ping -c2 -W5 {TUN6.format(b.index)}")
    lab.ssh(b.name, f"ping -c2 -W5 {TUN4.format(a.index)} && ping -c2 -W5 {TUN6.format(a.index)}")
    for h, other in ((a, b), (b, a)):
        dump = lab.ssh(h.name, "wg show wg0 latest-handshakes").stdout.split()
        assert dump[0] == pubs[other.name]
        assert int(dump[1]) > 0, f"{h.name}: no handshake with {other.name}"
    kind = lab.ssh(a.name, "ip -d link show wg0").stdout
    assert "wireguard" in kind
