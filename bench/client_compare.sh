#!/usr/bin/env bash
# The client role's benchmark: logferry, syslog-ng and rsyslog each tail files
# and forward them over TCP, on this machine, in one run, and a table of the
# results.  Every daemon runs in the foreground as this user with its own
# config and state under a temporary directory, on free random loopback ports.
#
# Workloads:
#   e2e   file -> TCP -> file, end to end: LINES (default 1,000,000) lines of
#         about 200 bytes, generated before the clock starts, appended to a
#         followed file in 4 MiB writes.  Each tool runs as the client and as
#         its own server: logferry -> logferry, syslog-ng -> syslog-ng,
#         rsyslog -> rsyslog (imfile -> omfwd -> imtcp -> omfile); RFC 3164 on
#         the wire, the same line written by every server.  A warm-up line
#         first (once it is in the server's file the client follows the file
#         and is connected), then the clock runs from the first byte appended
#         until the server's file holds the last line.  Reported: msgs/s end
#         to end; CPU seconds per million lines of the client and of the
#         server (utime+stime of all threads, /proc/PID/stat, over the run);
#         peak RSS of each (VmHWM); lines lost and repeated (read after both
#         stopped); "other load": CPU used meanwhile by everything else on
#         the machine (/proc/stat), since the machine may be shared.
#   rss   idle memory: a client following RSS_FILES (100) files and
#         forwarding over TCP, after one line of each file arrived at its
#         server and RSS_SETTLE (5) seconds more: VmRSS, PSS and private
#         memory (/proc/PID/smaps_rollup), peak RSS.
#   idle  CPU of a client following IDLE_FILES (1,000) idle files for
#         IDLE_SECONDS (60) seconds (one line each first, so every file is
#         open and the connection up).  The three clients are measured side by
#         side over the same window, each on its own CPU counters.
#
# Tuning, all in bench/client/*.conf:
#   logferry   wildcard-file() of the log directory, max-files(5000),
#              log-fifo-size(100000); network() destination; flow-control.
#   syslog-ng  file() source (wildcard-file() for rss and idle) with
#              flags(no-parse), log-iw-size(20000), log-fetch-limit(1000);
#              network() destination with log-fifo-size(200000),
#              flush-lines(1000); flags(flow-control); threaded(yes).  Server
#              as bench/configs/syslog-ng-tcp.conf.
#   rsyslog    imfile in inotify mode; the forwarding ruleset has an in-memory
#              LinkedList queue that never discards (discardSeverity 8,
#              2,000,000 messages, timeoutEnqueue) and dequeues in batches of
#              2048; omfwd retries forever.  Server: imtcp -> omfile as
#              bench/configs/rsyslog-tcp.conf.
#
# Usage: bench/client_compare.sh [--build DIR] [--tools "logferry syslog-ng rsyslog"]
#                                [--lines N] [--workloads "e2e rss idle"]
#                                [--idle-seconds S] [--idle-files N] [--rss-files N]
#                                [--quick] [--keep]
#   --build DIR   where logferry was built (default build-cmp:
#                 cmake -S . -B build-cmp -DCMAKE_BUILD_TYPE=Release -DLOGFERRY_TESTS=OFF
#                 && cmake --build build-cmp --target logferry -j2); rsyslog is
#                 unpacked into DIR/rsyslog-pkg (tests/interop/fetch-rsyslog.sh).
#   --quick       200,000 lines and 10 s of idle CPU: to try the script.
#   --keep        keep the temporary directory (configs, logs, outputs).
# Environment: LOGFERRY, SYSLOG_NG, RSYSLOGD override the binaries;
# IDLE_SECONDS, LINES set the defaults of --idle-seconds and --lines.
#
# It takes about 3 minutes on a 2-core machine (1 for e2e, 1 for the idle CPU
# window, the rest starting and stopping daemons).  The machine the figures
# come from may be shared: compare within one run, look at "other load", and
# repeat before believing a difference of less than about 30 %.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build-cmp
TOOLS="logferry syslog-ng rsyslog"
LINES=${LINES:-1000000}
IDLE_SECONDS=${IDLE_SECONDS:-60}
IDLE_FILES=1000
RSS_FILES=100
WORKLOADS="e2e rss idle"
KEEP=()

while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --tools) TOOLS=$2; shift 2 ;;
    --lines) LINES=$2; shift 2 ;;
    --workloads) WORKLOADS=$2; shift 2 ;;
    --idle-seconds) IDLE_SECONDS=$2; shift 2 ;;
    --idle-files) IDLE_FILES=$2; shift 2 ;;
    --rss-files) RSS_FILES=$2; shift 2 ;;
    --quick) LINES=200000; IDLE_SECONDS=10; shift ;;
    --keep) KEEP=(--keep); shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "client_compare.sh: unknown option '$1' (--help lists them)" >&2; exit 2 ;;
  esac
done

ME=client_compare.sh
. "$ROOT/bench/find-tools.sh"
exec python3 "$ROOT/bench/client/driver.py" --tools "$TOOLS" --lines "$LINES" --workloads "$WORKLOADS" \
  --idle-seconds "$IDLE_SECONDS" --idle-files "$IDLE_FILES" --rss-files "$RSS_FILES" "${KEEP[@]+"${KEEP[@]}"}"
