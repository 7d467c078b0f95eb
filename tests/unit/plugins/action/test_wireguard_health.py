"""wireguard_health reads the registry the way the role does: the strict reader of the registry
facade (version and schema checked), on the shared controller-action base."""
import pytest
import yaml
from ansible.errors import AnsibleActionFail

from ansible_collections.meshlab.wireguard.plugins.action import wireguard_health as wh
from ansible_collections.meshlab.wireguard.plugins.plugin_utils._action import ControllerAction

GOOD = {'version': 1, 'networks': {'wg0': {'clients': {}, 'hosts': {}}}}


def args(path):
    return {'registry_path': str(path), 'registry_backend': 'file', 'registry_redis': {}}


def test_a_good_registry_is_read(tmp_path):
    p = tmp_path / 'registry.yml'
    p.write_text(yaml.safe_dump(GOOD))
    assert wh.load_registry(args(p), {}) == GOOD


@pytest.mark.parametrize('data, words', [
    (dict(GOOD, version=2), "version: 2 is not a version this collection reads"),
    ({'networks': {}}, 'version: is missing'),
    (dict(GOOD, extra=1), "unknown top-level field 'extra'"),
])
def test_a_registry_the_role_would_refuse_is_refused(tmp_path, data, words):
    p = tmp_path / 'registry.yml'
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(AnsibleActionFail) as e:
        wh.load_registry(args(p), {})
    assert words in str(e.value)


def test_health_is_a_controller_action():
    assert issubclass(wh.ActionModule, ControllerAction)
    assert wh.ActionModule.ARGUMENT_SPEC is wh.ARGUMENT_SPEC
