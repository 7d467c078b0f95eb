"""Health analysis: every cause, the matrix and the renderings (no host)."""
import base64
import json

import pytest

from ansible_collections.meshlab.wireguard.plugins.module_utils import _health

HOSTS = ('h1', 'h2', 'h3')
NOW = 1_700_000_000


def key(host):
    return base64.b64encode(host.encode().ljust(32, b'k')).decode()


def addr(host):
    return f'100.64.0.{int(host[1:])}'


def side(host):
    return {'host': host, 'interface': 'wg0', 'public_key': key(host),
            'addresses': [addr(host) + '/24'], 'endpoint': f'198.51.100.{10 + int(host[1:])}:51820',
            'listen_port': 51820}


def mesh():
    return [{'network': 'mesh', 'a': side(a), 'b': side(b)}
            for i, a in enumerate(HOSTS) for b in HOSTS[i + 1:]]


def peer(host, age=5):
    return {'public_key': key(host), 'name': host, 'endpoint': side(host)['endpoint'],
            'allowed_ips': [addr(host) + '/32'], 'latest_handshake': NOW - age if age is not None else 0,
            'handshake_age': age, 'rx_bytes': 100, 'tx_bytes': 200, 'persistent_keepalive': 25,
            'status': _health.handshake_status(age)}


def info(host, age=5, skip=(), ages=None):
    ages = ages or {}
    return {'changed': False, 'interfaces': {'wg0': {
        'engine': 'userspace', 'public_key': key(host), 'listen_port': 51820, 'fwmark': 0,
        'addresses': [addr(host) + '/24'],
        'peers': [peer(o, ages.get(o, age)) for o in HOSTS if o != host and o not in skip]}}}


def infos(**over):
    out = {h: info(h) for h in HOSTS}
    out.update(over)
    return out


def pings(failing=()):
    """Every host pings every other; (src, dst) pairs in `failing` fail."""
    return {h: {addr(o): {'ok': (h, o) not in failing, 'rtt_ms': None if (h, o) in failing else 0.4}
                for o in HOSTS if o != h} for h in HOSTS}


def broken_pairs(report):
    return {frozenset((b['a'], b['b'])) for b in report['broken']}


def links_of(host):
    return {frozenset((host, o)) for o in HOSTS if o != host}


def test_handshake_status_threshold():
    assert _health.handshake_status(None) == 'never'
    assert _health.handshake_status(0) == 'up'
    assert _health.handshake_status(179) == 'up'
    assert _health.handshake_status(180) == 'stale'


def test_ping_targets_lists_every_expected_peer_address_once():
    targets = _health.ping_targets(mesh())
    assert targets == {'h1': ['100.64.0.2', '100.64.0.3'], 'h2': ['100.64.0.1', '100.64.0.3'],
                       'h3': ['100.64.0.1', '100.64.0.2']}


def starters_per_link(expected):
    """{(a, b): [hosts that ping the other end first]} for every link."""
    first = _health.handshake_starters(expected)
    out = {}
    for link in expected:
        a, b = link['a']['host'], link['b']['host']
        out[(a, b)] = [h for h, o in ((a, b), (b, a)) if addr(o) in first.get(h, [])]
    return out


def test_handshake_starters_one_end_per_link():
    assert starters_per_link(mesh()) == {('h1', 'h2'): ['h1'], ('h1', 'h3'): ['h1'], ('h2', 'h3'): ['h2']}


def test_handshake_starter_is_the_end_that_can_reach_the_other():
    links = mesh()
    for link in links:  # h1 is behind NAT: nobody can dial it, it must start
        for s in ('a', 'b'):
            if link[s]['host'] == 'h1':
                link[s]['endpoint'] = None
    links[2]['b']['endpoint'] = None  # h3, on the h2-h3 link only: h2 has no way to reach h3
    assert starters_per_link(links) == {('h1', 'h2'): ['h1'], ('h1', 'h3'): ['h1'], ('h2', 'h3'): ['h3']}


def test_handshake_starters_leave_out_skipped_links():
    links = mesh()
    links[0]['skip'] = True
    assert starters_per_link(links)[('h1', 'h2')] == []


def test_healthy_mesh_reports_every_link_up():
    report = _health.analyse(mesh(), infos(), pings(), now=NOW)
    assert report['ok'] is True
    assert report['summary'] == {'links': 3, 'up': 3, 'broken': 0, 'hosts': 3, 'unreachable_hosts': []}
    assert report['broken'] == [] and report['suspects'] == [] and report['warnings'] == []
    matrix = report['networks']['mesh']['matrix']
    assert report['networks']['mesh']['hosts'] == list(HOSTS)
    cell = matrix['h1']['h2']
    assert cell['ok'] and cell['view'] == 'up' and cell['handshake_age'] == 5 and cell['ping'] is True
    assert cell['rtt_ms'] == 0.4
    assert set(matrix['h3']) == {'h1', 'h2'}
    json.dumps(report)  # the playbook writes it as JSON


def test_host_unreachable_breaks_exactly_its_links():
    report = _health.analyse(mesh(), infos(h3={'unreachable': True, 'msg': 'ssh: timeout'}), pings(), now=NOW)
    assert not report['ok']
    assert broken_pairs(report) == links_of('h3')
    assert {b['cause'] for b in report['broken']} == {'host_unreachable'}
    assert {b['culprit'] for b in report['broken']} == {'h3'}
    assert report['suspects'] == ['h3']
    assert report['summary']['unreachable_hosts'] == ['h3']


def test_absent_host_counts_as_unreachable():
    data = infos()
    del data['h2']
    report = _health.analyse(mesh(), data, pings(), now=NOW)
    assert broken_pairs(report) == links_of('h2')
    assert {b['cause'] for b in report['broken']} == {'host_unreachable'}


def test_engine_stopped_interface_missing():
    # The peers still remember a fresh handshake, but pings to h3 fail: the missing interface is the cause.
    fail = {(h, 'h3') for h in HOSTS} | {('h3', h) for h in HOSTS}
    data = infos(h3={'changed': False, 'interfaces': {}})
    report = _health.analyse(mesh(), data, pings(fail), now=NOW)
    assert broken_pairs(report) == links_of('h3')
    for b in report['broken']:
        assert b['cause'] == 'interface_missing' and b['culprit'] == 'h3'
        assert 'engine stopped' in b['detail']
    link = next(s for s in report['links'] if {s['a'], s['b']} == {'h1', 'h3'})
    assert [c['cause'] for c in link['causes']] == ['interface_missing', 'ping_failed', 'ping_failed']
    matrix = report['networks']['mesh']['matrix']
    assert matrix['h3']['h1']['view'] == 'no_interface'
    assert matrix['h1']['h3']['view'] == 'up' and matrix['h1']['h3']['ping'] is False


def test_key_differs_from_registry():
    data = infos()
    data['h3']['interfaces']['wg0']['public_key'] = key('new3')
    report = _health.analyse(mesh(), data, pings(), now=NOW)
    assert broken_pairs(report) == links_of('h3')
    assert {(b['cause'], b['culprit']) for b in report['broken']} == {('key_mismatch', 'h3')}
    assert key('new3') in report['broken'][0]['detail']


def test_peer_missing_on_one_side():
    data = infos(h1=info('h1', skip=('h3',)))
    report = _health.analyse(mesh(), data, pings(), now=NOW)
    assert broken_pairs(report) == {frozenset(('h1', 'h3'))}
    (b,) = report['broken']
    assert b['cause'] == 'peer_missing' and b['culprit'] == 'h1'
    assert key('h3') in b['detail']
    assert report['networks']['mesh']['matrix']['h1']['h3']['view'] == 'no_peer'
    assert report['suspects'] == []


def test_stale_registry_key_on_peer_shows_as_peer_missing_and_warning():
    data = infos()
    wg0 = data['h1']['interfaces']['wg0']
    wg0['peers'] = [p for p in wg0['peers'] if p['public_key'] != key('h3')]
    wg0['peers'].append(dict(peer('h3'), public_key=key('old3')))
    report = _health.analyse(mesh(), data, pings(), now=NOW)
    assert [(b['cause'], b['culprit']) for b in report['broken']] == [('peer_missing', 'h1')]
    assert len(report['warnings']) == 1 and key('old3') in report['warnings'][0]


def test_never_a_handshake_names_endpoint_or_firewall():
    # h3's port is blocked since it came up: nobody ever completed a handshake with it.
    data = {h: info(h, ages={'h3': None}) for h in ('h1', 'h2')}
    data['h3'] = info('h3', age=None)
    fail = {(h, 'h3') for h in HOSTS} | {('h3', h) for h in HOSTS}
    report = _health.analyse(mesh(), data, pings(fail), now=NOW)
    assert broken_pairs(report) == links_of('h3')
    for b in report['broken']:
        assert b['cause'] == 'no_handshake' and b['culprit'] is None
        assert '198.51.100.13:51820' in b['detail'] and 'UDP 51820' in b['detail']
        assert 'firewall' in b['explanation']
    assert report['suspects'] == ['h3']
    assert report['networks']['mesh']['matrix']['h1']['h3']['view'] == 'never'


def test_never_when_one_side_restarted():
    # h3 restarted (no handshake yet), h1 still remembers an old, fresh-looking one.
    data = infos(h3=info('h3', ages={'h1': None}))
    report = _health.analyse(mesh(), data, {}, now=NOW)
    assert [(b['a'], b['b'], b['cause']) for b in report['broken']] == [('h1', 'h3', 'no_handshake')]


def test_no_endpoint_on_either_side():
    links = mesh()
    for link in links:
        link['a']['endpoint'] = link['b']['endpoint'] = None
    data = {h: info(h, age=None) for h in HOSTS}
    report = _health.analyse(links, data, {}, now=NOW)
    assert all('neither side has an endpoint' in b['detail'] for b in report['broken'])
    assert report['suspects'] == []  # everything is broken: no single host to blame


def test_stale_handshake_means_peer_down():
    data = {h: info(h, ages={'h2': 400}) for h in ('h1', 'h3')}
    data['h2'] = info('h2', age=400)
    report = _health.analyse(mesh(), data, {}, now=NOW)
    assert broken_pairs(report) == links_of('h2')
    assert {b['cause'] for b in report['broken']} == {'stale'}
    assert '400s ago' in report['broken'][0]['detail']


def test_fresh_handshake_but_ping_fails():
    report = _health.analyse(mesh(), infos(), pings({('h1', 'h2')}), now=NOW)
    (b,) = report['broken']
    assert (b['a'], b['b'], b['cause']) == ('h1', 'h2', 'ping_failed')
    assert 'ping h1 -> h2 (100.64.0.2) failed' in b['detail']
    assert report['networks']['mesh']['matrix']['h2']['h1']['ping'] is True


def test_missing_ping_results_are_not_failures():
    report = _health.analyse(mesh(), infos(), {}, now=NOW)
    assert report['ok']
    assert report['networks']['mesh']['matrix']['h1']['h2']['ping'] is None


def test_age_from_epoch_when_no_age_given():
    data = infos()
    for res in data.values():
        for p in res['interfaces']['wg0']['peers']:
            p['handshake_age'] = None
            p['latest_handshake'] = NOW - 500
    report = _health.analyse(mesh(), data, {}, now=NOW)
    assert {b['cause'] for b in report['broken']} == {'stale'}
    assert report['links'][0]['handshake_age'] == 500


@pytest.mark.parametrize('case', ['healthy', 'broken'])
def test_renderings(case):
    data = infos() if case == 'healthy' else infos(h3={'interfaces': {}})
    report = _health.analyse(mesh(), data, pings(), now=NOW)
    text = '\n'.join(_health.render_text(report))
    assert 'network mesh' in text
    html = _health.render_html(report)
    assert html.startswith('<!DOCTYPE html>') and html.rstrip().endswith('</html>')
    if case == 'healthy':
        assert '3 of 3 links up, 0 broken' in text and 'BROKEN' not in text
        assert '5s/ok' in text and 'healthy' in html and 'class="broken"' not in html
    else:
        assert 'BROKEN h1 <-> h3 (mesh): interface_missing on h3' in text
        assert 'BROKEN h2 <-> h3 (mesh): interface_missing on h3' in text
        assert '!no-if/ok' in text and '!5s/ok' in text
        assert 'every link broken on: h3' in text
        assert '2 broken links' in html and 'class="broken"' in html


def test_text_matrix_layout():
    report = _health.analyse(mesh(), infos(), pings(), now=NOW)
    lines = _health.render_text(report)
    assert lines[1].split() == ['h1', 'h2', 'h3']
    assert lines[2].split() == ['h1', '-', '5s/ok', '5s/ok']


def test_html_escapes_names():
    links = mesh()
    links[0]['network'] = '<net>'
    report = _health.analyse(links, infos(), {}, now=NOW)
    html = _health.render_html(report)
    assert '<net>' not in html and '&lt;net&gt;' in html


def test_no_secret_fields_in_report():
    data = infos()
    data['h1']['interfaces']['wg0']['private_key'] = 'SECRET'
    report = _health.analyse(mesh(), data, pings(), now=NOW)
    assert 'SECRET' not in json.dumps(report)


# --------------------------------------------------------------------------- expected links

def _fleet(networks, hosts=('h1', 'h2', 'h3')):
    from ansible_collections.meshlab.wireguard.plugins.module_utils import _topology

    fleet = _topology.normalize(networks, [], {'all': list(hosts)}, {})
    assert fleet['errors'] == []
    return fleet


def _registry(net, hosts, endpoint=True):
    return {'version': 1, 'networks': {net: {'hosts': {
        h: {'public_key': key(h), 'endpoint': f'198.51.100.{10 + int(h[1:])}' if endpoint else '',
            'port': 51820, 'addresses': [f'{addr(h)}/24']} for h in hosts}}}}


def test_expected_links_of_a_mesh():
    fleet = _fleet([{'name': 'wg0', 'ipv4_pool': '100.64.0.0/24', 'port': 51820}])
    out = _health.expected_links(fleet, _registry('wg0', HOSTS))
    assert out['warnings'] == [] and out['skipped'] == 0
    pairs = [(x['a']['host'], x['b']['host']) for x in out['links']]
    assert pairs == [('h1', 'h2'), ('h1', 'h3'), ('h2', 'h3')]
    a = out['links'][0]['a']
    assert a['interface'] == 'wg0' and a['public_key'] == key('h1')
    assert a['endpoint'] == '198.51.100.11:51820' and a['listen_port'] == 51820
    assert len(a['addresses']) == 1
    # the analysis accepts them as they are
    peer_ips = [_health._bare_ip(x['b']['addresses'][0]) for x in out['links'][:2]]
    assert _health.ping_targets(out['links'])['h1'] == peer_ips


def test_expected_links_hub_and_spoke_has_no_spoke_to_spoke_link():
    fleet = _fleet([{'name': 'wg1', 'topology': 'hub_and_spoke', 'hubs': ['h1'],
                     'ipv4_pool': '100.64.1.0/24'}])
    out = _health.expected_links(fleet, _registry('wg1', HOSTS))
    assert [(x['a']['host'], x['b']['host']) for x in out['links']] == [('h1', 'h2'), ('h1', 'h3')]


def test_expected_links_skip_unregistered_and_out_of_play_hosts():
    fleet = _fleet([{'name': 'wg0', 'ipv4_pool': '100.64.0.0/24'}])
    out = _health.expected_links(fleet, _registry('wg0', ('h1', 'h2')))
    assert [(x['a']['host'], x['b']['host']) for x in out['links']] == [('h1', 'h2')]
    assert 'h3 not in the registry' in out['warnings'][0]
    out = _health.expected_links(fleet, _registry('wg0', HOSTS), hosts=['h1', 'h2'])
    assert out['skipped'] == 2 and [bool(x.get('skip')) for x in out['links']] == [False, True, True]
    assert _health.ping_targets(out['links']) == {'h1': [addr('h2')], 'h2': [addr('h1')]}
    # h3 is not in the play: its links are not checked, and h1's peer h3 is no surprise either
    report = _health.analyse(out['links'], {h: info(h) for h in ('h1', 'h2')}, {}, now=NOW)
    assert report['ok'] and report['summary']['links'] == 1 and report['warnings'] == []
    assert report['networks']['wg0']['hosts'] == ['h1', 'h2']
