#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wireguard_ping
short_description: Ping a list of addresses from the managed host, all at once
version_added: 0.2.0
description:
  - Runs C(ping) for every address in O(targets) in parallel and reports per address whether a
    reply came back and the average round-trip time. Used by the health playbook to test every
    expected WireGuard link in one task per host.
  - A target counts as reachable when at least one of the O(count) echo requests is answered
    (the first packet to a WireGuard peer may wait for the handshake it triggers).
  - The task does not fail when targets do not answer; see RV(no_reply).
author:
  - meshlab.wireguard contributors (@meshlab)
requirements:
  - C(ping) from iputils (Debian/Ubuntu package C(iputils-ping)) on the managed host.
options:
  targets:
    description:
      - IP addresses (a CIDR form such as V(100.64.0.2/24) is taken as its address) or host names.
    type: list
    elements: str
    required: true
  count:
    description: Echo requests per target.
    type: int
    default: 3
  timeout:
    description: Seconds to wait for each reply (C(ping -W)).
    type: int
    default: 1
  interval:
    description: Seconds between the echo requests of one target (C(ping -i); at least 0.2 unless root).
    type: float
    default: 0.2
  deadline:
    description:
      - Seconds after which C(ping) gives up on a target (C(ping -w)). Until then it goes on sending
        every O(interval) until O(count) replies came back, so a healthy target still answers at once.
      - Set it above 5 to outlast one lost WireGuard handshake, which is retried after 5 seconds.
        Without it, C(ping) sends O(count) requests and waits O(timeout) for the last reply.
    type: int
  parallel:
    description: How many targets are pinged at the same time.
    type: int
    default: 16
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Pinging changes nothing, so it also runs in check mode.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
seealso:
  - module: meshlab.wireguard.wireguard_info
"""

EXAMPLES = r"""
- name: Ping the tunnel addresses of two peers
  meshlab.wireguard.wireguard_ping:
    targets: [100.64.0.2, fd3a:6c1e:9b42:100::2]
  register: ping

- name: Fail when one does not answer
  ansible.builtin.assert:
    that: ping.no_reply | length == 0
    fail_msg: "no reply from {{ ping.no_reply | join(', ') }}"
"""

RETURN = r"""
replies:
  description: Per target (as normalised, e.g. without a prefix length).
  returned: always
  type: dict
  contains:
    ok:
      description: At least one reply came back.
      type: bool
    rtt_ms:
      description: Average round-trip time in milliseconds, V(null) without replies.
      type: float
    transmitted:
      description: Echo requests sent.
      type: int
    received:
      description: Replies received.
      type: int
    rc:
      description: Exit code of C(ping).
      type: int
    error:
      description: The last line C(ping) printed when it failed for another reason than no reply.
      type: str
      returned: on such a failure
  sample:
    100.64.0.2: {ok: true, rtt_ms: 0.42, transmitted: 3, received: 3, rc: 0}
no_reply:
  description: Targets without any reply, sorted.
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshlab.wireguard.plugins.module_utils import _ping


def main():
    module = AnsibleModule(
        argument_spec={
            'targets': {'type': 'list', 'elements': 'str', 'required': True},
            'count': {'type': 'int', 'default': 3},
            'timeout': {'type': 'int', 'default': 1},
            'interval': {'type': 'float', 'default': 0.2},
            'parallel': {'type': 'int', 'default': 16},
            'deadline': {'type': 'int'},
        },
        supports_check_mode=True,
    )
    p = module.params
    for opt in ('count', 'timeout', 'parallel'):
        if p[opt] < 1:
            module.fail_json(msg=f'{opt} must be at least 1, not {p[opt]}')
    if p['deadline'] is not None and p['deadline'] < 1:
        module.fail_json(msg=f"deadline must be at least 1 second, not {p['deadline']}")
    if p['interval'] <= 0:
        module.fail_json(msg=f"interval must be a positive number of seconds, not {p['interval']}")
    try:
        targets = [_ping.check_target(t) for t in p['targets']]
    except ValueError as exc:
        module.fail_json(msg=f'targets: {exc}')
    ping = module.get_bin_path('ping', required=True)
    results = _ping.ping_all(module.run_command, ping, targets, p['count'], p['timeout'], p['interval'],
                             p['parallel'], p['deadline'])
    module.exit_json(changed=False, replies=results, no_reply=_ping.summary(results))


if __name__ == '__main__':
    main()
