#!/usr/bin/env python3
"""pipe() and stdin() sources, and `logger -u` into unix-dgram(): the real
logferry binary reads a FIFO the test writes (created by logferry when
missing, writers coming and going) and its own standard input, and the tests
assert the exact lines written to a file destination and the counters."""
import errno
import os
import shutil
import socket
import stat
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
import lfharness as h  # noqa: E402

HOSTNAME = socket.gethostname()
TEMPLATE = "$HOST|$PROGRAM|$PID|$MSG|$FACILITY|$LEVEL\n"


def conf_head(options=""):
    return f"@version: 4.0\noptions {{ stats-freq(0); {options} }};\n"


def file_dest(path, template=TEMPLATE, name="d"):
    return f"destination {name} {{ file({h.config_string(path)} template({h.config_string(template)})); }};\n"


def is_fifo(path):
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except FileNotFoundError:
        return False


def write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def open_writer(path, lf):
    """Opens the FIFO for writing once logferry reads it (a non-blocking open
    fails with ENXIO while the FIFO has no reader); returns a blocking fd."""
    def attempt():
        try:
            return [os.open(path, os.O_WRONLY | os.O_NONBLOCK)]
        except FileNotFoundError:
            return None
        except OSError as e:
            if e.errno == errno.ENXIO:
                return None
            raise
    fd = h.wait_until(attempt, what=f"logferry reading the FIFO {path}", proc=lf.proc)[0]
    os.set_blocking(fd, True)
    return fd


def write_fifo(path, data, lf):
    fd = open_writer(path, lf)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)


class PipeStdinTest(h.ServerTest):

    def pipe_server(self, pipe_opts="", options="", log_flags=""):
        """One pipe() source at self.fifo into self.out."""
        self.fifo = self.path("app.pipe")
        self.out = self.path("out.log")

        def conf(_ports):
            flags = f" flags({log_flags});" if log_flags else ""
            return conf_head(options) + \
                f"source s {{ pipe({h.config_string(self.fifo)} {pipe_opts}); }};\n" + \
                file_dest(self.out) + f"log {{ source(s); destination(d);{flags} }};\n"
        return self.logferry(conf, nports=0)

    def start_with_stdin(self, conf, stdin):
        """logferry run with `stdin` (a file object or subprocess.PIPE) as its
        standard input."""
        lf = h.Logferry(self.dir)
        self._procs.append(lf)
        with open(lf.conf_path, "w", encoding="utf-8") as f:
            f.write(conf)
        lf.proc = subprocess.Popen([h.LOGFERRY, "run", "-f", lf.conf_path], stdin=stdin, stdout=subprocess.DEVNULL,
                                   stderr=lf.open_stderr(lf.err_path), cwd=self.dir, env=dict(os.environ, TZ="UTC"),
                                   preexec_fn=h._die_with_parent)
        return lf

    # -- pipe() ------------------------------------------------------------

    def test_pipe_created_when_missing(self):
        """The FIFO is created with perm() 0600 (the global default); lines
        are parsed as syslog without a hostname; the FIFO stays at exit."""
        lf = self.pipe_server()
        h.wait_until(lambda: is_fifo(self.fifo), what="the FIFO created", proc=lf.proc)
        self.assertEqual(stat.S_IMODE(os.stat(self.fifo).st_mode), 0o600)
        write_fifo(self.fifo, b"<14>Oct 11 22:14:15 app[42]: first message\n"
                              b"plain line without header\n"
                              b"<13>1 2026-11-28T10:00:00Z web1 nginx 7 ACC - rfc5424 line\n", lf)
        self.wait_lines(self.out, 3, lf)
        stats = self.stop_ok(lf)
        self.assertEqual(h.read_lines(self.out), [
            f"{HOSTNAME}|app|42|first message|user|info",
            f"{HOSTNAME}|plain||line without header|user|notice",
            "web1|nginx|7|rfc5424 line|user|notice",
        ])
        src = h.source_totals(stats)
        self.assertEqual((src["in"], src["truncated"], src["parse_errors"], src["errors"]), (3, 0, 0, 0), stats)
        self.assertIn(f"s#0 pipe() {self.fifo}", stats["source"])
        self.assertTrue(is_fifo(self.fifo), "the FIFO is left in place at exit")

    def test_pipe_existing_fifo_and_create_dirs(self):
        """An existing FIFO is used (and gets perm()); create-dirs(yes) makes
        missing directories with dir-perm()."""
        existing = self.path("existing.pipe")
        os.mkfifo(existing, 0o644)
        nested = self.path("a", "b", "nested.pipe")
        self.out = self.path("out.log")

        def conf(_ports):
            return conf_head() + \
                f"source s {{ pipe({h.config_string(existing)} perm(0620));\n" \
                f"  pipe({h.config_string(nested)} create-dirs(yes) dir-perm(0750) perm(0640)); }};\n" + \
                file_dest(self.out, "$MSG\n") + "log { source(s); destination(d); };\n"
        lf = self.logferry(conf, nports=0)
        write_fifo(existing, b"<13>Oct 11 22:14:15 a: via existing\n", lf)
        write_fifo(nested, b"<13>Oct 11 22:14:15 b: via nested\n", lf)
        self.wait_lines(self.out, 2, lf)
        self.stop_ok(lf)
        self.assertEqual(sorted(h.read_lines(self.out)), ["via existing", "via nested"])
        self.assertEqual(stat.S_IMODE(os.stat(existing).st_mode), 0o620)
        self.assertEqual(stat.S_IMODE(os.stat(nested).st_mode), 0o640)
        self.assertEqual(stat.S_IMODE(os.stat(self.path("a")).st_mode), 0o750)
        self.assertEqual(stat.S_IMODE(os.stat(self.path("a", "b")).st_mode), 0o750)

    def run_failing(self, conf):
        conf_path = self.path("bad.conf")
        with open(conf_path, "w", encoding="utf-8") as f:
            f.write(conf)
        p = h.run_logferry([h.LOGFERRY, "run", "-f", conf_path], stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=h.STOP_TIMEOUT, cwd=self.dir)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        return p.stderr.decode("utf-8", "replace")

    def test_pipe_refuses_non_fifo(self):
        """A path that exists and is not a FIFO is an error that says so;
        the file is left alone.  A missing directory names create-dirs()."""
        regular = self.path("regular.log")
        with open(regular, "w") as f:
            f.write("keep me\n")
        sink = file_dest(self.path("out.log")) + "log { source(s); destination(d); };\n"
        err = self.run_failing(conf_head() + f"source s {{ pipe({h.config_string(regular)}); }};\n" + sink)
        self.assertIn(f"'{regular}' exists and is a regular file, not a named pipe", err)
        with open(regular) as f:
            self.assertEqual(f.read(), "keep me\n")
        self.assertFalse(is_fifo(regular))

        err = self.run_failing(conf_head() + f"source s {{ pipe({h.config_string(self.dir)}); }};\n" + sink)
        self.assertIn("exists and is a directory, not a named pipe", err)

        missing = self.path("no", "such", "dir.pipe")
        err = self.run_failing(conf_head() + f"source s {{ pipe({h.config_string(missing)}); }};\n" + sink)
        self.assertIn(f"cannot create named pipe '{missing}'", err)
        self.assertIn("create-dirs(yes)", err)

    def test_pipe_lines_arrive_in_order(self):
        """5000 lines written in chunks that split lines at arbitrary places
        arrive exactly once, in order."""
        lf = self.pipe_server(pipe_opts="flags(no-parse)")
        lines = [f"line {i:05d} " + "x" * (i % 97) for i in range(5000)]
        data = "".join(line + "\n" for line in lines).encode()
        fd = open_writer(self.path("app.pipe"), lf)
        try:
            pos, step = 0, 1
            while pos < len(data):
                write_all(fd, data[pos:pos + step])
                pos += step
                step = step * 7 % 5003 + 1  # 1..5003 bytes, rarely on a line boundary
        finally:
            os.close(fd)
        self.wait_lines(self.out, len(lines), lf)
        stats = self.stop_ok(lf)
        self.assertEqual(h.read_lines(self.out), [f"{HOSTNAME}|||{line}|user|notice" for line in lines])
        self.assertEqual(h.source_totals(stats)["in"], len(lines), stats)

    def test_pipe_writers_come_and_go(self):
        """A writer opens the FIFO, writes one line and closes it, 300 times:
        every line arrives once (no EOF ends the reading)."""
        lf = self.pipe_server()
        os.close(open_writer(self.fifo, lf))  # wait until logferry reads...
        for i in range(300):
            fd = os.open(self.fifo, os.O_WRONLY)  # ...then blocking opens, as programs do
            write_all(fd, f"<13>Oct 11 22:14:15 writer[{i}]: line {i}\n".encode())
            os.close(fd)
        self.wait_lines(self.out, 300, lf)
        stats = self.stop_ok(lf)
        self.assertEqual(h.read_lines(self.out), [f"{HOSTNAME}|writer|{i}|line {i}|user|notice" for i in range(300)])
        src = h.source_totals(stats)
        self.assertEqual((src["in"], src["errors"]), (300, 0), stats)

    def test_pipe_partial_line_committed_at_stop(self):
        """A line without its newline waits for the rest (the next writer's
        bytes join it, as in syslog-ng); stop() commits what is left."""
        lf = self.pipe_server(pipe_opts="flags(no-parse)")
        write_fifo(self.fifo, b"complete\nfirst half, ", lf)
        write_fifo(self.fifo, b"second half\nno newline at the end", lf)
        self.wait_lines(self.out, 2, lf)
        h.wait_until(lambda: h.source_totals(lf.snapshot_stats()).get("in", 0) >= 2, what="2 messages", proc=lf.proc)
        stats = self.stop_ok(lf)
        self.assertEqual(h.read_lines(self.out), [
            f"{HOSTNAME}|||complete|user|notice",
            f"{HOSTNAME}|||first half, second half|user|notice",
            f"{HOSTNAME}|||no newline at the end|user|notice",
        ])
        self.assertEqual(h.source_totals(stats)["in"], 3, stats)

    def test_pipe_overrides_and_no_parse(self):
        """program-override(), host-override(), default-facility(),
        default-priority() and flags(no-parse) on pipe() sources."""
        a, b = self.path("a.pipe"), self.path("b.pipe")
        self.out = self.path("out.log")

        def conf(_ports):
            return conf_head() + \
                f"source s_a {{ pipe({h.config_string(a)} program-override(\"forced\") host-override(\"hostx\")\n" \
                "  default-facility(local3) default-priority(warning)); };\n" + \
                f"source s_b {{ pipe({h.config_string(b)} flags(no-parse)); }};\n" + \
                file_dest(self.out) + "log { source(s_a); source(s_b); destination(d); };\n"
        lf = self.logferry(conf, nports=0)
        write_fifo(a, b"<13>Oct 11 22:14:15 app[1]: with header\nno header here\n", lf)
        self.wait_lines(self.out, 2, lf)
        write_fifo(b, b"<13>Oct 11 22:14:15 app[1]: with header\nno header here\n", lf)
        self.wait_lines(self.out, 4, lf)
        stats = self.stop_ok(lf)
        self.assertEqual(h.read_lines(self.out), [
            "hostx|forced|1|with header|user|notice",
            "hostx|forced||header here|local3|warning",
            f"{HOSTNAME}|||<13>Oct 11 22:14:15 app[1]: with header|user|notice",
            f"{HOSTNAME}|||no header here|user|notice",
        ])
        ins = {name.split("#")[0]: c["in"] for name, c in stats["source"].items()}
        self.assertEqual(ins, {"s_a": 2, "s_b": 2}, stats)

    def test_pipe_long_line_cut(self):
        """A 1 MB line is cut at log-msg-size() as soon as that much arrived
        (before its newline: memory stays bounded), counted as truncated,
        and the line after it arrives whole."""
        lf = self.pipe_server(pipe_opts="flags(no-parse) log-msg-size(1000)")
        fd = open_writer(self.fifo, lf)
        try:
            write_all(fd, b"A" * (1 << 20))  # no newline yet
            h.wait_until(lambda: h.source_totals(lf.snapshot_stats()).get("truncated", 0) == 1,
                         what="the cut message counted before the line ended", proc=lf.proc)
            write_all(fd, b"A" * 1000 + b"\nthe next line\n")
        finally:
            os.close(fd)
        self.wait_lines(self.out, 2, lf)
        stats = self.stop_ok(lf)
        self.assertEqual(h.read_lines(self.out), [
            f"{HOSTNAME}|||{'A' * 1000}|user|notice",
            f"{HOSTNAME}|||the next line|user|notice",
        ])
        src = h.source_totals(stats)
        self.assertEqual((src["in"], src["truncated"]), (2, 1), stats)

    def test_pipe_flow_control(self):
        """With flags(flow-control) and a queue of one batch, the source is
        paused and resumed many times (the writer waits meanwhile); 50000
        lines arrive, none dropped, in order."""
        lf = self.pipe_server(pipe_opts="flags(no-parse)", options="log-fifo-size(512);", log_flags="flow-control")
        n = 50000
        data = b"".join(b"flow %06d\n" % i for i in range(n))
        fd = open_writer(self.fifo, lf)
        try:
            write_all(fd, data)
        finally:
            os.close(fd)
        self.wait_lines(self.out, n, lf, timeout=60)
        stats = self.stop_ok(lf)
        self.assertEqual(h.read_lines(self.out), [f"{HOSTNAME}|||flow {i:06d}|user|notice" for i in range(n)])
        src = h.source_totals(stats)
        self.assertEqual((src["in"], src["dropped_queue_full"]), (n, 0), stats)
        self.assertEqual(stats["destination"]["d#0"]["out"], n, stats)

    # -- stdin() -----------------------------------------------------------

    def stdin_conf(self, opts="", options=""):
        self.out = self.path("out.log")
        return conf_head(options) + f"source s {{ stdin({opts}); }};\n" + file_dest(self.out) + \
            "log { source(s); destination(d); };\n"

    def test_stdin_pipe(self):
        """stdin() fed by a subprocess pipe: lines (with a hostname, as
        syslog-ng's stdin() expects) arrive; at EOF the partial last line is
        committed and logferry keeps running until SIGTERM."""
        lf = self.start_with_stdin(self.stdin_conf(), subprocess.PIPE)
        lf.proc.stdin.write(b"<13>Oct 11 22:14:15 somehost app[7]: from stdin\n")
        lf.proc.stdin.flush()
        self.wait_lines(self.out, 1, lf)
        lf.proc.stdin.write(b"<11>Oct 11 22:14:16 otherhost tool: second\nlast line without newline")
        lf.proc.stdin.close()
        self.wait_lines(self.out, 3, lf)
        h.wait_until(lambda: "end of standard input" in lf.stderr_text(), what="the end of stdin logged", proc=lf.proc)
        self.assertTrue(lf.alive(), "logferry keeps running after the end of stdin")
        stats = self.stop_ok(lf)
        # keep-hostname(no), the global default: HOST is this machine.
        self.assertEqual(h.read_lines(self.out), [
            f"{HOSTNAME}|app|7|from stdin|user|notice",
            f"{HOSTNAME}|tool||second|user|err",
            f"{HOSTNAME}|last||line without newline|user|notice",
        ])
        src = h.source_totals(stats)
        self.assertEqual((src["in"], src["errors"]), (3, 0), stats)
        self.assertIn("s#0 stdin()", stats["source"])

    def test_stdin_keep_hostname_and_long_line(self):
        """keep-hostname(yes) keeps the senders' hosts; a 1 MB last line
        without newline is cut at log-msg-size() and counted."""
        lf = self.start_with_stdin(self.stdin_conf("keep-hostname(yes) log-msg-size(2048)"), subprocess.PIPE)
        lf.proc.stdin.write(b"<13>Oct 11 22:14:15 somehost app[7]: kept host\n")
        lf.proc.stdin.write(b"<13>Oct 11 22:14:15 bighost big: " + b"y" * (1 << 20))
        lf.proc.stdin.close()
        self.wait_lines(self.out, 2, lf)
        stats = self.stop_ok(lf)
        big = "y" * (2048 - len("<13>Oct 11 22:14:15 bighost big: "))
        self.assertEqual(h.read_lines(self.out), [
            "somehost|app|7|kept host|user|notice",
            f"bighost|big||{big}|user|notice",
        ])
        src = h.source_totals(stats)
        self.assertEqual((src["in"], src["truncated"]), (2, 1), stats)

    def test_stdin_regular_file(self):
        """stdin() redirected from a regular file (read on libuv's thread
        pool, as epoll cannot watch files): every line arrives, in order,
        none dropped although the queue holds one batch and the log path has
        no flags(flow-control) (stdin() is always flow-controlled)."""
        src_path = self.path("input.log")
        n = 50000
        with open(src_path, "wb") as f:
            f.write(b"".join(b"<13>Oct 11 22:14:15 filed[%d]: line %d\n" % (i, i) for i in range(n)))
        with open(src_path, "rb") as stdin:
            lf = self.start_with_stdin(self.stdin_conf(options="log-fifo-size(512);"), stdin)
        self.wait_lines(self.out, n, lf, timeout=60)
        h.wait_until(lambda: "end of standard input" in lf.stderr_text(), what="the end of stdin logged", proc=lf.proc)
        stats = self.stop_ok(lf)
        self.assertEqual(h.read_lines(self.out), [f"{HOSTNAME}|filed|{i}|line {i}|user|notice" for i in range(n)])
        src = h.source_totals(stats)
        self.assertEqual((src["in"], src["dropped_queue_full"]), (n, 0), stats)

    # -- logger into unix-dgram() ------------------------------------------

    @unittest.skipUnless(shutil.which("logger"), "util-linux logger is not installed")
    def test_logger_unix_dgram(self):
        """`logger -u SOCKET` (util-linux) into a unix-dgram() source."""
        sock = self.path("log.sock")
        self.out = self.path("out.log")

        def conf(_ports):
            return conf_head() + f"source s {{ unix-dgram({h.config_string(sock)}); }};\n" + \
                file_dest(self.out) + "log { source(s); destination(d); };\n"
        lf = self.logferry(conf, nports=0, unix_paths=(sock,))
        p = subprocess.run(["logger", "-u", sock, "-t", "lgtag", "--id=4321", "-p", "local2.err",
                            "hello from logger -u"], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.wait_lines(self.out, 1, lf)
        stats = self.stop_ok(lf)
        self.assertEqual(h.read_lines(self.out), [f"{HOSTNAME}|lgtag|4321|hello from logger -u|local2|err"])
        self.assertEqual(h.source_totals(stats)["in"], 1, stats)


if __name__ == "__main__":
    h.main()
