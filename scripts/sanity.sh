#!/usr/bin/env bash
# ansible-test sanity on exactly what ships: build the collection tarball, unpack it into an
# ansible_collections/meshlab/wireguard tree (ansible-test insists on that path), run there.
# Ignore files stay empty; lab, bench and CI tooling are checked by ruff instead.
# VENV=.venv-matrix/2.16 runs that venv's ansible-test (the ansible-core matrix, scripts/matrix.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=$root/${VENV:-.venv}
work=$(mktemp -d /tmp/meshlab-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$venv/bin/ansible-galaxy" collection build --force --output-path "$work/dist" >/dev/null
dest="$work/ansible_collections/meshlab/wireguard"
mkdir -p "$dest"
tar -xzf "$work"/dist/meshlab-wireguard-*.tar.gz -C "$dest"
cd "$dest"
# ansible-test lists files through git when there is a repository; give it one.
printf "tests/output/\n" > .gitignore
git init -q . && git add -A && git -c user.email=ci@invalid -c user.name=ci commit -qm sanity
# ansible-test makes one venv per test and bootstraps pip with a script from a host we cannot
# reach; our shim (scripts/get_pip_shim.py) does the same from the package registry.
at=$("$venv/bin/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
pip_version=$(grep -oP "pip='\K[0-9.]+" "$at/_internal/python_requirements.py" | head -n1)
mkdir -p ~/.ansible/test/cache
cp "$root/scripts/get_pip_shim.py" ~/.ansible/test/cache/"get_pip_${pip_version//./_}.py"
PATH="$venv/bin:$PATH" ansible-test sanity --venv --python "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
  --color no "$@"
