# -*- coding: utf-8 -*-
# Copyright: meshlab.wireguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of the health check (documentation: plugins/modules/wireguard_health.py).

phase=plan    expected links from topology + registry, and what each host should ping.
phase=report  analyse the hosts' wireguard_info / wireguard_ping results (read from hostvars),
              render the matrix, write JSON / HTML / PNG / text files.
"""

from __future__ import annotations

import json
import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.meshlab.wireguard.plugins.module_utils import _health
from ansible_collections.meshlab.wireguard.plugins.module_utils._atomic import write_atomic
from ansible_collections.meshlab.wireguard.plugins.plugin_utils import _fleet, _state_paths
from ansible_collections.meshlab.wireguard.plugins.plugin_utils import _registry as reg
from ansible_collections.meshlab.wireguard.plugins.plugin_utils._action import ControllerAction

FORMATS = ('json', 'html', 'png', 'txt')
# formats not given: every format whose library is there (png needs matplotlib), without a word
DEFAULT_FORMATS = ('json', 'html', 'txt')
PNG_REQUIREMENT = 'matplotlib'

ARGUMENT_SPEC = {
    'phase': {'type': 'str', 'required': True, 'choices': ['plan', 'report']},
    # plan
    'fleet': {'type': 'dict'},
    'networks': {'type': 'list', 'elements': 'dict', 'default': []},
    'sites': {'type': 'list', 'elements': 'dict', 'default': []},
    'registry': {'type': 'raw'},
    'registry_path': {'type': 'path'},
    'registry_backend': reg.STORE_OPTIONS['backend'],
    'registry_redis': reg.STORE_OPTIONS['redis'],
    'host_vars': {'type': 'dict'},
    # both
    'hosts': {'type': 'list', 'elements': 'str'},
    # report
    'expected': {'type': 'list', 'elements': 'dict', 'default': []},
    'info_var': {'type': 'str', 'default': 'wireguard_health_info'},
    'ping_var': {'type': 'str', 'default': 'wireguard_health_ping'},
    'warnings': {'type': 'list', 'elements': 'str', 'default': []},
    'output_dir': {'type': 'path'},
    'formats': {'type': 'list', 'elements': 'str'},
    'title': {'type': 'str', 'default': 'WireGuard health'},
    'key_max_age': {'type': 'float', 'default': 0},
}


def _plain(value):
    """Registered results and templated vars as plain JSON data (drops Ansible's wrapper types)."""
    return json.loads(json.dumps(value, default=str))


def load_registry(args, task_vars):
    """The registry the role keeps, read through the registry facade (plugin_utils/_registry.read):
    the strict reader (version, schema) of both backends, the same one the role uses."""
    path = args['registry_path']
    if args['registry_backend'] == 'file' and not path:
        path = _state_paths.default('registry_path', os.environ, task_vars)
    try:
        return reg.read(reg.spec_from_args(path, args['registry_backend'], args['registry_redis']))
    except reg.RegistryError as exc:
        raise AnsibleActionFail(str(exc)) from None


def has_matplotlib():
    try:
        import matplotlib  # noqa: F401 pylint: disable=unused-import
    except ImportError:
        return False
    return True


def render_png(report, title):
    """The matrix as a PNG (bytes); needs matplotlib on the controller (see has_matplotlib)."""
    import io

    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    names = sorted(report['networks'])
    broken = report['broken']
    ncols = max(1, len(names))
    size = max([len(report['networks'][n]['hosts']) for n in names] + [2])
    grid = 0.9 * size + 0.3  # inches
    text_lines = min(len(broken), 12)
    line = 0.25
    bottom = 0.3 + line * text_lines  # inches of text under the grids
    top = 1.1  # inches for the title, the network title and the column labels
    width = max(5.0, (grid + 1.2) * ncols)
    height = top + grid + 0.2 + bottom
    fig = plt.figure(figsize=(width, height), dpi=100)
    cmap = ListedColormap(['#dddddd', '#f4a6a6', '#b7e4b0', '#f5f5f5'])  # self, broken, up, no link
    for i, name in enumerate(names):
        hosts = report['networks'][name]['hosts']
        ax = fig.add_axes([(i + 0.18) / ncols, (bottom + 0.2) / height, 0.78 / ncols, grid / height])
        values, labels = [], []
        for r in hosts:
            row_v, row_t = [], []
            for c in hosts:
                cell = report['networks'][name]['matrix'].get(r, {}).get(c)
                row_v.append(0 if r == c else 3 if cell is None else 2 if cell['ok'] else 1)
                row_t.append(_health.cell_text(report, name, r, c).lstrip('!'))
            values.append(row_v)
            labels.append(row_t)
        ax.imshow(values, cmap=cmap, vmin=0, vmax=3)
        for y, row in enumerate(labels):
            for x, text in enumerate(row):
                ax.text(x, y, text, ha='center', va='center', fontsize=8, family='monospace')
        ax.set_xticks(range(len(hosts)))
        ax.set_xticklabels(hosts)
        ax.set_yticks(range(len(hosts)))
        ax.set_yticklabels(hosts)
        ax.xaxis.tick_top()
        ax.set_title(f'network {name} (row sees column)', fontsize=10, pad=18)
    s = report['summary']
    verdict = 'healthy' if report['ok'] else f"{s['broken']} broken"
    fig.suptitle(f"{title}: {verdict} ({s['up']}/{s['links']} links up)", fontsize=12, y=1 - 0.15 / height,
                 color='#1a7f1a' if report['ok'] else '#b00000')
    y = (bottom - line) / height
    for b in broken[:text_lines]:
        on = f" on {b['culprit']}" if b['culprit'] else ''
        fig.text(0.02, y, f"{b['a']} <-> {b['b']} ({b['network']}): {b['cause']}{on}", fontsize=8,
                 family='monospace', color='#b00000')
        y -= line / height
    buf = io.BytesIO()
    fig.savefig(buf, format='png')
    plt.close(fig)
    return buf.getvalue()


class ActionModule(ControllerAction):
    """Controller-only, on the shared base (argument spec, plain data) like the other actions."""

    ARGUMENT_SPEC = ARGUMENT_SPEC

    def _plan(self, args, task_vars):
        from ansible_collections.meshlab.wireguard.plugins.module_utils import _topology

        registry = args['registry']
        if registry is None:
            registry = load_registry(args, task_vars)
        if args['fleet'] is not None:
            fleet = _plain(args['fleet'])
        else:
            groups = _plain(task_vars.get('groups') or {})
            if args['host_vars'] is None:  # what the role reads: every member's variables
                fleet = _fleet.normalize(args['networks'], args['sites'], groups, task_vars.get('hostvars'))
            else:
                fleet = _topology.normalize(_plain(args['networks']), _plain(args['sites']), groups,
                                            _plain(args['host_vars']))
        if fleet.get('errors'):
            raise AnsibleActionFail('the WireGuard variables have errors:\n- ' + '\n- '.join(fleet['errors']))
        out = _health.expected_links(fleet, _plain(registry), args['hosts'])
        return {
            'changed': False,
            'expected': out['links'],
            'targets': _health.ping_targets(out['links']),
            'first_targets': _health.handshake_starters(out['links']),
            'health_warnings': out['warnings'] + list(fleet.get('warnings') or []),
            'registry_found': any((net or {}).get('hosts')
                                  for net in ((registry or {}).get('networks') or {}).values()),
        }

    def _results(self, task_vars, hosts, var):
        hostvars = task_vars.get('hostvars') or {}
        out = {}
        for h in hosts:
            hv = hostvars.get(h) if hasattr(hostvars, 'get') else None
            value = hv.get(var) if hv is not None else None
            if value is not None:
                out[h] = _plain(value)
        return out

    def _report(self, args, task_vars):
        hosts = args['hosts']
        if hosts is None:
            hosts = sorted({s[k]['host'] for s in args['expected'] if not s.get('skip') for k in ('a', 'b')})
        infos = self._results(task_vars, hosts, args['info_var'])
        pings = {}
        for h, res in self._results(task_vars, hosts, args['ping_var']).items():
            if isinstance(res, dict) and isinstance(res.get('replies'), dict):
                pings[h] = res['replies']
        report = _health.analyse(_plain(args['expected']), infos, pings)
        report['warnings'] = list(args['warnings']) + report['warnings']
        if args['key_max_age']:
            report['old_keys'] = _health.old_keys(infos, args['key_max_age'])
            report['warnings'] += report['old_keys']
        lines = _health.render_text(report)
        files = {}
        formats = args['formats']
        if formats is None:
            formats = list(DEFAULT_FORMATS) + (['png'] if has_matplotlib() else [])
        bad = [f for f in formats if f not in FORMATS]
        if bad:
            raise AnsibleActionFail(f"formats: unknown {', '.join(bad)}; choose from {', '.join(FORMATS)}")
        out_dir = args['output_dir']
        if out_dir and 'png' in formats and not has_matplotlib():
            raise AnsibleActionFail(
                f'formats: png needs the Python package {PNG_REQUIREMENT} on the controller '
                f'(pip install {PNG_REQUIREMENT} into the Python that runs Ansible), or leave png '
                'out of formats (the HTML page shows the same matrix)')
        if out_dir:
            problems = _state_paths.problems('wireguard_health_output_dir', out_dir, os.environ, task_vars)
            if problems:
                raise AnsibleActionFail('; '.join(problems))
            os.makedirs(out_dir, exist_ok=True)
            content = {
                'json': lambda: (json.dumps(report, indent=2, sort_keys=True) + '\n').encode('utf-8'),
                'html': lambda: _health.render_html(report, args['title']).encode('utf-8'),
                'txt': lambda: ('\n'.join(lines) + '\n').encode('utf-8'),
                'png': lambda: render_png(report, args['title']),
            }
            for fmt in formats:
                path = os.path.join(out_dir, f'health.{fmt}')
                write_atomic(path, content[fmt](), mode=0o644, prefix='.health.')
                files[fmt] = path
        return {'changed': False, 'ok': report['ok'], 'health': report, 'lines': lines, 'files': files}

    def work(self, args, task_vars, result):
        try:
            if args['phase'] == 'plan':
                result.update(self._plan(args, task_vars))
            else:
                result.update(self._report(args, task_vars))
        except AnsibleActionFail:
            raise
        except Exception as exc:
            raise AnsibleActionFail(f'wireguard_health ({args["phase"]}): {to_native(exc)}') from exc
        return result
