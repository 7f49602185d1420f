# Shared helpers for the iso build scripts (sourced, not run).

log() { printf '[iso %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
# The ERR trap's handler (build.sh sets the trap with set -E, so it reaches into
# functions and command substitutions): set -e alone exits silently, so the
# command that ends the build is named. A command substitution runs without
# errexit, and a failure there (a lookup that may come up empty, such as a
# module built into the kernel) ends nothing: only a shell that errexit is about
# to end reports, so a successful build prints no failure.
report_failure() {
  [[ $- == *e* ]] || return 0
  echo "iso/build.sh: failed (exit $1) at $2:$3: $4" >&2
}
die() { printf '[iso] error: %s\n' "$*" >&2; exit 1; }

# Debian's registry indexes are sometimes mid-sync for a minute: retry apt calls.
retry() {
  local n=0
  until "$@"; do
    n=$((n + 1))
    [ "$n" -ge 5 ] && return 1
    log "retrying ($n) in $((n * 10))s: $*"
    sleep $((n * 10))
  done
}

need_tools() {
  local t missing=()
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  [ ${#missing[@]} -eq 0 ] || die "missing host tools: ${missing[*]} (see iso/host-packages.txt)"
}

# Shared libraries an ELF file asks for (DT_NEEDED), read from the file itself
# so the host's ldd and libraries never get a say.
elf_needed() {
  readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\]/\1/p'
}
