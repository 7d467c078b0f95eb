"""_iproute's reading side: stdlib rtnetlink, the same answers as pyroute2, no pyroute2 import.

Read-only against this process' network namespace (lo is always there); the writes are covered
by the lab suites.
"""
import ipaddress
import struct
import subprocess
import sys

import pytest

from ansible_collections.meshlab.wireguard.plugins.module_utils import _iproute
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import Link


def test_importing_and_reading_does_not_import_pyroute2():
    code = ('import sys\n'
            'from ansible_collections.meshlab.wireguard.plugins.module_utils import _iproute\n'
            'assert _iproute.read_link("lo") is not None and _iproute.link_kind("lo") == ""\n'
            'assert _iproute.link_kind("nosuchlink0") is None\n'
            '_iproute.apply_link("lo", _iproute.Plan(name="lo"))  # nothing to do on the link\n'
            'print(sorted(m for m in sys.modules if m.startswith("pyroute2")))\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True,
                         env={'PYTHONPATH': ':'.join(sys.path)})
    assert out.stdout.strip() == '[]'


def _pyroute2_read(ifname):
    """The reference: the same Link read through pyroute2's IPRoute."""
    pyroute2 = pytest.importorskip('pyroute2')
    with pyroute2.IPRoute() as ipr:
        found = ipr.link_lookup(ifname=ifname)
        if not found:
            return None
        idx = found[0]
        (msg,) = ipr.get_links(idx)
        addrs = set()
        for a in ipr.get_addr():
            if a['index'] == idx:
                iface = ipaddress.ip_interface(f"{a.get_attr('IFA_LOCAL') or a.get_attr('IFA_ADDRESS')}/"
                                               f"{a['prefixlen']}")
                if not (iface.version == 6 and iface.ip.is_link_local):
                    addrs.add(str(iface))
        return Link(exists=True, mtu=msg.get_attr('IFLA_MTU'), addresses=frozenset(addrs),
                    up=bool(msg['flags'] & 1), routes=frozenset())


def test_read_link_matches_pyroute2_on_lo():
    ours = _iproute.read_link('lo')
    assert ours == _pyroute2_read('lo')
    assert '127.0.0.1/8' in ours.addresses and ours.up


def test_missing_link():
    assert _iproute.read_link('nosuchlink0') is None
    assert _iproute.link_kind('nosuchlink0') is None


def test_attrs_skip_flags_and_padding():
    def attr(kind, payload):
        raw = struct.pack('=HH', 4 + len(payload), kind) + payload
        return raw + b'\0' * (-len(raw) % 4)
    kind = attr(_iproute.IFLA_INFO_KIND, b'tun\0')
    data = attr(_iproute.IFLA_MTU, struct.pack('=I', 1420)) + attr(_iproute.IFLA_LINKINFO | 0x8000, kind)
    attrs = _iproute._attrs(data, 0)
    assert _iproute._u32(attrs[_iproute.IFLA_MTU]) == 1420
    assert _iproute._attrs(attrs[_iproute.IFLA_LINKINFO], 0)[_iproute.IFLA_INFO_KIND] == b'tun\0'


def test_netlink_error_is_pyroute2s_class_when_asked_for():
    pytest.importorskip('pyroute2')
    from pyroute2.netlink.exceptions import NetlinkError
    assert _iproute.NetlinkError is NetlinkError
    with pytest.raises(AttributeError):
        _iproute.no_such_name  # noqa: B018
