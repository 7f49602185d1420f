# Private apt configuration for Debian 13 packages: its own sources list, lists
# and archive cache, so the build machine's own apt setup is never touched.

APT_SUITE=trixie

apt_setup() {
  local etc="$BUILD/apt"
  mkdir -p "$etc" "$CACHE/apt/lists/partial" "$CACHE/apt/archives/partial" "$CACHE/debs"
  cat >"$etc/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $APT_SUITE main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security $APT_SUITE-security main
SRC
  APT_OPTS=(
    -o "Dir::Etc::SourceList=$etc/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::Etc::Preferences=/dev/null"
    -o "Dir::Etc::PreferencesParts=/dev/null"
    -o "Dir::State::Lists=$CACHE/apt/lists"
    -o "Dir::State::status=/dev/null"
    -o "Dir::Cache=$CACHE/apt"
    -o "APT::Architecture=amd64"
    -o "APT::Architectures::=amd64"
    -o "Debug::NoLocking=1"
    -o "APT::Sandbox::User=root"
  )
}

apt_update() {
  log "apt update ($APT_SUITE, private lists in $CACHE/apt)"
  retry apt-get "${APT_OPTS[@]}" -qq update || die "apt-get update failed for $APT_SUITE"
}

# Package names from packages.txt, with each "meta" name replaced by the
# kernel package it depends on.
package_names() {
  local name flag dep
  while read -r name flag; do
    case "$name" in ''|'#'*) continue ;; esac
    if [ "$flag" = meta ]; then
      dep=$(apt-cache "${APT_OPTS[@]}" depends "$name" | sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n1)
      [ -n "$dep" ] || die "cannot resolve $name to a kernel package"
      name=$dep
    fi
    echo "$name"
  done <"$ISO_DIR/packages.txt"
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
  want=$(grep -v '^ *#' "$ISO_DIR/packages.txt" | awk 'NF { print ($2 == "meta") ? "linux-image" : $1 }' | LC_ALL=C sort)
  have=$(grep -v '^#' "$LOCK" | sed 's/=.*//; s/^linux-image-.*/linux-image/' | LC_ALL=C sort)
  [ "$want" = "$have" ]
}

# The .deb file name apt gives a name=version (epochs are %3a-escaped).
deb_file() {
  local name=${1%%=*} ver=${1#*=}
  local pattern="${name}_${ver//:/%3a}_"
  ls "$CACHE/debs/$pattern"*.deb 2>/dev/null | head -n1
}

# Downloads every locked package missing from the cache (exact versions).
apt_fetch_locked() {
  local missing=() line
  while read -r line; do
    case "$line" in ''|'#'*) continue ;; esac
    [ -n "$(deb_file "$line")" ] || missing+=("$line")
  done <"$LOCK"
  [ ${#missing[@]} -eq 0 ] && { log "all packages cached in $CACHE/debs"; return 0; }
  [ -n "${APT_UPDATED:-}" ] || { apt_update; APT_UPDATED=1; }
  log "downloading ${#missing[@]} packages"
  (cd "$CACHE/debs" && retry apt-get "${APT_OPTS[@]}" -qq download "${missing[@]}") ||
    die "download failed; if a locked version left the registry, run: bash iso/build.sh --update-lock"
  for line in "${missing[@]}"; do
    [ -n "$(deb_file "$line")" ] || die "downloaded $line but cannot find its .deb"
  done
}
