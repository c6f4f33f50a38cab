#!/usr/bin/env python3
"""clickhouse(): a throwaway ClickHouse server (Debian's clickhouse-server,
with a config.xml and users.xml written into a temporary directory, on free
loopback ports; as the `clickhouse` user when the test runs as root)
receives rows from logferry, fed by a raw TCP sender; the test reads them
back over HTTP (urllib) and compares them field by field: every byte of a
value kept (invalid UTF-8, quotes, control bytes), typed columns, the table
and database created on first use as a MergeTree, table-name templates,
injection attempts stored as plain text, rows the server refuses counted
while the others land, a wrong password retried until it is fixed, the
server killed (SIGKILL) and restarted in the middle of a load (nothing lost),
the ferry protocol acknowledging only what was stored (a relay killed with
rows it could not store loses none of them), a peer at url() that answers
garbage (reported, retried, nothing taken), and a disk-buffer() that keeps rows
while the server is down across a kill -9 of logferry (every row once).

Exits 77 (skipped) only when clickhouse-server is not installed."""
import ctypes
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.error
import urllib.parse
import urllib.request

import lfharness as h


def find_server():
    for p in ("/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"):
        if os.access(p, os.X_OK):
            return [p]
    for p in ("/usr/bin/clickhouse", "/usr/sbin/clickhouse"):
        if os.access(p, os.X_OK):
            return [p, "server"]
    return None


SERVER = find_server()

CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{root}/server.log</log><errorlog>{root}/error.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <path>{root}/data/</path>
  <tmp_path>{root}/tmp/</tmp_path>
  <users_config>{root}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>5368709120</mark_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
</yandex>
"""

USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <quotas><default></default></quotas>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></default>
    <lf><password>{password}</password><networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></lf>
  </users>
</yandex>
"""

PASSWORD = "se'cret&<x>"


def _xml(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ClickHouse:
    """clickhouse-server in a temp dir on 127.0.0.1; the user `lf` has
    PASSWORD, `default` none.  Killed when the test process dies
    (PR_SET_PDEATHSIG, set after the switch to the server's user)."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="lf-ch-")
        self.user = None
        if os.geteuid() == 0:
            self.user = "clickhouse"
            pw = pwd.getpwnam(self.user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        os.chmod(self.root, 0o755)
        self.http, self.tcp = h.free_ports(2)
        self.write_users(PASSWORD)
        with open(os.path.join(self.root, "config.xml"), "w") as f:
            f.write(CONFIG.format(root=self.root, http=self.http, tcp=self.tcp))
        self.proc = None
        self.start()

    def write_users(self, password):
        path = os.path.join(self.root, "users.xml")
        with open(path + ".new", "w") as f:
            f.write(USERS.format(password=_xml(password)))
        os.replace(path + ".new", path)

    def start(self):
        def die_with_parent():
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        self.out = open(os.path.join(self.root, "stdout"), "ab")
        self.proc = subprocess.Popen(SERVER + ["--config-file=" + os.path.join(self.root, "config.xml")],
                                     cwd=self.root, user=self.user, group=self.user, stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        h.wait_until(self.ready, timeout=120, what=lambda: "clickhouse-server answering /ping\n" + self.log(),
                     interval=0.05)

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"clickhouse-server exited ({self.proc.returncode}):\n{self.log()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/ping", timeout=5) as r:
                return r.read() == b"Ok.\n"
        except (OSError, urllib.error.URLError):
            return False

    def log(self):
        out = []
        for name in ("stdout", "error.log"):
            try:
                with open(os.path.join(self.root, name), "rb") as f:
                    out.append(f.read()[-2000:].decode("utf-8", "replace"))
            except OSError:
                pass
        return "\n".join(out)

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.out.close()

    def destroy(self):
        if self.proc and self.proc.poll() is None:
            self.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def query(self, sql):
        """The answer's rows (TabSeparated) as lists of str."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.http}/", data=sql.encode(), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                out = r.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            raise AssertionError(f"query {sql!r}: {e.code} {e.read().decode('utf-8', 'replace')}")
        return [line.split("\t") for line in out.splitlines()]


CH = None


class ClickhouseTest(h.ServerTest):

    @classmethod
    def setUpClass(cls):
        global CH
        if CH is None:
            CH = ClickHouse()

    def setUp(self):
        super().setUp()
        self.ch = CH
        self.db = "db_" + self._testMethodName[5:35]

    def count(self, table="messages"):
        n = self.ch.query(f"SELECT count() FROM system.tables WHERE database = '{self.db}' AND name = '{table}'")
        if n[0][0] == "0":
            return 0
        return int(self.ch.query(f"SELECT count() FROM {self.db}.{table}")[0][0])

    def wait_rows(self, n, lf, table="messages", timeout=h.WAIT_TIMEOUT):
        h.wait_until(lambda: self.count(table) >= n, what=lambda: f"{n} rows in {table} (have {self.count(table)})",
                     proc=lf.proc, interval=0.05, timeout=timeout)

    def rows(self, cols, table="messages", order=None):
        """Every row's columns as bytes (read as hex: exact whatever they hold)."""
        sel = ", ".join(f"hex(toString({c}))" for c in cols)
        order = f" ORDER BY {order}" if order else ""
        return [tuple(bytes.fromhex(v) for v in r) for r in self.ch.query(f"SELECT {sel} FROM {self.db}.{table}{order}")]

    def dest(self, columns, values, table='"messages"', extra="", password=PASSWORD):
        return (f"destination d {{ clickhouse(url(\"http://127.0.0.1:{self.ch.http}\") user(\"lf\")\n"
                f"  password({h.config_string(password)}) database(\"{self.db}\")\n"
                f"  table({table}) columns({columns})\n  values({values}) {extra}); }};\n")

    def test_rows_match_what_was_sent(self):
        lf = self.tcp_server(self.dest('"host", "program", "pid UInt32", "message", "facility", "stamp DateTime", '
                                   '"msgid", "dflt String DEFAULT \'none\'"',
                                   '"${HOST}", "${PROGRAM}", "${PID}", "${MSGONLY}", "${FACILITY}", '
                                   '"${R_YEAR}-${R_MONTH}-${R_DAY} ${R_HOUR}:${R_MIN}:${R_SEC}", "${MSGID}", default',
                                   extra='null("")'))
        msgs = [b"<165>1 2026-03-04T05:06:07Z host1 app 42 ID1 - first message",
                b"<13>1 2026-11-28T10:00:00Z host2 prog 7 - - \xc3\xa9t\xc3\xa9 \"quoted\" back\\slash\ttab \x01",
                b"<14>1 2026-11-28T10:00:00Z host3 bad 9 - - invalid utf8 \xff\xfe\xc3( end"]
        h.tcp_send(lf.port, b"".join(m + b"\n" for m in msgs))
        self.wait_rows(3, lf)
        stats = self.stop_ok(lf)
        got = self.rows(["host", "program", "pid", "message", "facility", "msgid", "dflt"], order="pid")
        self.assertEqual(got, [
            (b"host2", b"prog", b"7", b"\xc3\xa9t\xc3\xa9 \"quoted\" back\\slash\ttab \x01", b"user", b"", b"none"),
            (b"host3", b"bad", b"9", b"invalid utf8 \xff\xfe\xc3( end", b"user", b"", b"none"),
            (b"host1", b"app", b"42", b"first message", b"local4", b"ID1", b"none"),
        ])
        # The time of receipt, as DateTime (the server's zone is UTC here).
        stamps = self.ch.query(f"SELECT abs(toUnixTimestamp(stamp) - toUnixTimestamp(now())) < 3600 "
                               f"FROM {self.db}.messages")
        self.assertEqual(stamps, [["1"]] * 3)
        self.assertEqual(self.ch.query(f"SELECT engine, sorting_key FROM system.tables "
                                       f"WHERE database = '{self.db}' AND name = 'messages'")
                         if self.has_sorting_key() else
                         self.ch.query(f"SELECT engine FROM system.tables WHERE database = '{self.db}' "
                                       f"AND name = 'messages'"),
                         [["MergeTree", "host"]] if self.has_sorting_key() else [["MergeTree"]])
        types = dict((r[0], r[1]) for r in self.ch.query(
            f"SELECT name, type FROM system.columns WHERE database = '{self.db}' AND table = 'messages'"))
        self.assertEqual((types["host"], types["pid"], types["stamp"], types["dflt"]),
                         ("String", "UInt32", "DateTime", "String"))
        d = stats["destination"]["d#0"]
        self.assertEqual((d["in"], d["out"], d["errors"], d["dropped_queue_full"]), (3, 3, 0, 0), stats)

    def has_sorting_key(self):
        return bool(self.ch.query("SELECT count() FROM system.columns WHERE database = 'system' "
                                  "AND table = 'tables' AND name = 'sorting_key'")[0][0] != "0")

    def test_templated_tables_and_injection(self):
        lf = self.tcp_server(self.dest('"program", "message"', '"${PROGRAM}", "${MSGONLY}"', table='"T_${PROGRAM}"'))
        programs = ["x');DROP", 'a"b;--', "App`"]
        evil = ["'); DROP TABLE messages; --", '" OR 1=1; --', "\\'; SELECT * FROM system.users; --",
                "`x` FORMAT TSV", "{\"a\":1}\n{\"b\":2}", "Robert'); DROP TABLE Students;--"]
        h.tcp_send(lf.port, b"".join(b"%d %s" % (len(m), m) for m in (
            f"<13>1 2026-01-01T00:00:00Z h {p} - - - {e}".encode() for p in programs for e in evil)))
        names = ["T_x___DROP", "T_a_b___", "T_App_"]
        for n in names:
            self.wait_rows(len(evil), lf, n)
        stats = self.stop_ok(lf)
        self.assertEqual(sorted(r[0] for r in self.ch.query(f"SELECT name FROM system.tables "
                                                            f"WHERE database = '{self.db}'")), sorted(names))
        for prog, n in zip(programs, names):
            self.assertEqual(sorted(self.rows(["program", "message"], table=n)),
                             sorted((prog.encode(), e.encode()) for e in evil))
        self.assertEqual(stats["destination"]["d#0"]["errors"], 0, stats)

    def test_refused_rows_are_isolated(self):
        """Rows whose value ClickHouse cannot read into UInt32 are dropped,
        reported and counted; the batch is split and the other rows land."""
        lf = self.tcp_server(self.dest('"n UInt32", "message"', '"${MSGID}", "${MSGONLY}"',
                                   extra="batch-lines(40) batch-timeout(10000)"))
        good = []
        lines = []
        for i in range(40):
            n = {5: "abc", 17: "-3", 33: "x1"}.get(i, str(i))
            if n == str(i):
                good.append((str(i).encode(), b"m %d" % i))
            lines.append(f"<13>1 2026-01-01T00:00:00Z h p - {n} - m {i}\n".encode())
        h.tcp_send(lf.port, b"".join(lines))
        self.wait_rows(len(good), lf)
        h.wait_until(lambda: lf.stderr_text().count("refused a row") == 3, what="3 refused rows reported",
                     proc=lf.proc)
        stats = self.stop_ok(lf)
        self.assertEqual(self.rows(["n", "message"], order="n"), good)
        d = stats["destination"]["d#0"]
        self.assertEqual((d["in"], d["out"], d["errors"]), (40, 37, 3), stats)
        self.assertIn("n='abc' message='m 5'", lf.stderr)
        self.assertIn("n='-3' message='m 17'", lf.stderr)
        self.assertNotIn("retrying", lf.stderr)

    def test_config_errors(self):
        self.assert_config_errors([
            ('destination d { clickhouse(url("127.0.0.1:8123")); };\n',
             "bad.conf:2:28: error: expected the address of ClickHouse's HTTP interface in url() of clickhouse() "
             "destination, found '127.0.0.1:8123'"),
            ('destination d { clickhouse(url("http://h:8123/?database=x")); };\n', "error: expected the address"),
            ('destination d { clickhouse(database("a.b")); };\n',
             "bad.conf:2:28: error: invalid database name 'a.b' in database() of clickhouse() destination"),
            ('destination d { clickhouse(columns("a" "a") values("1" "2")); };\n',
             "error: column 'a' named twice in columns() of clickhouse() destination"),
            ('destination d { clickhouse(columns("a") values("1" "2")); };\n',
             "error: values() of clickhouse() destination has 2 values for 1 columns"),
            ('destination d { clickhouse(flags(explicit-commits)); };\n',
             "error: unknown flag 'explicit-commits' in flags() of clickhouse() destination"),
            ('destination d { clickhouse(batch-line(10)); };\n', "bad.conf:2:28: error: unknown option 'batch-line'"),
        ])
        rc, out = self.check_config('destination d { clickhouse(url("https://ch.example.com:8443/") user("u")\n'
                                    '  database("logs") table("t_${PROGRAM}") columns("a" "b UInt8") values("1" "2"));\n'
                                    '};\nsource s { network(port(5140)); };\nlog { source(s); destination(d); };\n')
        self.assertEqual(rc, 0, out)
        self.assertIn("clickhouse() https://ch.example.com:8443 database logs table t_${PROGRAM}", out)

    def test_ferry_acknowledges_after_the_insert(self):
        """client (file -> ferry()) -> server (ferry() -> clickhouse()): with
        ClickHouse down, the server receives lines it cannot store; it is
        killed (SIGKILL) with them in memory.  The ferry protocol acknowledged
        none of them, so the client sends them again to the next server, once
        ClickHouse is back: every line arrives."""
        src = self.path("in.log")
        state = self.path("state")
        os.mkdir(state)
        port = h.free_port()
        n = 2000
        h.append_numbered_lines(src, 0, n // 2)
        client = self.logferry(lambda ports: (
            f"@version: 4.0\noptions {{ stats-freq(0); persist-dir({h.config_string(state)}); }};\n"
            f"source s {{ file({h.config_string(src)} follow-freq(1)); }};\n"
            f'destination f {{ ferry("127.0.0.1" port({port}) time-reopen(1)); }};\n'
            "log { source(s); destination(f); };\n"), nports=0, name="client")

        def server(name):
            lf = self.logferry(lambda ports: (
                "@version: 4.0\noptions { stats-freq(0); };\n"
                f'source s {{ ferry(ip("127.0.0.1") port({port})); }};\n' +
                self.dest('"message"', '"${MSG}"', extra="time-reopen(1)") +
                "log { source(s); destination(d); };\n"), nports=0, name=name)
            h.wait_until(lambda: h.tcp_listening(port), what="the server listening", proc=lf.proc)
            return lf
        lf = server("server1")
        self.wait_rows(n // 2, lf)
        self.ch.kill()
        try:
            h.append_numbered_lines(src, n // 2, n)
            h.wait_sources_in(lf, n)
            lf.kill()
        finally:
            self.ch.start()
        self.assertEqual(self.count(), n // 2, "nothing was stored while ClickHouse was down")
        lf = server("server2")
        self.wait_rows(n, lf, timeout=60)
        self.stop_ok(client)
        self.stop_ok(lf)
        got = [r[0] for r in self.ch.query(f"SELECT message FROM {self.db}.messages")]
        self.assertEqual(sorted(set(got)), [f"line {i:05d}" for i in range(n)], "every line")
        # The lines server1 could not store arrive once; a line it stored
        # could come again only if its acknowledgment was lost in the kill.
        second = sorted(g for g in got if g >= f"line {n // 2:05d}")
        self.assertEqual(second, [f"line {i:05d}" for i in range(n // 2, n)])

    def test_hostile_http_answers(self):
        """A peer that is not ClickHouse at url(): a garbage status line, a
        500 with 1 MiB of random bytes, a connection closed without an answer,
        a 200 whose body is an exception, a 404 HTML page.  Each is reported
        (bounded, printable) and retried, no row is taken or refused, and
        logferry stops cleanly with the rows counted as not committed."""
        def answer(status, body):
            return b"HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body)
        answers = [b"NOT HTTP AT ALL\r\n\r\n",
                   answer(b"500 Oops", os.urandom(1048576)),
                   b"",
                   answer(b"200 OK", b"Code: 241. DB::Exception: Memory limit \x01\xff!!"),
                   answer(b"404 Not Found", b"<html>not found\n</html>\n")]
        served = []
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]

        def serve():
            while True:
                try:
                    c, _ = listener.accept()
                except OSError:
                    return
                with c:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = c.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    head, _, body = data.partition(b"\r\n\r\n")
                    m = re.search(rb"(?i)content-length: *(\d+)", head)
                    want = int(m.group(1)) if m else 0
                    while len(body) < want:
                        chunk = c.recv(65536)
                        if not chunk:
                            break
                        body += chunk
                    served.append(head.split(b"\r\n")[0])
                    c.sendall(answers[(len(served) - 1) % len(answers)])
        threading.Thread(target=serve, daemon=True).start()
        try:
            dest = self.dest('"message"', '"${MSGONLY}"', extra="time-reopen(1)").replace(
                f"127.0.0.1:{self.ch.http}", f"127.0.0.1:{port}")
            lf = self.tcp_server(dest)
            h.tcp_send(lf.port, b"".join(b"<13>1 2026-01-01T00:00:00Z h p - - - m%d\n" % i for i in range(20)))
            h.wait_until(lambda: len(served) >= 2 * len(answers), what="every answer given twice", proc=lf.proc,
                         timeout=120)
            stats = self.stop_ok(lf)
        finally:
            listener.close()
        self.assertTrue(all(line.startswith(b"POST /?wait_end_of_query=1&query=") for line in served), served)
        self.assertIn("HTTP 500: ", lf.stderr)
        self.assertIn("HTTP 404: <html>not found", lf.stderr)
        self.assertIn("HTTP 200: Code: 241. DB::Exception: Memory limit ??!!", lf.stderr)
        self.assertNotIn("refused a row", lf.stderr)
        self.assertLess(len(lf.stderr), 100000, "reports are bounded")
        self.assertIn("shutting down with 20 rows not committed", lf.stderr)
        d = stats["destination"]["d#0"]
        self.assertEqual((d["in"], d["out"], d["errors"], d["dropped_queue_full"]), (20, 0, 0, 20), stats)

    def test_wrong_password_is_retried(self):
        lf = self.tcp_server(self.dest('"message"', '"${MSGONLY}"', extra="time-reopen(1)", password="old"))
        h.tcp_send(lf.port, b"".join(b"<13>1 2026-01-01T00:00:00Z h p - - - m%d\n" % i for i in range(5)))
        h.wait_until(lambda: "HTTP 401" in lf.stderr_text() or "Wrong password" in lf.stderr_text(),
                     what="the failure reported", proc=lf.proc)
        self.ch.write_users("old")  # the server reloads users.xml by itself
        try:
            self.wait_rows(5, lf, timeout=60)
        finally:
            self.ch.write_users(PASSWORD)
        stats = self.stop_ok(lf)
        self.assertEqual(self.rows(["message"], order="message"), [(b"m%d" % i,) for i in range(5)])
        self.assertEqual(stats["destination"]["d#0"]["errors"], 0, stats)

    def test_server_killed_and_restarted_mid_load(self):
        """A flow-controlled TCP sender keeps sending while ClickHouse is
        killed (SIGKILL) and started again; the rows wait (the source is held
        while the backlog is full) and every one arrives.  A row is stored
        twice only when the server did not answer the insert that held it
        (then reported, with the number of rows)."""
        lf = self.tcp_server(self.dest('"message"', '"${MSGONLY}"',
                                   extra="batch-lines(500) log-fifo-size(2000) time-reopen(1)"),
                         flow_control=True, options="log-fifo-size(2000);")
        cap = 200000  # rows at most
        sender = h.SteadySender(lf.port, cap)
        self.wait_rows(2000, lf, timeout=60)
        self.ch.kill()
        try:
            h.wait_until(lambda: "rows wait; retrying" in lf.stderr_text(), what="the failure noticed", proc=lf.proc)
            # Rows pile up while the server is down: the backlog fills.
            h.wait_until(lambda: "holding the sources" in lf.stderr_text(), what="the sources held", proc=lf.proc)
        finally:
            self.ch.start()
        at_start = sender.sent
        h.wait_until(lambda: self.count() >= min(at_start + 5000, cap), what="the load going on after the restart",
                     proc=lf.proc, interval=0.2, timeout=90)
        self.assertTrue(sender.finish(90), "the sender finished")
        n = sender.sent
        h.wait_until(lambda: self.ch.query(f"SELECT uniqExact(message) FROM {self.db}.messages")[0][0] == str(n),
                     what=lambda: f"{n} distinct rows (have {self.count()})", proc=lf.proc, interval=0.2, timeout=90)
        stats = self.stop_ok(lf)
        got = [r[0] for r in self.ch.query(f"SELECT message FROM {self.db}.messages")]
        self.assertEqual(sorted(set(got)), [f"row {i:06d}" for i in range(n)])
        unanswered = sum(int(k) for k in re.findall(r"did not answer the insert of the last (\d+) rows", lf.stderr))
        self.assertLessEqual(len(got) - n, unanswered, lf.stderr[-3000:])
        self.assertIn("writing to ClickHouse at", lf.stderr)
        self.assertEqual(h.source_totals(stats)["dropped_queue_full"], 0, stats)
        d = stats["destination"]["d#0"]
        self.assertEqual((d["errors"], d["dropped_queue_full"]), (0, 0), stats)

    def test_disk_buffer_survives_kill_while_down(self):
        """disk-buffer(reliable(yes)): ClickHouse is down (killed) while
        lines come, so they wait in the buffer; logferry is killed (SIGKILL)
        and started again, ClickHouse comes back, and every line arrives
        exactly once (the table is ordered by message, so this compares the
        sets and the count, not the order of arrival)."""
        buf = self.path("buffers")
        dest = self.dest('"message"', '"${MSGONLY}"',
                         extra=f"time-reopen(1) disk-buffer(reliable(yes) dir({h.config_string(buf)}))")
        sent, stats = self.disk_buffer_across_kill(dest, buf, 2000, self.ch.kill, self.ch.start, self.count,
                                                   timeout=90)
        self.assertEqual([r[0] for r in self.ch.query(f"SELECT message FROM {self.db}.messages ORDER BY message")],
                         sent, "every line exactly once")
        self.assertEqual(stats["destination"]["d#0"]["errors"], 0, stats)


def main():
    def destroy():
        if CH is not None:
            CH.destroy()
    h.main_with_server(None if SERVER else "clickhouse-server is not installed", "clickhouse", destroy)


if __name__ == "__main__":
    main()
