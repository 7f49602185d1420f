# Picks the kernel modules the guest needs (plus their dependencies),
# decompresses them (plain .ko load fastest) and runs depmod. depmod is the
# guest's own busybox (static, from the package set), so the host needs no kmod.

# $1 kernel package root (dpkg -x), $2 kver; sets MOD_DEP (modules.dep of the
# full tree). Indexing the whole tree takes a while, so it is cached per kernel.
modules_index_full() {
  local kroot=$1 kver=$2
  local cached="$CACHE/modindex/$kver.dep"
  MOD_DEP="$kroot/usr/lib/modules/$kver/modules.dep"
  [ -e "$kroot/lib" ] || ln -s usr/lib "$kroot/lib"
  if [ -s "$cached" ]; then
    cp "$cached" "$MOD_DEP"
    return 0
  fi
  log "indexing all modules of $kver (once per kernel)"
  "$TOOL_BUSYBOX" depmod -b "$kroot" "$kver" || die "depmod failed on the kernel package"
  mkdir -p "$CACHE/modindex"
  cp "$MOD_DEP" "$cached.tmp" && mv "$cached.tmp" "$cached"
}

# Module name -> its path (relative, .ko.xz) in the full tree.
module_path() {
  local n=$1 alt
  alt=$(printf '%s' "$n" | tr '_-' '-_')
  grep -m1 -E "/($n|$alt)\.ko(\.xz)?:" "$MOD_DEP" | cut -d: -f1
}

# Prints the relative paths of the named modules and all their dependencies.
module_closure() {
  local n p
  for n in "$@"; do
    p=$(module_path "$n")
    [ -n "$p" ] || { grep -qE "/$n\.ko" "$(dirname "$MOD_DEP")/modules.builtin" && continue; die "kernel module not found: $n"; }
    grep -m1 "^$p:" "$MOD_DEP" | tr -d ':' | tr ' ' '\n' | sed '/^$/d'
  done | LC_ALL=C sort -u
}

# $1 full kernel root, $2 kver, $3 destination root, then module names: copies
# the closure decompressed into $3/usr/lib/modules/$kver and runs depmod there.
modules_install() {
  local kroot=$1 kver=$2 dest=$3; shift 3
  local src="$kroot/usr/lib/modules/$kver"
  local out="$dest/usr/lib/modules/$kver" rel
  mkdir -p "$out"
  cp "$src/modules.builtin" "$src/modules.builtin.modinfo" "$src/modules.order" "$out/"
  local closure
  # (assigned first: a failure inside a for-list substitution would be ignored)
  closure=$(module_closure "$@")
  for rel in $closure; do
    mkdir -p "$out/$(dirname "$rel")"
    case "$rel" in
      *.xz) xz -dc "$src/$rel" >"$out/${rel%.xz}" ;;
      *) cp "$src/$rel" "$out/$rel" ;;
    esac
  done
  [ -e "$dest/lib" ] || ln -s usr/lib "$dest/lib"
  "$TOOL_BUSYBOX" depmod -b "$dest" "$kver" || die "depmod failed for $dest"
}

# Module names from modules.txt for the given kinds (initramfs, boot, extra, dir),
# for this architecture (a line may end with the architectures it is for).
modules_list() {
  local kind
  for kind in "$@"; do
    if [ "$kind" = dir ]; then
      awk '$1 == "dir" { print $2 }' "$ISO_DIR/modules.txt" | while read -r d; do
        (cd "$(dirname "$MOD_DEP")/kernel" && find "$d" -name '*.ko*' | sed 's,.*/,,; s,\.ko.*,,')
      done
    else
      awk -v k="$kind" -v a="$DEB_ARCH" '$1 == k && (NF < 3 || index(" " substr($0, index($0, $3)) " ", " " a " ")) { print $2 }' "$ISO_DIR/modules.txt"
    fi
  done
}
