#!/usr/bin/env bash
# Debian packages the build and tests need beyond the machine's Node, Java and Maven: the kernel
# lab's (qemu, busybox, cpio, kmod... — test/kernel-lab/setup.sh, which boots real Debian kernels
# for the kprobe tests), dwarves (pahole, for the BTF cross-check), strace and systemd (the
# systemd unit's system call filter and `systemd-analyze verify`), bpftrace (bench/agent-vs-bpftrace
# runs it beside the agent), and promtool (the alert rules).
# Installs only what is missing, so a warm machine skips apt entirely.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
need_root() { [ "$(id -u)" -eq 0 ] || { echo "missing (install as root): $*" >&2; exit 1; }; }

missing=()
for p in dwarves strace systemd bpftrace; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  need_root "${missing[*]}"
  echo "installing: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# promtool comes with Debian's prometheus package, whose server we do not want installed (it would
# start as a service): only the promtool binary (static) is taken out of the downloaded package.
if ! command -v promtool >/dev/null; then
  need_root promtool
  echo "installing: promtool (from the prometheus package)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download -q prometheus 2>/dev/null) || { apt-get update -q && (cd "$work" && apt-get download -q prometheus); }
  dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
  install -m 0755 "$work/root/usr/bin/promtool" /usr/local/bin/promtool
fi

bash "$here/../test/kernel-lab/setup.sh"
