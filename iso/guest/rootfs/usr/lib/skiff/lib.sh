# Helpers for the guest's boot scripts (sourced).
export PATH=/usr/sbin:/usr/bin
# Debian's static busybox prefers its own applets to PATH: e2fsprogs are called by full path.

uptime_s() { local up _; read -r up _ </proc/uptime; echo "$up"; }
# Markers go to the serial console, which the host tails; one line each.
# ttyS0 on amd64, the PL011 ttyAMA0 on arm64 (the build writes which).
SKIFF_CONSOLE=/dev/$(cat /etc/skiff/console 2>/dev/null || echo ttyS0)
marker() { echo "$*" >"$SKIFF_CONSOLE" 2>/dev/null; }
stage() { marker "SKIFF-STAGE $1 $(uptime_s)"; }
error() {
  local what=$1; shift
  marker "SKIFF-ERROR $what $*"
  echo "skiff: $what: $*" >>/var/log/skiff.log
  # With skiff.debug on the kernel command line, the failing step's log follows on the console.
  if grep -qw skiff.debug /proc/cmdline; then
    tail -n 40 "/var/log/$what.log" /var/log/skiff.log >"$SKIFF_CONSOLE" 2>/dev/null
  fi
}
log() { echo "$(uptime_s) $*" >>/var/log/skiff.log; }
