# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn template results into plain data, on every supported ansible-core.

2.19 hands out lazy containers and tagged str/int/float subclasses; 2.16 to 2.18 hand out
AnsibleUnsafeText (whose str() returns itself, unsafe marker kept) and the AnsibleUnicode,
AnsibleMapping and AnsibleSequence of parsed YAML. yaml.safe_dump refuses all of those.
"""

from __future__ import annotations


def plain(value):
    """dict/list/str/int/float/bool/None only, recursively; keys become str."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str.__str__(value)  # an exact str: tags and the unsafe marker dropped
    if isinstance(value, dict) or hasattr(value, 'items'):
        return {plain(k) if isinstance(k, str) else k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    return str(value)
