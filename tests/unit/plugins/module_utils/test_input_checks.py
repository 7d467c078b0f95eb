"""Controller input checks of issue 11: each bad value is refused naming the variable and the fix."""
import pytest

from ansible_collections.meshlab.wireguard.plugins.module_utils import _checks
from ansible_collections.meshlab.wireguard.plugins.module_utils import _topology as t

HOSTS = ('h1', 'h2', 'h3')
SITES = [{'name': s, 'hosts': [f'h{i}'], 'lans': [f'203.0.113.{32 * (i - 1)}/27']}
         for i, s in enumerate('abc', 1)]


def net(**kw):
    base = {'name': 'wg0', 'port': 51820, 'ipv4_pool': '100.64.0.0/24',
            'ipv6_pool': 'fd3a:6c1e:9b42:100::/64', 'topology': 'site_to_site'}
    base.update(kw)
    return base


def errors(networks=None, hv=None, sites=SITES):
    fleet = t.normalize(networks or [net()], sites, {'all': list(HOSTS)}, hv or {})
    return fleet, t.validate(fleet, {})


@pytest.mark.parametrize('value, fragment', [
    ('198.51.100.12:99999', "holds a port (:99999); give the host only: 198.51.100.12"),
    ('198.51.100.12:51820', 'holds a port'),
    ('[fd3a:6c1e:9b42:1::12]:51820', 'holds a port (:51820); give the host only: fd3a:6c1e:9b42:1::12'),
    ('h 2.example.net', 'contains spaces'),
    (' 198.51.100.12', 'contains spaces'),
    ('[198.51.100.12]', 'brackets are only for IPv6'),
    ('127.0.0.1', 'loopback'),
    ('::1', 'loopback'),
    ('0.0.0.0', 'unspecified'),  # noqa: S104 - a bad input, never bound
    ('224.0.0.1', 'multicast'),
    ('198.51.100.300', 'not a valid IPv4 address'),
    ('fd3a:6c1e:9b42:1::12:518201', 'holds a port (:518201)'),
    ('fd3a:6c1e:9b42::1::2', 'not an IPv6 address'),
    ('bad_name!.example', 'neither an IP address nor a valid DNS name'),
    ('-h2.example.net', 'neither an IP address nor a valid DNS name'),
    (['198.51.100.12'], 'must be a string'),
])
def test_bad_endpoint_names_the_variable_and_the_fix(value, fragment):
    _fleet, errs = errors(hv={'h2': {'wireguard_endpoint': value}})
    assert any(e.startswith('host h2: wireguard_endpoint:') and fragment in e for e in errs), errs


@pytest.mark.parametrize('value', ['', '198.51.100.12', 'h2', 'h2.example.net.', 'fd3a:6c1e:9b42:1::12',
                                   '[fd3a:6c1e:9b42:1::12]', 'fe80::1%eth0'])
def test_good_endpoints_pass(value):
    assert _checks.endpoint_host_problem(value) is None
    fleet, errs = errors(hv={'h2': {'wireguard_endpoint': value}})
    assert errs == []
    assert fleet['endpoints'].get('h2', '') == value


def test_addresses_for_a_network_that_does_not_exist():
    _f, errs = errors(hv={'h1': {'wireguard_addresses': {'wg9': ['100.64.9.1/24']}}})
    assert any('host h1: wireguard_addresses.wg9: there is no network wg9' in e and 'fix the name' in e
               for e in errs), errs


def test_addresses_for_a_network_the_host_is_not_in():
    nets = [net(), net(name='wg1', port=51821, hosts=['h2', 'h3'], ipv4_pool='100.64.1.0/24',
                       ipv6_pool=None, topology='mesh')]
    _f, errs = errors(nets, hv={'h1': {'wireguard_addresses': {'wg1': ['100.64.1.1/24']}}})
    assert any('h1 is not a member of network wg1' in e for e in errs), errs


def test_primary_hub_for_a_network_that_does_not_exist():
    _f, errs = errors(hv={'h1': {'wireguard_primary_hub': {'wg7': 'h2'}}})
    assert any('wireguard_primary_hub.wg7: there is no network wg7' in e for e in errs), errs


@pytest.mark.parametrize('address', ['203.0.113.40/32', '203.0.113.1/24', '100.64.0.5/16'])
def test_tunnel_address_reaching_into_a_site_lan(address):
    _f, errs = errors(hv={'h1': {'wireguard_addresses': {'wg0': [address, 'fd3a:6c1e:9b42:100::5/64']}}})
    if address == '100.64.0.5/16':  # 100.64.0.0/16 holds no LAN: fine
        assert errs == []
        return
    assert any(f'wireguard_addresses.wg0 of host h1: {address} reaches into LAN' in e
               and 'outside every site LAN' in e for e in errs), errs


def test_client_address_in_a_site_lan():
    clients = [{'name': 'phone', 'host': 'h1', 'addresses': ['203.0.113.70/32']}]
    _f, errs = errors([net(clients=clients)])
    assert any('clients (phone).addresses: 203.0.113.70/32 reaches into LAN 203.0.113.64/27 of site c' in e
               for e in errs), errs


def test_endpoint_inside_the_tunnel():
    _f, errs = errors(hv={'h2': {'wireguard_endpoint': '203.0.113.70'}})
    assert any('host h2: wireguard_endpoint 203.0.113.70 is inside LAN of site c' in e for e in errs), errs
    _f, errs = errors(hv={'h2': {'wireguard_endpoint': '100.64.0.9'}})
    assert any('inside ipv4_pool 100.64.0.0/24' in e for e in errs), errs


@pytest.mark.parametrize('pool, what', [('127.0.0.0/24', 'loopback'), ('224.0.0.0/24', 'multicast'),
                                        ('169.254.0.0/24', 'link-local'), ('0.0.0.0/0', 'unspecified')])
def test_special_pools(pool, what):
    _f, errs = errors([net(ipv4_pool=pool)])
    assert any(f'ipv4_pool: {pool}' in e and what in e for e in errs), errs


def test_client_endpoint_with_port():
    clients = [{'name': 'phone', 'host': 'h1', 'endpoint': 'vpn.example.net:51820'}]
    _f, errs = errors([net(clients=clients)])
    assert any('clients[0] (phone).endpoint' in e and 'holds a port' in e for e in errs), errs


def test_mtu_above_wireguard_limit():
    _f, errs = errors([net(mtu=65500)])
    assert any('mtu: 65500 is outside 1280..65455' in e for e in errs), errs
