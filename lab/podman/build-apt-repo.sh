#!/usr/bin/env bash
# Build the local apt repository the tier 2 containers install the role's packages from.
#
# The closure is computed by apt itself against the base image's own dpkg status: "what would
# `apt-get install --no-install-recommends <role packages>` fetch on this image", using the
# machine's Debian sources for the image's release (e.g. trixie, -updates, -security) in a
# private apt state directory, so the machine's apt lists and locks are never touched. Those
# .debs are fetched with
# `apt-get download`, indexed with dpkg-scanpackages, and kept under
# lab/cache/apt-repos/<suite>-<hash>/ (hash of this script, the image tag and the sources): a second run
# reuses it. Containers mount it read-only at /srv/meshlab-apt, their only apt source.
#
# Usage: lab/podman/build-apt-repo.sh [--force]   prints the repository directory on stdout
# Needs: the image from build-image.sh, apt, dpkg-dev (dpkg-scanpackages), podman.
set -euo pipefail
# shellcheck source=lab/podman/lib.sh
source "$(dirname "$0")/lib.sh"

# What the role installs. Recommends are left out (wireguard-tools recommends a kernel module
# package or wireguard-dkms); the role installs with install_recommends: false.
ROLE_PACKAGES=(wireguard-tools wireguard-go python3-nacl python3-pyroute2 nftables)
# The other firewall backends the tier 2 scenario switches through (wireguard_firewall).
ROLE_PACKAGES+=(firewalld python3-firewall ufw iptables)
# What the lab itself installs around the role (molecule/default/prepare.yml): a Prometheus
# server (with promtool) and node_exporter for the textfile collector.
LAB_PACKAGES=(prometheus prometheus-node-exporter)

force=0
[[ ${1:-} == --force ]] && force=1

image=$(image_ref)
repo=$(apt_repo_dir)
# One build at a time in this cache (two runs of one clone may start together).
mkdir -p "$LAB_CACHE/apt-repos"
exec 9>"$LAB_CACHE/apt-repos/.lock"
flock 9
if ((!force)) && [[ -f $repo/.complete ]]; then
  log "reusing cached apt repository $repo"
  echo "$repo"
  exit 0
fi
podman image exists "$image" || die "image $image is missing: run lab/podman/build-image.sh first"
command -v dpkg-scanpackages >/dev/null || die "dpkg-scanpackages is missing (apt-get install dpkg-dev)"

start=$SECONDS
work=$(mktemp -d "$LAB_CACHE/apt-repo-build.XXXXXX")
cid=
cleanup() {
  [[ -n $cid ]] && podman rm -f "$cid" >/dev/null 2>&1
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# The image's dpkg status: what is installed there. The container is created, never started.
cid=$(podman create --network=none "$image" /bin/true)
podman cp "$cid:/var/lib/dpkg/status" "$work/status"
podman rm -f "$cid" >/dev/null
cid=

mkdir -p "$work/sources.list.d" "$work/none" "$work/lists/partial" "$work/cache/archives/partial" "$work/repo"
debian_sources >"$work/sources.list.d/debian.sources"
: >"$work/sources.list"
arch=$(dpkg --print-architecture)
APT=(apt-get -q
  -o "Dir::Etc::SourceList=$work/sources.list"
  -o "Dir::Etc::SourceParts=$work/sources.list.d"
  -o "Dir::Etc::Preferences=/dev/null" -o "Dir::Etc::PreferencesParts=$work/none"
  -o "Dir::State::Lists=$work/lists"
  -o "Dir::State::status=$work/status"
  -o "Dir::Cache=$work/cache"
  -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
  -o "APT::Architecture=$arch" -o "APT::Architectures::=$arch"
  -o "Debug::NoLocking=1")

log "apt-get update (private state in $work)"
"${APT[@]}" update >"$work/update.log" 2>&1 || { cat "$work/update.log" >&2; die "apt-get update failed"; }

# 'URI' name_version_arch.deb size hash  — one line per package apt would fetch.
"${APT[@]}" install --print-uris -qq --no-install-recommends "${ROLE_PACKAGES[@]}" "${LAB_PACKAGES[@]}" \
  >"$work/uris" || die "apt cannot resolve ${ROLE_PACKAGES[*]} ${LAB_PACKAGES[*]} on $image"
mapfile -t debs < <(awk '/^\x27/ {print $2}' "$work/uris")
((${#debs[@]})) || die "apt would fetch nothing: is everything already in the image?"

specs=()
for deb in "${debs[@]}"; do
  IFS=_ read -r name version _ <<<"${deb%.deb}"
  version=${version//%/\\x}   # the file name is URL-encoded (epoch colon: %3a)
  specs+=("$name=$(printf '%b' "$version")")
done
for p in "${ROLE_PACKAGES[@]}"; do
  printf '%s\n' "${specs[@]}" | grep -q "^$p=" \
    || die "$p is not fetched: the image already has it, but the role must install it for real"
done

log "downloading ${#specs[@]} packages: ${specs[*]}"
(cd "$work/repo" && "${APT[@]}" download "${specs[@]}" >"$work/download.log" 2>&1) \
  || { cat "$work/download.log" >&2; die "apt-get download failed"; }

(cd "$work/repo" && dpkg-scanpackages --multiversion . /dev/null 2>/dev/null) >"$work/repo/Packages"
gzip -9n <"$work/repo/Packages" >"$work/repo/Packages.gz"
# A Release file with checksums (unsigned: the image's source says [trusted=yes]) keeps apt from
# probing for InRelease/Release/compressions it would otherwise report as errors.
{
  echo "Origin: meshlab-lab"
  echo "Label: meshlab-lab"
  echo "Architectures: $arch all"
  echo "Date: $(LC_ALL=C date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" '+%a, %d %b %Y %H:%M:%S UTC')"
  echo "SHA256:"
  for f in Packages Packages.gz; do
    printf ' %s %s %s\n' "$(sha256sum <"$work/repo/$f" | cut -d' ' -f1)" "$(stat -c %s "$work/repo/$f")" "$f"
  done
} >"$work/repo/Release"
printf '%s\n' "${specs[@]}" >"$work/repo/packages.txt"
chmod 0755 "$work/repo"
chmod 0644 "$work/repo"/*
touch "$work/repo/.complete"

rm -rf --one-file-system "$repo"
mv "$work/repo" "$repo"
# Older repositories are garbage once a day old: lab/cache is shared by every clone on the machine
# (and there is one repository per Debian release), so a younger one may be mounted in a run.
for old in "$LAB_CACHE/apt-repos/$SUITE"-*/; do
  [[ ${old%/} == "$repo" ]] && continue
  [[ -n $(find "${old%/}" -maxdepth 0 -mmin +1440) ]] || continue
  rm -rf --one-file-system "${old%/}"
done

log "built $repo in $((SECONDS - start)) s: ${#specs[@]} packages, $(du -sh "$repo" | cut -f1)"
echo "$repo"
