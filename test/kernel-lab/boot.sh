#!/bin/bash
# usage: boot.sh KVER SHARE_DIR   -- boots $LAB/k/KVER with $LAB/initramfs-KVER.cpio.gz; serial console on stdout.
# TCG (the host's KVM does not run stock kernels), 1 vCPU, 1 GiB, no network unless LAB_NET=1 (qemu
# user-mode networking on a virtio-net NIC: the guest is 10.0.2.15, the host's loopback 10.0.2.2; the
# kernel's command line then says lab.net=1 for the guest's init). SHARE_DIR is the guest's
# /share (rw, 9p); the host's / is the guest's /mnt/host (ro, 9p). The guest powers off when done;
# BOOT_TIMEOUT (seconds, default 300) bounds the whole run.
set -euo pipefail
KVER=${1:?usage: boot.sh KVER SHARE_DIR}; SHARE=${2:?usage: boot.sh KVER SHARE_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-$(cd "$HERE/../.." && pwd)/.kernel-lab}
command -v qemu-system-x86_64 >/dev/null || { echo "boot.sh: qemu-system-x86_64 missing: run test/kernel-lab/setup.sh" >&2; exit 1; }
nic=(-nic none) append="console=ttyS0 quiet panic=-1 rdinit=/init"
[ "${LAB_NET:-0}" = 1 ] && { nic=(-nic user,model=virtio-net-pci); append="$append lab.net=1"; }
args=(-accel tcg -cpu max -smp 1 -m 1024M -nographic "${nic[@]}" -no-reboot
      -kernel "$LAB/k/$KVER/boot/vmlinuz-$KVER" -initrd "$LAB/initramfs-$KVER.cpio.gz"
      -append "$append"
      -virtfs "local,path=$SHARE,mount_tag=share,security_model=none,multidevs=remap"
      -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap")
exec timeout -k 5 "${BOOT_TIMEOUT:-300}" qemu-system-x86_64 "${args[@]}" </dev/null
