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
# fetch-kernel.sh picks kernels from the apt lists: they must know the Debian kernel packages.
has_kernels() { [ -n "$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' 2>/dev/null)" ]; }
if [ ${#missing[@]} -eq 0 ] && has_kernels; then echo "kernel-lab: host packages and apt lists present"; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "kernel-lab: need root to install '${missing[*]}' / run apt-get update" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
if [ ${#missing[@]} -gt 0 ]; then
  echo "kernel-lab: installing ${missing[*]}"
  apt-get install -y -q "${missing[@]}"
fi
has_kernels || { echo "kernel-lab: apt sources have no linux-image-6.1.0-*-amd64-unsigned (Debian bookworm + bookworm-security needed)" >&2; exit 1; }
