# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rebuild lost registry entries from what the hosts have (playbooks/registry_rebuild.yml).

Input: the fleet (inventory: networks, members, sites, clients) and, per host, the result of
``wireguard_info`` (live interfaces with their addresses, listen port, public key, and peers with
public key, endpoint, allowed IPs and the name the wg-quick config's ``# Name =`` comment gives).

For a member whose interface was read, its own interface is the truth: public key, listen port,
addresses (without link-local). A member that could not be read (unreachable, interface down) is
taken from its peers' views: the peer entry named after it (or with a key no other member
claims is not guessed: names only): public key, endpoint, port, and its tunnel addresses = the
host routes of its allowed IPs inside the network's pools, when exactly one per family; else it
is left out with a warning (run again when it is reachable). Clients come from the hosts they
attach to (a peer named ``client NAME``, NAME a client of that host). Role, site, hub and LANs come from the
fleet (``_topology.registry_entry``), like a publish. Endpoints are the host part of what the
peers dial (a live endpoint may have roamed; the next run of the role publishes each host's
configured endpoint again).

Entries that the registry still holds are kept as they are: a rebuild only fills gaps.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.meshlab.wireguard.plugins.module_utils import _topology as topo
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import split_endpoint


def _pools(fnet):
    out = []
    for key in ('ipv4_pool', 'ipv6_pool'):
        if fnet.get(key):
            out.append(ipaddress.ip_network(fnet[key], strict=False))
    return out


def _with_pool_prefix(prefixes, pools):
    """Host routes (x/32, x/128) inside a pool -> x/<pool prefix>, one list, sorted by family."""
    out = []
    for p in prefixes:
        try:
            net = ipaddress.ip_network(p, strict=False)
        except ValueError:
            continue
        if net.num_addresses != 1:
            continue
        for pool in pools:
            if net.version == pool.version and net.network_address in pool:
                out.append(f'{net.network_address}/{pool.prefixlen}')
    return sorted(out, key=lambda a: (':' in a, a))


def _own_addresses(iface):
    out = []
    for a in iface.get('addresses') or []:
        try:
            ip = ipaddress.ip_interface(a)
        except ValueError:
            continue
        if ip.version == 6 and ip.is_link_local:
            continue
        out.append(str(ip))
    return sorted(out, key=lambda a: (':' in a, a))


def _host_part(endpoint):
    if not endpoint:
        return '', None
    try:
        host, port = split_endpoint(endpoint)
    except ValueError:
        return '', None
    return host, port


def rebuild(fleet, infos):
    """{network: {'hosts': {host: entry}, 'clients': {name: entry}}} and warnings, from `infos`
    ({host: wireguard_info result}) for every present network of `fleet`."""
    found, warnings = {}, []
    for name, fnet in sorted(fleet['networks'].items()):
        if fnet['state'] != 'present':
            continue
        pools = _pools(fnet)
        clients_of = {c['name']: c for c in fnet['clients']}
        own = {h: ((infos.get(h) or {}).get('interfaces') or {}).get(name) for h in fnet['members']}
        # what each member's peers say about it, by the name in their configs
        seen = {}
        for h, iface in own.items():
            for peer in (iface or {}).get('peers') or []:
                if peer.get('name'):
                    seen.setdefault(peer['name'], []).append((h, peer))
        hosts, clients = {}, {}
        for h in sorted(fnet['members']):
            iface = own.get(h)
            views = [p for _o, p in seen.get(h, [])]
            endpoints = [_host_part(p.get('endpoint')) for p in views]
            endpoint = next((e for e, _p in endpoints if e), '')
            if iface and iface.get('public_key'):
                addresses = _own_addresses(iface)
                port = iface.get('listen_port') or fnet['port']
                public_key = iface['public_key']
            elif views:
                keys = {p['public_key'] for p in views}
                if len(keys) != 1:
                    warnings.append(f'{name}: the peers of {h} disagree on its public key ({len(keys)} '
                                    f'keys); left out: run the rebuild again when {h} is reachable')
                    continue
                public_key = keys.pop()
                addresses = _with_pool_prefix(views[0].get('allowed_ips') or [], pools)
                if len({':' in a for a in addresses}) != len(addresses):
                    warnings.append(f'{name}: {h} could not be read and its peers route several host '
                                    f'addresses to it ({", ".join(addresses)}: its clients?); left out: run '
                                    f'the rebuild again when {h} is reachable')
                    continue
                port = next((p for _e, p in endpoints if p), None) or fnet['port']
            else:
                warnings.append(f'{name}: nothing known of {h} (no interface read, no peer names it); '
                                'it gets a new entry when the role runs on it')
                continue
            entry = topo.registry_entry(fnet, h, public_key, endpoint, addresses)
            entry['port'] = port
            hosts[h] = entry
            for peer in (iface or {}).get('peers') or []:
                pname = peer.get('name') or ''  # the role names a client's peer 'client NAME'
                client = clients_of.get(pname[len('client '):] if pname.startswith('client ') else '')
                if client and client['host'] == h:
                    addrs = _with_pool_prefix(peer.get('allowed_ips') or [], pools)
                    clients[client['name']] = {'host': h, 'public_key': peer['public_key'],
                                               'addresses': addrs}
        found[name] = {'hosts': hosts, 'clients': clients}
    return found, warnings


def merge(data, found):
    """Add what `found` has and `data` lacks (in place); returns the names added,
    {network: {'hosts': [..], 'clients': [..]}}. Every present network gets its (possibly empty)
    section, so a rebuild always leaves a registry behind."""
    added = {}
    nets = data.setdefault('networks', {})
    for name, part in found.items():
        net = nets.setdefault(name, {})
        net.setdefault('hosts', {})
        net.setdefault('clients', {})
        new = {'hosts': [], 'clients': []}
        for kind in ('hosts', 'clients'):
            for key, entry in sorted(part[kind].items()):
                if key not in net[kind]:
                    net[kind][key] = entry
                    new[kind].append(key)
        added[name] = new
    return added
