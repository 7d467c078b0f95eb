#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wireguard_key_rotation
short_description: One step of a WireGuard private key rotation on the host that owns the key
version_added: 0.3.0
description:
  - Handles the key files of a rotation; the interface itself is switched by
    M(meshlab.wireguard.wireguard_interface) (with O(meshlab.wireguard.wireguard_interface#module:apply_at)),
    and the order of the whole rotation is the playbook C(meshlab.wireguard.rotate).
  - Three files side by side, all mode C(0600) in the key's directory; O(path) (the key the
    interface uses), O(path)C(.next) (the key the host switches to) and O(path)C(.old) (the replaced
    key, kept until every peer has completed a handshake with the new one).
  - Every step is idempotent, so a re-run after an interruption continues where the last one stopped.
  - Private keys never leave the host; the module returns public keys and the key file's age.
author:
  - meshlab.wireguard contributors (@meshlab)
requirements:
  - PyNaCl on the managed host (Debian/Ubuntu package C(python3-nacl)).
options:
  path:
    description: The private key file the interface uses (it must exist and hold a valid key).
    type: path
    required: true
  step:
    description:
      - V(prepare) makes O(path)C(.next) with a new key, or keeps the one an earlier run made.
      - V(promote) moves the current key to O(path)C(.old) and O(path)C(.next) to O(path) (one
        rename); nothing to do when O(path) already holds O(next_public_key).
      - V(finish) removes O(path)C(.old) (the rotation is confirmed).
      - V(cancel) removes O(path)C(.next) (a prepared rotation that was never switched).
      - V(status) changes nothing and reports the files.
    type: str
    required: true
    choices: [prepare, promote, finish, cancel, status]
  next_public_key:
    description:
      - The public key of the key to promote (what V(prepare) returned); the module refuses to
        promote a O(path)C(.next) that holds another key.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports what the step would change; V(prepare) cannot know the next public key yet.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
"""

EXAMPLES = r"""
- name: Make the next key (the interface keeps the current one)
  meshlab.wireguard.wireguard_key_rotation:
    path: /etc/wireguard/wg0.key
    step: prepare
  register: next_key

- name: Put the next key in place (the old one is kept as wg0.key.old)
  meshlab.wireguard.wireguard_key_rotation:
    path: /etc/wireguard/wg0.key
    step: promote
    next_public_key: "{{ next_key.next_public_key }}"
"""

RETURN = r"""
public_key:
  description: The public key of O(path) after the step.
  returned: success
  type: str
next_public_key:
  description:
    - The public key of O(path)C(.next) after the step; V(null) when there is none (or in check
      mode when V(prepare) would make it).
  returned: success
  type: str
old_public_key:
  description: The public key of O(path)C(.old); V(null) when there is none.
  returned: success
  type: str
key_age:
  description: Seconds since O(path) was written (its modification time).
  returned: success
  type: int
step:
  description: The step, O(step).
  returned: success
  type: str
"""

# Ansible modules keep their documentation first, hence the late imports.
from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meshlab.wireguard.plugins.module_utils._keys import (
    HAS_NACL,
    NACL_IMPORT_ERROR,
    NACL_REQUIREMENT,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import InputError
from ansible_collections.meshlab.wireguard.plugins.module_utils._rotation import KeyRotation, argument_spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_NACL:
        module.fail_json(msg=missing_required_lib(NACL_REQUIREMENT), exception=NACL_IMPORT_ERROR)
    try:
        result = KeyRotation(module).run()
    except (InputError, OSError) as exc:
        module.fail_json(msg=str(exc), path=module.params['path'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
