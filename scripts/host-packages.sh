#!/usr/bin/env bash
# The Debian packages skiff needs on a host, by purpose, and their install.
#
#   host-packages.sh list  run|image|test...   prints the packages, one a line
#   host-packages.sh install run|image|test... installs the missing ones (root,
#                                              apt-get), retrying while the
#                                              registry's indexes are mid-sync
#
# run: what `skiff start` needs; image: what `npm run iso` needs
# (iso/host-packages.txt); test: what the test suite needs besides both.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

packages_for() {
  case "$1" in
    # zstd compresses a suspended machine's saved state (skiff runs without it, saving it raw)
    run) echo qemu-system-x86 qemu-system-arm qemu-utils zstd ;;
    image) sed 's/#.*//' "$repo/iso/host-packages.txt" ;;
    # a real sshd for the agent's tests; busybox-static to build test images from;
    # debootstrap and curl for the i386 roots (test/host32); hyperfine for bench/'s shellinit timing
    # uidmap (newgidmap) for virtiofsd run by a user who is not root (test/integration/virtiofsd.test.ts)
    test) echo openssh-server openssh-client busybox-static debootstrap curl binutils hyperfine uidmap ;;
    *) echo "host-packages.sh: unknown purpose $1 (run, image or test)" >&2; return 2 ;;
  esac
}

retry() {
  local n=0
  until "$@"; do
    n=$((n + 1))
    [ "$n" -ge 4 ] && return 1
    echo "retrying ($n): $*" >&2
    sleep $((n * 10))
  done
}

wanted() {
  local p
  for p in "$@"; do packages_for "$p"; done | tr ' ' '\n' | sed '/^$/d' | sort -u
}

missing() {
  local p
  for p in $(wanted "$@"); do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

install() {
  local todo
  mapfile -t todo < <(missing "$@")
  [ ${#todo[@]} -gt 0 ] || { echo "host packages: all present ($*)"; return 0; }
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "skiff needs these packages: ${todo[*]}" >&2
    echo "install them, as root on Debian or Ubuntu: apt-get install --no-install-recommends ${todo[*]}" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  retry apt-get update -qq
  retry apt-get install -y -qq --no-install-recommends "${todo[@]}"
}

cmd=${1:-}
[ $# -ge 2 ] || { echo "usage: host-packages.sh list|install run|image|test..." >&2; exit 2; }
shift
case "$cmd" in
  list) wanted "$@" ;;
  install) install "$@" ;;
  *) echo "usage: host-packages.sh list|install run|image|test..." >&2; exit 2 ;;
esac
