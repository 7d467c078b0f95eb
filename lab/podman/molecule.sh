#!/usr/bin/env bash
# Lab tier 2: run the molecule scenario `default` (3 Debian 12 systemd containers, wireguard-go,
# the whole role) with everything it needs around it, and leave nothing behind.
#
#   lab/podman/molecule.sh              build/reuse image + apt repo, create this run's network,
#                                       `molecule test -s default`, then remove what the run made
#   lab/podman/molecule.sh converge     any other molecule command (create, converge, verify,
#   lab/podman/molecule.sh login -h t2-<run>-h1   login ...) works on the clone's *kept* run
#                                       (made on first use, its id in molecule/default/.molecule/kept):
#                                       network and containers stay so you can iterate;
#                                       `destroy` removes them all
#   lab/podman/molecule.sh down [RUN]   remove what a run left (default: the kept run)
#   lab/podman/molecule.sh runs         list the tier 2 runs on this machine (every clone)
#
# Every run has an id (MESHLAB_T2_RUN; `test` makes a fresh random one) and everything it makes
# carries it: containers t2-<run>-hI, the podman --internal network meshlab-t2-<run> with a /28
# and a /64 of its own (lib.sh), molecule's ephemeral directory
# molecule/default/.molecule/<run>/ (MOLECULE_EPHEMERAL_DIRECTORY: inventory, state, the role's
# registry and PSK secret). So two runs at once on one machine, from one clone or two (a CI
# `make test` next to yours), never collide, and teardown removes only its own run's objects.
# Teardown runs on success, failure, Ctrl-C and SIGTERM.
set -uo pipefail
# shellcheck source=lab/podman/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT" || exit 1

export PATH=$REPO_ROOT/.venv/bin:$PATH
export ANSIBLE_COLLECTIONS_PATH=$REPO_ROOT/.build/collections
if [[ ! -e .build/collections/ansible_collections/meshlab/wireguard ]]; then
  mkdir -p .build/collections/ansible_collections/meshlab
  ln -sfn "$REPO_ROOT" .build/collections/ansible_collections/meshlab/wireguard
fi

SCENARIO=default
# Only this scenario's molecule.yml is read (molecule otherwise loads every scenario).
export MOLECULE_GLOB=molecule/$SCENARIO/molecule.yml
STATE_ROOT=$REPO_ROOT/molecule/$SCENARIO/.molecule   # gitignored
KEPT_FILE=$STATE_ROOT/kept

cmd=${1:-test}
shift || true

# ----------------------------------------------------------------------------- one run's objects

# The slot of an existing run's network (its label), empty when the network does not exist.
run_slot() {
  podman network inspect --format '{{index .Labels "org.meshlab.slot"}}' "$(t2_network "$1")" 2>/dev/null
}

# Create the run's network in the first free slot, starting at one derived from the run id (two
# runs starting together rarely try the same slot first). Prints the slot.
network_create() {
  local run=$1 name start k i out
  name=$(t2_network "$run")
  start=$((16#$(printf '%s' "$run" | sha256sum | cut -c1-4) % T2_SLOTS))
  for ((i = 0; i < T2_SLOTS; i++)); do
    k=$(((start + i) % T2_SLOTS))
    if out=$(podman network create --internal --disable-dns --ipv6 \
      --subnet "$(t2_subnet4 "$k")" --subnet "$(t2_subnet6 "$k")" \
      --label "$T2_LABEL" --label "org.meshlab.run=$run" --label "org.meshlab.slot=$k" \
      --label "org.meshlab.clone=$REPO_ROOT" "$name" 2>&1); then
      log "created network $name ($(t2_subnet4 "$k"), $(t2_subnet6 "$k"), --internal)"
      echo "$k"
      return 0
    fi
    # taken by another run (or a route of the machine): try the next slot
    [[ $out == *"already used"* ]] && continue
    log "podman network create $name: $out"
    return 1
  done
  log "no free tier 2 slot in $T2_PREFIX4.0/24: $(podman network ls --filter "label=$T2_LABEL" --format '{{.Name}}' | xargs)"
  return 1
}

# What molecule.yml reads for a run in slot $2.
export_run_env() {
  local run=$1 slot=$2 i
  export MESHLAB_T2_RUN=$run MESHLAB_T2_NETWORK
  MESHLAB_T2_NETWORK=$(t2_network "$run")
  for ((i = 1; i <= T2_HOSTS; i++)); do
    export "MESHLAB_T2_IPV4_H$i=$(t2_ipv4 "$slot" "$i")" "MESHLAB_T2_IPV6_H$i=$(t2_ipv6 "$slot" "$i")"
  done
  export MOLECULE_EPHEMERAL_DIRECTORY=$STATE_ROOT/$run
  mkdir -p "$MOLECULE_EPHEMERAL_DIRECTORY"
}

# Remove one run's containers, network, netavark rules, and molecule state. Nothing else.
run_down() {
  local run=$1 name slot bridge c i
  name=$(t2_network "$run")
  slot=$(run_slot "$run")
  bridge=$(podman network inspect --format '{{.NetworkInterface}}' "$name" 2>/dev/null)
  {
    podman ps -a --filter "network=$name" --format '{{.Names}}' 2>/dev/null
    for ((i = 1; i <= T2_HOSTS; i++)); do t2_container "$run" "$i"; done
  } | sort -u | while read -r c; do
    podman container exists "$c" && podman rm -f -t 3 "$c" >/dev/null && log "removed container $c"
  done
  if podman network exists "$name"; then
    podman network rm "$name" >/dev/null && log "removed network $name"
  fi
  if [[ -n $slot ]]; then
    # netavark removes its rules with the network's last container; an --internal network makes
    # none here (netavark 1.4). Anything left that matches this run's subnets or bridge goes.
    python3 "$LAB_PODMAN_DIR/nft_cleanup.py" --subnet "$(t2_subnet4 "$slot")" \
      --subnet "$(t2_subnet6 "$slot")" ${bridge:+--ifname "$bridge"} || true
  fi
  rm -rf --one-file-system "${STATE_ROOT:?}/$run"
  if [[ -f $KEPT_FILE && $(<"$KEPT_FILE") == "$run" ]]; then rm -f "$KEPT_FILE"; fi
}

# ----------------------------------------------------------------------------- commands

if [[ $cmd == runs ]]; then
  for n in $(podman network ls --filter "label=$T2_LABEL" --format '{{.Name}}'); do
    echo "$n  $(podman network inspect --format \
      'slot={{index .Labels "org.meshlab.slot"}}  clone={{index .Labels "org.meshlab.clone"}}' "$n")" \
      " containers: $(podman ps -a --filter "network=$n" --format '{{.Names}}' | xargs)"
  done
  exit 0
fi

mkdir -p "$STATE_ROOT"
if [[ $cmd == test ]]; then
  run=${MESHLAB_T2_RUN:-$(t2_new_run_id)}
else
  run=${MESHLAB_T2_RUN:-}
  [[ $cmd == down && -n ${1:-} ]] && run=$1
  [[ -z $run && -f $KEPT_FILE ]] && run=$(<"$KEPT_FILE")
fi

if [[ $cmd == down ]]; then
  [[ -n $run ]] || { log "no kept run in this clone (runs: $0 runs)"; exit 0; }
  t2_valid_run_id "$run" || die "bad run id '$run'"
  run_down "$run"
  exit 0
fi

t0=$SECONDS
if [[ $cmd == destroy ]]; then
  [[ -n $run ]] || { log "no kept run in this clone: nothing to destroy"; exit 0; }
  image=none repo=/nonexistent   # destroy needs neither
else
  image=$("$LAB_PODMAN_DIR/build-image.sh") || exit 1
fi
t_image=$((SECONDS - t0))
[[ $cmd == destroy ]] || repo=$("$LAB_PODMAN_DIR/build-apt-repo.sh") || exit 1
t_repo=$((SECONDS - t0 - t_image))
export MESHLAB_T2_IMAGE=$image MESHLAB_T2_APT_REPO=$repo

if [[ $cmd != test && $cmd != destroy ]]; then
  # the kept run: reuse its network, or make it
  [[ -n $run ]] || run=$(t2_new_run_id)
  t2_valid_run_id "$run" || die "bad run id '$run'"
  slot=$(run_slot "$run")
  [[ -n $slot ]] || slot=$(network_create "$run") || exit 1
  echo "$run" >"$KEPT_FILE"
  export_run_env "$run" "$slot"
  log "run $run (network $MESHLAB_T2_NETWORK, containers $(t2_container "$run" "{1..$T2_HOSTS}"))"
  exec molecule "$cmd" -s "$SCENARIO" "$@"
fi

t2_valid_run_id "$run" || die "bad run id '$run'"
child=
teardown() { run_down "$run"; }
on_signal() {
  log "interrupted: tearing down run $run"
  if [[ -n $child ]]; then
    # molecule runs in its own process group (setsid): end it with its ansible-playbook children
    kill -TERM -- "-$child" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      kill -0 -- "-$child" 2>/dev/null || break
      sleep 1
    done
    kill -KILL -- "-$child" 2>/dev/null
    wait "$child" 2>/dev/null
  fi
  teardown
  exit 130
}
trap on_signal INT TERM

if [[ $cmd == test ]]; then
  if [[ -n $(run_slot "$run") ]]; then
    die "run $run exists already (network $(t2_network "$run")): pick another MESHLAB_T2_RUN or '$0 down $run'"
  fi
  slot=$(network_create "$run") || { teardown; exit 1; }
else # destroy: the kept run
  slot=$(run_slot "$run")
  slot=${slot:-0}   # network gone already: molecule destroy still removes the containers
fi
export_run_env "$run" "$slot"
log "run $run: network $MESHLAB_T2_NETWORK, state $MOLECULE_EPHEMERAL_DIRECTORY"

rc=0
t1=$SECONDS
setsid molecule "$cmd" -s "$SCENARIO" "$@" &
child=$!
wait "$child" || rc=$?
child=
t_molecule=$((SECONDS - t1))
teardown
log "run $run: image ${t_image} s, apt repo ${t_repo} s, molecule $cmd ${t_molecule} s: rc=$rc"
exit "$rc"
