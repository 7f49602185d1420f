# Sourced by the host32 scripts: what the i386 root holds and where it is cached.
# shellcheck shell=bash

HOST32_ARCH=i386
# trixie: Node 20, but its i386 QEMU (10.0) has no qemu-system-x86_64 any more.
# bookworm: Node 18 and QEMU 7.2, whose i386 build still runs amd64 guests.
HOST32_CODENAME=${SKIFF_HOST32_SUITE:-trixie}
HOST32_MIRROR=${SKIFF_HOST32_MIRROR:-http://deb.debian.org/debian}
# nodejs and QEMU as Debian ships them for i386; procps for the `ps` skiff uses
# to check that a pid is still its own process.
HOST32_PACKAGES=nodejs,qemu-system-x86,qemu-utils,procps
HOST32_CACHE=${SKIFF_HOST32_CACHE:-/var/cache/skiff-host32}
# Bumped when the way the root is built changes, so old caches are not reused.
HOST32_RECIPE=1
HOST32_KEY=$(printf '%s|%s|%s|%s' "$HOST32_RECIPE" "$HOST32_CODENAME" "$HOST32_ARCH" "$HOST32_PACKAGES" | sha256sum | cut -c1-12)
HOST32_ROOT=$HOST32_CACHE/$HOST32_CODENAME-$HOST32_ARCH-$HOST32_KEY

host32_log() { echo "host32: $*" >&2; }
host32_die() { echo "host32: error: $*" >&2; exit 1; }

# Mount points at or under $1, deepest first.
host32_mounts_under() {
  local dir
  dir=$(realpath -m "$1")
  awk -v d="$dir" '{ gsub(/\\040/, " ", $5); if ($5 == d || index($5, d "/") == 1) print $5 }' /proc/self/mountinfo | sort -r
}

# Unmounts everything at or under $1, deepest first; lazily only as a last resort.
host32_unmount_all() {
  local m tries
  for tries in 1 2 3 4 5; do
    [ -z "$(host32_mounts_under "$1")" ] && return 0
    while read -r m; do
      [ -n "$m" ] && umount "$m" 2>/dev/null
    done < <(host32_mounts_under "$1")
    sleep 1
  done
  while read -r m; do
    [ -n "$m" ] && { host32_log "lazy unmount of busy $m"; umount -l "$m" || true; }
  done < <(host32_mounts_under "$1")
  [ -z "$(host32_mounts_under "$1")" ]
}

# rm -rf that refuses while anything is mounted below: removing through a bind
# mount would delete the host's own files.
host32_safe_rm() {
  [ -e "$1" ] || return 0
  host32_unmount_all "$1" || host32_die "still mounted under $1; not removing it: $(host32_mounts_under "$1" | tr '\n' ' ')"
  rm -rf --one-file-system "$1"
}
