# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Attributes shared by the collection's controller-only action plugins."""

    DOCUMENTATION = r"""
attributes:
  action:
    description: An action plugin; it runs on the controller and sends nothing to the host.
    support: full
  async:
    description: Not supported.
    support: none
  bypass_host_loop:
    description: Runs once per host, like any task.
    support: none
"""
