# shellcheck shell=bash
# Shared settings for the tier 2 lab scripts (sourced, not run).
#
# Everything the lab builds is keyed by a hash of what it is built from, so a second run on the
# same machine reuses it: the image by build-image.sh + the Debian sources, the apt repository by
# build-apt-repo.sh (which holds the package list) + the image tag + the Debian sources.

LAB_PODMAN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$LAB_PODMAN_DIR/../.." && pwd)
LAB_CACHE=${MESHLAB_LAB_CACHE:-$REPO_ROOT/lab/cache}
export CONTAINERS_CONF=$LAB_PODMAN_DIR/containers.conf

# The Debian release a build script makes (MESHLAB_DEBIAN_SUITE): one image and one apt
# repository per release. A run mixes them (T2_SUITES): host I takes T2_SUITES[I-1] (the mesh
# h1..h3 mixes both releases; h4, Prometheus, is not a mesh member).
SUITE=${MESHLAB_DEBIAN_SUITE:-bookworm}
T2_SUITES=(bookworm trixie bookworm bookworm)
debian_version() {  # codename -> major version
  case $1 in
    bookworm) echo 12 ;;
    trixie) echo 13 ;;
    *) echo "lib.sh: unknown Debian suite '$1' (bookworm or trixie)" >&2; return 1 ;;
  esac
}
IMAGE_NAME=localhost/meshlab-debian$(debian_version "$SUITE") || exit 1
# The repository as containers see it (read-only bind mount).
APT_REPO_MOUNT=/srv/meshlab-apt

# Tier 2 runs (molecule.sh). Each run has an id (MESHLAB_T2_RUN, [a-z0-9]{1,12}) and owns, by
# that id, everything it creates on the machine: containers t2-<run>-h1..4, the --internal
# network meshlab-t2-<run> (no route off the machine, no DNS), and one slot of the lab's
# underlay space: slot K (0-15) is 198.51.100.(16K)/28 and fd3a:6c1e:9b42:2<KK>::/64 (KK = K in
# two hex digits), host I at .(16K+10+I) and ::(10+I). Two runs at once never share a name or
# a subnet: podman refuses a subnet another network (or a route of the machine) already uses,
# and molecule.sh then tries the next slot. The slot is kept as a label of the network.
T2_PREFIX4=198.51.100
T2_PREFIX6=fd3a:6c1e:9b42
T2_SLOTS=16
T2_HOSTS=4  # h1-h3 form the mesh, h4 runs Prometheus (molecule/default)
T2_LABEL=org.meshlab.lab=tier2

t2_new_run_id() { od -An -N4 -tx1 /dev/urandom | tr -d ' \n'; }
t2_valid_run_id() { [[ $1 =~ ^[a-z0-9]{1,12}$ ]]; }
t2_network() { echo "meshlab-t2-$1"; }
t2_container() { echo "t2-$1-h$2"; }
t2_subnet4() { echo "$T2_PREFIX4.$((16 * $1))/28"; }
t2_subnet6() { printf '%s:2%02x::/64\n' "$T2_PREFIX6" "$1"; }
t2_ipv4() { echo "$T2_PREFIX4.$((16 * $1 + 10 + $2))"; }    # slot, host index
t2_ipv6() { printf '%s:2%02x::%d\n' "$T2_PREFIX6" "$1" "$((10 + $2))"; }
# Two site LANs per run (a behind host 1, b behind host 2): --internal networks
# meshlab-t2-<run>-lana/-lanb in slot K: 203.0.113.(16K)/29 and .(16K+8)/29,
# fd3a:6c1e:9b42:4<KK>a::/64 and ...b::/64; .1/::1 is podman's bridge on the machine, .2/::2 the
# gateway container, .3/::3 a LAN host container t2-<run>-lana/-lanb (no systemd, sleep).
T2_LANS=(a b)
t2_lan_network() { echo "meshlab-t2-$1-lan$2"; }
t2_lan_host() { echo "t2-$1-lan$2"; }
t2_lan_offset() { [[ $1 == a ]] && echo 0 || echo 8; }
t2_lan_subnet4() { echo "203.0.113.$((16 * $1 + $(t2_lan_offset "$2")))/29"; }
t2_lan_subnet6() { printf '%s:4%02x%s::/64\n' "$T2_PREFIX6" "$1" "$2"; }
t2_lan_ipv4() { echo "203.0.113.$((16 * $1 + $(t2_lan_offset "$2") + $3))"; }   # slot, lan, host
t2_lan_ipv6() { printf '%s:4%02x%s::%d\n' "$T2_PREFIX6" "$1" "$2" "$3"; }

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Debian sources for $SUITE* as a deb822 file, from the machine's apt configuration.
debian_sources() { python3 "$LAB_PODMAN_DIR/debian_sources.py" sources "$SUITE"; }
# The first mirror serving $SUITE itself (debootstrap's MIRROR argument).
debian_mirror() {
  if [[ -n ${MESHLAB_DEBIAN_MIRROR:-} ]]; then echo "$MESHLAB_DEBIAN_MIRROR"; return; fi
  python3 "$LAB_PODMAN_DIR/debian_sources.py" mirror "$SUITE"
}

image_tag() {
  { cat "$LAB_PODMAN_DIR/build-image.sh"; echo "$SUITE"; debian_sources; debian_mirror; } \
    | sha256sum | cut -c1-12
}
image_ref() { echo "$IMAGE_NAME:$(image_tag)"; }

apt_repo_key() {
  { cat "$LAB_PODMAN_DIR/build-apt-repo.sh"; image_tag; debian_sources; } \
    | sha256sum | cut -c1-12
}
# apt-repos/<suite>-<key> (not apt-repo/, whose older build scripts remove every repository
# but their own at once, whichever clone or release it serves)
apt_repo_dir() { echo "$LAB_CACHE/apt-repos/$SUITE-$(apt_repo_key)"; }
