# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Health of a WireGuard network: what should exist against what runs (pure, controller side).

Inputs (plain data, as the health playbook collects them):

- ``expected``: a list of links, each
  ``{'network': NAME, 'a': SIDE, 'b': SIDE}`` with
  ``SIDE = {'host', 'interface', 'public_key' (from the registry), 'addresses' (tunnel
  addresses to ping, bare IPs or CIDR), 'endpoint' (or None), 'listen_port' (or None)}``.
- ``infos``: ``{host: wireguard_info result}``; a result is the module's return
  (``{'interfaces': {...}}``) or ``{'failed'/'unreachable': True, 'msg': ...}``; a host that is
  absent counts as unreachable.
- ``pings``: ``{host: {address: {'ok': bool, 'rtt_ms': float|None}}}`` (``wireguard_ping``'s
  ``replies``); a host or address that is absent means "not pinged" (never a failure by itself).

Output of ``analyse()``: a dict with ``ok``, ``summary``, ``links`` (every expected link with its
state and, when broken, ``cause`` / ``culprit`` / ``detail``), ``broken`` (the broken links
only), ``networks`` (per network the host list and a hosts x hosts ``matrix`` of cells seen from
the row host), ``suspects`` (hosts whose every link is broken) and ``warnings``.

Causes, most specific first (the first that applies is the link's ``cause``; all are listed in
``causes``):

- ``host_unreachable``: no wireguard_info from a host.
- ``interface_missing``: the host answers but has no such WireGuard interface (engine stopped).
- ``key_mismatch``: the interface's public key is not the one in the registry.
- ``peer_missing``: a side has no peer with the other side's registry key.
- ``no_handshake``: never a handshake (wrong endpoint, or a firewall drops the UDP port).
- ``stale``: the last handshake is older than HANDSHAKE_FRESH_SECONDS (the peer is down).
- ``ping_failed``: fresh handshake, yet a ping across the tunnel gets no reply.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Dict, List, Optional

from ansible_collections.meshlab.wireguard.plugins.module_utils._model import HANDSHAKE_FRESH_SECONDS

CAUSE_ORDER = (
    'host_unreachable', 'interface_missing', 'key_mismatch', 'peer_missing',
    'no_handshake', 'stale', 'ping_failed',
)

CAUSE_TEXT = {
    'host_unreachable': 'no WireGuard data from the host: it is down or Ansible cannot reach it',
    'interface_missing': 'the WireGuard interface is missing: the engine is stopped or the interface '
                         'was deleted',
    'key_mismatch': 'the public key differs from the registry: the key changed and the peers were '
                    'not updated (re-run the role on every host of the network)',
    'peer_missing': 'peer missing on one side: the host has no peer for the other end '
                    '(re-run the role on it; check --limit)',
    'no_handshake': 'never a handshake: wrong endpoint, or a firewall drops the UDP port',
    'stale': 'handshake stale: the peer is down or unreachable',
    'ping_failed': 'handshake fresh but no ping reply: the peer went down very recently, or routes, '
                   'AllowedIPs or a firewall drop tunnel traffic',
}

# Status of one peer entry as wireguard_info reports it; the link status is the worse of both sides.
_STATUS_RANK = {'up': 0, 'stale': 1, 'never': 2}


def handshake_status(age: Optional[int], fresh: int = HANDSHAKE_FRESH_SECONDS) -> str:
    """'up' when younger than `fresh` seconds, 'stale' when older, 'never' without a handshake."""
    if age is None:
        return 'never'
    return 'up' if age < fresh else 'stale'


def _bare_ip(text: str) -> str:
    return str(ipaddress.ip_interface(str(text).strip()).ip)


def _targets(expected: List[dict], directions) -> Dict[str, List[str]]:
    """Per pinging host, the other end's tunnel addresses, for the (src, dst) sides directions(link) gives."""
    out = {}  # type: Dict[str, List[str]]
    for link in expected:
        if link.get('skip'):
            continue
        for src, dst in directions(link):
            targets = out.setdefault(link[src]['host'], [])
            for addr in link[dst].get('addresses') or ():
                ip = _bare_ip(addr)
                if ip not in targets:
                    targets.append(ip)
    return out


def ping_targets(expected: List[dict]) -> Dict[str, List[str]]:
    """Per host, the tunnel addresses of every expected peer (what wireguard_ping should ping)."""
    return _targets(expected, lambda link: (('a', 'b'), ('b', 'a')))


def handshake_starters(expected: List[dict]) -> Dict[str, List[str]]:
    """Per host, the peers' tunnel addresses it pings first, so that one end starts each handshake.

    When both ends of a link send their first handshake at the same moment, each answers the
    other's and drops its own: no session for the 5 s until WireGuard tries again (seen in the lab
    in most such tries). So one end pings first: one that can reach the other (the other has an
    endpoint), the lower host name when both can.
    """
    def starter(link):
        only_a_can_be_dialed = link['a'].get('endpoint') and not link['b'].get('endpoint')
        return (('b', 'a'),) if only_a_can_be_dialed else (('a', 'b'),)

    return _targets(expected, starter)


def expected_links(fleet: dict, registry: dict, hosts=None) -> dict:
    """The links that should exist, from the topology (fleet) and the registry.

    fleet: ``_topology.normalize(...)``; registry: the registry the role writes. Links are the
    host-to-host peerings each member configures (clients, which Ansible does not manage, are left
    out); a pair appears once. With ``hosts`` (the play's hosts), links with an end outside it are
    marked ``'skip': True`` (not checked, but their peers are not "unexpected" either) and counted
    in ``skipped``. Returns ``{'links': [...], 'warnings': [...], 'skipped': n}``.
    """
    from ansible_collections.meshlab.wireguard.plugins.module_utils._topology import network_config

    links, warnings, skipped = [], [], 0
    in_play = None if hosts is None else set(hosts)
    reg_nets = (registry or {}).get('networks') or {}
    for name, net in sorted((fleet.get('networks') or {}).items()):
        if net.get('state', 'present') != 'present':
            continue
        reg_hosts = (reg_nets.get(name) or {}).get('hosts') or {}
        unregistered = [h for h in net['members'] if not (reg_hosts.get(h) or {}).get('public_key')]
        if unregistered:
            warnings.append(f"network {name}: {', '.join(unregistered)} not in the registry (never "
                            'configured by the role): its links are not checked')
        configs = {h: network_config(net, registry, h) for h in net['members']}
        sides = {}
        for h, cfg in configs.items():
            entry = reg_hosts.get(h) or {}
            sides[h] = {'host': h, 'interface': name, 'public_key': entry.get('public_key'),
                        'addresses': list(cfg['addresses'] or entry.get('addresses') or []),
                        'endpoint': None, 'listen_port': entry.get('port') or net.get('port')}
        for cfg in configs.values():
            for peer in cfg['peers']:
                if peer['name'] in sides:  # the peer as h sees it: its endpoint is where h sends
                    sides[peer['name']]['endpoint'] = sides[peer['name']]['endpoint'] or peer['endpoint']
        pairs = set()
        for h, cfg in configs.items():
            if h in unregistered:
                continue
            for peer in cfg['peers']:
                other = peer['name']
                if other in sides and other not in unregistered and other != h:
                    pairs.add(tuple(sorted((h, other))))
        for a, b in sorted(pairs):
            link = {'network': name, 'a': dict(sides[a]), 'b': dict(sides[b])}
            if in_play is not None and not (a in in_play and b in in_play):
                skipped += 1
                link['skip'] = True
            links.append(link)
    if skipped:
        warnings.append(f'{skipped} expected link(s) with a host outside this play were not checked')
    return {'links': links, 'warnings': warnings, 'skipped': skipped}


def _host_state(infos: dict, host: str) -> Optional[dict]:
    """The host's interfaces dict, or None when nothing usable came back."""
    res = infos.get(host)
    if not isinstance(res, dict) or res.get('failed') or res.get('unreachable'):
        return None
    interfaces = res.get('interfaces')
    return interfaces if isinstance(interfaces, dict) else None


def _peer_by_key(iface: dict, key: str) -> Optional[dict]:
    for peer in iface.get('peers') or ():
        if peer.get('public_key') == key:
            return peer
    return None


def _age(peer: Optional[dict], now: Optional[float]) -> Optional[int]:
    """Seconds since the peer's last handshake (None = never); computed from epoch if needed."""
    if peer is None:
        return None
    age = peer.get('handshake_age')
    if age is not None:
        return int(age)
    latest = int(peer.get('latest_handshake') or 0)
    if not latest:
        return None
    return max(0, int((now if now is not None else time.time()) - latest))


def _ping_view(pings: dict, host: str, addresses) -> dict:
    """Ping result from `host` to the addresses: ok True/False, or None when not pinged."""
    results = pings.get(host) or {}
    oks, rtts, failed = [], [], []
    for addr in addresses or ():
        ip = _bare_ip(addr)
        res = results.get(ip)
        if res is None:
            continue
        oks.append(bool(res.get('ok')))
        if res.get('ok') and res.get('rtt_ms') is not None:
            rtts.append(float(res['rtt_ms']))
        if not res.get('ok'):
            failed.append(ip)
    return {
        'ok': all(oks) if oks else None,
        'rtt_ms': round(min(rtts), 3) if rtts else None,
        'failed': failed,
    }


def _side_view(link: dict, me: str, other: str, state: Optional[dict], now) -> dict:
    """What one end knows of the link: its interface, its key and its peer entry for the other end."""
    mine, theirs = link[me], link[other]
    view = {'host': mine['host'], 'reachable': state is not None, 'interface_present': False,
            'public_key': None, 'key_ok': None, 'peer': None, 'handshake_age': None,
            'status': None, 'endpoint': None, 'rx_bytes': None, 'tx_bytes': None}
    if state is None:
        return view
    iface = state.get(mine['interface'])
    if not iface:
        return view
    view['interface_present'] = True
    view['public_key'] = iface.get('public_key')
    view['key_ok'] = not mine.get('public_key') or iface.get('public_key') == mine.get('public_key')
    peer = _peer_by_key(iface, theirs.get('public_key'))
    if peer is not None:
        age = _age(peer, now)
        view.update(peer=peer.get('public_key'), handshake_age=age, status=handshake_status(age),
                    endpoint=peer.get('endpoint'), rx_bytes=peer.get('rx_bytes'),
                    tx_bytes=peer.get('tx_bytes'))
    return view


def _cause(code: str, culprit: Optional[str], detail: str) -> dict:
    return {'cause': code, 'culprit': culprit, 'detail': detail}


def analyse_link(link: dict, infos: dict, pings: dict, now: Optional[float] = None,
                 fresh: int = HANDSHAKE_FRESH_SECONDS) -> dict:
    """State of one expected link; see the module docstring for the causes and their order."""
    a_host, b_host = link['a']['host'], link['b']['host']
    views = {
        'a': _side_view(link, 'a', 'b', _host_state(infos, a_host), now),
        'b': _side_view(link, 'b', 'a', _host_state(infos, b_host), now),
    }
    views['a']['ping'] = _ping_view(pings, a_host, link['b'].get('addresses'))
    views['b']['ping'] = _ping_view(pings, b_host, link['a'].get('addresses'))
    causes = []
    for s, o in (('a', 'b'), ('b', 'a')):
        v, me, other = views[s], link[s], link[o]
        if not v['reachable']:
            causes.append(_cause('host_unreachable', me['host'],
                                 f"{me['host']}: no wireguard_info result (host down or unreachable)"))
        elif not v['interface_present']:
            causes.append(_cause('interface_missing', me['host'],
                                 f"{me['host']} has no WireGuard interface {me['interface']} "
                                 '(engine stopped or interface deleted)'))
        elif not v['key_ok']:
            causes.append(_cause('key_mismatch', me['host'],
                                 f"{me['host']}'s {me['interface']} public key is {v['public_key']}, "
                                 f"the registry says {me['public_key']}"))
    for s, o in (('a', 'b'), ('b', 'a')):
        v, me, other = views[s], link[s], link[o]
        if v['interface_present'] and v['peer'] is None:
            causes.append(_cause('peer_missing', me['host'],
                                 f"{me['host']} has no peer {other['public_key']} ({other['host']}) "
                                 f"on {me['interface']}"))

    # The session needs both ends: the link's handshake is the older of the two views.
    seen = [views[s] for s in ('a', 'b') if views[s]['peer'] is not None]
    ages = [v['handshake_age'] for v in seen]
    age = None if not seen or any(a is None for a in ages) else max(ages)
    status = handshake_status(age, fresh)
    port_hint = '/'.join(str(p) for p in sorted({
        link[s].get('listen_port') for s in ('a', 'b') if link[s].get('listen_port')}))
    if seen and status == 'never':
        endpoints = [s for s in ('a', 'b') if link[s].get('endpoint')]
        if not endpoints:
            hint = 'neither side has an endpoint, so neither can start a handshake'
        else:
            where = ', '.join(f"{link[s]['host']}={link[s]['endpoint']}" for s in endpoints)
            hint = f"check the endpoint {where} and that UDP {port_hint or 'port'} reaches it"
        causes.append(_cause('no_handshake', None,
                             f'never a handshake between {a_host} and {b_host}: {hint}'))
    elif seen and status == 'stale':
        causes.append(_cause('stale', None, f'last handshake between {a_host} and {b_host} {age}s ago '
                             f'(> {fresh}s): peer down'))
    for s, o in (('a', 'b'), ('b', 'a')):
        p = views[s]['ping']
        if p['ok'] is False:
            causes.append(_cause('ping_failed', None, f"ping {link[s]['host']} -> {link[o]['host']} "
                                 f"({', '.join(p['failed'])}) failed"))
    # A ping failure only explains the link when nothing more specific does.
    causes.sort(key=lambda c: CAUSE_ORDER.index(c['cause']))
    ok = not causes
    out = {
        'network': link.get('network'),
        'a': a_host,
        'b': b_host,
        'ok': ok,
        'status': status if seen else None,
        'handshake_age': age,
        'views': views,
        'causes': causes,
        'cause': causes[0]['cause'] if causes else None,
        'culprit': causes[0]['culprit'] if causes else None,
        'detail': causes[0]['detail'] if causes else None,
        'explanation': CAUSE_TEXT[causes[0]['cause']] if causes else None,
    }
    return out


def _view_state(v: dict) -> str:
    """One side's own state: unreachable, no_interface, key_mismatch, no_peer, or up/stale/never."""
    if not v['reachable']:
        return 'unreachable'
    if not v['interface_present']:
        return 'no_interface'
    if not v['key_ok']:
        return 'key_mismatch'
    if v['peer'] is None:
        return 'no_peer'
    return v['status']


def _cell(link_state: dict, side: str) -> dict:
    v = link_state['views'][side]
    return {
        'ok': link_state['ok'],
        'view': _view_state(v),
        'cause': link_state['cause'],
        'status': v['status'],
        'handshake_age': v['handshake_age'],
        'ping': v['ping']['ok'],
        'rtt_ms': v['ping']['rtt_ms'],
        'rx_bytes': v['rx_bytes'],
        'tx_bytes': v['tx_bytes'],
    }


def _unexpected_peers(expected: List[dict], infos: dict) -> List[str]:
    """Live peers on a checked interface that no expected link (checked or not) accounts for."""
    wanted = {}  # (host, interface) -> set of peer keys
    checked = {(link[s]['host'], link[s]['interface']) for link in expected if not link.get('skip')
               for s in ('a', 'b')}
    for link in expected:
        for s, o in (('a', 'b'), ('b', 'a')):
            wanted.setdefault((link[s]['host'], link[s]['interface']), set()).add(link[o].get('public_key'))
    out = []
    for (host, ifname), keys in sorted(wanted.items()):
        if (host, ifname) not in checked:
            continue
        state = _host_state(infos, host)
        iface = (state or {}).get(ifname)
        for peer in (iface or {}).get('peers') or ():
            if peer.get('public_key') not in keys:
                out.append(f"{host} {ifname}: peer {peer.get('public_key')} "
                           f"({peer.get('name') or 'no name'}) is not in the registry or topology")
    return out


def old_keys(infos: dict, max_age_days: float) -> List[str]:
    """A warning per interface whose private key is older than MAX_AGE_DAYS (wireguard_info's
    key_age), naming the command that rotates it."""
    out = []
    for host in sorted(infos or {}):
        for ifname, iface in sorted(((infos[host] or {}).get('interfaces') or {}).items()):
            age = (iface or {}).get('key_age')
            if age is not None and age > max_age_days * 86400:
                out.append(f'{host} {ifname}: the private key is {age // 86400} days old '
                           f'(wireguard_key_max_age is {max_age_days:g}): rotate it with '
                           'ansible-playbook meshlab.wireguard.rotate '
                           f"-e '{{\"wireguard_rotate_hosts\": [\"{host}\"]}}'")
    return out


def analyse(expected: List[dict], infos: dict, pings: Optional[dict] = None,
            now: Optional[float] = None, fresh: int = HANDSHAKE_FRESH_SECONDS) -> dict:
    """Health of every expected link plus a hosts x hosts matrix per network."""
    pings = pings or {}
    now = time.time() if now is None else now
    checked = [link for link in expected if not link.get('skip')]
    links = [analyse_link(link, infos, pings, now, fresh) for link in checked]
    networks = {}  # type: Dict[str, dict]
    for link, state in zip(checked, links):
        net = networks.setdefault(link.get('network') or '', {'hosts': set(), 'matrix': {}})
        net['hosts'].update((state['a'], state['b']))
        net['matrix'].setdefault(state['a'], {})[state['b']] = _cell(state, 'a')
        net['matrix'].setdefault(state['b'], {})[state['a']] = _cell(state, 'b')
    for net in networks.values():
        net['hosts'] = sorted(net['hosts'])
    per_host = {}  # host -> [ok flags]
    for state in links:
        for h in (state['a'], state['b']):
            per_host.setdefault(h, []).append(state['ok'])
    broken = [s for s in links if not s['ok']]
    # A host whose every link is broken, while some other link works, is the likely culprit.
    suspects = sorted(h for h, oks in per_host.items()
                      if not any(oks) and len(broken) < len(links))
    unreachable = sorted(h for h in per_host if _host_state(infos, h) is None)
    return {
        'ok': not broken,
        'generated_at': int(now),
        'fresh_seconds': fresh,
        'summary': {'links': len(links), 'up': len(links) - len(broken), 'broken': len(broken),
                    'hosts': len(per_host), 'unreachable_hosts': unreachable},
        'links': links,
        'broken': [{k: s[k] for k in ('network', 'a', 'b', 'cause', 'culprit', 'detail', 'explanation')}
                   for s in broken],
        'networks': networks,
        'suspects': suspects,
        'warnings': _unexpected_peers(expected, infos),
    }


# ---------------------------------------------------------------------------------------------
# Rendering (pure string building; the action plugin writes the files)

def cell_text(report: dict, network: str, row: str, col: str) -> str:
    """Short text of one matrix cell seen from `row`: handshake age / ping, e.g. '12s/ok'.

    Instead of an age: 'unreach' (no data from the row host), 'no-if' (its interface is missing),
    'badkey' (its key differs from the registry), 'nopeer' (it has no peer for the column host),
    'never' (no handshake yet). '!' in front marks a broken link; ping 'ok', 'FAIL' or '?' (not run).
    """
    if row == col:
        return '-'
    cell = report['networks'][network]['matrix'].get(row, {}).get(col)
    if cell is None:
        return '.'
    view = cell['view']
    if view in _VIEW_TEXT:
        age = _VIEW_TEXT[view]
    elif cell['handshake_age'] is None:
        age = 'never'
    else:
        age = f"{cell['handshake_age']}s"
    ping = {True: 'ok', False: 'FAIL', None: '?'}[cell['ping']]
    return f"{'' if cell['ok'] else '!'}{age}/{ping}"


_VIEW_TEXT = {'unreachable': 'unreach', 'no_interface': 'no-if', 'key_mismatch': 'badkey',
              'no_peer': 'nopeer'}


def render_text(report: dict) -> List[str]:
    """The matrix and the broken links as lines (for the playbook's output)."""
    lines = []
    for name in sorted(report['networks']):
        hosts = report['networks'][name]['hosts']
        cells = [[cell_text(report, name, r, c) for c in hosts] for r in hosts]
        width = max([len(h) for h in hosts] + [len(t) for row in cells for t in row] + [4]) + 2
        lines.append(f'network {name}: rows see columns (handshake age / ping; ! = link broken)')
        lines.append(''.ljust(width) + ''.join(h.ljust(width) for h in hosts).rstrip())
        for h, row in zip(hosts, cells):
            lines.append(h.ljust(width) + ''.join(t.ljust(width) for t in row).rstrip())
        lines.append('')
    s = report['summary']
    lines.append(f"{s['up']} of {s['links']} links up, {s['broken']} broken")
    for b in report['broken']:
        on = f" on {b['culprit']}" if b['culprit'] else ''
        lines.append(f"BROKEN {b['a']} <-> {b['b']} ({b['network']}): {b['cause']}{on} -- {b['detail']}")
    if report['suspects']:
        lines.append(f"every link broken on: {', '.join(report['suspects'])}")
    lines.extend(f'warning: {w}' for w in report['warnings'])
    return lines


def _esc(text) -> str:
    return (str(text).replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
            .replace('"', '&quot;'))


_CSS = (
    'body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin:1em 0}'
    'td,th{border:1px solid #999;padding:.4em .7em;text-align:center;font-family:monospace}'
    'td.up{background:#b7e4b0}td.broken{background:#f4a6a6}td.none{background:#eee;color:#999}'
    'td.self{background:#ddd}.ok{color:#1a7f1a}.bad{color:#b00}li{margin:.3em 0}'
)


def _html_cell(report: dict, name: str, r: str, c: str) -> str:
    cell = report['networks'][name]['matrix'].get(r, {}).get(c)
    if r == c:
        return '<td class="self">-</td>'
    if cell is None:
        return '<td class="none">.</td>'
    tip = (f"handshake age: {cell['handshake_age']}, ping: {cell['ping']}, rtt: {cell['rtt_ms']} ms, "
           f"rx: {cell['rx_bytes']} B, tx: {cell['tx_bytes']} B")
    if not cell['ok']:
        tip += f", cause: {cell['cause']}"
    klass = 'up' if cell['ok'] else 'broken'
    text = cell_text(report, name, r, c).lstrip('!')
    return f'<td class="{klass}" title="{_esc(tip)}">{_esc(text)}</td>'


def render_html(report: dict, title: str = 'WireGuard mesh health') -> str:
    """A self-contained HTML page: one coloured matrix per network and the broken links."""
    when = time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(report['generated_at']))
    s = report['summary']
    plural = '' if s['broken'] == 1 else 's'
    verdict = 'healthy' if report['ok'] else f"{s['broken']} broken link{plural}"
    klass = 'ok' if report['ok'] else 'bad'
    out = [
        '<!DOCTYPE html>',
        f'<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>',
        f'<style>{_CSS}</style></head><body>',
        f'<h1>{_esc(title)}</h1>',
        f"<p class=\"{klass}\"><b>{_esc(verdict)}</b>: {s['up']} of {s['links']} links up ({_esc(when)})</p>",
    ]
    for name in sorted(report['networks']):
        hosts = report['networks'][name]['hosts']
        out.append(f'<h2>network {_esc(name)}</h2>')
        out.append('<table><tr><th>from \\ to</th>' + ''.join(f'<th>{_esc(h)}</th>' for h in hosts) + '</tr>')
        for r in hosts:
            out.append(f'<tr><th>{_esc(r)}</th>' + ''.join(_html_cell(report, name, r, c) for c in hosts)
                       + '</tr>')
        out.append('</table>')
    out.append('<p>Cells: handshake age seen by the row host / ping from the row host to the column '
               f"host. Fresh means younger than {report['fresh_seconds']}s.</p>")
    if report['broken']:
        out.append('<h2>Broken links</h2><ul>')
        for b in report['broken']:
            on = f" on {_esc(b['culprit'])}" if b['culprit'] else ''
            out.append(f"<li><b>{_esc(b['a'])} &harr; {_esc(b['b'])}</b> ({_esc(b['network'])}): "
                       f"<b>{_esc(b['cause'])}</b>{on} &mdash; {_esc(b['detail'])}"
                       f"<br><small>{_esc(b['explanation'])}</small></li>")
        out.append('</ul>')
    if report['suspects']:
        out.append(f"<p class=\"bad\">Every link broken on: {_esc(', '.join(report['suspects']))}</p>")
    if report['warnings']:
        out.append('<h2>Warnings</h2><ul>' + ''.join(f'<li>{_esc(w)}</li>' for w in report['warnings'])
                   + '</ul>')
    out.append('</body></html>')
    return '\n'.join(out) + '\n'
