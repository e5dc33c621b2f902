#!/usr/bin/env bash
# Debian packages the build and tests need beyond the machine's Node, Java and Maven: the kernel
# lab's (qemu, busybox, cpio, kmod... — test/kernel-lab/setup.sh, which boots real Debian kernels
# for the kprobe tests) and dwarves (pahole, for the BTF cross-check). Installs only what is
# missing, so a warm machine skips apt entirely.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if ! dpkg-query -W -f='${Status}' dwarves 2>/dev/null | grep -q "install ok installed"; then
  if [ "$(id -u)" -ne 0 ]; then echo "missing Debian package (install as root): dwarves" >&2; exit 1; fi
  echo "installing: dwarves"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends dwarves
fi
bash "$here/../test/kernel-lab/setup.sh"
