"""wireguard_health (action plugin) through ansible-playbook: plan + report on fake host results.

Three inventory hosts on the local connection; their wireguard_info / wireguard_ping results are
set with set_fact (no WireGuard needed), so the whole controller side runs as the health
playbook runs it: expected links from topology + registry, analysis, text, JSON, HTML, PNG.
"""
import base64
import json
import os

import pytest
import yaml

from .helpers import run_playbook

HOSTS = ('h1', 'h2', 'h3')


def key(h):
    return base64.b64encode(h.encode().ljust(32, b'k')).decode()


def registry():
    return {'version': 1, 'networks': {'wg0': {'clients': {}, 'hosts': {
        h: {'public_key': key(h), 'endpoint': f'198.51.100.{10 + i}', 'port': 51820,
            'addresses': [f'100.64.0.{i}/24'], 'role': 'member'}
        for i, h in enumerate(HOSTS, 1)}}}}


def info(h, missing_if=False, ages=None):
    ages = ages or {}
    if missing_if:
        return {'changed': False, 'interfaces': {}}
    peers = [{'public_key': key(o), 'name': o, 'endpoint': None, 'allowed_ips': [],
              'latest_handshake': 0, 'handshake_age': ages.get(o, 7), 'rx_bytes': 1, 'tx_bytes': 2,
              'persistent_keepalive': 0, 'status': 'up'} for o in HOSTS if o != h]
    return {'changed': False, 'interfaces': {'wg0': {
        'engine': 'userspace', 'public_key': key(h), 'listen_port': 51820, 'fwmark': 0,
        'addresses': [], 'peers': peers}}}


def pings(h, down=()):
    return {'changed': False, 'replies': {
        f'100.64.0.{i}': {'ok': h not in down and o not in down, 'rtt_ms': 0.3}
        for i, o in enumerate(HOSTS, 1) if o != h}}


PLAYBOOK = """
- hosts: all
  gather_facts: false
  vars:
    wireguard_networks:
      - name: wg0
        ipv4_pool: 100.64.0.0/24
        port: 51820
  tasks:
    - name: Fake results
      ansible.builtin.set_fact:
        wireguard_health_info: "{{ fake_info[inventory_hostname] }}"
        wireguard_health_ping: "{{ fake_ping[inventory_hostname] }}"
    - name: Plan
      meshlab.wireguard.wireguard_health:
        phase: plan
        networks: "{{ wireguard_networks }}"
        registry_path: "{{ registry_path }}"
        hosts: "{{ ansible_play_hosts_all }}"
      run_once: true
      delegate_to: localhost
      register: plan
    - name: Report
      meshlab.wireguard.wireguard_health:
        phase: report
        expected: "{{ plan.expected }}"
        warnings: "{{ plan.health_warnings }}"
        hosts: "{{ ansible_play_hosts_all }}"
        output_dir: "{{ out_dir }}"
      run_once: true
      delegate_to: localhost
      register: health
    - name: Save
      ansible.builtin.copy:
        content: "{{ {'plan': plan, 'health': health} | to_json }}"
        dest: "{{ out_dir }}/result.json"
        mode: '0644'
      run_once: true
      delegate_to: localhost
"""

INVENTORY = '\n'.join(f'{h} ansible_connection=local ansible_python_interpreter=/usr/bin/python3'
                      for h in HOSTS) + '\n'


def run(tmp_path, infos, pingres):
    reg = tmp_path / 'registry.yml'
    reg.write_text(yaml.safe_dump(registry()))
    out = tmp_path / 'out'
    extra = tmp_path / 'extra.json'
    extra.write_text(json.dumps({'fake_info': infos, 'fake_ping': pingres, 'registry_path': str(reg),
                                 'out_dir': str(out)}))
    rc, stdout, stderr, _ = run_playbook(PLAYBOOK, INVENTORY, extra_args=('-e', f'@{extra}'))
    assert rc == 0, stdout + stderr
    with open(out / 'result.json') as f:
        return json.load(f), out


def test_healthy(tmp_path):
    res, out = run(tmp_path, {h: info(h) for h in HOSTS}, {h: pings(h) for h in HOSTS})
    plan, health = res['plan'], res['health']
    assert len(plan['expected']) == 3 and plan['targets']['h1'] == ['100.64.0.2', '100.64.0.3']
    assert health['ok'] is True and health['health']['summary']['up'] == 3
    assert sorted(os.listdir(out)) == ['health.html', 'health.json', 'health.png', 'health.txt',
                                       'result.json']
    assert (out / 'health.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert json.loads((out / 'health.json').read_text())['ok'] is True
    assert '3 of 3 links up' in (out / 'health.txt').read_text()


def test_one_host_down(tmp_path):
    infos = {h: info(h) for h in HOSTS}
    infos['h3'] = info('h3', missing_if=True)
    res, out = run(tmp_path, infos, {h: pings(h, down=('h3',)) for h in HOSTS})
    health = res['health']
    assert health['ok'] is False
    broken = {(b['a'], b['b'], b['cause'], b['culprit']) for b in health['health']['broken']}
    assert broken == {('h1', 'h3', 'interface_missing', 'h3'), ('h2', 'h3', 'interface_missing', 'h3')}
    assert any(line.startswith('BROKEN h1 <-> h3') for line in health['lines'])
    assert 'interface_missing' in (out / 'health.html').read_text()


@pytest.mark.parametrize('formats', [['json']])
def test_formats_option(tmp_path, formats):
    # only through the module args: ensure an unknown format is refused
    playbook = """
- hosts: localhost
  gather_facts: false
  tasks:
    - meshlab.wireguard.wireguard_health:
        phase: report
        expected: []
        output_dir: "{{ out }}"
        formats: [json, gif]
"""
    rc, stdout, _, _ = run_playbook(playbook, extra_args=('-e', f'out={tmp_path}'))
    assert rc != 0 and 'gif' in stdout
