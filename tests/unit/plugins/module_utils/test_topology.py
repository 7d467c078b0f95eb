"""Unit tests for _topology: normalization, validation, allocation, peers, routing.

A small simulator of WireGuard's cryptokey routing (longest allowed-IP match to pick the peer on
send, source address must be in the sender's allowed IPs on receive) checks that every topology
actually delivers packets both ways, not only that the lists look plausible.
"""

import ipaddress
import random

import pytest

from ansible_collections.meshlab.wireguard.plugins.module_utils import _topology as t

LAN = {
    'a': ['203.0.113.0/27', 'fd3a:6c1e:9b42:a1::/64'],
    'b': ['203.0.113.32/27', 'fd3a:6c1e:9b42:a2::/64'],
    'c': ['203.0.113.64/27', 'fd3a:6c1e:9b42:a3::/64'],
}


def key(name):
    """A fake but well-formed public key per name."""
    import base64
    import hashlib
    return base64.b64encode(hashlib.sha256(name.encode()).digest()).decode()


def groups_of(hosts, **extra):
    g = {'all': list(hosts), 'ungrouped': []}
    g.update(extra)
    return g


def net(**kw):
    base = {'name': 'wg0', 'port': 51820, 'ipv4_pool': '100.64.0.0/24',
            'ipv6_pool': 'fd3a:6c1e:9b42:100::/64'}
    base.update(kw)
    return base


def publish_all(fleet, hosts, endpoints=None, registry=None):
    """What the role's registry step does for each host (in some order)."""
    registry = registry or {'version': 1, 'networks': {}}
    for h in hosts:
        for name, n in fleet['networks'].items():
            if h not in n['members']:
                continue
            alloc = t.allocate_network(n, registry['networks'].get(name))
            ep = (endpoints or {}).get(h, f'198.51.100.{10 + int(h.strip("hspokecli") or 0)}')
            entry = t.registry_entry(n, h, key(h + name), ep, alloc['hosts'][h])
            reg_net = registry['networks'].setdefault(name, {'hosts': {}, 'clients': {}})
            reg_net['hosts'][h] = entry
            for c in n['clients']:
                if c['host'] == h:
                    reg_net['clients'][c['name']] = {'public_key': key('client' + c['name']),
                                                     'addresses': alloc['clients'][c['name']],
                                                     'host': h}
    return registry


# --------------------------------------------------------------------------- simulator

def simulate(fleet, registry, network):
    """{node: {'addrs': [ip], 'lans': [net], 'peers': {pubkey-owner: [allowed]}}} for members
    and clients of one network, as their interfaces would hold them."""
    n = fleet['networks'][network]
    owner = {}
    nodes = {}
    for h in n['members']:
        cfg = t.network_config(n, registry, h)
        owner[key(h + network)] = h
        nodes[h] = {'addrs': [str(ipaddress.ip_interface(a).ip) for a in cfg['addresses']],
                    'lans': cfg['local_lans'], 'peers_raw': cfg['peers'], 'clients': cfg['clients']}
    for h in list(nodes):
        for c in nodes[h]['clients']:
            owner[key('client' + c['name'])] = 'client:' + c['name']
            nodes['client:' + c['name']] = {
                'addrs': [str(ipaddress.ip_interface(a).ip) for a in c['addresses']], 'lans': [],
                'peers_raw': [{'public_key': key(h + network), 'allowed_ips': c['allowed_ips']}],
                'clients': []}
    for node in nodes.values():
        node['peers'] = {owner[p['public_key']]: p['allowed_ips'] for p in node['peers_raw']}
    return nodes


def lookup(peers, dst):
    ip = ipaddress.ip_address(dst)
    best = None
    for peer, allowed in peers.items():
        for a in allowed:
            na = ipaddress.ip_network(a)
            if na.version == ip.version and ip in na and (best is None or na.prefixlen > best[0]):
                best = (na.prefixlen, peer)
    return best[1] if best else None


def deliver(nodes, src_node, src_ip, dst_ip, max_hops=5):
    """Follow the packet; returns the path or raises AssertionError naming the failure."""
    path = [src_node]
    here = src_node
    for _hop in range(max_hops):
        node = nodes[here]
        if dst_ip in node['addrs'] or any(
                ipaddress.ip_address(dst_ip) in ipaddress.ip_network(lan) for lan in node['lans']):
            return path
        nxt = lookup(node['peers'], dst_ip)
        assert nxt is not None, f'{here} has no route to {dst_ip} (path {path})'
        # receive check: src must be in the allowed IPs the receiver holds for the sender
        back = nodes[nxt]['peers'].get(here)
        assert back is not None, f'{nxt} does not have {here} as a peer'
        assert lookup({here: back}, src_ip) == here, \
            f'{nxt} drops {src_ip}->{dst_ip} from {here}: not in allowed IPs {back} (path {path})'
        path.append(nxt)
        here = nxt
    raise AssertionError(f'loop delivering {src_ip}->{dst_ip}: {path}')


def all_pairs(nodes, families=(4, 6)):
    """Every node's every address (and LAN .10 hosts) reaches every other node's, both ways."""
    endpoints = []
    for name, node in nodes.items():
        for a in node['addrs']:
            endpoints.append((name, a))
        for lan in node['lans']:
            endpoints.append((name, str(ipaddress.ip_network(lan)[10])))
    paths = {}
    for sn, sa in endpoints:
        for dn, da in endpoints:
            if sn == dn or ipaddress.ip_address(sa).version != ipaddress.ip_address(da).version:
                continue
            if ipaddress.ip_address(sa).version not in families:
                continue
            paths[(sn, dn, sa, da)] = deliver(nodes, sn, sa, da)
    return paths


def no_duplicate_allowed(nodes):
    for name, node in nodes.items():
        seen = {}
        for peer, allowed in node['peers'].items():
            for a in allowed:
                assert a not in seen, f'{name}: {a} on peers {seen[a]} and {peer}'
                seen[a] = peer


# --------------------------------------------------------------------------- allocation

def test_allocation_is_order_independent_and_stable():
    names = [f'h{i}' for i in range(1, 40)]
    a, un = t.allocate_pool('100.64.0.0/24', names, 'wg0')
    shuffled = names[:]
    random.Random(7).shuffle(shuffled)  # noqa: S311 - a fixed test order
    b = t.allocate_pool('100.64.0.0/24', shuffled, 'wg0')[0]
    assert a == b and not un
    assert len(set(a.values())) == len(names)
    for v in a.values():
        ip = ipaddress.ip_interface(v)
        assert ip.network == ipaddress.ip_network('100.64.0.0/24')
        assert str(ip.ip) not in ('100.64.0.0', '100.64.0.255')


def test_adding_a_host_never_moves_another_with_pins():
    names = [f'h{i}' for i in range(1, 20)]
    first = t.allocate_pool('100.64.0.0/27', names, 'wg0')[0]
    # a newcomer whose hash slot may collide: with pins from the registry nobody moves
    second = t.allocate_pool('100.64.0.0/27', [*names, 'zz-new'], 'wg0', pinned=first)[0]
    for n in names:
        assert second[n] == first[n]
    assert second['zz-new'] not in first.values()


def test_pool_exhaustion_reported():
    fleet = t.normalize([net(ipv4_pool='100.64.0.0/30', ipv6_pool=None)], [],
                        groups_of(['h1', 'h2', 'h3']), {})
    errs = t.validate(fleet, {})
    assert any('exhausted' in e and 'ipv4_pool' in e for e in errs), errs


def test_ipv6_follows_ipv4_host_number():
    fleet = t.normalize([net()], [], groups_of(['h1', 'h2', 'h3']), {})
    alloc = t.allocate_network(fleet['networks']['wg0'])
    for addrs in alloc['hosts'].values():
        v4, v6 = (ipaddress.ip_interface(a) for a in addrs)
        assert int(v4.ip) - int(v4.network.network_address) == int(v6.ip) - int(v6.network.network_address)
        assert v4.network.prefixlen == 24 and v6.network.prefixlen == 64


def test_explicit_addresses_are_reserved_and_pins_survive_registry():
    hv = {'h1': {'wireguard_addresses': {'wg0': ['100.64.0.1/24']}}}
    fleet = t.normalize([net(ipv6_pool=None)], [], groups_of(['h1', 'h2', 'h3']), hv)
    alloc = t.allocate_network(fleet['networks']['wg0'])
    assert alloc['hosts']['h1'] == ['100.64.0.1/24']
    assert '100.64.0.1/24' not in alloc['hosts']['h2'] + alloc['hosts']['h3']
    reg = {'hosts': {'h2': {'addresses': ['100.64.0.77/24']}, 'gone': {'addresses': ['100.64.0.78/24']}}}
    alloc2 = t.allocate_network(fleet['networks']['wg0'], reg)
    assert alloc2['hosts']['h2'] == ['100.64.0.77/24']
    assert '100.64.0.78/24' not in alloc2['hosts']['h3']  # a stale entry's address is not reused


# --------------------------------------------------------------------------- validation

def errors_for(networks, sites=None, hosts=('h1', 'h2', 'h3'), hv=None, extra_groups=None, registry=None):
    fleet = t.normalize(networks, sites or [], groups_of(list(hosts), **(extra_groups or {})), hv or {})
    return t.validate(fleet, registry or {})


def test_valid_site_to_site_has_no_errors():
    sites = [{'name': s, 'hosts': [f'h{i}'], 'lans': LAN[s]} for i, s in enumerate('abc', 1)]
    assert errors_for([net(topology='site_to_site', preshared_keys=True)], sites) == []


def test_duplicate_tunnel_address():
    hv = {'h1': {'wireguard_addresses': {'wg0': ['100.64.0.5/24']}},
          'h2': {'wireguard_addresses': {'wg0': ['100.64.0.5/24']}}}
    errs = errors_for([net()], hv=hv)
    assert any('duplicate tunnel address 100.64.0.5' in e and 'wireguard_addresses.wg0' in e for e in errs)


def test_duplicate_with_registry_pin():
    hv = {'h1': {'wireguard_addresses': {'wg0': ['100.64.0.77/24']}}}
    reg = {'networks': {'wg0': {'hosts': {'h2': {'addresses': ['100.64.0.77/24']}}}}}
    fleet = t.normalize([net(ipv6_pool=None)], [], groups_of(['h1', 'h2']), hv)
    # the explicit address is h2's in the registry: refused (h2 is never renumbered silently),
    # by the check and by the allocation the publish does under the lock
    alloc = t.allocate_network(fleet['networks']['wg0'], reg['networks']['wg0'])
    errs = t.validate(fleet, reg)
    for found in (alloc['errors'], errs):
        assert any('wireguard_addresses.wg0 of host h1: 100.64.0.77 is already allocated to host h2' in e
                   and 'choose a free address' in e for e in found), found
    # a stale entry (h9 left the network) is named as such, with prune as a way out
    reg['networks']['wg0']['hosts'] = {'h9': {'addresses': ['100.64.0.77/24']}}
    assert any('host h9' in e and 'stale' in e and 'wireguard_registry_prune' in e
               for e in t.validate(fleet, reg))


def test_pool_change_would_renumber():
    reg = {'networks': {'wg0': {'hosts': {'h1': {'addresses': ['100.64.0.7/24']},
                                          'h2': {'addresses': ['100.64.0.8/24']}}}}}
    moved = t.normalize([net(ipv6_pool=None, ipv4_pool='100.64.9.0/24')], [], groups_of(['h1', 'h2']), {})
    errs = t.validate(moved, reg)
    assert any('ipv4_pool: 100.64.9.0/24 no longer holds' in e and 'host h1 (100.64.0.7/24)' in e
               and 'renumber: true' in e for e in errs), errs
    shrunk = t.normalize([net(ipv6_pool=None, ipv4_pool='100.64.0.0/29')], [], groups_of(['h1', 'h2']), {})
    assert any('host h2 (100.64.0.8/24)' in e for e in t.validate(shrunk, reg))
    on_purpose = t.normalize([net(ipv6_pool=None, ipv4_pool='100.64.9.0/24', renumber=True)], [],
                             groups_of(['h1', 'h2']), {})
    assert t.validate(on_purpose, reg) == []


def test_overlapping_lans():
    sites = [{'name': 'a', 'hosts': ['h1'], 'lans': ['203.0.113.0/26']},
             {'name': 'b', 'hosts': ['h2'], 'lans': ['203.0.113.32/27']}]
    errs = errors_for([net()], sites)
    assert any('LANs overlap' in e and '203.0.113.0/26' in e and 'disjoint' in e for e in errs)


def test_lan_overlapping_pool():
    sites = [{'name': 'a', 'hosts': ['h1'], 'lans': ['100.64.0.128/25']}]
    errs = errors_for([net()], sites)
    assert any('overlaps ipv4_pool' in e for e in errs)


def test_unknown_hub():
    errs = errors_for([net(topology='hub_and_spoke', hubs=['h9'])])
    assert any("unknown hub 'h9'" in e for e in errs)
    errs = errors_for([net(topology='hub_and_spoke', group='g', hubs=['h3'])],
                      extra_groups={'g': ['h1', 'h2']})
    assert any("unknown hub 'h3'" in e and 'not a member' in e for e in errs)


def test_host_in_two_sites():
    sites = [{'name': 'a', 'hosts': ['h1'], 'lans': LAN['a']},
             {'name': 'b', 'group': 'bgrp', 'lans': LAN['b']}]
    errs = errors_for([net()], sites, extra_groups={'bgrp': ['h1', 'h2']})
    assert any('h1 is in two sites, a and b' in e for e in errs), errs


def test_two_networks_on_one_port():
    errs = errors_for([net(), net(name='wg1', ipv4_pool='100.64.1.0/24', ipv6_pool=None)])
    assert any('two networks on one port' in e and '51820' in e for e in errs)
    assert errors_for([net(), net(name='wg1', port=51821, ipv4_pool='100.64.1.0/24',
                                  ipv6_pool='fd3a:6c1e:9b42:101::/64')]) == []


def test_misc_input_errors_name_the_variable():
    errs = errors_for([net(topology='star', prot=1), {'name': 'this-name-is-too-long'}])
    assert any("wireguard_networks[0] (wg0).topology: 'star'" in e for e in errs)
    assert any("unknown key 'prot'" in e for e in errs)
    assert any('wireguard_networks[1].name' in e for e in errs)
    errs = errors_for([net(topology='site_to_site')])
    assert any('host h1 is in no site' in e for e in errs)
    errs = errors_for([net(ipv4_pool=None, ipv6_pool=None)])
    assert any('has no tunnel address' in e for e in errs)
    errs = errors_for([net(group='nope')])
    assert any("inventory group 'nope' does not exist" in e for e in errs)
    errs = errors_for([net(topology='hub_and_spoke')])
    assert any('needs at least one hub' in e for e in errs)
    errs = errors_for([net(clients=[{'name': 'phone'}])])
    assert any('clients[0] (phone).host: missing' in e for e in errs)


# --------------------------------------------------------------------------- topologies

def test_site_to_site_lan_to_lan_through_the_mesh():
    hosts = ['h1', 'h2', 'h3']
    sites = [{'name': s, 'hosts': [f'h{i}'], 'lans': LAN[s]} for i, s in enumerate('abc', 1)]
    fleet = t.normalize([net(topology='site_to_site')], sites, groups_of(hosts), {})
    assert fleet['errors'] == []
    reg = publish_all(fleet, hosts)
    cfg = t.network_config(fleet['networks']['wg0'], reg, 'h1')
    assert cfg['role'] == 'gateway' and cfg['forwarding'] and cfg['local_lans'] == LAN['a']
    by_name = {p['name']: p for p in cfg['peers']}
    assert set(by_name) == {'h2', 'h3'}
    assert '203.0.113.64/27' in by_name['h3']['allowed_ips']
    assert by_name['h3']['endpoint'] == '198.51.100.13:51820'
    assert by_name['h3']['persistent_keepalive'] == 0
    expected = {p['name']: p['addresses'] for p in cfg['expected_peers']}
    hosts = reg['networks']['wg0']['hosts']
    assert expected == {h: [a.split('/', maxsplit=1)[0] for a in hosts[h]['addresses']]
                        for h in ('h2', 'h3')}  # tunnel addresses only, not the site LANs
    nodes = simulate(fleet, reg, 'wg0')
    no_duplicate_allowed(nodes)
    paths = all_pairs(nodes)
    assert paths[('h1', 'h3', '203.0.113.10', '203.0.113.74')] == ['h1', 'h3']


def test_mesh_every_pair_direct():
    hosts = [f'h{i}' for i in range(1, 6)]
    fleet = t.normalize([net()], [], groups_of(hosts), {})
    reg = publish_all(fleet, hosts)
    nodes = simulate(fleet, reg, 'wg0')
    no_duplicate_allowed(nodes)
    for path in all_pairs(nodes).values():
        assert len(path) == 2


@pytest.mark.parametrize('hubs', [['h1'], ['h1', 'h2'], ['h1', 'h2', 'h3']])
def test_hub_and_spoke_spokes_talk_through_hubs(hubs):
    hosts = [f'h{i}' for i in range(1, 9)]
    sites = [{'name': 'a', 'hosts': ['h5'], 'lans': LAN['a']}]
    clients = [{'name': 'phone', 'host': hubs[-1]}, {'name': 'laptop'}]
    fleet = t.normalize([net(topology='hub_and_spoke', hubs=hubs, clients=clients)], sites,
                        groups_of(hosts), {})
    assert fleet['errors'] == [], fleet['errors']
    reg = publish_all(fleet, hosts)
    nodes = simulate(fleet, reg, 'wg0')
    no_duplicate_allowed(nodes)
    paths = all_pairs(nodes)
    spokes = [h for h in hosts if h not in hubs]
    for (sn, dn, _sa, _da), path in paths.items():
        if sn in spokes and dn in spokes:
            assert len(path) >= 3 and all(p in hubs for p in path[1:-1]), path
    for s in spokes:
        assert len(nodes[s]['peers']) == 1  # a spoke has exactly its primary hub
        hub = fleet['networks']['wg0']['primary_hub'][s]
        cfg = t.network_config(fleet['networks']['wg0'], reg, s)
        assert cfg['role'] == 'spoke' and cfg['hub'] == hub
        assert '100.64.0.0/24' in cfg['peers'][0]['allowed_ips']
    for h in hubs:
        cfg = t.network_config(fleet['networks']['wg0'], reg, h)
        assert cfg['role'] == 'hub' and cfg['forward_tunnel'] and cfg['forwarding']
    # what the metrics prober pings: each host peer's own tunnel address, never a client or a LAN
    spoke = spokes[0]
    cfg = t.network_config(fleet['networks']['wg0'], reg, spoke)
    hub = cfg['hub']
    hub_addrs = [a.split('/', maxsplit=1)[0] for a in reg['networks']['wg0']['hosts'][hub]['addresses']]
    hub_key = reg['networks']['wg0']['hosts'][hub]['public_key']
    assert hub_addrs
    assert cfg['expected_peers'] == [{'public_key': hub_key, 'name': hub, 'addresses': hub_addrs}]
    cfg = t.network_config(fleet['networks']['wg0'], reg, hubs[-1])
    assert [p['name'] for p in cfg['expected_peers']] == [p['name'] for p in cfg['peers']
                                                          if not p['name'].startswith('client ')]
    assert all('/' not in a for p in cfg['expected_peers'] for a in p['addresses'])


def test_primary_hub_override_and_rendezvous_stability():
    hosts = [f'h{i}' for i in range(1, 30)]
    fleet2 = t.normalize([net(topology='hub_and_spoke', hubs=['h1', 'h2'])], [], groups_of(hosts), {})
    fleet3 = t.normalize([net(topology='hub_and_spoke', hubs=['h1', 'h2', 'h3'])], [], groups_of(hosts), {})
    p2, p3 = fleet2['networks']['wg0']['primary_hub'], fleet3['networks']['wg0']['primary_hub']
    moved = [s for s in p2 if s in p3 and p2[s] != p3[s]]
    assert all(p3[s] == 'h3' for s in moved)  # only spokes that now prefer the new hub move
    hv = {'h9': {'wireguard_primary_hub': {'wg0': 'h2'}}}
    fleet = t.normalize([net(topology='hub_and_spoke', hubs=['h1', 'h2'])], [], groups_of(hosts), hv)
    assert fleet['networks']['wg0']['primary_hub']['h9'] == 'h2'
    hv = {'h9': {'wireguard_primary_hub': {'wg0': 'h7'}}}
    fleet = t.normalize([net(topology='hub_and_spoke', hubs=['h1', 'h2'])], [], groups_of(hosts), hv)
    assert any("wireguard_primary_hub.wg0 is 'h7'" in e for e in fleet['errors'])


def test_groups_topology_only_within_groups():
    hosts = ['h1', 'h2', 'h3', 'h4']
    fleet = t.normalize([net(topology='groups', peer_groups={'x': ['h1', 'h2'], 'y': ['h2', 'h3']})],
                        [], groups_of(hosts), {})
    reg = publish_all(fleet, hosts)
    n = fleet['networks']['wg0']
    assert [p['name'] for p in t.network_config(n, reg, 'h1')['peers']] == ['h2']
    assert [p['name'] for p in t.network_config(n, reg, 'h2')['peers']] == ['h1', 'h3']
    assert t.network_config(n, reg, 'h4')['peers'] == []
    assert any('h4 is in no peer group' in w for w in fleet['warnings'])


def test_keepalive_only_for_hosts_behind_nat():
    hosts = ['h1', 'h2', 'h3']
    fleet = t.normalize([net()], [], groups_of(hosts), {})
    reg = publish_all(fleet, hosts, endpoints={'h1': '198.51.100.11', 'h2': '', 'h3': 'gw3.example.net'})
    n = fleet['networks']['wg0']
    h2 = {p['name']: p for p in t.network_config(n, reg, 'h2')['peers']}
    assert h2['h1']['persistent_keepalive'] == 25 and h2['h3']['endpoint'] == 'gw3.example.net:51820'
    h1 = {p['name']: p for p in t.network_config(n, reg, 'h1')['peers']}
    assert h1['h2']['endpoint'] is None and h1['h2']['persistent_keepalive'] == 0
    assert h1['h3']['persistent_keepalive'] == 0


def test_limit_cannot_shrink_peers():
    """Peers come from inventory membership + registry, never from the play's hosts."""
    hosts = ['h1', 'h2', 'h3']
    fleet = t.normalize([net()], [], groups_of(hosts), {})
    reg = publish_all(fleet, hosts)
    # a later run limited to h1 sees the same fleet (inventory) and registry: same peers
    before = t.network_config(fleet['networks']['wg0'], reg, 'h1')['peers']
    reg2 = publish_all(fleet, ['h1'], registry=reg)
    assert t.network_config(fleet['networks']['wg0'], reg2, 'h1')['peers'] == before
    assert len(before) == 2


def test_missing_registry_entry_is_a_warning_not_a_removal():
    hosts = ['h1', 'h2', 'h3']
    fleet = t.normalize([net()], [], groups_of(hosts), {})
    reg = publish_all(fleet, ['h1', 'h2'])
    cfg = t.network_config(fleet['networks']['wg0'], reg, 'h1')
    assert [p['name'] for p in cfg['peers']] == ['h2']
    assert cfg['missing'] == ['h3'] and 'h3 not configured yet' in cfg['warnings'][0]


def test_psk_is_symmetric_and_pair_specific():
    a, b, c = key('a'), key('b'), key('c')
    assert t.derive_psk('s' * 32, 'wg0', a, b) == t.derive_psk('s' * 32, 'wg0', b, a)
    assert t.derive_psk('s' * 32, 'wg0', a, b) != t.derive_psk('s' * 32, 'wg0', a, c)
    assert t.derive_psk('s' * 32, 'wg0', a, b) != t.derive_psk('s' * 32, 'wg1', a, b)
    assert t.derive_psk('s' * 32, 'wg0', a, b) != t.derive_psk('t' * 32, 'wg0', a, b)
    assert len(t.derive_psk('s' * 32, 'wg0', a, b)) == 44
    peers = t.add_preshared_keys([{'public_key': b, 'name': 'x'}], 's' * 32, 'wg0', a)
    assert peers[0]['preshared_key'] == t.derive_psk('s' * 32, 'wg0', a, b)
    with pytest.raises(ValueError):
        t.derive_psk('', 'wg0', a, b)


def test_host_config_lists_absent_networks_and_flags():
    hosts = ['h1', 'h2']
    fleet = t.normalize([net(), net(name='old', port=51821, state='absent', ipv4_pool=None, ipv6_pool=None)],
                        [], groups_of(hosts), {})
    assert fleet['errors'] == []
    reg = publish_all(fleet, hosts)
    hc = t.host_config(fleet, reg, 'h1')
    assert hc['absent'] == ['old'] and [n['name'] for n in hc['networks']] == ['wg0']
    assert hc['ipv6'] is True and hc['forwarding'] is False


def test_client_routes_in_mesh():
    hosts = ['h1', 'h2', 'h3']
    sites = [{'name': 'a', 'hosts': ['h2'], 'lans': LAN['a']}]
    fleet = t.normalize([net(clients=[{'name': 'phone', 'host': 'h1', 'dns': ['100.64.0.1']}])], sites,
                        groups_of(hosts), {})
    reg = publish_all(fleet, hosts)
    nodes = simulate(fleet, reg, 'wg0')
    no_duplicate_allowed(nodes)
    paths = all_pairs(nodes)
    assert paths[('client:phone', 'h2', nodes['client:phone']['addrs'][0], nodes['h2']['addrs'][0])] \
        == ['client:phone', 'h1', 'h2']
    cfg = t.network_config(fleet['networks']['wg0'], reg, 'h1')
    client = cfg['clients'][0]
    assert client['endpoint'] == '198.51.100.11:51820' and client['dns'] == ['100.64.0.1']
    assert '203.0.113.0/27' in client['allowed_ips'] and '100.64.0.0/24' in client['allowed_ips']
    assert cfg['forward_tunnel'] and cfg['forwarding']


def test_registry_entry_has_no_secret_fields():
    fleet = t.normalize([net(topology='hub_and_spoke', hubs=['h1'])], [], groups_of(['h1', 'h2']), {})
    entry = t.registry_entry(fleet['networks']['wg0'], 'h2', key('x'), '198.51.100.12', ['100.64.0.2/24'])
    assert set(entry) <= {'public_key', 'endpoint', 'port', 'addresses', 'role', 'hub', 'lans', 'site'}
    assert entry['role'] == 'spoke' and entry['hub'] == 'h1'


def test_format_endpoint():
    assert t.format_endpoint('fd3a:6c1e:9b42:1::11', 51820) == '[fd3a:6c1e:9b42:1::11]:51820'
    assert t.format_endpoint('[fd3a::1]', 1) == '[fd3a::1]:1'
    assert t.format_endpoint('vpn.example.net', 51820) == 'vpn.example.net:51820'
