# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-peer WireGuard metrics for Prometheus, from `wg show all dump` (installed by meshlab.wireguard).

Metric names and labels follow prometheus_wireguard_exporter, so its dashboards and alerts fit:

    wireguard_sent_bytes_total{interface, public_key, allowed_ips, friendly_name}        counter
    wireguard_received_bytes_total{...}                                                 counter
    wireguard_latest_handshake_seconds{...}   UNIX time of the last handshake, 0 = never  gauge

plus ``wireguard_collector_success`` (1 when `wg` answered, else 0). ``friendly_name`` comes from
the ``# Name = X`` (or ``# friendly_name = X``) comment in the peer's section of
/etc/wireguard/<interface>.conf; it is left out when unknown. Secrets in the dump (private and
preshared keys) are never written anywhere.

Modes:
  --output FILE       node_exporter textfile collector: write FILE atomically (temp + rename)
  --listen ADDR:PORT  a small exporter: serve /metrics, reading `wg` on every scrape
  (neither)           print to stdout

Standard library only; Python 3.8+.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Tuple

DEFAULT_CONFIG_DIR = '/etc/wireguard'
_NAME_RE = re.compile(r'^\s*#\s*(?:name|friendly_name)\s*=\s*(.*?)\s*$', re.IGNORECASE)

FAMILIES = (
    ('wireguard_sent_bytes_total', 'counter', 'Bytes sent to the peer', 'tx_bytes'),
    ('wireguard_received_bytes_total', 'counter', 'Bytes received from the peer', 'rx_bytes'),
    ('wireguard_latest_handshake_seconds', 'gauge',
     'UNIX timestamp of the latest handshake with the peer (0 = never)', 'latest_handshake'),
)


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


def _label(value: str) -> str:
    return str(value).replace('\\', '\\\\').replace('\n', '\\n').replace('"', '\\"')


def render(peers: List[dict], names: Optional[Dict[Tuple[str, str], str]] = None,
           success: bool = True) -> str:
    """Prometheus text exposition format (version 0.0.4) for the peers."""
    names = names or {}
    lines = []
    for metric, kind, helptext, field in FAMILIES:
        lines.append(f'# HELP {metric} {helptext}')
        lines.append(f'# TYPE {metric} {kind}')
        for p in sorted(peers, key=lambda p: (p['interface'], p['public_key'])):
            labels = [('interface', p['interface']), ('public_key', p['public_key']),
                      ('allowed_ips', p['allowed_ips'])]
            name = names.get((p['interface'], p['public_key']))
            if name:
                labels.append(('friendly_name', name))
            text = ','.join(f'{k}="{_label(v)}"' for k, v in labels)
            lines.append(f'{metric}{{{text}}} {int(p[field])}')
    lines.append('# HELP wireguard_collector_success 1 when `wg show all dump` answered, else 0')
    lines.append('# TYPE wireguard_collector_success gauge')
    lines.append(f'wireguard_collector_success {1 if success else 0}')
    return '\n'.join(lines) + '\n'


def collect(wg: str = 'wg', config_dir: str = DEFAULT_CONFIG_DIR) -> str:
    """Run `wg show all dump` and render; a failing `wg` yields only wireguard_collector_success 0."""
    try:
        proc = subprocess.run([wg, 'show', 'all', 'dump'], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        sys.stderr.write(f'wireguard_metrics: cannot run {wg}: {exc}\n')
        return render([], success=False)
    if proc.returncode != 0:
        sys.stderr.write(f'wireguard_metrics: {wg} show all dump: {proc.stderr.strip()}\n')
        return render([], success=False)
    peers = parse_dump(proc.stdout)
    return render(peers, load_names({p['interface'] for p in peers}, config_dir))


def write_atomic(path: str, text: str, mode: int = 0o644) -> None:
    """Write next to `path` and rename, so node_exporter never reads a half-written file."""
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


def make_server(address: str, port: int, wg: str = 'wg', config_dir: str = DEFAULT_CONFIG_DIR):
    """An HTTP server answering /metrics with a fresh `wg` reading (port 0 picks a free port)."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.split('?')[0] not in ('/metrics', '/'):
                self.send_error(404)
                return
            body = collect(wg, config_dir).encode('utf-8')
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
    args = ap.parse_args(argv)
    if args.listen:
        address, _sep, port = args.listen.rpartition(':')
        make_server(address.strip('[]') or '0.0.0.0', int(port), args.wg,  # noqa: S104
                    args.config_dir).serve_forever()
        return 0
    text = collect(args.wg, args.config_dir)
    if args.output:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return 0 if '\nwireguard_collector_success 1\n' in text else 1


if __name__ == '__main__':
    sys.exit(main())
