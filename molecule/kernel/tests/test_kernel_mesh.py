"""Verify molecule/kernel: the role's WireGuard mesh among 3 QEMU VMs (Debian 12 and 13), kernel
module, then a real reboot.

testinfra reaches the VMs over SSH (its ansible backend turns molecule's inventory into plain
ssh calls). The mesh checks are the shared ones (molecule/shared/verify_mesh.py); the kernel
specific ones are the link kind and the releases. The reboot test comes last: every VM runs
`systemctl reboot` at once (lab/vm/vmlab.py waits for a new boot_id), and before any playbook
runs again the interface (kernel link, addresses, peers with their allowed IPs, routes to the
other sites' LANs) and the nftables table are back, from wg-quick@wg0 and the firewall's boot
unit; then every peer answers through the tunnel with a handshake newer than the reboot, and
the health playbook reports every link up.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import testinfra
from verify_mesh import (
    assert_handshakes,
    assert_key_files,
    assert_mesh,
    assert_nft_allows_ports,
    assert_pings,
    host_now,
    nodes_from_inventory,
    split,
    with_public_keys,
)

IFNAME = "wg0"
PORT = 51820
INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
NODES = nodes_from_inventory(INVENTORY)
testinfra_hosts = [f"ansible://{n.name}?ansible_inventory={INVENTORY}" for n in NODES]
PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd()))
sys.path.insert(0, str(PROJECT / "lab" / "vm"))

import vmlab  # noqa: E402


def _host(name):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


@pytest.fixture(scope="module")
def nodes():
    return with_public_keys(NODES, _host, IFNAME)


def test_both_debian_releases():
    releases = {n.name: _host(n.name).check_output("cat /etc/debian_version").split(".")[0] for n in NODES}
    assert sorted(set(releases.values())) == ["12", "13"], releases


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


def _state(name):
    """What must survive a reboot, read from the VM: link kind and flags, addresses, peers with
    their allowed IPs, the routes on wg0, whether the firewall table carries our marker."""
    h = _host(name)
    link = json.loads(h.check_output(f"ip -j -d link show {IFNAME}"))[0]
    addrs = sorted(a["local"] + "/" + str(a["prefixlen"])
                   for a in json.loads(h.check_output(f"ip -j addr show dev {IFNAME}"))[0]["addr_info"]
                   if a.get("scope") == "global")
    dump = h.check_output(f"wg show {IFNAME} allowed-ips").splitlines()
    peers = {line.split("\t")[0]: frozenset(line.split("\t")[1].split()) for line in dump}
    routes = sorted(r["dst"] for r in json.loads(h.check_output(f"ip -j route show dev {IFNAME}"))
                    + json.loads(h.check_output(f"ip -j -6 route show dev {IFNAME}"))
                    if r.get("protocol") != "kernel" and not r["dst"].startswith("fe80"))
    table = h.run("nft list table inet meshlab_wireguard")
    firewall = table.rc == 0 and "meshlab.wireguard" in table.stdout
    return {"kind": link["linkinfo"]["info_kind"], "up": "UP" in link["flags"], "addresses": addrs,
            "peers": peers, "routes": routes, "firewall": firewall}


def test_reboot_brings_everything_back_before_any_playbook(nodes):
    names = [n.name for n in nodes]
    before = {n: _state(n) for n in names}
    for n, st in before.items():
        # the state is worth checking: routes to the other two sites' LANs, the table loaded
        assert len(st["routes"]) == 4 and st["firewall"] and st["kind"] == "wireguard", (n, st)
    lab = vmlab.VMLab(os.environ["VMLAB_NAME"])
    since = {n: host_now(_host(n)) for n in names}
    seconds = lab.reboot(names)
    print(f"reboot to SSH: {seconds}")
    after = {n: _state(n) for n in names}
    assert after == before, {n: (before[n], after[n]) for n in names if after[n] != before[n]}
    for n in names:
        h = _host(n)
        assert h.service(f"wg-quick@{IFNAME}").is_running, n
        assert h.service("meshlab-wireguard-firewall.service").is_enabled, n
        assert_nft_allows_ports(h, "meshlab_wireguard", [PORT])
        assert h.sysctl("net.ipv4.ip_forward") == 1, n  # a site gateway forwards, from the role's sysctl file
    for node in nodes:
        h = _host(node.name)
        _me, peers = split(nodes, node.name)
        assert_pings(h, peers)
        assert_handshakes(h, peers, IFNAME, since=since[node.name])
        # a site LAN behind another VM (its lan0 address) across the tunnel
        for p in peers:
            for lan in p.lans:
                lan_gw = ipaddress.ip_network(lan)[1]  # the peer's lan0 address
                assert h.run(f"ping -n -c 2 -W 3 {lan_gw}").rc == 0, (node.name, str(lan_gw))


def test_health_playbook_after_reboot():
    env = dict(os.environ, ANSIBLE_NOCOLOR="1",
               ANSIBLE_CONFIG=os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".build" / "collections"))
    t0 = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", os.path.dirname(INVENTORY), "meshlab.wireguard.health",
                           "-e", '{"health_formats": ["json"]}'], cwd=PROJECT, env=env, capture_output=True,
                          text=True, timeout=900, check=False)
    print(f"health playbook: {time.monotonic() - t0:.0f} s")
    assert proc.returncode == 0, (proc.stdout[-4000:], proc.stderr[-2000:])
    assert "all 3 links up" in proc.stdout, proc.stdout[-3000:]


def test_key_rotation_keeps_every_link(nodes):
    """playbooks/rotate.yml replaces the key of vm1 (Debian 12's kernel; its peers run Debian 12 and
    13) while 10 ms ping streams run both ways across every link: no link stops, and the loss stays
    within what the emulated CPUs explain (ping_streams.MAX_LOST_PER_STREAM_TCG, plus the time a peer
    switched later than planned on a busy machine, as the play measured it). The VMs' clocks are
    set from this machine's first (the lab has no NTP; QEMU's RTC counts whole seconds, and the
    switch needs the clocks within the 0.2 s between the host's switch and its peers')."""
    sys.path.insert(0, str(PROJECT / "tests" / "lab"))
    from ping_streams import max_lost_tcg, parse, summary, switch_lateness, switch_report, within_bound

    lab = vmlab.VMLab(os.environ["VMLAB_NAME"])
    for n in nodes:
        before, _ = lab.clock_offset(n.name)
        offset, rtt = lab.sync_clock(n.name)
        print(f"{n.name}: clock {before * 1000:+.0f} ms off, {offset * 1000:+.0f} ms after setting it "
              f"(round trip {rtt * 1000:.0f} ms)")
        assert abs(offset) < 0.1, (n.name, offset, rtt)
    old = {n.name: n.public_key for n in nodes}
    streams = {}
    for node in nodes:
        _me, peers = split(nodes, node.name)
        for p in peers:
            out = f"/run/meshlab-stream-{p.name}.txt"
            pid = lab.ssh(node.name, f"nohup ping -n -D -i 0.01 -W 2 {p.tunnel_ipv4} >{out} 2>&1 & echo $!")
            streams[f"{node.name}->{p.name}"] = (node.name, pid.stdout.strip(), out)
    time.sleep(2)
    try:
        # the default callback's "msg" lines carry the switch report read below
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default",
                   ANSIBLE_CONFIG=os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "ansible.cfg"),
                   ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".build" / "collections"))
        t0 = time.monotonic()
        cmd = ["ansible-playbook", "-i", os.path.dirname(INVENTORY), "meshlab.wireguard.rotate",
               "-e", '{"wireguard_rotate_hosts": ["vm1"]}']
        proc = subprocess.run(cmd, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=1500,
                              check=False)
        ended = time.time()
        print(f"rotation of vm1: {time.monotonic() - t0:.0f} s")
        switches = switch_report(proc.stdout)
        print("switches:", switches)
        time.sleep(1.5)
    finally:
        results = {}
        for name, (host, pid, out) in streams.items():
            lab.ssh(host, f"kill -INT {pid}; sleep 0.5", check=False)
            results[name] = parse(lab.ssh(host, f"cat {out}; rm -f {out}").stdout)
    print("kernel rotation:", summary(results))
    assert proc.returncode == 0, (proc.stdout[-4000:], proc.stderr[-2000:])
    assert _host("vm1").check_output(f"wg show {IFNAME} public-key") != old["vm1"]
    max_lost = max_lost_tcg(switch_lateness(switches, "vm1", peer_delay=0.2))
    for name, r in results.items():
        assert r["last_reply_at"] and r["last_reply_at"] > ended, (name, r)
        assert within_bound(r, max_lost, isolated=False), (name, len(r["lost"]), max_lost, switches, r)
