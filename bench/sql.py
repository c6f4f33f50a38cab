#!/usr/bin/env python3
"""Rows per second into PostgreSQL and SQLite: --count messages (default
1,000,000) of about 150 bytes over one TCP connection into logferry
(network() source on a flags(flow-control) path) written by sql(), and the
same messages into rsyslog (imtcp -> ompgsql, an action queue with 2 worker
threads and batches of --rsyslog-batch rows, its best setup) into the same
PostgreSQL server in the same run.

PostgreSQL is a throwaway cluster of tests/server/test_sql_pgsql.py (initdb
in a temp dir, a free loopback port, as the `postgres` user when run as
root; fsync=off, as for the tests) with shared_buffers=128MB. rsyslog is the
Debian package unpacked by tests/interop/fetch-rsyslog.sh --with-pgsql
(rsyslog and rsyslog-pgsql, not installed).

Each run writes into a fresh table; measured:
  rows/s      rows stored / seconds from the first byte sent until
              count(*) says every row is in the table (polled every 50 ms)
  tool CPU    the writer's (logferry's or rsyslogd's) utime+stime per
              million rows
  pg CPU      PostgreSQL's (every process of the cluster) per million rows
  RSS         the writer's peak resident memory (VmHWM)
Every row is checked to be there once (count(DISTINCT message) and count).
A writer that stores no new row for 60 s before all are there is reported
as FAILED, with the message ids missing from its table.

Usage: bench/sql.py [--logferry build/logferry] [--count N]
                    [--batch-lines "1000 10000"] [--pgsql-options "pgsql-copy(no);pgsql-copy(yes)"]
                    (--batch-lines "default": SQLite with logferry's default
                    batch-lines() and log-fifo-size(), with --only sqlite)
                    [--only pgsql,sqlite,rsyslog]
"""
import glob
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "server"))
import lfharness as h  # noqa: E402
import test_sql_pgsql as tp  # noqa: E402
from benchlib import arg_parser, cpu_seconds, message_chunks, peak_rss_mib, start_sender, tree_cpu_seconds  # noqa: E402

PASSWORD = "bench"


class BenchCluster(tp.PgCluster):
    """The tests' cluster with room for a million rows in its buffers."""

    def pg_ctl(self, *args):
        opts = (f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c max_connections=30 -c shared_buffers=128MB")
        return self.run(["pg_ctl", "-D", self.data, "-l", self.log, "-o", opts, "-w", "-t", "60", *args])

    def pids(self):
        """The postmaster and every process it started."""
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            master = int(f.readline())
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
        return [master] + [int(p) for p in out.split()]


class CpuMeter:
    """CPU seconds of a set of processes between start and now, counting
    processes that appear in between from zero."""

    def __init__(self, pids_fn):
        self.pids_fn = pids_fn
        self.base = {p: tree_cpu_seconds([p]) for p in pids_fn()}

    def seconds(self):
        return sum(tree_cpu_seconds([p]) - self.base.get(p, 0.0) for p in self.pids_fn())


STALL_SECONDS = 60


def measure(count, port, chunks, writer_pid, pg, table):
    """Sends chunks to port, waits for count rows; ((rows/s, writer CPU s/M,
    pg CPU s/M or None, writer RSS MiB), None) or (None, what went wrong)."""
    w0 = cpu_seconds(writer_pid)
    pg_meter = CpuMeter(pg.pids) if pg else None
    t0 = time.monotonic()
    sender = start_sender(port, chunks)
    # Until every row is there, or no row came for STALL_SECONDS: then the
    # rows that never came are named, not waited for forever.
    have, last_change = 0, time.monotonic()
    while True:
        n = table.stored()
        now = time.monotonic()
        if n != have:
            have, last_change = n, now
        if n >= count:
            break
        if now - last_change > STALL_SECONDS:
            sender.join()
            return None, f"stalled at {n} rows of {count}; missing ids: {table.missing(count)}"
        time.sleep(0.05)
    seconds = time.monotonic() - t0
    sender.join()
    w_cpu = cpu_seconds(writer_pid) - w0
    pg_cpu = pg_meter.seconds() * 1e6 / count if pg_meter else None
    rss = peak_rss_mib(writer_pid)
    distinct, n = table.check()
    if distinct != count or n != count:
        return None, f"{distinct} distinct rows, {n} rows, {count} sent"
    return (count / seconds, w_cpu * 1e6 / count, pg_cpu, rss), None


def run_logferry(logferry, workdir, name, dest, table, count, chunks, pg):
    port = h.free_port()
    conf_path = os.path.join(workdir, f"{name}.conf")
    with open(conf_path, "w") as f:
        f.write(f"""@version: 4.0
options {{ stats-freq(0); log-fifo-size(100000); }};
source s {{ network(ip("127.0.0.1") port({port}) transport("tcp")); }};
destination d {{ {dest} }};
log {{ source(s); destination(d); flags(flow-control); }};
""")
    return run_writer([logferry, "run", "-f", conf_path], None, port, os.path.join(workdir, f"{name}.log"),
                      count, chunks, pg, table)


def run_writer(cmd, env, port, log_path, count, chunks, pg, table):
    """Starts cmd (a server listening on port), measures it, stops it."""
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        h.wait_until(lambda: h.tcp_listening(port), what=f"{os.path.basename(cmd[0])} listening", timeout=30,
                     proc=proc)
        return measure(count, port, chunks, proc.pid, pg, table)
    finally:
        proc.terminate()
        proc.wait(timeout=120)
        log.close()


COLUMNS = '"host", "program", "pid integer", "message"'
VALUES = '"${HOST}", "${PROGRAM}", "${PID}", "${MSGONLY}"'


class Table:
    """The table a run writes into: rows stored, (distinct, all) rows, and
    which message ids (0 .. count-1) it lacks."""

    def __init__(self, query):
        self.query = query  # SQL -> the first row, or None when the table is not there yet

    def stored(self):
        r = self.query(f"SELECT count(*) FROM {self.name}")
        return int(r[0]) if r else 0

    def check(self):
        d, n = self.query(f"SELECT count(DISTINCT message), count(*) FROM {self.name}")
        return int(d), int(n)

    def missing(self, count, most=20):
        have = set()
        for (m,) in self.rows(f"SELECT message FROM {self.name}"):
            i = m.find("id=")
            if i >= 0:
                have.add(int(m[i + 3:i + 12]))
        gone = [i for i in range(count) if i not in have]
        return ", ".join(map(str, gone[:most])) + (f" and {len(gone) - most} more" if len(gone) > most else "")


class PgTable(Table):
    def __init__(self, pg, name):
        pg.psql(f"CREATE TABLE {name} (host text, program text, pid integer, message text)", "bench")
        self.pg, self.name = pg, name
        super().__init__(lambda sql: pg.psql(sql, "bench")[0])

    def rows(self, sql):
        return self.pg.psql(sql, "bench")


class SqliteTable(Table):
    def __init__(self, db):
        self.db, self.name = db, "messages"
        super().__init__(lambda sql: (self.rows(sql) or [None])[0])

    def rows(self, sql):
        c = sqlite3.connect(self.db, timeout=60)
        try:
            return c.execute(sql).fetchall()
        except sqlite3.OperationalError:
            return []  # the table is not there yet
        finally:
            c.close()


def run_pgsql(pg, logferry, workdir, count, chunks, batch, options, idx):
    table = PgTable(pg, f"lf_{batch}_{idx}")
    dest = (f'sql(type(pgsql) host("127.0.0.1") port({pg.port}) username("lf") password("{PASSWORD}") '
            f'database("bench") table("{table.name}") columns({COLUMNS}) values({VALUES}) '
            f'batch-lines({batch}) log-fifo-size({max(100000, 2 * batch)}) {options});')
    return run_logferry(logferry, workdir, table.name, dest, table, count, chunks, pg)


def run_sqlite(logferry, workdir, count, chunks, batch, options):
    db = os.path.join(workdir, f"bench_{batch}.db")

    table = SqliteTable(db)
    # batch 0: logferry's defaults (batch-lines() and log-fifo-size() left out)
    sizes = f'batch-lines({batch}) log-fifo-size({max(100000, 2 * batch)})' if batch else ""
    dest = (f'sql(type(sqlite3) database("{db}") table("messages") columns({COLUMNS}) values({VALUES}) '
            f'{sizes} {options});')
    try:
        return run_logferry(logferry, workdir, f"sqlite_{batch}", dest, table, count, chunks, None)
    finally:
        for p in glob.glob(db + "*"):
            os.unlink(p)


def find_rsyslog():
    """(rsyslogd, moddir, env) from fetch-rsyslog.sh --with-pgsql, or None."""
    root = os.environ.get("RSYSLOG_DIR") or "/tmp/logferry-rsyslog-pkg"
    p = subprocess.run(["bash", os.path.join(HERE, "..", "tests", "interop", "fetch-rsyslog.sh"), "--with-pgsql",
                        root], capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        print(f"rsyslog skipped: fetch-rsyslog.sh failed ({p.returncode}): {p.stderr.strip()}")
        return None
    moddir = glob.glob(os.path.join(root, "usr/lib/*/rsyslog"))[0]
    libs = [d for d in glob.glob(os.path.join(root, "usr/lib/*-linux-gnu")) + glob.glob(os.path.join(root, "lib/*-linux-gnu"))]
    env = dict(os.environ, LD_LIBRARY_PATH=":".join(libs + [os.environ.get("LD_LIBRARY_PATH", "")]))
    return p.stdout.strip().splitlines()[-1], moddir, env


def run_rsyslog(pg, rsyslog, workdir, count, chunks, batch):
    rsyslogd, moddir, env = rsyslog
    table = PgTable(pg, f"rs_{batch}")
    port = h.free_port()
    conf = os.path.join(workdir, f"{table.name}.conf")
    with open(conf, "w") as f:
        f.write(f"""global(workDirectory="{workdir}")
module(load="imtcp")
module(load="ompgsql")
template(name="row" type="string" option.stdsql="on"
         string="INSERT INTO {table.name} (host, program, pid, message) VALUES ('%hostname%', '%programname%', %procid%, '%msg%')")
input(type="imtcp" port="{port}" address="127.0.0.1")
action(type="ompgsql" server="127.0.0.1" serverport="{pg.port}" user="lf" pass="{PASSWORD}" db="bench"
       template="row" queue.type="LinkedList" queue.size="100000" queue.workerThreads="2"
       queue.dequeueBatchSize="{batch}")
""")
    return run_writer([rsyslogd, "-n", "-f", conf, "-i", os.path.join(workdir, f"{table.name}.pid"), "-M", moddir],
                      env, port, os.path.join(workdir, f"{table.name}.log"), count, chunks, pg, table)


def main():
    ap = arg_parser(__doc__, os.path.join(HERE, "..", "build", "logferry"), "1000 10000")
    ap.add_argument("--pgsql-options", default="pgsql-copy(no);pgsql-copy(yes)",
                    help="';'-separated option sets for sql(type(pgsql)), one run each")
    ap.add_argument("--sqlite-options", default="", help="';'-separated option sets for sql(type(sqlite3))")
    ap.add_argument("--rsyslog-batch", default="1000", help="queue.dequeueBatchSize values for ompgsql")
    ap.add_argument("--only", default="pgsql,sqlite,rsyslog")
    a = ap.parse_args()
    only = a.only.split(",")
    logferry = os.path.abspath(a.logferry)
    workdir = tempfile.mkdtemp(prefix="lf-bench-sql-")
    os.chmod(workdir, 0o755)
    chunks = message_chunks(a.count)
    pg = None
    try:
        print(f"{a.count} messages, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
        print(f"{'writer':<34} {'batch':>6} {'rows/s':>9} {'tool CPU s/M':>13} {'pg CPU s/M':>11} {'RSS MiB':>8}")

        def show(name, batch, outcome):
            r, failure = outcome
            if r is None:
                print(f"{name:<34} {batch:>6} FAILED: {failure}", flush=True)
                return
            rate, cpu, pg_cpu, rss = r
            pgc = f"{pg_cpu:>11.2f}" if pg_cpu is not None else f"{'-':>11}"
            print(f"{name:<34} {batch:>6} {rate:>9.0f} {cpu:>13.2f} {pgc} {rss:>8.1f}", flush=True)
        if "pgsql" in only or "rsyslog" in only:
            if tp.PG_BIN is None:
                raise SystemExit("PostgreSQL's server is not installed (scripts/install-deps.sh installs it)")
            pg = BenchCluster()
            pg.psql(f"CREATE ROLE lf LOGIN PASSWORD '{PASSWORD}'")
            pg.psql("CREATE DATABASE bench OWNER lf")
            pg.psql("GRANT ALL ON SCHEMA public TO lf", "bench")
            pg.psql("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO lf", "bench")
        if "rsyslog" in only:
            rsyslog = find_rsyslog()
            if rsyslog:
                for b in a.rsyslog_batch.split():
                    show("rsyslog ompgsql, 2 workers", b, run_rsyslog(pg, rsyslog, workdir, a.count, chunks, int(b)))
        for b in a.batch_lines.split():
            if "pgsql" in only:
                for i, opts in enumerate(a.pgsql_options.split(";")):
                    show(f"logferry pgsql {opts}", b, run_pgsql(pg, logferry, workdir, a.count, chunks, int(b), opts, i))
            if "sqlite" in only:
                for opts in a.sqlite_options.split(";"):
                    batch = 0 if b == "default" else int(b)
                    show(f"logferry sqlite3 {opts}", b, run_sqlite(logferry, workdir, a.count, chunks, batch, opts))
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
    finally:
        if pg:
            pg.destroy()
        subprocess.run(["rm", "-rf", workdir])


if __name__ == "__main__":
    main()
