# What differs between the amd64 and arm64 images: package architecture,
# multiarch paths, the dynamic loader, the serial console, the boot loader.

# $1 amd64|arm64. Sets DEB_ARCH, LOCK, ISO_NAME, MULTIARCH, LDSO, CONSOLE, CMDLINE,
# BIOS_BOOT, KERNEL_GZIP and the binfmt_misc registration for the other architecture (BINFMT_*).
arch_setup() {
  DEB_ARCH=$1
  case "$DEB_ARCH" in
    amd64)
      LOCK="$ISO_DIR/packages.lock"
      MULTIARCH=usr/lib/x86_64-linux-gnu
      LDSO=usr/lib64/ld-linux-x86-64.so.2
      # 16550 UART on q35
      CONSOLE=ttyS0
      BIOS_BOOT=1
      KERNEL_GZIP=""
      BINFMT_TARGET=aarch64
      # binfmt_misc magic and mask of an aarch64 ELF executable (as in QEMU's qemu-binfmt-conf.sh)
      BINFMT_MAGIC='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
      BINFMT_MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
      ;;
    arm64)
      LOCK="$ISO_DIR/packages.arm64.lock"
      MULTIARCH=usr/lib/aarch64-linux-gnu
      LDSO=usr/lib/ld-linux-aarch64.so.1
      # PL011 UART on QEMU's virt machine
      CONSOLE=ttyAMA0
      BIOS_BOOT=""
      # Debian's arm64 vmlinuz is an uncompressed Image (37.8 MB); QEMU's -kernel
      # takes it gzipped (13.7 MB) and unpacks it on the host in a fraction of a second.
      KERNEL_GZIP=1
      BINFMT_TARGET=x86_64
      BINFMT_MAGIC='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00'
      BINFMT_MASK='\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
      ;;
    *) die "unknown architecture $DEB_ARCH (amd64 or arm64)" ;;
  esac
  ISO_NAME="skiff-$DEB_ARCH.iso"
  CMDLINE="console=$CONSOLE quiet loglevel=3"
  # The registration written to /proc/sys/fs/binfmt_misc/register when binfmt is on.
  # Flags: F opens the interpreter now, so it works inside containers (other
  # mount namespaces); P keeps argv[0]; C takes credentials from the program.
  BINFMT_LINE=":qemu-$BINFMT_TARGET:M::$BINFMT_MAGIC:$BINFMT_MASK:/usr/bin/qemu-$BINFMT_TARGET:FPC"
}

# The build runs busybox for depmod and its applet list. The image's own
# busybox does that when it can run here; for the other architecture the
# host's static busybox (iso/host-packages.txt) stands in.
tool_busybox_setup() {
  if "$BUSYBOX" true 2>/dev/null; then
    TOOL_BUSYBOX=$BUSYBOX
  else
    TOOL_BUSYBOX=$(command -v busybox) || die "building $DEB_ARCH here needs the host's busybox (busybox-static)"
    log "the $DEB_ARCH busybox cannot run on this host: using $TOOL_BUSYBOX for depmod"
  fi
}

# The applets of the image's busybox: asked of it when it runs here, else read
# from the host's busybox (a few applets may differ between the versions: a
# link to an applet the image's busybox lacks only fails when it is called).
busybox_applets() {
  "$TOOL_BUSYBOX" --list-full
}
