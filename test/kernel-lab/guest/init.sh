#!/bin/sh
# The guest's /init: mounts, 9p shares, lo, then /share/guest.sh (written by the test), then power off.
# Leaves /share/kernel-release and /share/guest.rc (read by lab.ts); the console shows "=== LAB ..." lines.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing
echo; echo "=== LAB KERNEL $(uname -r)"   # own line: the BIOS leaves the cursor mid-line
for m in $(cat /modules/order); do insmod /modules/$m 2>&1 | sed 's/^/insmod: /'; done
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 share /share || echo "=== LAB ERROR no 9p share"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro,cache=loose hostroot /mnt/hostro || echo "=== LAB ERROR no 9p hostroot"
uname -r > /share/kernel-release
ip link set lo up
# /mnt/host: the host root with a tmpfs overlay, so programs there can write (nothing reaches the host)
# and keep the host's paths, /tmp included (a repo may live there).
mount -t tmpfs -o size=256m tmpfs /mnt/rw && mkdir -p /mnt/rw/upper /mnt/rw/work
mount -t overlay overlay -o lowerdir=/mnt/hostro,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work /mnt/host ||
  { echo "=== LAB WARNING no overlay: /mnt/host is read-only"; mount --bind /mnt/hostro /mnt/host; }
# Make it usable with chroot: the guest's kernel filesystems, the share at /tmp/share.
if [ -d /mnt/host/usr ]; then
  mount -t proc proc /mnt/host/proc
  mount -t sysfs sysfs /mnt/host/sys
  mount -t tracefs tracefs /mnt/host/sys/kernel/tracing
  mount -t devtmpfs devtmpfs /mnt/host/dev
  mkdir -p /mnt/host/tmp/share && mount --bind /share /mnt/host/tmp/share
fi
# lab.env (from lab.ts): REPO (the repo's host path, also valid inside the chroot), NODE, ...
[ -f /share/lab.env ] && { set -a; . /share/lab.env; set +a; }
export SHARE=/share CHROOT_SHARE=/tmp/share HOSTROOT=/mnt/host
rc=127
if [ -f /share/guest.sh ]; then
  cd /share && sh /share/guest.sh </dev/null 2>&1; rc=$?; cd /
else
  echo "=== LAB ERROR no /share/guest.sh"
fi
echo "$rc" > /share/guest.rc
echo; echo "=== LAB GUEST-EXIT $rc"
sync
umount /mnt/host/tmp/share 2>/dev/null; umount /share 2>/dev/null
echo "=== LAB DONE uptime $(cut -d' ' -f1 /proc/uptime)"
poweroff -f
