#!/usr/bin/env bash
# The server role's benchmark: the same workloads against logferry, syslog-ng
# and rsyslog, in one run on this machine, and a table of the results.
#
# Workloads (each against a freshly started daemon, on free random loopback
# ports, with its own state and output under a temporary directory):
#   tcp-1conn   --tcp-count messages (default 1,000,000) of about 200 bytes
#               over one TCP connection, into one file
#   tcp-Nconn   the same over --tcp-conns connections (default 4; 0 skips it)
#   udp-RATE    UDP at each of --udp-rates messages/s for --udp-seconds
#               seconds, into one file
# The TCP workloads run --reps times (default 5), the tools interleaved; the
# table gives the median msgs/s and CPU, and the worst loss and memory; the
# ratios are also given as the median of the ratios within each rep (whose
# runs are seconds apart, so a machine shared with other work disturbs them
# less).  The UDP workloads run once.
#
# Per tool and workload:
#   sent/s     messages sent / seconds the sender took to send them (for
#              UDP the rate offered; the sender may fall short of the one
#              asked for when the machine is busy)
#   msgs/s     lines written / seconds from the first byte sent until the
#              last line was in the output file (bench/sender.cc follows
#              the file; no sleep is part of a measurement)
#   CPU s/M    the daemon's utime+stime (/proc/PID/stat, all threads) over
#              the run, per million lines written
#   loss       messages sent that are not in the file (by sequence number,
#              read after the daemon stopped); dup: lines whose sequence
#              number was already written; a line that does not end with
#              its message's text (after "<PRI>STAMP HOST ") is reported as
#              altered, and the run ends with whether every tool's output
#              held exactly the messages sent
#   RSS        the daemon's peak resident memory (VmHWM) over the run
#   other load CPU used during the run by everything but the daemon and the
#              sender (/proc/stat minus both), in cores: the machine may be
#              shared, and this shows by how much.  It includes kernel work
#              for the run itself (file writeback, softirqs): about 0.4-0.8
#              cores during a TCP run on an otherwise idle 2-core machine.
#
# Tools: logferry, syslog-ng, rsyslog, and "copy": the baseline, a raw byte
# copy (`lf-sender sink`: whole lines from the socket into the file, nothing
# parsed), the most any receiver could do on this machine at that moment.
#
# The client and relay roles have their own comparisons, reached from here
# too (the rest of the arguments are theirs; see each script's header):
#   bench/compare.sh --role client ...   = bench/client_compare.sh ...
#   bench/compare.sh --role relay ...    = bench/relay_compare.sh ...
#   bench/compare.sh [--role server] ... = this script's workloads below
#
# Usage: bench/compare.sh [--build DIR] [--tools "logferry syslog-ng rsyslog copy"]
#                         [--tcp-count N] [--tcp-conns K] [--reps R]
#                         [--udp-rates "50000 100000 200000 300000 400000"]
#                         [--udp-seconds S] [--quick] [--keep] [--summarize FILE]
#   --build DIR  where logferry was built (default build-cmp; its Release
#                build: cmake -S . -B build-cmp -DCMAKE_BUILD_TYPE=Release
#                -DLOGFERRY_TESTS=OFF && cmake --build build-cmp --target logferry).
#                The sender is compiled into DIR/lf-sender and rsyslog is
#                unpacked into DIR/rsyslog-pkg (tests/interop/fetch-rsyslog.sh).
#   --quick      a short run to try the script: 200,000 messages, 1 rep,
#                two UDP rates for 2 s.
#   --keep       keep the temporary directory (configs, outputs, logs,
#                results.tsv).
#   --summarize FILE  only print the tables of a kept results.tsv.
# Environment: LOGFERRY, SYSLOG_NG, RSYSLOGD override the binaries; CONFIGS the
# directory of the config templates (default bench/configs).
#
# It takes 5-6 minutes on a 2-core machine.  The daemons run as this user
# and are stopped (SIGTERM) after each run; on exit, or on Ctrl-C, every
# daemon still running is stopped and the temporary directory removed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "${1:-}" = "--role" ]; then
  case "${2:-}" in
    client) shift 2; exec "$ROOT/bench/client_compare.sh" "$@" ;;
    relay) shift 2; exec "$ROOT/bench/relay_compare.sh" "$@" ;;
    server) shift 2 ;;
    *) echo "compare.sh: --role takes client, relay or server" >&2; exit 2 ;;
  esac
fi
BUILD=$ROOT/build-cmp
TOOLS="logferry syslog-ng rsyslog copy"
TCP_COUNT=1000000
TCP_CONNS=4
REPS=5
UDP_RATES="50000 100000 200000 300000 400000"
UDP_SECONDS=5
KEEP=0
SUMMARIZE=""

while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --tools) TOOLS=$2; shift 2 ;;
    --tcp-count) TCP_COUNT=$2; shift 2 ;;
    --tcp-conns) TCP_CONNS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --udp-rates) UDP_RATES=$2; shift 2 ;;
    --udp-seconds) UDP_SECONDS=$2; shift 2 ;;
    --quick) TCP_COUNT=200000; REPS=1; UDP_RATES="50000 200000"; UDP_SECONDS=2; shift ;;
    --keep) KEEP=1; shift ;;
    --summarize) SUMMARIZE=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown option '$1' (--help lists them)" >&2; exit 2 ;;
  esac
done

# summarize RESULTS.tsv: per workload and tool, the median msgs/s and CPU and
# the worst loss, dup and RSS; logferry's ratios; the goals.
summarize() {
  awk -F'\t' -v tools="$TOOLS" '
    function median(s,   a, n, i, j, t) {
      n = split(s, a, " ")
      for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    {
      k = $1 SUBSEP $2
      if (!(k in n)) { order[++nk] = k }
      n[k]++; sent[k] += $4; written[k] += $5
      rate[k] = rate[k] " " $9; cpu[k] = cpu[k] " " $10; oth[k] = oth[k] " " $15; off[k] = off[k] " " $16
      if ($6 > loss[k]) loss[k] = $6
      if ($7 > dup[k]) dup[k] = $7
      if ($11 > rss[k]) rss[k] = $11
      if (!($1 in seenwl)) { seenwl[$1] = 1; wls[++nw] = $1 }
      RR[$1, $2, $3] = $9; CC[$1, $2, $3] = $10
      if (!(($1, $3) in seenrep)) { seenrep[$1, $3] = 1; reps[$1] = reps[$1] " " $3 }
    }
    END {
      printf "| workload | tool | sent/s | msgs/s | CPU s per M msgs | loss | dup | peak RSS MB | other load (cores) |\n"
      printf "|---|---|---:|---:|---:|---:|---:|---:|---:|\n"
      for (i = 1; i <= nk; i++) {
        k = order[i]; split(k, p, SUBSEP)
        r = median(rate[k]); c = median(cpu[k])
        R[k] = r; C[k] = c
        lossp = sent[k] ? 100 * loss[k] * n[k] / sent[k] : 0
        printf "| %s | %s | %.2f M | %.2f M | %.2f | %d%s | %d | %.1f | %.2f |\n", p[1], p[2], median(off[k]) / 1e6, r / 1e6, c, loss[k],
               (loss[k] ? sprintf(" (%.1f %%)", lossp) : ""), dup[k], rss[k] / 1024, median(oth[k])
      }
      printf "\nlogferry against each (msgs/s: logferry / other, higher is better; CPU: logferry / other, lower is better;\n"
      printf "per rep: the median of the ratios within each rep, whose runs are close in time):\n\n"
      printf "| workload | vs | msgs/s ratio | CPU ratio | msgs/s ratio per rep | CPU ratio per rep |\n|---|---|---:|---:|---:|---:|\n"
      nt = split(tools, T, " ")
      for (w = 1; w <= nw; w++) {
        lk = wls[w] SUBSEP "logferry"
        if (!(lk in R)) continue
        for (t = 1; t <= nt; t++) {
          if (T[t] == "logferry") continue
          ok = wls[w] SUBSEP T[t]
          if (!(ok in R) || R[ok] == 0 || C[ok] == 0) continue
          # Paired: the ratio within each rep, then the median.
          nr = split(reps[wls[w]], RP, " "); pr = ""; pc = ""
          for (q = 1; q <= nr; q++) {
            a = wls[w] SUBSEP "logferry" SUBSEP RP[q]; b = wls[w] SUBSEP T[t] SUBSEP RP[q]
            if ((a in RR) && (b in RR) && RR[b] > 0 && CC[b] > 0) { pr = pr " " RR[a] / RR[b]; pc = pc " " CC[a] / CC[b] }
          }
          PR[wls[w], T[t]] = pr == "" ? R[lk] / R[ok] : median(pr)
          PC[wls[w], T[t]] = pc == "" ? C[lk] / C[ok] : median(pc)
          printf "| %s | %s | %.2f | %.2f | %.2f | %.2f |\n", wls[w], T[t], R[lk] / R[ok], C[lk] / C[ok],
                 PR[wls[w], T[t]], PC[wls[w], T[t]]
        }
      }
      # The goals: over TCP (one connection) at least 2x rsyslog msgs/s and at
      # most half its CPU per million, no loss; at the highest UDP rate, less
      # loss than syslog-ng and rsyslog (copy, the baseline, is no rival).
      # The verdicts use the per-rep (paired) ratios; the ratio of the
      # medians is shown next to them.
      lk = "tcp-1conn" SUBSEP "logferry"; rk = "tcp-1conn" SUBSEP "rsyslog"
      printf "\nGoals (TCP: the median of the per-rep ratios; in brackets the ratio of the medians):\n"
      if ((lk in R) && (rk in R)) {
        pr = PR["tcp-1conn", "rsyslog"]; pc = PC["tcp-1conn", "rsyslog"]
        printf "  TCP msgs/s >= 2x rsyslog:        %.2fx (%.2fx)  %s\n", pr, R[lk] / R[rk], (pr >= 2 ? "MET" : "MISSED")
        printf "  TCP CPU/M <= 0.5x rsyslog:       %.2fx (%.2fx)  %s\n", pc, C[lk] / C[rk], (pc <= 0.5 ? "MET" : "MISSED")
        printf "  TCP no loss, no duplicates:      loss %d, dup %d  %s\n", loss[lk], dup[lk], (loss[lk] == 0 && dup[lk] == 0 ? "MET" : "MISSED")
      }
      maxwl = ""; maxrate = -1
      for (w = 1; w <= nw; w++) if (wls[w] ~ /^udp-/) { v = substr(wls[w], 5) + 0; if (v > maxrate) { maxrate = v; maxwl = wls[w] } }
      lk = maxwl SUBSEP "logferry"
      if (maxwl != "" && (lk in R)) {
        ok = 1; txt = ""
        for (t = 1; t <= nt; t++) {
          o = maxwl SUBSEP T[t]
          if (T[t] == "logferry" || T[t] == "copy" || !(o in R)) continue
          txt = txt sprintf(", %s %d", T[t], loss[o])
          if (!(loss[lk] < loss[o])) ok = 0
        }
        verdict = ok ? "MET" : "MISSED"
        if (!ok && loss[lk] == 0) verdict = "TIED (logferry lost nothing, and neither did another)"
        printf "  UDP %s: less loss than both:  logferry %d%s  %s\n", maxwl, loss[lk], txt, verdict
      }
    }' "$1"
}

if [ -n "$SUMMARIZE" ]; then
  summarize "$SUMMARIZE"
  exit 0
fi

mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
LOGFERRY=${LOGFERRY:-$BUILD/logferry}
SYSLOG_NG=${SYSLOG_NG:-$(command -v syslog-ng || echo /usr/sbin/syslog-ng)}
SENDER=$BUILD/lf-sender
CONFIGS=${CONFIGS:-$ROOT/bench/configs}
HZ=$(getconf CLK_TCK)

has_tool() { case " $TOOLS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# --- binaries ---------------------------------------------------------------

if has_tool logferry && [ ! -x "$LOGFERRY" ]; then
  echo "compare.sh: no logferry at $LOGFERRY; build it first:" >&2
  echo "  cmake -S . -B build-cmp -DCMAKE_BUILD_TYPE=Release -DLOGFERRY_TESTS=OFF && cmake --build build-cmp --target logferry -j2" >&2
  exit 1
fi
if has_tool syslog-ng && [ ! -x "$SYSLOG_NG" ]; then
  echo "compare.sh: syslog-ng not found (set SYSLOG_NG)" >&2
  exit 1
fi
if [ ! -x "$SENDER" ] || [ "$ROOT/bench/sender.cc" -nt "$SENDER" ]; then
  c++ -std=c++17 -O2 -pthread -o "$SENDER" "$ROOT/bench/sender.cc"
fi

RSYSLOG_LIBS=""
RSYSLOG_MODDIR=""
if has_tool rsyslog; then
  if [ -z "${RSYSLOGD:-}" ]; then
    if ! RSYSLOGD=$(bash "$ROOT/tests/interop/fetch-rsyslog.sh" "$BUILD/rsyslog-pkg"); then
      echo "compare.sh: rsyslog could not be fetched (tests/interop/fetch-rsyslog.sh)" >&2
      exit 1
    fi
    pkg=$BUILD/rsyslog-pkg
    RSYSLOG_MODDIR=$(ls -d "$pkg"/usr/lib/*/rsyslog | head -n1)
    RSYSLOG_LIBS=$(ls -d "$pkg"/usr/lib/*-linux-gnu "$pkg"/lib/*-linux-gnu 2>/dev/null | tr "\n" ":" || true)
  else
    RSYSLOG_MODDIR=$(dirname "$(ls /usr/lib/*/rsyslog/imptcp.so /usr/lib/rsyslog/imptcp.so 2>/dev/null | head -n1)")
  fi
fi

# --- the temporary directory and cleanup ------------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/logferry-compare.XXXXXX")
PIDS=()  # daemons started and not yet reaped

proc_state() {  # R, S, Z, ... or empty when gone
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  s=${s##*) }
  echo "${s%% *}"
}

stop_pid() {  # SIGTERM, up to 20 s, then SIGKILL; reaps; sets STOP_RC to the exit status
  local pid=$1 i st rc
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    st=$(proc_state "$pid")
    [ -z "$st" ] || [ "$st" = Z ] && break
    sleep 0.1
  done
  st=$(proc_state "$pid")
  if [ -n "$st" ] && [ "$st" != Z ]; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rc=0
  wait "$pid" 2>/dev/null || rc=$?
  local keep=()
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  PIDS=("${keep[@]+"${keep[@]}"}")
  STOP_RC=$rc
}

cleanup() {
  local p
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do stop_pid "$p"; done
  if [ "$KEEP" = 1 ]; then
    echo "(temporary files kept in $TMP)"
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- daemons ------------------------------------------------------------------

port_bound() {  # proto port: listening (tcp) or bound (udp) on any address
  local proto=$1 hex
  hex=$(printf '%04X' "$2")
  if [ "$proto" = tcp ]; then
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v p="$hex" '$4 == "0A" && $2 ~ (":" p "$") { f = 1 } END { exit !f }'
  else
    cat /proc/net/udp /proc/net/udp6 2>/dev/null | awk -v p="$hex" 'NR > 1 && $2 ~ (":" p "$") { f = 1 } END { exit !f }'
  fi
}

render_config() {  # template out: fills in @PORT@, @OUT@, @DIR@
  sed -e "s|@PORT@|$PORT|g" -e "s|@OUT@|$RUNDIR/out.log|g" -e "s|@DIR@|$RUNDIR/state|g" "$1" > "$2"
}

# start_daemon TOOL PROTO: sets DPID and PORT; output goes to $RUNDIR/out.log
start_daemon() {
  local tool=$1 proto=$2 attempt i conf
  mkdir -p "$RUNDIR/state"
  for attempt in 1 2 3; do
    PORT=$("$SENDER" freeport)
    case "$tool" in
      logferry)
        conf=$RUNDIR/logferry.conf
        render_config "$CONFIGS/logferry-$proto.conf" "$conf"
        TZ=UTC "$LOGFERRY" run -f "$conf" --persist-dir "$RUNDIR/state" \
          </dev/null >>"$RUNDIR/daemon.log" 2>&1 &
        ;;
      syslog-ng)
        conf=$RUNDIR/syslog-ng.conf
        render_config "$CONFIGS/syslog-ng-$proto.conf" "$conf"
        TZ=UTC "$SYSLOG_NG" -F -e --no-caps -f "$conf" -p "$RUNDIR/state/syslog-ng.pid" \
          -c "$RUNDIR/state/syslog-ng.ctl" -R "$RUNDIR/state/syslog-ng.persist" \
          </dev/null >>"$RUNDIR/daemon.log" 2>&1 &
        ;;
      copy)
        "$SENDER" sink "$proto" --port "$PORT" --out "$RUNDIR/out.log" \
          </dev/null >>"$RUNDIR/daemon.log" 2>&1 &
        ;;
      rsyslog)
        conf=$RUNDIR/rsyslog.conf
        render_config "$CONFIGS/rsyslog-$proto.conf" "$conf"
        TZ=UTC LD_LIBRARY_PATH="$RSYSLOG_LIBS${LD_LIBRARY_PATH:-}" "$RSYSLOGD" -n -f "$conf" \
          -i "$RUNDIR/state/rsyslogd.pid" ${RSYSLOG_MODDIR:+-M "$RSYSLOG_MODDIR"} \
          </dev/null >>"$RUNDIR/daemon.log" 2>&1 &
        ;;
    esac
    DPID=$!
    PIDS+=("$DPID")
    for ((i = 0; i < 300; i++)); do
      if port_bound "$proto" "$PORT"; then return 0; fi
      local st
      st=$(proc_state "$DPID")
      [ -z "$st" ] || [ "$st" = Z ] && break
      sleep 0.05
    done
    echo "compare.sh: $tool did not start on $proto port $PORT (attempt $attempt):" >&2
    tail -n 20 "$RUNDIR/daemon.log" >&2 || true
    stop_pid "$DPID"
  done
  return 1
}

cpu_ticks() {  # utime + stime of every thread of the process
  local s
  s=$(cat "/proc/$1/stat")
  s=${s##*) }
  # after "pid (comm) ": state is field 1, utime 12, stime 13
  echo "$s" | awk '{ print $12 + $13 }'
}

busy_ticks() {  # non-idle CPU ticks of the whole machine
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

vmhwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

kv() {  # kv KEY "k=v k=v ...": the value of KEY
  echo "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'
}

RESULTS=$TMP/results.tsv
ALTERED=()  # "WORKLOAD TOOL rep R: N" for every run whose output holds altered lines
: > "$RESULTS"
RUN=0

# run_one WORKLOAD TOOL REP PROTO SENDER-ARGS...
run_one() {
  local wl=$1 tool=$2 rep=$3 proto=$4
  shift 4
  RUN=$((RUN + 1))
  RUNDIR=$TMP/run-$RUN-$wl-$tool
  mkdir -p "$RUNDIR"
  if ! start_daemon "$tool" "$proto"; then
    printf '%-12s %-10s rep %s: did not start\n' "$wl" "$tool" "$rep"
    return 0
  fi
  local settle=5000
  [ "$proto" = udp ] && settle=2000
  local load c0 c1 s0 s1 w0 w1 hwm out chk rc
  load=$(cut -d' ' -f1 /proc/loadavg)
  s0=$(busy_ticks); w0=$(date +%s%N)
  c0=$(cpu_ticks "$DPID")
  out=$("$SENDER" "$proto" --port "$PORT" "$@" --wait "$RUNDIR/out.log" --settle "$settle")
  c1=$(cpu_ticks "$DPID")
  s1=$(busy_ticks); w1=$(date +%s%N)
  hwm=$(vmhwm_kb "$DPID")
  stop_pid "$DPID"
  rc=$STOP_RC
  local sent errs lines secs scpu ssecs
  sent=$(kv sent "$out"); errs=$(kv send_errors "$out"); lines=$(kv lines "$out")
  secs=$(kv last_line_s "$out"); scpu=$(kv cpu_s "$out"); ssecs=$(kv send_s "$out")
  # Read after the daemon stopped, so that a late duplicate counts too.
  chk=$("$SENDER" check "$RUNDIR/out.log" "$((sent + errs))")
  local written dup missing other altered
  written=$(kv lines "$chk"); dup=$(kv dup "$chk")
  missing=$(kv missing "$chk"); other=$(kv other "$chk"); altered=$(kv altered "$chk")
  local loss=$((missing - errs))
  awk -v wl="$wl" -v tool="$tool" -v rep="$rep" -v sent="$sent" -v written="$written" \
      -v loss="$loss" -v dup="$dup" -v other="$other" -v secs="$secs" -v lines="$lines" \
      -v ticks="$((c1 - c0))" -v hz="$HZ" -v hwm="$hwm" -v scpu="$scpu" -v load="$load" -v rc="$rc" \
      -v busy="$((s1 - s0))" -v wall_ns="$((w1 - w0))" -v ssecs="$ssecs" \
      'BEGIN {
         rate = secs > 0 ? lines / secs : 0
         cpu = written > 0 ? ticks / hz / written * 1e6 : 0
         # CPU used by everything else on the machine during the run, in cores
         others = (busy - ticks - scpu * hz) / hz / (wall_ns / 1e9)
         if (others < 0) others = 0
         offered = ssecs > 0 ? sent / ssecs : 0
         printf "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%.0f\t%.3f\t%d\t%.3f\t%s\t%s\t%.2f\t%.0f\n",
                wl, tool, rep, sent, written, loss, dup, other, rate, cpu, hwm, scpu, load, rc, others, offered
       }' >> "$RESULTS"
  tail -n 1 "$RESULTS" | awk -F'\t' '{
      printf "  %-11s %-10s rep %s: %8d sent (%7.0f/s) %8d written  %9.0f msgs/s  %6.3f CPU s/M  loss %d dup %d  RSS %.1f MB  (sender CPU %.2f s, other processes %.2f cores, load %s, exit %s)\n",
             $1, $2, $3, $4, $16, $5, $9, $10, $6, $7, $11 / 1024, $12, $15, $13, $14 }'
  if [ "$other" != 0 ]; then
    echo "    note: $other lines without a sequence number in $tool's output"
  fi
  if [ "$altered" != 0 ]; then
    echo "    note: $altered lines of $tool's output do not end with the message sent (split, mangled, truncated)"
    ALTERED+=("$wl $tool rep $rep: $altered")
  fi
  if [ "$KEEP" != 1 ]; then rm -f "$RUNDIR/out.log"; fi
}

# --- the run ----------------------------------------------------------------

START=$(date +%s)
echo "bench/compare.sh: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), load average $(cut -d' ' -f1-3 /proc/loadavg)"
has_tool logferry && echo "  logferry:  $("$LOGFERRY" --version 2>&1 | head -n1) ($LOGFERRY)"
has_tool syslog-ng && echo "  syslog-ng: $("$SYSLOG_NG" --version 2>&1 | head -n1) ($SYSLOG_NG)"
has_tool rsyslog && echo "  rsyslog:   $(LD_LIBRARY_PATH="$RSYSLOG_LIBS${LD_LIBRARY_PATH:-}" "$RSYSLOGD" -v 2>&1 | head -n1 | tr -s ' ') ($RSYSLOGD)"
has_tool copy && echo "  copy:      $SENDER sink (the baseline: a raw byte copy, nothing parsed)"
echo "  messages: ~$("$SENDER" sample 1000 | awk '{ s += length($0) } END { printf "%.0f", s / NR }') bytes, RFC 3164; configs: bench/configs/*.conf; temp dir $TMP"
echo

for ((rep = 1; rep <= REPS; rep++)); do
  for tool in $TOOLS; do
    run_one tcp-1conn "$tool" "$rep" tcp --count "$TCP_COUNT" --conns 1
  done
  if [ "$TCP_CONNS" -gt 1 ]; then
    for tool in $TOOLS; do
      run_one "tcp-${TCP_CONNS}conn" "$tool" "$rep" tcp --count "$TCP_COUNT" --conns "$TCP_CONNS"
    done
  fi
done
for rate in $UDP_RATES; do
  for tool in $TOOLS; do
    run_one "udp-$((rate / 1000))k" "$tool" 1 udp --rate "$rate" --seconds "$UDP_SECONDS"
  done
done

END_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "Results ($((($(date +%s) - START))) s; load average at the end $END_LOAD; medians of $REPS reps for TCP):"
echo
summarize "$RESULTS"
echo
if [ ${#ALTERED[@]} -eq 0 ]; then
  echo "Outputs: every line written ends with the text of the message sent (lf-sender check): the tools wrote the same messages."
else
  echo "Outputs: lines that do not end with the message sent (lf-sender check):"
  printf '  %s\n' "${ALTERED[@]}"
fi
