# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of meshlab.wireguard.wireguard_client (documentation in plugins/modules/)."""

from __future__ import annotations

import base64
import io
import os
import re

from ansible.errors import AnsibleActionFail

from ansible_collections.meshlab.wireguard.plugins.module_utils import _topology as topo
from ansible_collections.meshlab.wireguard.plugins.module_utils._atomic import write_atomic
from ansible_collections.meshlab.wireguard.plugins.plugin_utils import _controller_checks, _state_paths
from ansible_collections.meshlab.wireguard.plugins.plugin_utils import _registry as reg
from ansible_collections.meshlab.wireguard.plugins.plugin_utils._action import ControllerAction

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
except ImportError:  # pragma: no cover - ansible-core depends on cryptography
    X25519PrivateKey = None

try:
    import qrcode
    HAS_QRCODE = True
except ImportError:  # pragma: no cover - optional
    HAS_QRCODE = False
try:  # qrcode draws its PNG with pillow; the terminal code needs only qrcode
    import PIL  # noqa: F401 pylint: disable=unused-import
    HAS_PILLOW = True
except ImportError:  # pragma: no cover - optional
    HAS_PILLOW = False

NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$')
KEY_RE = re.compile(r'^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$')

ARGUMENT_SPEC = {
    'dir': {'type': 'path', 'required': True},
    'network': {'type': 'str', 'required': True},
    'name': {'type': 'str', 'required': True},
    'host': {'type': 'str'},
    'addresses': {'type': 'list', 'elements': 'str', 'required': True},
    'allowed_ips': {'type': 'list', 'elements': 'str', 'required': True},
    'dns': {'type': 'list', 'elements': 'str', 'default': []},
    'keepalive': {'type': 'int', 'default': 25},
    'mtu': {'type': 'int'},
    'endpoint': {'type': 'str'},
    'server_public_key': {'type': 'str', 'no_log': False},
    'psk_secret': {'type': 'str', 'no_log': True},
    'qr': {'type': 'bool', 'default': True},
    'registry_path': {'type': 'path'},
    'registry_backend': reg.STORE_OPTIONS['backend'],
    'registry_redis': reg.STORE_OPTIONS['redis'],
    'state': {'type': 'str', 'default': 'present', 'choices': ['present', 'absent']},
}


def _b64(raw):
    return base64.b64encode(raw).decode('ascii')


def generate_private_key():
    raw = bytearray(os.urandom(32))
    raw[0] &= 248
    raw[31] = (raw[31] & 127) | 64
    return _b64(bytes(raw))


def public_key_of(private_b64):
    if X25519PrivateKey is None:
        raise AnsibleActionFail('the controller needs the Python library cryptography (ansible-core '
                                'depends on it): pip install cryptography')
    key = X25519PrivateKey.from_private_bytes(base64.b64decode(private_b64))
    return _b64(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def render_config(args, private_key, preshared_key):
    lines = [
        '# WireGuard client {} of network {} (meshlab.wireguard); import into the WireGuard app.'.format(
            args['name'], args['network']),
        '# Holds the private key: keep it secret.',
        '[Interface]',
        f'PrivateKey = {private_key}',
        'Address = {}'.format(', '.join(args['addresses'])),
    ]
    if args['dns']:
        lines.append('DNS = {}'.format(', '.join(args['dns'])))
    if args['mtu']:
        lines.append('MTU = {}'.format(args['mtu']))
    lines += ['', '[Peer]']
    if args['host']:
        lines.append('# name = {}'.format(args['host']))
    lines.append('PublicKey = {}'.format(args['server_public_key']))
    if preshared_key:
        lines.append(f'PresharedKey = {preshared_key}')
    if args['endpoint']:
        lines.append('Endpoint = {}'.format(args['endpoint']))
    lines.append('AllowedIPs = {}'.format(', '.join(args['allowed_ips'])))
    if args['keepalive']:
        lines.append('PersistentKeepalive = {}'.format(args['keepalive']))
    return '\n'.join(lines) + '\n'


def redact(text):
    return re.sub(r'^(PrivateKey|PresharedKey) = .*$', r'\1 = <redacted>', text, flags=re.M)


def _read(path):
    try:
        with open(path, encoding='utf-8') as f:
            return f.read()
    except FileNotFoundError:
        return None


def _write_private(path, data):
    """Atomic write, mode 0600 from the start; returns True when the content changed."""
    try:
        with open(path, 'rb') as f:
            old = f.read()
        if old == (data if isinstance(data, bytes) else data.encode('utf-8')):
            if os.stat(path).st_mode & 0o777 != 0o600:
                os.chmod(path, 0o600)
                return True
            return False
    except FileNotFoundError:
        pass
    write_atomic(path, data, mode=0o600)
    return True


def _private_dir(path):
    """Create with 0700, or tighten an existing one; True when something changed."""
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)
        return True
    if os.stat(path).st_mode & 0o777 != 0o700:
        os.chmod(path, 0o700)
        return True
    return False


def _qr_text(text):
    """The config without comment lines: a smaller code, easier to scan."""
    return '\n'.join(line for line in text.splitlines() if not line.startswith('#')) + '\n'


def qr_png(text):
    img = qrcode.make(_qr_text(text), error_correction=qrcode.constants.ERROR_CORRECT_M)
    buf = io.BytesIO()
    img.save(buf, format='PNG')
    return buf.getvalue()


def qr_terminal(text):
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    qr.add_data(_qr_text(text))
    qr.make(fit=True)
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    return out.getvalue()


def registry_of(args):
    """The registry the client's public key goes to, or None (no registry given)."""
    if args['registry_backend'] == 'file' and not args['registry_path']:
        return None
    try:
        return reg.open_registry(reg.spec_from_args(args['registry_path'], args['registry_backend'],
                                                    args['registry_redis']))
    except reg.RegistryError as exc:
        raise AnsibleActionFail(str(exc)) from None


def key_elsewhere(store, network, name, registered, key_path):
    return (f'client {name} of {network} has the public key {registered} in the registry {store.source}, but '
            f'its private key is not {key_path}: it was made by another controller or in another state '
            'directory. Copy that key file here (set wireguard_state_dir / wireguard_clients_dir to where it '
            f'is), or delete networks.{network}.clients.{name} from the registry to make a new key (the '
            'client then needs its new config)')


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def work(self, args, task_vars, result):
        check = bool(self._task.check_mode)
        name, network = args['name'], args['network']
        if not NAME_RE.match(name) or not topo.IFNAME_RE.match(network):
            raise AnsibleActionFail(f'invalid client name {name!r} or network {network!r}: use letters, '
                                    'digits, _ . - (they name files)')
        if not args['dir']:
            raise AnsibleActionFail('dir is empty: client private keys need a place on the controller; set '
                                    'wireguard_state_dir (or wireguard_clients_dir)')
        problems = _state_paths.problems('wireguard_clients_dir', args['dir'], os.environ, task_vars)
        if problems:
            raise AnsibleActionFail('; '.join(problems))
        store = registry_of(args)
        base = os.path.join(args['dir'], network)
        paths = {ext: os.path.join(base, f'{name}.{ext}') for ext in ('key', 'conf', 'png', 'txt')}
        result.update(changed=False, paths=paths)
        if args['state'] == 'absent':
            return self._absent(result, paths, args, check)
        if not args['server_public_key'] or not KEY_RE.match(args['server_public_key']):
            if check:
                result['skipped_reason'] = 'the host has no public key yet (check mode)'
                return result
            raise AnsibleActionFail('server_public_key must be the base64 public key of the host the '
                                    'client connects to')
        changed = False
        if not check:
            changed |= _private_dir(args['dir'])
            changed |= _private_dir(base)
        private = (_read(paths['key']) or '').strip()
        if private:
            if not KEY_RE.match(private):
                raise AnsibleActionFail(f'{paths["key"]} does not hold a WireGuard private key; remove it '
                                        'to make a new one (the client then needs its new config)')
        else:
            registered = self._registered_key(store, network, name)
            if registered:
                raise AnsibleActionFail(key_elsewhere(store, network, name, registered, paths['key']))
            changed = True
            if check:
                result.update(changed=True, public_key=None)
                return result
            private = generate_private_key()
            _write_private(paths['key'], private + '\n')
        public = public_key_of(private)
        psk = None
        if args['psk_secret']:
            psk = topo.derive_psk(args['psk_secret'], network, public, args['server_public_key'])
        conf = render_config(args, private, psk)
        old_conf = _read(paths['conf'])
        conf_changed = old_conf != conf
        qr = {}
        if args['qr'] and HAS_QRCODE:
            # generated every run and compared: same bytes for the same config, so no change
            qr['txt'] = qr_terminal(conf).encode('utf-8')
            if HAS_PILLOW:
                qr['png'] = qr_png(conf)
        if not check:
            changed |= _write_private(paths['conf'], conf)
            for ext, data in qr.items():
                changed |= _write_private(paths[ext], data)
        else:
            changed |= conf_changed
            for ext, data in qr.items():
                try:
                    with open(paths[ext], 'rb') as f:
                        changed |= f.read() != data
                except FileNotFoundError:
                    changed = True
        if args['qr'] and not (HAS_QRCODE and HAS_PILLOW):
            what, pkgs = ('QR codes', 'qrcode pillow') if not HAS_QRCODE else ('PNG QR code', 'pillow')
            result.setdefault('warnings', []).append(
                f'no {what} for client {name}: install the Python package(s) {pkgs} on the controller '
                f'(pip install {pkgs}, into the Python that runs Ansible), or set qr: false '
                '(role: wireguard_clients_qr: false)')
        if store is not None:
            def change(data):
                net = data.setdefault('networks', {}).setdefault(network, {'hosts': {}, 'clients': {}})
                net.setdefault('clients', {})
                entry = dict(net['clients'].get(name) or {})
                if entry.get('public_key') and entry['public_key'] != public:
                    # another controller registered its own key for this client meanwhile
                    raise reg.RegistryError(
                        key_elsewhere(store, network, name, entry['public_key'], paths['key']))
                entry.update(public_key=public, addresses=list(args['addresses']))
                if args['host']:
                    entry['host'] = args['host']
                net['clients'][name] = entry
            try:
                reg_changed = store.update(change, check)[2]
            except reg.RegistryError as exc:
                raise AnsibleActionFail(str(exc)) from None
            except OSError as exc:  # a write that failed half-way (full disk, permissions)
                msg = _controller_checks.write_failure(args['registry_path'], exc)
                raise AnsibleActionFail(msg) from None
            changed |= reg_changed
            result['registry_changed'] = reg_changed
        result.update(changed=changed, public_key=public)
        if self._task.diff and conf_changed:
            result['diff'] = {'before_header': paths['conf'], 'after_header': paths['conf'],
                              'before': redact(old_conf or ''), 'after': redact(conf)}
        return result

    @staticmethod
    def _registered_key(store, network, name):
        if store is None:
            return None
        try:
            data = store.read()
        except reg.RegistryError as exc:
            raise AnsibleActionFail(str(exc)) from None
        net = (data.get('networks') or {}).get(network) or {}
        return ((net.get('clients') or {}).get(name) or {}).get('public_key')

    @staticmethod
    def _absent(result, paths, args, check):
        changed = False
        for path in paths.values():
            if os.path.exists(path):
                changed = True
                if not check:
                    os.unlink(path)
        store = registry_of(args)
        if store is not None:
            def change(data):
                net = (data.get('networks') or {}).get(args['network']) or {}
                (net.get('clients') or {}).pop(args['name'], None)
            try:
                reg_changed = store.update(change, check)[2]
            except reg.RegistryError as exc:
                raise AnsibleActionFail(str(exc)) from None
            changed |= reg_changed
        result['changed'] = changed
        return result
