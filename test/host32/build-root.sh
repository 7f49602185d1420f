#!/usr/bin/env bash
# Builds (once per package set, then reused) a Debian 13 i386 root holding
# Debian's own i386 nodejs and QEMU, for proving skiff on a 32-bit userland.
# Prints the root's path on stdout. Needs root, debootstrap and the Debian registry.
# SKIFF_HOST32_REBUILD=1 throws the cached root away first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/config.sh"

[ "$(id -u)" = 0 ] || host32_die "needs root (debootstrap and chroot)"
command -v debootstrap >/dev/null || host32_die "debootstrap is missing: apt-get install debootstrap"

mkdir -p "$HOST32_CACHE"
exec 9>"$HOST32_CACHE/.lock"
flock 9 # two runs at once build it once

if [ "${SKIFF_HOST32_REBUILD:-0}" = 1 ] && [ -d "$HOST32_ROOT" ]; then
  host32_log "rebuilding: removing $HOST32_ROOT"
  host32_safe_rm "$HOST32_ROOT"
fi

if [ -f "$HOST32_ROOT/.skiff-host32-ready" ]; then
  host32_log "reusing cached root $HOST32_ROOT"
  echo "$HOST32_ROOT"
  exit 0
fi

# The registry's indexes for a codename are sometimes out of step with its
# Release file (a mirror mid-sync, or a stale proxy copy); "stable" or
# "oldstable" names the same release by another path, so either is a fallback
# when its Codename is the one wanted.
suites=("$HOST32_CODENAME")
for alias in stable oldstable; do
  c=$(curl -fsS --retry 3 "$HOST32_MIRROR/dists/$alias/Release" 2>/dev/null | sed -n 's/^Codename: //p' || true)
  [ "$c" = "$HOST32_CODENAME" ] && suites+=("$alias")
done

tmp="$HOST32_ROOT.tmp.$$"
cleanup() { host32_safe_rm "$tmp"; }
trap cleanup EXIT

start=$(date +%s)
built=""
for attempt in 1 2 3; do
  for suite in "${suites[@]}"; do
    host32_safe_rm "$tmp"
    host32_log "debootstrap $suite ($HOST32_ARCH), attempt $attempt"
    if debootstrap --variant=minbase --arch="$HOST32_ARCH" --include="$HOST32_PACKAGES" \
      "$suite" "$tmp" "$HOST32_MIRROR" "/usr/share/debootstrap/scripts/$HOST32_CODENAME" >"$tmp.log" 2>&1; then
      built=$suite
      break 2
    fi
    host32_log "debootstrap $suite failed: $(grep -E '^(E|W):' "$tmp.log" | tail -3 | tr '\n' ' ')"
  done
  sleep $((attempt * 20))
done
[ -n "$built" ] || { tail -20 "$tmp.log" >&2; rm -f "$tmp.log"; host32_die "debootstrap failed with every suite (${suites[*]})"; }
rm -f "$tmp.log"

# debootstrap unmounts what it mounted, but a root with live mounts must never be renamed into the cache.
[ -z "$(host32_mounts_under "$tmp")" ] || host32_die "debootstrap left mounts under $tmp"
grep -q "^VERSION_CODENAME=$HOST32_CODENAME\$" "$tmp/etc/os-release" || host32_die "the root is not Debian $HOST32_CODENAME"
rm -rf "$tmp/var/cache/apt/archives/"*.deb "$tmp/var/lib/apt/lists/"* 2>/dev/null || true
{
  echo "suite=$built"
  echo "built=$(date -u +%FT%TZ)"
  echo "seconds=$(($(date +%s) - start))"
  chroot "$tmp" dpkg-query -W -f='${Package}=${Version}\n' nodejs qemu-system-x86 qemu-utils
} >"$tmp/.skiff-host32-ready"
mv "$tmp" "$HOST32_ROOT"
trap - EXIT
host32_log "built $HOST32_ROOT in $(($(date +%s) - start)) s"
echo "$HOST32_ROOT"
