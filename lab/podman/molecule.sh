#!/usr/bin/env bash
# Lab tier 2: run the molecule scenario `default` (3 Debian 12 systemd containers, wireguard-go)
# with everything it needs around it, and leave nothing behind.
#
#   lab/podman/molecule.sh              build/reuse image + apt repo, create the network,
#                                       `molecule test -s default`, then remove the network
#   lab/podman/molecule.sh converge     any other molecule command (create, converge, verify,
#   lab/podman/molecule.sh login -h t2-h1   login ...): the network and containers are kept so
#                                       you can iterate; `destroy` removes them all
#   lab/podman/molecule.sh down         remove what a kept run left (containers, network)
#
# The network is podman `--internal` (no route off the machine): 198.51.100.0/24 and
# fd3a:6c1e:9b42:2::/64. Teardown runs on success, failure, Ctrl-C and SIGTERM: containers
# still attached to our network, the network, and nftables tables netavark created for it.
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
cmd=${1:-test}
shift || true

nft_tables() { nft list tables 2>/dev/null | sort; }

# Remove tables that appeared during our run and hold nothing but netavark's chains. Tables that
# existed before, or carry anything else, are left alone; so is everything while other
# containers run (their netavark rules may live in the same tables).
cleanup_nft() {
  local before=$1 family table
  if [[ -n $(podman ps -q) ]]; then
    [[ $(nft_tables) == "$before" ]] || log "other containers run: leaving nftables tables alone"
    return
  fi
  comm -13 <(echo "$before") <(nft_tables) | while read -r _ family table; do
    # iptables-nft (netavark's iptables driver) and netavark's own nftables driver use these
    [[ $table =~ ^(nat|filter|mangle|raw|netavark)$ ]] || continue
    if nft -j list table "$family" "$table" | python3 -c '
import json, sys
builtin = {"INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING"}
items = json.load(sys.stdin)["nftables"]
chains = [i["chain"]["name"] for i in items if "chain" in i]
rules = [i["rule"] for i in items if "rule" in i]
ours = all(c in builtin or c.startswith("NETAVARK") for c in chains)
ours = ours and all(r["chain"].startswith("NETAVARK") or "NETAVARK" in json.dumps(r["expr"]) for r in rules)
sys.exit(0 if ours else 1)'; then
      nft delete table "$family" "$table" && log "removed nftables table $family $table (netavark)"
    else
      log "left nftables table $family $table: it holds more than netavark's chains"
    fi
  done
}

network_down() {
  local c
  for c in $(podman ps -a --filter "network=$NETWORK_NAME" --format '{{.Names}}'); do
    podman rm -f -t 5 "$c" >/dev/null && log "removed container $c"
  done
  if podman network exists "$NETWORK_NAME"; then
    podman network rm "$NETWORK_NAME" >/dev/null && log "removed network $NETWORK_NAME"
  fi
}

network_up() {
  if podman network exists "$NETWORK_NAME"; then
    log "network $NETWORK_NAME exists: reusing it"
    return 0
  fi
  podman network create --internal --ipv6 \
    --subnet "$NETWORK_SUBNET4" --subnet "$NETWORK_SUBNET6" \
    --label org.meshlab.lab=tier2 "$NETWORK_NAME" >/dev/null || return 1
  log "created network $NETWORK_NAME ($NETWORK_SUBNET4, $NETWORK_SUBNET6, --internal)"
}

if [[ $cmd == down ]]; then
  network_down
  exit 0
fi

t0=$SECONDS
if [[ $cmd == destroy ]]; then
  image=none repo=/nonexistent   # destroy needs neither
else
  image=$("$LAB_PODMAN_DIR/build-image.sh") || exit 1
fi
t_image=$((SECONDS - t0))
[[ $cmd == destroy ]] || repo=$("$LAB_PODMAN_DIR/build-apt-repo.sh") || exit 1
t_repo=$((SECONDS - t0 - t_image))
export MESHLAB_T2_IMAGE=$image MESHLAB_T2_APT_REPO=$repo MESHLAB_T2_NETWORK=$NETWORK_NAME

if [[ $cmd != test && $cmd != destroy ]]; then
  network_up || exit 1
  exec molecule "$cmd" -s "$SCENARIO" "$@"
fi

tables_before=$(nft_tables)
child=
teardown() {
  network_down
  cleanup_nft "$tables_before"
}
on_signal() {
  log "interrupted: tearing down"
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

rc=0
if [[ $cmd == test ]]; then
  network_up || { teardown; exit 1; }
fi
t1=$SECONDS
setsid molecule "$cmd" -s "$SCENARIO" "$@" &
child=$!
wait "$child" || rc=$?
child=
t_molecule=$((SECONDS - t1))
teardown
log "image ${t_image} s, apt repo ${t_repo} s, molecule $cmd ${t_molecule} s: rc=$rc"
exit "$rc"
