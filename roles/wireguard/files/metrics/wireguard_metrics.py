# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""WireGuard metrics for Prometheus from `wg show all dump`, and a light prober (meshlab.wireguard).

prometheus_wireguard_exporter's names and labels are kept, so its dashboards and alerts fit:

    wireguard_sent_bytes_total{interface, public_key, allowed_ips, friendly_name}        counter
    wireguard_received_bytes_total{...}                                                 counter
    wireguard_latest_handshake_seconds{...}   UNIX time of the last handshake, 0 = never  gauge
    wireguard_latest_handshake_delay_seconds{...}   seconds since it; no sample when never  gauge

What this collector adds (docs/observe.md has the full table and the semantics):

    wireguard_interface_info{interface, public_key, listen_port, engine} 1
    wireguard_peer_info{interface, public_key, friendly_name, allowed_ips, endpoint} 1
    wireguard_peer_status{interface, public_key, friendly_name, status} 1 for the peer's status
        (up, stale, never, missing), 0 for the other three
    wireguard_peer_endpoint_changes_total{interface, public_key, friendly_name}       counter
    wireguard_peer_probe_success{interface, public_key, friendly_name, address}  last round, 0/1
    wireguard_peer_probe_loss_ratio{...}, wireguard_peer_probe_rtt_seconds{...}   last round
    wireguard_peer_probe_sent_total{...}, wireguard_peer_probe_received_total{...}   packets
    wireguard_prober_up, wireguard_probe_duration_seconds, wireguard_probe_timestamp_seconds
    wireguard_collector_success        1 when `wg` answered, else 0

Expected peers: the role writes <state-dir>/expected-peers.json, the peers it configured on each
interface with their names and tunnel addresses. The prober pings every tunnel address in it
(`ping -c COUNT -W TIMEOUT`, in parallel: at most COUNT packets per address and round), and a
peer that is expected but not on the live interface has status "missing". Without the file there
is no prober and no "missing".

State (<state-dir>/state.json): the endpoint seen last per peer and the counters, so they keep
counting between two textfile runs and across restarts.

``friendly_name`` comes from the ``# Name = X`` (or ``# friendly_name = X``) comment in the peer's
section of <config-dir>/<interface>.conf, else from the expected-peers file; it is left out when
unknown. Secrets in the dump (private and preshared keys) are never written anywhere.

Modes:
  --output FILE       node_exporter textfile collector: probe, then write FILE atomically
  --listen ADDR:PORT  a small exporter: serve /metrics, reading `wg` on every scrape; the prober
                      runs in the background every --probe-interval seconds
  (neither)           probe, then print to stdout

Standard library only; Python 3.8+.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Tuple

DEFAULT_CONFIG_DIR = '/etc/wireguard'
DEFAULT_STATE_DIR = '/var/lib/meshlab-wireguard-metrics'
PEERS_FILE = 'expected-peers.json'
STATE_FILE = 'state.json'
# A handshake younger than this is a live session: the same rule as wireguard_info and the health
# check (plugins/module_utils/_model.py HANDSHAKE_FRESH_SECONDS; the unit tests hold them together).
HANDSHAKE_FRESH_SECONDS = 180
STATUSES = ('up', 'stale', 'never', 'missing')
PROBE_INTERVAL = 0.2  # seconds between two echo requests to one address

_NAME_RE = re.compile(r'^\s*#\s*(?:name|friendly_name)\s*=\s*(.*?)\s*$', re.IGNORECASE)
# ping's summary, iputils and BusyBox (the same patterns as plugins/module_utils/_ping.py)
_COUNTS_RE = re.compile(r'(\d+) packets transmitted, (\d+) (?:packets )?received')
_RTT_RE = re.compile(r'(?:rtt|round-trip) min/avg/max/\S+ = ([\d.]+)/([\d.]+)/([\d.]+)')

PEER_FAMILIES = (
    ('wireguard_sent_bytes_total', 'counter', 'Bytes sent to the peer', 'tx_bytes'),
    ('wireguard_received_bytes_total', 'counter', 'Bytes received from the peer', 'rx_bytes'),
    ('wireguard_latest_handshake_seconds', 'gauge',
     'UNIX timestamp of the latest handshake with the peer (0 = never)', 'latest_handshake'),
)


# ----------------------------------------------------------------------------- reading wg and files

def parse_dump(text: str) -> List[dict]:
    """Peers from `wg show all dump`: one dict per peer line, interface lines skipped.

    Interface line: ifname private-key public-key listen-port fwmark (5 fields).
    Peer line: ifname public-key preshared-key endpoint allowed-ips latest-handshake rx tx keepalive.
    The private and preshared keys are dropped here.
    """
    peers = []
    for line in text.splitlines():
        f = line.split('\t')
        if len(f) != 9:
            continue
        ifname, public_key, _psk, endpoint, allowed, latest, rx, tx, keepalive = f
        peers.append({
            'interface': ifname,
            'public_key': public_key,
            'endpoint': None if endpoint == '(none)' else endpoint,
            'allowed_ips': '' if allowed == '(none)' else allowed,
            'latest_handshake': int(latest),
            'rx_bytes': int(rx),
            'tx_bytes': int(tx),
            'persistent_keepalive': 0 if keepalive == 'off' else int(keepalive),
        })
    return peers


def parse_interfaces(text: str) -> List[dict]:
    """Interfaces from `wg show all dump` (the 5-field lines); the private key is dropped here."""
    out = []
    for line in text.splitlines():
        f = line.split('\t')
        if len(f) != 5:
            continue
        ifname, _private, public_key, port, _fwmark = f
        out.append({'interface': ifname, 'public_key': '' if public_key == '(none)' else public_key,
                    'listen_port': port if port.isdigit() else '0'})
    return out


def engine_of(ifname: str, sys_class_net: str = '/sys/class/net') -> str:
    """'userspace' (a TUN device: wireguard-go and friends), 'kernel', or 'unknown'."""
    base = os.path.join(sys_class_net, ifname)
    if os.path.exists(os.path.join(base, 'tun_flags')):
        return 'userspace'
    try:
        with open(os.path.join(base, 'uevent'), encoding='utf-8') as f:
            if 'DEVTYPE=wireguard' in f.read().split():
                return 'kernel'
    except OSError:
        pass
    return 'unknown'


def parse_names(text: str) -> Dict[str, str]:
    """{public_key: name} from the `# Name = X` comments of a wg-quick config.

    The same rule as the collection's _wgquick.parse_names (the unit tests hold them together): a
    name comment belongs to the [Peer] that follows it (only blank or comment lines between), or,
    written inside a [Peer] section before its keys end, to that peer. `# friendly_name = X`
    (prometheus_wireguard_exporter's spelling) works too.
    """
    out = {}
    pending = name = key = None
    in_peer = False

    def close():
        if in_peer and key and name:
            out[key] = name

    for raw in (text or '').splitlines():
        line = raw.strip()
        m = _NAME_RE.match(line)
        if m:
            pending = m.group(1) or None
            continue
        content = line.split('#', 1)[0].strip()
        if not content:
            continue
        if content.startswith('['):
            close()
            in_peer = content.lower() == '[peer]'
            name, key = (pending if in_peer else None), None
            pending = None
            continue
        if in_peer and pending is not None and name is None:
            name = pending
        pending = None
        field, sep, value = content.partition('=')
        if in_peer and sep and field.strip().lower() == 'publickey':
            key = value.strip()
    close()
    return out


def load_names(interfaces, config_dir: str = DEFAULT_CONFIG_DIR) -> Dict[Tuple[str, str], str]:
    """{(interface, public_key): name} from every interface's wg-quick config (missing files skipped)."""
    out = {}
    for ifname in sorted(set(interfaces)):
        try:
            with open(os.path.join(config_dir, ifname + '.conf'), encoding='utf-8') as f:
                text = f.read()
        except (OSError, UnicodeDecodeError):
            continue
        for key, name in parse_names(text).items():
            out[(ifname, key)] = name
    return out


def key_age(ifname: str, config_dir: str = DEFAULT_CONFIG_DIR, now: Optional[float] = None) -> Optional[int]:
    """Seconds since the interface's key file was written: the file of the config's
    `PostUp = wg set %i private-key PATH` line (the role writes it; a rotation writes a new file)."""
    try:
        with open(os.path.join(config_dir, ifname + '.conf'), encoding='utf-8') as f:
            for line in f:
                key, sep, value = line.partition('=')
                if sep and key.strip().lower() == 'postup':
                    words = shlex.split(value)
                    if words[:4] == ['wg', 'set', '%i', 'private-key'] and len(words) == 5:
                        mtime = os.stat(words[4]).st_mtime
                        return max(0, int((time.time() if now is None else now) - mtime))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return None


def load_expected(path: str) -> Tuple[Optional[Dict[str, List[dict]]], Optional[str]]:
    """(expected peers {interface: [{public_key, name, addresses}]}, error).

    (None, None) when the file does not exist: nothing is expected, the prober is off.
    The file (written by the role): {"version": 1, "interfaces": {"wg0": [{"public_key": "...",
    "name": "h2", "addresses": ["100.64.0.2", "fd3a:6c1e:9b42:100::2"]}, ...]}}.
    """
    try:
        with open(path, encoding='utf-8') as f:
            doc = json.load(f)
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        return None, f'cannot read {path}: {exc}'
    out = {}
    try:
        for ifname, peers in (doc.get('interfaces') or {}).items():
            items = []
            for p in peers:
                addresses = [str(ipaddress.ip_address(str(a).split('/', maxsplit=1)[0]))
                             for a in p.get('addresses') or []]
                items.append({'public_key': str(p['public_key']), 'name': str(p.get('name') or ''),
                              'addresses': addresses})
            out[str(ifname)] = items
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        return None, f'{path} is not an expected-peers file: {exc!r}'
    return out, None


# ----------------------------------------------------------------------------- state between runs

class State:
    """Endpoints seen last and the monotonic counters, kept in a JSON file between runs.

    endpoints: {interface: {public_key: {"endpoint": str, "changes": int}}}
    probes:    {interface: {public_key: {address: {"sent": int, "received": int}}}}
    A missing or unreadable file starts from zero: Prometheus sees a counter reset, which rate()
    and increase() handle.
    """

    def __init__(self, path: Optional[str]):
        self.path = path
        self.endpoints: Dict[str, Dict[str, dict]] = {}
        self.probes: Dict[str, Dict[str, Dict[str, dict]]] = {}
        self.error: Optional[str] = None
        if path:
            self._load()

    def _load(self):
        try:
            with open(self.path, encoding='utf-8') as f:
                doc = json.load(f)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            self.error = f'cannot read {self.path}: {exc}'
            return
        if isinstance(doc, dict):
            if isinstance(doc.get('endpoints'), dict):
                self.endpoints = doc['endpoints']
            if isinstance(doc.get('probes'), dict):
                self.probes = doc['probes']

    def save(self):
        if not self.path:
            return
        doc = {'version': 1, 'endpoints': self.endpoints, 'probes': self.probes}
        try:
            write_atomic(self.path, json.dumps(doc, sort_keys=True, indent=1) + '\n', mode=0o600)
            self.error = None
        except OSError as exc:
            self.error = f'cannot write {self.path}: {exc}'

    def observe_endpoints(self, peers: List[dict]) -> None:
        """Count endpoint changes: a peer's live endpoint differs from the one seen last.

        The first endpoint seen for a peer is not a change, and a peer without endpoint keeps the
        last one seen. Peers no longer on an interface are forgotten (their counter starts again
        at 0 if they come back).
        """
        live: Dict[str, Dict[str, Optional[str]]] = {}
        for p in peers:
            live.setdefault(p['interface'], {})[p['public_key']] = p['endpoint']
        for ifname, seen in live.items():
            old = self.endpoints.get(ifname) or {}
            new = {}
            for key, endpoint in seen.items():
                entry = dict(old.get(key) or {'endpoint': None, 'changes': 0})
                if endpoint:
                    if entry['endpoint'] and entry['endpoint'] != endpoint:
                        entry['changes'] = int(entry['changes']) + 1
                    entry['endpoint'] = endpoint
                new[key] = entry
            self.endpoints[ifname] = new
        for ifname in [i for i in self.endpoints if i not in live]:
            del self.endpoints[ifname]

    def endpoint_changes(self, ifname: str, key: str) -> int:
        return int(((self.endpoints.get(ifname) or {}).get(key) or {}).get('changes', 0))

    def add_probe(self, ifname: str, key: str, address: str, sent: int, received: int) -> dict:
        entry = self.probes.setdefault(ifname, {}).setdefault(key, {}).setdefault(
            address, {'sent': 0, 'received': 0})
        entry['sent'] = int(entry['sent']) + sent
        entry['received'] = int(entry['received']) + received
        return entry

    def keep_probes(self, expected: Dict[str, List[dict]]) -> None:
        """Forget counters of addresses no longer expected."""
        want = {(i, p['public_key'], a) for i, ps in expected.items() for p in ps for a in p['addresses']}
        for ifname in list(self.probes):
            for key in list(self.probes[ifname]):
                for addr in list(self.probes[ifname][key]):
                    if (ifname, key, addr) not in want:
                        del self.probes[ifname][key][addr]
                if not self.probes[ifname][key]:
                    del self.probes[ifname][key]
            if not self.probes[ifname]:
                del self.probes[ifname]


# ----------------------------------------------------------------------------- the prober

def parse_ping(output: str) -> dict:
    """{'transmitted', 'received', 'rtt_ms' (average, or None)} from ping's summary."""
    m = _COUNTS_RE.search(output or '')
    transmitted, received = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    r = _RTT_RE.search(output or '')
    return {'transmitted': transmitted, 'received': received,
            'rtt_ms': float(r.group(2)) if r else None}


def probe_time_bound(count: int, timeout: float) -> float:
    """The longest one address's ping may take: count packets 0.2 s apart, then wait for the last reply."""
    return (count - 1) * PROBE_INTERVAL + timeout + 1.0


def ping_once(ping: str, address: str, count: int, timeout: float) -> dict:
    """Ping one address: exactly `count` echo requests, `timeout` s wait for the last reply."""
    argv = [ping, '-n', '-q', '-c', str(count), '-i', str(PROBE_INTERVAL),
            '-W', str(int(max(1, timeout))), address]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=probe_time_bound(count, timeout),
                              check=False)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or '')
        res = parse_ping(out)
        res['transmitted'] = max(res['transmitted'], count)
        return res
    except OSError as exc:
        return {'transmitted': 0, 'received': 0, 'rtt_ms': None, 'error': f'cannot run {ping}: {exc}'}
    res = parse_ping(proc.stdout)
    if proc.returncode not in (0, 1) and not res['transmitted']:
        lines = (proc.stderr or proc.stdout or '').strip().splitlines()
        res['error'] = lines[-1] if lines else f'ping exited {proc.returncode}'
    return res


def probe(expected: Dict[str, List[dict]], count: int = 3, timeout: float = 1, parallel: int = 16,
          ping: str = 'ping') -> Dict[Tuple[str, str, str], dict]:
    """One round: every expected peer's tunnel addresses, `parallel` at a time.

    Bounded: at most `count` packets per address, and ceil(addresses / parallel) times
    probe_time_bound(count, timeout) seconds. Returns {(interface, public_key, address):
    {transmitted, received, rtt_ms, error?}}.
    """
    targets = [(i, p['public_key'], a)
               for i, ps in sorted(expected.items()) for p in ps for a in p['addresses']]
    if not targets or count <= 0:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(targets)))) as pool:
        results = list(pool.map(lambda t: ping_once(ping, t[2], count, timeout), targets))
    return dict(zip(targets, results))


# ----------------------------------------------------------------------------- exposition

def _label(value) -> str:
    return str(value).replace('\\', '\\\\').replace('\n', '\\n').replace('"', '\\"')


def _labels(pairs) -> str:
    return ','.join(f'{k}="{_label(v)}"' for k, v in pairs if v is not None)


def _num(value) -> str:
    if isinstance(value, float) and not value.is_integer():
        return repr(round(value, 6))
    return str(int(value))


class _Out:
    def __init__(self):
        self.lines: List[str] = []

    def family(self, name: str, kind: str, helptext: str, samples) -> None:
        """HELP and TYPE, then `(labels, value)` samples (a family without samples is still declared)."""
        self.lines.append(f'# HELP {name} {helptext}')
        self.lines.append(f'# TYPE {name} {kind}')
        for pairs, value in samples:
            text = _labels(pairs)
            self.lines.append(f'{name}{{{text}}} {_num(value)}' if text else f'{name} {_num(value)}')

    def text(self) -> str:
        return '\n'.join(self.lines) + '\n'


def peer_status(latest_handshake: int, now: float) -> str:
    """'never', 'up' (younger than HANDSHAKE_FRESH_SECONDS) or 'stale': wireguard_info's rule."""
    if not latest_handshake:
        return 'never'
    return 'up' if now - latest_handshake < HANDSHAKE_FRESH_SECONDS else 'stale'


def render(peers: List[dict], names: Optional[Dict[Tuple[str, str], str]] = None,
           success: bool = True, interfaces: Optional[List[dict]] = None,
           expected: Optional[Dict[str, List[dict]]] = None, state: Optional[State] = None,
           probes: Optional[dict] = None, now: Optional[float] = None) -> str:
    """Prometheus text exposition format (version 0.0.4).

    `probes`: None when there is no prober, else {'up': bool, 'duration': s, 'timestamp': t,
    'results': {(interface, public_key, address): {transmitted, received, rtt_ms}}}.
    """
    names = dict(names or {})
    now = time.time() if now is None else now
    for ifname, eps in (expected or {}).items():
        for p in eps:
            if p['name']:
                names.setdefault((ifname, p['public_key']), p['name'])
    peers = sorted(peers, key=lambda p: (p['interface'], p['public_key']))
    out = _Out()

    def compat(p):  # prometheus_wireguard_exporter's label set
        return [('interface', p['interface']), ('public_key', p['public_key']),
                ('allowed_ips', p['allowed_ips']),
                ('friendly_name', names.get((p['interface'], p['public_key'])))]

    def ident(ifname, key):
        return [('interface', ifname), ('public_key', key), ('friendly_name', names.get((ifname, key)))]

    for metric, kind, helptext, field in PEER_FAMILIES:
        out.family(metric, kind, helptext, [(compat(p), p[field]) for p in peers])
    out.family('wireguard_latest_handshake_delay_seconds', 'gauge',
               'Seconds since the latest handshake with the peer (no sample when there was none)',
               [(compat(p), max(0, int(now) - p['latest_handshake']))
                for p in peers if p['latest_handshake']])

    out.family('wireguard_interface_info', 'gauge',
               'The local interface: its public key, listen port and engine (kernel or userspace)',
               [([('interface', i['interface']), ('public_key', i['public_key']),
                  ('listen_port', i['listen_port']), ('engine', i.get('engine') or 'unknown')], 1)
                for i in sorted(interfaces or [], key=lambda i: i['interface'])])
    out.family('wireguard_key_age_seconds', 'gauge',
               'Seconds since the interface\'s private key file was written (key rotation renews it)',
               [([('interface', i['interface'])], i['key_age'])
                for i in sorted(interfaces or [], key=lambda i: i['interface'])
                if i.get('key_age') is not None])
    out.family('wireguard_peer_info', 'gauge',
               'A peer of the interface: its allowed IPs and current endpoint ("" when none)',
               [([*ident(p['interface'], p['public_key']), ('allowed_ips', p['allowed_ips']),
                  ('endpoint', p['endpoint'] or '')], 1) for p in peers])

    status = {(p['interface'], p['public_key']): peer_status(p['latest_handshake'], now) for p in peers}
    for ifname, eps in sorted((expected or {}).items()):
        for p in eps:
            status.setdefault((ifname, p['public_key']), 'missing')
    out.family('wireguard_peer_status', 'gauge',
               'Peer status: up (handshake < 180 s ago), stale, never (no handshake), missing '
               '(configured by the role but not on the live interface); 1 for the current one',
               [([*ident(i, k), ('status', s)], 1 if s == st else 0)
                for (i, k), st in sorted(status.items()) for s in STATUSES])

    if state is not None:
        out.family('wireguard_peer_endpoint_changes_total', 'counter',
                   'Times the peer\'s endpoint changed (roaming, or a new address) since this collector '
                   'first saw the peer',
                   [(ident(p['interface'], p['public_key']),
                     state.endpoint_changes(p['interface'], p['public_key'])) for p in peers])

    if probes is not None:
        results = probes.get('results') or {}
        totals = probes.get('totals') or {}
        ok, loss, rtt, sent, received = [], [], [], [], []
        for (ifname, key, addr), r in sorted(results.items()):
            labels = [*ident(ifname, key), ('address', addr)]
            ok.append((labels, 1 if r['received'] > 0 else 0))
            if r['transmitted']:
                loss.append((labels, 1 - min(r['received'], r['transmitted']) / r['transmitted']))
            if r.get('rtt_ms') is not None and r['received'] > 0:
                rtt.append((labels, r['rtt_ms'] / 1000.0))
            t = totals.get((ifname, key, addr)) or {'sent': r['transmitted'], 'received': r['received']}
            sent.append((labels, t['sent']))
            received.append((labels, t['received']))
        out.family('wireguard_peer_probe_success', 'gauge',
                   '1 when the last probe of the peer\'s tunnel address got a reply, else 0', ok)
        out.family('wireguard_peer_probe_loss_ratio', 'gauge',
                   'Share of the last probe\'s echo requests without reply (0 to 1)', loss)
        out.family('wireguard_peer_probe_rtt_seconds', 'gauge',
                   'Average round-trip time of the last probe (no sample without reply)', rtt)
        out.family('wireguard_peer_probe_sent_total', 'counter', 'Echo requests sent to the address', sent)
        out.family('wireguard_peer_probe_received_total', 'counter', 'Echo replies received from the address',
                   received)
        out.family('wireguard_prober_up', 'gauge',
                   '1 when the prober ran (expected-peers file readable, ping runs), else 0',
                   [([], 1 if probes.get('up') else 0)])
        if probes.get('timestamp'):
            out.family('wireguard_probe_duration_seconds', 'gauge', 'How long the last probe round took',
                       [([], probes.get('duration') or 0.0)])
            out.family('wireguard_probe_timestamp_seconds', 'gauge', 'UNIX time the last probe round ended',
                       [([], int(probes['timestamp']))])

    out.family('wireguard_collector_success', 'gauge', '1 when `wg show all dump` answered, else 0',
               [([], 1 if success else 0)])
    return out.text()


# ----------------------------------------------------------------------------- the collector

def read_wg(wg: str = 'wg') -> Tuple[Optional[str], Optional[str]]:
    """(`wg show all dump` output, error)."""
    try:
        proc = subprocess.run([wg, 'show', 'all', 'dump'], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f'cannot run {wg}: {exc}'
    if proc.returncode != 0:
        return None, f'{wg} show all dump: {proc.stderr.strip()}'
    return proc.stdout, None


def _warn(text: str) -> None:
    sys.stderr.write(f'wireguard_metrics: {text}\n')


class Collector:
    """Everything one host exports; textfile runs and the exporter share it.

    state_dir None: no expected peers, no prober, no state (what `collect()` does).
    """

    def __init__(self, wg: str = 'wg', config_dir: str = DEFAULT_CONFIG_DIR, state_dir: Optional[str] = None,
                 probe_count: int = 3, probe_timeout: float = 1, probe_parallel: int = 16, ping: str = 'ping',
                 sys_class_net: str = '/sys/class/net', clock=time.time):
        self.wg = wg
        self.config_dir = config_dir
        self.state_dir = state_dir
        self.probe_count = probe_count
        self.probe_timeout = probe_timeout
        self.probe_parallel = probe_parallel
        self.ping = ping
        self.sys_class_net = sys_class_net
        self.clock = clock
        self.lock = threading.Lock()
        self.state = State(os.path.join(state_dir, STATE_FILE) if state_dir else None)
        if self.state.error:
            _warn(self.state.error)
        self.last_probe: Optional[dict] = None

    def expected(self) -> Tuple[Optional[Dict[str, List[dict]]], Optional[str]]:
        if not self.state_dir:
            return None, None
        return load_expected(os.path.join(self.state_dir, PEERS_FILE))

    def probe_round(self) -> Optional[dict]:
        """Probe every expected address once; counters go to the state. None when there is no prober."""
        expected, error = self.expected()
        if error:
            _warn(error)
        if self.probe_count <= 0 or (expected is None and not error):
            with self.lock:
                self.last_probe = None
            return None
        start = self.clock()
        results = probe(expected or {}, self.probe_count, self.probe_timeout, self.probe_parallel, self.ping)
        errors = sorted({r['error'] for r in results.values() if r.get('error')})
        for e in errors:
            _warn(e)
        end = self.clock()
        with self.lock:
            self.state.keep_probes(expected or {})
            totals = {}
            for (ifname, key, addr), r in results.items():
                totals[(ifname, key, addr)] = dict(self.state.add_probe(ifname, key, addr, r['transmitted'],
                                                                        r['received']))
            self.state.save()
            self.last_probe = {'up': not error and not errors, 'duration': end - start, 'timestamp': end,
                               'results': results, 'totals': totals}
            return self.last_probe

    def scrape(self) -> str:
        """Read `wg` now and render, with the last probe round's results."""
        dump, error = read_wg(self.wg)
        now = self.clock()
        if error:  # no peers to report, but what the prober saw still holds
            _warn(error)
            with self.lock:
                return render([], success=False, probes=self.last_probe, now=now)
        peers = parse_dump(dump)
        interfaces = parse_interfaces(dump)
        for i in interfaces:
            i['engine'] = engine_of(i['interface'], self.sys_class_net)
            i['key_age'] = key_age(i['interface'], self.config_dir, now)
        expected, _err = self.expected()
        names = load_names({p['interface'] for p in peers} | {i['interface'] for i in interfaces},
                           self.config_dir)
        with self.lock:
            state = None
            if self.state_dir:
                self.state.observe_endpoints(peers)
                self.state.save()
                if self.state.error:
                    _warn(self.state.error)
                state = self.state
            return render(peers, names, interfaces=interfaces, expected=expected, state=state,
                          probes=self.last_probe, now=now)

    def run_prober(self, interval: float, stop: threading.Event) -> None:
        """The exporter's background prober: a round every `interval` seconds until `stop` is set."""
        while not stop.is_set():
            start = time.monotonic()
            try:
                self.probe_round()
            except Exception as exc:
                _warn(f'probe round failed: {exc!r}')
            stop.wait(max(1.0, interval - (time.monotonic() - start)))


def collect(wg: str = 'wg', config_dir: str = DEFAULT_CONFIG_DIR) -> str:
    """Run `wg show all dump` and render (no prober, no state); a failing `wg` yields only
    wireguard_collector_success 0."""
    return Collector(wg, config_dir).scrape()


def write_atomic(path: str, text: str, mode: int = 0o644) -> None:
    """Write next to `path` and rename, so node_exporter never reads a half-written file.

    The collection's one writer is plugins/module_utils/_atomic.py; this script is installed
    on hosts on its own and cannot import module_utils, so it keeps this small copy.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.wireguard.', suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def make_server(address: str, port: int, wg: str = 'wg', config_dir: str = DEFAULT_CONFIG_DIR,
                collector: Optional[Collector] = None):
    """An HTTP server answering /metrics with a fresh `wg` reading (port 0 picks a free port)."""
    collector = collector or Collector(wg, config_dir)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.split('?')[0] not in ('/metrics', '/'):
                self.send_error(404)
                return
            body = collector.scrape().encode('utf-8')
            self.send_response(200)
            self.send_header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # quiet: one line per scrape is noise in the journal
            pass

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ':' in address else socket.AF_INET
        daemon_threads = True

    return Server((address, port), Handler)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    ap.add_argument('--output', help='textfile collector file to write atomically (e.g. '
                    '/var/lib/node_exporter/textfile_collector/wireguard.prom)')
    ap.add_argument('--listen', help='serve /metrics on ADDR:PORT instead (e.g. 0.0.0.0:9586)')
    ap.add_argument('--wg', default='wg', help='the wg binary (default: wg from PATH)')
    ap.add_argument('--config-dir', default=DEFAULT_CONFIG_DIR,
                    help='where <interface>.conf with the peer name comments live')
    ap.add_argument('--state-dir', default=DEFAULT_STATE_DIR,
                    help=f'where {PEERS_FILE} (written by the role) is read and {STATE_FILE} kept; '
                    '"" for neither (no prober, no endpoint-change counter)')
    ap.add_argument('--probe-count', type=int, default=3,
                    help='echo requests per expected tunnel address and round (0: no prober)')
    ap.add_argument('--probe-timeout', type=int, default=1, help='seconds to wait for the last reply')
    ap.add_argument('--probe-parallel', type=int, default=16, help='addresses probed at once')
    ap.add_argument('--probe-interval', type=float, default=30,
                    help='exporter mode: seconds between two probe rounds')
    ap.add_argument('--ping', default='ping', help='the ping binary (iputils or BusyBox)')
    args = ap.parse_args(argv)
    collector = Collector(args.wg, args.config_dir, args.state_dir or None, args.probe_count,
                          args.probe_timeout, max(1, args.probe_parallel), args.ping)
    if args.listen:
        address, _sep, port = args.listen.rpartition(':')
        server = make_server(address.strip('[]') or '0.0.0.0', int(port), collector=collector)  # noqa: S104
        stop = threading.Event()
        threading.Thread(target=collector.run_prober, args=(max(1.0, args.probe_interval), stop),
                         daemon=True).start()
        try:
            server.serve_forever()
        finally:
            stop.set()
        return 0
    collector.probe_round()
    text = collector.scrape()
    if args.output:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return 0 if '\nwireguard_collector_success 1\n' in text else 1


if __name__ == '__main__':
    sys.exit(main())
