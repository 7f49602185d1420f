# The initramfs: static busybox, the modules that find the ISO, and /init.
# It stays small because every MiB of it is unpacked before /init runs.

initramfs_build() {
  local dir="$BUILD/initramfs" applet
  rm -rf "$dir"
  mkdir -p "$dir"/{bin,dev,proc,sys,etc,media,newroot,usr/lib}
  ln -s usr/lib "$dir/lib"
  cp "$BUSYBOX" "$dir/bin/busybox"
  for applet in $(busybox_applets | sed 's,.*/,,' | LC_ALL=C sort); do
    [ "$applet" = busybox ] || ln -s busybox "$dir/bin/$applet"
  done
  # shellcheck disable=SC2046 # one module name per word
  modules_install "$KROOT" "$KVER" "$dir" $(modules_list initramfs fallback)
  modules_list initramfs | tr '\n' ' ' >"$dir/etc/modules-initramfs"
  modules_list fallback | tr '\n' ' ' >"$dir/etc/modules-fallback"
  printf '%s\n' "$VOLID" >"$dir/etc/skiff-volid"
  printf '%s\n' "$CONSOLE" >"$dir/etc/skiff-console"
  install -m 755 "$ISO_DIR/guest/initramfs/init" "$dir/init"
  fix_mtimes "$dir"
  (cd "$dir" && find . -mindepth 1 | LC_ALL=C sort |
    cpio --quiet --reproducible -o -H newc -R 0:0) | zstd -q -19 -T1 >"$STAGE/boot/initrd.img"
}
