# Private apt configuration for Debian 13 packages: its own sources list, lists
# and archive cache, so the build machine's own apt setup is never touched.

APT_SUITE=trixie

apt_setup() {
  local etc="$BUILD/apt"
  # amd64 keeps the lists where they always were; every other architecture has its own.
  APT_STATE="$CACHE/apt"
  [ "$DEB_ARCH" = amd64 ] || APT_STATE="$CACHE/apt-$DEB_ARCH"
  mkdir -p "$etc" "$APT_STATE/lists/partial" "$APT_STATE/archives/partial" "$CACHE/debs"
  cat >"$etc/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $APT_SUITE main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security $APT_SUITE-security main
SRC
  APT_OPTS=(
    -o "Dir::Etc::SourceList=$etc/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::Etc::Preferences=/dev/null"
    -o "Dir::Etc::PreferencesParts=/dev/null"
    -o "Dir::State::Lists=$APT_STATE/lists"
    -o "Dir::State::status=/dev/null"
    -o "Dir::Cache=$APT_STATE"
    -o "APT::Architecture=$DEB_ARCH"
    -o "APT::Architectures::=$DEB_ARCH"
    -o "Debug::NoLocking=1"
    -o "APT::Sandbox::User=root"
  )
}

apt_update() {
  log "apt update ($APT_SUITE $DEB_ARCH, private lists in $APT_STATE)"
  retry apt-get "${APT_OPTS[@]}" -qq update || die "apt-get update failed for $APT_SUITE"
}

# packages.txt's lines that apply to this architecture, "@ARCH@" filled in:
# "name" or "name meta".
package_lines() {
  local name flags
  while read -r name flags; do
    case "$name" in ''|'#'*) continue ;; esac
    case " $flags " in
      *" meta "*) ;;
      "  ") ;;
      *" $DEB_ARCH "*) flags="" ;;
      *) continue ;;
    esac
    echo "${name//@ARCH@/$DEB_ARCH}${flags:+ $flags}"
  done <"$ISO_DIR/packages.txt"
}

# Package names for this architecture, with each "meta" name replaced by the
# kernel package it depends on.
package_names() {
  local name flag dep
  while read -r name flag; do
    if [ "$flag" = meta ]; then
      dep=$(apt-cache "${APT_OPTS[@]}" depends "$name" | sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n1)
      [ -n "$dep" ] || die "cannot resolve $name to a kernel package"
      name=$dep
    fi
    echo "$name"
  done < <(package_lines)
}

# Resolves packages.txt to name=version lines (current candidates), sorted.
apt_resolve() {
  local names out
  mapfile -t names < <(package_names)
  out=$(apt-cache "${APT_OPTS[@]}" policy "${names[@]}" |
    awk '/^[^ ].*:$/ { name = substr($0, 1, length($0) - 1) } /^  Candidate: / { print name "=" $2 }' | LC_ALL=C sort)
  if printf '%s\n' "$out" | grep -q '=(none)$'; then
    die "no candidate in $APT_SUITE for: $(printf '%s\n' "$out" | sed -n 's/=(none)$//p' | tr '\n' ' ')"
  fi
  [ "$(printf '%s\n' "$out" | wc -l)" -eq "${#names[@]}" ] || die "apt-cache policy did not answer for every package"
  printf '%s\n' "$out"
}

# True when packages.lock names the same packages as packages.txt (the kernel
# counts as any linux-image-*).
lock_matches_list() {
  local want have
  want=$(package_lines | awk '{ print ($2 == "meta") ? "linux-image" : $1 }' | LC_ALL=C sort)
  have=$(grep -v '^#' "$LOCK" | sed 's/=.*//; s/^linux-image-.*/linux-image/' | LC_ALL=C sort)
  [ "$want" = "$have" ]
}

# The .deb file name apt gives a name=version (epochs are %3a-escaped).
deb_file() {
  local name=${1%%=*} ver=${1#*=}
  local pattern="${name}_${ver//:/%3a}_"
  # the cache holds every architecture's packages side by side
  local f
  for f in "$CACHE/debs/$pattern$DEB_ARCH.deb" "$CACHE/debs/${pattern}all.deb"; do
    [ -e "$f" ] && { echo "$f"; return 0; }
  done
  return 0
}

# Downloads the given name=version lines into the cache.
apt_download() {
  [ -n "${APT_UPDATED:-}" ] || { apt_update; APT_UPDATED=1; }
  # Builds of both architectures may run at once and share Architecture: all packages.
  exec 9>"$CACHE/debs/.download.lock"
  flock 9
  (cd "$CACHE/debs" && retry apt-get "${APT_OPTS[@]}" -qq download "$@") || return 1
  flock -u 9
  local line
  for line in "$@"; do
    [ -n "$(deb_file "$line")" ] || die "downloaded $line but cannot find its .deb"
  done
}

# Downloads every locked package missing from the cache (exact versions).
apt_fetch_locked() {
  local missing=() line
  while read -r line; do
    case "$line" in ''|'#'*) continue ;; esac
    [ -n "$(deb_file "$line")" ] || missing+=("$line")
  done <"$LOCK"
  [ ${#missing[@]} -eq 0 ] && { log "all packages cached in $CACHE/debs"; return 0; }
  log "downloading ${#missing[@]} packages"
  apt_download "${missing[@]}" ||
    die "download failed; if a locked version left the registry, run: bash iso/build.sh --update-lock --arch $DEB_ARCH"
}
