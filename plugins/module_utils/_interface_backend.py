# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""wireguard_interface's backend: read, plan, apply once, verify (docs/ARCHITECTURE.md).

`InterfaceBackend(module).run()` does the module's whole job; `module` is duck-typed (params,
check_mode, _diff, exit_json, fail_json, backup_local, atomic_move, run_command, get_bin_path),
so nothing here imports Ansible. The steps:
1. every input check (`_desired`), before anything on the host is looked at or changed;
2. the previous wg-quick config (what was configured last time: endpoints for roaming, names);
3. live state (`_engines`) and plan (`_plan`), the live-peer guard (`_guard`), the engine preflight;
4. the config file (`_interface_config`) and the wg-quick@ unit (`_interface_unit`), the diff;
5. apply once (check mode and "nothing to do" stop before this);
6. verify: what the plan changed must now be true.
"""

from __future__ import annotations

import time
import traceback

from ansible_collections.meshlab.wireguard.plugins.module_utils import (
    _desired,
    _guard,
    _iproute,
    _keys,
    _wgquick,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._engines import (
    ENGINE_NAMES,
    EngineError,
    make_engine,
    resolve_engine_name,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._interface_config import (
    read_file,
    redact_config,
    remove_config,
    write_config,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._interface_unit import WgQuickUnit
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import InputError, Interface, Plan
from ansible_collections.meshlab.wireguard.plugins.module_utils._plan import plan as make_plan
from ansible_collections.meshlab.wireguard.plugins.module_utils._plan import predict
from ansible_collections.meshlab.wireguard.plugins.module_utils._plan import verify as verify_plan
from ansible_collections.meshlab.wireguard.plugins.module_utils._signal import ApplySignal, SignalTimeout

# Peer changes and routes listed in `plan` (and `remaining_plan`); `counts` has the full numbers.
RESULT_LIST_LIMIT = 20
LIVE_ERRORS = (EngineError, _iproute.IPRouteError)


def argument_spec():
    return {
        'name': {'type': 'str', 'required': True},
        'state': {'type': 'str', 'default': 'present', 'choices': ['present', 'absent']},
        'engine': {'type': 'str', 'default': 'auto', 'choices': list(ENGINE_NAMES)},
        'private_key_path': {'type': 'path', 'no_log': False},
        'private_key': {'type': 'str', 'no_log': True},
        'listen_port': {'type': 'int'},
        'fwmark': {'type': 'str'},
        'mtu': {'type': 'int'},
        'addresses': {'type': 'list', 'elements': 'str', 'default': []},
        'peers': {
            'type': 'list', 'elements': 'dict', 'default': [],
            'options': {
                'public_key': {'type': 'str', 'required': True, 'no_log': False},
                'name': {'type': 'str'},
                'preshared_key_path': {'type': 'path', 'no_log': False},
                'preshared_key': {'type': 'str', 'no_log': True},
                'endpoint': {'type': 'str'},
                'allowed_ips': {'type': 'list', 'elements': 'str', 'default': []},
                'persistent_keepalive': {'type': 'int', 'default': 0},
                'previous_public_key': {'type': 'str', 'no_log': False},
            },
        },
        'missing_peers': {'type': 'list', 'elements': 'str', 'default': []},
        'protect_live_peers': {'type': 'bool', 'default': True},
        'exclusive': {'type': 'bool', 'default': True},
        'manage_routes': {'type': 'bool', 'default': True},
        'persist': {'type': 'bool', 'default': True},
        'config_path': {'type': 'path'},
        'backup': {'type': 'bool', 'default': False},
        'systemd': {'type': 'str', 'default': 'auto', 'choices': ['auto', 'yes', 'no']},
        'apply_signal': {'type': 'path'},
        'apply_timeout': {'type': 'float', 'default': 120},
    }


def _text(data):
    """bytes -> str the way Ansible's to_native does (undecodable bytes kept as surrogates)."""
    return data.decode('utf-8', 'surrogateescape')


def previous_keys(params):
    """{public_key: previous_public_key} of the desired peers that announce a predecessor."""
    out = {}
    for raw in params.get('peers') or ():
        if raw and raw.get('previous_public_key') and raw.get('public_key'):
            out[str(raw['public_key']).strip()] = str(raw['previous_public_key']).strip()
    return out


def read_live(engine, name, peers=None):
    """The live Interface, or None when the engine has no such interface.

    peers: read only these public keys' peers (see Engine.read); None for all.
    """
    if engine is None or not engine.exists(name):
        return None
    device = engine.read(name) if peers is None else engine.read(name, peers=peers)
    link = _iproute.read_link(name)
    if link is None:
        return None
    return Interface(name=name, device=device, link=link)


def view(iface, names):
    """A user-facing, secret-free picture of an interface (diff before/after)."""
    if iface is None:
        return {'state': 'absent'}
    dev = iface.device
    public_key = None
    if dev.private_key:
        try:
            public_key = _keys.public_key_of(dev.private_key)
        except Exception:  # never let a broken live key break the diff
            public_key = '<invalid>'
    peers = {}
    for key in sorted(dev.peers):
        item = dev.peers[key].redacted()
        if key in names:
            item['name'] = names[key]
        peers[key] = item
    return {
        'state': 'present',
        'name': iface.name,
        'public_key': public_key,
        'listen_port': dev.listen_port,
        'fwmark': dev.fwmark,
        'mtu': iface.link.mtu,
        'up': iface.link.up,
        'addresses': sorted(iface.link.addresses),
        'routes': sorted(iface.link.routes),
        'peers': peers,
    }


def create_and_apply(engine, name, plan, routes=()):
    """Create the device when the plan says so, then apply the plan to it and to its link.

    A wireguard-go that dies right after its start (seen under heavy load, after its predecessor
    was stopped) is started and configured once more; the check comes after the configuration, so
    a healthy start waits for nothing.
    """
    for attempt in (1, 2):
        try:
            if plan.create:
                engine.create(name)
            engine.apply(name, plan)
            _iproute.apply_link(name, plan, routes)
        except LIVE_ERRORS:
            if attempt == 2 or not plan.create or engine.exists(name):
                raise
            continue
        if not plan.create or engine.exists(name):
            return
    raise EngineError(f'the {engine.kind} device {name} was gone right after it was created, twice')


class InterfaceBackend:
    """One run of wireguard_interface: compute everything first, then write once (see the top)."""

    def __init__(self, module):
        self.module = module
        self.params = params = module.params
        self.name = params['name']
        self.config_path = params['config_path'] or f'/etc/wireguard/{self.name}.conf'
        self.exclusive = params['exclusive']
        self.manage_routes = params['manage_routes']
        self.persist = params['persist']
        self.result = {
            'changed': False, 'engine': None, 'plan': Plan(name=self.name).describe(RESULT_LIST_LIMIT),
            'roamed': [], 'config_path': self.config_path, 'config_changed': False, 'unit': None,
            'unit_changed': False, 'unit_actions': [],
        }

    def fail(self, msg, **extra):
        self.module.fail_json(msg=msg, **extra, **self.result)

    def run(self):
        self.load_desired()
        self.load_previous_config()
        self.make_the_plan()
        self.plan_files_and_unit()
        if self.module._diff:
            self.result['diff'] = self.diff()
        if self.params['apply_signal'] and not self.module.check_mode:
            self.signal = ApplySignal(self.params['apply_signal'], self.name, self.params['apply_timeout'])
            self.signal.ready()
        if self.module.check_mode or not self.result['changed']:
            self.module.exit_json(**self.result)
            return
        self.wait_for_apply_at()
        self.apply()
        self.write_files_and_unit()
        self.verify()
        self.module.exit_json(**self.result)

    # 1. every input check, before anything on the host is looked at or changed
    def load_desired(self):
        try:
            self.desired = _desired.desired_from_params(
                self.params, read_secret=_keys.read_key_file, resolve=_desired.resolve_host,
                public_key_of=_keys.public_key_of,
            )
        except InputError as exc:
            self.module.fail_json(msg=str(exc))
        self.names = _desired.peer_names(self.params)
        if self.desired is not None:
            self.result['public_key'] = _keys.public_key_of(self.desired.device.private_key)

    # 2. the previous config (what this module configured last time: endpoints for roaming)
    def load_previous_config(self):
        try:
            self.old_config, self.old_mode = read_file(self.config_path) if self.persist else (None, None)
        except OSError as exc:
            self.fail(f'cannot read {self.config_path}: {exc} (config_path must be a file)')
        self.previous_endpoints = None
        self.live_names = {}
        if self.old_config is not None:
            old_text = _text(self.old_config)
            self.previous_endpoints = _wgquick.parse_endpoints(old_text)
            self.live_names = _wgquick.parse_names(old_text)

    # 3. live state and plan
    def make_the_plan(self):
        try:
            probe = self.desired is not None
            engine_kind = resolve_engine_name(self.params['engine'], self.name, probe=probe)
            self.engine = make_engine(engine_kind) if engine_kind else None
            self.live = read_live(self.engine, self.name)
        except LIVE_ERRORS as exc:
            self.fail(str(exc))
        # the handshake ages of this run (plan and verification) are judged at this moment
        self.now = time.time()
        self.result['engine'] = engine_kind
        self.plan = make_plan(self.desired, self.live, exclusive=self.exclusive,
                              manage_routes=self.manage_routes,
                              previous_endpoints=self.previous_endpoints, now=self.now)
        self.result['plan'] = self.plan.describe(RESULT_LIST_LIMIT)
        self.result['roamed'] = [r.describe() for r in self.plan.roamed]
        if self.params['protect_live_peers']:
            problems = _guard.live_peer_problems(
                self.name, self.desired, self.live, self.names, self.live_names, self.params['missing_peers'],
                previous_keys(self.params), self.now)
            if problems:
                self.fail('; '.join(problems))
        if self.plan.create:
            try:
                # in check mode too: a run that cannot create must not predict success
                self.engine.preflight()
            except EngineError as exc:
                self.fail(str(exc))

    # 4. config file and systemd unit
    def plan_files_and_unit(self):
        self.new_config = None
        config_changed = False
        if self.persist:
            if self.desired is not None:
                self.new_config = _wgquick.render(
                    self.desired, peer_names=self.names, private_key_path=self.params['private_key_path'],
                    manage_routes=self.manage_routes).encode('utf-8', 'surrogateescape')
                config_changed = self.old_config != self.new_config or self.old_mode != 0o600
            else:
                config_changed = self.old_config is not None
        self.unit = WgQuickUnit(self.module, self.name, self.params['systemd'], self.persist)
        self.unit_actions = []
        if self.unit.unit:
            self.result['unit'] = self.unit.unit
            self.unit_actions = self.unit.actions(present=self.desired is not None)
        self.config_changed = config_changed
        self.result['config_changed'] = config_changed
        self.result['unit_changed'] = bool(self.unit_actions)
        self.result['unit_actions'] = self.unit_actions
        self.result['changed'] = self.plan.changed or config_changed or bool(self.unit_actions)

    def diff(self):
        after = predict(self.desired, self.live, self.exclusive, self.manage_routes, self.plan.roamed)
        header = f'{self.name} (live)'
        diffs = [{'before_header': header, 'after_header': header,
                  'before': view(self.live, self.names), 'after': view(after, self.names)}]
        if self.persist and self.config_changed:
            diffs.append({
                'before_header': self.config_path, 'after_header': self.config_path,
                'before': redact_config(_text(self.old_config)) if self.old_config is not None else '',
                'after': redact_config(_text(self.new_config)) if self.new_config is not None else '',
            })
        return diffs

    # 5. apply once; with apply_signal at the instant the controller sent (a key rotation
    # switches the rotating host first and its peers a moment later; clocks in sync)
    def wait_for_apply_at(self):
        if self.params['apply_signal']:
            try:
                at = self.signal.wait()
            except SignalTimeout as exc:
                self.fail(str(exc))
            delay = at - time.time()
            if delay > 0:
                time.sleep(delay)
            self.result['apply_late'] = round(max(0.0, -delay), 3)
        self.result['applied_at'] = round(time.time(), 3)

    def apply(self):
        live = self.live
        try:
            if 'stop' in self.unit_actions:
                self.unit.run('stop')  # wg-quick down removes the interface itself
                live = read_live(self.engine, self.name)
            if self.plan.delete and live is not None:
                self.engine.delete(self.name)
            if self.desired is not None:
                routes = self.desired.link.routes if self.manage_routes else ()
                create_and_apply(self.engine, self.name, self.plan, routes)
        except (*LIVE_ERRORS, OSError) as exc:
            self.fail(f'applying the plan to {self.name} failed: {exc}', exception=traceback.format_exc())

    def write_files_and_unit(self):
        if self.config_changed:
            backup = self.params['backup']
            try:
                if self.new_config is not None:
                    backup_file = write_config(self.module, self.config_path, self.new_config, backup)
                else:
                    backup_file = remove_config(self.module, self.config_path, backup)
            except OSError as exc:
                self.fail(f'cannot write {self.config_path}: {exc}')
            if backup_file:
                self.result['backup_file'] = backup_file
        for action in self.unit_actions:
            if action != 'stop':
                self.unit.run(action)

    # 6. verify: what the plan changed must now be true (all of the interface after a create or
    # delete; otherwise the device fields and the peers and link items the plan touched, so the
    # other peers are not even parsed; the diff needs them all). A peer may roam between apply
    # and this read: the same tolerance as the plan, with "configured last time" = what was just
    # configured (the desired endpoints) and the same clock reading (a session that was fresh at
    # plan time does not turn stale during the run).
    def verify(self):
        plan = self.plan
        partial = not (plan.create or plan.delete or self.module._diff)
        try:
            touched = [c.public_key for c in plan.peers] if partial else None
            again = read_live(self.engine, self.name, peers=touched) if self.engine is not None else None
        except LIVE_ERRORS as exc:
            self.fail(f'{self.name} was changed but cannot be read back: {exc}')
        just_configured = None
        if self.desired is not None:
            just_configured = {k: p.endpoint for k, p in self.desired.device.peers.items()}
        remaining = verify_plan(plan, self.desired, again, exclusive=self.exclusive,
                                manage_routes=self.manage_routes, previous_endpoints=just_configured,
                                now=self.now)
        roamed = {r['public_key']: r for r in self.result['roamed']}
        roamed.update((r.public_key, r.describe()) for r in remaining.roamed)
        self.result['roamed'] = [roamed[k] for k in sorted(roamed)]
        if remaining.changed:
            self.fail(f'{self.name} still differs from the desired state after applying the plan',
                      remaining_plan=remaining.describe(RESULT_LIST_LIMIT))
        if self.module._diff and again is not None:
            self.result['diff'][0]['after'] = view(again, self.names)
