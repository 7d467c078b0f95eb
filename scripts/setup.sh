#!/usr/bin/env bash
# Prepare a fresh Debian 12 machine for `make test` / `make demo`:
# the distro packages the lab needs (only when root and only what is missing)
# and a venv from the pinned requirements. Safe to run again: it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  wireguard-tools wireguard-go python3-nacl python3-pyroute2 python3-yaml
  iproute2 iputils-ping nftables util-linux procps
  podman runc uidmap debootstrap dpkg-dev
  qemu-system-x86 qemu-utils e2fsprogs openssh-client
  python3-venv redis-server
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
stamp=.venv/.requirements.sha
want=$(cat requirements.txt constraints.txt | sha256sum | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "setup: building .venv from requirements.txt + constraints.txt"
  "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements.txt -c constraints.txt
  echo "$want" > "$stamp"
fi

# Ansible finds the collection through this link: repo root = collection root.
mkdir -p .build/collections/ansible_collections/meshlab
ln -sfn "$PWD" .build/collections/ansible_collections/meshlab/wireguard

# promtool (Prometheus's rule checker) from Debian's prometheus package, unpacked, not installed.
bash scripts/promtool.sh --path >/dev/null
