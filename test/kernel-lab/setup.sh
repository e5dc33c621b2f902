#!/bin/bash
# Installs what the kernel lab needs on the host (Debian/Ubuntu, as root). Idempotent: does nothing
# when everything is present, so CI can call it on every run.
#   qemu-system-x86: TCG virtual machine   busybox-static: the guest's userland
#   cpio, gzip: initramfs   zstd, xz-utils: compressed kernel modules   kmod: depmod/modprobe   util-linux: flock
set -euo pipefail
pkgs=(qemu-system-x86 busybox-static cpio gzip zstd xz-utils kmod util-linux)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then echo "kernel-lab: host packages present"; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "kernel-lab: need root to install: ${missing[*]}" >&2; exit 1; }
echo "kernel-lab: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
