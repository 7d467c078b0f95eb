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

IMAGE_NAME=localhost/meshlab-debian12
SUITE=bookworm
# The repository as containers see it (read-only bind mount).
APT_REPO_MOUNT=/srv/meshlab-apt

# The tier 2 network (created by molecule.sh, --internal: no route off the machine).
NETWORK_NAME=${MESHLAB_NETWORK:-meshlab-t2}
NETWORK_SUBNET4=198.51.100.0/24
NETWORK_SUBNET6=fd3a:6c1e:9b42:2::/64

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
apt_repo_dir() { echo "$LAB_CACHE/apt-repo/$(apt_repo_key)"; }
