#!/bin/bash
# usage: fetch-kernel.sh 6.1|6.12   -> prints KVER (e.g. 6.1.0-41-amd64); kernel unpacked in $LAB/k/KVER
# Downloads (never installs) the newest stock Debian *generic* kernel of that series with
# `apt-get download` and unpacks it with dpkg -x. Cached: a kernel already unpacked is not fetched again.
# Without apt lists (no `apt-get update`) it falls back to the newest cached kernel of the series.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin   # depmod, modprobe for non-root users
SERIES=${1:?usage: fetch-kernel.sh 6.1|6.12}
HERE=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-$(cd "$HERE/../.." && pwd)/.kernel-lab}
case $SERIES in
  6.1)  pattern='^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$';  glob='6.1.0-*-amd64' ;;
  6.12) pattern='^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$'; glob='6.12.*+deb12-amd64' ;;
  *) echo "fetch-kernel.sh: unknown series '$SERIES' (6.1 or 6.12)" >&2; exit 2 ;;
esac
mkdir -p "$LAB/debs" "$LAB/k"
pkg=$(apt-cache search --names-only "$pattern" 2>/dev/null | awk '{print $1}' | sort -V | tail -n 1)
if [ -z "$pkg" ]; then
  cached=$(cd "$LAB/k" && ls -d $glob 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$cached" ] && [ -f "$LAB/k/$cached/boot/vmlinuz-$cached" ] || {
    echo "fetch-kernel.sh: no package matches $pattern: run 'apt-get update' (test/kernel-lab/setup.sh)" >&2; exit 1; }
  echo "fetch-kernel.sh: apt lists have no $SERIES kernel, using cached $cached" >&2
  echo "$cached"; exit 0
fi
KVER=${pkg#linux-image-}; KVER=${KVER%-unsigned}
# One fetch at a time per $LAB: other test runs in the same checkout share the cache.
exec 9> "$LAB/.fetch.lock"
flock 9
if [ ! -f "$LAB/k/$KVER/boot/vmlinuz-$KVER" ]; then
  # as root, apt would warn that its sandbox user cannot write here
  sandbox=(); [ "$(id -u)" = 0 ] && sandbox=(-o APT::Sandbox::User=root)
  (cd "$LAB/debs" && apt-get download -q "${sandbox[@]}" "$pkg" >&2)
  tmp=$(mktemp -d "$LAB/k/.unpack.XXXXXX")
  dpkg -x "$LAB"/debs/"$pkg"_*.deb "$tmp"
  depmod -b "$tmp" "$KVER" 2>/dev/null || true     # modules.dep, for modprobe --show-depends
  rm -rf "${LAB:?}/k/$KVER"; mv "$tmp" "$LAB/k/$KVER"
  rm -f "$LAB"/debs/"$pkg"_*.deb                    # the unpacked tree is the cache
fi
echo "$KVER"
