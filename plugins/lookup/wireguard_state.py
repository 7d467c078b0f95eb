# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: wireguard_state
author: meshlab.wireguard contributors (@meshlab)
version_added: 0.3.0
short_description: Default places of the role's controller-side state (registry, client keys, health reports)
description:
  - Returns the default of a controller-side setting of the role M(meshlab.wireguard.wireguard), worked
    out from the inventory sources, the environment and the job the play runs in. The role's defaults
    and C(playbooks/health.yml) use it; set the variables themselves to choose other places.
  - V(registry_path) is C(wireguard-registry.yml) beside the first inventory source, never inside an
    inventory directory (for C(-i inventory/) it is beside the directory). It holds public data only, so
    commit it with the inventory.
  - V(state_dir) is a per-user directory outside the inventory for private state,
    C(${XDG_STATE_HOME:-~/.local/state}/meshlab-wireguard/<project>-<hash>), one per project
    directory. Under ansible-runner or AWX it is empty (a job's directories are removed after it).
  - V(clients_dir) and V(health_dir) are C(clients) and C(health) in V(state_dir) (empty when it is).
options:
  _terms:
    description: What to return.
    type: list
    elements: str
    choices: [registry_path, state_dir, clients_dir, health_dir]
    required: true
"""

EXAMPLES = r"""
- name: Where would the registry go by default?
  ansible.builtin.debug:
    msg: "{{ lookup('meshlab.wireguard.wireguard_state', 'registry_path') }}"
"""

RETURN = r"""
_raw:
  description: One path per term (an empty string when there is no safe default).
  type: list
  elements: str
"""

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.meshlab.wireguard.plugins.plugin_utils import _state_paths


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        variables = variables or {}
        task_vars = {k: variables.get(k) for k in ('ansible_inventory_sources', 'awx_job_id', 'tower_job_id')
                     if variables.get(k) is not None}
        try:
            return [_state_paths.default(str(t), os.environ, task_vars) for t in terms]
        except ValueError as exc:
            raise AnsibleLookupError(str(exc)) from None
