#!/usr/bin/env bash
# `make test`: every check CI runs, cheapest first. A failing stage does not hide the others;
# the exit code is non-zero when any stage failed, and the last line counts the tests:
# pytest cases from their JUnit reports, every other stage (lint, sanity, molecule) as one test.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export ANSIBLE_COLLECTIONS_PATH="$PWD/.build/collections" ANSIBLE_CONFIG="$PWD/ansible.cfg"
junit=.build/junit
logs=.build/logs   # each stage's whole output; the end of this run names what failed
rm -rf "$junit" "$logs" && mkdir -p "$junit" "$logs"

stage_passed=0
stage_failed=0
failed_names=()
stage() {  # stage NAME CMD... — run, time, record
  local name=$1; shift
  local t0=$SECONDS
  echo "=== $name: $*"
  # a molecule scenario's testinfra verify writes its JUnit report here (molecule.yml)
  export MOLECULE_VERIFY_JUNIT="$PWD/$junit/$name-verify.xml"
  "$@" 2>&1 | tee "$logs/$name.log"
  if [[ ${PIPESTATUS[0]} -eq 0 ]]; then
    echo "=== $name: ok ($((SECONDS - t0)) s)"
    stage_passed=$((stage_passed + 1))
  else
    echo "=== $name: FAILED ($((SECONDS - t0)) s)"
    stage_failed=$((stage_failed + 1))
    failed_names+=("$name")
  fi
}
pytest_stage() {  # pytest_stage NAME ARGS... — pytest counts its own cases
  local name=$1; shift
  local t0=$SECONDS
  echo "=== $name: pytest $*"
  "$BIN/pytest" -p no:cacheprovider --junitxml="$junit/$name.xml" "$@" 2>&1 | tee "$logs/$name.log"
  local rc=${PIPESTATUS[0]}
  echo "=== $name: rc=$rc ($((SECONDS - t0)) s)"
  if [[ $rc -ne 0 ]]; then failed_names+=("$name"); fi
  # A stage that collected nothing is a failure here: a suite must not vanish silently.
}

stage ruff "$BIN/ruff" check .
stage ansible-lint "$BIN/ansible-lint" --profile production
stage changelog "$BIN/antsibull-changelog" lint
stage sanity bash scripts/sanity.sh
pytest_stage unit tests/unit tests/functional
pytest_stage lab-tier1 tests/lab -m lab
# ansible-core matrix: 2.19 is the main .venv (every stage above); each older line gets its own
# venv (.venv-matrix/, cached), its ansible-test sanity and a 3-host converge / re-run / health.
for v in 2.16 2.17 2.18; do
  MATRIX_VERSIONS=$v pytest_stage "matrix-$v" tests/matrix -m matrix
done
# What ships: ansible-builder introspect/create, the release, galaxy-importer (.venv-matrix/tools).
pytest_stage release tests/release -m release
stage molecule-podman bash lab/podman/molecule.sh
# Lab tier 3: one VM lab (Debian 12 and 13 VMs) booted once and shared by both kernel stages
# (VMLAB_SHARED; each user resets it first); torn down here, also when a stage fails or on exit.
export VMLAB_SHARED=kernel-$$
# (the lab is torn down below and the variable unset; the trap covers a stage that never returns)
trap 'if [[ -n ${VMLAB_SHARED:-} ]]; then "$BIN/python" lab/vm/vmlab.py down --name "$VMLAB_SHARED" >/dev/null 2>&1; fi' EXIT
stage vm-lab-up "$BIN/python" lab/vm/vmlab.py up 3 --name "$VMLAB_SHARED"
stage molecule-kernel bash lab/vm/molecule.sh
# The interface suite runs again on kernel VMs (netlink engine): both engines, one suite.
WG_IFACE_TARGETS=vm pytest_stage lab-kernel tests/lab -m kernel
"$BIN/python" lab/vm/vmlab.py down --name "$VMLAB_SHARED"
unset VMLAB_SHARED

read -r passed failed <<<"$("$BIN/python" - "$junit" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
p = f = 0
for path in glob.glob(sys.argv[1] + '/*.xml'):
    root = ET.parse(path).getroot()
    for s in ([root] if root.tag == 'testsuite' else root.iter('testsuite')):
        tests, fail = int(s.get('tests', 0)), int(s.get('failures', 0)) + int(s.get('errors', 0))
        skipped = int(s.get('skipped', 0))
        p += tests - fail - skipped
        f += fail
        if tests == 0:
            f += 1  # an empty suite counts as a failure
print(p, f)
PY
)"
passed=$((passed + stage_passed))
failed=$((failed + stage_failed))
if ((${#failed_names[@]})); then
  "$BIN/python" scripts/failure_summary.py "$junit" "$logs" "${failed_names[@]}"
  echo "failed stages: ${failed_names[*]}"
  failed=$((failed > 0 ? failed : 1))
fi
echo "total: $passed passed, $failed failed"
[[ ${#failed_names[@]} -eq 0 ]]
