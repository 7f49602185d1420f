# The root squashfs and the ISO (El Torito via isolinux; kernel, initrd,
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
  local iso="$OUT/skiff-amd64.iso"
  cp "$KROOT/boot/vmlinuz-$KVER" "$STAGE/boot/vmlinuz"
  printf '%s\n' "$CMDLINE" >"$STAGE/boot/cmdline"
  printf '%s\n' "$VERSION_LINE" >"$STAGE/boot/version"
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
  fix_mtimes "$STAGE"
  mkdir -p "$OUT"
  rm -f "$iso.tmp"
  xorriso -as mkisofs -quiet -o "$iso.tmp" -V "$VOLID" -R \
    -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table \
    "$STAGE" 2>"$BUILD/xorriso.log" || { cat "$BUILD/xorriso.log" >&2; die "xorriso failed"; }
  mv "$iso.tmp" "$iso"
  (cd "$OUT" && sha256sum skiff-amd64.iso >SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS)
}
