# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host config: what one host configures (peers, routes, clients) from the fleet and the registry,
the preshared keys of its pairs, and the public record it publishes to the registry."""

from __future__ import annotations

import base64
import hashlib
import hmac

from ansible_collections.meshlab.wireguard.plugins.module_utils._topology_alloc import allocate_network
from ansible_collections.meshlab.wireguard.plugins.module_utils._topology_fields import (
    PSK_LABEL,
    _iface,
    _net,
    _sort_nets,
    format_endpoint,
    host_prefix,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._topology_sites import _site_of_net


def derive_psk(secret, network, public_key_a, public_key_b):
    """The preshared key of one pair: HMAC-SHA256(secret, label | network | both keys sorted).

    Identical on both ends (the keys are sorted), stable across runs and --limit (nothing random,
    nothing stored), different for every pair and network, and it changes by itself when either
    side's key is rotated. Returned base64 (44 chars), the form WireGuard tools use.
    """
    if not secret:
        raise ValueError('a preshared-key secret is required')
    first, second = sorted([str(public_key_a), str(public_key_b)])
    msg = b'\0'.join([PSK_LABEL, str(network).encode(), first.encode(), second.encode()])
    digest = hmac.new(str(secret).encode('utf-8'), msg, hashlib.sha256).digest()
    return base64.b64encode(digest).decode('ascii')


def add_preshared_keys(peers, secret, network, own_public_key):
    """Peers with `preshared_key` set to the pair's derived key (call where the secret is used)."""
    out = []
    for peer in peers:
        peer = dict(peer)
        peer['preshared_key'] = derive_psk(secret, network, own_public_key, peer['public_key'])
        out.append(peer)
    return out


def _reg(registry, network):
    net = ((registry or {}).get('networks') or {}).get(network) or {}
    return net.get('hosts') or {}, net.get('clients') or {}


def _pub(entry):
    return (entry or {}).get('public_key') or None


def registered_keys(fleet, registry, host):
    """HOST's public key in the registry for each present network it is a member of (None where
    the registry has none)."""
    return {name: _pub(_reg(registry, name)[0].get(host))
            for name, net in sorted((fleet.get('networks') or {}).items())
            if host in net['members'] and net['state'] != 'absent'}


def host_config(fleet, registry, host):
    """What `host` configures: one entry per network it is a member of.

    Returns {'networks': [...], 'absent': [names], 'forwarding': bool, 'ipv6': bool,
    'warnings': [...]} where each network is {name, port, mtu, role, addresses, peers, clients,
    local_lans, forward_tunnel, forwarding, masquerade, preshared_keys, expected_peers, missing}.
    Peers carry no preshared key: add them with ``add_preshared_keys()`` at the last moment (no
    secret in facts). ``expected_peers`` lists the host peers (not clients) with their own tunnel
    addresses, bare: [{public_key, name, addresses}] (the metrics prober pings them).
    """
    out = {'networks': [], 'absent': [], 'forwarding': False, 'ipv6': False, 'warnings': []}
    for name, net in sorted((fleet.get('networks') or {}).items()):
        if host not in net['members']:
            continue
        if net['state'] == 'absent':
            out['absent'].append(name)
            continue
        cfg = network_config(net, registry, host)
        out['networks'].append(cfg)
        out['warnings'].extend(cfg.pop('warnings'))
        out['forwarding'] = out['forwarding'] or cfg['forwarding']
        out['ipv6'] = out['ipv6'] or any(_iface(a).version == 6 for a in cfg['addresses'])
    return out


def _collapse(prefixes, pools):
    """Drop prefixes covered by a pool, add the pools; sorted and unique."""
    pool_nets = [_net(p) for p in pools if p]
    keep = []
    for pfx in prefixes:
        n = _net(pfx)
        if any(n.version == pn.version and n.subnet_of(pn) for pn in pool_nets):
            continue
        keep.append(str(n))
    return _sort_nets(keep + [str(pn) for pn in pool_nets])


class _View:
    """One network as the registry and the allocation see it: who has which addresses, who serves
    which clients, where each member is reached."""

    def __init__(self, net, registry):
        self.net = net
        self.reg_hosts, self.reg_clients = _reg(registry, net['name'])
        alloc = allocate_network(net, ((registry or {}).get('networks') or {}).get(net['name']))
        self.errors = list(alloc['errors'])
        self.addresses = {h: alloc['hosts'].get(h, []) for h in net['members']}
        self.caddr = alloc['clients']
        self.clients_of = {}
        for c in net['clients']:
            self.clients_of.setdefault(c['host'], []).append(c)

    def own(self, y):
        return [host_prefix(a) for a in self.addresses.get(y, [])] + list(self.net['lans'].get(y, []))

    def served(self, y):
        out = self.own(y)
        for c in self.clients_of.get(y, []):
            out += [host_prefix(a) for a in self.caddr.get(c['name'], [])]
        return out

    def endpoint_of(self, y):
        entry = self.reg_hosts.get(y) or {}
        ep = entry.get('endpoint')
        if not ep:
            return None
        return format_endpoint(ep, entry.get('port') or self.net['port'])

    def pools(self):
        return [self.net['ipv4_pool'], self.net['ipv6_pool']]


def _role(net, host):
    if net['topology'] == 'hub_and_spoke':
        return 'hub' if host in net['hubs'] else 'spoke'
    if net['topology'] == 'site_to_site':
        return 'gateway'
    return 'member'


def _hub_links(view, host, role):
    """hub_and_spoke: a hub peers with the other hubs (carrying their spokes) and its own spokes;
    a spoke peers with its primary hub only, which carries everything."""
    net = view.net
    links = {}
    if role == 'hub':
        for y in net['members']:
            if y == host:
                continue
            if y in net['hubs']:
                pfx = view.served(y)
                for s, hub in sorted(net['primary_hub'].items()):
                    if hub == y:
                        pfx += view.served(s)
                links[y] = pfx
            elif net['primary_hub'].get(y) == host:
                links[y] = view.served(y)
        return links
    hub = net['primary_hub'].get(host)
    if hub:
        others = []
        for y in net['members']:
            if y != host:
                others += view.served(y)
        links[hub] = _collapse(others, view.pools())
    return links


def _links(view, host, role):
    """Who this host peers with, and what each peer carries: {peer: [prefixes]}."""
    net = view.net
    if net['topology'] in ('mesh', 'site_to_site'):
        return {y: view.served(y) for y in net['members'] if y != host}
    if net['topology'] == 'groups':
        links = {}
        for g in [g for g, hs in net['peer_groups'].items() if host in hs]:
            for y in net['peer_groups'][g]:
                if y != host:
                    links[y] = view.served(y)
        return links
    return _hub_links(view, host, role)


def _host_peers(view, host, links, i_have_endpoint, warnings):
    """(peers, expected_peers) for the member peers that published a key."""
    net = view.net
    peers = []
    expected_peers = []  # the metrics prober's targets: each host peer's own tunnel addresses
    for y in sorted(links):
        entry = view.reg_hosts.get(y)
        if not _pub(entry):
            continue
        expected_peers.append({'public_key': entry['public_key'], 'name': y,
                               'addresses': [str(_iface(a).ip) for a in view.addresses.get(y, [])]})
        ep = view.endpoint_of(y)
        keepalive = net['keepalive'] if (not i_have_endpoint and ep) else 0
        if not ep and not i_have_endpoint:
            warnings.append(f'network {net["name"]}: {host} and {y} both have no endpoint '
                            '(wireguard_endpoint is empty on both): they cannot reach each other '
                            'directly')
        peer = {'public_key': entry['public_key'], 'name': y, 'endpoint': ep,
                'allowed_ips': _sort_nets(links[y]), 'persistent_keepalive': keepalive}
        if entry.get('previous_public_key'):
            peer['previous_public_key'] = entry['previous_public_key']
        peers.append(peer)
    return peers, expected_peers


def _client_peers(view, host, me, warnings):
    """(peers, client configs) for the clients attached to this host."""
    net = view.net
    name = net['name']
    peers, my_clients, everything = [], [], []
    for y in net['members']:
        everything += view.served(y)
    default_client_allowed = _collapse(everything, view.pools())
    my_endpoint = format_endpoint(me['endpoint'], net['port']) if me.get('endpoint') else None
    for c in view.clients_of.get(host, []):
        creg = view.reg_clients.get(c['name']) or {}
        c_addrs = view.caddr.get(c['name'], [])
        pub = _pub(creg)
        if pub:
            peers.append({'public_key': pub, 'name': 'client ' + c['name'], 'endpoint': None,
                          'allowed_ips': _sort_nets(host_prefix(a) for a in c_addrs),
                          'persistent_keepalive': 0})
        endpoint = format_endpoint(c['endpoint'], net['port']) if c['endpoint'] else my_endpoint
        if not endpoint:
            warnings.append('network {}: client {} has no endpoint to connect to: set the client\'s '
                            'endpoint or wireguard_endpoint on {}'.format(name, c['name'], host))
        my_clients.append({
            'name': c['name'], 'network': name, 'addresses': c_addrs,
            'allowed_ips': c['allowed_ips'] or default_client_allowed, 'dns': c['dns'],
            'keepalive': c['keepalive'], 'endpoint': endpoint, 'mtu': c['mtu'] or net['mtu'],
            'public_key': pub, 'preshared_keys': net['preshared_keys'],
        })
    return peers, my_clients


def _missing_warnings(net, view, host):
    """(members without a key in the registry, the warning about them)."""
    present = [h for h in net['members'] if _pub(view.reg_hosts.get(h))]
    missing = [h for h in net['members'] if h not in present and h != host]
    if not missing:
        return missing, []
    one = len(missing) == 1
    return missing, ['network {}: {} not configured yet (no public key in the registry): no peer '
                     'for {} until {} run{} once'.format(
                         net['name'], ', '.join(missing[:10]), 'it' if one else 'them',
                         'it' if one else 'they', 's' if one else '')]


def network_config(net, registry, host):
    """One host's view of one normalized network (see host_config)."""
    view = _View(net, registry)
    missing, warnings = _missing_warnings(net, view, host)
    me = view.reg_hosts.get(host) or {}
    role = _role(net, host)
    links = _links(view, host, role)
    peers, expected_peers = _host_peers(view, host, links, bool(me.get('endpoint')), warnings)
    more_peers, my_clients = _client_peers(view, host, me, warnings)
    peers += more_peers
    forward_tunnel = role == 'hub' or bool(view.clients_of.get(host))
    local_lans = list(net['lans'].get(host, []))
    forwarding = forward_tunnel or bool(local_lans) or net['masquerade']
    return {
        'name': net['name'], 'port': net['port'], 'mtu': net['mtu'], 'role': role,
        'addresses': view.addresses.get(host, []), 'peers': peers, 'clients': my_clients,
        'local_lans': local_lans, 'forward_tunnel': forward_tunnel, 'forwarding': forwarding,
        'masquerade': net['masquerade'], 'preshared_keys': net['preshared_keys'],
        'site': _site_of_net(net, host), 'hub': net['primary_hub'].get(host),
        'expected_peers': expected_peers, 'missing': missing, 'warnings': warnings + view.errors,
    }


# --------------------------------------------------------------------------- registry entries

def registry_entry(fleet_net, host, public_key, endpoint, addresses, old_entry=None):
    """The public record a host publishes for one network (never a secret).

    When the host's key changed since OLD_ENTRY, the old key is kept as previous_public_key: its
    peers then know the swap is legitimate (wireguard_interface's live-peer guard); an unchanged
    key keeps the previous_public_key it had.
    """
    old_entry = old_entry or {}
    entry = {
        'public_key': public_key,
        'endpoint': endpoint or '',
        'port': fleet_net['port'],
        'addresses': list(addresses or []),
        'role': 'member',
    }
    if fleet_net['topology'] == 'hub_and_spoke':
        entry['role'] = 'hub' if host in fleet_net['hubs'] else 'spoke'
        if host in fleet_net['primary_hub']:
            entry['hub'] = fleet_net['primary_hub'][host]
    elif fleet_net['topology'] == 'site_to_site':
        entry['role'] = 'gateway'
    lans = fleet_net['lans'].get(host)
    if lans:
        entry['lans'] = list(lans)
    site = _site_of_net(fleet_net, host)
    if site:
        entry['site'] = site
    old_key = old_entry.get('public_key')
    if old_key and old_key != public_key:
        entry['previous_public_key'] = old_key
    elif old_entry.get('previous_public_key') and old_entry['previous_public_key'] != public_key:
        entry['previous_public_key'] = old_entry['previous_public_key']
    for field in ('next_public_key', 'key_created'):  # reserved for key rotation: kept as they are
        if field in old_entry:
            entry[field] = old_entry[field]
    return entry
