#!/usr/bin/env bash
# A throwaway i386 userland over a cached root, with skiff installed from `npm pack`.
#
#   session.sh up ROOT [ISO]   mounts an overlay over ROOT (which stays pristine),
#                              installs skiff, prints KEY=VALUE lines (SESSION=...)
#   session.sh exec SESSION CMD...   runs CMD in the chroot with skiff's environment
#   session.sh down SESSION    stops the machine, ends every process left in the
#                              chroot, unmounts everything, removes the session
#
# The machine's runtime dir (the docker socket) is a host dir bind-mounted at the
# same path inside, so the host's docker CLI reaches the socket from outside.
# ISO, when given, is bind-mounted read-only at /mnt/iso/<its name>.
# Needs root. A session whose owner (SKIFF_HOST32_OWNER, default the parent pid)
# has died is torn down by the next `up`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$here/config.sh"

SESSIONS=${TMPDIR:-/tmp}
PREFIX=skiff-host32.
CHROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

[ "$(id -u)" = 0 ] || host32_die "needs root (mount and chroot)"

# Mount a fresh mount and make it private at once: / is often shared, and
# propagation would otherwise carry mounts made below a bind of /dev onto the host's /dev.
mount_private() {
  mount "$@"
  mount --make-private "${@: -1}"
}

# Processes whose root is this session's chroot: all of them were started in it by us.
chroot_pids() {
  local merged=$1 p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$merged" ] && echo "${p#/proc/}"
  done
  return 0
}

# The command line that runs "$@" in the chroot with skiff's environment.
root_argv() {
  ROOT_ARGV=(chroot "$MERGED" /usr/bin/env -i PATH="$CHROOT_PATH" HOME=/root LANG=C.UTF-8 TERM=dumb NO_COLOR=1
    SKIFF_HOME=/root/.skiff SKIFF_RUNTIME_DIR="$SHARE/run" "$@")
}

down() {
  local s=$1 pids p
  [ -f "$s/env" ] || { host32_safe_rm "$s"; return 0; }
  . "$s/env"
  if mountpoint -q "$MERGED/proc" 2>/dev/null && [ -f "$MERGED/opt/skiff/node_modules/skiff/bin/skiff.js" ]; then
    root_argv skiff stop --force
    timeout 150 "${ROOT_ARGV[@]}" >/dev/null 2>&1 || true
  fi
  pids=$(chroot_pids "$MERGED")
  if [ -n "$pids" ]; then
    host32_log "ending what is left in the chroot: $(echo $pids)"
    kill -TERM $pids 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      pids=$(chroot_pids "$MERGED")
      [ -z "$pids" ] && break
      sleep 1
    done
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
    sleep 1
  fi
  host32_safe_rm "$s"
  host32_safe_rm "$SHARE"
}

# Where the kernel refuses i386 binaries they run under qemu-i386 (i386-exec.sh),
# and the root's 32-bit QEMU would run its TCG inside that emulator: measured
# 2026-12-03, the guest reached its first module stage only after 264 s (3 s
# natively) and then died of a double fault in cmpxchg16b. There the session's
# qemu-system-x86_64 is the host's own, copied into the overlay with its
# libraries and run through its own loader. That moves where QEMU looks for its
# modules and firmware, so QEMU_MODULE_DIR and -L (Debian's firmware path) point
# back at them; the root's QEMU data serves it (the same 7.2, Architecture: all).
# Everything else in the root (Node, skiff, its agent, sh, qemu-img) stays i386.
host_qemu_into() {
  local m=$1 q dest lib
  q=$(command -v qemu-system-x86_64) || host32_die "the host has no qemu-system-x86_64 to stand in for the emulated one"
  dest=$m/opt/host-qemu
  mkdir -p "$dest/lib"
  cp "$q" "$dest/qemu-system-x86_64"
  while read -r lib; do
    cp -L "$lib" "$dest/lib/"
  done < <(ldd "$q" | awk '/=> \// { print $3 } /^\t\/[^ ]*ld-linux/ { print $1 }')
  [ -e "$dest/lib/ld-linux-x86-64.so.2" ] || host32_die "no amd64 loader among the host QEMU's libraries"
  # Debian's QEMU loads its TCG accelerator as a module (accel-tcg-x86_64.so)
  [ -d /usr/lib/x86_64-linux-gnu/qemu ] && cp -r /usr/lib/x86_64-linux-gnu/qemu "$dest/modules"
  mv "$m/usr/bin/qemu-system-x86_64" "$m/usr/bin/qemu-system-x86_64.i386"
  printf '#!/bin/sh\n# The host'"'"'s QEMU: i386 binaries run emulated here (test/host32/session.sh)\nQEMU_MODULE_DIR=/opt/host-qemu/modules exec /opt/host-qemu/lib/ld-linux-x86-64.so.2 --library-path /opt/host-qemu/lib /opt/host-qemu/qemu-system-x86_64 -L /usr/share/qemu -L /usr/share/seabios -L /usr/lib/ipxe/qemu "$@"\n' \
    >"$m/usr/bin/qemu-system-x86_64"
  chmod 0755 "$m/usr/bin/qemu-system-x86_64"
}

reap_orphans() {
  local s owner
  for s in "$SESSIONS/$PREFIX"*; do
    [ -d "$s" ] || continue
    owner=$(cat "$s/owner" 2>/dev/null || echo 0)
    if [ "$owner" != 0 ] && kill -0 "$owner" 2>/dev/null; then continue; fi
    host32_log "tearing down the orphaned session $s (owner $owner is gone)"
    down "$s" || host32_log "could not tear down $s"
  done
}

up() {
  local root=$1 iso=${2:-} s share tgz
  [ -f "$root/.skiff-host32-ready" ] || host32_die "$root is not a built root: run build-root.sh"
  [ -z "$iso" ] || [ -f "$iso" ] || host32_die "no ISO at $iso"
  [ -f "$repo/dist/cli/main.js" ] || host32_die "skiff is not built: npm run build"
  reap_orphans

  s=$(mktemp -d "$SESSIONS/${PREFIX}XXXXXX")
  # On any failure below (set -e or host32_die), leave nothing mounted.
  UP_SESSION=$s
  trap 'down "$UP_SESSION"' EXIT
  # short: the docker socket's path must stay under the unix socket limit
  share=$(mktemp -d /tmp/sk32.XXXXXX)
  echo "${SKIFF_HOST32_OWNER:-$PPID}" >"$s/owner"
  cat >"$s/env" <<EOF
MERGED=$s/merged
SHARE=$share
ROOT=$root
EOF
  mkdir -p "$s/upper" "$s/work" "$s/merged"
  mount_private -t overlay overlay -o "lowerdir=$root,upperdir=$s/upper,workdir=$s/work" "$s/merged"
  mount_private -t proc proc "$s/merged/proc"
  mount_private -t sysfs sysfs "$s/merged/sys"
  mount_private --bind /dev "$s/merged/dev"
  mkdir -p "$s/merged$share" "$share/run"
  chmod 700 "$share"
  mount_private --bind "$share" "$s/merged$share"
  if [ -n "$iso" ]; then
    mkdir -p "$s/merged/mnt/iso"
    touch "$s/merged/mnt/iso/$(basename "$iso")"
    mount_private --bind "$iso" "$s/merged/mnt/iso/$(basename "$iso")"
    mount -o remount,bind,ro "$s/merged/mnt/iso/$(basename "$iso")"
    echo "ISO=/mnt/iso/$(basename "$iso")"
  fi

  # Installed the way a user installs a release: the packed tarball, runtime
  # dependencies only, no install scripts (so nothing native gets built), all
  # from the host's npm cache when it has them; the chroot needs no network.
  tgz=$(cd "$repo" && npm pack --silent --pack-destination "$s") || host32_die "npm pack failed in $repo"
  tgz=$(echo "$tgz" | tail -1)
  [ -f "$s/$tgz" ] || host32_die "npm pack made no tarball"
  npm install --prefix "$s/merged/opt/skiff" --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline \
    --cpu=ia32 --os=linux --loglevel=error "$s/$tgz" >&2 || host32_die "npm install of $tgz into the root failed"
  ln -s /opt/skiff/node_modules/skiff/bin/skiff.js "$s/merged/usr/local/bin/skiff"
  if [ -x "$s/merged/usr/bin/qemu-system-x86_64" ] && bash "$here/i386-exec.sh" probe | grep -q '^emulated'; then
    host_qemu_into "$s/merged"
    echo "QEMU=host"
  else
    echo "QEMU=root"
  fi
  trap - EXIT
  echo "SESSION=$s"
  echo "MERGED=$s/merged"
  echo "SHARE=$share"
  echo "RUNTIME_DIR=$share/run"
  echo "TARBALL=$s/$tgz"
  echo "SKIFF=/opt/skiff/node_modules/skiff"
}

cmd=${1:-}
case "$cmd" in
  up)
    [ $# -ge 2 ] || host32_die "usage: session.sh up ROOT [ISO]"
    up "$2" "${3:-}"
    ;;
  exec)
    [ $# -ge 3 ] || host32_die "usage: session.sh exec SESSION CMD..."
    s=$2
    shift 2
    [ -f "$s/env" ] || host32_die "no session at $s"
    . "$s/env"
    root_argv "$@"
    exec "${ROOT_ARGV[@]}"
    ;;
  down)
    [ $# -eq 2 ] || host32_die "usage: session.sh down SESSION"
    case "$2" in "$SESSIONS/$PREFIX"*) ;; *) host32_die "$2 is not a host32 session" ;; esac
    down "$2"
    ;;
  *)
    host32_die "usage: session.sh up|exec|down ..."
    ;;
esac
