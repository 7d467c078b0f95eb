#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wireguard_key
short_description: Generate a WireGuard private or preshared key file on the managed host
version_added: 0.2.0
description:
  - Makes sure a file on the managed host holds a WireGuard key, generating one only when needed.
    The key never leaves the host unless O(return_content=true).
  - For O(type=private) the file holds a private key, clamped like C(wg genkey) writes it, and
    the module returns its public key. For O(type=preshared) it holds 32 random bytes like
    C(wg genpsk) writes them.
  - The file is written to a temporary file in the same directory that is mode C(0600) from the
    start, synced to disk and moved into place atomically. It holds the base64 key and one newline,
    the format C(wg), C(wg-quick) and systemd-networkd read.
  - The private key and the preshared key never appear in the diff, in warnings or in error
    messages. The diff shows the public key for a private key, and markers for a preshared key.
author:
  - meshlab.wireguard contributors (@meshlab)
requirements:
  - PyNaCl on the managed host for O(type=private) (Debian/Ubuntu package C(python3-nacl)).
    O(type=preshared) needs no extra library.
options:
  path:
    description:
      - Path of the key file.
      - When not set, V(/etc/wireguard/private.key) for O(type=private) and
        V(/etc/wireguard/preshared.key) for O(type=preshared). A preshared key belongs to one pair
        of peers, so you normally give a path for each pair.
      - A symlink is followed; the file it points to is read, written and removed.
      - When the directory does not exist it is created with mode C(0700) (parents above it get the
        default mode). An existing directory is never changed; the module warns when it is
        writable by group or others.
    type: path
  type:
    description:
      - V(private) for an interface private key, V(preshared) for a preshared key shared by two peers.
      - Both are 32 bytes in base64; a file cannot tell which kind it holds, so use one path per kind.
    type: str
    choices: [private, preshared]
    default: private
  state:
    description:
      - V(present) makes sure the file holds a valid key; V(absent) removes the file.
    type: str
    choices: [present, absent]
    default: present
  regenerate:
    description:
      - When the module may replace an existing key. A missing file always gets a new key.
        Adapted from C(community.crypto.openssh_keypair). A WireGuard key has no size or type that
        could disagree with the options, so the only question is whether the file holds a key.
      - V(never) keeps an existing valid key. It fails, and leaves the file unchanged, when the
        file does not hold a valid key (empty, not base64, wrong length, extra lines); the message
        names the fix, O(regenerate=always) or removing the file.
      - V(fail) is V(never), and in addition fails on a private key that is not clamped the way
        C(wg genkey) writes keys (see the notes). Use it where every key was made by this module
        or C(wg genkey).
      - V(always) writes a new key on every run, also over an invalid file. The task then reports
        changed every time; every peer must learn the new public key. O(backup=true) (the default)
        keeps the old key. With O(content), the given key is written once and the task is then
        unchanged.
      - Owner, group and mode are corrected with every choice, so the task can report changed
        even with V(never).
    type: str
    choices: [never, fail, always]
    default: never
  backup:
    description:
      - Keep a copy of the old file, named with a timestamp, before a key is replaced or removed.
        The copy keeps the old file's mode and is written under a C(077) umask.
      - The copy holds the old secret key. Remove it when you no longer need it.
      - On by default, so that no key is ever lost by a replacement; set V(false) to skip the copy.
    type: bool
    default: true
  content:
    description:
      - Write this key (for example one kept in vault) instead of generating one. It is validated
        first (strict base64 of 32 bytes, not all zeros); a bad key fails the task and nothing is
        written.
      - It goes into a missing file, or over a file that holds no valid key. Over a different
        valid key only with O(regenerate=always); otherwise the task fails and the file is kept.
        The same key (for a private key, the same key after clamping) changes nothing, also with
        O(regenerate=always).
      - B(Secret.) Never shown in the output or the diff.
    type: str
    version_added: 0.3.0
  return_content:
    description:
      - Return the key itself as RV(content).
      - B(Warning:) Ansible cannot hide a module's return values. The key then shows up in the
        task result, with C(-v) on the console, in registered variables and in callbacks and logs.
        Use it only with C(no_log) set to true on the task, and prefer letting the key stay on the host
        (O(path) is what wireguard_interface and wg-quick read).
    type: bool
    default: false
  mode:
    description:
      - The permissions of the key file, as for C(chmod). Quote octal modes (V("0640")) or give
        a symbolic mode (V(u=rw,g=r,o=)).
      - When not set, V(0600), also for an existing file whose mode differs.
    type: raw
  owner:
    description:
      - Name of the user that should own the key file, as would be fed to C(chown).
      - When not set, a new file belongs to the user running the module (V(root) with C(become)),
        and a replaced key keeps the old file's owner and group.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  # Short name on purpose: in ansible-core 2.19 the FQCN form of this one loads the DOCUMENTATION
  # variable instead of FILES, and the attributes lose their descriptions.
  - action_common_attributes.files
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - Shows the public key (private keys) or V(<set>)/V(<new>) markers (preshared keys), the file
        state and mode changes; never a secret.
  platform:
    support: full
    platforms: posix
  safe_file_operations:
    support: full
  vault:
    support: none
notes:
  - B(Public key in a private key file.) Any 32 bytes are a usable private key, and a public key
    has the same format, so no check can tell a public key that was copied into the private key
    file by mistake. C(wg genkey) and this module always write clamped keys (lowest 3 bits clear,
    top bit clear, second-highest bit set), while a public key has that form only 1 time in 16.
    So an existing private key that is not clamped is kept, with a warning naming the file and
    its public key, under O(regenerate=never), and refused under O(regenerate=fail). Keys made by
    other tools (for example raw X25519 keys) may legitimately be unclamped; WireGuard clamps them
    on use, the public key is the same.
  - The key file holds exactly one line. Only one trailing newline is accepted; other whitespace,
    URL-safe or non-canonical base64 and the all-zero key are reported as invalid, as C(wg) reports
    them.
  - In check mode, a key that would be generated has no public key yet; RV(public_key) is then
    V(null).
seealso:
  - name: wg(8)
    description: C(wg genkey), C(wg genpsk) and C(wg pubkey).
    link: https://git.zx2c4.com/wireguard-tools/about/src/man/wg.8
  - module: community.crypto.openssh_keypair
    description: The model for O(regenerate) and O(backup).
"""

EXAMPLES = r"""
- name: Make sure the host has a WireGuard private key
  meshlab.wireguard.wireguard_key:
    path: /etc/wireguard/wg0.key
  register: wg0_key

- name: Show the public key (safe to share)
  ansible.builtin.debug:
    msg: "{{ wg0_key.public_key }}"

- name: A preshared key for the pair hub <-> spoke1
  meshlab.wireguard.wireguard_key:
    path: /etc/wireguard/psk/spoke1.psk
    type: preshared

- name: Key readable by systemd-networkd
  meshlab.wireguard.wireguard_key:
    path: /etc/systemd/network/wg0.key
    owner: root
    group: systemd-network
    mode: "0640"

- name: Rotate the key, keeping a copy of the old one
  meshlab.wireguard.wireguard_key:
    path: /etc/wireguard/wg0.key
    regenerate: always
    backup: true

- name: Install a key kept in vault (validated first; never over another valid key)
  meshlab.wireguard.wireguard_key:
    path: /etc/wireguard/wg2.key
    content: "{{ vault_wg2_private_key }}"

- name: Remove a key that is no longer used
  meshlab.wireguard.wireguard_key:
    path: /etc/wireguard/old.key
    state: absent
"""

RETURN = r"""
public_key:
  description:
    - The public key of the private key in O(path), base64.
    - V(null) in check mode when a new key would be generated.
  returned: success and O(type=private) and O(state=present)
  type: str
  sample: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
path:
  description: The key file, as given (or the default for O(type)).
  returned: always
  type: str
  sample: /etc/wireguard/private.key
type:
  description: The key type, O(type).
  returned: always
  type: str
  sample: private
backup_file:
  description: The copy of the old key file made because of O(backup=true) (the default).
  returned: when a key was replaced or removed with O(backup=true), outside check mode
  type: str
  sample: /etc/wireguard/private.key.2841.2026-01-01@12:00:00~
content:
  description:
    - The key itself, base64, without newline. B(Secret.)
    - See the warning at O(return_content).
  returned: when O(return_content=true) and a key exists (not for a key check mode would generate)
  type: str
"""

# Ansible modules keep their documentation first, hence the late imports.
from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meshlab.wireguard.plugins.module_utils._key_backend import (
    KeyFileBackend,
    KeyFileError,
    argument_spec,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._keys import (
    HAS_NACL,
    NACL_IMPORT_ERROR,
    NACL_REQUIREMENT,
)
from ansible_collections.meshlab.wireguard.plugins.module_utils._model import InputError


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        add_file_common_args=True,
    )
    if module.params['type'] == 'private' and not HAS_NACL:
        module.fail_json(msg=missing_required_lib(NACL_REQUIREMENT), exception=NACL_IMPORT_ERROR)

    backend = KeyFileBackend(module)
    error = None
    try:
        result = backend.run()
    except (InputError, KeyFileError) as e:
        error = str(e)
    # Warnings found before a failure still explain it (e.g. a loose directory mode).
    for warning in backend.warnings:
        module.warn(warning)
    if error is not None:
        # Outside the except block: the message is the whole story, no traceback needed.
        module.fail_json(msg=error, path=backend.path, type=backend.type)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
