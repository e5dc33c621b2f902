#!/usr/bin/env bash
# Debian packages the build and tests need beyond the machine's Node, Java and Maven:
# qemu + busybox + cpio boot real Debian kernels for the kprobe tests, dwarves gives pahole for
# the BTF cross-check. Installs only what is missing, so a warm machine skips apt entirely.
set -euo pipefail
need=()
for pkg in qemu-system-x86 busybox-static cpio zstd dwarves; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -eq 0 ]; then echo "system packages present"; exit 0; fi
if [ "$(id -u)" -ne 0 ]; then echo "missing Debian packages (install as root): ${need[*]}" >&2; exit 1; fi
echo "installing: ${need[*]}"
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
