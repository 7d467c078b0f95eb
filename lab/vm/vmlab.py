#!/usr/bin/env python3
"""Lab tier 3: QEMU VMs running Debian's kernel WireGuard (the netlink engine, for real).

CLI::

    lab/vm/vmlab.py up N [--name NAME] [--suites bookworm,trixie] [--memory MB] [--timeout S] [--json]
    lab/vm/vmlab.py reboot [--name NAME] HOST...    # systemctl reboot, wait for the new boot
    lab/vm/vmlab.py reset [--name NAME]             # remove every WireGuard trace (shared labs)
    lab/vm/vmlab.py down [--name NAME]
    lab/vm/vmlab.py status [--name NAME] [--json]
    lab/vm/vmlab.py ssh [--name NAME] HOST [CMD...]
    lab/vm/vmlab.py console [--name NAME] HOST      # the VM's serial console log
    lab/vm/vmlab.py inventory [--name NAME]         # path of the Ansible inventory
    lab/vm/vmlab.py image [--suite SUITE]           # build (or reuse) the image, print its directory

Python API (pytest)::

    from vmlab import VMLab
    with VMLab("pytest").up(2) as lab:          # down() on exit, also on error
        lab.ssh("vm1", "ip link add wg0 type wireguard")
        lab.hosts[1].ipv4                         # '198.51.100.22'

Hosts are ``vm1..vmN``; VM i runs Debian ``suites[(i - 1) % len(suites)]`` (default: bookworm and
trixie in turn, so every lab of two or more VMs has both Debian 12 and Debian 13). VM i gets:
- management: QEMU user networking with ``restrict=on`` (no way out of QEMU), guest 10.0.2.15,
  SSH forwarded from a free port on 127.0.0.1 only; NIC MAC 52:54:00:a0:00:II (II = i in hex);
- LAN: a QEMU socket network, multicast group 230.0.0.1 on 127.0.0.1 (one UDP port per lab), NIC
  MAC 52:54:00:b0:00:II; systemd-networkd in the image gives it 198.51.100.(20+i)/24 and
  fd3a:6c1e:9b42:3::(20+i)/64 (the MAC -> address table lives in build-image.sh).

A lab can be shared by several test stages (``make test`` boots one for molecule/kernel and the
kernel suites): ``VMLAB_SHARED=<name>`` makes ``shared_lab()`` return it, and the users call
``reset()`` before they start, instead of booting and tearing down labs of their own.

State lives in ``.lab/vm.d/<name>/`` of the repo: state.json, one qcow2 overlay, pidfile and console
log per VM, ``inventory.yml`` and ``ansible.cfg`` (SSH multiplexing and pipelining: Ansible into a
software-emulated VM pays seconds per new SSH connection). ``down`` ends only the QEMU processes
whose pids this lab recorded (and checks they are still ours), then removes the state.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
# Not .lab/<name>: lab/nslab.py treats every .lab/<name> matching its name pattern as a tier-1 lab
# (status, `down --all`); "vm.d" never matches it.
STATE_ROOT = REPO / ".lab" / "vm.d"
BUILD_SCRIPT = HERE / "build-image.sh"

QEMU = "qemu-system-x86_64"
MAX_VMS = 16  # build-image.sh writes networkd configs for this many MACs
MCAST_GROUP = "230.0.0.1"
LAN4 = "198.51.100.{}"
LAN6 = "fd3a:6c1e:9b42:3::{}"
DEFAULT_MEMORY = 320
DEFAULT_TIMEOUT = 420.0
SUITES = ("bookworm", "trixie")  # build-image.sh builds these; Debian 12 and 13
DEFAULT_SUITES = SUITES
SHARED_ENV = "VMLAB_SHARED"


class LabError(RuntimeError):
    pass


def missing_tools() -> List[str]:
    """Host tools tier 3 needs; empty when the machine can run it (pytest skips otherwise)."""
    tools = [QEMU, "qemu-img", "ssh", "ssh-keygen", "debootstrap", "mkfs.ext4"]
    return [t for t in tools if shutil.which(t) is None]


def image_dir(build: bool = True, suite: str = "bookworm") -> Path:
    """The cached image directory of `suite`; builds it first when `build` and it is not cached."""
    if suite not in SUITES:
        raise LabError(f"suite {suite!r}: one of {', '.join(SUITES)}")
    env = {**os.environ, "SUITE": suite}
    if not build:
        out = subprocess.run(["bash", str(BUILD_SCRIPT), "--path"], capture_output=True, text=True, env=env)
        return Path(out.stdout.strip())
    proc = subprocess.run(["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, env=env)
    if proc.returncode != 0:
        raise LabError(f"{suite} image build failed (rc={proc.returncode}); see the build log named above")
    return Path(proc.stdout.strip().splitlines()[-1])


def shared_lab() -> Optional[VMLab]:
    """The lab named by $VMLAB_SHARED (booted by the caller, e.g. scripts/test.sh), or None.

    A shared lab that is not up is an error: the stage that booted it failed, and a test must not
    quietly boot a lab of its own instead.
    """
    name = os.environ.get(SHARED_ENV)
    if not name:
        return None
    lab = VMLab(name)
    if not lab.hosts or len(lab.running()) != len(lab.hosts):
        raise LabError(f"{SHARED_ENV}={name}: that lab is not up (lab/vm/vmlab.py up N --name {name})")
    return lab


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Host:
    name: str
    index: int
    ssh_port: int
    ipv4: str
    ipv6: str
    mac_mgmt: str
    mac_lan: str
    suite: str = "bookworm"
    image: str = ""
    pid: int = 0
    boot_seconds: Optional[float] = None
    reboot_seconds: Optional[float] = None


@dataclass
class State:
    name: str
    image: str
    key: str
    mcast_port: int
    memory: int
    hosts: List[Host] = field(default_factory=list)
    started: float = 0.0
    ready_seconds: Optional[float] = None

    @classmethod
    def load(cls, path: Path) -> State:
        data = json.loads(path.read_text())
        data["hosts"] = [Host(**h) for h in data["hosts"]]
        return cls(**data)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is dead for our purposes
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _pid_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _runtime_dir() -> Path:
    """/run/vmlab for root, else $XDG_RUNTIME_DIR/vmlab: private, short paths."""
    if os.geteuid() == 0:
        return Path("/run/vmlab")
    base = os.environ.get("XDG_RUNTIME_DIR")
    if not base:
        raise LabError("set XDG_RUNTIME_DIR (a private directory for ssh control sockets) or run as root")
    return Path(base) / "vmlab"


class VMLab:
    def __init__(self, name: str = "default", state_root: Path = STATE_ROOT) -> None:
        if not name.replace("-", "").replace("_", "").isalnum():
            raise LabError(f"lab name {name!r}: use letters, digits, '-' and '_'")
        self.name = name
        self.dir = state_root / name
        self.state_file = self.dir / "state.json"
        # ssh ControlPath sockets: a short path (a unix socket path has ~107 bytes at most and the
        # repo may sit deep in a CI checkout)
        self.cp_dir = _runtime_dir() / hashlib.sha256(str(self.dir).encode()).hexdigest()[:12]
        self.state: Optional[State] = State.load(self.state_file) if self.state_file.exists() else None

    # ------------------------------------------------------------------ paths and facts
    @property
    def hosts(self) -> List[Host]:
        return list(self.state.hosts) if self.state else []

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise LabError(f"lab {self.name}: no host {name!r} (hosts: {', '.join(h.name for h in self.hosts)})")

    @property
    def inventory(self) -> Path:
        return self.dir / "inventory.yml"

    @property
    def ansible_cfg(self) -> Path:
        return self.dir / "ansible.cfg"

    @property
    def key(self) -> str:
        if not self.state:
            raise LabError(f"lab {self.name} is not up")
        return self.state.key

    def overlay(self, h: Host) -> Path:
        return self.dir / f"{h.name}.qcow2"

    def pidfile(self, h: Host) -> Path:
        return self.dir / f"{h.name}.pid"

    def console_log(self, h: Host) -> Path:
        return self.dir / f"{h.name}.console.log"

    def console_tail(self, host: str, lines: int = 40) -> str:
        path = self.console_log(self.host(host))
        try:
            text = path.read_text(errors="replace")
        except OSError:
            return f"(no console log at {path})"
        return "\n".join(text.splitlines()[-lines:])

    def ssh_options(self) -> List[str]:
        return [
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR",
            "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=20",
            "-o", "ControlMaster=auto",
            "-o", f"ControlPath={self.cp_dir}/%C",
        ]  # fmt: skip

    def ssh_argv(self, host: str, command: Optional[str] = None) -> List[str]:
        h = self.host(host)
        argv = ["ssh", "-i", self.key, "-p", str(h.ssh_port), *self.ssh_options(), "root@127.0.0.1"]
        if command is not None:
            argv.append(command)
        return argv

    def ssh(
        self, host: str, command: str, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess:
        """Run a shell command line on a VM as root; stdout/stderr captured as text."""
        proc = subprocess.run(
            self.ssh_argv(host, command), stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise LabError(
                f"{host}: `{command}` failed rc={proc.returncode}\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc

    # ------------------------------------------------------------------ lifecycle
    def running(self) -> List[Host]:
        return [h for h in self.hosts if self._ours(h)]

    def _ours(self, h: Host) -> bool:
        """The recorded pid is alive and is the QEMU that runs this host's overlay."""
        return _pid_alive(h.pid) and str(self.overlay(h)) in _pid_cmdline(h.pid)

    def up(
        self,
        n: int,
        memory: int = DEFAULT_MEMORY,
        timeout: float = DEFAULT_TIMEOUT,
        replace: bool = False,
        log=None,
        suites=DEFAULT_SUITES,
    ) -> VMLab:
        log = log or (lambda msg: print(f"vmlab: {msg}", file=sys.stderr, flush=True))
        if not 1 <= n <= MAX_VMS:
            raise LabError(f"N must be 1..{MAX_VMS}")
        if missing_tools():
            raise LabError(f"missing tools: {', '.join(missing_tools())} (scripts/setup.sh installs them)")
        if self.state is not None:
            if self.running() and not replace:
                raise LabError(f"lab {self.name} is up ({self.dir}); run `down --name {self.name}` first")
            self.down(log=log)
        suites = list(suites) or list(DEFAULT_SUITES)
        images = {s: image_dir(build=True, suite=s) for s in dict.fromkeys(suites[:n])}
        try:
            self._start(n, images, suites, memory, log)
            self._wait_ready(timeout, log)
        except BaseException:
            log("start failed: tearing down")
            self.down(log=log)
            raise
        return self

    def _start(self, n: int, images: Dict[str, Path], suites: List[str], memory: int, log) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cp_dir.parent.mkdir(mode=0o700, exist_ok=True)
        self.cp_dir.mkdir(mode=0o700, exist_ok=True)
        first = images[suites[0]]
        # every image carries the same lab key (build-image.sh), so one key logs in everywhere
        key = first / "id_ed25519"
        for img in images.values():
            os.chmod(img / "id_ed25519", 0o600)
        st = State(
            name=self.name, image=str(first), key=str(key), mcast_port=free_port(socket.SOCK_DGRAM),
            memory=memory, started=time.time(),
        )  # fmt: skip
        for i in range(1, n + 1):
            suite = suites[(i - 1) % len(suites)]
            st.hosts.append(
                Host(
                    name=f"vm{i}", index=i, ssh_port=0, ipv4=LAN4.format(20 + i), ipv6=LAN6.format(20 + i),
                    mac_mgmt=f"52:54:00:a0:00:{i:02x}", mac_lan=f"52:54:00:b0:00:{i:02x}",
                    suite=suite, image=str(images[suite]),
                )
            )
        self.state = st
        st.save(self.state_file)  # saved before any process starts: down() always finds what ran
        for h in st.hosts:
            img = Path(h.image)
            subprocess.run(
                ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(img / "disk.qcow2"),
                 str(self.overlay(h))],
                check=True,
            )  # fmt: skip
            for attempt in range(5):
                h.ssh_port = free_port()
                err = self._launch(h, img, memory)
                if err is None:
                    break
                if "hostfwd" not in err and "forward" not in err:
                    raise LabError(f"{h.name}: qemu failed to start: {err}")
                log(f"{h.name}: port {h.ssh_port} taken, retrying ({attempt + 1})")
            else:
                raise LabError(f"{h.name}: no free SSH port after 5 tries")
            st.save(self.state_file)
            log(f"{h.name} ({h.suite}): pid {h.pid}, ssh 127.0.0.1:{h.ssh_port}, lan {h.ipv4} {h.ipv6}")
        self._write_ansible_files()

    def _launch(self, h: Host, img: Path, memory: int) -> Optional[str]:
        machine_id = hashlib.md5(f"meshlab-vmlab/{self.name}/{h.name}".encode()).hexdigest()  # noqa: S324
        append = " ".join([
            "root=/dev/vda", "rw", "console=ttyS0", "net.ifnames=0", "panic=1", "mitigations=off",
            "random.trust_cpu=on", f"systemd.hostname={h.name}", f"systemd.machine_id={machine_id}",
        ])  # fmt: skip
        pidfile = self.pidfile(h)
        pidfile.unlink(missing_ok=True)
        argv = [
            QEMU, "-name", f"vmlab-{self.name}-{h.name}",
            "-accel", "tcg,thread=multi,tb-size=256", "-machine", "q35", "-cpu", "max",
            "-smp", "1", "-m", str(memory),
            # no -no-reboot: `systemctl reboot` in the guest restarts it in the same QEMU process
            "-nodefaults", "-no-user-config", "-display", "none",
            "-kernel", str(img / "vmlinuz"), "-initrd", str(img / "initrd.img"), "-append", append,
            "-drive", f"file={self.overlay(h)},if=virtio,format=qcow2,cache=unsafe,discard=unmap",
            "-netdev", f"user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:{h.ssh_port}-:22",
            "-device", f"virtio-net-pci,netdev=mgmt,mac={h.mac_mgmt}",
            "-netdev", f"socket,id=lan,mcast={MCAST_GROUP}:{self.state.mcast_port},localaddr=127.0.0.1",
            "-device", f"virtio-net-pci,netdev=lan,mac={h.mac_lan}",
            "-device", "virtio-rng-pci",
            "-serial", f"file:{self.console_log(h)}", "-monitor", "none",
            "-pidfile", str(pidfile), "-daemonize",
        ]  # fmt: skip
        (self.dir / f"{h.name}.cmdline").write_text(shlex.join(argv) + "\n")
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            return (proc.stderr or proc.stdout).strip() or f"rc={proc.returncode}"
        h.pid = int(pidfile.read_text().strip())
        return None

    def _ssh_banner(self, h: Host) -> bool:
        """sshd answers: QEMU's forwarder accepts at once, so a bare connect proves nothing."""
        try:
            with socket.create_connection(("127.0.0.1", h.ssh_port), timeout=3) as s:
                s.settimeout(5)
                return s.recv(8).startswith(b"SSH-")
        except OSError:
            return False

    def _boot_id(self, host: str) -> str:
        return self.ssh(host, "cat /proc/sys/kernel/random/boot_id", timeout=60).stdout.strip()

    def _wait_ready(self, timeout: float, log, hosts: Optional[List[Host]] = None,
                    old_boot: Optional[Dict[str, str]] = None) -> None:
        """Wait until every host (default: all) answers SSH; with `old_boot`, only a boot whose
        boot_id differs from the recorded one counts (a reboot really happened)."""
        st = self.state
        deadline = time.monotonic() + timeout
        t0 = time.monotonic()
        pending = list(hosts if hosts is not None else st.hosts)
        while pending:
            for h in list(pending):
                if not self._ours(h):
                    raise LabError(f"{h.name}: QEMU (pid {h.pid}) exited during boot; console:\n"
                                   + self.console_tail(h.name))  # fmt: skip
                if not self._ssh_banner(h):
                    continue
                # first login also leaves a persistent master for later commands (stdio detached,
                # or a captured run would wait for the master to exit)
                rc = subprocess.run(
                    ["ssh", "-i", st.key, "-p", str(h.ssh_port), *self.ssh_options(),
                     "-o", "ControlPersist=600", "root@127.0.0.1", "true"],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    timeout=120,
                ).returncode  # fmt: skip
                if rc == 0 and old_boot is not None:
                    probe = self.ssh(h.name, "cat /proc/sys/kernel/random/boot_id", check=False, timeout=60)
                    if probe.returncode != 0 or probe.stdout.strip() == old_boot[h.name]:
                        self._drop_master(h)  # still the old boot, or sshd going down: again
                        continue
                if rc == 0:
                    seconds = round(time.monotonic() - t0, 1)
                    if old_boot is None:
                        h.boot_seconds = seconds
                    else:
                        h.reboot_seconds = seconds
                    pending.remove(h)
                    log(f"{h.name}: SSH ready after {seconds} s" + (" (rebooted)" if old_boot else ""))
            if pending:
                if time.monotonic() > deadline:
                    tails = "\n".join(f"--- {h.name} console (last lines) ---\n{self.console_tail(h.name)}"
                                      for h in pending)  # fmt: skip
                    names = ", ".join(h.name for h in pending)
                    raise LabError(f"SSH not ready after {timeout:.0f} s on {names}\n{tails}")
                time.sleep(2)
        if old_boot is None:
            st.ready_seconds = round(time.monotonic() - t0, 1)
            log(f"all {len(st.hosts)} VMs answer SSH after {st.ready_seconds} s")
        st.save(self.state_file)

    def _drop_master(self, h: Host) -> None:
        """End this lab's ssh master for a host (its connection died with the guest's sshd)."""
        if self.cp_dir.exists() and h.ssh_port:
            subprocess.run(
                ["ssh", "-p", str(h.ssh_port), "-o", f"ControlPath={self.cp_dir}/%C", "-O", "exit",
                 "root@127.0.0.1"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                timeout=10,
            )  # fmt: skip

    def clock_offset(self, host: str, samples: int = 5) -> Tuple[float, float]:
        """(the VM's wall clock minus this machine's, the round trip of the best sample) in seconds:
        of SAMPLES `date` calls over SSH, the one with the shortest round trip, read at its middle."""
        best = None
        for _ in range(samples):
            t0 = time.time()
            remote = float(self.ssh(host, "date +%s.%N").stdout)
            t1 = time.time()
            if best is None or t1 - t0 < best[1]:
                best = (remote - (t0 + t1) / 2, t1 - t0)
        return best

    def sync_clock(self, host: str, within: float = 0.05, rounds: int = 3) -> Tuple[float, float]:
        """Set the VM's wall clock to this machine's (no NTP in the lab, and QEMU starts the guest
        clock from an RTC that counts whole seconds). One setting is as good as half the round
        trip it was measured with, and a busy machine's round trips are long and uneven: up to
        ROUNDS settings until the offset left is WITHIN. Returns the offset left and its round
        trip, as clock_offset() measures them."""
        offset, rtt = self.clock_offset(host)
        for _ in range(rounds):
            if abs(offset) < within:
                break
            self.ssh(host, "python3 -c 'import time; time.clock_settime(time.CLOCK_REALTIME, "
                           f"time.clock_gettime(time.CLOCK_REALTIME) - {offset!r})'")
            offset, rtt = self.clock_offset(host)
        return offset, rtt

    def reboot(self, names: List[str], timeout: float = DEFAULT_TIMEOUT, log=None) -> Dict[str, float]:
        """`systemctl reboot` on each host (all at once), then wait until each is back on a new
        boot (boot_id changed) and answers SSH. Returns {host: seconds from reboot to SSH}."""
        log = log or (lambda msg: print(f"vmlab: {msg}", file=sys.stderr, flush=True))
        hosts = [self.host(n) for n in names]
        old_boot = {h.name: self._boot_id(h.name) for h in hosts}
        for h in hosts:
            # the session ends with the guest's sshd: its exit status means nothing
            self.ssh(h.name, "systemctl reboot", check=False, timeout=60)
            log(f"{h.name}: systemctl reboot")
        for h in hosts:
            self._drop_master(h)
        self._wait_ready(timeout, log, hosts=hosts, old_boot=old_boot)
        return {h.name: h.reboot_seconds for h in hosts}

    # What reset() removes: anything a test or the role leaves of WireGuard, so the next user of a
    # shared lab starts from a freshly booted image's state (one ssh round trip per host).
    RESET_SCRIPT = (
        "for u in $(systemctl list-units --all --plain --no-legend 'wg-quick@*' | awk '{print $1}'); do "
        "systemctl disable --now \"$u\" >/dev/null 2>&1; done; "
        "for l in $(ip -o link show type wireguard | awk -F': ' '{print $2}' | cut -d@ -f1); do "
        "ip link del \"$l\"; done; "
        "nft delete table inet meshlab_wireguard 2>/dev/null; "
        "systemctl disable meshlab-wireguard-firewall.service >/dev/null 2>&1; "
        "rm -rf /etc/systemd/system/meshlab-wireguard-firewall.service "
        "/etc/systemd/system/wg-quick@*.service.d "
        "/etc/wireguard /etc/nftables.d/meshlab-wireguard.nft /etc/sysctl.d/90-meshlab-wireguard.conf "
        "/root/meshlab-collections /root/wg0.key; "
        "systemctl daemon-reload; sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0; true"
    )

    def reset(self, names: Optional[List[str]] = None) -> None:
        """Remove every trace of WireGuard from the hosts (all by default), in parallel."""
        hosts = [self.host(n) for n in names] if names else self.hosts
        procs = [
            (h.name, subprocess.Popen(self.ssh_argv(h.name, self.RESET_SCRIPT), stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            for h in hosts
        ]  # fmt: skip
        for name, proc in procs:
            out, err = proc.communicate(timeout=180)
            if proc.returncode != 0:
                raise LabError(f"{name}: reset failed rc={proc.returncode}: {out} {err}")

    def down(self, log=None) -> None:
        log = log or (lambda msg: print(f"vmlab: {msg}", file=sys.stderr, flush=True))
        if self.state is None and not self.dir.exists():
            return
        for h in self.hosts:
            # the pidfile QEMU wrote is the authority when our state lost the pid (interrupted start)
            if not h.pid and self.pidfile(h).exists():
                with contextlib.suppress(ValueError, OSError):
                    h.pid = int(self.pidfile(h).read_text().strip())
            self._drop_master(h)
            if self._ours(h):
                os.kill(h.pid, signal.SIGTERM)
        for h in self.hosts:
            end = time.monotonic() + 10
            while self._ours(h) and time.monotonic() < end:
                time.sleep(0.2)
            if self._ours(h):
                log(f"{h.name}: pid {h.pid} ignored SIGTERM, sending SIGKILL")
                os.kill(h.pid, signal.SIGKILL)
                end = time.monotonic() + 5
                while self._ours(h) and time.monotonic() < end:
                    time.sleep(0.1)
            if self._ours(h):
                raise LabError(f"{h.name}: pid {h.pid} survived SIGKILL; state kept in {self.dir}")
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.cp_dir, ignore_errors=True)
        if self.state:
            log(f"lab {self.name} down")
        self.state = None

    def __enter__(self) -> VMLab:
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    # ------------------------------------------------------------------ Ansible
    def _write_ansible_files(self) -> None:
        st = self.state
        common = (
            "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
            " -o IdentitiesOnly=yes -o LogLevel=ERROR"
        )
        # A ControlPath of our own: ssh masters live in the lab dir and down() ends them.
        mux = f"-o ControlMaster=auto -o ControlPersist=300s -o ControlPath={self.cp_dir}/%C"
        lines = [
            "# Written by lab/vm/vmlab.py: lab tier 3 (QEMU VMs, kernel WireGuard). Do not edit.",
            "all:",
            "  vars:",
            f"    lab_name: {json.dumps(self.name)}",
            "    lab_tier: 3",
            "    ansible_user: root",
            f"    ansible_ssh_private_key_file: {json.dumps(st.key)}",
            "    ansible_python_interpreter: /usr/bin/python3",
            f"    ansible_ssh_common_args: {json.dumps(common)}",
            f"    ansible_ssh_args: {json.dumps(mux)}",
            "    ansible_ssh_pipelining: true",
            "  children:",
            "    vmlab:",
            "      hosts:",
        ]
        for h in st.hosts:
            lines += [
                f"        {h.name}:",
                "          ansible_host: 127.0.0.1",
                f"          ansible_port: {h.ssh_port}",
                f"          lab_underlay_ipv4: {json.dumps(h.ipv4)}",
                f"          lab_underlay_ipv6: {json.dumps(h.ipv6)}",
                f"          lab_index: {h.index}",
                f"          lab_debian_suite: {h.suite}",
            ]
        self.inventory.write_text("\n".join(lines) + "\n")
        self.ansible_cfg.write_text(
            "# Written by lab/vm/vmlab.py. ANSIBLE_CONFIG=<this file> ansible-playbook ...\n"
            "[defaults]\n"
            f"inventory = {self.inventory}\n"
            "host_key_checking = False\n"
            "interpreter_python = /usr/bin/python3\n"
            "forks = 16\n"
            "[ssh_connection]\n"
            "pipelining = True\n"
            f"ssh_args = {mux}\n"
        )

    def summary(self) -> Dict:
        st = self.state
        if st is None:
            return {"name": self.name, "up": False}
        return {
            "name": self.name,
            "up": bool(self.running()),
            "dir": str(self.dir),
            "inventory": str(self.inventory),
            "ansible_cfg": str(self.ansible_cfg),
            "key": st.key,
            "image": st.image,
            "ready_seconds": st.ready_seconds,
            "control_dir": str(self.cp_dir),
            "hosts": [
                {**asdict(h), "running": self._ours(h), "console": str(self.console_log(h))} for h in st.hosts
            ],
        }


def _sigterm_to_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="vmlab.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    def named(p):
        p.add_argument("--name", default="default", help="lab name (state in .lab/vm.d/NAME)")
        return p

    p_up = named(sub.add_parser("up", help="boot N VMs and wait for SSH"))
    p_up.add_argument("n", type=int)
    p_up.add_argument("--memory", type=int, default=DEFAULT_MEMORY, help="MiB per VM (default %(default)s)")
    p_up.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait for SSH")
    p_up.add_argument("--replace", action="store_true", help="tear down a running lab of this name first")
    p_up.add_argument("--suites", default=",".join(DEFAULT_SUITES),
                      help="Debian suites the VMs take in turn (default %(default)s)")
    p_up.add_argument("--json", action="store_true", help="print the lab summary as JSON on stdout")
    named(sub.add_parser("down", help="stop the lab's VMs (by recorded pid) and remove its state"))
    p_rb = named(sub.add_parser("reboot", help="systemctl reboot in VMs, wait until they are back"))
    p_rb.add_argument("hosts", nargs="+")
    named(sub.add_parser("reset", help="remove every WireGuard interface, unit and file from the VMs"))
    p_st = named(sub.add_parser("status"))
    p_st.add_argument("--json", action="store_true")
    p_ssh = named(sub.add_parser("ssh", help="ssh into a VM (a command, or an interactive shell)"))
    p_ssh.add_argument("host")
    p_ssh.add_argument("command", nargs=argparse.REMAINDER)
    p_con = named(sub.add_parser("console", help="print a VM's serial console log"))
    p_con.add_argument("host")
    named(sub.add_parser("inventory", help="print the inventory path"))
    p_img = sub.add_parser("image", help="build or reuse the cached image; print its directory")
    p_img.add_argument("--suite", default="bookworm", choices=SUITES)
    args = ap.parse_args(argv)

    signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    try:
        if args.cmd == "image":
            print(image_dir(build=True, suite=args.suite))
            return 0
        lab = VMLab(args.name)
        if args.cmd == "up":
            suites = [s for s in args.suites.split(",") if s]
            lab.up(args.n, memory=args.memory, timeout=args.timeout, replace=args.replace, suites=suites)
            if args.json:
                print(json.dumps(lab.summary(), indent=2))
            else:
                print(f"inventory: {lab.inventory}\nansible.cfg: {lab.ansible_cfg}")
        elif args.cmd == "down":
            lab.down()
        elif args.cmd == "reboot":
            for host, seconds in lab.reboot(args.hosts).items():
                print(f"{host}: back after {seconds} s")
        elif args.cmd == "reset":
            lab.reset()
        elif args.cmd == "status":
            s = lab.summary()
            if args.json:
                print(json.dumps(s, indent=2))
            elif not s.get("hosts"):
                print(f"lab {lab.name}: not up")
            else:
                print(f"lab {lab.name}: {s['dir']} (SSH ready after {s['ready_seconds']} s)")
                for h in s["hosts"]:
                    state = f"pid {h['pid']}" if h["running"] else "NOT RUNNING"
                    where = f"ssh 127.0.0.1:{h['ssh_port']}, lan {h['ipv4']} {h['ipv6']}"
                    print(f"  {h['name']} ({h['suite']}): {state}, {where}")
        elif args.cmd == "ssh":
            command = " ".join(args.command) if args.command else None  # as ssh joins them
            os.execvp("ssh", lab.ssh_argv(args.host, command))  # noqa: S606 (fixed argv, no shell)
        elif args.cmd == "console":
            print(lab.console_log(lab.host(args.host)).read_text(errors="replace"), end="")
        elif args.cmd == "inventory":
            if lab.state is None:
                raise LabError(f"lab {lab.name} is not up")
            print(lab.inventory)
    except LabError as e:
        print(f"vmlab: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vmlab: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
