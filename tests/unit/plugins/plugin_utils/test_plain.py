"""plain(): template results of every supported ansible-core become data yaml.safe_dump takes."""
import yaml

from ansible_collections.meshlab.wireguard.plugins.plugin_utils._plain import plain


class UnsafeText(str):
    """Like ansible-core 2.16-2.18's AnsibleUnsafeText: str() of it returns itself."""

    def __str__(self):  # pylint: disable=invalid-str-returned
        return self


class Mapping(dict):
    pass


class Sequence(list):
    pass


def test_str_subclasses_and_containers_become_plain():
    value = Mapping({UnsafeText('wg0'): Sequence([UnsafeText('100.64.0.1/24'), 51820, True, None, 1.5])})
    out = plain(value)
    assert out == {'wg0': ['100.64.0.1/24', 51820, True, None, 1.5]}
    # exactly these types, not subclasses
    assert out.__class__ is dict and next(iter(out)).__class__ is str
    assert out['wg0'].__class__ is list and out['wg0'][0].__class__ is str
    # yaml.safe_dump refuses the subclasses ("cannot represent an object"), takes the result
    assert yaml.safe_dump(out) == "wg0:\n- 100.64.0.1/24\n- 51820\n- true\n- null\n- 1.5\n"
