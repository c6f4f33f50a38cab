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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "server"))
import lfharness as h  # noqa: E402
import test_clickhouse as tc  # noqa: E402
from benchlib import arg_parser, timed_run, write_conf  # noqa: E402


def run(ch, logferry, count, batch_lines, workdir):
    table = f"bench_{batch_lines}"
    conf_path = os.path.join(workdir, f"lf-{batch_lines}.conf")
    port = write_conf(conf_path, f"""clickhouse(url("http://127.0.0.1:{ch.http}") user("lf")
    password({h.config_string(tc.PASSWORD)}) database("bench") table("{table}")
    columns("received DateTime", "host", "program", "pid", "message")
    values("${{R_YEAR}}-${{R_MONTH}}-${{R_DAY}} ${{R_HOUR}}:${{R_MIN}}:${{R_SEC}}", "${{HOST}}", "${{PROGRAM}}",
           "${{PID}}", "${{MSGONLY}}")
    batch-lines({batch_lines}) batch-timeout(1000) log-fifo-size({max(100000, 2 * batch_lines)}))""")

    def stored():
        try:
            return int(ch.query(f"SELECT count() FROM bench.{table}")[0][0])
        except AssertionError:
            return 0  # the table is not there yet
    figures = timed_run(logferry, conf_path, port, count, stored, ch.proc.pid)
    uniq, n = ch.query(f"SELECT uniqExact(message), count() FROM bench.{table}")[0]
    if int(uniq) != count or int(n) != count:
        raise SystemExit(f"batch-lines({batch_lines}): {uniq} distinct rows, {n} rows, {count} sent")
    return figures


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
