#!/usr/bin/env python3
"""Rows per second into ClickHouse: --count messages (default 1,000,000) of
about 150 bytes over one TCP connection into logferry (network() source on a
flags(flow-control) path), written by clickhouse() into a local
clickhouse-server that this script starts (the one of
tests/server/test_clickhouse.py: a temp dir, free loopback ports, as the
`clickhouse` user when run as root).

For each --batch-lines value, a fresh table; measured:
  rows/s   rows stored / seconds from the first byte sent until count()
           says every row is in the table (polled every 50 ms)
  lf CPU   logferry's utime+stime (/proc/PID/stat) per million rows
  CH CPU   clickhouse-server's utime+stime per million rows
  RSS      logferry's peak resident memory (VmHWM)
Every row is checked to be there once (uniqExact and count).

Usage: bench/clickhouse.py [--logferry build/logferry] [--count N]
                           [--batch-lines "1000 10000 50000"]
Takes about a minute per batch-lines value on a 2-core machine.
"""
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "server"))
import lfharness as h  # noqa: E402
import test_clickhouse as tc  # noqa: E402
from benchlib import arg_parser, cpu_seconds, message_chunks, peak_rss_mib, start_sender  # noqa: E402


def run(ch, logferry, count, batch_lines, workdir):
    table = f"bench_{batch_lines}"
    conf_path = os.path.join(workdir, f"lf-{batch_lines}.conf")
    port = h.free_port()
    with open(conf_path, "w") as f:
        f.write(f"""@version: 4.0
options {{ stats-freq(0); log-fifo-size(100000); }};
source s {{ network(ip("127.0.0.1") port({port}) transport("tcp")); }};
destination d {{ clickhouse(url("http://127.0.0.1:{ch.http}") user("lf") password({h.config_string(tc.PASSWORD)})
    database("bench") table("{table}")
    columns("received DateTime", "host", "program", "pid", "message")
    values("${{R_YEAR}}-${{R_MONTH}}-${{R_DAY}} ${{R_HOUR}}:${{R_MIN}}:${{R_SEC}}", "${{HOST}}", "${{PROGRAM}}",
           "${{PID}}", "${{MSGONLY}}")
    batch-lines({batch_lines}) batch-timeout(1000) log-fifo-size({max(100000, 2 * batch_lines)})); }};
log {{ source(s); destination(d); flags(flow-control); }};
""")
    err = open(os.path.join(workdir, f"lf-{batch_lines}.stderr"), "wb")
    lf = subprocess.Popen([logferry, "run", "-f", conf_path], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=err)
    try:
        h.wait_until(lambda: h.tcp_listening(port), what="logferry listening", timeout=30)
        # Messages built before the clock starts: the sender is not measured.
        chunks = message_chunks(count)
        lf_cpu0 = cpu_seconds(lf.pid)
        ch_cpu0 = cpu_seconds(ch.proc.pid)
        t0 = time.monotonic()
        sender = start_sender(port, chunks)

        def stored():
            try:
                return int(ch.query(f"SELECT count() FROM bench.{table}")[0][0])
            except AssertionError:
                return 0  # the table is not there yet
        h.wait_until(lambda: stored() >= count, timeout=1800, interval=0.05,
                     what=lambda: f"{count} rows (have {stored()})")
        seconds = time.monotonic() - t0
        sender.join()
        lf_cpu = cpu_seconds(lf.pid) - lf_cpu0
        ch_cpu = cpu_seconds(ch.proc.pid) - ch_cpu0
        rss = peak_rss_mib(lf.pid)
        uniq, n = ch.query(f"SELECT uniqExact(message), count() FROM bench.{table}")[0]
        if int(uniq) != count or int(n) != count:
            raise SystemExit(f"batch-lines({batch_lines}): {uniq} distinct rows, {n} rows, {count} sent")
        return count / seconds, lf_cpu * 1e6 / count, ch_cpu * 1e6 / count, rss
    finally:
        lf.terminate()
        lf.wait(timeout=60)
        err.close()


def main():
    a = arg_parser(__doc__, os.path.join(HERE, "..", "build", "logferry"), "1000 10000 50000").parse_args()
    if tc.SERVER is None:
        raise SystemExit("clickhouse-server is not installed (scripts/install-deps.sh installs it)")
    ch = tc.ClickHouse()
    workdir = tempfile.mkdtemp(prefix="lf-bench-ch-")
    try:
        version = ch.query("SELECT version()")[0][0]
        print(f"clickhouse-server {version}, {a.count} messages, {os.cpu_count()} cores")
        print(f"{'batch-lines':>12} {'rows/s':>10} {'lf CPU s/M':>11} {'CH CPU s/M':>11} {'lf RSS MiB':>11}")
        for b in a.batch_lines.split():
            rate, lf_cpu, ch_cpu, rss = run(ch, os.path.abspath(a.logferry), a.count, int(b), workdir)
            print(f"{b:>12} {rate:>10.0f} {lf_cpu:>11.2f} {ch_cpu:>11.2f} {rss:>11.1f}", flush=True)
    finally:
        ch.destroy()
        subprocess.run(["rm", "-rf", workdir])


if __name__ == "__main__":
    main()
