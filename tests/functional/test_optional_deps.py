"""qrcode, pillow and matplotlib are optional on the controller (meta/ee-requirements.txt).

Each is made missing for one ansible-playbook run by a stand-in package on PYTHONPATH whose
import fails. A run that does not use the feature says nothing about it; a run that uses it
names the package (and the pip command) in its message. (With the package there, the default
writes the PNG: test_wireguard_health.py.)
"""
import pytest
import yaml

from .helpers import run_playbook

SERVER_KEY = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg='


@pytest.fixture
def without(tmp_path):
    """without(*packages) -> env that makes `import <package>` fail in the controller."""
    def make(*packages):
        stubs = tmp_path / 'missing'
        for name in packages:
            (stubs / name).mkdir(parents=True, exist_ok=True)
            (stubs / name / '__init__.py').write_text(f'raise ImportError("{name} is missing (a test)")\n')
        return {'PYTHONPATH': str(stubs)}
    return make


def health_report(tmp_path, env, formats=None):
    task = {'meshlab.wireguard.wireguard_health': {'phase': 'report', 'expected': [],
                                                   'output_dir': str(tmp_path / 'out')}}
    if formats is not None:
        task['meshlab.wireguard.wireguard_health']['formats'] = formats
    playbook = yaml.safe_dump([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [task]}])
    return run_playbook(playbook, env=env)


def test_health_without_matplotlib_writes_the_rest_and_says_nothing(tmp_path, without):
    rc, out, err, _ = health_report(tmp_path, without('matplotlib'))
    assert rc == 0, out + err
    written = sorted(p.name for p in (tmp_path / 'out').iterdir())
    assert written == ['health.html', 'health.json', 'health.txt']
    assert 'WARNING' not in out + err and 'matplotlib' not in out + err


def test_health_png_asked_for_without_matplotlib_names_the_package(tmp_path, without):
    rc, out, err, _ = health_report(tmp_path, without('matplotlib'), formats=['json', 'png'])
    assert rc != 0
    assert 'png needs the Python package matplotlib' in out + err and 'pip install matplotlib' in out + err
    assert not (tmp_path / 'out').exists() or not list((tmp_path / 'out').iterdir())


def client(tmp_path, env, qr=True):
    task = {'meshlab.wireguard.wireguard_client': {
        'dir': str(tmp_path / 'clients'), 'network': 'wg0', 'name': 'phone', 'qr': qr,
        'addresses': ['100.64.0.200/24'], 'allowed_ips': ['100.64.0.0/24'],
        'endpoint': '198.51.100.11:51820', 'server_public_key': SERVER_KEY}}
    playbook = yaml.safe_dump([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [task]}])
    rc, out, err, _ = run_playbook(playbook, env=env, extra_args=('-v',))
    files = sorted(p.name for p in (tmp_path / 'clients' / 'wg0').iterdir())
    return rc, out + err, files


def test_client_without_qrcode_writes_the_config_and_names_the_package(tmp_path, without):
    rc, text, files = client(tmp_path, without('qrcode'))
    assert rc == 0, text
    assert files == ['phone.conf', 'phone.key']
    text = ' '.join(text.split())  # the warning is wrapped
    assert 'no QR codes for client phone: install the Python package(s) qrcode pillow' in text


def test_client_without_pillow_still_writes_the_terminal_code(tmp_path, without):
    rc, text, files = client(tmp_path, without('PIL'))
    assert rc == 0, text
    assert files == ['phone.conf', 'phone.key', 'phone.txt']
    text = ' '.join(text.split())
    assert 'no PNG QR code for client phone: install the Python package(s) pillow' in text


def test_client_without_qr_codes_asked_for_says_nothing(tmp_path, without):
    rc, text, files = client(tmp_path, without('qrcode', 'PIL'), qr=False)
    assert rc == 0, text
    assert files == ['phone.conf', 'phone.key'] and 'WARNING' not in text and 'qrcode' not in text
