#!/usr/bin/env bash
# Build a tier 2 base image: Debian 12 (bookworm) or 13 (trixie, MESHLAB_DEBIAN_SUITE) with systemd,
# from debootstrap, imported into podman as localhost/meshlab-debian12:<hash> (or -debian13).
# <hash> covers this script, the suite and the Debian sources it builds from, so an unchanged
# script reuses the image already built (and says so).
#
# The image holds what Ansible and systemd need and none of the packages the role installs
# (wireguard-tools, wireguard-go, python3-nacl, python3-pyroute2, nftables): those are installed
# for real at converge time from the local repository build-apt-repo.sh makes, which the image's
# only apt source points at (`deb [trusted=yes] file:/srv/meshlab-apt ./`, mounted read-only).
#
# Usage: [MESHLAB_DEBIAN_SUITE=trixie] lab/podman/build-image.sh [--force]   prints the image reference
# Needs root, debootstrap and podman; the mirror is the machine's own (/etc/apt/sources.list.d/),
# or MESHLAB_DEBIAN_MIRROR.
set -euo pipefail
# shellcheck source=lab/podman/lib.sh
source "$(dirname "$0")/lib.sh"

IMAGE_PACKAGES=(python3 python3-apt systemd-sysv iproute2 iputils-ping procps)

force=0
[[ ${1:-} == --force ]] && force=1

ref=$(image_ref)
# Images are machine-wide: one build at a time (another clone's run may be building the same tag).
exec 9>/run/lock/meshlab-t2-image.lock
flock 9
if ((!force)) && podman image exists "$ref"; then
  log "reusing cached image $ref"
  echo "$ref"
  exit 0
fi

[[ $(id -u) -eq 0 ]] || die "run as root (debootstrap and rootful podman)"
command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
mirror=$(debian_mirror)

mkdir -p "$LAB_CACHE/debootstrap-debs"
work=$(mktemp -d "$LAB_CACHE/image-build.XXXXXX")
rootfs=$work/rootfs
cleanup() {
  # debootstrap mounts proc/sys inside the target; never rm -rf across a live mount.
  local m
  for m in $(findmnt -rn -o TARGET | grep -F "$rootfs" | sort -r); do umount -l "$m" || true; done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

start=$SECONDS
log "debootstrap $SUITE from $mirror (packages: ${IMAGE_PACKAGES[*]})"
include=$(IFS=,; echo "${IMAGE_PACKAGES[*]}")
debootstrap --variant=minbase --components=main --include="$include" \
  --cache-dir="$LAB_CACHE/debootstrap-debs" "$SUITE" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

# apt: the local repository is the only source; there is no network inside the lab anyway.
rm -f "$rootfs/etc/apt/sources.list" "$rootfs"/etc/apt/sources.list.d/*
echo "deb [trusted=yes] file:$APT_REPO_MOUNT ./" >"$rootfs/etc/apt/sources.list.d/meshlab-lab.list"
echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/90meshlab-lab"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb

# systemd in a container: a fresh machine-id per container, no hardware or login units to fail.
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id" "$rootfs/etc/hostname"
for unit in systemd-udevd.service systemd-udev-trigger.service systemd-udev-settle.service \
  getty@tty1.service serial-getty@.service console-getty.service \
  systemd-logind.service systemd-remount-fs.service systemd-firstboot.service; do
  ln -sfn /dev/null "$rootfs/etc/systemd/system/$unit"
done

# On this machine's hybrid cgroups, podman gives the container a cgroup v1 name=systemd tree
# with release_agent masked: systemd inside never hears that a unit's cgroup became empty. A
# oneshot unit whose leftover process exits by itself during stop (wg-quick down deletes the
# link, wireguard-go then exits) then waits out TimeoutStopSec (90 s) about one stop in three.
# Lab-only fix: signal the main process only, so stop does not wait on the cgroup.
mkdir -p "$rootfs/etc/systemd/system/wg-quick@.service.d"
cat >"$rootfs/etc/systemd/system/wg-quick@.service.d/lab-container.conf" <<'EOF'
# meshlab lab image only (lab/podman/build-image.sh): systemd in this container cannot see a
# cgroup become empty; wireguard-go exits by itself once `wg-quick down` deleted its link.
[Service]
KillMode=process
EOF

# Services that switch to a user of their own (User=) cannot install their seccomp filters in these
# containers (no CAP_SYS_ADMIN): polkitd, which firewalld asks before every D-Bus call, would fail
# with 217/USER and every firewall-cmd wait ~25 s per try. Lab-only: polkit without its
# seccomp-based and namespace sandboxing (real hosts keep it).
mkdir -p "$rootfs/etc/systemd/system/polkit.service.d"
cat >"$rootfs/etc/systemd/system/polkit.service.d/lab-container.conf" <<'EOF'
# meshlab lab image only (lab/podman/build-image.sh): no seccomp or namespaces for a User=
# service in this container.
[Service]
SystemCallFilter=
SystemCallArchitectures=
LockPersonality=no
MemoryDenyWriteExecute=no
RestrictRealtime=no
RestrictSUIDSGID=no
RestrictNamespaces=no
RestrictAddressFamilies=
ProtectKernelModules=no
ProtectKernelLogs=no
ProtectKernelTunables=no
ProtectClock=no
PrivateDevices=no
ProtectHostname=no
PrivateNetwork=no
EOF

# Trim what a test host never reads.
rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
  "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'en*' ! -name locale.alias \
  -exec rm -rf {} + 2>/dev/null || true

log "importing $ref"
tar --numeric-owner --xattrs --xattrs-include='*' -C "$rootfs" -c . \
  | podman import --quiet \
    --change 'CMD ["/sbin/init"]' \
    --change 'STOPSIGNAL SIGRTMIN+3' \
    --change "LABEL org.meshlab.lab=tier2" \
    - "$ref" >/dev/null

# Older builds of this image are garbage now. Ones still used by a container stay, and so do
# ones made in the last day: another clone with another build-image.sh may be about to use it.
podman images --format '{{.Repository}}:{{.Tag}}' "$IMAGE_NAME" | while read -r old; do
  [[ $old == "$ref" ]] && continue
  created=$(podman image inspect --format '{{.Created.Unix}}' "$old" 2>/dev/null) || continue
  ((created < $(date +%s) - 86400)) || continue
  podman rmi "$old" >/dev/null 2>&1 || true
done

log "built $ref in $((SECONDS - start)) s ($(podman image inspect --format '{{.Size}}' "$ref" | numfmt --to=iec))"
echo "$ref"
