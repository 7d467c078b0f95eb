# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of meshlab.wireguard.wireguard_registry (documentation in plugins/modules/)."""

from __future__ import annotations

import os

import yaml
from ansible.errors import AnsibleActionFail

from ansible_collections.meshlab.wireguard.plugins.module_utils import _topology as topo
from ansible_collections.meshlab.wireguard.plugins.plugin_utils import (
    _controller_checks,
    _rebuild,
    _registry_schema,
    _state_paths,
)
from ansible_collections.meshlab.wireguard.plugins.plugin_utils import _registry as reg
from ansible_collections.meshlab.wireguard.plugins.plugin_utils._action import ControllerAction
from ansible_collections.meshlab.wireguard.plugins.plugin_utils._plain import plain
from ansible_collections.meshlab.wireguard.plugins.plugin_utils._registry_rotation import (
    RotationFailure,
    rotation_change,
)

ARGUMENT_SPEC = {
    'path': {'type': 'path', 'default': ''},
    'backend': reg.STORE_OPTIONS['backend'],
    'redis': reg.STORE_OPTIONS['redis'],
    'host': {'type': 'str'},
    'state': {'type': 'str', 'default': 'present',
              'choices': ['present', 'absent', 'read', 'rebuild', 'rotate']},
    'rotation_step': {'type': 'str', 'choices': ['announce', 'commit', 'finish', 'cancel']},
    'key_created': {'type': 'int'},
    'psk_secret_rotate': {'type': 'bool', 'default': False},
    'fleet': {'type': 'dict'},
    'public_keys': {'type': 'dict', 'default': {}},
    'endpoint': {'type': 'str', 'default': ''},
    'clients': {'type': 'dict', 'default': {}},
    'networks': {'type': 'list', 'elements': 'str'},
    'prune': {'type': 'bool', 'default': False},
    'psk_secret_path': {'type': 'path'},
    'registry_existed': {'type': 'bool', 'default': True},
    'existing_keys': {'type': 'list', 'elements': 'str', 'default': []},
    'hosts': {'type': 'list', 'elements': 'str'},
    'info_var': {'type': 'str', 'default': 'wireguard_rebuild_info'},
}


class TopologyFailure(ValueError):
    """An allocation or input problem found while holding the registry lock."""


def _host_view(data, host):
    """This host's entries (and its clients) per network: what --diff shows."""
    out = {}
    for name, net in sorted((data.get('networks') or {}).items()):
        part = {}
        if host in (net.get('hosts') or {}):
            part['host'] = net['hosts'][host]
        clients = {c: e for c, e in (net.get('clients') or {}).items() if (e or {}).get('host') == host}
        if clients:
            part['clients'] = clients
        if part:
            out[name] = part
    return out


def schema_checked(change, source):
    """`change` that refuses to leave a registry the strict reader would refuse (the registry it
    starts from passed that reader, so any problem is this change's own)."""
    def run(data):
        value = change(data)
        found = _registry_schema.problems(data)
        if found:
            raise TopologyFailure(f'refusing to write {source}: the update would make it invalid: '
                                  + '; '.join(found[:5]))
        return value
    return run


def lost_registry(host, existing_keys, source):
    """The message when the registry was never written but this host already has keys."""
    nets = ', '.join(sorted(existing_keys))
    return (f'the registry {source} does not exist, but {host} already has a WireGuard key for {nets}: the '
            'registry was lost (or moved), and a run from an empty one would drop peers that the live '
            f'interfaces have. Restore it, or rebuild it from the hosts: {reg.REBUILD_COMMAND}. If '
            f'{host} never ran this role (keys made by hand), the same command creates the registry.')


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def work(self, args, task_vars, result):
        path = args['path'] or _state_paths.default('registry_path', os.environ, task_vars)
        spec = reg.spec_from_args(path, args['backend'], args['redis'])
        host = plain(args['host'] or task_vars.get('inventory_hostname'))
        state = args['state']
        check = bool(self._task.check_mode)
        result['changed'] = False
        if state != 'read':
            problems = []
            if args['backend'] == 'file':
                problems += _state_paths.problems('path', path, os.environ, task_vars)
            problems += _state_paths.problems('psk_secret_path', args['psk_secret_path'], os.environ,
                                              task_vars)
            if problems:
                raise AnsibleActionFail('; '.join(problems))
        try:
            store = reg.open_registry(spec)
            if args['psk_secret_path'] and args['psk_secret_rotate']:
                replaced = reg.replace_secret(args['psk_secret_path'], check)
                result['changed'] = result['psk_secret_replaced'] = replaced
            elif args['psk_secret_path']:
                result['psk_secret_created'] = reg.ensure_secret(args['psk_secret_path'], check)
                result['changed'] = result['psk_secret_created']
            if state == 'read':
                result['registry'] = store.read()
                result['source'] = store.source
                return result
            if state == 'present' and not args['registry_existed'] and args['existing_keys']:
                raise AnsibleActionFail(lost_registry(host, args['existing_keys'], store.source))
            if state == 'rebuild':
                return self._rebuild(args, task_vars, result, store, check)
            if state == 'absent':
                change = self._absent(host, args['networks'])
            elif state == 'rotate':
                if not args['rotation_step']:
                    raise AnsibleActionFail('rotation_step is required with state=rotate')
                change = rotation_change(host, args['rotation_step'], plain(args['public_keys']),
                                         args['key_created'])
            else:
                if not args['fleet'] or 'networks' not in args['fleet']:
                    raise AnsibleActionFail('fleet is required with state=present: pass the result of '
                                            'the meshlab.wireguard.wireguard_fleet filter')
                change = self._present(host, args['fleet'], args['public_keys'], args['endpoint'],
                                       args['clients'], args['prune'], check)
            before, after, changed, addresses = store.update(schema_checked(change, store.source), check)
        except reg.RegistryError as exc:
            raise AnsibleActionFail(str(exc)) from None
        except (TopologyFailure, RotationFailure) as exc:
            raise AnsibleActionFail(str(exc)) from None
        except OSError as exc:  # a write that failed half-way (full disk, permissions)
            raise AnsibleActionFail(_controller_checks.write_failure(path, exc)) from None
        result['changed'] = result['changed'] or changed
        result['registry'] = after
        result['addresses'] = addresses or {}
        result['path'] = store.source
        if self._task.diff and changed:
            result['diff'] = {
                'before_header': f'{store.source} ({host})', 'after_header': f'{store.source} ({host})',
                'before': yaml.safe_dump(_host_view(before, host), default_flow_style=False),
                'after': yaml.safe_dump(_host_view(after, host), default_flow_style=False),
            }
        return result

    @staticmethod
    def _rebuild(args, task_vars, result, store, check):
        """Fill the registry's gaps from the hosts' wireguard_info results (registered as info_var)."""
        fleet = args['fleet']
        if not fleet or 'networks' not in fleet:
            raise AnsibleActionFail('fleet is required with state=rebuild: pass the result of the '
                                    'meshlab.wireguard.wireguard_fleet filter')
        if fleet.get('errors'):
            raise AnsibleActionFail('the WireGuard variables have errors:\n- ' + '\n- '.join(fleet['errors']))
        hostvars = task_vars.get('hostvars') or {}
        infos = {}
        for h in args['hosts'] if args['hosts'] is not None else sorted(hostvars):
            hv = hostvars.get(h) if hasattr(hostvars, 'get') else None
            value = plain(hv.get(args['info_var'])) if hv is not None else None
            if isinstance(value, dict) and not value.get('failed') and not value.get('unreachable'):
                infos[h] = value
        found, warnings = _rebuild.rebuild(fleet, infos)

        def change(data):
            return _rebuild.merge(data, found)

        after, changed, added = store.update(change, check)[1:]
        result.update(changed=changed, registry=after, added=added, path=store.source,
                      hosts_read=sorted(infos))
        if warnings:
            result['warnings'] = warnings
        return result

    @staticmethod
    def _absent(host, networks):
        def change(data):
            for name, net in (data.get('networks') or {}).items():
                if networks and name not in networks:
                    continue
                (net.get('hosts') or {}).pop(host, None)
                mine = [c for c, e in (net.get('clients') or {}).items() if (e or {}).get('host') == host]
                for cname in mine:
                    net['clients'].pop(cname)
            return {}
        return change

    @staticmethod
    def _present(host, fleet, public_keys, endpoint, clients, prune, check):
        def change(data):
            addresses = {}
            for name, fnet in sorted(fleet['networks'].items()):
                if host not in fnet['members']:
                    continue
                nets = data.setdefault('networks', {})
                if fnet['state'] == 'absent':
                    if name in nets:
                        nets[name].get('hosts', {}).pop(host, None)
                        for cname in [c for c, e in nets[name].get('clients', {}).items()
                                      if (e or {}).get('host') == host]:
                            nets[name]['clients'].pop(cname)
                    continue
                reg_net = nets.setdefault(name, {'hosts': {}, 'clients': {}})
                reg_net.setdefault('hosts', {})
                reg_net.setdefault('clients', {})
                alloc = topo.allocate_network(fnet, reg_net)
                if alloc['errors']:
                    raise TopologyFailure('; '.join(alloc['errors']))
                addresses[name] = alloc['hosts'][host]
                public_key = (public_keys or {}).get(name)
                if public_key:
                    reg_net['hosts'][host] = topo.registry_entry(
                        fnet, host, public_key, endpoint, alloc['hosts'][host], reg_net['hosts'].get(host))
                elif not check:
                    raise TopologyFailure(f'public_keys.{name} is missing for {host}: pass the public '
                                          'key that wireguard_key returned')
                mine = (clients or {}).get(name) or {}
                for c in fnet['clients']:
                    if c['host'] != host:
                        continue
                    old = reg_net['clients'].get(c['name']) or {}
                    new = {'host': host, 'addresses': alloc['clients'][c['name']]}
                    pk = (mine.get(c['name']) or {}).get('public_key') or old.get('public_key')
                    if pk:
                        new['public_key'] = pk
                    reg_net['clients'][c['name']] = new
                if prune:
                    for h in [h for h in reg_net['hosts'] if h not in fnet['members']]:
                        reg_net['hosts'].pop(h)
                    known = {c['name'] for c in fnet['clients']}
                    for c in [c for c in reg_net['clients'] if c not in known]:
                        reg_net['clients'].pop(c)
            return addresses
        return change
