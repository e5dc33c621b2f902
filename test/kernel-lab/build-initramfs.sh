#!/bin/bash
# usage: build-initramfs.sh KVER   -> prints $LAB/initramfs-KVER.cpio.gz
# A busybox-static initramfs whose /init is guest/init.sh, plus the 9p-over-virtio modules of KVER
# and overlayfs (Debian generic kernels build them as modules) listed in load order in /modules/order,
# and virtio_net with its dependencies in /modules/net.order (loaded only by a boot with a network).
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin   # depmod, modprobe for non-root users
KVER=${1:?usage: build-initramfs.sh KVER}
HERE=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-$(cd "$HERE/../.." && pwd)/.kernel-lab}
KROOT=$LAB/k/$KVER
OUT=$LAB/initramfs-$KVER.cpio.gz
[ -f "$KROOT/boot/vmlinuz-$KVER" ] || { echo "build-initramfs.sh: no kernel $KVER in $LAB/k (run fetch-kernel.sh)" >&2; exit 1; }
for t in cpio gzip modprobe; do
  command -v $t >/dev/null || { echo "build-initramfs.sh: '$t' missing: run test/kernel-lab/setup.sh" >&2; exit 1; }
done
# busybox must be static: the initramfs has no libc.
file_out=$(LC_ALL=C ldd /bin/busybox 2>&1 || true)
[ -x /bin/busybox ] && [[ $file_out == *"not a dynamic executable"* || $file_out == *"statically linked"* ]] || {
  echo "build-initramfs.sh: /bin/busybox missing or not static: run test/kernel-lab/setup.sh (busybox-static)" >&2; exit 1; }
R=$(mktemp -d)
trap 'rm -rf "$R"' EXIT
mkdir -p "$R"/{bin,sbin,proc,sys,dev,tmp,mnt/host,mnt/hostro,mnt/rw,share,modules,etc,root,usr/bin,usr/sbin}
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done
# modules LIST NAMES...: the NAMES and their dependencies (in load order, once each) into
# /modules/LIST; built-in ones print nothing.
modules() {
  local list=$1; shift
  : > "$R/modules/$list"
  for m in "$@"; do
    modprobe -d "$KROOT" -S "$KVER" --show-depends $m 2>/dev/null | awk '$1=="insmod"{print $2}' || true
  done | awk '!seen[$0]++' | while read -r f; do
    b=$(basename "$f"); b=${b%.xz}; b=${b%.zst}
    if [ ! -e "$R/modules/$b" ]; then
      case "$f" in
        *.xz) xz -dc "$f" > "$R/modules/$b" ;;
        *.zst) zstd -dcq "$f" > "$R/modules/$b" ;;
        *) cp "$f" "$R/modules/$b" ;;
      esac
      echo "$b" >> "$R/modules/$list"
    fi
  done
}
modules order virtio_pci 9pnet_virtio 9p overlay
modules net.order virtio_net   # + failover, net_failover
if ! grep -q '^9p.ko$' "$R/modules/order" && ! grep -q '^CONFIG_9P_FS=y' "$KROOT/boot/config-$KVER"; then
  echo "build-initramfs.sh: $KVER has no 9p (a cloud kernel?): the lab needs a generic kernel" >&2; exit 1
fi
cp "$HERE/guest/init.sh" "$R/init"; chmod 755 "$R/init"
cp "$HERE/guest/inhost.sh" "$R/bin/inhost"; chmod 755 "$R/bin/inhost"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$R/etc/passwd"
# Build beside the target and rename: concurrent runs never see a half-written image.
tmp=$(mktemp "$OUT.XXXXXX")
(cd "$R" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | gzip -1) > "$tmp"
chmod 644 "$tmp"; mv -f "$tmp" "$OUT"
echo "$OUT"
