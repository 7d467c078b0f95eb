"""Checks of a converged WireGuard mesh, shared by the molecule scenarios' testinfra tests.

Every check takes a testinfra ``Host`` (any backend: ``podman://``, ``ssh://``, ``ansible://``)
and plain data, and fails with an ``AssertionError`` that says what was seen. Nothing here
returns or prints a private key: ``wg show IF dump`` is parsed and its private key dropped.

A scenario's tests describe the mesh as ``Node`` values (one per host) and call, per host::

    me, peers = split(nodes, name_of_this_host)
    assert_mesh(host, me, peers)            # pings over IPv4+IPv6, then handshakes and peers
    assert_key_files(host, ["/etc/wireguard/wg0.key"])
    assert_unit_enabled(host)
    assert_restart_recovers(host, peers)    # systemctl restart wg-quick@wg0, then pings again

``molecule/conftest.py`` puts this directory on ``sys.path``: ``from verify_mesh import ...``.
"""

from __future__ import annotations

import dataclasses
import shlex
import time
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

TUNNEL_IPV4 = "100.64.0.{}"
TUNNEL_IPV6 = "fd3a:6c1e:9b42:100::{}"
FAMILIES = ("ipv4", "ipv6")


@dataclass(frozen=True)
class Node:
    """One mesh member as the tests expect it."""

    name: str  # inventory_hostname
    index: int  # lab_index: tunnel addresses are .../<index>
    tunnel_ipv4: str  # bare address, no prefix
    tunnel_ipv6: str
    public_key: Optional[str] = None  # filled by with_public_keys()

    def address(self, family: str) -> str:
        return self.tunnel_ipv4 if family == "ipv4" else self.tunnel_ipv6

    @property
    def allowed_ips(self) -> frozenset:
        """What every other host should route to this one: its two tunnel addresses."""
        return frozenset({f"{self.tunnel_ipv4}/32", f"{self.tunnel_ipv6}/128"})


@dataclass(frozen=True)
class PeerState:
    public_key: str
    has_preshared_key: bool
    endpoint: Optional[str]
    allowed_ips: frozenset
    latest_handshake: int  # epoch seconds, 0 = never
    rx_bytes: int
    tx_bytes: int
    persistent_keepalive: int  # 0 = off


@dataclass(frozen=True)
class DeviceState:
    public_key: str
    listen_port: int
    fwmark: int
    peers: Dict[str, PeerState]


# ----------------------------------------------------------------------------- describing the mesh


def mesh_nodes(
    host_vars: Mapping[str, Mapping],
    index_var: str = "lab_index",
    ipv4_format: str = TUNNEL_IPV4,
    ipv6_format: str = TUNNEL_IPV6,
) -> List[Node]:
    """Nodes from {inventory_hostname: host variables}; every host needs ``index_var``."""
    nodes = []
    for name, hv in sorted(host_vars.items()):
        index = int(hv[index_var])
        nodes.append(Node(name, index, ipv4_format.format(index), ipv6_format.format(index)))
    return nodes


def nodes_from_inventory(
    inventory_file: str, index_var: str = "lab_index", pattern: str = "all"
) -> List[Node]:
    """Nodes from an Ansible inventory (molecule exports MOLECULE_INVENTORY_FILE)."""
    from testinfra.utils.ansible_runner import AnsibleRunner

    runner = AnsibleRunner(inventory_file)
    return mesh_nodes({name: runner.get_variables(name) for name in runner.get_hosts(pattern)}, index_var)


def with_public_keys(
    nodes: Iterable[Node], get_host: Callable[[str], object], ifname: str = "wg0"
) -> List[Node]:
    """The nodes with ``public_key`` read from each live interface (``wg show IF public-key``)."""
    return [dataclasses.replace(n, public_key=public_key(get_host(n.name), ifname)) for n in nodes]


def split(nodes: Iterable[Node], name: str) -> Tuple[Node, List[Node]]:
    """(this host's node, every other node)."""
    nodes = list(nodes)
    me = [n for n in nodes if n.name == name]
    assert me, f"{name} is not one of the mesh nodes {[n.name for n in nodes]}"
    return me[0], [n for n in nodes if n.name != name]


# ----------------------------------------------------------------------------- reading a host


def public_key(host, ifname: str = "wg0") -> str:
    return host.check_output(f"wg show {shlex.quote(ifname)} public-key").strip()


def wg_dump(host, ifname: str = "wg0") -> DeviceState:
    """Parse ``wg show IF dump`` (the private key is read by wg but dropped here)."""
    out = host.check_output(f"wg show {shlex.quote(ifname)} dump")
    lines = [line.split("\t") for line in out.splitlines() if line.strip()]
    assert lines, f"`wg show {ifname} dump` printed nothing"
    _private, pub, port, fwmark = lines[0][:4]
    peers = {}
    for row in lines[1:]:
        key, psk, endpoint, allowed, handshake, rx, tx, keepalive = row[:8]
        peers[key] = PeerState(
            public_key=key,
            has_preshared_key=psk != "(none)",
            endpoint=None if endpoint == "(none)" else endpoint,
            allowed_ips=frozenset() if allowed == "(none)" else frozenset(allowed.split(",")),
            latest_handshake=int(handshake),
            rx_bytes=int(rx),
            tx_bytes=int(tx),
            persistent_keepalive=0 if keepalive == "off" else int(keepalive),
        )
    return DeviceState(pub, int(port), 0 if fwmark == "off" else int(fwmark, 0), peers)


def host_now(host) -> int:
    """The host's clock (handshake times are the host's, not the controller's)."""
    return int(host.check_output("date +%s"))


def ping(host, address: str, attempts: int = 4, count: int = 2, wait: int = 3) -> bool:
    """True when any echo reply comes back within ``attempts`` rounds.

    Several rounds, because the first packets to a peer wait for a handshake, and a fresh IPv6
    address may still be tentative (DAD) right after the interface came up.
    """
    cmd = f"ping -n -q -c {count} -i 0.3 -W {wait} {shlex.quote(address)}"
    for attempt in range(attempts):
        if host.run(cmd).rc == 0:
            return True
        if attempt + 1 < attempts:
            time.sleep(1)
    return False


def ping_peers(host, peers: Iterable[Node], families: Sequence[str] = FAMILIES) -> Dict[str, bool]:
    """{tunnel address: reachable} for every peer and family."""
    return {p.address(f): ping(host, p.address(f)) for p in peers for f in families}


# ----------------------------------------------------------------------------- checks


def assert_pings(host, peers: Iterable[Node], families: Sequence[str] = FAMILIES) -> None:
    """Every peer answers a ping across the tunnel, in every family."""
    results = ping_peers(host, peers, families)
    failed = sorted(a for a, ok in results.items() if not ok)
    assert not failed, f"no echo reply through the tunnel from {failed}"


def assert_peers(host, peers: Iterable[Node], ifname: str = "wg0") -> DeviceState:
    """The interface has exactly these peers (by public key), each with its tunnel addresses."""
    state = wg_dump(host, ifname)
    want = {p.public_key: p for p in peers}
    assert None not in want, "nodes need public keys: use with_public_keys()"
    missing = sorted(p.name for k, p in want.items() if k not in state.peers)
    extra = sorted(k for k in state.peers if k not in want)
    assert not missing, f"peers missing on {ifname}: {missing}"
    assert not extra, f"unexpected peers on {ifname}: {extra}"
    for key, node in want.items():
        got = state.peers[key].allowed_ips
        want_ips = node.allowed_ips
        assert got == want_ips, f"allowed IPs of {node.name}: {sorted(got)} != {sorted(want_ips)}"
    return state


def assert_handshakes(
    host, peers: Iterable[Node], ifname: str = "wg0", max_age: int = 180, since: Optional[int] = None
) -> None:
    """Every peer shows a handshake no older than ``max_age`` s (and not before ``since``)."""
    peers = list(peers)
    state = assert_peers(host, peers, ifname)
    now = host_now(host)
    problems = []
    for node in peers:
        ts = state.peers[node.public_key].latest_handshake
        if ts == 0:
            problems.append(f"{node.name}: never")
        elif now - ts > max_age:
            problems.append(f"{node.name}: {now - ts} s ago")
        elif since is not None and ts < since:
            problems.append(f"{node.name}: {since - ts} s before the restart")
    assert not problems, f"no recent handshake on {ifname} with " + ", ".join(problems)


def assert_mesh(
    host, me: Node, peers: Sequence[Node], ifname: str = "wg0", families: Sequence[str] = FAMILIES
) -> None:
    """This host carries its own tunnel addresses, reaches every peer, and sees fresh handshakes."""
    addrs = host.check_output(f"ip -o addr show dev {shlex.quote(ifname)}")
    for family in families:
        assert f" {me.address(family)}/" in addrs, f"{ifname} lacks {me.address(family)}: {addrs}"
    assert_pings(host, peers, families)
    assert_handshakes(host, peers, ifname)


def assert_key_files(
    host, paths: Iterable[str], directory: str = "/etc/wireguard", mode: int = 0o600, dir_mode: int = 0o700
) -> None:
    """Key files are root's, ``mode`` (0600), and their directory is ``dir_mode`` (0700)."""
    d = host.file(directory)
    assert d.is_directory, f"{directory} is missing"
    assert d.mode == dir_mode, f"{directory} is {d.mode:04o}, want {dir_mode:04o}"
    for path in paths:
        f = host.file(path)
        assert f.is_file, f"{path} is missing"
        assert f.user == "root", f"{path} belongs to {f.user}"
        assert f.mode == mode, f"{path} is {f.mode:04o}, want {mode:04o}"


def assert_unit_enabled(host, ifname: str = "wg0", active: bool = True) -> None:
    """wg-quick@IF is enabled (comes back after a reboot) and, with ``active``, running."""
    svc = host.service(f"wg-quick@{ifname}")
    assert svc.is_enabled, f"wg-quick@{ifname} is not enabled"
    if active:
        assert svc.is_running, f"wg-quick@{ifname} is not active"


def assert_restart_recovers(
    host, peers: Sequence[Node], ifname: str = "wg0", families: Sequence[str] = FAMILIES
) -> None:
    """``systemctl restart wg-quick@IF``: the unit is active again, every peer answers through
    the tunnel, and every handshake is new (the peers accept the restarted side's handshake)."""
    since = host_now(host)
    unit = shlex.quote(f"wg-quick@{ifname}")
    res = host.run(f"systemctl restart {unit}")
    if res.rc != 0:
        journal = host.run(f"journalctl -u {unit} -n 12 --no-pager -o cat").stdout
        why = (res.stderr or res.stdout).strip()
        raise AssertionError(f"systemctl restart wg-quick@{ifname} failed: {why}\n{journal}")
    assert_unit_enabled(host, ifname, active=True)
    assert_pings(host, peers, families)
    assert_handshakes(host, peers, ifname, since=since)
