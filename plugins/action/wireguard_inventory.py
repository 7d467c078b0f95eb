# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of meshlab.wireguard.wireguard_inventory (documentation in plugins/modules/).

One task instead of a chain of set_fact/assert tasks: every task is a round over all hosts,
so the role's controller-side work is folded into this one call per stage.
"""

from __future__ import annotations

import os
import uuid

from ansible.errors import AnsibleActionFail

from ansible_collections.meshlab.wireguard.plugins.module_utils import _preflight
from ansible_collections.meshlab.wireguard.plugins.module_utils import _topology as topo
from ansible_collections.meshlab.wireguard.plugins.plugin_utils import _controller_checks as files
from ansible_collections.meshlab.wireguard.plugins.plugin_utils import _fleet, _state_paths
from ansible_collections.meshlab.wireguard.plugins.plugin_utils import _registry as reg
from ansible_collections.meshlab.wireguard.plugins.plugin_utils._action import ControllerAction
from ansible_collections.meshlab.wireguard.plugins.plugin_utils._plain import plain

ARGUMENT_SPEC = {
    'stage': {'type': 'str', 'default': 'config', 'choices': ['check', 'preflight', 'config']},
    'networks': {'type': 'raw', 'default': []},
    'fleet': {'type': 'dict'},
    'sites': {'type': 'raw', 'default': []},
    'registry_path': {'type': 'path', 'default': ''},
    'registry_backend': reg.STORE_OPTIONS['backend'],
    'registry_redis': reg.STORE_OPTIONS['redis'],
    'registry': {'type': 'dict'},
    'clients_dir': {'type': 'path', 'default': ''},
    'psk_secret_path': {'type': 'path', 'default': ''},
    'host': {'type': 'str'},
    'firewall': {'type': 'str', 'default': ''},
    'psk_secret_set': {'type': 'bool', 'default': True},
    'psk_secret_length': {'type': 'int', 'default': 0},
    'key_dir': {'type': 'path', 'default': '/etc/wireguard'},
    'config_dir': {'type': 'path', 'default': '/etc/wireguard'},
    'settings': {'type': 'dict', 'default': {}},
    'probe_var': {'type': 'str', 'default': 'wireguard__probe'},
    'inputs_var': {'type': 'str', 'default': 'wireguard__inputs'},
    'run_id': {'type': 'str', 'default': ''},
}

NO_HOST = {'networks': [], 'absent': [], 'forwarding': False, 'ipv6': False, 'warnings': []}


def membership(fleet, host):
    """The networks `host` is a member of, present and absent, and whether any uses PSKs."""
    mine = [n for n in fleet['networks'].values() if host in n['members']]
    present = sorted(n['name'] for n in mine if n['state'] == 'present')
    absent = sorted(n['name'] for n in mine if n['state'] == 'absent')
    uses_psk = any(n['state'] == 'present' and n.get('preshared_keys') for n in fleet['networks'].values())
    return {'member': bool(present or absent), 'networks': present, 'absent': absent, 'uses_psk': uses_psk}


def role_errors(fleet, firewall, psk_secret_set):
    """Input errors that depend on role settings, not on the topology."""
    errors = []
    present = [n for n in fleet['networks'].values() if n['state'] == 'present']
    if firewall == 'ufw' and any(n.get('masquerade') for n in present):
        errors.append('wireguard_firewall: ufw has no masquerade rules; use wireguard_firewall=nftables '
                      'or iptables, or set masquerade: false on the networks')
    if any(n.get('preshared_keys') for n in present) and not psk_secret_set:
        errors.append('wireguard_psk_secret: preshared_keys is on but there is no secret; create one in '
                      'vault: ansible-vault encrypt_string "$(head -c 48 /dev/urandom | base64 -w0)" '
                      '--name wireguard_psk_secret, or set wireguard_psk_secret_path to a controller '
                      'file the role creates (mode 0600)')
    return errors


def state_errors(args, task_vars, fleet, environ=None):
    """Controller-side paths that must not be used: inside an inventory directory or a job's
    directory, old default places that still hold state, client keys without a place to live."""
    environ = os.environ if environ is None else environ
    errors = []
    if args['registry_backend'] == 'file':
        if not args['registry_path']:
            errors.append('wireguard_registry_path is empty: set it, or wireguard_registry_backend: redis')
        errors += _state_paths.problems('wireguard_registry_path', args['registry_path'], environ, task_vars)
    has_clients = any(n['state'] == 'present' and n.get('clients') for n in fleet['networks'].values())
    if has_clients:
        if not args['clients_dir']:
            the_job = _state_paths.job(environ, task_vars, _state_paths.inventory_sources(task_vars))
            where = f'under an {the_job["kind"]}' if the_job else 'here'
            errors.append(f'wireguard_clients_dir is empty and the fleet has clients (phones, laptops), '
                          f'whose private keys are made on the controller: {where} there is no safe default '
                          'place for them. Set wireguard_state_dir (or wireguard_clients_dir) to persistent '
                          'storage outside the job (under AWX: a volume mounted into the execution '
                          'environment)')
        errors += _state_paths.problems('wireguard_clients_dir', args['clients_dir'], environ, task_vars)
    errors += _state_paths.problems('wireguard_psk_secret_path', args['psk_secret_path'], environ, task_vars)
    file_path = args['registry_path'] if args['registry_backend'] == 'file' else ''
    errors += _state_paths.legacy_problems(file_path, args['clients_dir'] if has_clients else '', environ,
                                           task_vars)
    return errors


def controller_file_errors(args, fleet, uses_psk):
    """The registry, the PSK secret and the clients directory on the controller (see _controller_checks)."""
    has_clients = any(n['clients'] for n in fleet['networks'].values() if n['state'] == 'present')
    return (files.psk_errors(uses_psk, args['psk_secret_length'], args['psk_secret_path'])
            + files.clients_dir_errors(has_clients, args['clients_dir']))


def host_setting_errors(host, fleet, settings):
    """This host's own settings that name networks (the vault keys: only their names are passed)."""
    errors = []
    mine = {n for n, net in fleet['networks'].items() if host in net['members']}
    for name in sorted(str(n) for n in settings.get('private_key_networks') or ()):
        if name not in fleet['networks']:
            errors.append(f'host {host}: wireguard_private_keys.{name}: there is no network {name} in '
                          'wireguard_networks; fix the name or remove the entry')
        elif name not in mine:
            errors.append(f'host {host}: wireguard_private_keys.{name}: {host} is not a member of network '
                          f'{name}; remove the entry, or add the host to the network')
    return errors


def expected_config(fleet, registry, host):
    """HOST's configuration as the registry has it before this run publishes anything, and the
    public keys it has for HOST: what the probe checks the host against (an unchanged run then
    skips the tasks that would change nothing). Nothing when HOST has no key in the registry yet."""
    keys = topo.registered_keys(fleet, registry, host)
    if not all(keys.values()):
        return {}
    return {'expected_host': topo.host_config(fleet, registry, host), 'registered_keys': keys}


def failed(result, errors, note=''):
    result.update(failed=True, errors=errors,
                  msg=f'{len(errors)} input error(s){note}:\n- ' + '\n- '.join(errors))
    return result


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def work(self, args, task_vars, result):
        host = args['host'] or plain(task_vars.get('inventory_hostname'))
        if args['stage'] == 'preflight':
            return self._preflight(args, task_vars, result)
        check = args['stage'] == 'check'
        if not check and args['fleet']:
            fleet = args['fleet']  # the check stage read every member's variables already
        elif not check and not args['networks']:
            raise AnsibleActionFail(
                'stage=config needs fleet (the result of stage=check) or networks: in the role, run the '
                'entry point exchange (or main) for this host earlier in the same run, as '
                'playbooks/site.yml does, before configure')
        else:
            fleet = _fleet.normalize(args['networks'], args['sites'], task_vars.get('groups'),
                                     task_vars.get('hostvars'))
        spec = reg.spec_from_args(args['registry_path'], args['registry_backend'], args['registry_redis'])
        result.update(membership(fleet, host), changed=False)
        if check:
            errors = state_errors(args, task_vars, fleet)
            if args['registry'] is None and args['registry_backend'] == 'file' and args['registry_path']:
                errors += files.registry_errors(args['registry_path'])
            if errors:  # before the registry is even opened: it may be the wrong one
                return failed(result, errors, ', nothing was changed')
        try:
            store = reg.open_registry(spec)
            registry = args['registry'] if args['registry'] is not None else store.read()
            if check:
                result['registry_exists'] = store.exists()
                result['registry_source'] = store.source
        except reg.RegistryError as exc:
            raise AnsibleActionFail(str(exc)) from None
        if check:
            return self._check(args, task_vars, result, fleet, registry)
        if fleet.get('errors'):  # the check stage has said more already
            return failed(result, fleet['errors'])
        host_config = topo.host_config(fleet, registry, host) if result['member'] else dict(NO_HOST)
        result['host'] = host_config
        result['run_id'] = args['run_id']
        if host_config['warnings']:
            result['warnings'] = host_config['warnings']
        return result

    @staticmethod
    def _check(args, task_vars, result, fleet, registry):
        host = args['host'] or plain(task_vars.get('inventory_hostname'))
        errors = topo.validate(fleet, registry) + role_errors(fleet, args['firewall'], args['psk_secret_set'])
        errors += controller_file_errors(args, fleet, result['uses_psk'])
        errors += host_setting_errors(host, fleet, args['settings'])
        if errors:
            return failed(result, errors, ', nothing was changed')
        result['settings'] = args['settings']
        result['probe'] = _preflight.probe_args(fleet, registry, host, args['key_dir'], args['config_dir'])
        result.update(expected_config(fleet, registry, host) if result['member'] else {})
        result['run_id'] = uuid.uuid4().hex
        warnings = list(fleet.get('warnings') or [])
        result['fleet'] = fleet
        if warnings:
            result['warnings'] = warnings
        return result

    def _preflight(self, args, task_vars, result):
        """Judge every host's probe together (run_once): an error stops every host before any change."""
        fleet = args['fleet']
        if not fleet:
            raise AnsibleActionFail('stage=preflight needs fleet (the result of stage=check)')
        store = None
        try:
            spec = reg.spec_from_args(args['registry_path'], args['registry_backend'], args['registry_redis'])
            if args['registry'] is not None:
                registry = args['registry']
            else:
                store = reg.open_registry(spec)
                registry = store.read()
        except reg.RegistryError as exc:
            raise AnsibleActionFail(str(exc)) from None
        probes, settings, failures = collect_probes(task_vars, args['probe_var'], args['inputs_var'])
        run_hosts = plain(task_vars.get('ansible_play_hosts_all') or sorted(probes))

        def peers_of(host, network):
            for net in topo.host_config(fleet, registry, host)['networks']:
                if net['name'] == network:
                    return [p['name'] for p in net['peers'] if not p['name'].startswith('client ')]
            return []

        errors, warnings = _preflight.verdict(fleet, registry, probes, settings, run_hosts, failures,
                                              peers_of)
        if store is not None and any(_preflight.LOST in e for e in errors) and not store.exists():
            errors.insert(0, f'the registry {store.source} does not exist, but hosts of this run already '
                             'run WireGuard (below): it was moved or deleted, or wireguard_registry_path / '
                             'wireguard_state_dir now points elsewhere. Restore it, point the setting at '
                             f'it, or rebuild it from the live hosts with `{reg.REBUILD_COMMAND}`')
        result.update(changed=False, hosts=sorted(probes),
                      key_work={h: _preflight.key_work(p.get('networks'), settings.get(h) or {})
                                for h, p in probes.items()},
                      forwarding_work={h: _preflight.forwarding_work(p.get('capabilities'))
                                       for h, p in probes.items()},
                      public_keys={h: {n: (f.get('key') or {}).get('public_key')
                                       for n, f in (p.get('networks') or {}).items()}
                                   for h, p in probes.items()})
        if warnings:
            result['warnings'] = warnings
        if errors:
            return failed(result, errors, f' on {len({e.split(":")[0] for e in errors})} host(s), found '
                                          'before any change on any host; nothing was changed')
        return result


def collect_probes(task_vars, probe_var, inputs_var):
    """{host: probe}, {host: settings}, {host: failure} of the hosts of this run that were probed
    (unreachable hosts and hosts that are no member are left out: they are not changed either)."""
    hostvars = task_vars.get('hostvars') or {}
    probes, settings, failures = {}, {}, {}
    for host in plain(task_vars.get('ansible_play_hosts_all') or []):
        try:
            hv = hostvars[host]
            probe = plain(hv.get(probe_var)) if hasattr(hv, 'get') else None
            inputs = plain(hv.get(inputs_var)) if hasattr(hv, 'get') else None
        except KeyError:
            continue
        if not probe or probe.get('skipped') or probe.get('unreachable'):
            continue
        if probe.get('failed'):
            failures[host] = probe.get('msg') or 'unknown failure'
            continue
        probes[host] = probe
        settings[host] = (inputs or {}).get('settings') or {}
    return probes, settings, failures
