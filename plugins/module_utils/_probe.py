# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a host has and can do, read without changing anything (meshlab.wireguard.wireguard_probe).

The role runs this on every host before the first change on any host; the controller then judges
all hosts' answers together (plugins/module_utils/_preflight.py), so a fleet is never half-applied
because one host turns out unable to do a step, and no key file, live peer or registry entry is
replaced by a bad input.

Per network: the key file (valid? which public key? is it a PUBLIC key pasted by hand?), a key
supplied from vault (same questions), the live interface (own public key, addresses, listen port,
peers with their names from the wg-quick config and handshake ages), a link of another kind under
the same name, and whether another program holds the listen port. Per host: capabilities
(CAP_NET_ADMIN, /dev/net/tun, kernel WireGuard, wireguard-go, sysctls writable, nft usable,
directories writable, free space) and the name resolution of the peers' endpoints.

Nothing is written, created or bound for longer than the check itself: a UDP socket is bound and
closed at once to see whether a port is free, /proc/sys files are opened for writing and closed
without writing (the kernel checks the permission at open), `nft -c` checks without committing.
No secret leaves this module: keys are reported by their public key only.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import socket
import time
from typing import Callable, Dict, List, Optional

from ansible_collections.meshlab.wireguard.plugins.module_utils import _iproute, _keys
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import InputError

CAP_NET_ADMIN = 12
FREE_BYTES_MIN = 64 * 1024
NFT_PROBE_TABLE = ('inet', 'meshlab_wireguard_probe')  # checked with nft -c, never created


# --------------------------------------------------------------------------- keys

def _public_key(private_b64: str) -> Optional[str]:
    if not _keys.HAS_NACL:
        return None
    return _keys.public_key_of(private_b64)


def _which_public_key(key: str, known: Dict[str, str]) -> Optional[str]:
    """Whose public key `key` is, when it is one of the KNOWN public keys ({key: whose})."""
    return known.get(key)


def key_facts(text_or_error, known: Dict[str, str]) -> dict:
    """The public facts of one key (from a file or vault): state, error, public_key, clamped, and
    `public_key_of` when the text IS a known public key (pasted into the wrong place)."""
    if isinstance(text_or_error, Exception):
        state = 'invalid' if isinstance(text_or_error, _keys.KeyFormatError) else 'unreadable'
        return {'state': state, 'error': str(text_or_error)}
    key = text_or_error
    owner = _which_public_key(key, known)
    facts = {'state': 'valid', 'public_key': _public_key(key),
             'clamped': _keys.is_clamped(_keys.decode_key(key))}
    if owner:
        facts['public_key_of'] = owner
    return facts


def read_key(path: str) -> object:
    """The key in PATH (canonical base64), None when absent, or the exception explaining why not."""
    if not os.path.lexists(path):
        return None
    try:
        return _keys.read_key_file(path, 'private key')
    except InputError as exc:
        return exc


def backups_of(path: str) -> List[str]:
    """Backup copies Ansible's backup_local made of PATH (newest last)."""
    found = glob.glob(glob.escape(path) + '.*~')
    return sorted(found, key=lambda p: os.stat(p).st_mtime if os.path.exists(p) else 0)


def file_key_facts(path: str, known: Dict[str, str]) -> dict:
    found = read_key(path)
    if found is None:
        facts = {'state': 'absent'}
    else:
        facts = key_facts(found, known)
        with contextlib.suppress(OSError):
            facts['mode'] = '%04o' % (os.stat(path).st_mode & 0o7777)
    facts['path'] = path
    facts['backups'] = backups_of(path)
    return facts


def supplied_key_facts(value, known: Dict[str, str]) -> dict:
    try:
        key = _keys.canonical_key(value if isinstance(value, str) else str(value), 'the vault key')
    except InputError as exc:
        return key_facts(exc, known)
    return key_facts(key, known)


# --------------------------------------------------------------------------- live interfaces

def link_facts(ifname: str) -> dict:
    """{'kind': ..., 'engine': 'kernel'|'userspace'|None} of the link named IFNAME (kind None: absent)."""
    from ansible_collections.meshlab.wireguard.plugins.module_utils._engines import live_engine

    kind = _iproute.link_kind(ifname)
    return {'kind': kind, 'engine': live_engine(ifname, kind)}


def live_facts(ifname: str, engine: str, config_dir: str, read_device: Callable, now: float) -> dict:
    """The live interface's public facts (what wireguard_info reports, minus the counters)."""
    from ansible_collections.meshlab.wireguard.plugins.module_utils import _info

    device = read_device(engine, ifname)
    link = _iproute.read_link(ifname)
    public_key = _public_key(device.private_key) if device.private_key else None
    names = _info.read_names(ifname, config_dir)
    peers = []
    for key, peer in sorted(device.peers.items()):
        stats = device.stats.get(key)
        latest = int(stats.latest_handshake or 0) if stats else 0
        peers.append({'public_key': key, 'name': names.get(key), 'endpoint': peer.endpoint,
                      'handshake_age': max(0, int(now - latest)) if latest else None})
    return {'engine': engine, 'public_key': public_key, 'listen_port': device.listen_port,
            'addresses': sorted(link.addresses) if link else [], 'peers': peers}


def default_read_device(engine: str, ifname: str):
    from ansible_collections.meshlab.wireguard.plugins.module_utils._engines import make_engine

    return make_engine(engine).read(ifname)


def config_names(ifname: str, config_dir: str) -> Dict[str, str]:
    from ansible_collections.meshlab.wireguard.plugins.module_utils import _info

    return _info.read_names(ifname, config_dir)


def port_in_use(port: int) -> Optional[str]:
    """Whether another socket holds UDP PORT (bound and closed at once); None when it is free."""
    for family, addr in ((socket.AF_INET6, '::'), (socket.AF_INET, '0.0.0.0')):  # noqa: S104 - probe only
        try:
            s = socket.socket(family, socket.SOCK_DGRAM)
        except OSError:
            continue
        try:
            s.bind((addr, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f'UDP port {port} is in use by another program'
            if exc.errno in (errno.EACCES, errno.EPERM):
                return f'UDP port {port} cannot be bound here ({exc.strerror})'
        finally:
            s.close()
        return None  # the dual-stack socket covers IPv4 too
    return None


# --------------------------------------------------------------------------- capabilities

def has_capability(bit: int, status_path: str = '/proc/self/status') -> Optional[bool]:
    try:
        with open(status_path, encoding='ascii') as f:
            for line in f:
                if line.startswith('CapEff:'):
                    return bool(int(line.split()[1], 16) >> bit & 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def can_open(path: str, flags: int) -> Optional[str]:
    """None when PATH opens with FLAGS (closed at once, nothing written), else why not."""
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    return None


def sysctl_facts(name: str) -> dict:
    path = '/proc/sys/' + name.replace('.', '/')
    try:
        with open(path, encoding='ascii') as f:
            value = f.read().strip()
    except OSError as exc:
        return {'value': None, 'writable': False, 'error': exc.strerror or str(exc)}
    problem = can_open(path, os.O_WRONLY)
    out = {'value': value, 'writable': problem is None}
    if problem:
        out['error'] = problem
    return out


def nearest_dir(path: str) -> str:
    """PATH itself when it is a directory, else its nearest existing parent directory."""
    d = path
    while d and not os.path.isdir(d):
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return d or '/'


def dir_facts(path: str) -> dict:
    """Can files be created in PATH (or where it would be created), and is there space."""
    d = nearest_dir(path)
    out = {'path': path, 'checked': d, 'writable': os.access(d, os.W_OK | os.X_OK)}
    try:
        st = os.statvfs(d)
        out['free_bytes'] = st.f_bavail * st.f_frsize
        out['read_only'] = bool(st.f_flag & os.ST_RDONLY)
    except OSError:
        pass
    return out


def sysctl_file_values(path: str) -> Dict[str, str]:
    out: Dict[str, str] = {}
    try:
        with open(path, encoding='utf-8') as f:
            for line in f:
                key, sep, value = line.partition('=')
                if sep and not key.strip().startswith(('#', ';')):
                    out[key.strip()] = value.strip()
    except (OSError, UnicodeDecodeError):
        pass
    return out


def nft_facts(run_command: Callable) -> dict:
    nft = shutil.which('nft') or (os.path.exists('/usr/sbin/nft') and '/usr/sbin/nft') or None
    if not nft:
        return {'present': False}
    # the table on the command line, not on stdin: an nft that exits early cannot break a pipe
    rc, _out, err = run_command([nft, '-c', 'add', 'table', *NFT_PROBE_TABLE])
    out = {'present': True, 'usable': rc == 0}
    if rc != 0:
        lines = (err or '').strip().splitlines()
        out['error'] = lines[-1] if lines else f'nft exited with {rc}'
    return out


def capabilities(params: dict, run_command: Callable) -> dict:
    from ansible_collections.meshlab.wireguard.plugins.module_utils._engine_uapi import find_binary

    tun_problem = can_open('/dev/net/tun', os.O_RDWR)
    caps = {
        'net_admin': has_capability(CAP_NET_ADMIN),
        'tun': {'usable': tun_problem is None, 'error': tun_problem},
        'kernel_wireguard': os.path.isdir('/sys/module/wireguard'),
        'wireguard_go': find_binary() is not None,
        'nacl': _keys.HAS_NACL,
        'pyroute2': _iproute.HAS_PYROUTE2,
        'sysctl': {name: sysctl_facts(name) for name in params.get('sysctls') or ()},
        'dirs': {},
    }
    for d in params.get('dirs') or ():
        caps['dirs'][d] = dir_facts(d)
    if params.get('sysctl_file'):
        caps['sysctl_file'] = dir_facts(params['sysctl_file'])
        caps['sysctl_file']['values'] = sysctl_file_values(params['sysctl_file'])
    if params.get('nft'):
        caps['nft'] = nft_facts(run_command)
    return caps


# --------------------------------------------------------------------------- names

def resolve_names(names, resolver: Callable = socket.getaddrinfo) -> Dict[str, dict]:
    out = {}
    for name in sorted(set(names or ())):
        try:
            infos = resolver(name, None, 0, socket.SOCK_DGRAM)
        except (OSError, UnicodeError) as exc:
            out[name] = {'addresses': [], 'error': str(exc) or type(exc).__name__}
            continue
        addrs = []
        for info in infos:
            if info[4][0] not in addrs:
                addrs.append(info[4][0])
        out[name] = {'addresses': addrs}
    return out


# --------------------------------------------------------------------------- all

def probe(params: dict, run_command: Callable, read_device: Callable = default_read_device,
          now: Optional[float] = None) -> dict:
    """Everything the preflight verdict needs from this host (see the module docstring)."""
    now = time.time() if now is None else now
    known = {str(k): str(v) for k, v in (params.get('public_keys') or {}).items()}
    supplied = params.get('private_keys') or {}
    networks = {}
    warnings = []
    for net in params.get('networks') or ():
        name = net['name']
        facts = {'link': {'kind': None, 'engine': None}, 'live': None}
        try:
            facts['link'] = link_facts(name)
        except Exception as exc:  # netlink refused (no rights): reported, judged by the controller
            facts['link'] = {'kind': None, 'engine': None, 'error': str(exc)}
        live_known = dict(known)
        if facts['link']['engine']:
            try:
                facts['live'] = live_facts(name, facts['link']['engine'], net['config_dir'], read_device, now)
            except Exception as exc:
                facts['live_error'] = f'cannot read the live interface {name}: {exc}'
                warnings.append(facts['live_error'])
        if facts['live']:
            if facts['live']['public_key']:
                live_known.setdefault(facts['live']['public_key'], f'the public key of the live {name}')
            for peer in facts['live']['peers']:
                live_known.setdefault(peer['public_key'], f'the public key of peer {peer["name"] or "?"} '
                                                          f'of the live {name}')
        facts['config_names'] = config_names(name, net['config_dir'])
        for key, peer_name in facts['config_names'].items():
            live_known.setdefault(key, f'the public key of peer {peer_name} in {name}.conf')
        facts['key'] = file_key_facts(net['key_path'], live_known)
        if name in supplied and supplied[name] not in (None, ''):
            facts['supplied'] = supplied_key_facts(supplied[name], live_known)
        port = net.get('port')
        live_port = (facts['live'] or {}).get('listen_port')
        if port and live_port != port:
            facts['port_problem'] = port_in_use(int(port))
        networks[name] = facts
    return {
        'networks': networks,
        'capabilities': capabilities(params, run_command),
        'resolved': resolve_names(params.get('resolve')),
        'warnings': warnings,
    }
