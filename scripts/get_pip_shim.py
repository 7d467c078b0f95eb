"""Stand-in for ansible-test's pip bootstrap script (get-pip.py).

ansible-test downloads get-pip.py from a host that this project's machines cannot reach; the
package registry is reachable. This shim gives the new venv pip with ensurepip, then installs the
pinned pip version ansible-test asked for from the registry. scripts/setup.sh puts it where
ansible-test looks for its cached copy.
"""
import subprocess
import sys

GET_PIP_ONLY = {'--no-setuptools', '--no-wheel'}  # get-pip.py options that pip itself lacks

subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade', '--default-pip'])
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
subprocess.check_call([sys.executable, '-m', 'pip', 'install', *args])
