#!/usr/bin/env bash
# make bench: converge time against the Ansible floor, and wireguard_interface with 1,000 peers
# against wg syncconf, on lab tier 1 (namespace hosts). Writes bench/results.md and results.png.
#
#   make bench                                   the full run (N = 3,10,25,50; 1,000 peers)
#   make bench BENCH_ARGS="--sizes 3,10"         options for bench/bench.py (see --help)
#   bash bench/run.sh --sizes 3 --peers 100 --repeat 1     a quick run
#
# Needs root (namespaces) and `make setup`. Every lab it brings up is torn down, also on errors
# and Ctrl-C; a lab left by a killed run (SIGKILL) is removed by the next run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .venv/bin/python ]]; then
  echo "bench: no .venv: run \`make setup\` first" >&2
  exit 1
fi
export ANSIBLE_COLLECTIONS_PATH="$PWD/.build/collections" ANSIBLE_CONFIG="$PWD/ansible.cfg"
# shellcheck disable=SC2206  # BENCH_ARGS is a list of options, split on purpose
args=(${BENCH_ARGS:-} "$@")
if [[ -n ${MAKELEVEL:-} ]]; then
  cmd="make bench${BENCH_ARGS:+ BENCH_ARGS=\"$BENCH_ARGS\"}"
else
  cmd="bash bench/run.sh${args[*]:+ ${args[*]}}"
fi
exec .venv/bin/python bench/bench.py --command "$cmd" "${args[@]}"
