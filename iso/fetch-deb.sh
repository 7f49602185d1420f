#!/usr/bin/env bash
# Prints the path of a package's .deb at the exact version the guest image's
# lock names, downloading it into the build's cache first if needed, through the
# same private Debian 13 apt configuration as the build.
#
#   bash iso/fetch-deb.sh PACKAGE [--arch amd64|arm64]
#
# For tools the host borrows from the guest's package set (Debian 13's static
# qemu-i386, which test/host32 needs on kernels that refuse i386 binaries).
set -Eeuo pipefail
umask 022
export LC_ALL=C

ISO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${SKIFF_ISO_CACHE:-$HOME/.cache/skiff-iso}
for f in common arch apt; do
  # shellcheck source=/dev/null
  . "$ISO_DIR/lib/$f.sh"
done

PACKAGE=""
ARCH=amd64
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) [ $# -ge 2 ] || die "--arch needs a value (amd64 or arm64)"; ARCH=$2; shift ;;
    -*) die "unknown option $1 (usage: fetch-deb.sh PACKAGE [--arch amd64|arm64])" ;;
    *) [ -z "$PACKAGE" ] || die "one package at a time"; PACKAGE=$1 ;;
  esac
  shift
done
[ -n "$PACKAGE" ] || die "usage: fetch-deb.sh PACKAGE [--arch amd64|arm64]"
arch_setup "$ARCH"
line=$(grep -m1 "^$PACKAGE=" "$LOCK" || true)
[ -n "$line" ] || die "$PACKAGE is not in $(basename "$LOCK")"

BUILD=$(mktemp -d)
trap 'rm -rf "$BUILD"' EXIT
mkdir -p "$CACHE"
apt_setup
deb=$(deb_file "$line")
if [ -z "$deb" ]; then
  apt_download "$line" || die "download of $line failed"
  deb=$(deb_file "$line")
fi
echo "$deb"
