#!/usr/bin/env bash
# Lab tier 2: run the molecule scenario `default` (3 systemd containers, Debian 12 and 13 mixed:
# lib.sh T2_SUITES; wireguard-go, the whole role, two site LANs) with everything it needs around
# it, and leave nothing behind.
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

# One --internal network of the run (NAME SUBNET4 SUBNET6 SLOT); its output on failure.
network_make() {
  podman network create --internal --disable-dns --ipv6 --subnet "$2" --subnet "$3" \
    --label "$T2_LABEL" --label "org.meshlab.run=$run" --label "org.meshlab.slot=$4" \
    --label "org.meshlab.clone=$REPO_ROOT" "$1" 2>&1
}

# Create the run's networks (underlay, LANs a and b) in the first free slot, starting at one
# derived from the run id (two runs starting together rarely try the same slot first). Prints
# the slot.
network_create() {
  local run=$1 name start k i out x made
  name=$(t2_network "$run")
  start=$((16#$(printf '%s' "$run" | sha256sum | cut -c1-4) % T2_SLOTS))
  for ((i = 0; i < T2_SLOTS; i++)); do
    k=$(((start + i) % T2_SLOTS))
    if out=$(network_make "$name" "$(t2_subnet4 "$k")" "$(t2_subnet6 "$k")" "$k"); then
      made=1
      for x in "${T2_LANS[@]}"; do
        out=$(network_make "$(t2_lan_network "$run" "$x")" "$(t2_lan_subnet4 "$k" "$x")" \
          "$(t2_lan_subnet6 "$k" "$x")" "$k") && continue
        made=0
        break
      done
      if ((made)); then
        log "created networks $name ($(t2_subnet4 "$k"), $(t2_subnet6 "$k")) and LANs" \
          "$(for x in "${T2_LANS[@]}"; do printf '%s ' "$(t2_lan_subnet4 "$k" "$x")"; done)(--internal)"
        echo "$k"
        return 0
      fi
      for x in "${T2_LANS[@]}"; do podman network rm "$(t2_lan_network "$run" "$x")" >/dev/null 2>&1; done
      podman network rm "$name" >/dev/null 2>&1
    fi
    # taken by another run (or a route of the machine): try the next slot
    [[ $out == *"already used"* ]] && continue
    log "podman network create: $out"
    return 1
  done
  log "no free tier 2 slot in $T2_PREFIX4.0/24: $(podman network ls --filter "label=$T2_LABEL" --format '{{.Name}}' | xargs)"
  return 1
}

# What molecule.yml (and the verify tests) read for a run in slot $2.
export_run_env() {
  local run=$1 slot=$2 i x X
  export MESHLAB_T2_RUN=$run MESHLAB_T2_NETWORK
  MESHLAB_T2_NETWORK=$(t2_network "$run")
  # Fixed MAC addresses (locally administered, by slot and host): a real NIC keeps its MAC over
  # a reboot, a restarted container would get a new one, and its neighbours would keep sending to
  # the old MAC until their ARP entry expires (about 30 s, measured): not what a reboot does.
  for ((i = 1; i <= T2_HOSTS; i++)); do
    export "MESHLAB_T2_IPV4_H$i=$(t2_ipv4 "$slot" "$i")" "MESHLAB_T2_IPV6_H$i=$(t2_ipv6 "$slot" "$i")" \
      "MESHLAB_T2_MAC_H$i=$(printf '02:6d:74:%02x:00:%02x' "$slot" "$i")"
  done
  for x in "${T2_LANS[@]}"; do
    X=${x^^}
    export "MESHLAB_T2_LAN${X}_NETWORK=$(t2_lan_network "$run" "$x")" \
      "MESHLAB_T2_LAN${X}_HOST=$(t2_lan_host "$run" "$x")" \
      "MESHLAB_T2_LAN${X}_NET4=$(t2_lan_subnet4 "$slot" "$x")" \
      "MESHLAB_T2_LAN${X}_NET6=$(t2_lan_subnet6 "$slot" "$x")" \
      "MESHLAB_T2_LAN${X}_GW4=$(t2_lan_ipv4 "$slot" "$x" 2)" "MESHLAB_T2_LAN${X}_GW6=$(t2_lan_ipv6 "$slot" "$x" 2)" \
      "MESHLAB_T2_LAN${X}_GWMAC=$(printf '02:6d:74:%02x:%s:02' "$slot" "0$x")" \
      "MESHLAB_T2_LAN${X}_HOST4=$(t2_lan_ipv4 "$slot" "$x" 3)" "MESHLAB_T2_LAN${X}_HOST6=$(t2_lan_ipv6 "$slot" "$x" 3)"
  done
  export MOLECULE_EPHEMERAL_DIRECTORY=$STATE_ROOT/$run
  mkdir -p "$MOLECULE_EPHEMERAL_DIRECTORY"
}

# The LAN host containers of a run in slot $2 (created once; molecule never sees them). LAN a's
# host routes LAN b through its gateway (host 1); LAN b's host has no route back: the tests add
# one where the firewall backend cannot masquerade.
lan_hosts_create() {
  local run=$1 slot=$2 x c other
  for x in "${T2_LANS[@]}"; do
    c=$(t2_lan_host "$run" "$x")
    podman container exists "$c" && continue
    podman run -d --name "$c" --cap-add NET_ADMIN --stop-timeout=1 \
      --network "$(t2_lan_network "$run" "$x"):ip=$(t2_lan_ipv4 "$slot" "$x" 3),ip6=$(t2_lan_ipv6 "$slot" "$x" 3)" \
      --label "$T2_LABEL" --label "org.meshlab.run=$run" "${T2_IMAGES[0]}" \
      sh -c 'trap "exit 0" TERM; sleep infinity & wait' >/dev/null || return 1
    if [[ $x == a ]]; then
      other=b
      podman exec "$c" sh -c "ip route add $(t2_lan_subnet4 "$slot" $other) via $(t2_lan_ipv4 "$slot" a 2) &&
        ip -6 route add $(t2_lan_subnet6 "$slot" $other) via $(t2_lan_ipv6 "$slot" a 2)" || return 1
    fi
    log "created LAN host $c"
  done
}

# Remove one run's containers, networks, netavark rules, and molecule state. Nothing else.
run_down() {
  local run=$1 name slot bridge c i x n b
  local -a nets bridges args
  name=$(t2_network "$run")
  slot=$(run_slot "$run")
  nets=("$name")
  for x in "${T2_LANS[@]}"; do nets+=("$(t2_lan_network "$run" "$x")"); done
  bridges=()
  for n in "${nets[@]}"; do
    bridge=$(podman network inspect --format '{{.NetworkInterface}}' "$n" 2>/dev/null) && bridges+=("$bridge")
  done
  {
    for n in "${nets[@]}"; do podman ps -a --filter "network=$n" --format '{{.Names}}' 2>/dev/null; done
    for ((i = 1; i <= T2_HOSTS; i++)); do t2_container "$run" "$i"; done
    for x in "${T2_LANS[@]}"; do t2_lan_host "$run" "$x"; done
  } | sort -u | while read -r c; do
    podman container exists "$c" && podman rm -f -t 3 "$c" >/dev/null && log "removed container $c"
  done
  for n in "${nets[@]}"; do
    if podman network exists "$n"; then
      podman network rm "$n" >/dev/null && log "removed network $n"
    fi
  done
  if [[ -n $slot ]]; then
    # netavark removes its rules with the network's last container; an --internal network makes
    # none here (netavark 1.4). Anything left that matches this run's subnets or bridges goes.
    args=(--subnet "$(t2_subnet4 "$slot")" --subnet "$(t2_subnet6 "$slot")")
    for x in "${T2_LANS[@]}"; do
      args+=(--subnet "$(t2_lan_subnet4 "$slot" "$x")" --subnet "$(t2_lan_subnet6 "$slot" "$x")")
    done
    for b in "${bridges[@]}"; do args+=(--ifname "$b"); done
    python3 "$LAB_PODMAN_DIR/nft_cleanup.py" "${args[@]}" || true
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
# One image and one apt repository per Debian release of the run (lib.sh T2_SUITES); host I runs
# T2_SUITES[I-1]: MESHLAB_T2_IMAGE_HI, MESHLAB_T2_APT_REPO_HI, MESHLAB_T2_SUITE_HI.
declare -A suite_image suite_repo
T2_IMAGES=()
if [[ $cmd == destroy ]]; then
  [[ -n $run ]] || { log "no kept run in this clone: nothing to destroy"; exit 0; }
  for s in "${T2_SUITES[@]}"; do suite_image[$s]=none suite_repo[$s]=/nonexistent; done  # destroy needs neither
else
  for s in $(printf '%s\n' "${T2_SUITES[@]}" | sort -u); do
    suite_image[$s]=$(MESHLAB_DEBIAN_SUITE=$s "$LAB_PODMAN_DIR/build-image.sh") || exit 1
  done
fi
t_image=$((SECONDS - t0))
if [[ $cmd != destroy ]]; then
  for s in $(printf '%s\n' "${T2_SUITES[@]}" | sort -u); do
    suite_repo[$s]=$(MESHLAB_DEBIAN_SUITE=$s "$LAB_PODMAN_DIR/build-apt-repo.sh") || exit 1
  done
fi
t_repo=$((SECONDS - t0 - t_image))
for ((i = 1; i <= T2_HOSTS; i++)); do
  s=${T2_SUITES[i - 1]}
  export "MESHLAB_T2_SUITE_H$i=$s" "MESHLAB_T2_IMAGE_H$i=${suite_image[$s]}" "MESHLAB_T2_APT_REPO_H$i=${suite_repo[$s]}"
  T2_IMAGES+=("${suite_image[$s]}")
done

if [[ $cmd != test && $cmd != destroy ]]; then
  # the kept run: reuse its network, or make it
  [[ -n $run ]] || run=$(t2_new_run_id)
  t2_valid_run_id "$run" || die "bad run id '$run'"
  slot=$(run_slot "$run")
  [[ -n $slot ]] || slot=$(network_create "$run") || exit 1
  echo "$run" >"$KEPT_FILE"
  export_run_env "$run" "$slot"
  lan_hosts_create "$run" "$slot" || exit 1
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
  lan_hosts_create "$run" "$slot" || { teardown; exit 1; }
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
