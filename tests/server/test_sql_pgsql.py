#!/usr/bin/env python3
"""sql(type(pgsql)): a throwaway PostgreSQL cluster (initdb + pg_ctl in a
temporary directory, on a free loopback port; as the `postgres` user when
the test runs as root) receives rows from logferry, fed by a raw TCP sender
and by a file source; the test reads them back with psql: every row field by
field (typed columns too), tables created on first use from a table-name
template, SQL injection attempts stored as plain text, null(""), rows the
server refuses (bad UTF-8, too long, a NUL byte) reported and counted while
the others are kept, session-statements(), a wrong password retried until it
is fixed, the server restarted in the middle of a load: nothing lost, a
disk-buffer() that keeps rows while the server is down across a kill -9 of
logferry (every row once).  With ferry()
upstream (a client logferry tailing a file, a server logferry writing to
PostgreSQL), every line exactly once when PostgreSQL restarts while a commit
is unanswered, and when the server logferry is killed (kill -9) after
commits its journal did not record: the marks table.

Rows go by COPY FROM STDIN (pgsql-copy(yes), the default) or, with
LF_PGSQL_COPY=no in the environment, by multi-row INSERTs (pgsql-copy(no)):
ctest runs the script once for each (server_sql_pgsql, server_sql_pgsql_insert).

Exits 77 (skipped) only when PostgreSQL's server binaries are not installed."""
import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

import lfharness as h

from sql_ferry_lib import SqlFerryCases

NULL = "\x01"  # how psql prints NULL here
PGSQL_COPY = os.environ.get("LF_PGSQL_COPY", "yes")  # the path under test


def find_pg_bin():
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True):
        if all(os.access(os.path.join(d, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres", "psql")):
            return d
    return None


PG_BIN = find_pg_bin()


class PgCluster:
    """initdb + pg_ctl in a temp dir; TCP on 127.0.0.1:port with password
    (scram) auth, the unix socket in the temp dir with trust auth."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="lf-pg-")
        self.data = os.path.join(self.root, "data")
        self.sock = os.path.join(self.root, "sock")
        self.log = os.path.join(self.root, "server.log")
        os.mkdir(self.sock)
        self.prefix = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for p in (self.root, self.sock):
                os.chown(p, pw.pw_uid, pw.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        os.chmod(self.root, 0o700)
        self.port = h.free_port()
        self.watchdog = subprocess.Popen(
            [sys.executable, "-c", WATCHDOG] + self.prefix +
            [os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "stop", "-m", "immediate"],
            env=dict(os.environ, LF_TEST_PID=str(os.getpid()), LF_PG_ROOT=self.root), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.run(["initdb", "-D", self.data, "-U", "postgres", "-E", "UTF8", "--no-locale", "--no-sync",
                  "--auth-local=trust", "--auth-host=scram-sha-256"])
        self.start()

    def run(self, args, check=True):
        p = subprocess.run(self.prefix + [os.path.join(PG_BIN, args[0])] + args[1:], cwd=self.root,
                           capture_output=True, text=True, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError(f"{args[0]} failed ({p.returncode}): {p.stdout}{p.stderr}\n{self.server_log()}")
        return p

    def server_log(self):
        try:
            with open(self.log) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def pg_ctl(self, *args):
        opts = (f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c max_connections=30 -c shared_buffers=16MB")
        return self.run(["pg_ctl", "-D", self.data, "-l", self.log, "-o", opts, "-w", "-t", "60", *args])

    def start(self):
        self.pg_ctl("start")

    def stop(self):
        self.pg_ctl("stop", "-m", "fast")

    def restart(self):
        self.pg_ctl("restart", "-m", "fast")

    def destroy(self):
        self.run(["pg_ctl", "-D", self.data, "stop", "-m", "immediate"], check=False)
        self.watchdog.kill()
        self.watchdog.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def psql(self, sql, db="postgres"):
        """Rows of `sql` as tuples of str (NULL as None)."""
        p = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-h", self.sock, "-p", str(self.port),
                            "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-A", "-t", "-F", "\x1f",
                            "-R", "\x1e", "-P", f"null={NULL}", "-c", sql],
                           capture_output=True, timeout=30)
        if p.returncode != 0:
            raise AssertionError(f"psql {sql!r}: {p.stderr.decode(errors='replace')}")
        out = p.stdout.decode("utf-8")
        if out.endswith("\n"):
            out = out[:-1]
        if not out:
            return []
        return [tuple(None if f == NULL else f for f in rec.split("\x1f")) for rec in out.split("\x1e")]


# Stops the cluster when the test process dies, however it dies (e.g. a
# ctest timeout kills it): a watchdog that the kernel signals when its
# parent goes (PR_SET_PDEATHSIG) runs `pg_ctl stop -m immediate` and
# removes the cluster's directory.
WATCHDOG = r"""
import ctypes, os, shutil, signal, subprocess, sys
def stop(*_):
    subprocess.run(sys.argv[1:], capture_output=True, timeout=60)
    shutil.rmtree(os.environ["LF_PG_ROOT"], ignore_errors=True)
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
if os.getppid() != int(os.environ["LF_TEST_PID"]):
    stop()
while True:
    signal.pause()
"""

CLUSTER = None


class PgsqlTest(SqlFerryCases, h.ServerTest):

    @classmethod
    def setUpClass(cls):
        global CLUSTER
        if CLUSTER is None:
            CLUSTER = PgCluster()
            CLUSTER.psql("CREATE ROLE lf LOGIN PASSWORD 'se''cret'")

    def setUp(self):
        super().setUp()
        self.pg = CLUSTER
        self.db = "db_" + self._testMethodName[5:35].lower()
        self.pg.psql(f"CREATE DATABASE {self.db} OWNER lf")

    def q(self, sql):
        return self.pg.psql(sql, self.db)

    def count(self, table="messages"):
        rows = self.q(f"SELECT count(*) FROM pg_tables WHERE tablename = '{table}'")
        if rows[0][0] == "0":
            return 0
        return int(self.q(f'SELECT count(*) FROM "{table}"')[0][0])

    def wait_rows(self, n, lf, table="messages", timeout=h.WAIT_TIMEOUT):
        h.wait_until(lambda: self.count(table) >= n, what=lambda: f"{n} rows in {table} (have {self.count(table)})",
                     proc=lf.proc, interval=0.05, timeout=timeout)

    def sql_dest(self, columns, values, table='"messages"', extra="", host="127.0.0.1", password="se'cret"):
        return (f"destination d {{ sql(type(pgsql) host({h.config_string(host)}) port({self.pg.port})\n"
                f"  username(\"lf\") password({h.config_string(password)}) database(\"{self.db}\")\n"
                f"  table({table}) columns({columns})\n  values({values}) {extra} pgsql-copy({PGSQL_COPY})); }};\n")

    def test_rows_match_what_was_sent(self):
        lf = self.tcp_server(self.sql_dest(
            '"datetime timestamp with time zone", "host varchar(64)", "program", "pid integer", "message", '
            '"facility", "level", "msgid", "stamp"',
            '"${R_ISODATE}", "${HOST}", "${PROGRAM}", "${PID}", "${MSGONLY}", "${FACILITY}", "${LEVEL}", '
            '"${MSGID}", "${ISODATE}"', host="localhost", extra='null("") indexes("host", "program")'))
        h.tcp_send(lf.port, b"<165>1 2026-03-04T05:06:07.123+01:00 host1 app 42 ID1 - first message\n"
                            b"<13>Nov 28 08:00:00 host2 prog[7]: second: with colon\n"
                            b"<14>1 2026-11-28T10:00:00Z host3 - - - - \xc3\xa9t\xc3\xa9 unicode\n")
        self.wait_rows(3, lf)
        stats = self.stop_ok(lf)
        rows = self.q("SELECT host, program, pid, message, facility, level, msgid, stamp, "
                      "abs(extract(epoch from now() - datetime)) < 3600 FROM messages ORDER BY pid NULLS LAST")
        self.assertRegex(rows[0][7], r"^\d{4}-11-28T08:00:00\+00:00$")  # the year is guessed
        self.assertEqual(rows, [
            ("host2", "prog", "7", "second: with colon", "user", "notice", None, rows[0][7], "t"),
            ("host1", "app", "42", "first message", "local4", "notice", "ID1", "2026-03-04T05:06:07+01:00", "t"),
            ("host3", None, None, "été unicode", "user", "info", None, "2026-11-28T10:00:00+00:00", "t"),
        ])
        types = dict(self.q("SELECT column_name, data_type FROM information_schema.columns "
                            "WHERE table_name = 'messages'"))
        self.assertEqual(types["datetime"], "timestamp with time zone")
        self.assertEqual(types["pid"], "integer")
        self.assertEqual(types["message"], "text")
        self.assertEqual(sorted(r[0] for r in self.q("SELECT indexname FROM pg_indexes WHERE tablename = 'messages'")),
                         ["messages_host_idx", "messages_program_idx"])
        d = stats["destination"]["d#0"]
        self.assertEqual((d["in"], d["out"], d["errors"], d["dropped_queue_full"]), (3, 3, 0, 0), stats)

    def test_templated_tables_and_injection(self):
        lf = self.tcp_server(self.sql_dest('"program", "message"', '"${PROGRAM}", "${MSGONLY}"',
                                           table='"T_${PROGRAM}"'))
        evil_programs = ["x');DROP", 'a"b;--', "App"]
        # COPY's text format gives meaning to backslash, tab and CR (newline
        # ends the message here), to \N and to \. alone: all stored as sent.
        evil_messages = ["'); DROP TABLE messages; --", '" OR 1=1; --', "\\'; DELETE FROM pg_class; --",
                         "$1 $$ E'\\x00' ?", "Robert'); DROP TABLE Students;--", "\\N", "\\.", "tab\there",
                         "back\\slash \\\\ \\t \\n \\x41 \\101", "carriage\rreturn", "\\"]
        h.tcp_send(lf.port, b"".join(f"<13>1 2026-01-01T00:00:00Z h {p} - - - {m}\n".encode()
                                     for p in evil_programs for m in evil_messages))
        names = ["t_x___drop", "t_a_b___", "t_app"]
        for n in names:
            self.wait_rows(len(evil_messages), lf, n)
        stats = self.stop_ok(lf)
        self.assertEqual(sorted(r[0] for r in self.q("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")),
                         sorted(names + ["logferry_marks"]))
        for prog, n in zip(evil_programs, names):
            self.assertEqual(self.q(f"SELECT program, message FROM {n} ORDER BY ctid"),
                             [(prog, m) for m in evil_messages])
        self.assertEqual(stats["destination"]["d#0"]["errors"], 0, stats)

    def test_refused_rows_are_isolated(self):
        lf = self.tcp_server(self.sql_dest('"n integer", "message varchar(20)"', '"${PID}", "${MSGONLY}"',
                                       extra="batch-lines(50)"))
        lines = []
        good = []
        for i in range(40):
            if i == 5:
                m = b"bad utf8 \xff\xfe"
            elif i == 17:
                m = b"this one is longer than twenty bytes"
            elif i == 30:
                continue  # below
            else:
                m = b"ok %d" % i
                good.append((str(i), m.decode()))
            lines.append(b"<13>1 2026-01-01T00:00:00Z h p %d - - %s\n" % (i, m))
        h.tcp_send(lf.port, b"".join(lines))
        # A NUL ends a line; octet counting (RFC 6587) carries one.
        nul = b"<13>1 2026-01-01T00:00:00Z h p 30 - - nul \x00 byte"
        h.tcp_send(lf.port, b"%d %s" % (len(nul), nul))
        self.wait_rows(len(good), lf)
        stats = self.stop_ok(lf)
        self.assertEqual(self.q("SELECT n, message FROM messages ORDER BY n"), good)
        d = stats["destination"]["d#0"]
        self.assertEqual((d["in"], d["out"], d["errors"]), (40, 37, 3), stats)
        self.assertIn("invalid byte sequence for encoding", lf.stderr)
        self.assertIn("value too long for type character varying(20)", lf.stderr)
        self.assertIn("NUL byte", lf.stderr)
        self.assertIn("n='5' message='bad utf8 \\xff\\xfe'", lf.stderr)

    def test_large_batches_and_a_refused_row_mid_batch(self):
        """Transactions of 5,000 rows of 1 KiB: a COPY's data goes to libpq in
        many pieces while the socket is full.  A row with bad UTF-8 in the
        middle of one makes the server refuse the COPY while its data still
        flows; that batch is written again row by row, all but that row."""
        n, bad = 12000, 7000
        lf = self.tcp_server(self.sql_dest('"n integer", "message"', '"${PID}", "${MSGONLY}"',
                                           extra="batch-lines(5000) log-fifo-size(10000)"), flow_control=True)
        lines = [b"<13>1 2026-01-01T00:00:00Z h p %d - - %s\n" %
                 (i, b"bad \xff utf8" if i == bad else (b"%06d " % i) * 146 + b"x") for i in range(n)]
        h.tcp_send(lf.port, b"".join(lines), timeout=120)
        self.wait_rows(n - 1, lf, timeout=150)  # 5,000 rows one by one: slow under ASan on a busy machine
        stats = self.stop_ok(lf)
        self.assertEqual(self.q("SELECT count(*), count(DISTINCT n), min(n), max(n), sum(length(message)), "
                                "bool_and(message = repeat(lpad(n::text, 6, '0') || ' ', 146) || 'x'), "
                                f"count(*) FILTER (WHERE n = {bad}) FROM messages"),
                         [(str(n - 1), str(n - 1), "0", str(n - 1), str((n - 1) * (7 * 146 + 1)), "t", "0")])
        d = stats["destination"]["d#0"]
        self.assertEqual((d["in"], d["out"], d["errors"]), (n, n - 1, 1), stats)
        self.assertIn("invalid byte sequence for encoding", lf.stderr)

    def test_refused_row_in_a_transaction_of_several_tables(self):
        """Rows for two tables go in BEGIN ... COMMIT; one refused row rolls it
        back, and the rows are written again one by one."""
        lf = self.tcp_server(self.sql_dest('"n integer", "message varchar(10)"', '"${PID}", "${MSGONLY}"',
                                       table='"t_${PROGRAM}"'))
        h.tcp_send(lf.port, b"<13>1 2026-01-01T00:00:00Z h a 1 - - ok\n"
                            b"<13>1 2026-01-01T00:00:00Z h b 2 - - ok\n"
                            b"<13>1 2026-01-01T00:00:00Z h a 3 - - far too long for it\n"
                            b"<13>1 2026-01-01T00:00:00Z h b 4 - - ok\n"
                            b"<13>1 2026-01-01T00:00:00Z h a 5 - - ok\n")
        self.wait_rows(2, lf, "t_a")
        self.wait_rows(2, lf, "t_b")
        stats = self.stop_ok(lf)
        self.assertEqual(self.q("SELECT n FROM t_a ORDER BY n"), [("1",), ("5",)])
        self.assertEqual(self.q("SELECT n FROM t_b ORDER BY n"), [("2",), ("4",)])
        d = stats["destination"]["d#0"]
        self.assertEqual((d["in"], d["out"], d["errors"]), (5, 4, 1), stats)

    def test_existing_tables(self):
        """A table made beforehand by another role, on which lf may only
        INSERT, is written to as it is (lf may not ALTER it, not even with
        ADD COLUMN IF NOT EXISTS); a table lf owns that lacks a column and
        an index gets them."""
        self.q("CREATE TABLE given (host text, message text, extra integer DEFAULT 7); "
               "CREATE INDEX given_host_idx ON given (host); GRANT INSERT ON given TO lf")
        self.q("SET ROLE lf; CREATE TABLE own (host text)")
        lf = self.tcp_server(self.sql_dest('"host", "message"', '"${HOST}", "${MSGONLY}"', table='"${PROGRAM}"',
                                       extra='indexes("host")'))
        h.tcp_send(lf.port, b"<13>1 2026-01-01T00:00:00Z h1 given - - - to the given table\n"
                            b"<13>1 2026-01-01T00:00:00Z h2 own - - - to the own table\n")
        self.wait_rows(1, lf, "given")
        self.wait_rows(1, lf, "own")
        stats = self.stop_ok(lf)
        self.assertEqual(self.q("SELECT host, message, extra FROM given"), [("h1", "to the given table", "7")])
        self.assertEqual(self.q("SELECT host, message FROM own"), [("h2", "to the own table")])
        self.assertEqual(sorted(r[0] for r in self.q("SELECT indexname FROM pg_indexes WHERE tablename = 'own'")),
                         ["own_host_idx"])
        self.assertEqual(self.q("SELECT tableowner FROM pg_tables WHERE tablename = 'given'"), [("postgres",)])
        self.assertNotIn("PostgreSQL error", lf.stderr)
        d = stats["destination"]["d#0"]
        self.assertEqual((d["out"], d["errors"]), (2, 0), stats)

    def test_session_statements(self):
        self.q("CREATE SCHEMA s1 AUTHORIZATION lf")
        lf = self.tcp_server(self.sql_dest('"message"', '"${MSGONLY}"',
                                       extra='session-statements("SET search_path TO s1" '
                                             '"SET application_name = \'lf-session\'")'))
        h.tcp_send(lf.port, b"<13>1 2026-01-01T00:00:00Z h p - - - in s1\n")
        h.wait_until(lambda: self.q("SELECT count(*) FROM pg_tables WHERE schemaname = 's1' "
                                    "AND tablename = 'messages'")[0][0] == "1",
                     what="the table in schema s1", proc=lf.proc)
        h.wait_until(lambda: self.q("SELECT count(*) FROM s1.messages")[0][0] == "1", what="the row", proc=lf.proc)
        apps = [r[0] for r in self.q(f"SELECT application_name FROM pg_stat_activity WHERE datname = '{self.db}'")]
        self.assertIn("lf-session", apps)
        self.stop_ok(lf)
        self.assertEqual(self.q("SELECT message FROM s1.messages"), [("in s1",)])

    def test_wrong_password_is_retried(self):
        self.q("CREATE ROLE lf2 LOGIN PASSWORD 'old'")
        self.q(f"GRANT ALL ON DATABASE {self.db} TO lf2; GRANT ALL ON SCHEMA public TO lf2")
        dest = self.sql_dest('"message"', '"${MSGONLY}"', extra="time-reopen(1)").replace('"lf"', '"lf2"')
        lf = self.tcp_server(dest.replace("se'cret", "new"))
        h.tcp_send(lf.port, b"".join(b"<13>1 2026-01-01T00:00:00Z h p - - - m%d\n" % i for i in range(5)))
        h.wait_until(lambda: "password authentication failed" in lf.stderr_text(), what="the failure reported",
                     proc=lf.proc)
        self.q("ALTER ROLE lf2 PASSWORD 'new'")
        self.wait_rows(5, lf)
        stats = self.stop_ok(lf)
        self.assertEqual(self.q("SELECT message FROM messages ORDER BY ctid"), [(f"m{i}",) for i in range(5)])
        self.assertEqual(stats["destination"]["d#0"]["errors"], 0, stats)

    def load_with_outage(self, disrupt, expect):
        """A flow-controlled TCP sender keeps sending while disrupt() breaks
        the server's side; the rows wait (the sources are held while the
        backlog is full) and every one arrives, once.  `expect`:
        a text logferry reports while rows wait during the outage."""
        lf = self.tcp_server(self.sql_dest('"message"', '"${MSGONLY}"', extra="log-fifo-size(2000) time-reopen(1)"),
                         flow_control=True, options="log-fifo-size(2000);")
        cap = 100000  # rows at most
        sender = h.SteadySender(lf.port, cap)
        self.wait_rows(2000, lf)
        disrupt(lf, expect)
        at_start = sender.sent
        h.wait_until(lambda: self.count() >= min(at_start + 5000, cap), what="the load going on after the outage",
                     proc=lf.proc, interval=0.2, timeout=60)
        self.assertTrue(sender.finish(60), "the sender finished")
        n = sender.sent
        h.wait_until(lambda: self.q("SELECT count(DISTINCT message) FROM messages")[0][0] == str(n),
                     what=lambda: f"{n} distinct rows (have {self.count()})", proc=lf.proc, interval=0.2, timeout=60)
        stats = self.stop_ok(lf)
        got = [r[0] for r in self.q("SELECT message FROM messages")]
        self.assertEqual(sorted(set(got)), [f"row {i:06d}" for i in range(n)])
        self.assertIn("connection to PostgreSQL at 127.0.0.1:%d lost" % self.pg.port, lf.stderr)
        # An unanswered commit is resolved by the commit count in the marks
        # table: no row twice.
        self.assertEqual(len(got), n, lf.stderr[-3000:])
        self.assertEqual(h.source_totals(stats)["dropped_queue_full"], 0, stats)
        d = stats["destination"]["d#0"]
        self.assertEqual((d["errors"], d["dropped_queue_full"]), (0, 0), stats)
        return lf

    def test_server_restart_mid_load(self):
        def restart(lf, expect):
            self.pg.stop()
            try:
                # logferry tried to connect while the server was down and rows waited.
                h.wait_until(lambda: expect in lf.stderr_text(), what="a failed reconnect", proc=lf.proc)
            finally:
                self.pg.start()
        self.load_with_outage(restart, "cannot connect to PostgreSQL")

    def test_backend_killed_mid_load(self):
        """The server process of logferry's connection is killed (SIGKILL):
        it answers nothing, so the last commit's outcome is unknown; the
        server recovers and the rows are written again."""
        def kill_backend(lf, expect):
            pids = self.pg.psql("SELECT pid FROM pg_stat_activity WHERE application_name = 'logferry'")
            self.assertEqual(len(pids), 1, pids)
            os.kill(int(pids[0][0]), signal.SIGKILL)
            h.wait_until(lambda: expect in lf.stderr_text(), what="the loss noticed", proc=lf.proc)
            # The server restarts all its processes after a crash; wait for it.
            h.wait_until(lambda: self.pg.run(["pg_isready", "-h", self.pg.sock, "-p", str(self.pg.port)],
                                             check=False).returncode == 0, what="the server back")
        self.load_with_outage(kill_backend, "lost (")

    def test_positions_wait_for_commit(self):
        """A file source: the server goes down mid-load and logferry is
        stopped while it is down.  The rows it could not commit were not
        taken, so their file positions were not saved: the next logferry,
        with the server back, sends them."""
        src = self.path("in.log")
        state = self.path("state")
        os.mkdir(state)
        n = 5000
        h.append_numbered_lines(src, 0, n // 2)

        def conf(ports):
            return (f"@version: 4.0\noptions {{ stats-freq(0); persist-dir({h.config_string(state)}); }};\n"
                    f"source s {{ file({h.config_string(src)}); }};\n" +
                    self.sql_dest('"message"', '"${MSG}"', extra="time-reopen(1)") +
                    "log { source(s); destination(d); };\n")
        lf = self.logferry(conf, nports=0, name="lf1")
        self.wait_rows(n // 2, lf)
        self.pg.stop()
        try:
            h.append_numbered_lines(src, n // 2, n)
            h.wait_sources_in(lf, n)
            stats = self.stop_ok(lf)
            self.assertIn("rows not committed", lf.stderr)
            self.assertGreater(stats["destination"]["d#0"]["dropped_queue_full"], 0, stats)
        finally:
            self.pg.start()
        self.assertEqual(self.count(), n // 2, "nothing was written while the server was down")
        lf = self.logferry(conf, nports=0, name="lf2")
        self.wait_rows(n, lf)
        self.stop_ok(lf)
        got = [r[0] for r in self.q("SELECT message FROM messages ORDER BY ctid")]
        self.assertEqual(got, [f"line {i:05d}" for i in range(n)], "every line once, in order")

    def test_disk_buffer_survives_kill_while_down(self):
        """disk-buffer(reliable(yes)): the server is down while lines come,
        so they wait in the buffer; logferry is killed (SIGKILL) and started
        again, the server comes back, and every line arrives exactly once,
        in order."""
        if PGSQL_COPY == "no":
            self.skipTest("the buffer is the same whichever way rows are written: run with COPY only")
        buf = self.path("buffers")
        dest = self.sql_dest('"message"', '"${MSGONLY}"',
                             extra=f"time-reopen(1) disk-buffer(reliable(yes) dir({h.config_string(buf)}))")
        sent, stats = self.disk_buffer_across_kill(dest, buf, 2000, self.pg.stop, self.pg.start, self.count)
        self.assertEqual([r[0] for r in self.q("SELECT message FROM messages ORDER BY ctid")], sent,
                         "every line exactly once, in order")
        self.assertEqual(stats["destination"]["d#0"]["errors"], 0, stats)

    # ---- ferry() upstream: the marks table (sql_ferry_lib.py) ----

    def sql_ferry_dest(self):
        return self.sql_dest('"message"', '"${MSG}"', extra="time-reopen(1)")

    def stored_count(self):
        return self.count()

    def stored_messages(self):
        return [r[0] for r in self.q("SELECT message FROM messages")]

    def test_ferry_pg_restart_with_unanswered_commit(self):
        """PostgreSQL restarts (pg_ctl restart -m immediate) mid-load while
        logferry's COMMIT is unanswered.  To make that certain, the commit
        waits for a synchronous standby that does not exist: it is durable
        but never answered.  After the restart the commit count in the
        marks table says it happened: its rows are not written again."""
        total = 6000
        server, _, client, _ = self.ferry_pair()
        writer = self.start_writer(total, 3000)
        self.wait_rows(1000, server)
        self.q("ALTER SYSTEM SET synchronous_standby_names = 'nobody'")
        self.q("SELECT pg_reload_conf()")
        h.wait_until(lambda: self.q("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'logferry' "
                                    "AND wait_event = 'SyncRep'")[0][0] == "1",
                     what="logferry's commit waiting for the standby", proc=server.proc)
        self.q("ALTER SYSTEM RESET synchronous_standby_names")
        self.pg.pg_ctl("restart", "-m", "immediate")
        h.wait_until(lambda: "connection to PostgreSQL at 127.0.0.1:%d lost" % self.pg.port in server.stderr_text(),
                     what="the connection loss noticed", proc=server.proc)
        writer.join()
        self.check_every_line_once(total, server.proc)
        self.assertIn("had happened", server.stderr_text())
        self.stop_ferry_pair(client, server)

    def test_ferry_receiver_kill9_after_commits_not_journaled(self):
        self.receiver_kill9_after_commits_not_journaled()


def main():
    def destroy():
        if CLUSTER is not None:
            CLUSTER.destroy()
    h.main_with_server(None if PG_BIN else "PostgreSQL server binaries (initdb, pg_ctl) not found under "
                       "/usr/lib/postgresql/*/bin", "postgres", destroy)


if __name__ == "__main__":
    main()
