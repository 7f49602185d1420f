#!/usr/bin/env bash
# Builds iso/out/skiff-ARCH.iso (amd64 by default, or arm64) and its line in
# iso/out/SHA256SUMS from Debian 13 packages: apt-get download + dpkg -x through
# a private apt configuration, nothing else from the network, no Docker,
# reproducible (SOURCE_DATE_EPOCH from the lock).
#
#   bash iso/build.sh                 build from the versions in iso/packages.lock
#   bash iso/build.sh --update-lock   resolve packages.txt to current versions first
#   bash iso/build.sh --arch arm64    the arm64 image (or ARCH=arm64), locked in iso/packages.arm64.lock
#
# Downloads are cached in ${SKIFF_ISO_CACHE:-$HOME/.cache/skiff-iso}.
set -Eeuo pipefail
umask 022
export LC_ALL=C TZ=UTC

ISO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT="$ISO_DIR/out"
CACHE=${SKIFF_ISO_CACHE:-$HOME/.cache/skiff-iso}

# Tuning, chosen by measured boot time under TCG (see iso/README.md).
SQUASHFS_COMP=${SKIFF_SQUASHFS_COMP:--comp zstd -Xcompression-level 19}
SQUASHFS_BLOCK=${SKIFF_SQUASHFS_BLOCK:-131072}
IPTABLES_BACKEND=${SKIFF_IPTABLES_BACKEND:-legacy}
VOLID=SKIFF_GUEST

for f in common arch apt modules rootfs initramfs image; do
  # shellcheck source=/dev/null
  . "$ISO_DIR/lib/$f.sh"
done
trap 'report_failure $? "${BASH_SOURCE[0]:-$0}" "$LINENO" "$BASH_COMMAND"' ERR

UPDATE_LOCK=""
ARCH=${ARCH:-amd64}
while [ $# -gt 0 ]; do
  case "$1" in
    --update-lock) UPDATE_LOCK=1 ;;
    --arch) [ $# -ge 2 ] || die "--arch needs a value (amd64 or arm64)"; ARCH=$2; shift ;;
    --arch=*) ARCH=${1#--arch=} ;;
    *) die "unknown option $1 (usage: build.sh [--arch amd64|arm64] [--update-lock])" ;;
  esac
  shift
done
arch_setup "$ARCH"
# Each architecture builds in its own directory, so two builds can run at once.
BUILD="$ISO_DIR/build/$ARCH"

need_tools apt-get apt-cache dpkg-deb readelf xz zstd cpio mksquashfs xorriso sha256sum flock

mkdir -p "$BUILD" "$CACHE"
apt_setup
if [ -s "$LOCK" ] && [ -z "$UPDATE_LOCK" ] && ! lock_matches_list; then
  die "packages.txt and $(basename "$LOCK") name different packages: run bash iso/build.sh --update-lock --arch $DEB_ARCH"
fi
if [ -n "$UPDATE_LOCK" ] || [ ! -s "$LOCK" ]; then
  apt_update; APT_UPDATED=1
  resolved=$(apt_resolve)
  if [ -s "$LOCK" ] && [ "$(grep -v '^#' "$LOCK")" = "$resolved" ]; then
    log "$(basename "$LOCK") is current"
  else
    {
      echo "# Exact Debian 13 $DEB_ARCH package versions the guest image is built from (build.sh --update-lock --arch $DEB_ARCH)."
      echo "# source-date-epoch: $(date +%s)"
      printf '%s\n' "$resolved"
    } >"$LOCK.tmp" && mv "$LOCK.tmp" "$LOCK"
    log "wrote $LOCK"
  fi
fi
SOURCE_DATE_EPOCH=$(sed -n 's/^# source-date-epoch: //p' "$LOCK")
[ -n "$SOURCE_DATE_EPOCH" ] || die "$(basename "$LOCK") has no source-date-epoch line"
export SOURCE_DATE_EPOCH
apt_fetch_locked

# Unpack: the kernel on its own, everything else into one package tree.
PKGROOT="$BUILD/pkgroot"
KROOT="$BUILD/kernel"
rm -rf "$PKGROOT" "$KROOT"
mkdir -p "$PKGROOT" "$KROOT"
log "unpacking packages"
while read -r line; do
  case "$line" in ''|'#'*) continue ;; esac
  deb=$(deb_file "$line")
  case "$line" in
    linux-image-*) dpkg-deb -x "$deb" "$KROOT" ;;
    # 465 MB of emulators for every target: only the one binfmt uses is unpacked
    qemu-user=*) dpkg-deb --fsys-tarfile "$deb" | tar -C "$PKGROOT" -x "./usr/bin/qemu-$BINFMT_TARGET" ||
      die "qemu-user has no usr/bin/qemu-$BINFMT_TARGET" ;;
    *) dpkg-deb -x "$deb" "$PKGROOT" ;;
  esac
done <"$LOCK"
KVER=$(ls "$KROOT/usr/lib/modules")
BUSYBOX="$PKGROOT/usr/bin/busybox"
tool_busybox_setup
DOCKER_VERSION=$(sed -n 's/^docker\.io=\([0-9.]*\).*/\1/p' "$LOCK")
GUEST_VERSION=$(sed -n 's/^ *"version": "\(.*\)",/\1/p' "$ISO_DIR/../package.json" | head -n1)
VERSION_LINE="skiff-guest $GUEST_VERSION docker $DOCKER_VERSION kernel ${KVER%%+*}"

STAGE="$BUILD/stage"
ROOT="$BUILD/root"
rm -rf "$STAGE"
mkdir -p "$STAGE/boot" "$STAGE/skiff"

modules_index_full "$KROOT" "$KVER"
log "assembling the root ($VERSION_LINE, iptables $IPTABLES_BACKEND)"
rootfs_assemble
# shellcheck disable=SC2046 # one module name per word
modules_install "$KROOT" "$KVER" "$ROOT" $(modules_list initramfs fallback early boot swarm extra dir)
mkdir -p "$ROOT/etc/skiff"
for kind in early boot fallback swarm; do
  modules_list "$kind" | tr '\n' ' ' >"$ROOT/etc/skiff/modules-$kind"
done

log "initramfs"
initramfs_build
log "squashfs ($SQUASHFS_COMP, block $SQUASHFS_BLOCK)"
squashfs_build
log "iso"
iso_build
testroot_build
log "done: $OUT/$ISO_NAME $(du -m "$OUT/$ISO_NAME" | cut -f1) MB"
cat "$OUT/SHA256SUMS"
