#!/usr/bin/env python3
"""sql(type(sqlite3)): util-linux `logger` and a raw TCP sender -> logferry ->
an SQLite file, read back with Python's sqlite3: every row field by field,
tables created on first use (also from a table-name template, sanitized),
SQL injection attempts stored as plain text, null(""), a database locked by
another connection (waited out: nothing lost, nothing refused), rows the
database refuses (reported and counted, the others kept), a full backlog
holding a flow-controlled TCP sender, and logferry restarted in the middle
of a load read from a file (nothing lost), a disk-buffer() that keeps rows
for a locked database across a kill -9 (every row once).  With ferry()
upstream (a client logferry tailing a file, a server logferry writing to
SQLite), every line exactly once when the server logferry is killed (kill -9)
after commits its journal did not record: the marks table.  Config errors
name the line."""
import os
import re
import socket
import sqlite3
import subprocess
import threading
import time
import unittest

import lfharness as h
from sql_ferry_lib import SqlFerryCases

HOSTNAME = socket.gethostname()
HOST3164 = HOSTNAME.split(".")[0]
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


def conf_head(options=""):
    return f"@version: 4.0\noptions {{ keep-hostname(yes); stats-freq(0); {options} }};\n"


def tcp_source(port, flow_control=False):
    return f'source s {{ network(ip("127.0.0.1") port({port}) transport("tcp")); }};\n'


def log_path(flow_control=False):
    return "log { source(s); destination(d); " + ("flags(flow-control); " if flow_control else "") + "};\n"


def sql_dest(db, table='"messages"', columns=None, values=None, extra=""):
    columns = columns or '"datetime" "host" "program" "pid" "message"'
    values = values or '"${R_ISODATE}" "${HOST}" "${PROGRAM}" "${PID}" "${MSGONLY}"'
    return (f"destination d {{ sql(type(sqlite3) database({h.config_string(db)}) table({table})\n"
            f"  columns({columns})\n  values({values}) {extra}); }};\n")


def logger(*args, stdin=None):
    p = subprocess.run(["logger", *args], input=stdin, capture_output=True, timeout=30)
    if p.returncode != 0:
        raise AssertionError(f"logger {args} failed: {p.returncode} {p.stderr!r}")


def query(db, sql, args=()):
    """Rows of a query on a fresh connection; [] while the database or table
    does not exist yet."""
    if not os.path.exists(db):
        return []
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return []
        raise
    finally:
        con.close()


def count(db, table="messages"):
    rows = query(db, f'SELECT count(*) FROM "{table}"')
    return rows[0][0] if rows else 0


def tables(db):
    """The data tables (not the marks table)."""
    return sorted(r[0] for r in query(db, "SELECT name FROM sqlite_master WHERE type='table'")
                  if r[0] != "logferry_marks")


class SqliteTest(SqlFerryCases, h.ServerTest):

    def server(self, dest, flow_control=False, options="", name="lf"):
        def conf(ports):
            return conf_head(options) + tcp_source(ports[0]) + dest + log_path(flow_control)
        return self.logferry(conf, name=name)

    def wait_rows(self, db, n, lf, table="messages"):
        h.wait_until(lambda: count(db, table) >= n, what=lambda: f"{n} rows in {table} (have {count(db, table)})",
                     proc=lf.proc)

    def test_rows_match_what_was_sent(self):
        db = self.path("logs.db")
        lf = self.server(sql_dest(db, columns='"datetime" "host" "program" "pid" "message" "facility" "level" '
                                              '"msgid" "stamp"',
                                  values='"${R_ISODATE}" "${HOST}" "${PROGRAM}" "${PID}" "${MSGONLY}" '
                                         '"${FACILITY}" "${LEVEL}" "${MSGID}" "${ISODATE}"'))
        p = str(lf.port)
        logger("-n", "127.0.0.1", "-P", p, "-T", "--rfc3164", "-t", "app1", "--id=4242", "-p", "local3.warning",
               "hello tcp")
        logger("-n", "127.0.0.1", "-P", p, "-T", "--rfc5424", "-t", "web", "--id=99", "--msgid", "ACCESS",
               "-p", "mail.err", "grüße 5424")
        # Exact stamps and fields from a raw sender, in one connection.
        h.tcp_send(lf.port, b"<165>1 2026-03-04T05:06:07.123+01:00 host1 app 42 ID1 - first message\n"
                            b"<13>Nov 28 08:00:00 host2 prog[7]: second: with colon\n"
                            b"<14>1 2026-11-28T10:00:00Z host3 - - - - \xc3\xa9t\xc3\xa9 unicode\n")
        self.wait_rows(db, 5, lf)
        stats = self.stop_ok(lf)
        rows = query(db, 'SELECT datetime, host, program, pid, message, facility, level, msgid, stamp '
                         'FROM messages ORDER BY rowid')
        self.assertEqual(len(rows), 5, rows)
        for r in rows:
            self.assertRegex(r[0], ISO_RE, "R_ISODATE")
        self.assertEqual([r[1:8] for r in rows], [
            (HOST3164, "app1", "4242", "hello tcp", "local3", "warning", ""),
            (HOSTNAME, "web", "99", "grüße 5424", "mail", "err", "ACCESS"),
            ("host1", "app", "42", "first message", "local4", "notice", "ID1"),
            ("host2", "prog", "7", "second: with colon", "user", "notice", ""),
            ("host3", "", "", "été unicode", "user", "info", ""),
        ])
        self.assertEqual(rows[2][8], "2026-03-04T05:06:07+01:00")
        self.assertRegex(rows[3][8], r"^\d{4}-11-28T08:00:00\+00:00$")  # the year is guessed
        # Every column is text (the default type).
        types = {r[1]: r[2].lower() for r in query(db, "PRAGMA table_info(messages)")}
        self.assertEqual(set(types.values()), {"text"}, types)
        self.assertEqual(query(db, "PRAGMA journal_mode")[0][0], "wal")
        d = stats["destination"]["d#0"]
        self.assertEqual((d["in"], d["out"], d["errors"], d["dropped_queue_full"]), (5, 5, 0, 0), stats)

    def test_templated_table_creates_each_table(self):
        db = self.path("logs.db")
        lf = self.server(sql_dest(db, table='"logs_${PROGRAM}"', columns='"program" "message"',
                                  values='"${PROGRAM}" "${MSGONLY}"', extra='indexes("program")'))
        h.tcp_send(lf.port, b"".join(b"<13>1 2026-01-01T00:00:00Z h alpha - - - a%d\n" % i for i in range(3)) +
                   b"<13>1 2026-01-01T00:00:00Z h beta.x-y - - - b0\n"
                   b"<13>1 2026-01-01T00:00:00Z h alpha - - - a3\n")
        self.wait_rows(db, 4, lf, "logs_alpha")
        self.wait_rows(db, 1, lf, "logs_beta_x_y")
        self.stop_ok(lf)
        self.assertEqual(tables(db), ["logs_alpha", "logs_beta_x_y"])
        self.assertEqual(query(db, "SELECT program, message FROM logs_alpha ORDER BY rowid"),
                         [("alpha", "a0"), ("alpha", "a1"), ("alpha", "a2"), ("alpha", "a3")])
        self.assertEqual(query(db, "SELECT program, message FROM logs_beta_x_y"), [("beta.x-y", "b0")])
        indexes = sorted(r[0] for r in query(db, "SELECT name FROM sqlite_master WHERE type='index' "
                                                 "AND tbl_name != 'logferry_marks'"))
        self.assertEqual(indexes, ["logs_alpha_program_idx", "logs_beta_x_y_program_idx"])

    def test_many_table_names_are_forgotten_and_found_again(self):
        """Table names made from a message field: past 1,000 names logferry
        forgets them (bounded memory) and checks each again on its next row;
        rows still land in the right tables."""
        db = self.path("logs.db")
        lf = self.server(sql_dest(db, table='"t_${PROGRAM}"', columns='"message"', values='"${MSGONLY}"'))
        n = 1050
        h.tcp_send(lf.port, b"".join(b"<13>1 2026-01-01T00:00:00Z h p%04d - - - first\n" % i for i in range(n)))
        self.wait_rows(db, 1, lf, "t_p%04d" % (n - 1))
        h.wait_until(lambda: "table names seen" in lf.stderr_text(), what="the names forgotten", proc=lf.proc)
        h.tcp_send(lf.port, b"".join(b"<13>1 2026-01-01T00:00:00Z h p%04d - - - second\n" % i for i in (0, 1, n - 1)))
        self.wait_rows(db, 2, lf, "t_p%04d" % (n - 1))
        stats = self.stop_ok(lf)
        self.assertEqual(len(tables(db)), n)
        for i in (0, 1, n - 1):
            self.assertEqual(query(db, f"SELECT message FROM t_p{i:04d} ORDER BY rowid"), [("first",), ("second",)])
        self.assertEqual(query(db, "SELECT message FROM t_p0500"), [("first",)])
        d = stats["destination"]["d#0"]
        self.assertEqual((d["out"], d["errors"]), (n + 3, 0), stats)

    def test_monthly_table_and_existing_table_gets_missing_columns(self):
        db = self.path("logs.db")
        # A table made earlier with fewer columns: the missing one is added.
        month = time.strftime("%Y%m", time.localtime())
        con = sqlite3.connect(db)
        con.execute(f'CREATE TABLE "messages_{month}" (host text, extra integer)')
        con.execute(f"INSERT INTO messages_{month} (host, extra) VALUES ('old', 1)")
        con.commit()
        con.close()
        lf = self.server(sql_dest(db, table='"messages_${R_YEAR}${R_MONTH}"', columns='"host" "message varchar(100)"',
                                  values='"${HOST}" "${MSGONLY}"'), options='')
        h.tcp_send(lf.port, b"<13>1 2026-01-01T00:00:00Z h1 p - - - new row\n")
        self.wait_rows(db, 2, lf, f"messages_{month}")
        self.stop_ok(lf)
        self.assertEqual(query(db, f"SELECT host, message, extra FROM messages_{month} ORDER BY rowid"),
                         [("old", None, 1), ("h1", "new row", None)])
        types = {r[1]: r[2] for r in query(db, f"PRAGMA table_info(messages_{month})")}
        self.assertEqual(types["message"], "varchar(100)")

    def test_injection_lands_as_text(self):
        db = self.path("logs.db")
        lf = self.server(sql_dest(db, table='"t_${PROGRAM}"', columns='"program" "message"',
                                  values='"${PROGRAM}" "${MSGONLY}"'))
        evil_programs = ["x');DROP", 'a"b;--', "t_1'OR'1'='1"]
        evil_messages = ["'); DROP TABLE t_x___DROP; --", '" OR 1=1; --', "\\'; DELETE FROM sqlite_master; --",
                         "Robert'); DROP TABLE Students;--", "$1 ? ?2 :name @x %s"]
        lines = b"".join(f"<13>1 2026-01-01T00:00:00Z h {p} - - - {m}\n".encode()
                         for p in evil_programs for m in evil_messages)
        h.tcp_send(lf.port, lines)
        names = ["t_x___DROP", "t_a_b___", "t_t_1_OR_1___1"]
        for n in names:
            self.wait_rows(db, len(evil_messages), lf, n)
        stats = self.stop_ok(lf)
        self.assertEqual(tables(db), sorted(names))
        for prog, n in zip(evil_programs, names):
            self.assertEqual(query(db, f'SELECT program, message FROM "{n}" ORDER BY rowid'),
                             [(prog, m) for m in evil_messages])
        self.assertEqual(stats["destination"]["d#0"]["errors"], 0, stats)

    def test_null_value(self):
        db = self.path("logs.db")
        lf = self.server(sql_dest(db, columns='"program" "pid" "msgid" "message"',
                                  values='"${PROGRAM}" "${PID}" "${MSGID}" "${MSGONLY}"', extra='null("")'))
        h.tcp_send(lf.port, b"<13>1 2026-01-01T00:00:00Z h p1 - - - no pid\n"
                            b"<13>1 2026-01-01T00:00:00Z h p2 77 M - with pid\n"
                            b"<13>1 2026-01-01T00:00:00Z h p3 - - - \n")
        self.wait_rows(db, 3, lf)
        self.stop_ok(lf)
        self.assertEqual(query(db, "SELECT program, pid, msgid, message FROM messages ORDER BY rowid"),
                         [("p1", None, None, "no pid"), ("p2", "77", "M", "with pid"), ("p3", None, None, None)])
        # Without null() an empty value is an empty string; marks-table("")
        # writes no marks table.
        db2 = self.path("logs2.db")
        lf = self.server(sql_dest(db2, columns='"pid"', values='"${PID}"', extra='marks-table("")'), name="lf2")
        h.tcp_send(lf.port, b"<13>1 2026-01-01T00:00:00Z h p1 - - - no pid\n")
        self.wait_rows(db2, 1, lf)
        self.stop_ok(lf)
        self.assertEqual(query(db2, "SELECT pid FROM messages"), [("",)])
        self.assertEqual(query(db2, "SELECT name FROM sqlite_master WHERE type='table'"), [("messages",)])

    def test_batch_timeout(self):
        """With batch-timeout(), fewer rows than batch-lines() are committed
        once the oldest has waited that long."""
        db = self.path("logs.db")
        lf = self.server(sql_dest(db, columns='"message"', values='"${MSGONLY}"',
                                  extra="batch-lines(1000) batch-timeout(200)"))
        h.tcp_send(lf.port, b"".join(b"<13>1 2026-01-01T00:00:00Z h p - - - m%d\n" % i for i in range(3)))
        self.wait_rows(db, 3, lf)
        h.tcp_send(lf.port, b"<13>1 2026-01-01T00:00:00Z h p - - - m3\n")
        self.wait_rows(db, 4, lf)
        self.stop_ok(lf)
        self.assertEqual(query(db, "SELECT message FROM messages ORDER BY rowid"), [("m0",), ("m1",), ("m2",), ("m3",)])
        # The marks table holds this destination's commit count (no ferry()
        # rows, so no stream marks): m3 was committed after m0-m2.
        marks = query(db, "SELECT stream, seq FROM logferry_marks")
        self.assertEqual(len(marks), 1, marks)
        self.assertRegex(marks[0][0], r"^commits:[0-9a-f]{32}:[0-9a-f]{16}$")
        self.assertGreaterEqual(marks[0][1], 2, marks)

    def test_locked_database_is_waited_out(self):
        db = self.path("logs.db")
        lf = self.server(sql_dest(db, columns='"message"', values='"${MSGONLY}"'))
        h.tcp_send(lf.port, b"".join(b"<13>1 2026-01-01T00:00:00Z h p - - - before %d\n" % i for i in range(10)))
        self.wait_rows(db, 10, lf)
        locker = sqlite3.connect(db, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            sender = threading.Thread(target=h.tcp_send, args=(lf.port, b"".join(
                b"<13>1 2026-01-01T00:00:00Z h p - - - during %d\n" % i for i in range(500))))
            sender.start()
            h.wait_until(lambda: "locked by another connection" in lf.stderr_text(), what="the lock reported",
                         proc=lf.proc)
            time.sleep(2)  # hold the lock a while longer (not an assertion)
            self.assertEqual(locker.execute("SELECT count(*) FROM messages").fetchone()[0], 10,
                             "nothing is written while the lock is held")
        finally:
            locker.execute("COMMIT")
            locker.close()
        sender.join(30)
        self.wait_rows(db, 510, lf)
        stats = self.stop_ok(lf)
        self.assertEqual([r[0] for r in query(db, "SELECT message FROM messages ORDER BY rowid")],
                         [f"before {i}" for i in range(10)] + [f"during {i}" for i in range(500)])
        d = stats["destination"]["d#0"]
        self.assertEqual((d["out"], d["errors"], d["dropped_queue_full"]), (510, 0, 0), stats)
        self.assertIn("lock was released", lf.stderr)

    def test_refused_rows_are_reported_and_counted(self):
        db = self.path("logs.db")
        lf = self.server(sql_dest(db, columns='"n" "message text check(length(message) < 20)"',
                                  values='"${PID}" "${MSGONLY}"'))
        msgs = [(i, "short" if i % 7 else "far too long for the check constraint") for i in range(30)]
        h.tcp_send(lf.port, b"".join(b"<13>1 2026-01-01T00:00:00Z h p %d - - %s\n" % (i, m.encode()) for i, m in msgs))
        good = [(str(i), m) for i, m in msgs if m == "short"]
        self.wait_rows(db, len(good), lf)
        stats = self.stop_ok(lf)
        self.assertEqual(query(db, "SELECT n, message FROM messages ORDER BY rowid"), good)
        d = stats["destination"]["d#0"]
        self.assertEqual((d["in"], d["out"], d["errors"]), (30, len(good), 30 - len(good)), stats)
        self.assertIn("refused a row of table messages (CHECK constraint failed", lf.stderr)
        self.assertIn("n='7' message='far too long for the check constraint'", lf.stderr)

    def test_full_backlog_holds_a_flow_controlled_sender(self):
        """The database is locked while a TCP sender sends more rows than the
        destination may hold: the sources are held (flow control), nothing is
        dropped, and every row arrives once the lock is gone."""
        db = self.path("logs.db")
        n = 6000
        lf = self.server(sql_dest(db, columns='"message"', values='"${MSGONLY}"', extra="log-fifo-size(600)"),
                         flow_control=True, options="log-fifo-size(1000);")
        h.tcp_send(lf.port, b"<13>1 2026-01-01T00:00:00Z h p - - - first\n")
        self.wait_rows(db, 1, lf)
        locker = sqlite3.connect(db, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        done = threading.Event()

        def send():
            h.tcp_send(lf.port, b"".join(b"<13>1 2026-01-01T00:00:00Z h p - - - row %05d\n" % i for i in range(n)),
                       timeout=60)
            done.set()
        threading.Thread(target=send, daemon=True).start()
        try:
            h.wait_until(lambda: "holding the sources" in lf.stderr_text(), what="the sources held", proc=lf.proc)
            stats = lf.snapshot_stats()
            self.assertEqual(h.source_totals(stats)["dropped_queue_full"], 0, stats)
        finally:
            locker.execute("COMMIT")
            locker.close()
        self.assertTrue(done.wait(60), "the sender finished")
        self.wait_rows(db, n + 1, lf)
        stats = self.stop_ok(lf)
        self.assertEqual([r[0] for r in query(db, "SELECT message FROM messages ORDER BY rowid")],
                         ["first"] + [f"row {i:05d}" for i in range(n)])
        self.assertEqual(h.source_totals(stats)["dropped_queue_full"], 0, stats)
        self.assertEqual(stats["destination"]["d#0"]["dropped_queue_full"], 0, stats)
        self.assertIn("the database takes rows again", lf.stderr)

    def test_full_backlog_without_flow_control_drops_and_counts(self):
        """Without flow control the sender is never held: while the database
        is locked, what the queue and the destination cannot hold is dropped
        and counted; every message is either written or counted."""
        db = self.path("logs.db")
        n = 6000
        lf = self.server(sql_dest(db, columns='"message"', values='"${MSGONLY}"', extra="log-fifo-size(600)"),
                         options="log-fifo-size(1000);")
        h.tcp_send(lf.port, b"<13>1 2026-01-01T00:00:00Z h p - - - first\n")
        self.wait_rows(db, 1, lf)
        locker = sqlite3.connect(db, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            h.tcp_send(lf.port, b"".join(b"<13>1 2026-01-01T00:00:00Z h p - - - row %05d\n" % i for i in range(n)),
                       timeout=60)

            def accounted():
                st = lf.snapshot_stats()
                return h.source_totals(st)["in"] + h.source_totals(st)["dropped_queue_full"] >= n + 1
            h.wait_until(accounted, what="every message taken or dropped by the queue", proc=lf.proc, interval=0.1)
        finally:
            locker.execute("COMMIT")
            locker.close()
        h.wait_until(lambda: count(db) - 1 + lf.snapshot_stats()["destination"]["d#0"]["dropped_queue_full"] +
                     h.source_totals(lf.snapshot_stats())["dropped_queue_full"] >= n,
                     what="every message written or counted", proc=lf.proc, interval=0.1)
        stats = self.stop_ok(lf)
        written = [r[0] for r in query(db, "SELECT message FROM messages ORDER BY rowid")][1:]
        dropped = stats["destination"]["d#0"]["dropped_queue_full"] + h.source_totals(stats)["dropped_queue_full"]
        self.assertGreater(dropped, 0, stats)
        self.assertEqual(len(written) + dropped, n, stats)
        self.assertEqual(written, sorted(written), "in order")
        self.assertLessEqual(len(set(written)), n)

    def restart_mid_load(self, kill):
        """A file keeps growing while logferry reads it into the database;
        logferry is stopped (SIGTERM) or killed (SIGKILL) and started again
        while the file grows.  File positions are saved only for committed
        rows, so nothing is lost; after SIGTERM nothing is repeated either."""
        db = self.path("logs.db")
        src = self.path("in.log")
        state = self.path("state")
        os.mkdir(state)
        open(src, "wb").close()

        def conf(ports):
            return (f"@version: 4.0\noptions {{ stats-freq(0); persist-dir({h.config_string(state)}); }};\n"
                    f"source s {{ file({h.config_string(src)}); }};\n" +
                    sql_dest(db, columns='"message"', values='"${MSG}"', extra="batch-lines(50)") +
                    "log { source(s); destination(d); };\n")

        def started(lf):
            h.wait_until(lambda: "starting up" in lf.stderr_text(), what="logferry started", proc=lf.proc)
            return lf
        written = [0]
        stop_writing = threading.Event()

        def write():
            # Lines of 16 bytes, 256 per write() (4 KiB): a reader never sees part of
            # a line, even when it reads while a write is half done (the file
            # grows a page at a time).
            fd = os.open(src, os.O_WRONLY | os.O_APPEND)
            try:
                i = 0
                # Until the test says stop: the load must go on across the
                # restart however fast or slow this machine is (a cap once
                # ended it before the restart on a slow run).
                while not stop_writing.is_set() and i < 900000:
                    os.write(fd, b"".join(b"line %06d pad\n" % k for k in range(i, i + 256)))
                    i += 256
                    written[0] = i
                    time.sleep(0.02)  # a steady load, not a threshold
            finally:
                os.close(fd)
        writer = threading.Thread(target=write, daemon=True)
        lf = started(self.logferry(conf, nports=0, name="lf1"))
        writer.start()
        h.wait_until(lambda: count(db) >= 3000, what=lambda: f"3000 rows (have {count(db)})", proc=lf.proc)
        if kill:
            lf.kill()
        else:
            self.stop_ok(lf)
        at_stop = count(db)
        lf = started(self.logferry(conf, nports=0, name="lf2"))
        h.wait_until(lambda: count(db) >= at_stop + 3000, what="rows after the restart", proc=lf.proc)
        stop_writing.set()
        writer.join(30)
        n = written[0]
        self.assertLess(at_stop, n, "the restart happened mid-load")
        h.wait_until(lambda: query(db, "SELECT count(DISTINCT message) FROM messages")[0][0] >= n,
                     what=lambda: f"{n} distinct rows (have {count(db)})", proc=lf.proc, timeout=90, interval=0.2)
        stats = self.stop_ok(lf)
        got = [r[0] for r in query(db, "SELECT message FROM messages ORDER BY rowid")]
        self.assertEqual(sorted(set(got)), [f"line {i:06d} pad" for i in range(n)], "every line arrived")
        if not kill:
            self.assertEqual(len(got), n, "after SIGTERM nothing is repeated")
        self.assertEqual(stats["destination"]["d#0"]["dropped_queue_full"], 0, stats)

    def test_restart_mid_load_sigterm(self):
        self.restart_mid_load(kill=False)

    def test_restart_mid_load_sigkill(self):
        self.restart_mid_load(kill=True)

    def test_positions_wait_for_commit(self):
        """A file source; the database is locked by another connection while
        more lines come, and logferry is stopped meanwhile: what it could not
        commit was never taken, so those file positions were not saved, and
        the next logferry, the lock gone, writes them: every line once, in
        order."""
        db = self.path("logs.db")
        src = self.path("in.log")
        state = self.path("state")
        os.mkdir(state)
        n = 5000
        with open(src, "wb") as f:
            f.write(b"".join(b"line %05d\n" % i for i in range(n // 2)))

        def conf(ports):
            return (f"@version: 4.0\noptions {{ stats-freq(0); persist-dir({h.config_string(state)}); }};\n"
                    f"source s {{ file({h.config_string(src)}); }};\n" +
                    sql_dest(db, columns='"message"', values='"${MSG}"') + "log { source(s); destination(d); };\n")
        lf = self.logferry(conf, nports=0, name="lf1")
        self.wait_rows(db, n // 2, lf)
        locker = sqlite3.connect(db, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            with open(src, "ab") as f:
                f.write(b"".join(b"line %05d\n" % i for i in range(n // 2, n)))
            h.wait_until(lambda: h.source_totals(lf.snapshot_stats())["in"] >= n, what="every line read",
                         proc=lf.proc, interval=0.1)
            stats = self.stop_ok(lf)
            self.assertIn("rows not committed", lf.stderr)
            self.assertEqual(stats["destination"]["d#0"]["dropped_queue_full"], n // 2, stats)
            self.assertEqual(stats["destination"]["d#0"]["errors"], 0, stats)
        finally:
            locker.execute("COMMIT")
            locker.close()
        self.assertEqual(count(db), n // 2, "nothing was written while the lock was held")
        lf = self.logferry(conf, nports=0, name="lf2")
        self.wait_rows(db, n, lf)
        self.stop_ok(lf)
        self.assertEqual([r[0] for r in query(db, "SELECT message FROM messages ORDER BY rowid")],
                         [f"line {i:05d}" for i in range(n)], "every line once, in order")

    def test_disk_buffer_survives_kill_while_locked(self):
        """disk-buffer(reliable(yes)): the database is locked by another
        connection from the start, so the lines sent wait in the buffer;
        logferry is killed (SIGKILL) and started again, the lock goes, and
        every line arrives exactly once.  `logferry check` shows the buffer."""
        db = self.path("logs.db")
        buf = self.path("buffers")
        n = 2000
        dest = sql_dest(db, columns='"message"', values='"${MSGONLY}"',
                        extra=f"time-reopen(1) disk-buffer(reliable(yes) dir({h.config_string(buf)}))")
        path = self.path("good.conf")
        with open(path, "w") as f:
            f.write(conf_head() + tcp_source(h.free_port()) + dest + log_path())
        p = h.run_logferry([h.LOGFERRY, "check", "-f", path], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("sql() sqlite3 ", p.stdout)
        self.assertIn("disk-buffer(reliable", p.stdout)
        self.assertNotIn("disk-buffer", p.stderr, "no 'accepted, not acted on' warning")

        locker = sqlite3.connect(db, isolation_level=None)

        def unlock():
            locker.execute("COMMIT")
            locker.close()
        sent, stats = self.disk_buffer_across_kill(dest, buf, n, lambda: locker.execute("BEGIN EXCLUSIVE"), unlock,
                                                   lambda: count(db))
        self.assertEqual([r[0] for r in query(db, "SELECT message FROM messages ORDER BY rowid")], sent,
                         "every line exactly once, in order")
        self.assertEqual(stats["destination"]["d#0"]["errors"], 0, stats)

    def test_disk_buffer_keeps_what_shutdown_gives_up(self):
        """disk-buffer(): the database is locked while lines come, so rows
        wait in sql()'s backlog; at SIGTERM sql() gives them up, and they
        stay in the buffer: not counted as dropped (the report says so),
        written exactly once after the next start."""
        db = self.path("logs.db")
        buf = self.path("buffers")
        n = 500
        dest = sql_dest(db, columns='"message"', values='"${MSGONLY}"',
                        extra=f"time-reopen(1) disk-buffer(dir({h.config_string(buf)}))")
        lf = self.tcp_server(dest, name="lf1")
        h.wait_until(lambda: query(db, "SELECT count(*) FROM logferry_marks"), what="the marks table read",
                     proc=lf.proc)
        locker = sqlite3.connect(db, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        sent = [f"line {i:05d}" for i in range(n)]
        h.tcp_send(lf.port, b"".join(b"<13>1 2026-01-01T00:00:00Z h app - - - %s\n" % m.encode() for m in sent))
        h.wait_until(lambda: "the database is locked" in lf.stderr_text(), what="rows waiting for the lock",
                     proc=lf.proc)
        stats = self.stop_ok(lf)
        self.assertRegex(lf.stderr, r"shutting down with \d+ rows not committed \(.*\); they stay in the disk buffer")
        self.assertEqual(stats["destination"]["d#0"]["dropped_queue_full"], 0, stats)
        self.assertEqual(h.buffer_waiting(buf), n)
        locker.execute("COMMIT")
        locker.close()
        lf = self.tcp_server(dest, name="lf2")
        h.wait_until(lambda: h.buffer_waiting(buf) == 0, what="the buffer to drain", proc=lf.proc)
        self.stop_ok(lf)
        self.assertEqual([r[0] for r in query(db, "SELECT message FROM messages ORDER BY rowid")], sent,
                         "every line exactly once, in order")

    # ---- ferry() upstream: the marks table (sql_ferry_lib.py) ----

    def sql_ferry_dest(self):
        return sql_dest(self.path("ferry.db"), columns='"message"', values='"${MSG}"', extra="time-reopen(1)")

    def stored_count(self):
        return count(self.path("ferry.db"))

    def stored_messages(self):
        return [r[0] for r in query(self.path("ferry.db"), "SELECT message FROM messages")]

    def test_ferry_receiver_kill9_after_commits_not_journaled(self):
        self.receiver_kill9_after_commits_not_journaled()

    def test_config_errors(self):
        cases = [
            ('destination d { sql(database("x.db")); };\n', "bad.conf:2:17: error: sql() needs type()"),
            ('destination d { sql(type(mysql) database("x")); };\n',
             "bad.conf:2:21: error: type(mysql) of sql() destination is not supported"),
            ('destination d { sql(type(sqlite3)); };\n', "bad.conf:2:17: error: sql(type(sqlite3)) needs database()"),
            ('destination d { sql(type(sqlite3) database("")); };\n', "bad.conf:2:35: error: database() of sql() destination is empty"),
            ('destination d { sql(type(pgsql) port(70000) table("t")); };\n',
             "bad.conf:2:33: error: expected a port from 1 to 65535 in port() of sql() destination, found '70000'"),
            ('destination d { sql(type(pgsql) columns("Host" "host") values("1" "2")); };\n',
             "bad.conf:2:48: error: column 'host' named twice in columns() of sql() destination"),
            ('destination d { sql(type(sqlite3) database("x.db") batch-lines(0)); };\n',
             "bad.conf:2:64: error: expected a whole number from 1 to 100000 in batch-lines() of sql() destination"),
            ('destination d { sql(type(sqlite3) database("x.db") flags(dont-create-table)); };\n',
             "bad.conf:2:58: error: unknown flag 'dont-create-table' in flags() of sql() destination"),
            ('destination d { sql(type(sqlite3) database("x.db")\n  columns("a", "b")\n  values("$HOST")); };\n',
             "bad.conf:4:3: error: values() of sql() destination has 1 values for 2 columns"),
            ('destination d { sql(type(sqlite3) database("x.db")\n  columns("a" "b c;d") values("1" "2")); };\n',
             "bad.conf:3:15: error: invalid column type 'c;d'"),
            ('destination d { sql(type(sqlite3) database("x.db")\n  columns("a-b") values("1")); };\n',
             "bad.conf:3:11: error: invalid column name 'a-b'"),
            ('destination d { sql(type(sqlite3) database("x.db") columns("host")\n  values("$(nope)")); };\n',
             "bad.conf:3:10: error: invalid template in values()"),
            ('destination d { sql(type(sqlite3) database("x.db") columns("host") values("$HOST")\n'
             '  indexes("hots")); };\n', "did you mean 'host'?"),
            ('destination d { sql(type(sqlite3) database("x.db") batch-line(10)); };\n',
             "bad.conf:2:52: error: unknown option 'batch-line'"),
        ]
        self.assert_config_errors(cases)
        # Commas between values are optional, `default` leaves a column to its DEFAULT.
        path = self.path("good.conf")
        with open(path, "w") as f:
            f.write('@version: 4.0\nsource s { network(port(5514)); };\n'
                    'destination d { sql(type(sqlite3) database("x.db") table("m_${R_YEAR}")\n'
                    '  columns("a", "b int", "c") values("$HOST", default, "$MSG") null("")); };\n'
                    'log { source(s); destination(d); };\n')
        p = h.run_logferry([h.LOGFERRY, "check", "-f", path], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("sql() sqlite3 x.db table m_${R_YEAR}", p.stdout)

    def test_unwritable_database_stops_at_start(self):
        db = self.path("no", "such", "dir", "logs.db")
        path = self.path("lf.conf")
        with open(path, "w") as f:
            f.write(conf_head() + tcp_source(h.free_port()) + sql_dest(db) + log_path())
        p = h.run_logferry([h.LOGFERRY, "run", "-f", path], capture_output=True, text=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(f"cannot open SQLite database '{db}'", p.stderr)


if __name__ == "__main__":
    h.main(requires=["logger"])
