# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Does a host already match what the role's later tasks would set? (wireguard_probe `verify`)

An unchanged run contacts each host once: the probe (read-only) runs wireguard_interface's and
wireguard_firewall's own backends in check mode on the very arguments those tasks would pass,
and the role skips the tasks whose check found nothing to do. Check mode is exact for both
modules (their tests prove it), so "in sync" here means the real task would report ok.
Anything else counts as "not in sync", an error included: the real task then runs and says what
is wrong in its own words.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.meshlab.wireguard.plugins.module_utils import _firewall, _iproute, _keys
from ansible_collections.meshlab.wireguard.plugins.module_utils import _interface_backend as _iface

# The iptables chains come from the role's own tasks (firewall/iptables.yml), which the firewall
# module does not look at: that backend is never reported in sync.
FIREWALL_VERIFIED = ('nftables', 'firewalld', 'ufw')


class _Done(Exception):
    """A backend ended (exit_json or fail_json): its result."""

    def __init__(self, result: dict, failed: bool):
        super().__init__(result.get('msg', ''))
        self.result = result
        self.failed = failed


class _CheckModule:
    """The probe's module as a backend sees it: that backend's params, check mode, no diff, and
    exit/fail that return here instead of ending the probe."""

    def __init__(self, module, params: dict):
        self._module = module
        self.params = params
        self.check_mode = True
        self._diff = False

    def exit_json(self, **result):
        raise _Done(result, failed=False)

    def fail_json(self, msg='', **result):
        raise _Done(dict(result, msg=msg), failed=True)

    def warn(self, msg):
        pass

    def __getattr__(self, name):
        return getattr(self._module, name)


def _validated(spec: dict, args: dict) -> dict:
    """ARGS with the module's defaults and types, as AnsibleModule would give them to it."""
    result = ArgumentSpecValidator(spec).validate(args)
    if result.error_messages:
        raise ValueError('; '.join(result.error_messages))
    return result.validated_parameters


def interface_in_sync(module, args: dict, psks: Dict[str, str]) -> Tuple[bool, str]:
    """(in sync, why not) for one wireguard_interface call; PSKS {peer public key: preshared key}."""
    name = args.get('name', '?')
    if not (_iproute.HAS_PYROUTE2 and _keys.HAS_NACL):
        return False, f'{name}: pyroute2 or PyNaCl is missing on the host'
    peers = [dict(p, preshared_key=psks[p['public_key']]) if p.get('public_key') in psks else p
             for p in args.get('peers') or []]
    try:
        params = _validated(_iface.argument_spec(), dict(args, peers=peers))
        _iface.InterfaceBackend(_CheckModule(module, params)).run()
    except _Done as done:
        if done.failed:
            return False, f'{name}: {done.result["msg"]}'
        result = done.result
        if not result.get('changed'):
            return True, ''
        what = [w for w, flag in (('the wg-quick config', result.get('config_changed')),
                                  ('the wg-quick@ unit', result.get('unit_changed'))) if flag]
        return False, f'{name}: {" and ".join(what) or "the live interface"} to change'
    except Exception as exc:  # the real task will run and report it in its own words
        return False, f'{name}: {exc}'
    return False, f'{name}: the check ended without a result'


def firewall_in_sync(module, args: dict) -> Tuple[bool, str]:
    """(in sync, why not) for the wireguard_firewall call."""
    backend = args.get('backend')
    if backend not in FIREWALL_VERIFIED:
        return False, f'firewall: the {backend} backend is checked by its own tasks'
    try:
        params = _validated(_firewall.argument_spec(), args)
        params['networks'] = _firewall.network_inputs(params['networks'])
        result = _firewall.Firewall(_CheckModule(module, params), params).run()
    except _Done as done:
        return False, f'firewall: {done.result.get("msg") or "the check ended early"}'
    except Exception as exc:  # the real task will run and report it in its own words
        return False, f'firewall: {exc}'
    if result.get('changed'):
        return False, 'firewall: ' + '; '.join(result.get('actions') or ['changes to apply'])
    return True, ''


def verify(module, wanted: dict, psks: Dict[str, Dict[str, str]], not_running=()) -> dict:
    """{'in_sync': {'interfaces': {name: bool}, 'firewall': bool}, 'out_of_sync': [why]}.

    NOT_RUNNING: interfaces the probe found no link for (not checked further: for a new interface
    the module's check would create and delete a probe link to pick the engine)."""
    interfaces: Dict[str, bool] = {}
    why: List[str] = []
    for args in wanted.get('interfaces') or []:
        if args.get('name') in not_running:
            ok, reason = False, f'{args.get("name")}: the interface does not run'
        else:
            ok, reason = interface_in_sync(module, args, (psks or {}).get(args.get('name')) or {})
        interfaces[args.get('name')] = ok
        why += [reason] if reason else []
    firewall = False
    if wanted.get('firewall'):
        firewall, reason = firewall_in_sync(module, wanted['firewall'])
        why += [reason] if reason else []
    return {'in_sync': {'interfaces': interfaces, 'firewall': firewall}, 'out_of_sync': why}
