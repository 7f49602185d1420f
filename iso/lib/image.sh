# The root squashfs and the ISO (El Torito via isolinux on amd64; kernel, initrd,
# cmdline and version as plain ISO9660 8.3 files the host can read without root).

# mksquashfs and xorriso take their own timestamps from SOURCE_DATE_EPOCH.
fix_mtimes() {
  find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}

squashfs_build() {
  fix_mtimes "$ROOT"
  # shellcheck disable=SC2086 # SQUASHFS_COMP holds the compressor and its options
  mksquashfs "$ROOT" "$STAGE/skiff/root.sqfs" -noappend -quiet -no-progress \
    -all-root -no-xattrs \
    -b "$SQUASHFS_BLOCK" $SQUASHFS_COMP >/dev/null || die "mksquashfs failed"
}

iso_build() {
  local iso="$OUT/$ISO_NAME" boot=()
  if [ -n "$KERNEL_GZIP" ]; then
    gzip -9 -n -c "$KROOT/boot/vmlinuz-$KVER" >"$STAGE/boot/vmlinuz"
  else
    cp "$KROOT/boot/vmlinuz-$KVER" "$STAGE/boot/vmlinuz"
  fi
  printf '%s\n' "$CMDLINE" >"$STAGE/boot/cmdline"
  printf '%s\n' "$VERSION_LINE" >"$STAGE/boot/version"
  if [ -n "$BIOS_BOOT" ]; then
    mkdir -p "$STAGE/isolinux"
    cp "$PKGROOT/usr/lib/ISOLINUX/isolinux.bin" "$PKGROOT/usr/lib/syslinux/modules/bios/ldlinux.c32" "$STAGE/isolinux/"
    cat >"$STAGE/isolinux/isolinux.cfg" <<CFG
DEFAULT skiff
PROMPT 0
TIMEOUT 1
LABEL skiff
  KERNEL /boot/vmlinuz
  INITRD /boot/initrd.img
  APPEND console=tty0 $CMDLINE
CFG
    boot=(-b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table)
  fi
  # (arm64: no boot loader; QEMU boots /boot/vmlinuz and initrd.img directly)
  fix_mtimes "$STAGE"
  mkdir -p "$OUT"
  rm -f "$iso.tmp"
  xorriso -as mkisofs -quiet -o "$iso.tmp" -V "$VOLID" -R "${boot[@]}" \
    "$STAGE" 2>"$BUILD/xorriso.log" || { cat "$BUILD/xorriso.log" >&2; die "xorriso failed"; }
  mv "$iso.tmp" "$iso"
  sums_update "$ISO_NAME"
}

# Replaces NAME's line in SHA256SUMS and keeps the other images' lines: the image
# store reads this file, and each architecture's build writes only its own line.
sums_update() {
  local name=$1 sum
  sum=$(cd "$OUT" && sha256sum "$name")
  (
    flock 9
    # grep fails on a first build (no file) and when NAME's was the only line: both fine.
    { grep -v "  $name\$" "$OUT/SHA256SUMS" 2>/dev/null || true; printf '%s\n' "$sum"; } | LC_ALL=C sort -k2 >"$OUT/SHA256SUMS.$name.tmp"
    mv "$OUT/SHA256SUMS.$name.tmp" "$OUT/SHA256SUMS"
  ) 9>"$OUT/.SHA256SUMS.lock"
}

# iso/out/busybox-rootfs-ARCH.tar: the image's static busybox as a tiny root
# filesystem for `docker import`, so tests can run a container of exactly this
# architecture (e.g. an arm64 one on an amd64 guest through binfmt).
testroot_build() {
  local dir="$BUILD/testroot" tar="$OUT/busybox-rootfs-$DEB_ARCH.tar" a
  rm -rf "$dir"
  mkdir -p "$dir/bin" "$dir/tmp"
  cp "$BUSYBOX" "$dir/bin/busybox"
  for a in sh uname cat echo ls; do ln -s busybox "$dir/bin/$a"; done
  fix_mtimes "$dir"
  tar -C "$dir" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" -cf "$tar.tmp" . &&
    mv "$tar.tmp" "$tar" || die "cannot write $tar"
}
