#!/usr/bin/env python3
"""Lab tier 1: hosts made of Linux namespaces, joined by a bridge in a switch namespace.

Every host has its own network, mount and UTS namespace (hostname = inventory name), kept alive
by bind mounts (``ip netns`` for the network, files under the lab state dir for mount and UTS);
a forked child sets each one up with plain syscalls (ctypes), no shell. Inside each host:
``/sys`` is remounted (``ip link`` and Ansible facts see only the host's interfaces),
``/run/wireguard`` is a private tmpfs (``/var/run`` is a symlink to ``/run`` on Debian; checked)
so each host can run ``wireguard-go wg0``, ``/etc`` is an overlay over the machine's (changes land
in ``.lab/<name>/hosts/<host>/etc``; /etc/hostname and /etc/hosts naming every lab host are
there), and ``/etc/wireguard`` is the per-host directory ``.lab/<name>/hosts/<host>/wireguard``.
Everything else (/usr, /var, /tmp, /root, the rest of /run) is the machine's own, shared.

Addresses (host ``hI``, I = 1..N)::

    underlay  eth0  198.51.100.(10+I)/24   fd3a:6c1e:9b42:1::(10+I)/64   (bridge in the switch ns)
    --sites   lan0  203.0.113.(32*(I-1)+1)/27   fd3a:6c1e:9b42:aI::1/64  (gateway, forwarding on)
              host ``hI-lan`` (eth0) .(32*(I-1)+10) and ::10, default routes via the gateway

Nothing is ever configured in the machine's own network namespace: veth pairs are created inside
a lab namespace with their peer placed directly in another lab namespace. Namespace names are
``nslab-<name>-{sw,hI,hI-lan}``; interface names (eth0, lan0, hI, br0) exist only inside them.

CLI::

    lab/nslab.py up N [--name NAME] [--sites] [--interpreter PATH]
    lab/nslab.py down [--name NAME | --all | --stale]       (--stale: API labs whose process died)
    lab/nslab.py exec [--name NAME] HOST [-- CMD...]      (no CMD: interactive shell)
    lab/nslab.py inventory [--name NAME]                   (prints the inventory path)
    lab/nslab.py status

Python API (stdlib only; runs under /usr/bin/python3 or the repo venv)::

    from nslab import Lab
    with Lab('t1', 3, sites=False) as lab:          # up() on enter, down() on exit
        lab.hosts                                   # [{'name': 'h1', 'underlay_ipv4': ...}, ...]
        lab.exec('h1', ['ip', '-br', 'a']).stdout   # CompletedProcess (text), check=True
        lab.exec('h1', 'ping -c1 198.51.100.12')    # a string runs through /bin/sh -c
        proc = lab.popen('h1', ['wireguard-go', 'wg0'], env=...)   # background process
        lab.inventory_path                          # .lab/t1/inventory.yml
        lab.host('h1'), lab.nsenter_argv('h1'), lab.leftovers()
    Lab.attach('t1')                                # an existing lab (e.g. made by the CLI)

Labs created through the API are torn down at interpreter exit (atexit) unless down() already ran
or ``cleanup_at_exit=False``; SIGTERM/SIGHUP are turned into KeyboardInterrupt so that happens
on ``kill`` too (SIGKILL cannot be caught: use `lab/nslab.py status` and `down` then). ``down``
kills only processes whose net, mount or UTS namespace is one of the lab's (found by namespace
inode under /proc, by pid), SIGTERM then SIGKILL. A state dir is only ever removed when it holds
nslab's marker file ``.nslab`` (other tools keep their own things under .lab/ too).
"""
from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import json
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence, Union

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB_ROOT = os.environ.get('NSLAB_ROOT', os.path.join(REPO, '.lab'))
NETNS_DIR = '/run/netns'
NS_PREFIX = 'nslab-'
DEFAULT_NAME = 'lab'
DEFAULT_INTERPRETER = '/usr/bin/python3'
MAX_HOSTS = 200
MAX_SITES = 8
MARKER = '.nslab'  # in every state dir nslab made; nothing without it is ever removed
BRIDGE = 'br0'  # lives only inside the lab's switch namespace, so it cannot clash with anything
NAME_RE = re.compile(r'^[a-z0-9][a-z0-9_-]{0,23}$')
NSENTER = shutil.which('nsenter') or '/usr/bin/nsenter'
IP = shutil.which('ip') or '/usr/sbin/ip'
# cd into the caller's directory when it exists inside the host (nsenter --mount resets the cwd)
CD_SNIPPET = 'cd "$0" 2>/dev/null || cd /; exec "$@"'


class LabError(RuntimeError):
    """A lab operation failed; the message says what to do."""


class LabCommandError(LabError, subprocess.CalledProcessError):
    """A command inside a lab host exited non-zero (CalledProcessError with the output in str())."""

    def __init__(self, host, returncode, cmd, output=None, stderr=None):
        subprocess.CalledProcessError.__init__(self, returncode, cmd, output, stderr)
        self.host = host

    def __str__(self):
        return 'lab host {}: {!r} exited {}\nstdout: {}\nstderr: {}'.format(
            self.host, self.cmd, self.returncode, (self.output or '').strip()[-2000:],
            (self.stderr or '').strip()[-2000:])


def _run(argv, check=True, input=None, quiet_ok=False, **kw):
    """Run a fixed argument list on the machine, capture text output, raise LabError on failure."""
    proc = subprocess.run(argv, input=input, capture_output=True, text=True, check=False, **kw)
    if check and proc.returncode != 0:
        raise LabError('{} exited {}: {}'.format(' '.join(argv[:4]), proc.returncode,
                                             (proc.stderr or proc.stdout).strip()))
    return proc


# --------------------------------------------------------------------------- syscalls (ctypes)

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWNET = 0x00020000, 0x04000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 4096, 16384, 1 << 18
MNT_DETACH = 2
_LIBC = ctypes.CDLL(None, use_errno=True)


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f'{what}: {os.strerror(err)}')


def _enc(value):
    return None if value is None else value.encode()


def _mount(source, target, fstype, flags, data=None):
    enc = _enc
    _check(_LIBC.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f'mount {source} {target}')


def _umount2(target, flags=MNT_DETACH):
    _check(_LIBC.umount2(target.encode(), flags), f'umount {target}')


def _unescape(field):
    """Mount points in /proc/self/mountinfo escape space, tab, newline and backslash as octal."""
    return re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)), field)


def _mountinfo(path='/proc/self/mountinfo'):
    """[(mount id, parent id, mount point, fs type)] of this process's mount namespace."""
    out = []
    with open(path) as f:
        for line in f:
            fields = line.split()
            sep = fields.index('-', 6)
            out.append((fields[0], fields[1], _unescape(fields[4]), fields[sep + 1]))
    return out


def _nsfs_tops(mounts):
    """Mount points to detach so that no nsfs mount is left: a directory mount holding only nsfs
    mounts that is /run/netns or a .../ns dir goes at once (a lazy umount is recursive: one RCU
    grace period instead of one per file), any other nsfs mount by itself."""
    point = {m[0]: m[2] for m in mounts}
    kids, nskids = {}, {}
    for _, parent, _, fstype in mounts:
        kids[parent] = kids.get(parent, 0) + 1
        if fstype == 'nsfs':
            nskids[parent] = nskids.get(parent, 0) + 1
    tops = set()
    for _, parent, mp, fstype in mounts:
        if fstype != 'nsfs':
            continue
        pm = point.get(parent, '')
        whole_dir = (pm == NETNS_DIR or pm.endswith('/ns')) and kids[parent] == nskids[parent]
        tops.add(pm if whole_dir else mp)
    return sorted(tops)


def _drop_nsfs_copies():
    """Unmount every nsfs mount (namespace file) of this mount namespace."""
    for _ in range(3):  # others may add or delete theirs meanwhile
        tops = _nsfs_tops(_mountinfo())
        if not tops:
            break
        for top in tops:
            with contextlib.suppress(OSError):
                _umount2(top)


def _node_child(spec):
    """In a forked child, set up one namespace node (spec['kind']):

    template: a mount namespace copied from the machine's, without /sys and without any namespace
      file (ours, other labs', /run/netns) - so hosts copied from it keep no other namespace
      alive, and no host pays for unmounting them (each unmount waits for an RCU grace period);
    net: only join a network namespace (and set sysctls);
    host: join its network namespace and the template's mount namespace, then get a mount and
      UTS namespace of its own: hostname, sysfs, /run/wireguard, /etc overlay, /etc/wireguard.
    """
    if spec['kind'] == 'template':
        _check(_LIBC.unshare(CLONE_NEWNS), 'unshare mnt')
        _mount(None, '/', None, MS_REC | MS_PRIVATE)
        _umount2('/sys')
        _drop_nsfs_copies()
        return
    fd = os.open(spec['net'], os.O_RDONLY)
    _check(_LIBC.setns(fd, CLONE_NEWNET), 'setns net')
    os.close(fd)
    for key, value in spec['sysctls'].items():  # net.* sysctls are per network namespace
        with open('/proc/sys/' + key, 'w') as f:
            f.write(value)
    if spec['kind'] == 'net':
        return
    fd = os.open(spec['template'], os.O_RDONLY)
    _check(_LIBC.setns(fd, CLONE_NEWNS), 'setns template mnt')
    os.close(fd)
    _check(_LIBC.unshare(CLONE_NEWNS | CLONE_NEWUTS), 'unshare mnt+uts')
    name = spec['node'].encode()
    _check(_LIBC.sethostname(name, len(name)), 'sethostname')
    # a fresh sysfs (mounted from inside the netns) shows this namespace's interfaces only
    _mount('sysfs', '/sys', 'sysfs', MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _mount('tmpfs', '/run/wireguard', 'tmpfs', MS_NOSUID | MS_NODEV, 'mode=0755,size=16m')
    if not os.path.islink('/var/run'):  # normally a symlink to /run; a real dir gets its own tmpfs
        os.makedirs('/var/run/wireguard', exist_ok=True)
        _mount('tmpfs', '/var/run/wireguard', 'tmpfs', MS_NOSUID | MS_NODEV, 'mode=0755,size=16m')
    _mount('overlay', '/etc', 'overlay', 0,
           f"lowerdir=/etc,upperdir={spec['upper']},workdir={spec['work']}")
    _mount(spec['etc_wireguard'], '/etc/wireguard', None, MS_BIND)
    if _nsfs_tops(_mountinfo()):  # the template had none; something raced in: drop it as well
        _drop_nsfs_copies()


def validate_name(name):
    if not NAME_RE.match(name or ''):
        raise LabError(f'invalid lab name {name!r}: use 1-24 of [a-z0-9_-], starting with a letter or digit')
    return name


def ns_name(lab, node):
    return f'{NS_PREFIX}{lab}-{node}'


def _ns_re(lab):
    return re.compile(rf'^{re.escape(NS_PREFIX)}{re.escape(lab)}-(sw|h[0-9]+(-lan)?)$')


def host_addresses(i, sites=False):
    """Addresses of host hI (1-based), as the inventory and the tests see them."""
    h = {
        'name': f'h{i}',
        'index': i,
        'underlay_ipv4': f'198.51.100.{10 + i}',
        'underlay_ipv6': f'fd3a:6c1e:9b42:1::{10 + i}',
        'underlay_ipv4_prefix': 24,
        'underlay_ipv6_prefix': 64,
    }
    if sites:
        base = 32 * (i - 1)
        h.update({
            'site_lan_ipv4': f'203.0.113.{base}/27',
            'site_lan_ipv6': f'fd3a:6c1e:9b42:a{i}::/64',
            'gateway_ipv4': f'203.0.113.{base + 1}',
            'gateway_ipv6': f'fd3a:6c1e:9b42:a{i}::1',
            'lan_host': f'h{i}-lan',
            'lan_host_ipv4': f'203.0.113.{base + 10}',
            'lan_host_ipv6': f'fd3a:6c1e:9b42:a{i}::10',
        })
    return h


# --------------------------------------------------------------------------- process cleanup

def _ns_ids(paths):
    ids = set()
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            continue
        ids.add((st.st_dev, st.st_ino))
    return ids


def _self_and_ancestors():
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            with open(f'/proc/{pid}/stat') as f:
                pid = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def pids_in_namespaces(ns_files):
    """Pids of processes whose net, mnt or uts namespace is one of the given namespace files."""
    ids = _ns_ids(ns_files)
    if not ids:
        return []
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        for kind in ('net', 'mnt', 'uts'):
            try:
                st = os.stat(f'/proc/{entry}/ns/{kind}')
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in ids:
                found.append(int(entry))
                break
    return found


def kill_namespace_processes(ns_files, timeout=3.0):
    """SIGTERM, then SIGKILL, every process in the namespaces; returns pids that survived."""
    spare = _self_and_ancestors()
    deadline = time.monotonic() + timeout
    sig = signal.SIGTERM
    while True:
        pids = [p for p in pids_in_namespaces(ns_files) if p not in spare]
        pids = [p for p in pids if not _is_zombie(p)]
        if not pids:
            return []
        if time.monotonic() > deadline:
            if sig == signal.SIGKILL:
                return pids
            sig, deadline = signal.SIGKILL, time.monotonic() + timeout
        for p in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p, sig)
        time.sleep(0.05)


def _proc_start(pid):
    """Start time of a process (clock ticks since boot), None when it does not exist."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return int(f.read().rsplit(')', 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _is_zombie(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] in ('Z', 'X')
    except (OSError, IndexError):
        return True


def _mounts_under(path):
    """Mount points at or below path in this mount namespace, deepest first."""
    path = os.path.realpath(path)
    points = {m[2] for m in _mountinfo() if m[2] == path or m[2].startswith(path + '/')}
    return sorted(points, key=lambda p: (-p.count('/'), p))


def _topmost(points):
    """The points not below another one (a lazy umount takes everything below with it)."""
    return [p for p in points if not any(p.startswith(q + '/') for q in points)]


# --------------------------------------------------------------------------- signals

_ACTIVE: Dict[int, Lab] = {}
_ACTIVE_LOCK = threading.Lock()
_HANDLERS_INSTALLED = False


def _interrupt_on_signal(signum, frame):
    # KeyboardInterrupt rather than SystemExit: pytest treats SystemExit in a test as a failure
    # and goes on with the next test; on KeyboardInterrupt it stops and runs fixture teardowns
    raise KeyboardInterrupt(f'signal {signum}')


def install_signal_handlers():
    """Turn SIGTERM/SIGHUP into KeyboardInterrupt (so finally/atexit cleanup runs); main thread only."""
    global _HANDLERS_INSTALLED
    if _HANDLERS_INSTALLED or threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, _interrupt_on_signal)
    _HANDLERS_INSTALLED = True


@contextlib.contextmanager
def _deferred_signals():
    """Hold SIGINT/SIGTERM/SIGHUP while tearing down, then deliver them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got = []
    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        old[sig] = signal.getsignal(sig)
        signal.signal(sig, lambda s, f: got.append(s))
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        if got:
            raise KeyboardInterrupt(f'signal {got[0]}')


@atexit.register
def _cleanup_at_exit():
    with _ACTIVE_LOCK:
        labs = list(_ACTIVE.values())
    for lab in labs:
        try:
            lab.down()
        except Exception as exc:
            sys.stderr.write(f'nslab: cleanup of lab {lab.name} failed: {exc}\n')


# --------------------------------------------------------------------------- the lab

class Lab:
    """A tier-1 lab of N namespace hosts named h1..hN (see the module docstring)."""

    def __init__(self, name: str = DEFAULT_NAME, n: int = 3, sites: bool = False,
                 interpreter: str = DEFAULT_INTERPRETER, root: Optional[str] = None,
                 cleanup_at_exit: bool = True, workers: int = 4):
        self.name = validate_name(name)
        self.n = int(n)
        self.sites = bool(sites)
        self.interpreter = interpreter
        self.root = root or LAB_ROOT
        self.cleanup_at_exit = cleanup_at_exit
        self.workers = max(1, int(workers))
        self.state_dir = os.path.join(self.root, self.name)
        self.ns_dir = os.path.join(self.state_dir, 'ns')
        self.bin_dir = os.path.join(self.state_dir, 'bin')
        self.inventory_path = os.path.join(self.state_dir, 'inventory.yml')
        self.timings: Dict[str, float] = {}
        self.hosts: List[dict] = [host_addresses(i, self.sites) for i in range(1, self.n + 1)]
        for h in self.hosts:
            h['python'] = os.path.join(self.bin_dir, '{}-python'.format(h['name']))
            h['sh'] = os.path.join(self.bin_dir, '{}-sh'.format(h['name']))
            h['netns'] = ns_name(self.name, h['name'])

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def attach(cls, name: str = DEFAULT_NAME, root: Optional[str] = None) -> Lab:
        """A Lab object for an existing lab (from its lab.json); it is not torn down at exit."""
        root = root or LAB_ROOT
        path = os.path.join(root, validate_name(name), 'lab.json')
        try:
            with open(path) as f:
                meta = json.load(f)
        except (OSError, ValueError) as exc:
            raise LabError(f'lab {name!r} is not up ({exc}): start it with '
                           f'`lab/nslab.py up N --name {name}`') from None
        return cls(name, meta['n'], sites=meta['sites'], interpreter=meta['interpreter'],
                   root=root, cleanup_at_exit=False)

    @property
    def node_names(self) -> List[str]:
        """Every exec-able node: h1..hN, then h1-lan.. with sites."""
        names = [h['name'] for h in self.hosts]
        if self.sites:
            names += [h['lan_host'] for h in self.hosts]
        return names

    def host(self, name: str) -> dict:
        for h in self.hosts:
            if h['name'] == name:
                return h
        raise LabError(f'lab {self.name} has no host {name!r} (hosts: {", ".join(self.node_names)})')

    def ns_files(self, node: str) -> Dict[str, str]:
        return {'net': os.path.join(NETNS_DIR, ns_name(self.name, node)),
                'mnt': os.path.join(self.ns_dir, f'{node}.mnt'),
                'uts': os.path.join(self.ns_dir, f'{node}.uts')}

    def nsenter_argv(self, node: str) -> List[str]:
        if node not in self.node_names:
            self.host(node)  # raises with the list of hosts
        f = self.ns_files(node)
        return [NSENTER, '--net=' + f['net'], '--mount=' + f['mnt'], '--uts=' + f['uts'], '--']

    def exists(self) -> bool:
        return os.path.exists(self.state_dir) or bool(_lab_netns(self.name))

    # ------------------------------------------------------------------ up
    def up(self) -> Lab:
        if not 1 <= self.n <= MAX_HOSTS:
            raise LabError(f'N must be 1..{MAX_HOSTS}, got {self.n}')
        if self.sites and self.n > MAX_SITES:
            raise LabError(f'--sites supports at most {MAX_SITES} hosts (203.0.113.0/24 in /27s), '
                           f'got {self.n}')
        if not os.path.isabs(self.interpreter) or ' ' in self.interpreter:
            # Ansible's ansible_python_interpreter cannot carry arguments or spaces
            raise LabError(f'interpreter must be an absolute path without spaces: {self.interpreter!r}')
        if not os.access(self.interpreter, os.X_OK):
            raise LabError(f'interpreter {self.interpreter} is not an executable')
        if os.geteuid() != 0:
            raise LabError('nslab needs root (namespaces, mounts)')
        os.makedirs(self.root, exist_ok=True)
        if _lab_netns(self.name):
            raise LabError(f'lab {self.name!r} already exists (namespaces present): '
                           f'run `lab/nslab.py down --name {self.name}` first')
        try:
            os.mkdir(self.state_dir)
        except FileExistsError:
            raise LabError(f'lab {self.name!r} already exists ({self.state_dir}): '
                           f'run `lab/nslab.py down --name {self.name}` first') from None
        _write(os.path.join(self.state_dir, MARKER), 'state dir of a lab/nslab.py lab\n')
        if self.cleanup_at_exit:
            install_signal_handlers()
            with _ACTIVE_LOCK:
                _ACTIVE[id(self)] = self
        t0 = time.monotonic()
        try:
            self._up()
        except BaseException:
            with contextlib.suppress(Exception):
                self.down()
            raise
        self.timings['up'] = time.monotonic() - t0
        return self

    def _up(self):
        for d in (self.ns_dir, self.bin_dir, os.path.join(self.state_dir, 'hosts')):
            os.makedirs(d, exist_ok=True)
        # the namespace files live on a private mount of their own (unshare(1) recommends it;
        # on machines where / is shared, persistent mount namespaces need it)
        _mount(self.ns_dir, self.ns_dir, None, MS_BIND)
        _mount(None, self.ns_dir, None, MS_PRIVATE)
        # mount points that the hosts' private mounts cover (created once, empty, left in place)
        for d in ('/run/wireguard', '/etc/wireguard'):
            os.makedirs(d, mode=0o700 if d.startswith('/etc') else 0o755, exist_ok=True)
        if any(c in self.state_dir for c in ',: '):
            raise LabError(f'the state dir {self.state_dir} must not contain a comma, colon or space '
                           '(overlay mount options); set NSLAB_ROOT elsewhere')
        self._write_meta()
        nodes = ['sw', *self.node_names]
        _run([IP, '-b', '-'], input=''.join(f'netns add {ns_name(self.name, node)}\n' for node in nodes))
        sw = ns_name(self.name, 'sw')
        # the switch: a bridge, no IPv6 of its own (frames of every family are bridged all the same)
        self._fork_setup({'kind': 'net', 'node': 'sw', 'net': os.path.join(NETNS_DIR, sw),
                          'sysctls': {'net/ipv6/conf/all/disable_ipv6': '1',
                                      'net/ipv6/conf/default/disable_ipv6': '1'}})
        _run([IP, '-n', sw, '-b', '-'],
             input=f'link set lo up\nlink add {BRIDGE} type bridge stp_state 0 mcast_snooping 0\n'
                   f'link set {BRIDGE} up\n')
        # namespaces of every node: a fork each, no exec (forks from this thread, one after another)
        template = os.path.join(self.ns_dir, '_template.mnt')
        open(template, 'w').close()
        self._fork_setup({'kind': 'template', 'node': 'template'}, bind={'mnt': template})
        try:
            # forwarding explicitly: a new netns inherits IPv4 settings from the machine's
            # (net.core.devconf_inherit_init_net=0), where containers may have turned it on
            fwd = '1' if self.sites else '0'
            for h in self.hosts:
                sysctls = {'net/ipv6/conf/all/accept_dad': '0', 'net/ipv6/conf/default/accept_dad': '0',
                           'net/ipv4/ip_forward': '0', 'net/ipv6/conf/all/forwarding': '0'}
                self._make_node(h['name'], template, sysctls=dict(
                    sysctls, **{'net/ipv4/ip_forward': fwd, 'net/ipv6/conf/all/forwarding': fwd}))
                if self.sites:
                    self._make_node(h['lan_host'], template, sysctls=sysctls)
        finally:
            with contextlib.suppress(OSError):
                _umount2(template)
            os.unlink(template)
        # links and addresses: one ip process per node, a few at a time
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for fut in [pool.submit(self._address_site, h) for h in self.hosts]:
                fut.result()
        # plug every host into the bridge at once (one ip process, not one per host)
        _run([IP, '-n', sw, '-b', '-'],
             input=''.join(f"link set {h['name']} master {BRIDGE} up\n" for h in self.hosts))
        self._write_wrappers()
        self._write_inventory()

    def _make_node(self, node, template, sysctls):
        """A host's namespaces (see _node_child), persistent through the lab's ns files."""
        files = self.ns_files(node)
        for kind in ('mnt', 'uts'):
            open(files[kind], 'w').close()
        top = os.path.join(self.state_dir, 'hosts', node)
        etc_wg, upper, work = (os.path.join(top, d) for d in ('wireguard', 'etc', '.etc-work'))
        for d in (etc_wg, upper, work):
            os.makedirs(d, mode=0o700, exist_ok=True)
        os.chmod(etc_wg, 0o700)
        os.chmod(upper, 0o755)  # noqa: S103 - it becomes the host's /etc
        # the host's own /etc: an overlay over the machine's, changes land in hosts/<node>/etc
        _write(os.path.join(upper, 'hostname'), node + '\n')
        _write(os.path.join(upper, 'hosts'), self._etc_hosts(node))
        self._fork_setup({'kind': 'host', 'node': node, 'net': files['net'], 'template': template,
                          'sysctls': sysctls, 'etc_wireguard': etc_wg, 'upper': upper, 'work': work},
                         bind={'mnt': files['mnt'], 'uts': files['uts']})

    def _fork_setup(self, spec, bind=None):
        """Run _node_child(spec) in a forked child; while it waits, bind-mount its namespaces
        (/proc/<child>/ns/<kind>) onto the files in `bind` (here, in the machine's mount namespace),
        which keeps them after the child exits."""
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: syscalls only, never returns
            try:
                os.close(ready_r)
                os.close(go_w)
                _node_child(spec)
                os.write(ready_w, b'R')
                os.read(go_r, 1)  # the parent binds our namespaces meanwhile; EOF when it is done
                os._exit(0)
            except BaseException as exc:
                with contextlib.suppress(BaseException):
                    os.write(ready_w, b'E' + f'{type(exc).__name__}: {exc}'.encode()[:3000])
                os._exit(1)
        os.close(ready_w)
        os.close(go_r)
        try:
            readable, _, _ = select.select([ready_r], [], [], 60)
            msg = os.read(ready_r, 4096) if readable else b'Etimed out'
            if msg[:1] != b'R':
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                raise LabError(f"lab {self.name}: setting up {spec['node']} failed: "
                               f"{msg[1:].decode(errors='replace') or 'no reply'}")
            for kind, path in (bind or {}).items():
                _mount(f'/proc/{pid}/ns/{kind}', path, None, MS_BIND)
        finally:
            os.close(go_w)
            os.close(ready_r)
            os.waitpid(pid, 0)

    def _address_site(self, h):
        """Links and addresses of host h (and its LAN host): `ip -b` inside each namespace."""
        sw = ns_name(self.name, 'sw')
        batch = ('link set lo up\n'
                 f"link add eth0 type veth peer name {h['name']} netns {sw}\n"
                 f"addr add {h['underlay_ipv4']}/24 dev eth0\n"
                 f"addr add {h['underlay_ipv6']}/64 dev eth0 nodad\n"
                 'link set eth0 up\n')
        if self.sites:
            batch += (f"link add lan0 type veth peer name eth0 netns {ns_name(self.name, h['lan_host'])}\n"
                      f"addr add {h['gateway_ipv4']}/27 dev lan0\n"
                      f"addr add {h['gateway_ipv6']}/64 dev lan0 nodad\n"
                      'link set lan0 up\n')
        _run([IP, '-n', ns_name(self.name, h['name']), '-b', '-'], input=batch)
        if self.sites:
            _run([IP, '-n', ns_name(self.name, h['lan_host']), '-b', '-'], input=(
                'link set lo up\n'
                f"addr add {h['lan_host_ipv4']}/27 dev eth0\n"
                f"addr add {h['lan_host_ipv6']}/64 dev eth0 nodad\n"
                'link set eth0 up\n'
                f"route add default via {h['gateway_ipv4']}\n"
                f"route add default via {h['gateway_ipv6']}\n"))

    def _write_meta(self, **changes):
        path = os.path.join(self.state_dir, 'lab.json')
        if changes:
            with open(path) as f:
                meta = dict(json.load(f), **changes)
        else:
            # owner 'api': the creating process tears it down at exit, so once that process is
            # gone the lab is stale (`down --stale`); 'cli' labs live until someone runs down
            meta = {'name': self.name, 'n': self.n, 'sites': self.sites, 'interpreter': self.interpreter,
                    'created': time.time(), 'owner': 'api' if self.cleanup_at_exit else 'cli',
                    'creator_pid': os.getpid(), 'creator_start': _proc_start(os.getpid())}
        _write(path, json.dumps(meta, indent=1) + '\n')

    def keep(self):
        """Do not tear this lab down at exit, and do not count it as stale later."""
        with _ACTIVE_LOCK:
            _ACTIVE.pop(id(self), None)
        if os.path.exists(os.path.join(self.state_dir, 'lab.json')):
            self._write_meta(owner='kept')

    def _etc_hosts(self, node):
        """/etc/hosts of every node: localhost plus the names of all lab hosts."""
        lines = ['127.0.0.1 localhost', '::1 localhost ip6-localhost ip6-loopback']
        for h in self.hosts:
            lines += [f"{h['underlay_ipv4']} {h['name']}", f"{h['underlay_ipv6']} {h['name']}"]
            if self.sites:
                lines += [f"{h['lan_host_ipv4']} {h['lan_host']}", f"{h['lan_host_ipv6']} {h['lan_host']}"]
        return '\n'.join(lines) + '\n'

    def _wrapper(self, node, program):
        f = self.ns_files(node)
        here = shlex.quote(f'{self.name}/{node}')
        run = f'/bin/sh -c {shlex.quote(CD_SNIPPET)} "$PWD" {program} "$@"'
        # Already inside (a module started by Ansible's async_wrapper, which runs the module with
        # the same interpreter): the namespace files are not visible from the host's mount
        # namespace, so nsenter would fail; the marker says there is nothing to enter.
        return ('#!/bin/sh\n'
                f'# generated by lab/nslab.py: run {program} inside lab {self.name} host {node}\n'
                "# (its net, mount and uts namespaces), in the caller's directory when it exists there\n"
                f'if [ "${{NSLAB_NODE:-}}" = {here} ]; then exec {run}; fi\n'
                f'NSLAB_NODE={here} exec {NSENTER} --net={f["net"]} --mount={f["mnt"]} --uts={f["uts"]} -- '
                f'{run}\n')

    def _write_wrappers(self):
        for node in self.node_names:
            _write(os.path.join(self.bin_dir, f'{node}-python'), self._wrapper(node, self.interpreter),
                   mode=0o755)
            _write(os.path.join(self.bin_dir, f'{node}-sh'), self._wrapper(node, '/bin/sh'), mode=0o755)

    def _write_inventory(self):
        out = [f'# generated by lab/nslab.py for lab {self.name}; '
               f'`lab/nslab.py down --name {self.name}` removes it',
               'all:', '  vars:', f'    lab_name: {_q(self.name)}', '  hosts:']
        for h in self.hosts:
            out.append('    {}:'.format(h['name']))
            hv = [('ansible_connection', 'local'),
                  ('ansible_host', h['underlay_ipv4']),
                  ('ansible_python_interpreter', h['python']),
                  ('lab_underlay_ipv4', h['underlay_ipv4']),
                  ('lab_underlay_ipv6', h['underlay_ipv6'])]
            if self.sites:
                hv += [('lab_site_lan_ipv4', h['site_lan_ipv4']),
                       ('lab_site_lan_ipv6', h['site_lan_ipv6']),
                       ('lab_lan_host_ipv4', h['lan_host_ipv4']),
                       ('lab_lan_host_ipv6', h['lan_host_ipv6'])]
            out += [f'      {k}: {_q(v)}' for k, v in hv]
        _write(self.inventory_path, '\n'.join(out) + '\n', mode=0o644)

    # ------------------------------------------------------------------ use
    def _argv(self, host, cmd, cwd):
        if isinstance(cmd, str):
            cmd = ['/bin/sh', '-c', cmd]
        return [*self.nsenter_argv(host), '/bin/sh', '-c', CD_SNIPPET, cwd or '/', *list(cmd)]

    def exec(self, host: str, cmd: Union[str, Sequence[str]], check: bool = True,
             input: Optional[str] = None, timeout: Optional[float] = 120, cwd: Optional[str] = None,
             env: Optional[dict] = None) -> subprocess.CompletedProcess:
        """Run cmd (argument list, or a string for /bin/sh -c) in a host; text output captured."""
        argv = self._argv(host, cmd, cwd or os.getcwd())
        proc = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, env=env,
                              check=False)
        proc.args = cmd
        if check and proc.returncode != 0:
            raise LabCommandError(host, proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc

    def popen(self, host: str, cmd: Union[str, Sequence[str]], cwd: Optional[str] = None,
              **kwargs) -> subprocess.Popen:
        """Start cmd in a host in the background (subprocess.Popen kwargs pass through)."""
        return subprocess.Popen(self._argv(host, cmd, cwd or os.getcwd()), **kwargs)

    # ------------------------------------------------------------------ down
    def down(self) -> dict:
        """Remove everything of this lab; returns what was left over (empty lists when clean)."""
        with _ACTIVE_LOCK:
            _ACTIVE.pop(id(self), None)
        t0 = time.monotonic()
        with _deferred_signals():
            report = destroy(self.name, root=self.root)
        self.timings['down'] = time.monotonic() - t0
        return report

    def leftovers(self) -> dict:
        return leftovers(self.name, root=self.root)

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()
        return False

    def __repr__(self):
        return f'Lab({self.name!r}, {self.n}, sites={self.sites!r})'


def _q(value):
    """A YAML scalar: JSON strings are valid YAML and never reinterpreted (IPv6, yes/no...)."""
    return json.dumps(str(value))


def _write(path, text, mode=0o644):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _lab_netns(name):
    pattern = _ns_re(name)
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if pattern.match(n))
    except FileNotFoundError:
        return []


def _spawn_quiet(argv, **kw):
    """Teardown commands: in their own session so a terminal Ctrl-C does not kill them midway."""
    return _run(argv, check=False, start_new_session=True, **kw)


def leftovers(name, root=None):
    """What of lab `name` still exists: namespaces, mounts, state dir, processes."""
    root = root or LAB_ROOT
    state = os.path.join(root, name)
    ns_dir = os.path.join(state, 'ns')
    netns = _lab_netns(name)
    files = [os.path.join(NETNS_DIR, n) for n in netns]
    if os.path.isdir(ns_dir):
        files += [os.path.join(ns_dir, f) for f in os.listdir(ns_dir)]
    return {'netns': netns, 'mounts': _mounts_under(state),
            'state_dir': [state] if os.path.exists(state) else [],
            'pids': pids_in_namespaces(files)}


def destroy(name, root=None):
    """Tear down lab `name` from whatever exists (works on half-built labs and without lab.json)."""
    root = root or LAB_ROOT
    validate_name(name)
    state = os.path.join(root, name)
    ours = _is_ours(state)
    if os.path.exists(state) and not ours:
        # not made by nslab (or the marker is gone): leave its files and mounts alone
        sys.stderr.write(f'nslab: {state} has no {MARKER} marker; not touching it\n')
    ns_dir = os.path.join(state, 'ns')
    netns = _lab_netns(name)
    files = [os.path.join(NETNS_DIR, n) for n in netns]
    if ours and os.path.isdir(ns_dir):
        files += [os.path.join(ns_dir, f) for f in os.listdir(ns_dir)]
    survivors = kill_namespace_processes(files)
    if netns:
        _spawn_quiet([IP, '-b', '-'], input=''.join(f'netns del {n}\n' for n in netns))
    for point in _topmost(_mounts_under(state)) if ours else []:
        with contextlib.suppress(OSError):
            _umount2(point)
    if ours:
        if _mounts_under(state):
            raise LabError(f'lab {name}: mounts remain under {state}, not removing it')
        shutil.rmtree(state, ignore_errors=True)
    report = leftovers(name, root)
    if survivors:
        report['pids'] = sorted(set(report['pids']) | set(survivors))
    return report


def _is_ours(state):
    """A state dir nslab made: its marker, or (labs of the first version) lab.json next to ns/."""
    return os.path.exists(os.path.join(state, MARKER)) or (
        os.path.isfile(os.path.join(state, 'lab.json')) and os.path.isdir(os.path.join(state, 'ns')))


def list_labs(root=None):
    root = root or LAB_ROOT
    try:
        return sorted(d for d in os.listdir(root)
                      if NAME_RE.match(d) and _is_ours(os.path.join(root, d)))
    except FileNotFoundError:
        return []


def lab_meta(name, root=None):
    try:
        with open(os.path.join(root or LAB_ROOT, name, 'lab.json')) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def stale_labs(root=None):
    """Labs made through the API whose creating process is gone (killed before it could clean up)."""
    stale = []
    for name in list_labs(root):
        meta = lab_meta(name, root)
        if not meta or meta.get('owner') != 'api':
            continue
        start = _proc_start(meta.get('creator_pid', 0))
        if start is None or start != meta.get('creator_start'):
            stale.append(name)
    return stale


def orphan_netns(root=None):
    """nslab-* network namespaces whose lab has no state dir here."""
    known = list_labs(root)
    try:
        names = [n for n in os.listdir(NETNS_DIR) if n.startswith(NS_PREFIX)]
    except FileNotFoundError:
        return []
    return sorted(n for n in names if not any(_ns_re(lab).match(n) for lab in known))


# --------------------------------------------------------------------------- CLI

def _cmd_up(args):
    lab = Lab(args.name, args.n, sites=args.sites, interpreter=args.interpreter, cleanup_at_exit=False)
    install_signal_handlers()
    lab.up()
    sites = ' with sites' if lab.sites else ''
    print(f"lab {lab.name}: {lab.n} hosts{sites} up in {lab.timings['up']:.2f}s; "
          f'inventory {lab.inventory_path}')
    for h in lab.hosts:
        extra = ('  lan {} {}/{}'.format(h['lan_host'], h['lan_host_ipv4'], h['lan_host_ipv6'])
                 if lab.sites else '')
        print(f"  {h['name']:<4} {h['underlay_ipv4']:<15} {h['underlay_ipv6']}{extra}")
    return 0


def _cmd_down(args):
    names = list_labs() if args.all else stale_labs() if args.stale else [args.name]
    rc = 0
    for name in names:
        t0 = time.monotonic()
        with _deferred_signals():
            report = destroy(name)
        left = {k: v for k, v in report.items() if v}
        if left:
            rc = 1
            print(f'lab {name}: NOT clean after down: {left}', file=sys.stderr)
        else:
            print(f'lab {name}: down in {time.monotonic() - t0:.2f}s')
    if args.all and orphan_netns():
        print('namespaces of labs without a state dir (remove with `ip netns del`): '
              + ' '.join(orphan_netns()), file=sys.stderr)
    return rc


def _cmd_exec(args):
    lab = Lab.attach(args.name)
    cmd = list(args.cmd)
    if cmd and cmd[0] == '--':
        cmd = cmd[1:]
    if not cmd:
        env = dict(os.environ, PS1=f'{args.host}# ')
        os.execve(NSENTER,  # noqa: S606 - fixed argument list
                   lab._argv(args.host, ['/bin/bash' if os.path.exists('/bin/bash') else '/bin/sh'],
                                     os.getcwd()), env)
    os.execv(NSENTER, lab._argv(args.host, cmd, os.getcwd()))  # noqa: S606
    return 1


def _cmd_inventory(args):
    lab = Lab.attach(args.name)
    print(lab.inventory_path)
    return 0


def _cmd_status(args):
    labs = list_labs()
    if not labs:
        print(f'no labs under {LAB_ROOT}')
    for name in labs:
        try:
            lab = Lab.attach(name)
        except LabError:
            print(f'{name}: state dir without lab.json (half built?): `lab/nslab.py down --name {name}`')
            continue
        left = leftovers(name)
        meta = lab_meta(name) or {}
        owner = meta.get('owner', '?')
        if name in stale_labs():
            owner += f" (creator pid {meta.get('creator_pid')} gone: stale, `down --stale`)"
        expected = len(lab.node_names) + 1
        got = len(left['netns'])
        health = 'ok' if got == expected else f'BROKEN ({got}/{expected} namespaces)'
        sites = ' with sites' if lab.sites else ''
        print(f"{name}: {lab.n} hosts{sites}, {health}, {len(left['pids'])} processes, owner {owner}, "
              f'inventory {lab.inventory_path}')
    orphans = orphan_netns()
    if orphans:
        print('orphan namespaces (no state dir): {}'.format(' '.join(orphans)))
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog='nslab.py', description=__doc__.split('\n\n')[0])
    sub = p.add_subparsers(dest='command', required=True)
    up = sub.add_parser('up', help='create a lab of N hosts h1..hN')
    up.add_argument('n', type=int)
    up.add_argument('--name', default=DEFAULT_NAME)
    up.add_argument('--sites', action='store_true', help='a LAN host hI-lan behind each host (N <= 8)')
    up.add_argument('--interpreter', default=DEFAULT_INTERPRETER,
                    help='python the bin/<host>-python wrappers exec (default %(default)s)')
    down = sub.add_parser('down', help='remove a lab (processes, namespaces, mounts, state dir)')
    down.add_argument('--name', default=DEFAULT_NAME)
    which = down.add_mutually_exclusive_group()
    which.add_argument('--all', action='store_true', help=f'every lab under {LAB_ROOT}')
    which.add_argument('--stale', action='store_true',
                       help='labs made through the Python API whose process is gone (killed)')
    ex = sub.add_parser('exec', help='run a command in a host (no command: a shell)')
    ex.add_argument('--name', default=DEFAULT_NAME)
    ex.add_argument('host')
    ex.add_argument('cmd', nargs=argparse.REMAINDER)
    inv = sub.add_parser('inventory', help='print the path of the inventory')
    inv.add_argument('--name', default=DEFAULT_NAME)
    sub.add_parser('status', help='list labs')
    args = p.parse_args(argv)
    try:
        return {'up': _cmd_up, 'down': _cmd_down, 'exec': _cmd_exec, 'inventory': _cmd_inventory,
                'status': _cmd_status}[args.command](args)
    except LabError as exc:
        print(f'nslab: {exc}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('nslab: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
