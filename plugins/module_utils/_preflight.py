# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preflight verdict: every host's probe judged together, before the first change on any host.

Pure functions on plain data (the fleet, the registry, the probe results of wireguard_probe and
each host's role settings), called once per run by wireguard_inventory stage=preflight. An error
anywhere stops every host, so the fleet is never half-applied. It enforces, with the host's real
state in hand:

* keys: a key file is replaced only with a validated key and never over a valid key unless
  wireguard_key_regenerate asks (a vault key included); a PUBLIC key where a private key belongs
  is refused; a key file that vanished while the interface runs is restored, not replaced;
* live peers: a registry that lost a member which a live interface has as a peer, or that gives a
  peer another key while the live one has a fresh handshake (and the new key is not announced as
  its successor, previous_public_key), stops the run instead of dropping or swapping the peer;
* a key that changes in this run reaches every peer: the peers must be in the run;
* capabilities: what the host must do (create a link, turn on forwarding, load nft rules, write
  its files, bind the port, resolve its peers' names) it can do.

Messages name the host, the variable or file, and the way out. `probe_args()` says what each
host's probe has to look at.
"""

from __future__ import annotations

from ansible_collections.meshlab.wireguard.plugins.module_utils._engines import LINK_KINDS
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import (
    HANDSHAKE_FRESH_SECONDS,
    REBUILD_COMMAND,
)

LOST = 'the registry lost it'  # the words of every error about a registry that lost a live host
FREE_BYTES_MIN = 64 * 1024
FORWARDING_SYSCTLS = ('net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding')


# --------------------------------------------------------------------------- what to probe

def _present(fleet):
    return {n: net for n, net in (fleet.get('networks') or {}).items() if net['state'] == 'present'}


def _reg_net(registry, name):
    return ((registry or {}).get('networks') or {}).get(name) or {}


def _is_ip(text):
    import ipaddress
    try:
        ipaddress.ip_address(str(text).strip('[]').partition('%')[0])
    except ValueError:
        return False
    return True


def probe_args(fleet, registry, host, key_dir, config_dir):
    """What HOST's probe looks at: {networks, public_keys, resolve, sysctls}."""
    networks, public_keys, resolve = [], {}, set()
    endpoints = fleet.get('endpoints') or {}
    for name, net in sorted(_present(fleet).items()):
        if host not in net['members']:
            continue
        networks.append({'name': name, 'key_path': f'{key_dir}/{name}.key', 'config_dir': config_dir,
                         'port': net['port']})
        rnet = _reg_net(registry, name)
        for kind in ('hosts', 'clients'):
            for owner, entry in sorted((rnet.get(kind) or {}).items()):
                for field in ('public_key', 'previous_public_key'):
                    key = (entry or {}).get(field)
                    if key:
                        public_keys.setdefault(key, f'the public key of {kind[:-1]} {owner} in the registry')
        for member in net['members']:
            ep = endpoints.get(member)
            if member != host and ep and not _is_ip(ep):
                resolve.add(ep)
    return {'networks': networks, 'public_keys': public_keys, 'resolve': sorted(resolve),
            'sysctls': list(FORWARDING_SYSCTLS)}


# --------------------------------------------------------------------------- helpers

def forwarding_reasons(fleet, host):
    """Why HOST forwards packets (hub, site gateway with LANs, clients, masquerade), per network."""
    reasons = []
    for name, net in sorted(_present(fleet).items()):
        if host not in net['members']:
            continue
        if net['topology'] == 'hub_and_spoke' and host in net['hubs']:
            reasons.append(f'hub of {name}')
        lans = net['lans'].get(host)
        if lans:
            site = next((s for s, gw in net['gateways'].items() if gw == host), '?')
            reasons.append(f'gateway of site {site} in {name} (LANs {", ".join(lans)})')
        if any(c['host'] == host for c in net['clients']):
            reasons.append(f'clients attached in {name}')
        if net['masquerade']:
            reasons.append(f'masquerade in {name}')
    return reasons


def has_ipv6(fleet, host):
    for net in _present(fleet).values():
        if host not in net['members']:
            continue
        if net['ipv6_pool'] or any(':' in a for a in net['explicit'].get(host, [])):
            return True
    return False


def _fresh(age):
    return age is not None and age < HANDSHAKE_FRESH_SECONDS


def _restore_hint(name, facts, live):
    backups = (facts or {}).get('backups') or []
    ways = []
    if backups:
        ways.append(f'restore it from the backup {backups[-1]}')
    if live and live.get('public_key'):
        path = (facts or {}).get('path') or f'/etc/wireguard/{name}.key'
        ways.append(f'write back the key {name} runs with: `wg show {name} private-key > {path}; '
                    f'chmod 600 {path}`')
    ways.append('or set wireguard_key_regenerate: always for one run to make a new key (the old file '
                'is kept as a backup; peers learn the new key in the same run)')
    text = '; '.join(ways)
    return text[0].upper() + text[1:]


# --------------------------------------------------------------------------- keys

class _KeyOutcome:
    """What this run does to one host's key of one network."""

    def __init__(self):
        self.errors = []
        self.new_public = None  # the public key published after the run; '<new>' when generated
        self.why = ''


def own_key(host, name, nf, entry, settings):
    """Errors about HOST's key of network NAME, and the key it will publish."""
    out = _KeyOutcome()
    regen = settings.get('regenerate') or 'never'
    fkey = nf.get('key') or {'state': 'absent'}
    live = nf.get('live') or None
    supplied = nf.get('supplied')
    path = fkey.get('path') or f'{name}.key'
    where = f'host {host}: {path}'
    state = fkey['state']
    if supplied is not None and supplied['state'] != 'valid':
        out.errors.append(f'host {host}: wireguard_private_keys.{name}: {supplied.get("error")}; put the '
                          'private key (as `wg genkey` prints it) in vault')
        supplied = None
    elif supplied is not None and supplied.get('public_key_of'):
        out.errors.append(f'host {host}: wireguard_private_keys.{name} holds {supplied["public_key_of"]}, '
                          'a PUBLIC key, not a private key; put the private key in vault (a public key '
                          'there would make the peers use a key whose private half is public)')
        supplied = None
    if state == 'unreadable':
        out.errors.append(f'{where}: {fkey.get("error")}')
        return out
    if state == 'invalid' and regen != 'always' and supplied is None:
        out.errors.append(f'{where} does not hold a valid private key ({fkey.get("error")}). Nothing was '
                          f'changed. {_restore_hint(name, fkey, live)}')
        return out
    if state == 'valid' and fkey.get('public_key_of') and regen != 'always':
        out.errors.append(f'{where} holds {fkey["public_key_of"]}: a PUBLIC key, not a private key. '
                          f'Nothing was changed. {_restore_hint(name, fkey, live)}')
        return out
    if state == 'valid' and regen == 'fail' and fkey.get('clamped') is False:
        out.errors.append(f'{where} holds an unclamped key and wireguard_key_regenerate is fail: check '
                          f'that `wg pubkey < {path}` prints this host\'s public key, then use '
                          'wireguard_key_regenerate: never to keep it or always to replace it')
        return out
    live_public = (live or {}).get('public_key')
    file_public = fkey.get('public_key') if state == 'valid' else None
    if supplied is not None:
        if file_public and supplied.get('public_key') != file_public and regen != 'always':
            out.errors.append(
                f'host {host}: wireguard_private_keys.{name} differs from the valid key in {path} (public '
                f'key '
                f'{file_public}); a valid key is never replaced unless asked: set wireguard_key_regenerate: '
                'always for this run to install the vault key (the old file is kept as a backup), or put '
                'the file\'s key in vault')
            return out
        out.new_public = supplied.get('public_key') or '<vault key>'
        out.why = 'the key from vault'
    elif regen == 'always':
        out.new_public, out.why = '<new>', 'wireguard_key_regenerate: always'
    elif state == 'absent':
        if live_public:
            out.errors.append(f'{where} is gone while {name} runs with public key {live_public}. Nothing was '
                              f'changed. {_restore_hint(name, fkey, live)}')
            return out
        out.new_public, out.why = '<new>', f'{path} does not exist (a new key is made)'
    else:
        out.new_public = file_public
        if live_public and file_public and file_public != live_public:
            out.why = f'the key in {path} was replaced (the live {name} runs {live_public})'
        elif entry and file_public and entry.get('public_key') != file_public:
            out.why = f'the key in {path} differs from the registry\'s {entry.get("public_key")}'
    return out


def key_reuse_errors(host, name, nf, registry):
    """The vault key or key file of HOST is another member's private key (same public key)."""
    errors = []
    for source, facts in (('wireguard_private_keys.' + name, nf.get('supplied')), ((nf.get('key') or {}).get(
            'path'), nf.get('key'))):
        public = (facts or {}).get('public_key')
        if not public or (facts or {}).get('state') != 'valid':
            continue
        for net_name, rnet in sorted(((registry or {}).get('networks') or {}).items()):
            for kind in ('hosts', 'clients'):
                for owner, entry in sorted((rnet.get(kind) or {}).items()):
                    if (entry or {}).get('public_key') == public and not (kind == 'hosts' and owner == host):
                        errors.append(f'host {host}: {source} is the private key of {kind[:-1]} {owner} '
                                      f'(network {net_name}): every host needs its own key; give {host} its '
                                      'own (remove the entry to let the role make one)')
    return errors


# --------------------------------------------------------------------------- live peers

def live_peer_errors(host, name, net, nf, registry):
    """A live peer that the registry lost, or that the registry would swap while it is in use."""
    live = nf.get('live')
    if not live:
        return []
    errors = []
    hosts = (_reg_net(registry, name).get('hosts') or {})
    members = set(net['members'])
    if host not in hosts and (nf.get('config_names') or live.get('peers')):
        errors.append(f'host {host}: {name} runs (public key {live.get("public_key")}) but the registry has '
                      f'no '
                      f'entry for {host} in {name}: {LOST}. Restore the registry from a good '
                      f'copy, point wireguard_registry_path at the right file, or rebuild it from the live '
                      f'hosts with `{REBUILD_COMMAND}`')
    for peer in live.get('peers') or ():
        other = peer.get('name')
        if not other or other not in members or other == host:
            continue  # not a member (any more): removed as usual
        entry = hosts.get(other) or {}
        registered = entry.get('public_key')
        if not registered:
            errors.append(f'host {host}: its live {name} has peer {other} ({peer["public_key"]}), a member '
                          f'of '
                          f'{name}, but the registry has no key for {other}: {LOST}, and '
                          f'this run would drop the link. Restore the registry from a good copy, or rebuild '
                          f'it from the live hosts with `{REBUILD_COMMAND}`')
        elif registered != peer['public_key'] and _fresh(peer.get('handshake_age')) \
                and entry.get('previous_public_key') != peer['public_key']:
            errors.append(f'host {host}: the registry gives peer {other} the key {registered}, but '
                          f'{host}\'s live '
                          f'{name} talks to {other} with key {peer["public_key"]} (handshake '
                          f'{peer["handshake_age"]} s ago); swapping would cut a working link. If {other}\'s '
                          f'key really changed, run {other} too (it publishes the change); otherwise fix '
                          f'networks.{name}.hosts.{other}.public_key in the registry, or rebuild it with '
                          f'`{REBUILD_COMMAND}`')
    return errors


def reach_errors(host, name, outcome, entry, linked, clients, run_hosts):
    """A key that changes in this run must reach every peer: they must be in the run."""
    old = (entry or {}).get('public_key')
    if not old or not outcome.new_public or outcome.new_public == old:
        return [], []
    missing = sorted(p for p in linked if p not in run_hosts)
    errors, warnings = [], []
    if missing:
        errors.append(f'host {host}: its {name} key changes in this run ({outcome.why or "new key"}), but '
                      f'its '
                      f'peers {", ".join(missing[:10])} are not in this run (--limit or the play\'s hosts): '
                      'they would keep the old key and lose the link. Run them too, or keep the old key')
    if clients:
        warnings.append(f'host {host}: its {name} key changes in this run ({outcome.why or "new key"}): the '
                        f'clients {", ".join(clients)} must import their new configs from '
                        f'wireguard_clients_dir')
    return errors, warnings


# --------------------------------------------------------------------------- capabilities

def capability_errors(host, fleet, facts, settings):
    errors, warnings = [], []
    caps = facts.get('capabilities') or {}
    install = bool(settings.get('install_packages'))
    if caps.get('net_admin') is False:
        errors.append(f'host {host}: the role needs CAP_NET_ADMIN (it makes links, addresses, routes and '
                      'firewall rules) and runs without it: use become: true, or give the container '
                      '--cap-add NET_ADMIN')
    for lib, pkg in (('nacl', 'python3-nacl'), ('pyroute2', 'python3-pyroute2')):
        if caps.get(lib) is False and not install:
            errors.append(f'host {host}: the Python library {pkg} is missing and wireguard_install_packages '
                          f'is false: install {pkg}, or set wireguard_install_packages: true')
    for path, d in sorted((caps.get('dirs') or {}).items()):
        if not d.get('writable') or d.get('read_only'):
            errors.append(f'host {host}: {path} is not writable ({d.get("checked")} is read-only or not '
                          'writable): the role keeps key and config files there; make it writable, or '
                          'set wireguard_key_dir / wireguard_config_dir')
        elif d.get('free_bytes') is not None and d['free_bytes'] < FREE_BYTES_MIN:
            errors.append(f'host {host}: no space left on the file system of {path} ({d["free_bytes"]} bytes '
                          'free): a key or config written there could not be completed; free some space')
    errors += _engine_errors(host, fleet, facts, settings, caps, install)
    more_errors, more_warnings = _forwarding_findings(host, fleet, caps, settings)
    errors += more_errors
    warnings += more_warnings
    if settings.get('firewall') == 'nftables' and 'nft' in caps:
        nft = caps['nft']
        if not nft.get('present') and not install:
            errors.append(f'host {host}: nft is not installed and wireguard_install_packages is false: '
                          'install nftables, set wireguard_install_packages: true, or set '
                          'wireguard_firewall: none and manage the firewall yourself')
        elif nft.get('present') and not nft.get('usable'):
            errors.append(f'host {host}: nftables rules cannot be loaded here (nft -c: {nft.get("error")}): '
                          'give the host CAP_NET_ADMIN and nf_tables, or set wireguard_firewall: none and '
                          'manage the firewall yourself')
    return errors, warnings


def _engine_errors(host, fleet, facts, settings, caps, install):
    errors = []
    engine = settings.get('engine') or 'auto'
    for name, nf in sorted((facts.get('networks') or {}).items()):
        link = nf.get('link') or {}
        if link.get('error'):
            errors.append(f'host {host}: cannot look at the link {name}: {link["error"]}')
            continue
        if link.get('kind') is not None and link['kind'] not in LINK_KINDS:
            errors.append(f'host {host}: a link named {name} of kind {link["kind"]} exists: the network '
                          f'{name} would take it over; rename the network (wireguard_networks[].name) or '
                          'remove that link')
            continue
        if nf.get('port_problem'):
            net = (fleet.get('networks') or {}).get(name) or {}
            errors.append(f'host {host}: wireguard_networks ({name}).port {net.get("port")}: '
                          f'{nf["port_problem"]} on {host}; choose another port (`ss -ulpn` shows which '
                          'program holds it)')
        if link.get('engine') or nf.get('live'):
            continue  # the interface exists: nothing to create
        kernel = caps.get('kernel_wireguard')
        userspace_ok = caps.get('wireguard_go') or install
        tun_ok = (caps.get('tun') or {}).get('usable')
        if engine == 'kernel' and not kernel:
            errors.append(f'host {host}: wireguard_engine is kernel but the kernel has no WireGuard module: '
                          'load it (modprobe wireguard), or set wireguard_engine: auto')
        elif engine != 'kernel' and not kernel:
            if not userspace_ok:
                errors.append(f'host {host}: cannot create {name}: the kernel has no WireGuard and '
                              'wireguard-go is not installed: install wireguard-go or set '
                              'wireguard_install_packages: true')
            elif not tun_ok:
                errors.append(f'host {host}: cannot create {name} with wireguard-go: /dev/net/tun cannot be '
                              f'opened ({(caps.get("tun") or {}).get("error")}): give the container the '
                              f'device '
                              '(--device /dev/net/tun) and CAP_NET_ADMIN')
    return errors


def _forwarding_findings(host, fleet, caps, settings):
    errors, warnings = [], []
    reasons = forwarding_reasons(fleet, host)
    if not reasons:
        return errors, warnings
    names = ['net.ipv4.ip_forward'] + (['net.ipv6.conf.all.forwarding'] if has_ipv6(fleet, host) else [])
    sysctl = caps.get('sysctl') or {}
    in_file = ((caps.get('sysctl_file') or {}).get('values') or {})
    why = '; '.join(reasons)
    off = [n for n in names if (sysctl.get(n) or {}).get('value') not in ('1', None)]
    if not settings.get('manage_forwarding'):
        if off:
            warnings.append(f'host {host}: forwarding ({", ".join(off)}) is off but the host forwards '
                            f'({why}) '
                            'and wireguard_manage_forwarding is false: turn it on yourself, or traffic '
                            'through it is dropped')
        return errors, warnings
    for n in names:
        facts = sysctl.get(n) or {}
        settled = facts.get('value') == '1' and in_file.get(n) == '1'
        if not facts.get('writable') and not settled:
            errors.append(f'host {host}: cannot set {n} ({facts.get("error") or "not writable"}), which it '
                          f'needs '
                          f'({why}): set wireguard_manage_forwarding: false and turn forwarding on where the '
                          'host is made (e.g. podman run --sysctl ' + n + '=1), or give the host the right')
    sfile = caps.get('sysctl_file') or {}
    if sfile and not all(in_file.get(n) == '1' for n in names) and not sfile.get('writable'):
        errors.append(f'host {host}: cannot write {sfile.get("path")} (wireguard_sysctl_file; '
                      f'{sfile.get("checked")} is not writable): set wireguard_sysctl_file to a writable '
                      'place, or wireguard_manage_forwarding: false')
    if off and not errors:
        warnings.append(f'host {host}: turning on {", ".join(off)} because it forwards for {why}. Forwarding '
                        'applies between all its interfaces, not only the tunnel: keep a firewall '
                        '(wireguard_firewall), or set wireguard_manage_forwarding: false to decide yourself')
    return errors, warnings


def resolve_errors(host, fleet, facts):
    errors = []
    endpoints = fleet.get('endpoints') or {}
    owners = {}
    for owner, ep in endpoints.items():
        owners.setdefault(ep, []).append(owner)
    for name, found in sorted((facts.get('resolved') or {}).items()):
        if found.get('addresses'):
            continue
        who = ', '.join(sorted(owners.get(name, ['?'])))
        errors.append(f'host {host} cannot resolve {name}, the wireguard_endpoint of {who} '
                      f'({found.get("error") or "no address"}): give {who} a literal address in '
                      f'wireguard_endpoint, or fix DNS or /etc/hosts on {host}')
    return errors


# --------------------------------------------------------------------------- what the key task must do

def key_work(networks, settings):
    """The networks whose key file wireguard_key must handle in this run: all but a valid 0600 key
    whose public key is known and that neither a vault key nor regenerate=always replaces. The key
    task skips the others, so an unchanged run reaches each host once less."""
    regen = settings.get('regenerate') or 'never'
    out = []
    for name, nf in sorted((networks or {}).items()):
        key = nf.get('key') or {}
        supplied = nf.get('supplied')
        settled = (key.get('state') == 'valid' and key.get('public_key') and key.get('mode') == '0600'
                   and regen != 'always'
                   and (supplied is None or supplied.get('public_key') == key.get('public_key')))
        if not settled:
            out.append(name)
    return out


def forwarding_work(capabilities):
    """The forwarding sysctls the sysctl task must handle: all but those that are 1 both live and in
    the sysctl file (the task then has nothing to do for them, so an unchanged run skips it)."""
    caps = capabilities or {}
    in_file = ((caps.get('sysctl_file') or {}).get('values') or {})
    return [n for n in FORWARDING_SYSCTLS
            if ((caps.get('sysctl') or {}).get(n) or {}).get('value') != '1' or in_file.get(n) != '1']


# --------------------------------------------------------------------------- all

def verdict(fleet, registry, probes, settings, run_hosts, failed=None, peers_of=None):
    """(errors, warnings) for the whole run.

    probes     {host: wireguard_probe result} of the hosts that answered
    settings   {host: {regenerate, manage_forwarding, firewall, install_packages, engine}}
    run_hosts  every host of this run (ansible_play_hosts_all)
    failed     {host: message} of probes that failed
    peers_of   callable(host, network) -> names of the hosts HOST peers with (only called when a key
               changes); default: every other member
    """
    errors, warnings = [], []
    for host, msg in sorted((failed or {}).items()):
        errors.append(f'host {host}: the probe failed, so what it can do is unknown: {msg}')
    present = _present(fleet)
    new_keys = {}  # public key after the run -> ['host h1 (wg0)', ...]
    for host in sorted(probes):
        facts = probes[host] or {}
        s = settings.get(host) or {}
        nets = facts.get('networks') or {}
        for name, net in sorted(present.items()):
            if host not in net['members'] or name not in nets:
                continue
            nf = nets[name]
            entry = (_reg_net(registry, name).get('hosts') or {}).get(host)
            outcome = own_key(host, name, nf, entry, s)
            errors += outcome.errors
            if outcome.new_public and not outcome.new_public.startswith('<'):
                new_keys.setdefault(outcome.new_public, []).append((host, name))
            errors += key_reuse_errors(host, name, nf, registry)
            errors += live_peer_errors(host, name, net, nf, registry)
            if not outcome.errors:
                linked = peers_of(host, name) if peers_of else [m for m in net['members'] if m != host]
                clients = [c['name'] for c in net['clients'] if c['host'] == host]
                e, w = reach_errors(host, name, outcome, entry, linked, clients, set(run_hosts))
                errors += e
                warnings += w
        e, w = capability_errors(host, fleet, facts, s)
        errors += e
        warnings += w
        errors += resolve_errors(host, fleet, facts)
    errors += shared_key_errors(new_keys)
    return _unique(errors), _unique(warnings)


def shared_key_errors(new_keys):
    """Two hosts that would run with the same key (the same vault key or key file given to both)."""
    errors = []
    for public, users in sorted(new_keys.items()):
        hosts = sorted({h for h, _n in users})
        if len(hosts) > 1:
            where = ', '.join(f'{h} ({n})' for h, n in sorted(users))
            errors.append(f'hosts {", ".join(hosts)} would all run with the private key of public key '
                          f'{public} '
                          f'({where}): every host needs its own key; give each its own vault entry, or '
                          'remove the entries to let the role make a key on each host')
    return errors


def _unique(items):
    out = []
    for i in items:
        if i not in out:
            out.append(i)
    return out
