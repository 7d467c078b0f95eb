# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What runs: every WireGuard interface of this host, read through its engine (wireguard_info).

- Discovery: every link of this network namespace whose kind is an engine's (``_engines.ENGINES``):
  kernel links of kind ``wireguard``, and TUN links whose UAPI socket
  ``/var/run/wireguard/<if>.sock`` answers (``_engines.live_engine``).
- Per interface: the engine's ``read()`` (private key dropped at once: only its public key is kept),
  the link's addresses from ``_iproute``, friendly peer names from the ``# name = X`` comments of
  the wg-quick config, and per peer the handshake age and status (HANDSHAKE_FRESH_SECONDS).

No secret (private key, preshared key) leaves this module: ``describe_*`` build the result from
public fields only.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Dict, Optional

from ansible_collections.meshlab.wireguard.plugins.module_utils import _iproute, _keys
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import (
    HANDSHAKE_FRESH_SECONDS,
    Device,
    Link,
    Peer,
    PeerStats,
)

CONFIG_DIR = '/etc/wireguard'


def peer_status(age: Optional[int]) -> str:
    """'up' (handshake younger than HANDSHAKE_FRESH_SECONDS), 'stale', or 'never'."""
    if age is None:
        return 'never'
    return 'up' if age < HANDSHAKE_FRESH_SECONDS else 'stale'


def describe_peer(peer: Peer, stats: Optional[PeerStats], name: Optional[str], now: float) -> dict:
    """One peer as wireguard_info returns it (the preshared key is never included)."""
    stats = stats or PeerStats()
    latest = int(stats.latest_handshake or 0)
    age = max(0, int(now - latest)) if latest else None
    return {
        'public_key': peer.public_key,
        'name': name,
        'endpoint': peer.endpoint,
        'allowed_ips': list(peer.allowed_ips),
        'latest_handshake': latest,
        'handshake_age': age,
        'rx_bytes': int(stats.rx_bytes),
        'tx_bytes': int(stats.tx_bytes),
        'persistent_keepalive': int(peer.persistent_keepalive or 0),
        'status': peer_status(age),
    }


def describe_interface(engine: str, device: Device, link: Optional[Link], public_key: Optional[str],
                       names: Dict[str, str], now: float, key_age: Optional[int] = None) -> dict:
    """One interface as wireguard_info returns it; peers sorted by name, then key."""
    peers = [describe_peer(p, device.stats.get(k), names.get(k), now) for k, p in device.peers.items()]
    peers.sort(key=lambda p: (p['name'] is None, p['name'] or '', p['public_key']))
    return {
        'engine': engine,
        'public_key': public_key,
        'listen_port': device.listen_port,
        'fwmark': device.fwmark,
        'addresses': sorted(link.addresses) if link else [],
        'mtu': link.mtu if link else None,
        'up': link.up if link else False,
        'key_age': key_age,
        'peers': peers,
    }


def _kind(msg) -> Optional[str]:
    info = msg.get_attr('IFLA_LINKINFO')
    return info.get_attr('IFLA_INFO_KIND') if info is not None else None


def discover(socket_dir: Optional[str] = None) -> Dict[str, str]:
    """{ifname: 'kernel'|'userspace'} for every WireGuard interface in this network namespace.

    socket_dir: the UAPI socket directory instead of the engine table's (tests).
    """
    from ansible_collections.meshlab.wireguard.plugins.module_utils._engines import live_engine

    with _iproute.iproute() as ipr:
        links = [(msg.get_attr('IFLA_IFNAME'), _kind(msg)) for msg in ipr.get_links()]
    found = {}
    for name, kind in links:
        engine = live_engine(name, kind, socket_dir)
        if engine is not None:
            found[name] = engine
    return found


def read_names(ifname: str, config_dir: str = CONFIG_DIR) -> Dict[str, str]:
    """{public_key: friendly name} from <config_dir>/<ifname>.conf; {} when unreadable."""
    from ansible_collections.meshlab.wireguard.plugins.module_utils._wgquick import parse_names

    try:
        with open(os.path.join(config_dir, ifname + '.conf'), encoding='utf-8') as f:
            return parse_names(f.read())
    except (OSError, UnicodeDecodeError, ValueError):
        return {}


def key_age(ifname: str, config_dir: str = CONFIG_DIR, now: Optional[float] = None) -> Optional[int]:
    """Seconds since the interface's key file (named in its wg-quick config) was written; None
    when there is no such config or file. A key rotation writes a new file, so this is the key's age."""
    from ansible_collections.meshlab.wireguard.plugins.module_utils._wgquick import parse_private_key_path

    try:
        with open(os.path.join(config_dir, ifname + '.conf'), encoding='utf-8') as f:
            path = parse_private_key_path(f.read())
        if path is None:
            return None
        mtime = os.stat(path).st_mtime
    except (OSError, UnicodeDecodeError):
        return None
    return max(0, int((time.time() if now is None else now) - mtime))


def gather(name: Optional[str] = None, config_dir: str = CONFIG_DIR,
           engine_factory: Optional[Callable] = None, now: Optional[float] = None):
    """({ifname: info}, [warnings]) for every interface, or only NAME (absent: empty dict).

    engine_factory(kind) -> Engine; defaults to _engines.make_engine (tests pass fakes).
    """
    if engine_factory is None:
        from ansible_collections.meshlab.wireguard.plugins.module_utils._engines import make_engine

        engine_factory = make_engine
    interfaces = discover()
    if name is not None:
        interfaces = {k: v for k, v in interfaces.items() if k == name}
    out = {}  # type: Dict[str, dict]
    warnings = []
    for ifname, kind in sorted(interfaces.items()):
        try:
            device = engine_factory(kind).read(ifname)
        except Exception as exc:  # an interface that vanished or does not answer is reported, not fatal
            warnings.append(f'{ifname}: cannot read the {kind} interface: {exc}')
            continue
        public_key = _keys.public_key_of(device.private_key) if device.private_key else None
        device = Device(listen_port=device.listen_port, fwmark=device.fwmark, peers=device.peers,
                        stats=device.stats)  # the private key goes no further
        link = _iproute.read_link(ifname)
        when = time.time() if now is None else now
        out[ifname] = describe_interface(kind, device, link, public_key, read_names(ifname, config_dir), when,
                                         key_age(ifname, config_dir, when))
    return out, warnings
