#!/bin/sh
# usage (in the guest): inhost CMD [ARGS...] -- runs CMD in the host's root (chroot into /mnt/host: 9p
# with a tmpfs overlay, writes stay in the guest), in the repo's directory, with a clean environment.
# /tmp/share there is the guest's /share.
[ -n "${REPO:-}" ] || { echo "inhost: REPO not set" >&2; exit 2; }
exec chroot /mnt/host /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/tmp TMPDIR=/tmp \
  REPO="$REPO" SHARE=/tmp/share LAB_GUEST=1 /bin/sh -c 'cd "$REPO" && exec "$@"' inhost "$@"
