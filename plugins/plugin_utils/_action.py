# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Base of the collection's controller-only action plugins (no connection to the host)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.meshlab.wireguard.plugins.plugin_utils._plain import plain


class ControllerAction(ActionBase):
    """Subclasses set ARGUMENT_SPEC and implement work(args, task_vars, result) -> result."""

    _requires_connection = False
    _supports_check_mode = True
    TRANSFERS_FILES = False
    ARGUMENT_SPEC: dict = {}

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        # tagged template results -> plain data (YAML- and JSON-safe)
        args = plain(self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)[1])
        return self.work(args, task_vars, result)

    def work(self, args, task_vars, result):
        raise NotImplementedError
