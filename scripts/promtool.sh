#!/usr/bin/env bash
# promtool from Debian's `prometheus` package, without installing the package (its postinst would
# start a Prometheus server on this machine): the .deb is downloaded with `apt-get download` and
# only usr/bin/promtool is kept, under <lab cache>/tools/promtool-<version>.
#
#   scripts/promtool.sh --path          print the binary's path (fetch it first if needed)
#   scripts/promtool.sh ARGS...         run promtool ARGS...
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${MESHLAB_LAB_CACHE:-$PWD/lab/cache}/tools
mkdir -p "$cache"
exec 9>"$cache/.promtool.lock"
flock 9
bin=$(ls -1d "$cache"/promtool-*/promtool 2>/dev/null | sort -V | tail -n1 || true)
if [[ -z $bin ]]; then
  work=$(mktemp -d "$cache/promtool-fetch.XXXXXX")
  trap 'rm -rf --one-file-system "$work"' EXIT
  fetch() { (cd "$work" && apt-get download -q prometheus >/dev/null 2>"$work/apt.log"); }
  if ! fetch; then
    # empty apt lists on a fresh machine
    [[ $(id -u) -eq 0 ]] && apt-get update -qq >/dev/null 2>&1
    fetch || { cat "$work/apt.log" >&2; echo "promtool.sh: cannot download Debian's prometheus package" >&2; exit 1; }
  fi
  deb=$(ls "$work"/prometheus_*.deb)
  version=$(dpkg-deb -f "$deb" Version)
  dpkg-deb -x "$deb" "$work/root"
  dest=$cache/promtool-${version//[^A-Za-z0-9.+~-]/_}
  mkdir -p "$dest"
  install -m 0755 "$work/root/usr/bin/promtool" "$dest/promtool"
  bin=$dest/promtool
  echo "promtool.sh: promtool $version in $dest" >&2
fi
flock -u 9
if [[ ${1:-} == --path ]]; then
  echo "$bin"
  exit 0
fi
exec "$bin" "$@"
