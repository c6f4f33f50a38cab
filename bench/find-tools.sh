# Sourced by bench/client_compare.sh and bench/relay_compare.sh: finds the
# compared tools and exports what their drivers read (LOGFERRY, SYSLOG_NG,
# RSYSLOGD, RSYSLOG_MODDIR, RSYSLOG_LIBS).  Needs ROOT, BUILD (made absolute),
# TOOLS and ME (the script's name for messages); rsyslog is unpacked into
# BUILD/rsyslog-pkg by tests/interop/fetch-rsyslog.sh, with its RELP modules
# when TOOLS has rsyslog-relp.
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
has_tool() { case " $TOOLS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

export LOGFERRY=${LOGFERRY:-$BUILD/logferry}
export SYSLOG_NG=${SYSLOG_NG:-$(command -v syslog-ng || echo /usr/sbin/syslog-ng)}

if has_tool logferry && [ ! -x "$LOGFERRY" ]; then
  echo "$ME: no logferry at $LOGFERRY; build it first:" >&2
  echo "  cmake -S . -B build-cmp -DCMAKE_BUILD_TYPE=Release -DLOGFERRY_TESTS=OFF && cmake --build build-cmp --target logferry -j2" >&2
  exit 1
fi
if has_tool syslog-ng && [ ! -x "$SYSLOG_NG" ]; then
  echo "$ME: syslog-ng not found (set SYSLOG_NG)" >&2
  exit 1
fi
if has_tool rsyslog || has_tool rsyslog-relp; then
  relp=()
  has_tool rsyslog-relp && relp=(--relp)
  if [ -z "${RSYSLOGD:-}" ]; then
    if ! RSYSLOGD=$(bash "$ROOT/tests/interop/fetch-rsyslog.sh" "${relp[@]+"${relp[@]}"}" "$BUILD/rsyslog-pkg"); then
      echo "$ME: rsyslog could not be fetched (tests/interop/fetch-rsyslog.sh)" >&2
      exit 1
    fi
    pkg=$BUILD/rsyslog-pkg
    RSYSLOG_MODDIR=$(ls -d "$pkg"/usr/lib/*/rsyslog | head -n1)
    RSYSLOG_LIBS=$(ls -d "$pkg"/usr/lib/*-linux-gnu "$pkg"/lib/*-linux-gnu 2>/dev/null | paste -sd: || true)
  else
    RSYSLOG_MODDIR=$(dirname "$(ls /usr/lib/*/rsyslog/imfile.so /usr/lib/rsyslog/imfile.so 2>/dev/null | head -n1)")
    RSYSLOG_LIBS=""
  fi
  for m in imfile ${relp[@]+omrelp imrelp}; do
    if [ ! -e "$RSYSLOG_MODDIR/$m.so" ]; then
      echo "$ME: no $m.so in $RSYSLOG_MODDIR" >&2
      exit 1
    fi
  done
  export RSYSLOGD RSYSLOG_MODDIR RSYSLOG_LIBS
fi

echo "logferry:  $LOGFERRY"
if has_tool syslog-ng; then echo "syslog-ng: $SYSLOG_NG ($("$SYSLOG_NG" --version | head -n1))"; fi
if has_tool rsyslog || has_tool rsyslog-relp; then echo "rsyslogd:  $RSYSLOGD"; fi
