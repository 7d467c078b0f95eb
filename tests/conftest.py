"""Make `ansible_collections.meshlab.wireguard` importable from the working tree."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')
LINK = os.path.join(COLLECTIONS, 'ansible_collections', 'meshlab', 'wireguard')

if not os.path.islink(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(ROOT, LINK)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
os.environ.setdefault('ANSIBLE_COLLECTIONS_PATH', COLLECTIONS)

# The role keeps private controller state (client keys, health reports) in a per-user directory,
# ${XDG_STATE_HOME:-~/.local/state}/meshlab-wireguard/...: tests never write to the real one.
if 'MESHLAB_TEST_STATE_HOME' not in os.environ:
    import atexit
    import shutil
    import tempfile

    _STATE_HOME = tempfile.mkdtemp(prefix='meshlab-state-')
    atexit.register(shutil.rmtree, _STATE_HOME, True)
    os.environ['MESHLAB_TEST_STATE_HOME'] = os.environ['XDG_STATE_HOME'] = _STATE_HOME

pytest_plugins = ['redis_store']  # fixture redis_factory: a real redis-server per test
