#!/bin/sh
# The guest's /init: mounts, 9p shares, lo (eth0 and the forwarder with lab.net=1), then
# /share/guest.sh (written by the test), then power off.
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
# A network only when boot.sh gave one (lab.net=1): qemu user-mode, the host's loopback at 10.0.2.2.
NET=0
if grep -qw lab.net=1 /proc/cmdline; then
  for m in $(cat /modules/net.order); do insmod /modules/$m 2>&1 | sed 's/^/insmod: /'; done
  if [ -e /sys/class/net/eth0 ]; then
    ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && NET=1
  fi
  [ $NET = 1 ] || echo "=== LAB ERROR no eth0"
fi
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
# LAB_FORWARD (lab.ts, from network.forward): the host's loopback ports served at the guest's
# 127.0.0.1 by guest/forward.js (the host's node); the guest script starts once they listen
# (within 120 s: a node start under TCG on a loaded host).
if [ $NET = 1 ] && [ -n "${LAB_FORWARD:-}" ]; then
  inhost "$NODE" "$REPO/test/kernel-lab/guest/forward.js" 10.0.2.2 $LAB_FORWARD > /share/forward.log 2>&1 &
  i=0
  while ! grep -q '^listening' /share/forward.log 2>/dev/null && [ $i -lt 1200 ]; do usleep 100000; i=$((i+1)); done
  grep -q '^listening' /share/forward.log || echo "=== LAB ERROR forwarder not listening: $(cat /share/forward.log)"
fi
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
