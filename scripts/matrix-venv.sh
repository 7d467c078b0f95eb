#!/usr/bin/env bash
# Build (or reuse) the extra venvs of make test under .venv-matrix/, like scripts/setup.sh does
# for .venv: each is rebuilt only when its pinned requirements change (hash in .requirements.sha).
#   scripts/matrix-venv.sh 2.16 2.17 2.18   ansible-core lines (requirements/ansible-2.NN.txt)
#   scripts/matrix-venv.sh tools            ansible-builder, galaxy-importer (requirements/tools.txt)
# Prints nothing when every venv is up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
for name in "$@"; do
  if [[ $name == tools ]]; then
    req=requirements/tools.txt con=requirements/constraints-tools.txt
  else
    req=requirements/ansible-$name.txt con=requirements/constraints-matrix.txt
  fi
  [[ -f $req ]] || { echo "matrix-venv: no $req" >&2; exit 2; }
  venv=.venv-matrix/$name stamp=.venv-matrix/$name/.requirements.sha
  want=$(cat "$req" "$con" | sha256sum | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
    continue
  fi
  echo "matrix-venv: building $venv from $req + $con"
  rm -rf "$venv"
  log=$(mktemp)
  if ! { "$PY" -m venv "$venv" && "$venv/bin/pip" install --upgrade pip &&
         "$venv/bin/pip" install -r "$req" -c "$con" && "$venv/bin/pip" check; } >"$log" 2>&1; then
    grep -v 'is ignored' "$log" | tail -n 40 >&2
    rm -f "$log"
    echo "matrix-venv: building $venv failed" >&2
    exit 1
  fi
  rm -f "$log"
  echo "$want" > "$stamp"
done
