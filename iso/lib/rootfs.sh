# Assembles the guest's root tree from the extracted packages: only the files
# the guest runs, the shared libraries they need (by DT_NEEDED), busybox for
# everything else, and the guest's own files from iso/guest/rootfs.

# Copies paths (relative to $PKGROOT) into $ROOT, keeping symlinks and
# taking what a relative symlink points to as well.
take() {
  local p target
  for p in "$@"; do
    [ -e "$PKGROOT/$p" ] || [ -L "$PKGROOT/$p" ] || die "package tree has no $p"
    mkdir -p "$ROOT/$(dirname "$p")"
    cp -a "$PKGROOT/$p" "$ROOT/$p"
    if [ -L "$PKGROOT/$p" ]; then
      target=$(readlink "$PKGROOT/$p")
      case "$target" in
        /*) die "$p is an absolute symlink ($target); take its target instead" ;;
        *) take "$(realpath -m --relative-to="$PKGROOT" "$PKGROOT/$(dirname "$p")/$target")" ;;
      esac
    fi
  done
}

# Copies a library by soname with the file its symlink points to.
take_lib() {
  local so=$1
  [ -e "$ROOT/$MULTIARCH/$so" ] && return 0
  [ -e "$PKGROOT/$MULTIARCH/$so" ] || return 1
  take "$MULTIARCH/$so"
}

# Resolves DT_NEEDED of every ELF file in $ROOT until nothing is missing.
take_needed_libs() {
  local changed=1 f so missing
  while [ $changed = 1 ]; do
    changed=0
    missing=""
    while read -r f; do
      for so in $(elf_needed "$f"); do
        [ -e "$ROOT/$MULTIARCH/$so" ] && continue
        if take_lib "$so"; then changed=1; else missing="$missing $so($f)"; fi
      done
    done < <(find "$ROOT" -type f \( -perm -u+x -o -name '*.so*' \) -print | LC_ALL=C sort)
  done
  [ -z "$missing" ] || die "shared libraries not in any package of packages.txt:$missing"
}

rootfs_assemble() {
  rm -rf "$ROOT"
  mkdir -p "$ROOT"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc,dev,proc,sys,run,tmp,var,root,mnt,home}
  ln -s usr/bin "$ROOT/bin"; ln -s usr/sbin "$ROOT/sbin"
  ln -s usr/lib "$ROOT/lib"; ln -s usr/lib64 "$ROOT/lib64"
  ln -s ../run "$ROOT/var/run"
  ln -s ../proc/self/mounts "$ROOT/etc/mtab"
  chmod 1777 "$ROOT/tmp"; chmod 700 "$ROOT/root"

  take "$LDSO" "$MULTIARCH/${LDSO##*/}"
  # engine
  take usr/sbin/dockerd usr/sbin/docker-proxy usr/bin/containerd usr/bin/containerd-shim-runc-v2 \
       usr/bin/runc usr/bin/tini-static
  ln -s tini-static "$ROOT/usr/bin/docker-init"
  # iptables: both backends ship; IPTABLES_BACKEND picks the one "iptables" means
  take usr/sbin/xtables-legacy-multi usr/sbin/xtables-nft-multi "$MULTIARCH/xtables"
  local t
  for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -s "xtables-$IPTABLES_BACKEND-multi" "$ROOT/usr/sbin/$t"
    ln -s xtables-legacy-multi "$ROOT/usr/sbin/${t/tables/tables-legacy}"
    ln -s xtables-nft-multi "$ROOT/usr/sbin/${t/tables/tables-nft}"
  done
  # ssh server
  take usr/sbin/sshd usr/lib/openssh/sshd-session usr/lib/openssh/sshd-auth usr/lib/openssh/sftp-server
  # data disk tools
  take usr/sbin/mke2fs usr/sbin/e2fsck usr/sbin/tune2fs usr/sbin/resize2fs usr/sbin/dumpe2fs etc/mke2fs.conf
  ln -s mke2fs "$ROOT/usr/sbin/mkfs.ext4"; ln -s e2fsck "$ROOT/usr/sbin/fsck.ext4"
  take usr/bin/socat
  # binfmt_misc: the one user-mode emulator for the other architecture (static, no libraries)
  take "usr/bin/qemu-$BINFMT_TARGET"
  # data
  take etc/protocols etc/services
  mkdir -p "$ROOT/etc/ssl/certs"
  find "$PKGROOT/usr/share/ca-certificates" -name '*.crt' | LC_ALL=C sort | xargs cat >"$ROOT/etc/ssl/certs/ca-certificates.crt"

  take_needed_libs

  # busybox provides every other command, without shadowing a real one
  take usr/bin/busybox
  local applet
  busybox_applets | LC_ALL=C sort | while read -r applet; do
    case "$applet" in
      bin/*|sbin/*) applet="usr/$applet" ;;
      linuxrc) continue ;;
    esac
    [ -e "$ROOT/$applet" ] || [ -L "$ROOT/$applet" ] && continue
    mkdir -p "$ROOT/$(dirname "$applet")"
    ln -s /usr/bin/busybox "$ROOT/$applet"
  done

  # the guest's own files
  cp -a "$ISO_DIR/guest/rootfs/." "$ROOT/"
  chmod 600 "$ROOT/etc/shadow"
  printf '%s\n' "$VERSION_LINE" >"$ROOT/etc/skiff-version"
  printf 'IPTABLES_BACKEND=%s\n' "$IPTABLES_BACKEND" >"$ROOT/etc/skiff-build.env"
  printf '%s\n' "$CONSOLE" >"$ROOT/etc/skiff/console"
  printf '%s\n' "$BINFMT_LINE" >"$ROOT/etc/skiff/binfmt"
}
