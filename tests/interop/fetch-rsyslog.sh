#!/usr/bin/env bash
# Unpacks Debian's rsyslog into a directory, without installing it, for the
# interop test test_rsyslog_forward.py.
#
# rsyslog conflicts with syslog-ng-core (both provide system-log-daemon), so it
# cannot be installed next to it; the test runs the unpacked rsyslogd instead.
#
# Usage: fetch-rsyslog.sh [--check] [--with-pgsql] [--relp] [DIR]
#   DIR defaults to $RSYSLOG_DIR, else /tmp/logferry-rsyslog-pkg.
#   --check: download nothing; exit 0 when DIR holds a usable rsyslogd, else 77.
#   --with-pgsql: also unpack rsyslog-pgsql (the ompgsql module, for
#     bench/sql.py).  Only its module is needed: its other Depends (debconf,
#     dbconfig-common, ucf) serve the package's install scripts, which do not
#     run; libpq5 is unpacked too when it is not installed.
#   --relp: also unpack rsyslog-relp (imrelp.so, omrelp.so; their library
#     librelp0 is installed by scripts/install-deps.sh, else unpacked too), for
#     bench/relay_compare.sh.
#
# When DIR/usr/sbin/rsyslogd is missing, `apt-get download rsyslog` fetches the
# package into DIR/debs and `dpkg-deb -x` unpacks it into DIR.  Each package it
# depends on that is not installed (normally libestr0, libfastjson4 and
# liblognorm5, which scripts/install-deps.sh installs) is downloaded and
# unpacked into DIR too; the test then runs rsyslogd with LD_LIBRARY_PATH set to
# DIR's library directories.  Nothing outside DIR is changed, except that
# `apt-get update` is run (as root) when apt's package lists do not know rsyslog.
#
# Prints the path of rsyslogd on success (exit 0).  Exit 77 (the tests' "skip")
# when a package cannot be downloaded (no apt, no package source reachable);
# exit 1 when what was unpacked does not work (a library still unresolved).
set -euo pipefail

check_only=0
with_pgsql=0
relp=0
while [ $# -gt 0 ]; do
  case "$1" in
    --check) check_only=1; shift ;;
    --with-pgsql) with_pgsql=1; shift ;;
    --relp) relp=1; shift ;;
    *) break ;;
  esac
done
dir=${1:-${RSYSLOG_DIR:-/tmp/logferry-rsyslog-pkg}}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
rsyslogd="$dir/usr/sbin/rsyslogd"

multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null \
            || gcc -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")
export LD_LIBRARY_PATH="$dir/usr/lib/$multiarch:$dir/lib/$multiarch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
moddir="$dir/usr/lib/$multiarch/rsyslog"

# The shared objects the test loads: rsyslogd and the modules it uses.
objects() {
  echo "$rsyslogd"
  local m
  local mods="imtcp lmnet lmnetstrms lmnsd_ptcp lmtcpsrv lmtcpclt"
  [ "$relp" -eq 0 ] || mods="$mods imrelp omrelp"
  for m in $mods; do
    [ -e "$moddir/$m.so" ] && echo "$moddir/$m.so"
  done
  if [ "$with_pgsql" -eq 1 ] && [ -e "$moddir/ompgsql.so" ]; then echo "$moddir/ompgsql.so"; fi
  return 0
}

# Libraries ldd cannot resolve, one per line.
unresolved() {
  local o
  objects | while read -r o; do
    ldd "$o" 2>/dev/null | awk '/not found/ { print $1 }'
  done | sort -u
}

ready() {
  [ -x "$rsyslogd" ] && [ -e "$moddir/imtcp.so" ] &&
    { [ "$with_pgsql" -eq 0 ] || [ -e "$moddir/ompgsql.so" ]; } &&
    { [ "$relp" -eq 0 ] || [ -e "$moddir/omrelp.so" ]; } && [ -z "$(unresolved)" ]
}

# One fetch at a time per directory (ctest may run tests in parallel).
exec 9>"$dir/.lock"
flock 9

if ready; then
  echo "$rsyslogd"
  exit 0
fi
if [ "$check_only" -eq 1 ]; then
  echo "fetch-rsyslog: no usable rsyslogd in $dir" >&2
  exit 77
fi

if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
  echo "fetch-rsyslog: apt-get and dpkg-deb are needed to fetch rsyslog" >&2
  exit 77
fi

debs="$dir/debs"
mkdir -p "$debs"
updated=0

# Downloads package $1 into $debs (once) and prints the .deb's path.
download() {
  local pkg=$1 f
  f=$(ls "$debs/${pkg}"_*.deb 2>/dev/null | head -n1 || true)
  if [ -z "$f" ]; then
    if ! (cd "$debs" && apt-get download -qq "$pkg" >/dev/null 2>"$debs/apt.err"); then
      # Package lists missing or stale (a fresh container): refresh them once.
      if [ "$updated" -eq 0 ] && [ "$(id -u)" -eq 0 ]; then
        updated=1
        echo "fetch-rsyslog: apt-get download $pkg failed; running apt-get update" >&2
        apt-get -o DPkg::Lock::Timeout=300 update -qq >&2 || true
      fi
      (cd "$debs" && apt-get download -qq "$pkg" >/dev/null 2>"$debs/apt.err") || {
        echo "fetch-rsyslog: apt-get download $pkg failed:" >&2
        cat "$debs/apt.err" >&2
        return 77
      }
    fi
    f=$(ls "$debs/${pkg}"_*.deb 2>/dev/null | head -n1 || true)
    [ -n "$f" ] || { echo "fetch-rsyslog: no .deb for $pkg after download" >&2; return 1; }
  fi
  echo "$f"
}

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

# Unpacks package $1 and, recursively, each of its Depends that is neither
# installed nor already unpacked (the first of alternatives `a | b` unless one
# of them is installed).
declare -A seen=()
unpack() {
  local pkg=$1 deb deps alt name any
  [ -n "${seen[$pkg]:-}" ] && return 0
  seen[$pkg]=1
  deb=$(download "$pkg") || return $?
  echo "fetch-rsyslog: unpacking $(basename "$deb")" >&2
  dpkg-deb -x "$deb" "$dir"
  deps=$(dpkg-deb -f "$deb" Depends 2>/dev/null || true)
  [ -n "$deps" ] || return 0
  while read -r alt; do
    [ -n "$alt" ] || continue
    any=""
    for name in $(echo "$alt" | tr '|' '\n' | sed -e 's/(.*)//' -e 's/:.*//' -e 's/ //g'); do
      if installed "$name"; then any=yes; break; fi
    done
    [ -n "$any" ] && continue
    name=$(echo "$alt" | cut -d'|' -f1 | sed -e 's/(.*)//' -e 's/:.*//' -e 's/ //g')
    unpack "$name" || return $?
  done < <(echo "$deps" | tr ',' '\n')
}

if [ ! -x "$rsyslogd" ] || [ ! -e "$moddir/imtcp.so" ]; then
  unpack rsyslog || exit $?
else
  seen[rsyslog]=1
  # rsyslogd is there but a library is not (e.g. removed since): fetch the
  # missing dependencies of the cached rsyslog package.
  deb=$(download rsyslog) || exit $?
  while read -r alt; do
    name=$(echo "$alt" | cut -d'|' -f1 | sed -e 's/(.*)//' -e 's/:.*//' -e 's/ //g')
    if [ -n "$name" ] && ! installed "$name"; then unpack "$name" || exit $?; fi
  done < <(dpkg-deb -f "$deb" Depends | tr ',' '\n')
fi

if [ "$with_pgsql" -eq 1 ] && [ ! -e "$moddir/ompgsql.so" ]; then
  deb=$(download rsyslog-pgsql) || exit $?
  echo "fetch-rsyslog: unpacking $(basename "$deb")" >&2
  dpkg-deb -x "$deb" "$dir"
  installed libpq5 || unpack libpq5 || exit $?
fi
if [ "$relp" -eq 1 ] && [ ! -e "$moddir/omrelp.so" ]; then
  unpack rsyslog-relp || exit $?
fi

if ! ready; then
  echo "fetch-rsyslog: rsyslogd is still not usable from $dir" >&2
  [ "$with_pgsql" -eq 0 ] || [ -e "$moddir/ompgsql.so" ] || echo "  missing: $moddir/ompgsql.so" >&2
  [ -x "$rsyslogd" ] || echo "  missing: $rsyslogd" >&2
  [ -e "$moddir/imtcp.so" ] || echo "  missing: $moddir/imtcp.so" >&2
  [ "$relp" -eq 0 ] || [ -e "$moddir/omrelp.so" ] || echo "  missing: $moddir/omrelp.so" >&2
  u=$(unresolved)
  [ -z "$u" ] || echo "  unresolved libraries: $(echo "$u" | tr '\n' ' ')" >&2
  exit 1
fi
echo "$rsyslogd"
