# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role's firewall backends: what each one owns, how it is kept, how it is removed.

Every backend owns objects by name and touches nothing else:

- nftables: ``table inet meshlab_wireguard``, its rules file and boot unit (`_nftables`).
- iptables: chains ``MESHLAB-WG-INPUT``/``-FORWARD`` (filter) and ``-POSTROUTING`` (nat), one jump
  to each from its built-in chain, the rules files and script in the rules directory and the unit
  ``meshlab-wireguard-iptables.service``. The role's iptables tasks keep them; this file removes them.
- firewalld: zone ``meshlab-wg`` (the WireGuard interfaces; forwarding inside it where the host
  forwards between peers) and policies ``meshlab-wg-listen`` (ANY or the given zone -> HOST: the
  listen ports), ``meshlab-wg-to-lan`` (meshlab-wg -> ANY or the LAN zone: the site LANs by rich
  rule; masquerade, the policy's for IPv4 and a rich rule for IPv6) and ``meshlab-lan-to-wg``
  (the way back, by source). Kept as XML files of ours in /etc/firewalld/{zones,policies}/
  (firewalld's permanent configuration), loaded with ``firewall-cmd --reload`` when a file
  changed or the running firewalld differs from them. No zone or policy of the admin is
  changed: ports are opened by a policy, not in the admin's zone.
- ufw: rules whose comment starts with ``meshlab.wireguard`` (the listen ports, route rules to
  and from the site LANs, between peers), read with ``ufw show added``, added and deleted one by
  one with ``ufw``; ufw itself is never enabled, disabled or reset.

`Firewall(module, params).run()` keeps the selected backend (nftables, firewalld, ufw; the
iptables side of the role is its own tasks) and removes the objects of every other backend that
are present; everything is worked out first (check mode reports exactly that), then changed.
What is looked at for a backend that is not used is cheap: files of ours, a grep of ufw's rules
files, iptables-save when iptables exists.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
from typing import Dict, List, Optional, Tuple
from xml.sax.saxutils import quoteattr

from ansible_collections.meshlab.wireguard.plugins.module_utils import _nftables, _systemd
from ansible_collections.meshlab.wireguard.plugins.module_utils._atomic import write_atomic

BACKENDS = ('nftables', 'iptables', 'firewalld', 'ufw')


def argument_spec() -> dict:
    """The options of wireguard_firewall (also what wireguard_probe's verify.firewall takes)."""
    return {
        'backend': {'type': 'str', 'required': True,
                    'choices': list(BACKENDS)},
        'networks': {'type': 'list', 'elements': 'dict', 'default': []},
        'cleanup': {'type': 'bool', 'default': True},
        'nftables': {'type': 'dict', 'default': {}, 'options': {
            'path': {'type': 'path', 'default': '/etc/nftables.d/meshlab-wireguard.nft'},
            'table': {'type': 'str', 'default': 'meshlab_wireguard'},
            'family': {'type': 'str', 'default': 'inet', 'choices': ['inet', 'ip', 'ip6']},
            'content': {'type': 'str'},
            'marker': {'type': 'str'},
            'boot_unit': {'type': 'str'},
        }},
        'iptables': {'type': 'dict', 'default': {}, 'options': {
            'rules_dir': {'type': 'path', 'default': '/etc/iptables'},
            'chain_prefix': {'type': 'str', 'default': 'MESHLAB-WG'},
            'unit': {'type': 'str', 'default': 'meshlab-wireguard-iptables.service'},
        }},
        'firewalld': {'type': 'dict', 'default': {}, 'options': {
            'zone': {'type': 'str', 'default': ''},
            'lan_zone': {'type': 'str', 'default': ''},
        }},
    }


_KIND = {'zones': 'zone', 'policies': 'policy'}
COMMENT = 'meshlab.wireguard'


class Action:
    """One change: a description (what check mode reports) and the call that makes it."""

    def __init__(self, what: str, call=None):
        self.what = what
        self.call = call

    def __repr__(self):
        return f'Action({self.what!r})'


def network_inputs(networks) -> List[dict]:
    """The firewall inputs of the role's per-host networks (other keys are ignored)."""
    out = []
    for net in networks or []:
        out.append({
            'name': str(net['name']),
            'port': int(net['port']),
            'forward_tunnel': bool(net.get('forward_tunnel')),
            'local_lans': [str(ipaddress.ip_network(str(lan), strict=False))
                           for lan in net.get('local_lans') or []],
            'masquerade': bool(net.get('masquerade')),
        })
    return out


def _family(prefix: str) -> str:
    return 'ipv6' if ':' in prefix else 'ipv4'


# --------------------------------------------------------------------------- firewalld

class Firewalld:
    CONF = '/etc/firewalld'
    ZONE = 'meshlab-wg'
    LISTEN = 'meshlab-wg-listen'
    TO_LAN = 'meshlab-wg-to-lan'
    FROM_LAN = 'meshlab-lan-to-wg'
    OBJECTS = (('zones', ZONE), ('policies', LISTEN), ('policies', TO_LAN), ('policies', FROM_LAN))
    HEADER = ('<?xml version="1.0" encoding="utf-8"?>\n'
              '<!-- Managed by meshlab.wireguard (wireguard_firewall). -->\n')

    def __init__(self, module, networks, zone='', lan_zone=''):
        self.module = module
        self.networks = networks
        self.zone = zone or ''
        self.lan_zone = lan_zone or ''
        self.cmd = module.get_bin_path('firewall-cmd')

    def path(self, kind, name):
        return os.path.join(self.CONF, kind, name + '.xml')

    # ---- what we want: the files and the runtime settings firewalld reports for them
    def desired(self) -> Dict[Tuple[str, str], Tuple[str, dict]]:
        nets = self.networks
        want = {}
        lines = ['<zone>', f'  <short>{self.ZONE}</short>',
                 '  <description>WireGuard interfaces (meshlab.wireguard)</description>']
        lines += [f'  <interface name={quoteattr(n["name"])}/>' for n in nets]
        forward = any(n['forward_tunnel'] for n in nets)
        if forward:
            lines.append('  <forward/>')
        lines.append('</zone>')
        want[('zones', self.ZONE)] = (self.HEADER + '\n'.join(lines) + '\n', {
            'target': 'default', 'interfaces': sorted(n['name'] for n in nets), 'forward': forward,
            'services': [], 'ports': [], 'masquerade': False, 'sources': []})
        ports = sorted({n['port'] for n in nets})
        ingress = self.zone or 'ANY'
        want[('policies', self.LISTEN)] = (self._policy(
            self.LISTEN, 'WireGuard listen ports', [ingress], ['HOST'], ports=ports), {
            'target': 'CONTINUE', 'ingress_zones': [ingress], 'egress_zones': ['HOST'],
            'ports': [[str(p), 'udp'] for p in ports], 'masquerade': False, 'rich_rules': []})
        lans = sorted({lan for n in nets for lan in n['local_lans']}, key=_lan_key)
        masquerade = any(n['masquerade'] for n in nets)
        lan_side = self.lan_zone or 'ANY'
        if lans or masquerade:
            rules = [f'rule family="{_family(lan)}" destination address="{lan}" accept' for lan in lans]
            if masquerade:
                # a policy's masquerade is IPv4 only (firewalld >= 0.8); IPv6 takes a rich rule
                rules.append('rule family="ipv6" masquerade')
            want[('policies', self.TO_LAN)] = (self._policy(
                self.TO_LAN, 'From the WireGuard tunnels to the site LANs', [self.ZONE], [lan_side],
                rules=[(lan, 'destination') for lan in lans], masquerade=masquerade), {
                'target': 'CONTINUE', 'ingress_zones': [self.ZONE], 'egress_zones': [lan_side],
                'ports': [], 'masquerade': masquerade, 'rich_rules': rules})
        if lans:
            rules = [f'rule family="{_family(lan)}" source address="{lan}" accept' for lan in lans]
            want[('policies', self.FROM_LAN)] = (self._policy(
                self.FROM_LAN, 'From the site LANs into the WireGuard tunnels', [lan_side], [self.ZONE],
                rules=[(lan, 'source') for lan in lans]), {
                'target': 'CONTINUE', 'ingress_zones': [lan_side], 'egress_zones': [self.ZONE],
                'ports': [], 'masquerade': False, 'rich_rules': rules})
        return want

    def _policy(self, name, description, ingress, egress, ports=(), rules=(), masquerade=False):
        lines = ['<policy target="CONTINUE" priority="-1">', f'  <short>{name}</short>',
                 f'  <description>{description} (meshlab.wireguard)</description>']
        lines += [f'  <ingress-zone name={quoteattr(z)}/>' for z in ingress]
        lines += [f'  <egress-zone name={quoteattr(z)}/>' for z in egress]
        lines += [f'  <port protocol="udp" port="{p}"/>' for p in ports]
        if masquerade:
            lines += ['  <masquerade/>', '  <rule family="ipv6">', '    <masquerade/>', '  </rule>']
        for prefix, side in rules:
            lines += [f'  <rule family="{_family(prefix)}">', f'    <{side} address="{prefix}"/>',
                      '    <accept/>', '  </rule>']
        lines.append('</policy>')
        return self.HEADER + '\n'.join(lines) + '\n'

    # ---- the running firewalld
    def _client(self):
        """A connected FirewallClient, or None when firewalld does not run (or is not installed)."""
        try:
            from firewall.client import FirewallClient  # python3-firewall, installed with firewalld
        except ImportError:
            return None
        try:
            client = FirewallClient(wait=0)
        except Exception:  # no system bus, no firewalld: nothing runs
            return None
        return client if client.connected else None

    def _runtime(self, client, kind, name) -> Optional[dict]:
        try:
            if kind == 'zones':
                if name not in client.getZones():
                    return None
                return client.getZoneSettings(name).getSettingsDict()
            if name not in client.getPolicies():
                return None
            return client.getPolicySettings(name).getSettingsDict()
        except Exception:  # an object that vanished meanwhile counts as missing
            return None

    @staticmethod
    def _same(want: dict, have: Optional[dict]) -> bool:
        if have is None:
            return False
        for key, value in want.items():
            got = have.get(key)
            if isinstance(value, list):
                norm = sorted(tuple(x) if isinstance(x, (list, tuple)) else x for x in (got or []))
                if norm != sorted(tuple(x) if isinstance(x, (list, tuple)) else x for x in value):
                    return False
            elif got != value:
                return False
        return True

    def _read(self, path):
        try:
            with open(path, encoding='utf-8') as f:
                return f.read()
        except FileNotFoundError:
            return None

    def _reload(self):
        rc, out, err = self.module.run_command([self.cmd, '--reload'])
        if rc != 0:
            self.module.fail_json(msg=f'firewall-cmd --reload failed (rc={rc}): {(err or out).strip()}')

    def _write(self, path, text):
        def call():
            os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
            write_atomic(path, text, mode=0o644)
        return call

    @staticmethod
    def _remove(paths):
        def call():
            for p in paths:
                if os.path.lexists(p):
                    os.unlink(p)
        return call

    def present(self) -> Tuple[List[Action], dict]:
        want = self.desired()
        actions = []
        for kind, name in self.OBJECTS:
            path = self.path(kind, name)
            text = want.get((kind, name), (None,))[0]
            current = self._read(path)
            if text is not None and current != text:
                actions.append(Action(f'firewalld: write {_KIND[kind]} {name}', self._write(path, text)))
            elif text is None and (current is not None or os.path.lexists(path + '.old')):
                actions.append(Action(f'firewalld: remove {_KIND[kind]} {name}',
                                      self._remove([path, path + '.old'])))
        client = self._client()
        info = {'firewalld_running': client is not None}
        if client is None:
            if not self.cmd and not self.module.check_mode:
                self.module.fail_json(msg='firewall-cmd is not installed on this host: install firewalld '
                                          'and python3-firewall (role: wireguard_install_packages: true), '
                                          'or choose another firewall backend (wireguard_firewall)')
            if self.cmd:
                self.module.warn('firewalld is not running: the zone and policies are in its permanent '
                                 'configuration and apply when it starts (systemctl status firewalld)')
            return actions, info
        stale = []
        for kind, name in self.OBJECTS:
            have = self._runtime(client, kind, name)
            if (kind, name) in want:
                if not self._same(want[(kind, name)][1], have):
                    stale.append(f'{_KIND[kind]} {name}')
            elif have is not None:
                stale.append(f'{_KIND[kind]} {name}')
        if actions or stale:
            why = 'files changed' if actions else 'the running firewalld differs in ' + ', '.join(stale)
            actions.append(Action(f'firewalld: reload ({why})', self._reload))
        return actions, info

    def absent(self) -> List[Action]:
        paths = [self.path(kind, name) for kind, name in self.OBJECTS]
        found = [p for p in paths + [p + '.old' for p in paths] if os.path.lexists(p)]
        if not found:
            return []
        names = ', '.join(os.path.basename(p) for p in found if not p.endswith('.old'))
        actions = [Action('firewalld: remove ' + names, self._remove(found))]
        if self.cmd:
            rc, _out, _err = self.module.run_command([self.cmd, '--state'])
            if rc == 0:
                actions.append(Action('firewalld: reload (zone and policies of ours removed)', self._reload))
        return actions


def _lan_key(prefix):
    net = ipaddress.ip_network(prefix)
    return (net.version, net)


# --------------------------------------------------------------------------- ufw

class Ufw:
    RULES = ('/etc/ufw/user.rules', '/etc/ufw/user6.rules')
    CONF = '/etc/ufw/ufw.conf'
    HEX_COMMENT = COMMENT.encode().hex()   # ufw keeps comments hex-encoded in its rules files

    def __init__(self, module, networks):
        self.module = module
        self.networks = networks
        self.cmd = module.get_bin_path('ufw', opt_dirs=['/usr/sbin', '/sbin'])

    def desired(self) -> List[str]:
        """Our rules as `ufw show added` prints them (without the leading 'ufw ')."""
        rules = []
        for n in self.networks:
            name = n['name']
            rules.append(f"allow {n['port']}/udp comment '{COMMENT} {name}'")
            if n['forward_tunnel']:
                rules.append(f"route allow in on {name} out on {name} comment '{COMMENT} {name} peers'")
            for lan in n['local_lans']:
                rules.append(f"route allow in on {name} to {lan} comment '{COMMENT} {name} to LAN'")
                rules.append(f"route allow out on {name} from {lan} comment '{COMMENT} {name} from LAN'")
        return rules

    def live(self) -> List[str]:
        rc, out, err = self.module.run_command([self.cmd, 'show', 'added'])
        if rc != 0:
            self.module.fail_json(msg=f'ufw show added failed (rc={rc}): {(err or out).strip()}')
        rules = []
        for line in out.splitlines():
            line = line.strip()
            if line.startswith('ufw ') and f"comment '{COMMENT}" in line:
                rules.append(line[4:])
        return rules

    def _run(self, args):
        def call():
            rc, out, err = self.module.run_command([self.cmd, *args])
            if rc != 0:
                self.module.fail_json(msg=f"ufw {' '.join(args)} failed (rc={rc}): {(err or out).strip()}")
        return call

    @staticmethod
    def _delete_args(rule):
        args = shlex.split(rule)
        return ['route', 'delete', *args[1:]] if args[0] == 'route' else ['delete', *args]

    def enabled(self) -> bool:
        try:
            with open(self.CONF, encoding='utf-8') as f:
                return re.search(r'^ENABLED=yes', f.read(), re.M) is not None
        except OSError:
            return False

    def present(self) -> Tuple[List[Action], dict]:
        want = self.desired()
        if not self.cmd:
            if not self.module.check_mode:
                self.module.fail_json(msg='ufw is not installed on this host: install it (role: '
                                          'wireguard_install_packages: true), or choose another firewall '
                                          'backend (wireguard_firewall)')
            return [Action(f'ufw: add {r}') for r in want], {'ufw_enabled': False}
        have = self.live()
        actions = [Action(f'ufw: delete {r}', self._run(self._delete_args(r))) for r in have if r not in want]
        actions += [Action(f'ufw: add {r}', self._run(shlex.split(r))) for r in want if r not in have]
        return actions, {'ufw_enabled': self.enabled()}

    def absent(self) -> List[Action]:
        if not self.cmd or not self._rules_mention_us():
            return []
        return [Action(f'ufw: delete {r}', self._run(self._delete_args(r))) for r in self.live()]

    def _rules_mention_us(self) -> bool:
        for path in self.RULES:
            try:
                with open(path, encoding='utf-8', errors='replace') as f:
                    if self.HEX_COMMENT in f.read():
                        return True
            except OSError:
                continue
        return False


# --------------------------------------------------------------------------- iptables (removal)

class IptablesCleanup:
    FILES = ('meshlab-wireguard.rules.v4', 'meshlab-wireguard.rules.v6', 'meshlab-wireguard-iptables.sh')

    def __init__(self, module, rules_dir, prefix, unit):
        self.module = module
        self.rules_dir = rules_dir
        self.prefix = prefix
        self.unit = unit

    def _chains(self, tool) -> Tuple[List[Tuple[str, str]], List[Tuple[str, List[str]]]]:
        """(our chains [(table, chain)], jumps to them [(table, rule args)]) from <tool>-save."""
        save = self.module.get_bin_path(tool + '-save', opt_dirs=['/usr/sbin', '/sbin'])
        if not save:
            return [], []
        rc, out, _err = self.module.run_command([save])
        if rc != 0:
            return [], []
        chains, jumps, table = [], [], None
        for line in out.splitlines():
            if line.startswith('*'):
                table = line[1:].strip()
            elif line.startswith(':' + self.prefix + '-'):
                chains.append((table, line[1:].split()[0]))
            elif line.startswith('-A ') and f'-j {self.prefix}-' in line:
                args = shlex.split(line)
                if not args[1].startswith(self.prefix + '-'):
                    jumps.append((table, args[1:]))
        return chains, jumps

    def absent(self) -> List[Action]:
        actions = []
        for tool in ('iptables', 'ip6tables'):
            chains, jumps = self._chains(tool)
            if not chains and not jumps:
                continue
            binary = self.module.get_bin_path(tool, opt_dirs=['/usr/sbin', '/sbin'])
            cmds = [[binary, '-w', '-t', t, '-D', *rule] for t, rule in jumps]
            cmds += [[binary, '-w', '-t', t, '-F', c] for t, c in chains]
            cmds += [[binary, '-w', '-t', t, '-X', c] for t, c in chains]
            actions.append(Action(f"{tool}: remove {', '.join(c for _t, c in chains)} and the jumps to them",
                                  self._commands(cmds)))
        files = [os.path.join(self.rules_dir, f) for f in self.FILES
                 if os.path.lexists(os.path.join(self.rules_dir, f))]
        if files:
            actions.append(Action('iptables: remove ' + ', '.join(files), Firewalld._remove(files)))
        unit_path = _systemd.unit_path(self.unit)
        if _systemd.running() and os.path.lexists(unit_path):
            systemctl = _systemd.Systemctl(self.module)
            if systemctl.enabled(self.unit):
                actions.append(Action(f'iptables: disable {self.unit}',
                                      lambda: systemctl.run('disable', self.unit)))
            actions.append(Action(f'iptables: remove {self.unit}', lambda: systemctl.remove_file(unit_path)))
        return actions

    def _commands(self, cmds):
        def call():
            for argv in cmds:
                rc, out, err = self.module.run_command(argv)
                if rc != 0:
                    self.module.fail_json(msg=f"{' '.join(argv)} failed (rc={rc}): {(err or out).strip()}")
        return call


# --------------------------------------------------------------------------- the role's step

class Firewall:
    def __init__(self, module, params):
        self.module = module
        self.p = params
        self.networks = network_inputs(params.get('networks'))

    def _nftables_params(self):
        nft = dict(self.p['nftables'] or {})
        nft.setdefault('family', 'inet')
        return nft

    def run(self) -> dict:
        backend = self.p['backend']
        result = {'backend': backend, 'actions': [], 'removed': []}
        planned: List[Action] = []
        nft_result = None
        if backend == 'nftables':
            params = self._nftables_params()
            if not params.get('content') or not params.get('marker'):
                self.module.fail_json(msg='backend=nftables needs nftables.content and nftables.marker')
            _nftables.check_unit_name(self.module, params.get('boot_unit'))
        elif backend == 'firewalld':
            fw = self.p['firewalld'] or {}
            firewalld = Firewalld(self.module, self.networks, fw.get('zone'), fw.get('lan_zone'))
            actions, info = firewalld.present()
            planned += actions
            result.update(info)
        elif backend == 'ufw':
            actions, info = Ufw(self.module, self.networks).present()
            planned += actions
            result.update(info)
        if self.p['cleanup']:
            for other in BACKENDS:
                if other == backend:
                    continue
                gone = self._absent(other)
                if gone:
                    result['removed'].append(other)
                    planned += gone
        if backend == 'nftables':
            # the table, file and boot unit (worked out and applied by _nftables, check mode included)
            nft_result = _nftables.keep_table(self.module, self._nftables_params(), present=True)
            if nft_result['changed']:
                what = [nft_result.get('reason') or ('file written' if nft_result['file_changed'] else None)]
                what += [f'boot unit: {a}' for a in nft_result['unit_actions']]
                result['actions'].append('nftables: ' + ', '.join(w for w in what if w))
            result['nftables'] = {k: nft_result[k] for k in ('file_changed', 'loaded', 'unit_actions')}
        result['actions'] += [a.what for a in planned]
        result['changed'] = bool(planned) or bool(nft_result and nft_result['changed'])
        if nft_result and 'diff' in nft_result:
            result['diff'] = nft_result['diff']
        if not self.module.check_mode:
            for action in planned:
                if action.call:
                    action.call()
        return result

    def _absent(self, backend) -> List[Action]:
        if backend == 'nftables':
            params = self._nftables_params()
            if not params.get('path') or not params.get('table'):
                return []
            return self._nftables_absent(params)
        if backend == 'iptables':
            ipt = self.p['iptables'] or {}
            return IptablesCleanup(self.module, ipt['rules_dir'], ipt['chain_prefix'], ipt['unit']).absent()
        if backend == 'firewalld':
            return Firewalld(self.module, []).absent()
        return Ufw(self.module, []).absent()

    def _nftables_absent(self, params) -> List[Action]:
        """The nftables table, file and boot unit, removed (the same checks as wireguard_nftables)."""
        table = _nftables.NftablesFile(self.module, params, required=False)
        live = table._live()
        exists = os.path.lexists(params['path'])
        actions = []
        if live is not None or exists:
            parts = [f"table {params['family']} {params['table']}" if live is not None else '',
                     params['path'] if exists else '']
            what = ' and '.join(w for w in parts if w)

            actions.append(Action(f'nftables: remove {what}', table.absent))
        if params.get('boot_unit') and _systemd.running():
            unit = _nftables.BootUnit(self.module, table.nft, params)
            for a in unit.actions(present=False):
                actions.append(Action(f"nftables: {a} {params['boot_unit']}",
                                      lambda a=a, unit=unit: unit.run(a)))
        return actions
