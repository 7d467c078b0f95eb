#!/usr/bin/env bash
# `make demo`: three sites in network namespaces on this machine (a gateway per site with a LAN
# host behind it), built by site.yml from examples/site-to-site, proved by a ping from the LAN of
# site a to the LAN of site c, then the health matrix. The lab stays up for you to look around;
# `make lab-down LAB=demo` removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export ANSIBLE_COLLECTIONS_PATH="$PWD/.build/collections" ANSIBLE_CONFIG="$PWD/ansible.cfg"
lab() { "$BIN/python" lab/nslab.py "$@"; }

if [[ -d .lab/demo ]]; then
  echo "--- removing the previous demo lab"
  lab down --name demo
fi
echo "--- 3 sites in network namespaces: gateways h1..h3, LAN hosts h1-lan..h3-lan"
lab up 3 --name demo --sites
# The lab inventory comes first: the registry of public keys is kept beside it (.lab/demo/). The
# demo's private controller state (the preshared-key secret, health reports) goes with the lab too,
# instead of ~/.local/state: `make lab-down LAB=demo` removes everything.
export XDG_STATE_HOME="$PWD/.lab/demo/state"
# tests/lab/inventory/lab-vars.yml: namespace hosts share the machine's packages and have no systemd.
inventories=(-i .lab/demo/inventory.yml -i examples/site-to-site/inventory.yml -i tests/lab/inventory/lab-vars.yml)

echo "--- site.yml: keys on each gateway, registry, site-to-site mesh, firewall"
"$BIN/ansible-playbook" "${inventories[@]}" site.yml

lan_c=$(lab exec --name demo h3-lan -- ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -n1)
echo "--- a host in site a's LAN pings a host in site c's LAN ($lan_c) through the tunnel"
lab exec --name demo h1-lan -- ping -c 3 -W 2 "$lan_c"

echo "--- is the mesh healthy?"
"$BIN/ansible-playbook" "${inventories[@]}" playbooks/health.yml
echo
echo "The demo mesh is still running. Look around:"
echo "  .venv/bin/python lab/nslab.py exec --name demo h1 -- wg show"
echo "  make health        (the matrix again; reports in $(echo .lab/demo/state/meshlab-wireguard/demo-*/health)/)"
echo "  make lab-down LAB=demo"
