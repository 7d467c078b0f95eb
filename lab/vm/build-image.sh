#!/usr/bin/env bash
# Build the lab tier 3 VM image: Debian 12 or 13 with the stock kernel (its wireguard module is
# what the netlink engine drives), systemd, sshd, nftables and the Python packages our modules need.
#
#   lab/vm/build-image.sh            build (or reuse) the image; prints the image directory
#   lab/vm/build-image.sh --path     print the image directory only, build nothing
#
# Output, cached under lab/cache/vm/<SUITE>-<first 16 hex of sha256(this script + SUITE)>/
# (lab/cache is gitignored; editing this script makes new images, an unchanged script reuses the
# cached ones):
#   disk.qcow2  ext4 root filesystem (no partition table: root=/dev/vda)
#   vmlinuz, initrd.img   for QEMU direct kernel boot
#   id_ed25519(.pub)      the lab's SSH key pair (lab/cache/vm/lab_id_ed25519, made once and shared
#                         by every image, so a lab that mixes releases logs in with one key); the
#                         public half is in root's authorized_keys. Never committed.
#   build.log, image.env  build output and facts (suite, kernel version, sizes, build seconds)
#
# The image carries systemd-networkd configs that match NICs by MAC (see vmlab.py, which owns the
# numbering): management NIC 52:54:00:a0:00:II -> 10.0.2.15/24 (QEMU user networking), LAN NIC
# 52:54:00:b0:00:II -> 198.51.100.(20+II)/24 and fd3a:6c1e:9b42:3::(20+II)/64, II = 01..MAX_VMS (hex);
# and a dummy link lan0, a site LAN behind each VM (by host name vmI, I <= 8):
# 203.0.113.(32(I-1)+1)/27 and fd3a:6c1e:9b42:a<I>::1/64, as lab tier 1's site gateways.
# Nothing in the image talks to a network: the mirror is used only while building.
#
# Env: SUITE (bookworm | trixie, default bookworm), MIRROR (default: the machine's Debian mirror
# for SUITE, lab/podman/debian_sources.py: a suite the machine does not list comes from the
# mirror of its own release).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE_ROOT=$REPO/lab/cache/vm
SUITE=${SUITE:-bookworm}
case $SUITE in
  bookworm | trixie) ;;
  *) echo "build-image: SUITE=$SUITE: bookworm or trixie" >&2; exit 2 ;;
esac
MAX_VMS=16
HASH=$({ cat "$HERE/build-image.sh"; echo "$SUITE"; } | sha256sum | cut -c1-16)
OUT=$CACHE_ROOT/$SUITE-$HASH

if [[ ${1:-} == --path ]]; then
  echo "$OUT"
  exit 0
fi

have_image() {
  [[ -s $OUT/disk.qcow2 && -s $OUT/vmlinuz && -s $OUT/initrd.img && -s $OUT/id_ed25519 ]]
}

if have_image; then
  echo "build-image: cached $OUT" >&2
  echo "$OUT"
  exit 0
fi

[[ $(id -u) -eq 0 ]] || { echo "build-image: needs root (debootstrap, chroot)" >&2; exit 1; }
for tool in debootstrap mkfs.ext4 qemu-img ssh-keygen chroot; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool missing (scripts/setup.sh installs it)" >&2; exit 1; }
done

mkdir -p "$CACHE_ROOT"
# One build at a time (two test runs may start together); the second one then finds the cache.
exec 9>"$CACHE_ROOT/.build.lock"
flock 9
if have_image; then
  echo "build-image: cached $OUT (built meanwhile)" >&2
  echo "$OUT"
  exit 0
fi

# The Debian mirror this machine's apt uses for SUITE (never a guess at another host).
find_mirror() {
  python3 "$REPO/lab/podman/debian_sources.py" mirror "$SUITE"
}
MIRROR=${MIRROR:-$(find_mirror)}

WORK=$CACHE_ROOT/.build.$$
ROOTFS=$WORK/rootfs
LOG=$WORK/build.log
cleanup() {
  local rc=$?
  for m in "$ROOTFS/proc" "$ROOTFS/sys" "$ROOTFS/dev/pts"; do
    mountpoint -q "$m" 2>/dev/null && umount -l "$m"
  done
  if ((rc)); then
    cp "$LOG" "$CACHE_ROOT/last-failed-build.log" 2>/dev/null || true
    if [[ -f $ROOTFS/debootstrap/debootstrap.log ]]; then
      cat "$ROOTFS/debootstrap/debootstrap.log" >>"$CACHE_ROOT/last-failed-build.log"
    fi
    echo "build-image: failed (rc=$rc); log: $CACHE_ROOT/last-failed-build.log" >&2
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK"
start=$(date +%s)
step() { echo "build-image: $*" >&2; echo "== $* ($(($(date +%s) - start)) s)" >>"$LOG"; }

PACKAGES=linux-image-amd64,systemd-sysv,udev,kmod,openssh-server,python3,python3-pyroute2,python3-nacl
PACKAGES+=,python3-cffi-backend,iproute2,wireguard-tools,iputils-ping,initramfs-tools,zstd,nftables
# python3-cffi-backend: debootstrap does not resolve the virtual python3-cffi-backend-api-* that
# python3-nacl depends on; naming the real package avoids an unconfigured python3-nacl.

step "debootstrap $SUITE from $MIRROR (minbase)"
mkdir -p "$CACHE_ROOT/debs"
# Docs, man pages and locales never land (dpkg path excludes), later installs included.
mkdir -p "$ROOTFS/etc/dpkg/dpkg.cfg.d"
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/01-vmlab-nodoc" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
EOF
debootstrap --variant=minbase --include="$PACKAGES" --cache-dir="$CACHE_ROOT/debs" \
  "$SUITE" "$ROOTFS" "$MIRROR" >>"$LOG" 2>&1

step "configure"
in_root() { chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C "$@"; }
mount -t proc proc "$ROOTFS/proc"

echo vmlab >"$ROOTFS/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$ROOTFS/etc/hosts"
printf '/dev/vda / ext4 rw,noatime,errors=remount-ro 0 1\n' >"$ROOTFS/etc/fstab"
# Each VM gets systemd.machine_id= and systemd.hostname= on its kernel command line.
printf 'ffffffffffffffffffffffffffffffff\n' >"$ROOTFS/etc/machine-id"
rm -f "$ROOTFS/var/lib/dbus/machine-id"

# networking: systemd-networkd only, by MAC
rm -f "$ROOTFS"/etc/systemd/network/*.network
for i in $(seq 1 "$MAX_VMS"); do
  ii=$(printf '%02x' "$i")
  cat >"$ROOTFS/etc/systemd/network/10-mgmt-$ii.network" <<EOF
[Match]
MACAddress=52:54:00:a0:00:$ii

[Link]
RequiredForOnline=no

[Network]
Address=10.0.2.15/24
LinkLocalAddressing=no
IPv6AcceptRA=no
EOF
  cat >"$ROOTFS/etc/systemd/network/20-lan-$ii.network" <<EOF
[Match]
MACAddress=52:54:00:b0:00:$ii

[Network]
LinkLocalAddressing=ipv6
IPv6AcceptRA=no

[Address]
Address=198.51.100.$((20 + i))/24

[Address]
Address=fd3a:6c1e:9b42:3::$((20 + i))/64
DuplicateAddressDetection=none
EOF
done
# lan0: a dummy link standing for the site LAN behind vmI (routes to it cross the tunnel)
cat >"$ROOTFS/etc/systemd/network/30-lan0.netdev" <<'EOF'
[NetDev]
Name=lan0
Kind=dummy
EOF
for i in $(seq 1 8); do
  cat >"$ROOTFS/etc/systemd/network/30-lan0-vm$i.network" <<EOF
[Match]
Name=lan0
Host=vm$i

[Link]
RequiredForOnline=no

[Network]
LinkLocalAddressing=no
IPv6AcceptRA=no
ConfigureWithoutCarrier=yes

[Address]
Address=203.0.113.$((32 * (i - 1) + 1))/27

[Address]
Address=fd3a:6c1e:9b42:a$i::1/64
DuplicateAddressDetection=none
EOF
done
in_root systemctl enable systemd-networkd.service >>"$LOG" 2>&1
# Nothing waits for "online", and no unit the lab does not use starts at boot.
# (No login prompts either: root has no password; use `vmlab.py ssh`, or `vmlab.py console`.)
in_root systemctl mask systemd-networkd-wait-online.service getty@tty1.service \
  serial-getty@ttyS0.service getty-static.service \
  e2scrub_reap.service e2scrub_all.timer fstrim.timer apt-daily.timer apt-daily-upgrade.timer \
  man-db.timer systemd-timesyncd.service >>"$LOG" 2>&1 || true
# journal in memory only: VMs are thrown away, and disk writes cost emulated I/O
mkdir -p "$ROOTFS/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n' >"$ROOTFS/etc/systemd/journald.conf.d/vmlab.conf"

# sshd: key login for root only, no DNS lookups, quick start
mkdir -p "$ROOTFS/root/.ssh"
chmod 700 "$ROOTFS/root/.ssh"
# One key pair for every image (made by the first build): a lab mixing releases uses one key.
if [[ ! -s $CACHE_ROOT/lab_id_ed25519 ]]; then
  ssh-keygen -q -t ed25519 -N '' -C meshlab-vmlab -f "$CACHE_ROOT/lab_id_ed25519.tmp$$"
  mv "$CACHE_ROOT/lab_id_ed25519.tmp$$.pub" "$CACHE_ROOT/lab_id_ed25519.pub"
  mv "$CACHE_ROOT/lab_id_ed25519.tmp$$" "$CACHE_ROOT/lab_id_ed25519"
fi
install -m 600 "$CACHE_ROOT/lab_id_ed25519" "$WORK/id_ed25519"
install -m 644 "$CACHE_ROOT/lab_id_ed25519.pub" "$WORK/id_ed25519.pub"
install -m 600 "$WORK/id_ed25519.pub" "$ROOTFS/root/.ssh/authorized_keys"
cat >"$ROOTFS/etc/ssh/sshd_config.d/vmlab.conf" <<'EOF'
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
GSSAPIAuthentication no
MaxStartups 100:30:200
MaxSessions 50
EOF
in_root passwd -l root >>"$LOG" 2>&1

# the kernel module the lab is about must load at boot without a probe
echo wireguard >"$ROOTFS/etc/modules-load.d/wireguard.conf"

step "initramfs"
# A small initramfs boots faster under emulation: only what mounts /dev/vda (virtio, ext4).
printf 'MODULES=list\nCOMPRESS=zstd\n' >"$ROOTFS/etc/initramfs-tools/conf.d/vmlab.conf"
printf '%s\n' virtio_pci virtio_blk ext4 crc32c_generic >"$ROOTFS/usr/share/initramfs-tools/modules.d/vmlab"
in_root update-initramfs -u -k all >>"$LOG" 2>&1

step "trim"
umount "$ROOTFS/proc"
rm -rf "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
  "$ROOTFS"/usr/share/lintian "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
  "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/*.log "$ROOTFS"/var/cache/debconf/*-old
find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
# kernel modules a headless virtio VM never loads (keep drivers/net, crypto, lib, fs, virtio)
KMOD=$(echo "$ROOTFS"/lib/modules/*)
for d in drivers/gpu drivers/media drivers/infiniband drivers/net/wireless drivers/net/ethernet \
  drivers/staging drivers/iio drivers/hid drivers/input drivers/usb drivers/bluetooth drivers/scsi \
  drivers/isdn drivers/mtd drivers/platform drivers/hwmon drivers/edac drivers/thunderbolt \
  sound net/bluetooth net/wireless net/mac80211 net/mac802154 net/ieee802154; do
  rm -rf "${KMOD:?}/kernel/$d"
done
in_root depmod -a "$(basename "$KMOD")" >>"$LOG" 2>&1
cp "$ROOTFS"/boot/vmlinuz-* "$WORK/vmlinuz"
cp "$ROOTFS"/boot/initrd.img-* "$WORK/initrd.img"
KVER=$(basename "$KMOD")

step "mkfs.ext4 -d + qcow2"
used_mb=$(du -sm "$ROOTFS" | cut -f1)
size_mb=$((used_mb + used_mb / 4 + 256))
mkfs.ext4 -q -F -L vmroot -O ^has_journal -d "$ROOTFS" "$WORK/disk.raw" "${size_mb}M" >>"$LOG" 2>&1
qemu-img convert -f raw -O qcow2 "$WORK/disk.raw" "$WORK/disk.qcow2"
rm -f "$WORK/disk.raw"
rm -rf "$ROOTFS"

secs=$(($(date +%s) - start))
cat >"$WORK/image.env" <<EOF
HASH=$HASH
SUITE=$SUITE
MIRROR=$MIRROR
KERNEL=$KVER
ROOTFS_MB=$used_mb
DISK_MB=$size_mb
QCOW2_BYTES=$(stat -c %s "$WORK/disk.qcow2")
BUILD_SECONDS=$secs
EOF
step "done in ${secs}s: rootfs ${used_mb} MiB, kernel $KVER"
mv "$LOG" "$WORK/build.log.tmp"
mkdir -p "$OUT.new"
mv "$WORK/build.log.tmp" "$OUT.new/build.log"
mv "$WORK"/disk.qcow2 "$WORK"/vmlinuz "$WORK"/initrd.img "$WORK"/id_ed25519 "$WORK"/id_ed25519.pub \
  "$WORK"/image.env "$OUT.new/"
rm -rf "$OUT"
mv "$OUT.new" "$OUT"
# Images of earlier versions of this script (for this SUITE) go once they are a day old, unless a
# lab of this clone still boots from one (its overlays name the image as their backing file):
# lab/cache is shared by every clone on the machine, and another one may be using its own.
for old in "$CACHE_ROOT/$SUITE"-*; do
  h=$(basename "$old")
  [[ -d $old && $h =~ ^$SUITE-[0-9a-f]{16}$ && $old != "$OUT" ]] || continue
  [[ -n $(find "$old" -maxdepth 0 -mmin +1440) ]] || continue
  if grep -qsF "\"$old" "$REPO"/.lab/vm.d/*/state.json; then
    echo "build-image: keeping $old (a lab in .lab/vm.d uses it)" >&2
    continue
  fi
  echo "build-image: removing the older image $old" >&2
  rm -rf "$old"
done
echo "$OUT"
