#!/usr/bin/env bash
# Whether this machine runs 32-bit x86 binaries, and how.
#
#   i386-exec.sh probe    prints "native", "emulated (ENTRY)" or "refused"; exit 0 unless refused
#   i386-exec.sh ensure   makes i386 binaries run: where the kernel refuses them
#                         (no IA32 emulation: "Exec format error"), registers
#                         Debian 13's static qemu-i386 with binfmt_misc (flags F)
#   i386-exec.sh remove   unregisters what `ensure` registered
#
# SKIFF_HOST32_EMULATE=1 makes `ensure` register the emulator even where the
# kernel runs i386 binaries itself (binfmt_misc is asked before the kernel's own
# ELF loader), to try the emulated path on any machine.
#
# Debian 12's qemu-i386-static (QEMU 7.2) runs Node 18 i386 only until Node
# spawns a child (SIGTRAP/SIGSEGV, then V8's "Entering the V8 API without proper
# locking"); Debian 13's qemu-i386 (QEMU 10.0, static-pie) does not, so the
# emulator is the one the guest image's lock pins (iso/packages.lock, qemu-user).
# F (fix binary): the kernel opens the emulator at registration, so it also
# serves processes inside the i386 chroots, which do not contain it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$here/config.sh"

ENTRY=skiff-i386
BINFMT=/proc/sys/fs/binfmt_misc
# An i386 ELF executable (ET_EXEC or ET_DYN, EM_386), as in QEMU's qemu-binfmt-conf.sh.
MAGIC='\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00'
MASK='\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'

# A static i386 program that exits 0, assembled with the host's binutils (no
# i386 package, no foreign architecture added to dpkg).
probe_binary() {
  local dir=$HOST32_CACHE/probe
  [ -x "$dir/exit0" ] && { echo "$dir/exit0"; return 0; }
  command -v as >/dev/null && command -v ld >/dev/null || host32_die "the probe needs binutils (as, ld): apt-get install binutils"
  mkdir -p "$dir"
  printf '.globl _start\n_start:\n  movl $1, %%eax\n  xorl %%ebx, %%ebx\n  int $0x80\n' >"$dir/exit0.s"
  as --32 -o "$dir/exit0.o" "$dir/exit0.s"
  ld -m elf_i386 -o "$dir/exit0.tmp" "$dir/exit0.o"
  mv "$dir/exit0.tmp" "$dir/exit0"
  echo "$dir/exit0"
}

# The binfmt_misc entry that claims i386 binaries, if any (ours or another).
i386_entry() {
  local f
  [ -d "$BINFMT" ] && [ -e "$BINFMT/status" ] || return 0
  for f in "$BINFMT"/*; do
    case "$(basename "$f")" in register|status) continue ;; esac
    grep -q '^enabled' "$f" 2>/dev/null && grep -q '^magic 7f454c4601010100000000000000000002000300' "$f" 2>/dev/null &&
      { basename "$f"; return 0; }
  done
  return 0
}

probe() {
  local bin entry
  bin=$(probe_binary)
  if "$bin" 2>/dev/null; then
    entry=$(i386_entry)
    if [ -n "$entry" ]; then echo "emulated ($entry)"; else echo native; fi
    return 0
  fi
  echo refused
  return 1
}

mount_binfmt() {
  [ -e "$BINFMT/register" ] && return 0
  mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null ||
    host32_die "binfmt_misc is not mounted at $BINFMT and cannot be (modprobe binfmt_misc, or run as root)"
}

# Debian 13's qemu-i386, out of the qemu-user package the guest image pins.
emulator() {
  local deb ver dest
  deb=$(bash "$repo/iso/fetch-deb.sh" qemu-user) || host32_die "cannot fetch Debian 13's qemu-user"
  ver=$(basename "$deb" .deb)
  dest=$HOST32_CACHE/emulator/$ver/qemu-i386
  if [ ! -x "$dest" ]; then
    mkdir -p "$(dirname "$dest")"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -O ./usr/bin/qemu-i386 >"$dest.tmp"
    chmod 0755 "$dest.tmp"
    mv "$dest.tmp" "$dest"
  fi
  echo "$dest"
}

ensure() {
  local state qemu
  state=$(probe || true)
  if [ "$state" = native ] && [ "${SKIFF_HOST32_EMULATE:-0}" != 1 ]; then
    host32_log "i386 binaries run natively"
    return 0
  fi
  if [ "$state" != native ] && [ "$state" != refused ]; then
    host32_log "i386 binaries run through binfmt_misc: $state"
    return 0
  fi
  host32_log "i386 binaries: $state; registering Debian 13's qemu-i386 with binfmt_misc"
  mount_binfmt
  qemu=$(emulator)
  [ ! -e "$BINFMT/$ENTRY" ] || echo -1 >"$BINFMT/$ENTRY"
  printf ':%s:M::%s:%s:%s:F' "$ENTRY" "$MAGIC" "$MASK" "$qemu" >"$BINFMT/register"
  state=$(probe) || host32_die "i386 binaries still do not run after registering $qemu"
  host32_log "i386 binaries: $state ($("$qemu" --version | head -n1))"
}

remove() {
  [ -e "$BINFMT/$ENTRY" ] || { host32_log "no $ENTRY entry"; return 0; }
  echo -1 >"$BINFMT/$ENTRY"
  host32_log "removed the $ENTRY binfmt_misc entry"
}

[ "$(id -u)" = 0 ] || host32_die "needs root (binfmt_misc)"
case "${1:-}" in
  probe) probe ;;
  ensure) ensure ;;
  remove) remove ;;
  *) host32_die "usage: i386-exec.sh probe|ensure|remove" ;;
esac
