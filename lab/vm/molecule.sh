#!/usr/bin/env bash
# Run `molecule test -s kernel` (lab tier 3: QEMU VMs with kernel WireGuard) and always tear the
# VMs down afterwards: on success, failure, Ctrl-C or SIGTERM.
#
#   lab/vm/molecule.sh                 molecule test -s kernel
#   lab/vm/molecule.sh converge        any other molecule command for the scenario (no teardown
#                                      unless it is test/destroy: keep the VMs to iterate)
#
# Env: VMLAB_NAME (default molecule-kernel), VMLAB_MEMORY (MiB per VM, default 320),
# VMLAB_SHARED (a lab booted by the caller, e.g. scripts/test.sh: used and reset, never torn down).
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD

export VMLAB_SHARED=${VMLAB_SHARED:-}
export VMLAB_NAME=${VMLAB_SHARED:-${VMLAB_NAME:-molecule-kernel}}
# The lab's ssh control directory: Ansible, testinfra and vmlab.py (which ends the masters when it
# reboots a VM) share one master per VM.
VMLAB_CONTROL_DIR=$(python3 -c 'import sys; sys.path.insert(0, "lab/vm"); import vmlab; print(vmlab.VMLab(sys.argv[1]).cp_dir)' "$VMLAB_NAME") || exit 1
export VMLAB_CONTROL_DIR
export PATH=$REPO/.venv/bin:$PATH
export ANSIBLE_COLLECTIONS_PATH=$REPO/.build/collections
# Only this scenario's molecule.yml is read: molecule otherwise loads (and validates) every
# scenario, and another one may need env this run does not set.
export MOLECULE_GLOB=molecule/kernel/molecule.yml
if [[ ! -e .build/collections/ansible_collections/meshlab/wireguard ]]; then
  mkdir -p .build/collections/ansible_collections/meshlab
  ln -sfn "$REPO" .build/collections/ansible_collections/meshlab/wireguard
fi

cmd=${1:-test}
shift || true

teardown() {
  [[ -n $VMLAB_SHARED ]] && return 0   # the caller's lab: molecule's destroy reset it
  python3 lab/vm/vmlab.py down --name "$VMLAB_NAME" || true
}

if [[ $cmd != test && $cmd != destroy ]]; then
  exec molecule "$cmd" -s kernel "$@"
fi

# molecule runs in a process group of its own (setsid: its pid is the group id), so an interrupt
# reaches molecule, ansible-playbook and a vmlab.py that is still booting VMs (vmlab.py turns
# SIGTERM into its own teardown). The QEMU processes left their group when they daemonized:
# `vmlab.py down` ends them by recorded pid.
child=
on_signal() {
  echo "molecule.sh: interrupted, tearing down" >&2
  if [[ -n $child ]]; then
    kill -TERM -- "-$child" 2>/dev/null
    for _ in $(seq 60); do kill -0 -- "-$child" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$child" 2>/dev/null
  fi
  teardown
  exit 130
}
trap on_signal INT TERM HUP

start=$(date +%s)
setsid molecule "$cmd" -s kernel "$@" &
child=$!
wait "$child"
rc=$?
child=
teardown
echo "molecule.sh: molecule $cmd -s kernel rc=$rc in $(($(date +%s) - start)) s" >&2
exit "$rc"
