"""The catalogue of bad inputs and faults that tests/lab/test_bad_inputs.py tries on a converged lab.

Each case is what a clumsy admin does (a variable, a host variable, a registry edit, a key file,
a host that cannot do a step), where the run must stop (`stage`), and what the message must name
(`expect`: the variable or file, and the fix). The suite checks, for every case, that the run
failed there with that message and that nothing changed on any host or on the controller.

`python tests/lab/bad_inputs.py` prints the table of docs/BAD-INPUTS.md (a unit test keeps the two
equal). The lab is examples/site-to-site (h1..h3, sites a..c, wg0 with preshared keys) plus a
client `phone` on h1 (tests/lab/inventory/bad-inputs.yml).
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
from typing import Any, Callable, Optional, Sequence, Tuple

REBUILD = 'meshlab.wireguard.registry_rebuild'

BASE_NET = {
    'name': 'wg0',
    'port': 51820,
    'topology': 'site_to_site',
    'group': 'wireguard_gateways',
    'ipv4_pool': '100.64.0.0/24',
    'ipv6_pool': 'fd3a:6c1e:9b42:100::/64',
    'preshared_keys': True,
    'clients': [{'name': 'phone', 'host': 'h1'}],
}
SITES = [
    {'name': 'a', 'hosts': ['h1'], 'lans': ['203.0.113.0/27', 'fd3a:6c1e:9b42:a1::/64']},
    {'name': 'b', 'hosts': ['h2'], 'lans': ['203.0.113.32/27', 'fd3a:6c1e:9b42:a2::/64']},
    {'name': 'c', 'hosts': ['h3'], 'lans': ['203.0.113.64/27', 'fd3a:6c1e:9b42:a3::/64']},
]
DROP = object()


def net(**over):
    out = copy.deepcopy(BASE_NET)
    for k, v in over.items():
        if v is DROP:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def networks(*items):
    return {'wireguard_networks': list(items)}


def sites(*items):
    return {'wireguard_sites': list(items)}


def site(i, **over):
    out = copy.deepcopy(SITES[i])
    out.update(over)
    return out


def hosts(**per_host):
    """An inventory (listed last) that sets host variables."""
    return {'all': {'hosts': per_host}}


def fake_key(tag):
    return base64.b64encode(hashlib.sha256(tag.encode()).digest()).decode()


def wg0(data):
    return data['networks']['wg0']


@dataclasses.dataclass
class Case:
    id: str
    klass: str  # the class (1..13) or the kind of input
    title: str  # what the admin did
    stage: str  # where the run must stop: check | probe-verdict | argspec
    expect: Tuple[str, ...]  # fragments the message must hold: the variable or file, and the fix
    extra_vars: Any = None  # dict or callable(ctx) -> dict (-e)
    inventory: Any = None  # dict or callable(ctx) -> dict (an inventory listed last)
    registry: Optional[Callable] = None  # callable(data, ctx) -> data or text (the case's registry copy)
    controller: Optional[Callable] = None  # callable(ctx) on the case's copy of the controller files
    host: Optional[Callable] = None  # callable(ctx) -> [(host, setup shell, undo shell)]
    args: Sequence[str] = ()
    serial: bool = False  # needs the lab to itself (host changes, fresh handshakes)
    secret: Optional[Callable] = None  # callable(ctx) -> text that must not appear in the output

    def value(self, field, ctx):
        v = getattr(self, field)
        return v(ctx) if callable(v) else v

    @property
    def parallel(self):
        return not (self.serial or self.host)


def _cmds(*triples):
    return lambda ctx: list(triples)


def _write_key(host, text, mode='600'):
    """Setup/undo that put TEXT into HOST's wg0.key (the undo restores the saved original)."""
    q = text.replace("'", "'\\''")
    return (
        host,
        f"cp -p /etc/wireguard/wg0.key /run/wireguard/m11-key.bak && printf '%s' '{q}' > "
        f"/etc/wireguard/wg0.key && chmod {mode} /etc/wireguard/wg0.key",
        "cp -p /run/wireguard/m11-key.bak /etc/wireguard/wg0.key && rm -f /run/wireguard/m11-key.bak",
    )


def _replace_key(host, shell):
    return (
        host,
        'cp -p /etc/wireguard/wg0.key /run/wireguard/m11-key.bak && rm -f /etc/wireguard/wg0.key && ' + shell,
        'rm -rf /etc/wireguard/wg0.key && cp -p /run/wireguard/m11-key.bak /etc/wireguard/wg0.key && '
        'rm -f /run/wireguard/m11-key.bak',
    )


def _ro_bind(host, path):
    return (host, f'mount --bind {path} {path} && mount -o remount,bind,ro {path}', f'umount {path}')


def _fake_binary(host, path, script):
    q = script.replace("'", "'\\''")
    return (
        host,
        f"printf '%s' '{q}' > /run/wireguard/m11-fake && chmod 755 /run/wireguard/m11-fake && "
        f'mount --bind /run/wireguard/m11-fake {path}',
        f'umount {path}; rm -f /run/wireguard/m11-fake',
    )


def _vault(host, key):
    return hosts(**{host: {'wireguard_private_keys': {'wg0': key}}})


def _drop_host(name):
    def edit(data, ctx):
        del wg0(data)['hosts'][name]
        return data

    return edit


def _edit_entry(host, **fields):
    def edit(data, ctx):
        entry = wg0(data)['hosts'][host]
        for k, v in fields.items():
            if v is DROP:
                entry.pop(k, None)
            else:
                entry[k] = v(ctx) if callable(v) else v
        return data

    return edit


def _with_wg1(port=51821, name='wg1', **over):
    """wg0 as it is plus a new network (not yet on any host): its interface must be created."""
    fields = {
        'name': name,
        'port': port,
        'ipv4_pool': '100.64.1.0/24',
        'ipv6_pool': DROP,
        'clients': DROP,
        'topology': 'mesh',
        'preshared_keys': False,
    }
    fields.update(over)
    return networks(net(), net(**fields))


CASES = [
    # ---------------------------------------------------------------- 1: keys from vault
    Case(
        'vault-short',
        '1',
        'wireguard_private_keys.wg0 of h1 is too short',
        'probe-verdict',
        ('wireguard_private_keys.wg0', 'decodes to', 'put the private key'),
        inventory=_vault('h1', 'c2hvcnQ='),
    ),
    Case(
        'vault-not-base64',
        '1',
        'wireguard_private_keys.wg0 of h1 is not base64',
        'probe-verdict',
        ('wireguard_private_keys.wg0', 'not valid base64', 'put the private key'),
        inventory=_vault('h1', '!' * 43 + '='),
    ),
    Case(
        'vault-public-own',
        '1',
        "wireguard_private_keys.wg0 of h1 is h1's own public key",
        'probe-verdict',
        ('wireguard_private_keys.wg0 holds', 'PUBLIC key', 'put the private key in vault'),
        inventory=lambda c: _vault('h1', c.pub['h1']),
    ),
    Case(
        'vault-public-peer',
        '1',
        "wireguard_private_keys.wg0 of h1 is h2's public key",
        'probe-verdict',
        ('wireguard_private_keys.wg0 holds', 'PUBLIC key'),
        inventory=lambda c: _vault('h1', c.pub['h2']),
    ),
    Case(
        'vault-other-host',
        '1',
        "wireguard_private_keys.wg0 of h1 is h2's private key",
        'probe-verdict',
        ('wireguard_private_keys.wg0 is the private key of host h2', 'its own'),
        inventory=lambda c: _vault('h1', c.priv('h2')),
        secret=lambda c: c.priv('h2'),
    ),
    Case(
        'vault-zero',
        '1',
        'wireguard_private_keys.wg0 of h1 is all zeros',
        'probe-verdict',
        ('wireguard_private_keys.wg0', 'all zeros'),
        inventory=_vault('h1', base64.b64encode(bytes(32)).decode()),
    ),
    Case(
        'vault-differs',
        '1',
        'a new valid key in vault for h1 whose key file holds another valid key',
        'probe-verdict',
        (
            'wireguard_private_keys.wg0 differs from the valid key in /etc/wireguard/wg0.key',
            'wireguard_key_regenerate: always',
        ),
        inventory=lambda c: _vault('h1', c.new_private),
        secret=lambda c: c.new_private,
    ),
    Case(
        'vault-same-key-two-hosts',
        '1',
        'the same vault key for h1 and h2, with wireguard_key_regenerate: always',
        'probe-verdict',
        ('hosts h1, h2 would all run with the private key', 'its own vault entry'),
        extra_vars={'wireguard_key_regenerate': 'always'},
        inventory=lambda c: hosts(
            h1={'wireguard_private_keys': {'wg0': c.new_private}},
            h2={'wireguard_private_keys': {'wg0': c.new_private}},
        ),
        secret=lambda c: c.new_private,
    ),
    Case(
        'vault-unknown-network',
        '1',
        'wireguard_private_keys names a network that does not exist',
        'check',
        ('wireguard_private_keys.wg9: there is no network wg9', 'fix the name'),
        inventory=lambda c: hosts(h1={'wireguard_private_keys': {'wg9': c.new_private}}),
    ),
    Case(
        'vault-whitespace',
        '1',
        'a vault key with a space inside',
        'probe-verdict',
        ('wireguard_private_keys.wg0', 'whitespace'),
        inventory=lambda c: _vault('h1', c.priv('h1')[:20] + ' ' + c.priv('h1')[20:]),
        secret=lambda c: c.priv('h1'),
    ),
    # ---------------------------------------------------------------- 1/2: key files on the host
    Case(
        'keyfile-own-public',
        '2',
        "h1's key file holds h1's own public key (pasted by hand)",
        'probe-verdict',
        ('/etc/wireguard/wg0.key holds', 'PUBLIC key', 'wg show wg0 private-key'),
        host=lambda c: [_write_key('h1', c.pub['h1'] + '\n')],
    ),
    Case(
        'keyfile-peer-public',
        '2',
        "h1's key file holds h2's public key",
        'probe-verdict',
        ('/etc/wireguard/wg0.key holds', 'PUBLIC key'),
        host=lambda c: [_write_key('h1', c.pub['h2'] + '\n')],
    ),
    Case(
        'keyfile-other-private',
        '1',
        "h1's key file holds h2's private key",
        'probe-verdict',
        ('/etc/wireguard/wg0.key is the private key of host h2', 'its own'),
        host=lambda c: [_write_key('h1', c.priv('h2') + '\n')],
    ),
    Case(
        'keyfile-empty',
        '1',
        "h1's key file is empty",
        'probe-verdict',
        (
            '/etc/wireguard/wg0.key does not hold a valid private key',
            'is empty',
            'wg show wg0 private-key',
            'wireguard_key_regenerate: always',
        ),
        host=_cmds(_write_key('h1', '')),
    ),
    Case(
        'keyfile-truncated',
        '1',
        "h1's key file is cut short (40 characters)",
        'probe-verdict',
        ('/etc/wireguard/wg0.key does not hold a valid private key', 'decodes to', 'wg show wg0 private-key'),
        host=lambda c: [_write_key('h1', c.priv('h1')[:40] + '\n')],
    ),
    Case(
        'keyfile-two-lines',
        '1',
        "h1's key file has a second line",
        'probe-verdict',
        ('/etc/wireguard/wg0.key does not hold a valid private key', 'single line'),
        host=lambda c: [_write_key('h1', c.priv('h1') + '\nPublicKey = x\n')],
    ),
    Case(
        'keyfile-urlsafe',
        '1',
        "h1's key file holds URL-safe base64",
        'probe-verdict',
        ('/etc/wireguard/wg0.key does not hold a valid private key', 'URL-safe'),
        host=_cmds(_write_key('h1', '-' * 43 + '=\n')),
    ),
    Case(
        'keyfile-zero',
        '1',
        "h1's key file is the all-zero key",
        'probe-verdict',
        ('/etc/wireguard/wg0.key does not hold a valid private key', 'all zeros'),
        host=_cmds(_write_key('h1', base64.b64encode(bytes(32)).decode() + '\n')),
    ),
    Case(
        'keyfile-binary',
        '1',
        "h1's key file holds raw binary bytes",
        'probe-verdict',
        ('/etc/wireguard/wg0.key does not hold a valid private key', 'binary'),
        host=_cmds(_replace_key('h1', "printf '\\377\\376\\001' > /etc/wireguard/wg0.key")),
    ),
    Case(
        'keyfile-huge',
        '1',
        "h1's key file is a 5 KB file",
        'probe-verdict',
        ('/etc/wireguard/wg0.key does not hold a valid private key', 'larger than'),
        host=_cmds(_replace_key('h1', 'head -c 5000 /dev/zero | tr "\\0" A > /etc/wireguard/wg0.key')),
    ),
    Case(
        'keyfile-directory',
        '1',
        "h1's key file is a directory",
        'probe-verdict',
        ('/etc/wireguard/wg0.key', 'is a directory'),
        host=_cmds(_replace_key('h1', 'mkdir /etc/wireguard/wg0.key')),
    ),
    Case(
        'keyfile-fifo',
        '1',
        "h1's key file is a named pipe",
        'probe-verdict',
        ('/etc/wireguard/wg0.key', 'not a regular file'),
        host=_cmds(_replace_key('h1', 'mkfifo /etc/wireguard/wg0.key')),
    ),
    Case(
        'keyfile-dangling-link',
        '1',
        "h1's key file is a symlink to nowhere",
        'probe-verdict',
        ('/etc/wireguard/wg0.key', 'does not exist'),
        host=_cmds(_replace_key('h1', 'ln -s /nonexistent/wg0.key /etc/wireguard/wg0.key')),
    ),
    Case(
        'keyfile-removed',
        '1',
        "h1's key file was deleted while wg0 runs",
        'probe-verdict',
        (
            '/etc/wireguard/wg0.key is gone while wg0 runs',
            'wg show wg0 private-key',
            'wireguard_key_regenerate: always',
        ),
        host=_cmds(_replace_key('h1', 'true')),
    ),
    # ---------------------------------------------------------------- 11: a key replaced by hand, --limit
    Case(
        'keyfile-replaced-limit',
        '11',
        "h1's key file replaced by a new valid key, run with --limit h1",
        'probe-verdict',
        ('its wg0 key changes in this run', 'peers h2, h3 are not in this run', 'Run them too'),
        host=lambda c: [_write_key('h1', c.new_private + '\n')],
        args=('--limit', 'h1'),
    ),
    Case(
        'regenerate-limit',
        '11',
        'wireguard_key_regenerate: always with --limit h1',
        'probe-verdict',
        (
            'its wg0 key changes in this run (wireguard_key_regenerate: always)',
            'peers h2, h3 are not in this run',
        ),
        extra_vars={'wireguard_key_regenerate': 'always'},
        args=('--limit', 'h1'),
    ),
    # ---------------------------------------------------------------- 4: nothing allocated moves
    Case(
        'address-taken-v4',
        '4',
        "h3 gets h2's IPv4 tunnel address as a fixed address",
        'check',
        ('wireguard_addresses.wg0 of host h3', 'is already allocated to host h2', 'choose a free address'),
        inventory=lambda c: hosts(h3={'wireguard_addresses': {'wg0': [c.addr4['h2']]}}),
    ),
    Case(
        'address-taken-v6',
        '4',
        "h3 gets h1's IPv6 tunnel address as a fixed address",
        'check',
        ('wireguard_addresses.wg0 of host h3', 'is already allocated to host h1'),
        inventory=lambda c: hosts(h3={'wireguard_addresses': {'wg0': [c.addr6['h1']]}}),
    ),
    Case(
        'address-taken-by-client',
        '4',
        "a fixed client address that h2 holds",
        'check',
        ('clients (phone).addresses', 'is already allocated to host h2'),
        extra_vars=lambda c: networks(
            net(clients=[{'name': 'phone', 'host': 'h1', 'addresses': [c.addr4['h2']]}])
        ),
    ),
    Case(
        'pool-renumber',
        '4',
        'ipv4_pool changed (a typo): every host would be renumbered',
        'check',
        ('ipv4_pool: 100.46.0.0/24 no longer holds', 'renumber: true'),
        extra_vars=networks(net(ipv4_pool='100.46.0.0/24')),
    ),
    Case(
        'pool-shrunk',
        '4',
        'ipv4_pool shrunk below the addresses in use',
        'check',
        ('no longer holds the addresses', 'restore the old ipv4_pool'),
        extra_vars=networks(net(ipv4_pool='100.64.0.0/28')),
    ),
    # ---------------------------------------------------------------- 5: tunnel addresses in a LAN
    Case(
        'address-in-lan',
        '5',
        "h1's fixed tunnel address inside site b's LAN",
        'check',
        (
            'wireguard_addresses.wg0 of host h1: 203.0.113.40/32 reaches into LAN 203.0.113.32/27',
            'outside every site LAN',
        ),
        inventory=hosts(h1={'wireguard_addresses': {'wg0': ['203.0.113.40/32']}}),
    ),
    Case(
        'address-prefix-over-lan',
        '5',
        "h1's fixed tunnel address with a prefix covering the LANs",
        'check',
        ('203.0.113.1/24 reaches into LAN', 'outside every site LAN'),
        inventory=hosts(h1={'wireguard_addresses': {'wg0': ['203.0.113.1/24']}}),
    ),
    Case(
        'client-address-in-lan',
        '5',
        "a client address inside site c's LAN",
        'check',
        ('clients (phone).addresses: 203.0.113.70/32 reaches into LAN 203.0.113.64/27',),
        extra_vars=networks(net(clients=[{'name': 'phone', 'host': 'h1', 'addresses': ['203.0.113.70/32']}])),
    ),
    Case(
        'pool-over-lan',
        '5',
        'ipv4_pool overlapping the sites\' LANs',
        'check',
        ('overlaps ipv4_pool', 'disjoint'),
        extra_vars=networks(net(ipv4_pool='203.0.113.0/24', renumber=True)),
    ),
    # ---------------------------------------------------------------- 7: the registry
    Case(
        'registry-no-version',
        '7',
        'the registry lost its version line',
        'check',
        ('wireguard-registry.yml is damaged', 'version: is missing', REBUILD),
        registry=lambda data, c: {k: v for k, v in data.items() if k != 'version'},
    ),
    Case(
        'registry-empty',
        '7',
        'the registry file is empty (truncated to 0 bytes)',
        'check',
        ('wireguard-registry.yml is damaged', 'is empty', REBUILD),
        registry=lambda data, c: '',
    ),
    Case(
        'registry-header-only',
        '7',
        'only the header comment of the registry is left',
        'check',
        ('is empty', 'restore a good copy'),
        registry=lambda data, c: '# meshlab.wireguard registry\n',
    ),
    Case(
        'registry-lost-member-limit',
        '7',
        "h2's registry entry removed, run with --limit h1",
        'probe-verdict',
        ('has peer h2', 'the registry has no key for h2', 'the registry lost it', REBUILD),
        registry=_drop_host('h2'),
        args=('--limit', 'h1'),
    ),
    Case(
        'registry-lost-member',
        '7',
        "h2's registry entry removed, full run",
        'probe-verdict',
        ('the registry has no entry for h2 in wg0', 'lost it', REBUILD),
        registry=_drop_host('h2'),
    ),
    Case(
        'registry-lost-self-limit',
        '7',
        "h1's own registry entry removed, run with --limit h1",
        'probe-verdict',
        ('the registry has no entry for h1 in wg0', REBUILD),
        registry=_drop_host('h1'),
        args=('--limit', 'h1'),
    ),
    Case(
        'registry-lost-network',
        '7',
        'network wg0 emptied in the registry',
        'probe-verdict',
        ('the registry lost it', REBUILD),
        registry=lambda data, c: data | {'networks': {'wg0': {'hosts': {}, 'clients': {}}}},
    ),
    Case(
        'registry-wrong-key-fresh',
        '7',
        "h2's registry key replaced by another valid key; h1-h2 has a fresh handshake",
        'probe-verdict',
        ("the registry gives peer h2 the key", 'talks to h2 with key', 'run h2 too', REBUILD),
        registry=_edit_entry('h2', public_key=fake_key('wrong')),
        serial=True,
    ),
    Case(
        'registry-short-key',
        '7',
        "h2's registry key cut short",
        'check',
        ('networks.wg0.hosts.h2.public_key', 'decodes to', 'fix or remove the entries named'),
        registry=lambda data, c: _edit_entry('h2', public_key=c.pub['h2'][:40])(data, c),
    ),
    Case(
        'registry-duplicate-key',
        '7',
        "h3's registry entry has h2's key",
        'check',
        ('networks.wg0.hosts.h3.public_key', 'the same public key as host h2'),
        registry=lambda data, c: _edit_entry('h3', public_key=c.pub['h2'])(data, c),
    ),
    Case(
        'registry-duplicate-address',
        '7',
        "h3's registry entry has h2's address",
        'check',
        ('networks.wg0.hosts.h3.addresses', 'is also held by host h2'),
        registry=lambda data, c: _edit_entry('h3', addresses=[c.addr4['h2']])(data, c),
    ),
    Case(
        'registry-version-2',
        '7',
        'the registry says version 2',
        'check',
        ('version: 2', 'upgrade the collection'),
        registry=lambda data, c: data | {'version': 2},
    ),
    Case(
        'registry-not-yaml',
        '7',
        'the registry is not YAML any more',
        'check',
        ('cannot read the registry', 'wireguard-registry.yml'),
        registry=lambda data, c: 'networks: {wg0: [\n',
    ),
    Case(
        'registry-a-list',
        '7',
        'the registry is a list',
        'check',
        ('not a meshlab.wireguard registry',),
        registry=lambda data, c: '- h1\n- h2\n',
    ),
    Case(
        'registry-private-key-field',
        '7',
        'a private_key field added to an entry',
        'check',
        ("networks.wg0.hosts.h1: unknown field 'private_key'",),
        registry=lambda data, c: _edit_entry('h1', private_key=fake_key('x'))(data, c),
    ),
    Case(
        'registry-endpoint-port',
        '7',
        "h2's registry endpoint holds a port",
        'check',
        ('networks.wg0.hosts.h2.endpoint', 'holds a port'),
        registry=_edit_entry('h2', endpoint='198.51.100.12:51820'),
    ),
    Case(
        'registry-port-text',
        '7',
        "h2's registry port is text",
        'check',
        ('networks.wg0.hosts.h2.port', 'is not a port number'),
        registry=_edit_entry('h2', port='fifty'),
    ),
    Case(
        'registry-role',
        '7',
        "h2's registry role is unknown",
        'check',
        ('networks.wg0.hosts.h2.role', "'boss' is not one of"),
        registry=_edit_entry('h2', role='boss'),
    ),
    Case(
        'registry-addresses-string',
        '7',
        "h2's registry addresses is a string",
        'check',
        ('networks.wg0.hosts.h2.addresses', 'must be a list'),
        registry=lambda data, c: _edit_entry('h2', addresses=c.addr4['h2'])(data, c),
    ),
    Case(
        'registry-no-public-key',
        '7',
        "h2's registry entry lost its public_key",
        'check',
        ('networks.wg0.hosts.h2: public_key is missing',),
        registry=_edit_entry('h2', public_key=DROP),
    ),
    Case(
        'registry-client-key',
        '7',
        "the client's registry key is not a key",
        'check',
        ('networks.wg0.clients.phone.public_key',),
        registry=lambda data, c: (wg0(data)['clients']['phone'].update(public_key='x' * 44), data)[1],
    ),
    Case(
        'registry-path-directory',
        '7',
        'wireguard_registry_path points at a directory',
        'check',
        ('wireguard_registry_path', 'is a directory', 'point it at a file'),
        extra_vars=lambda c: {'wireguard_registry_path': c.dir},
    ),
    # ---------------------------------------------------------------- 8: endpoints
    Case(
        'endpoint-port',
        '8',
        "wireguard_endpoint of h2 is '198.51.100.12:99999'",
        'check',
        ('host h2: wireguard_endpoint', 'holds a port (:99999)', 'give the host only'),
        inventory=hosts(h2={'wireguard_endpoint': '198.51.100.12:99999'}),
    ),
    Case(
        'endpoint-ipv6-port',
        '8',
        'wireguard_endpoint of h2 is an IPv6 address with a port, no brackets',
        'check',
        ('host h2: wireguard_endpoint', 'holds a port'),
        inventory=hosts(h2={'wireguard_endpoint': 'fd3a:6c1e:9b42:1::12:51820'}),
    ),
    Case(
        'endpoint-spaces',
        '8',
        'wireguard_endpoint of h2 has a space',
        'check',
        ('host h2: wireguard_endpoint', 'contains spaces'),
        inventory=hosts(h2={'wireguard_endpoint': '198.51.100.12 '}),
    ),
    Case(
        'endpoint-unresolvable',
        '8',
        'wireguard_endpoint of h2 is a name nobody can resolve',
        'probe-verdict',
        ('cannot resolve h2-missing.invalid', 'the wireguard_endpoint of h2', 'literal address'),
        inventory=hosts(h2={'wireguard_endpoint': 'h2-missing.invalid'}),
    ),
    Case(
        'endpoint-loopback',
        '8',
        'wireguard_endpoint of h2 is 127.0.0.1',
        'check',
        ('host h2: wireguard_endpoint', 'loopback'),
        inventory=hosts(h2={'wireguard_endpoint': '127.0.0.1'}),
    ),
    Case(
        'endpoint-brackets-v4',
        '8',
        'wireguard_endpoint of h2 is an IPv4 address in brackets',
        'check',
        ('host h2: wireguard_endpoint', 'brackets are only for IPv6'),
        inventory=hosts(h2={'wireguard_endpoint': '[198.51.100.12]'}),
    ),
    Case(
        'endpoint-in-lan',
        '8',
        "wireguard_endpoint of h2 inside site c's LAN (routed into the tunnel)",
        'check',
        ('wireguard_endpoint 203.0.113.70 is inside LAN of site c', 'over the underlay'),
        inventory=hosts(h2={'wireguard_endpoint': '203.0.113.70'}),
    ),
    Case(
        'endpoint-bad-name',
        '8',
        'wireguard_endpoint of h2 is not a DNS name',
        'check',
        ('host h2: wireguard_endpoint', 'neither an IP address nor a valid DNS name'),
        inventory=hosts(h2={'wireguard_endpoint': 'h2_gw!'}),
    ),
    Case(
        'endpoint-bad-ipv4',
        '8',
        'wireguard_endpoint of h2 is 198.51.100.300',
        'check',
        ('host h2: wireguard_endpoint', 'not a valid IPv4 address'),
        inventory=hosts(h2={'wireguard_endpoint': '198.51.100.300'}),
    ),
    # ---------------------------------------------------------------- 9: unknown networks
    Case(
        'addresses-unknown-network',
        '9',
        'wireguard_addresses names network wg9 that does not exist',
        'check',
        ('host h1: wireguard_addresses.wg9: there is no network wg9', 'fix the name'),
        inventory=hosts(h1={'wireguard_addresses': {'wg9': ['100.64.9.1/24']}}),
    ),
    Case(
        'primary-hub-unknown-network',
        '9',
        'wireguard_primary_hub names network wg9',
        'check',
        ('wireguard_primary_hub.wg9: there is no network wg9',),
        inventory=hosts(h2={'wireguard_primary_hub': {'wg9': 'h1'}}),
    ),
    Case(
        'addresses-not-member',
        '9',
        'wireguard_addresses for a network the host is not in',
        'check',
        ('h1 is not a member of network wg1', 'remove the entry'),
        extra_vars=_with_wg1(hosts=['h2', 'h3'], group=DROP),
        inventory=hosts(h1={'wireguard_addresses': {'wg1': ['100.64.1.9/24']}}),
    ),
    Case(
        'addresses-a-list',
        '9',
        'wireguard_addresses is a list, not a dict',
        'check',
        ('wireguard_addresses must be a dict', 'wg0: [100.64.0.1/24]'),
        inventory=hosts(h1={'wireguard_addresses': ['100.64.0.9/24']}),
    ),
    # ---------------------------------------------------------------- 12: what a host can do
    Case(
        'sysctl-read-only',
        '12',
        'h2 cannot write /proc/sys (a container) and its forwarding is off',
        'probe-verdict',
        ('host h2: cannot set net.ipv4.ip_forward', 'wireguard_manage_forwarding: false'),
        host=_cmds(
            (
                'h2',
                'echo 0 > /proc/sys/net/ipv4/ip_forward && mount --bind /proc/sys /proc/sys && '
                'mount -o remount,bind,ro /proc/sys',
                'umount /proc/sys; echo 1 > /proc/sys/net/ipv4/ip_forward',
            )
        ),
    ),
    Case(
        'sysctl-file-read-only',
        '12',
        'wireguard_sysctl_file in a read-only directory',
        'probe-verdict',
        ('cannot write /run/wireguard/m11-ro/forwarding.conf', 'wireguard_sysctl_file'),
        host=_cmds(
            *[
                (
                    h,
                    'mkdir -p /run/wireguard/m11-ro && '
                    'mount -t tmpfs -o ro,size=16k m11ro /run/wireguard/m11-ro',
                    'umount /run/wireguard/m11-ro; rmdir /run/wireguard/m11-ro',
                )
                for h in ('h1', 'h2', 'h3')
            ]
        ),
        extra_vars={'wireguard_sysctl_file': '/run/wireguard/m11-ro/forwarding.conf'},
    ),
    Case(
        'nft-not-permitted',
        '12',
        'nft cannot load rules on h3 (no nf_tables rights)',
        'probe-verdict',
        (
            'host h3: nftables rules cannot be loaded here',
            'Operation not permitted',
            'wireguard_firewall: none',
        ),
        host=_cmds(
            _fake_binary(
                'h3',
                '/usr/sbin/nft',
                '#!/bin/sh\ncat >/dev/null\necho "Error: Operation not permitted" >&2\nexit 1\n',
            )
        ),
    ),
    Case(
        'no-net-admin',
        '12',
        'h2 runs without CAP_NET_ADMIN',
        'probe-verdict',
        ('host h2: the role needs CAP_NET_ADMIN', 'become: true'),
        controller=lambda c: c.wrapper(
            'h2', 'capsh --drop=cap_net_admin -- -c \'exec "$0" "$@"\' {python} "$@"'
        ),
        inventory=lambda c: hosts(h2={'ansible_python_interpreter': c.wrapper_path('h2')}),
    ),
    Case(
        'no-pynacl',
        '12',
        'python3-nacl is missing on h3 and packages are not installed',
        'probe-verdict',
        ('host h3: the Python library python3-nacl is missing', 'wireguard_install_packages: true'),
        controller=lambda c: c.wrapper('h3', 'PYTHONPATH={nonacl} exec {python} "$@"'),
        inventory=lambda c: hosts(h3={'ansible_python_interpreter': c.wrapper_path('h3')}),
    ),
    Case(
        'no-tun',
        '12',
        'a new network wg1, but /dev/net/tun cannot be opened on h3',
        'probe-verdict',
        (
            'host h3: cannot create wg1 with wireguard-go: /dev/net/tun cannot be opened',
            '--device /dev/net/tun',
        ),
        host=_cmds(
            (
                'h3',
                'mkdir -p /run/wireguard/m11-tun && mount -t tmpfs m11tun /run/wireguard/m11-tun && '
                'touch /run/wireguard/m11-tun/tun && mount -o remount,ro /run/wireguard/m11-tun && '
                'mount --bind /run/wireguard/m11-tun/tun /dev/net/tun',
                'umount /dev/net/tun; umount /run/wireguard/m11-tun; rmdir /run/wireguard/m11-tun',
            )
        ),
        extra_vars=_with_wg1(),
    ),
    Case(
        'no-wireguard-go',
        '12',
        'a new network wg1, no kernel WireGuard and no wireguard-go on h2',
        'probe-verdict',
        ('host h2: cannot create wg1', 'wireguard-go is not installed', 'wireguard_install_packages: true'),
        host=_cmds(
            (
                'h2',
                'touch /run/wireguard/m11-empty && '
                'mount --bind /run/wireguard/m11-empty /usr/bin/wireguard-go',
                'umount /usr/bin/wireguard-go; rm -f /run/wireguard/m11-empty',
            )
        ),
        extra_vars=_with_wg1(),
    ),
    Case(
        'port-in-use',
        '12',
        'a new network wg1 on a UDP port another program holds on h2',
        'probe-verdict',
        ('host h2: wireguard_networks (wg1).port 51821', 'in use by another program', 'ss -ulpn'),
        host=_cmds(
            (
                'h2',
                'python3 -c "import socket,os,time; s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM); '
                's.bind((\'::\',51821)); '
                'open(\'/run/wireguard/m11-port.pid\',\'w\').write(str(os.getpid())); '
                'time.sleep(600)" >/dev/null 2>&1 & sleep 0.5',
                'kill $(cat /run/wireguard/m11-port.pid); rm -f /run/wireguard/m11-port.pid',
            )
        ),
        extra_vars=_with_wg1(),
    ),
    Case(
        'link-name-taken',
        '12',
        'a network named eth0, a link that exists and is not WireGuard',
        'probe-verdict',
        ('a link named eth0 of kind veth exists', 'rename the network'),
        extra_vars=_with_wg1(name='eth0'),
    ),
    Case(
        'key-dir-read-only',
        '12',
        "h1's /etc/wireguard is read-only",
        'probe-verdict',
        ('host h1: /etc/wireguard is not writable', 'make it writable'),
        host=_cmds(_ro_bind('h1', '/etc/wireguard')),
    ),
    Case(
        'config-dir-full',
        '12',
        'wireguard_config_dir on a full file system on h1',
        'probe-verdict',
        ('host h1: no space left on the file system of /run/wireguard/m11-full', 'free some space'),
        host=_cmds(
            *[
                (
                    h,
                    'mkdir -p /run/wireguard/m11-full && '
                    'mount -t tmpfs -o size=16k m11full /run/wireguard/m11-full'
                    ' && (cat /dev/zero > /run/wireguard/m11-full/fill 2>/dev/null; true)',
                    'umount /run/wireguard/m11-full; rmdir /run/wireguard/m11-full',
                )
                for h in ('h1', 'h2', 'h3')
            ]
        ),
        extra_vars={'wireguard_config_dir': '/run/wireguard/m11-full'},
    ),
    # ---------------------------------------------------------------- 13: controller files, messages
    Case(
        'registry-dir-read-only',
        '13',
        'the registry directory is not writable',
        'check',
        ('the directory', 'is not writable', 'set wireguard_registry_path'),
        controller=lambda c: c.read_only_dir(),
    ),
    Case(
        'psk-secret-empty',
        '13',
        'the PSK secret file is empty',
        'check',
        ('wireguard_psk_secret_path', 'holds nothing', 'restore the secret'),
        controller=lambda c: c.write('state/psk.secret', '', 0o600),
    ),
    Case(
        'psk-secret-short',
        '13',
        'the PSK secret file holds 10 characters',
        'check',
        ('wireguard_psk_secret_path', 'only 10 characters'),
        controller=lambda c: c.write('state/psk.secret', '0123456789\n', 0o600),
    ),
    Case(
        'psk-secret-readable',
        '13',
        'the PSK secret file is readable by others',
        'check',
        ('wireguard_psk_secret_path', 'chmod 600'),
        controller=lambda c: c.chmod('state/psk.secret', 0o644),
    ),
    Case(
        'psk-secret-directory',
        '13',
        'the PSK secret path is a directory',
        'check',
        ('wireguard_psk_secret_path', 'is a directory'),
        controller=lambda c: c.replace_with_dir('state/psk.secret'),
    ),
    Case(
        'psk-inline-short',
        '13',
        'wireguard_psk_secret is 8 characters long',
        'check',
        ('wireguard_psk_secret is 8 characters long', 'ansible-vault encrypt_string'),
        extra_vars={'wireguard_psk_secret': 'tooshort'},
    ),
    Case(
        'psk-no-secret',
        '13',
        'preshared keys on, no secret at all',
        'check',
        ('wireguard_psk_secret: preshared_keys is on but there is no secret', 'ansible-vault'),
        extra_vars={'wireguard_psk_secret_path': ''},
    ),
    Case(
        'peer-groups-list',
        '13',
        'peer_groups written as a list',
        'check',
        ('peer_groups: must be a dict of group name -> list of hosts',),
        extra_vars=networks(net(topology='groups', peer_groups=['h1', 'h2'])),
    ),
    Case(
        'clients-dir-file',
        '13',
        'wireguard_clients_dir points at a file',
        'check',
        ('wireguard_clients_dir', 'is not a directory'),
        extra_vars=lambda c: {'wireguard_clients_dir': c.file('not-a-dir', 'x')},
    ),
    # ---------------------------------------------------------------- names, ports, MTUs, keepalives
    Case(
        'net-name-long',
        'names',
        'a network name of 16 characters',
        'check',
        ("wireguard_networks[0].name: 'wireguard-net-16'", '1-15'),
        extra_vars=networks(net(name='wireguard-net-16')),
    ),
    Case(
        'net-name-space',
        'names',
        'a network name with a space',
        'check',
        ("wireguard_networks[0].name: 'wg 0'", 'not a valid interface name'),
        extra_vars=networks(net(name='wg 0')),
    ),
    Case(
        'net-name-twice',
        'names',
        'network wg0 defined twice',
        'check',
        ('network wg0 is defined twice', 'its own interface name'),
        extra_vars=networks(net(), net(port=51821)),
    ),
    Case(
        'net-name-missing',
        'names',
        'a network without a name',
        'check',
        ("wireguard_networks[0].name: ''",),
        extra_vars=networks(net(name=DROP)),
    ),
    Case(
        'port-zero',
        'ports',
        'port 0',
        'check',
        ('.port: 0 is outside 1..65535', 'set a UDP port'),
        extra_vars=networks(net(port=0)),
    ),
    Case(
        'port-too-big',
        'ports',
        'port 70000',
        'check',
        ('.port: 70000 is outside 1..65535',),
        extra_vars=networks(net(port=70000)),
    ),
    Case(
        'port-text',
        'ports',
        "port 'fifty'",
        'check',
        (".port: 'fifty' is not a number",),
        extra_vars=networks(net(port='fifty')),
    ),
    Case(
        'port-shared',
        'ports',
        'two networks on one port on the same hosts',
        'check',
        ('two networks on one port', 'give each network its own port'),
        extra_vars=_with_wg1(port=51820),
    ),
    Case(
        'mtu-small',
        'mtu',
        'mtu 500',
        'check',
        ('.mtu: 500 is outside 1280..65455',),
        extra_vars=networks(net(mtu=500)),
    ),
    Case(
        'mtu-big',
        'mtu',
        'mtu 65500 (above WireGuard\'s 65455)',
        'check',
        ('.mtu: 65500 is outside 1280..65455',),
        extra_vars=networks(net(mtu=65500)),
    ),
    Case(
        'mtu-text',
        'mtu',
        "mtu 'jumbo'",
        'check',
        (".mtu: 'jumbo' is not a number",),
        extra_vars=networks(net(mtu='jumbo')),
    ),
    Case(
        'keepalive-negative',
        'keepalive',
        'keepalive -1',
        'check',
        ('.keepalive: -1 is outside 0..65535',),
        extra_vars=networks(net(keepalive=-1)),
    ),
    Case(
        'keepalive-text',
        'keepalive',
        "keepalive 'often'",
        'check',
        (".keepalive: 'often' is not a number",),
        extra_vars=networks(net(keepalive='often')),
    ),
    # ---------------------------------------------------------------- pools
    Case(
        'pool-not-network',
        'pools',
        "ipv4_pool 'tunnel'",
        'check',
        ("ipv4_pool: 'tunnel' is not a network",),
        extra_vars=networks(net(ipv4_pool='tunnel')),
    ),
    Case(
        'pool-wrong-family',
        'pools',
        'an IPv6 network as ipv4_pool',
        'check',
        ('is an IPv6 network; put it in ipv6_pool',),
        extra_vars=networks(net(ipv4_pool='fd3a:6c1e:9b42:200::/64')),
    ),
    Case(
        'pool-exhausted',
        'pools',
        'ipv4_pool /30 for three hosts and a client',
        'check',
        ('is exhausted', 'widen ipv4_pool'),
        extra_vars=networks(net(ipv4_pool='100.64.0.0/30', renumber=True)),
    ),
    Case(
        'pool-loopback',
        'pools',
        'ipv4_pool in 127.0.0.0/8',
        'check',
        ('is a loopback range',),
        extra_vars=networks(net(ipv4_pool='127.1.0.0/24')),
    ),
    Case(
        'pool-multicast',
        'pools',
        'ipv6_pool in ff00::/8',
        'check',
        ('is a multicast range',),
        extra_vars=networks(net(ipv6_pool='ff05::/64')),
    ),
    Case(
        'no-address-at-all',
        'pools',
        'no pools and no fixed addresses',
        'check',
        ('has no tunnel address',),
        extra_vars=networks(net(ipv4_pool=DROP, ipv6_pool=DROP)),
    ),
    Case(
        'address-not-address',
        'pools',
        "a fixed address 'first'",
        'check',
        ("wireguard_addresses.wg0: 'first' is not an address",),
        inventory=hosts(h1={'wireguard_addresses': {'wg0': ['first']}}),
    ),
    Case(
        'addresses-duplicate',
        'pools',
        'the same fixed address on h1 and h2',
        'check',
        ('duplicate tunnel address 100.64.0.250',),
        inventory=hosts(
            h1={'wireguard_addresses': {'wg0': ['100.64.0.250/24']}},
            h2={'wireguard_addresses': {'wg0': ['100.64.0.250/24']}},
        ),
    ),
    # ---------------------------------------------------------------- sites
    Case(
        'site-lan-not-network',
        'sites',
        "a site LAN 'lan-a'",
        'check',
        ("lans[1]: 'lan-a' is not a network",),
        extra_vars=sites(site(0, lans=['203.0.113.0/27', 'lan-a']), site(1), site(2)),
    ),
    Case(
        'site-lans-overlap',
        'sites',
        'two sites with overlapping LANs',
        'check',
        ('LANs overlap', 'disjoint'),
        extra_vars=sites(site(0, lans=['203.0.113.0/26']), site(1), site(2)),
    ),
    Case(
        'site-host-twice',
        'sites',
        'h1 in two sites',
        'check',
        ('host h1 is in two sites',),
        extra_vars=sites(site(0), site(1, hosts=['h1', 'h2']), site(2)),
    ),
    Case(
        'site-unknown-host',
        'sites',
        'a site listing a host that does not exist',
        'check',
        ("'h9' is not an inventory host",),
        extra_vars=sites(site(0, hosts=['h1', 'h9']), site(1), site(2)),
    ),
    Case(
        'site-gateway-outside',
        'sites',
        'a site gateway that is not one of its hosts',
        'check',
        ("gateway: 'h2' is not one of the site's hosts",),
        extra_vars=sites(site(0, gateway='h2'), site(1), site(2)),
    ),
    Case(
        'site-unknown-key',
        'sites',
        "a site with a key 'lan' (for lans)",
        'check',
        ("unknown key 'lan'",),
        extra_vars=sites(site(0, lan=['203.0.113.0/27']), site(1), site(2)),
    ),
    Case(
        'site-missing',
        'sites',
        'h3 in no site in a site_to_site network',
        'check',
        ('host h3 is in no site',),
        extra_vars=sites(site(0), site(1)),
    ),
    Case(
        'sites-not-list',
        'sites',
        'wireguard_sites is a dict',
        'check',
        ('wireguard_sites: must be a list',),
        extra_vars={'wireguard_sites': {'a': ['h1']}},
    ),
    # ---------------------------------------------------------------- hubs and groups
    Case(
        'topology-unknown',
        'hubs',
        "topology 'star'",
        'check',
        ("topology: 'star' is not known",),
        extra_vars=networks(net(topology='star')),
    ),
    Case(
        'hubs-none',
        'hubs',
        'hub_and_spoke without hubs',
        'check',
        ('needs at least one hub',),
        extra_vars=networks(net(topology='hub_and_spoke')),
    ),
    Case(
        'hub-unknown',
        'hubs',
        'a hub that is not a host',
        'check',
        ("unknown hub 'h9'",),
        extra_vars=networks(net(topology='hub_and_spoke', hubs=['h9'])),
    ),
    Case(
        'primary-hub-not-hub',
        'hubs',
        'wireguard_primary_hub naming a spoke',
        'check',
        ("wireguard_primary_hub.wg0 is 'h3', which is not a hub",),
        extra_vars=networks(net(topology='hub_and_spoke', hubs=['h1'])),
        inventory=hosts(h2={'wireguard_primary_hub': {'wg0': 'h3'}}),
    ),
    Case(
        'groups-none',
        'groups',
        'topology groups without peer_groups',
        'check',
        ('topology groups needs peer_groups',),
        extra_vars=networks(net(topology='groups')),
    ),
    Case(
        'groups-unknown-host',
        'groups',
        'a peer group with an unknown host',
        'check',
        ("peer_groups.east: 'h9' is neither an inventory host nor a group",),
        extra_vars=networks(net(topology='groups', peer_groups={'east': ['h1', 'h9']})),
    ),
    # ---------------------------------------------------------------- clients
    Case(
        'client-name-bad',
        'clients',
        "a client named 'my phone'",
        'check',
        ("'my phone' is not a valid client name",),
        extra_vars=networks(net(clients=[{'name': 'my phone', 'host': 'h1'}])),
    ),
    Case(
        'client-host-unknown',
        'clients',
        'a client attached to a host that is not a member',
        'check',
        ("host: 'h9' is not a member of network wg0",),
        extra_vars=networks(net(clients=[{'name': 'phone', 'host': 'h9'}])),
    ),
    Case(
        'client-name-is-host',
        'clients',
        'a client named like a host',
        'check',
        ('is also an inventory host',),
        extra_vars=networks(net(clients=[{'name': 'h2', 'host': 'h1'}])),
    ),
    Case(
        'client-twice',
        'clients',
        'the same client listed twice',
        'check',
        ('client phone is listed twice',),
        extra_vars=networks(net(clients=[{'name': 'phone', 'host': 'h1'}, {'name': 'phone', 'host': 'h2'}])),
    ),
    Case(
        'client-no-host',
        'clients',
        'a client without host in a site_to_site network',
        'check',
        ('.host: missing',),
        extra_vars=networks(net(clients=[{'name': 'phone'}])),
    ),
    Case(
        'client-endpoint-port',
        'clients',
        'a client endpoint with a port',
        'check',
        ('endpoint:', 'holds a port'),
        extra_vars=networks(
            net(clients=[{'name': 'phone', 'host': 'h1', 'endpoint': 'vpn.example.net:51820'}])
        ),
    ),
    Case(
        'client-unknown-key',
        'clients',
        "a client with a key 'adress'",
        'check',
        ("unknown key 'adress'",),
        extra_vars=networks(net(clients=[{'name': 'phone', 'host': 'h1', 'adress': '100.64.0.9/24'}])),
    ),
    Case(
        'client-allowed-bad',
        'clients',
        "a client allowed_ips 'everything'",
        'check',
        ("allowed_ips[0]: 'everything' is not a network",),
        extra_vars=networks(net(clients=[{'name': 'phone', 'host': 'h1', 'allowed_ips': ['everything']}])),
    ),
    # ---------------------------------------------------------------- other variables
    Case(
        'net-unknown-key',
        'other',
        "a network key 'prot' (for port)",
        'check',
        ("unknown key 'prot'",),
        extra_vars=networks(net(prot=51820)),
    ),
    Case(
        'net-state-bad',
        'other',
        "state 'gone'",
        'check',
        (".state: 'gone'; use present or absent",),
        extra_vars=networks(net(state='gone')),
    ),
    Case(
        'net-bool-bad',
        'other',
        "preshared_keys 'maybe'",
        'check',
        ("preshared_keys: 'maybe' is not a boolean",),
        extra_vars=networks(net(preshared_keys='maybe')),
    ),
    Case(
        'net-group-unknown',
        'other',
        'a network group that does not exist',
        'check',
        ("group: inventory group 'gateways' does not exist",),
        extra_vars=networks(net(group='gateways')),
    ),
    Case(
        'networks-not-list',
        'other',
        'wireguard_networks is a string',
        'check',
        ('wireguard_networks: must be a list',),
        extra_vars={'wireguard_networks': 'wg0'},
    ),
    Case(
        'network-not-dict',
        'other',
        'a network written as a string',
        'check',
        ('wireguard_networks[0]: must be a dict',),
        extra_vars={'wireguard_networks': ['wg0']},
    ),
    Case(
        'ufw-masquerade',
        'other',
        'masquerade with the ufw backend',
        'check',
        ('ufw has no masquerade rules',),
        extra_vars=networks(net(masquerade=True)) | {'wireguard_firewall': 'ufw'},
    ),
    Case(
        'firewall-unknown',
        'other',
        "wireguard_firewall 'pf'",
        'argspec',
        ('wireguard_firewall', 'must be one of: nftables, firewalld, ufw, iptables, none'),
        extra_vars={'wireguard_firewall': 'pf'},
    ),
    Case(
        'regenerate-unknown',
        'other',
        "wireguard_key_regenerate 'sometimes'",
        'argspec',
        ('wireguard_key_regenerate', 'must be one of: never, fail, always'),
        extra_vars={'wireguard_key_regenerate': 'sometimes'},
    ),
]

STAGES = {
    'check': 'controller check, before any host is contacted',
    'probe-verdict': 'fleet verdict on every host\'s read-only probe, before the first change on any host',
    'argspec': 'the role\'s argument spec, before any task',
}


def markdown():
    """The table of docs/BAD-INPUTS.md."""
    rows = ['| # | class | what the admin did | stopped at | the message names |', '|---|---|---|---|---|']
    for i, case in enumerate(CASES, 1):
        names = ' / '.join(f'`{e}`' for e in case.expect).replace('|', '\\|')
        rows.append(f'| {i} | {case.klass} | {case.title.replace("|", "/")} | {case.stage} | {names} '
                    '| refused, nothing changed |')
    return '\n'.join(rows) + '\n'


if __name__ == '__main__':
    print(markdown(), end='')
