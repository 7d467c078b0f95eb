#!/usr/bin/env python3
"""Lab tier 3: QEMU VMs running Debian 12's kernel WireGuard (the netlink engine, for real).

CLI::

    lab/vm/vmlab.py up N [--name NAME] [--memory MB] [--timeout S] [--json]
    lab/vm/vmlab.py down [--name NAME]
    lab/vm/vmlab.py status [--name NAME] [--json]
    lab/vm/vmlab.py ssh [--name NAME] HOST [CMD...]
    lab/vm/vmlab.py console [--name NAME] HOST      # the VM's serial console log
    lab/vm/vmlab.py inventory [--name NAME]         # path of the Ansible inventory
    lab/vm/vmlab.py image                           # build (or reuse) the image, print its directory

Python API (pytest)::

    from vmlab import VMLab
    with VMLab("pytest").up(2) as lab:          # down() on exit, also on error
        lab.ssh("vm1", "ip link add wg0 type wireguard")
        lab.hosts[1].ipv4                         # '198.51.100.22'

Hosts are ``vm1..vmN``. VM i gets:
- management: QEMU user networking with ``restrict=on`` (no way out of QEMU), guest 10.0.2.15,
  SSH forwarded from a free port on 127.0.0.1 only; NIC MAC 52:54:00:a0:00:II (II = i in hex);
- LAN: a QEMU socket network, multicast group 230.0.0.1 on 127.0.0.1 (one UDP port per lab), NIC
  MAC 52:54:00:b0:00:II; systemd-networkd in the image gives it 198.51.100.(20+i)/24 and
  fd3a:6c1e:9b42:3::(20+i)/64 (the MAC -> address table lives in build-image.sh).

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
from typing import Dict, List, Optional

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


class LabError(RuntimeError):
    pass


def missing_tools() -> List[str]:
    """Host tools tier 3 needs; empty when the machine can run it (pytest skips otherwise)."""
    tools = [QEMU, "qemu-img", "ssh", "ssh-keygen", "debootstrap", "mkfs.ext4"]
    return [t for t in tools if shutil.which(t) is None]


def image_dir(build: bool = True) -> Path:
    """The cached image directory; builds it first when `build` and it is not cached."""
    if not build:
        out = subprocess.run(["bash", str(BUILD_SCRIPT), "--path"], capture_output=True, text=True)
        return Path(out.stdout.strip())
    proc = subprocess.run(["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise LabError(f"image build failed (rc={proc.returncode}); see the build log named above")
    return Path(proc.stdout.strip().splitlines()[-1])


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
    pid: int = 0
    boot_seconds: Optional[float] = None


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
        img = image_dir(build=True)
        try:
            self._start(n, img, memory, log)
            self._wait_ready(timeout, log)
        except BaseException:
            log("start failed: tearing down")
            self.down(log=log)
            raise
        return self

    def _start(self, n: int, img: Path, memory: int, log) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cp_dir.parent.mkdir(mode=0o700, exist_ok=True)
        self.cp_dir.mkdir(mode=0o700, exist_ok=True)
        key = img / "id_ed25519"
        os.chmod(key, 0o600)
        st = State(
            name=self.name, image=str(img), key=str(key), mcast_port=free_port(socket.SOCK_DGRAM),
            memory=memory, started=time.time(),
        )  # fmt: skip
        for i in range(1, n + 1):
            st.hosts.append(
                Host(
                    name=f"vm{i}", index=i, ssh_port=0, ipv4=LAN4.format(20 + i), ipv6=LAN6.format(20 + i),
                    mac_mgmt=f"52:54:00:a0:00:{i:02x}", mac_lan=f"52:54:00:b0:00:{i:02x}",
                )
            )
        self.state = st
        st.save(self.state_file)  # saved before any process starts: down() always finds what ran
        for h in st.hosts:
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
            log(f"{h.name}: pid {h.pid}, ssh 127.0.0.1:{h.ssh_port}, lan {h.ipv4} {h.ipv6}")
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
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
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

    def _wait_ready(self, timeout: float, log) -> None:
        st = self.state
        deadline = time.monotonic() + timeout
        t0 = time.monotonic()
        pending = list(st.hosts)
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
                if rc == 0:
                    h.boot_seconds = round(time.monotonic() - t0, 1)
                    pending.remove(h)
                    log(f"{h.name}: SSH ready after {h.boot_seconds} s")
            if pending:
                if time.monotonic() > deadline:
                    tails = "\n".join(f"--- {h.name} console (last lines) ---\n{self.console_tail(h.name)}"
                                      for h in pending)  # fmt: skip
                    names = ", ".join(h.name for h in pending)
                    raise LabError(f"SSH not ready after {timeout:.0f} s on {names}\n{tails}")
                time.sleep(2)
        st.ready_seconds = round(time.monotonic() - t0, 1)
        st.save(self.state_file)
        log(f"all {len(st.hosts)} VMs answer SSH after {st.ready_seconds} s")

    def down(self, log=None) -> None:
        log = log or (lambda msg: print(f"vmlab: {msg}", file=sys.stderr, flush=True))
        if self.state is None and not self.dir.exists():
            return
        for h in self.hosts:
            # the pidfile QEMU wrote is the authority when our state lost the pid (interrupted start)
            if not h.pid and self.pidfile(h).exists():
                with contextlib.suppress(ValueError, OSError):
                    h.pid = int(self.pidfile(h).read_text().strip())
            if self.cp_dir.exists() and h.ssh_port:
                subprocess.run(
                    ["ssh", "-p", str(h.ssh_port), "-o", f"ControlPath={self.cp_dir}/%C", "-O", "exit",
                     "root@127.0.0.1"],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    timeout=10,
                )  # fmt: skip
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
    p_up.add_argument("--json", action="store_true", help="print the lab summary as JSON on stdout")
    named(sub.add_parser("down", help="stop the lab's VMs (by recorded pid) and remove its state"))
    p_st = named(sub.add_parser("status"))
    p_st.add_argument("--json", action="store_true")
    p_ssh = named(sub.add_parser("ssh", help="ssh into a VM (a command, or an interactive shell)"))
    p_ssh.add_argument("host")
    p_ssh.add_argument("command", nargs=argparse.REMAINDER)
    p_con = named(sub.add_parser("console", help="print a VM's serial console log"))
    p_con.add_argument("host")
    named(sub.add_parser("inventory", help="print the inventory path"))
    sub.add_parser("image", help="build or reuse the cached image; print its directory")
    args = ap.parse_args(argv)

    signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    try:
        if args.cmd == "image":
            print(image_dir(build=True))
            return 0
        lab = VMLab(args.name)
        if args.cmd == "up":
            lab.up(args.n, memory=args.memory, timeout=args.timeout, replace=args.replace)
            if args.json:
                print(json.dumps(lab.summary(), indent=2))
            else:
                print(f"inventory: {lab.inventory}\nansible.cfg: {lab.ansible_cfg}")
        elif args.cmd == "down":
            lab.down()
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
                    print(f"  {h['name']}: {state}, {where}")
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
