#!/usr/bin/env python3
"""Hostile and broken peers: over-long lines, random bytes, lying octet
counts, NULs, stalled connections, thousands of connections at once, and
message fields aimed at paths outside the log directory.  logferry must stay
up, keep what can be kept, count what it cut, keep its memory bounded, and
never write outside the directory its file() template names."""
import os
import random
import resource
import select
import socket
import unittest

import lfharness as h

MSG_SIZE = 8192       # log-msg-size() of the test server
RSS_LIMIT_KB = 200 * 1024
MANY_CONNECTIONS = 5000  # held open at once by test_many_connections
ACCEPT_WINDOW = 128      # connections it lets wait for logferry's accept()


class HostileTest(h.ServerTest):

    def server(self, msg_size=MSG_SIZE, max_connections=5000, udp=False, template="$HOST|$PROGRAM|$MSG\n"):
        """TCP (and UDP) on one port; every message into all.log."""
        self.all = self.path("all.log")

        def conf(ports):
            udp_src = (f'  network(ip("127.0.0.1") port({ports[0]}) transport("udp") log-msg-size({msg_size}));\n'
                       if udp else "")
            return ("@version: 4.0\noptions { keep-hostname(yes); create-dirs(yes); stats-freq(0); };\n"
                    f'source s {{\n  network(ip("127.0.0.1") port({ports[0]}) transport("tcp") '
                    f"log-msg-size({msg_size}) max-connections({max_connections}));\n{udp_src}}};\n"
                    f"destination d {{ file({h.config_string(self.all)} template({h.config_string(template)})); }};\n"
                    "log { source(s); destination(d); };\n")
        return self.logferry(conf, kinds=["tcp+udp" if udp else "tcp"])

    def assert_rss_bounded(self, lf, what):
        kb = lf.peak_rss_kb()
        print(f"  peak RSS after {what}: {kb} kB", flush=True)
        self.assertLess(kb, RSS_LIMIT_KB, f"peak RSS {kb} kB after {what}")

    def assert_alive_and_serving(self, lf, tag):
        """A normal client's message still arrives."""
        self.assertTrue(lf.alive(), f"logferry died; stderr:\n{lf.stderr_text()}")
        line = f"<13>Nov 28 08:00:00 okhost okprog: still serving {tag}\n".encode()
        h.tcp_send(lf.port, line)
        want = f"okhost|okprog|still serving {tag}"
        h.wait_until(lambda: want in h.read_lines(self.all), what=f"line {want!r}", proc=lf.proc)

    # -- over-long lines ------------------------------------------------------

    def test_one_megabyte_line(self):
        lf = self.server()
        header = b"<13>Nov 28 08:00:00 bighost big: "
        body = b"A" * (1 << 20)
        s = h.tcp_connect(lf.port)
        s.sendall(header + body)  # no newline yet
        # Cut at log-msg-size as soon as the limit is reached, without waiting
        # for the end of the line (memory per connection stays bounded).
        want = "bighost|big|" + "A" * (MSG_SIZE - len(header))
        h.wait_until(lambda: want in h.read_lines(self.all), what="the truncated line", proc=lf.proc)
        self.assert_rss_bounded(lf, "a 1 MB line")
        # The rest of the long line is skipped; the next lines of the same
        # connection arrive intact.
        s.sendall(b"B" * 1000 + b"\n<13>Nov 28 08:00:00 bighost after: later message 1\n"
                  b"<13>Nov 28 08:00:00 bighost after: later message 2\n")
        s.shutdown(socket.SHUT_WR)
        self.wait_lines(self.all, 3, lf)
        s.close()
        # A second 1 MB line, complete, on a new connection.
        h.tcp_send(lf.port, header + body + b"\n" + b"<13>Nov 28 08:00:00 bighost after: later message 3\n")
        self.wait_lines(self.all, 5, lf)
        self.assert_rss_bounded(lf, "two 1 MB lines")
        stats = self.stop_ok(lf)
        self.assertEqual(h.read_lines(self.all), [
            want,
            "bighost|after|later message 1",
            "bighost|after|later message 2",
            want,
            "bighost|after|later message 3",
        ])
        src = h.source_totals(stats)
        self.assertEqual((src["in"], src["truncated"]), (5, 2), stats)

    def test_udp_oversized_datagram(self):
        lf = self.server(udp=True)
        header = b"<13>Nov 28 08:00:00 udphost big: "
        h.udp_send(lf.port, header + b"U" * 60000)
        h.udp_send(lf.port, b"<13>Nov 28 08:00:00 udphost small: fits\n")
        self.wait_lines(self.all, 2, lf)
        stats = self.stop_ok(lf)
        self.assertEqual(sorted(h.read_lines(self.all)),
                         sorted(["udphost|big|" + "U" * (MSG_SIZE - len(header)), "udphost|small|fits"]))
        udp = [c for n, c in stats["source"].items() if " udp " in n][0]
        self.assertEqual((udp["in"], udp["truncated"]), (2, 1), stats)

    def test_blank_lines_and_crlf(self):
        """Empty lines are not messages; a CR before the newline is dropped."""
        lf = self.server()
        h.tcp_send(lf.port, b"\n\n\r\n<13>Nov 28 08:00:00 h crlf: with cr\r\n\n\n"
                            b"<13>Nov 28 08:00:00 h lf: plain\n\r\n")
        self.wait_lines(self.all, 2, lf)
        stats = self.stop_ok(lf)
        self.assertEqual(h.read_lines(self.all), ["h|crlf|with cr", "h|lf|plain"])
        self.assertEqual(h.source_totals(stats)["in"], 2, stats)

    def test_unix_dgram_large_datagram(self):
        """KNOWN BUG: unix-dgram() reads datagrams into a fixed 65537-byte
        buffer whatever log-msg-size() says, so with log-msg-size(200000) a
        100025-byte datagram is silently cut to 65537 bytes: the message is
        incomplete and truncated stays 0."""
        sock = self.path("dgram.sock")
        self.all = self.path("all.log")

        def conf(ports):
            return ("@version: 4.0\n"
                    f"source s {{ unix-dgram({h.config_string(sock)} log-msg-size(200000)); }};\n"
                    f'destination d {{ file({h.config_string(self.all)} template("$PROGRAM|$(length $MSG)\\n")); }};\n'
                    "log { source(s); destination(d); };\n")
        lf = self.logferry(conf, nports=0, unix_paths=(sock,))
        c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        c.sendto(b"<13>Nov 28 08:00:00 big: " + b"X" * 100000, sock)
        c.close()
        self.wait_lines(self.all, 1, lf)
        stats = self.stop_ok(lf)
        lines = h.read_lines(self.all)
        truncated = h.source_totals(stats)["truncated"]
        self.assertEqual((lines, truncated), (["big|100000"], 0),
                         "the datagram fits log-msg-size(200000): expected it whole "
                         "(or, at the very least, counted as truncated)")

    # -- garbage ----------------------------------------------------------------

    def test_random_bytes(self):
        base = self.path("tree", "base")
        self.all = self.path("all.log")

        def conf(ports):
            return ("@version: 4.0\noptions { keep-hostname(yes); create-dirs(yes); };\n"
                    f'source s {{ network(ip("127.0.0.1") port({ports[0]}) transport("tcp") log-msg-size(4096));\n'
                    f'  network(ip("127.0.0.1") port({ports[0]}) transport("udp")); }};\n'
                    f'destination d {{ file({h.config_string(base + "/${HOST}/${PROGRAM}.log")} template("$MSG\\n")); }};\n'
                    f'destination a {{ file({h.config_string(self.all)} template("$HOST|$PROGRAM|$MSG\\n")); }};\n'
                    "log { source(s); destination(d); destination(a); };\n")
        lf = self.logferry(conf, kinds=["tcp+udp"])
        rng = random.Random(20261128)
        for i in range(20):
            h.tcp_send(lf.port, rng.randbytes(rng.randrange(1, 65536)))
        # Octet-count-looking garbage.
        for i in range(20):
            h.tcp_send(lf.port, str(rng.randrange(0, 10 ** rng.randrange(1, 25))).encode() + b" " + rng.randbytes(rng.randrange(0, 5000)))
        for i in range(200):
            h.udp_send(lf.port, rng.randbytes(rng.randrange(1, 9000)))
        self.assertTrue(lf.alive())
        self.assert_alive_and_serving(lf, "after random bytes")
        stats = self.stop_ok(lf)
        # Whatever the garbage said, every file is below the base directory.
        outside = [f for f in h.files_under(self.dir)
                   if not f.startswith("tree/base/") and f not in ("all.log", "lf.conf", "lf.stderr")]
        self.assertEqual(outside, [])
        self.assertEqual(os.listdir(self.path("tree")), ["base"])
        self.assertGreater(h.source_totals(stats)["in"], 40, stats)

    # -- octet counting ---------------------------------------------------------

    def test_lying_octet_count(self):
        lf = self.server()
        # Claims 120 bytes, sends 44 and closes: the partial frame is kept.
        h.tcp_send(lf.port, b"120 <13>1 2026-11-28T08:00:00Z h2 liar - - - short")
        # Claims far more than log-msg-size: no huge buffer, the part sent is kept.
        h.tcp_send(lf.port, b"99999999 <13>1 2026-11-28T08:00:00Z h3 huge - - - partial body")
        # A correct frame after a correct one on the same connection (control).
        good = b"<13>1 2026-11-28T08:00:00Z h4 good - - - one"
        h.tcp_send(lf.port, b"%d " % len(good) + good + b"%d " % len(good) + good)
        self.wait_lines(self.all, 4, lf)
        self.assert_rss_bounded(lf, "a frame claiming 99999999 bytes")
        stats = self.stop_ok(lf)
        self.assertEqual(h.read_lines(self.all), [
            "h2|liar|short",
            "h3|huge|partial body",
            "h4|good|one",
            "h4|good|one",
        ])
        self.assertEqual(h.source_totals(stats)["in"], 4, stats)

    def test_lying_octet_count_then_more_frames(self):
        """A frame whose count is too large swallows what follows it (that is
        what the count says) up to the close; nothing is lost or duplicated."""
        lf = self.server()
        f2 = b"<13>1 2026-11-28T08:00:00Z h9 second - - - two"
        h.tcp_send(lf.port, b"200 <13>1 2026-11-28T08:00:00Z h9 first - - - one" + b"%d " % len(f2) + f2)
        self.wait_lines(self.all, 1, lf)
        self.stop_ok(lf)
        self.assertEqual(h.read_lines(self.all), ["h9|first|one%d " % len(f2) + f2.decode()])

    # -- NUL --------------------------------------------------------------------

    def test_nul_in_line(self):
        """As in syslog-ng, a NUL ends a frame in line mode: the text before it
        is one message, the text after it another; the next lines of the
        connection are unaffected."""
        lf = self.server()
        h.tcp_send(lf.port, b"<13>Nov 28 08:00:00 h3 nul: abc\0def\n<13>Nov 28 08:00:00 h3 nul2: after\n")
        self.wait_lines(self.all, 3, lf)
        stats = self.stop_ok(lf)
        lines = h.read_lines(self.all)
        self.assertEqual(len(lines), 3, lines)
        self.assertEqual(lines[0], "h3|nul|abc")
        self.assertIn("def", lines[1])
        self.assertNotIn("abc", lines[1])
        self.assertNotIn("\0", lines[1])
        self.assertEqual(lines[2], "h3|nul2|after")
        self.assertEqual(h.source_totals(stats)["in"], 3, stats)

    def test_nul_in_octet_counted_frame(self):
        """Inside an octet-counted frame a NUL is data: one message."""
        lf = self.server(template="$HOST|$PROGRAM|$(length $MSG)\n")
        f = b"<13>1 2026-11-28T08:00:00Z h3 nulo - - - abc\0def"
        h.tcp_send(lf.port, b"%d " % len(f) + f)
        self.wait_lines(self.all, 1, lf)
        self.stop_ok(lf)
        self.assertEqual(h.read_lines(self.all), ["h3|nulo|7"])

    # -- stalled peers ------------------------------------------------------------

    def test_stalled_client(self):
        lf = self.server()
        idle = h.tcp_connect(lf.port)                       # connects, sends nothing
        stalled = h.tcp_connect(lf.port)                    # sends half a line, then nothing
        stalled.sendall(b"<13>Nov 28 08:00:00 slow stall: half a li")
        for i in range(3):
            s = h.tcp_connect(lf.port)
            s.sendall(b"".join(b"<13>Nov 28 08:00:00 fast c%d: message %d\n" % (i, n) for n in range(100)))
            # Not closed: its lines must still arrive while the stalled ones wait.
            self.wait_lines(self.all, 100 * (i + 1), lf)
            s.close()
        self.assertTrue(lf.alive())
        # SIGTERM with both stalled connections still open: no hang, and the
        # stalled connection's partial line is kept.
        stats = self.stop_ok(lf)
        lines = h.read_lines(self.all)
        self.assertEqual(lines[:300], [f"fast|c{i}|message {n}" for i in range(3) for n in range(100)])
        self.assertEqual(lines[300:], ["slow|stall|half a li"])
        self.assertEqual(h.source_totals(stats)["in"], 301, stats)
        idle.close()
        stalled.close()

    # -- many connections -----------------------------------------------------------

    def raise_fd_limit(self, need):
        """Raises this process's soft RLIMIT_NOFILE to at least `need` (the
        logferry started next inherits it); skips when the hard limit is
        lower.  Restored after the test."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and soft < need:
            if hard != resource.RLIM_INFINITY and hard < need:
                self.skipTest(f"RLIMIT_NOFILE hard limit {hard} < {need}")
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))

    def test_many_connections(self):
        """5,000 connections at once, each stalled on half a line: logferry
        holds them all with bounded memory, a client outside them is served
        meanwhile, every line arrives once they complete it, and closed
        connections are released."""
        want = MANY_CONNECTIONS
        # This process and logferry each hold one descriptor per connection
        # (RLIMIT_NOFILE is per process), plus a few of their own.
        self.raise_fd_limit(want + 256)
        lf = self.server(max_connections=want + 100)
        base_fds = lf.open_fds()
        accepted = lambda: lf.open_fds() - base_fds
        socks = []
        try:
            # Connect at the pace logferry accepts: at most about
            # ACCEPT_WINDOW connections wait in the kernel's accept queue,
            # below the listen backlog (1024, or net.core.somaxconn if
            # smaller).  A full queue makes the kernel drop SYNs, and each
            # dropped SYN stalls its connect() for 1 s, 3 s, 7 s... (SYN
            # retransmissions): the test would then measure the kernel's
            # timers on a slow (ASan, loaded) machine rather than logferry.
            for i in range(want):
                if i >= ACCEPT_WINDOW and i % (ACCEPT_WINDOW // 2) == 0:
                    h.wait_until(lambda: accepted() >= i - ACCEPT_WINDOW, timeout=60, proc=lf.proc,
                                 what=lambda: f"logferry to accept {i - ACCEPT_WINDOW} connections "
                                              f"(accepted {accepted()})")
                s = h.tcp_connect(lf.port, timeout=30)
                socks.append(s)
                # Half a line, then nothing (a stalled client).
                s.sendall(b"<13>Nov 28 08:00:00 many conn: number")
            h.wait_until(lambda: accepted() >= want, timeout=60, proc=lf.proc,
                         what=lambda: f"logferry to hold all {want} connections (holds {accepted()})")
            print(f"  logferry holds {accepted()} connections", flush=True)
            # A client outside the crowd is unaffected.
            self.assert_alive_and_serving(lf, "during many connections")
            stats = lf.snapshot_stats()
            self.assertEqual(h.source_totals(stats)["errors"], 0, stats)
            # Every stalled client completes its line.
            for i, s in enumerate(socks):
                s.sendall(b" %d\n" % i)
            self.wait_lines(self.all, want + 1, lf, timeout=60)
        finally:
            for s in socks:
                s.close()
        # Closed connections are released.
        h.wait_until(lambda: accepted() <= 5, timeout=60, proc=lf.proc,
                     what=lambda: f"logferry to close the connections (still {accepted()} open)")
        self.assert_rss_bounded(lf, f"{want} connections")
        self.assert_alive_and_serving(lf, "after many connections")
        stats = self.stop_ok(lf)
        lines = h.read_lines(self.all)
        self.assertEqual(lines[0], "okhost|okprog|still serving during many connections")
        self.assertEqual(sorted(lines[1:want + 1]), sorted(f"many|conn|number {i}" for i in range(want)))
        self.assertEqual(lines[want + 1:], ["okhost|okprog|still serving after many connections"])
        # Every message counted in and out; no connection refused, cut or dropped.
        src = h.source_totals(stats)
        dst = stats["destination"]["d#0"]
        self.assertEqual((src["in"], src["errors"], src["truncated"], src["dropped_queue_full"]),
                         (want + 2, 0, 0, 0), stats)
        self.assertEqual((dst["in"], dst["out"], dst["errors"], dst["dropped_queue_full"]), (want + 2, want + 2, 0, 0),
                         stats)

    def test_fd_limit_refusals_counted(self):
        """Started with a low open-file limit (RLIMIT_NOFILE below what
        max-connections() lets in), logferry raises its soft limit or caps
        its connections below it: accept() never fails with EMFILE (libuv
        would then accept and close waiting peers itself, uncounted), and
        each refused connection is counted in errors."""
        fd_limit, n = 64, 128
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard < n + 256:
            self.skipTest(f"RLIMIT_NOFILE hard limit {hard} < {n + 256}")
        self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, hard))  # logferry inherits it
        try:
            lf = self.server(max_connections=1000)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (n + 256, hard))
        socks = []
        for i in range(n):
            s = h.tcp_connect(lf.port)
            s.sendall(b"<13>Nov 28 08:00:00 fds conn: number %d\n" % i)
            socks.append(s)

        def closed_by_server(s):
            r, _, _ = select.select([s], [], [], 0)
            if not r:
                return False
            try:
                return s.recv(1, socket.MSG_PEEK) == b""
            except ConnectionResetError:
                return True

        def decided():
            got = set(h.read_lines(self.all))
            return sum(f"fds|conn|number {i}" in got or closed_by_server(s) for i, s in enumerate(socks))

        # Each connection is either served (its line arrives) or closed by logferry.
        h.wait_until(lambda: decided() == n, proc=lf.proc,
                     what=lambda: f"each of {n} connections served or closed ({decided()} are)")
        closed = sum(closed_by_server(s) for s in socks)
        with open(f"/proc/{lf.pid}/limits") as f:
            soft_now = int(next(l for l in f if l.startswith("Max open files")).split()[3])
        # Either logferry raised its soft limit to fit max-connections() (the
        # hard limit allows it here) and served everyone, or it refused some,
        # each counted below.
        self.assertTrue(closed > 0 or soft_now >= n + 256,
                        f"all {n} held with an open-file limit of {soft_now}: cannot be")
        self.wait_lines(self.all, n - closed, lf)
        self.assertTrue(lf.alive())
        for s in socks:
            s.close()
        stats = self.stop_ok(lf)
        src = h.source_totals(stats)
        self.assertEqual((src["in"], src["errors"]), (n - closed, closed),
                         f"{closed} connections closed for lack of file descriptors: "
                         f"expected each counted in errors; {stats}")

    def test_max_connections_limit(self):
        limit, extra = 20, 5
        lf = self.server(max_connections=limit)
        socks = [h.tcp_connect(lf.port) for _ in range(limit)]
        for i, s in enumerate(socks):
            s.sendall(b"<13>Nov 28 08:00:00 lim ok: %d\n" % i)
        self.wait_lines(self.all, limit, lf)
        # Beyond the limit, connections are closed by the server at once.
        over = [h.tcp_connect(lf.port) for _ in range(extra)]
        for s in over:
            s.settimeout(10)
            try:
                data = s.recv(100)
            except ConnectionResetError:
                data = b""
            self.assertEqual(data, b"", "an over-limit connection was not closed")
            s.close()
        for s in socks:
            s.close()
        h.wait_until(lambda: h.source_totals(lf.snapshot_stats())["errors"] >= extra, what="refusals counted",
                     proc=lf.proc)
        # Once the others are gone, new connections are served again.
        self.assert_alive_and_serving(lf, "after the limit")
        stats = self.stop_ok(lf)
        self.assertEqual(h.source_totals(stats)["errors"], extra, stats)
        self.assertEqual(len(h.read_lines(self.all)), limit + 1)

    # -- paths from message fields --------------------------------------------------------

    def test_hostile_host_and_program_paths(self):
        base = self.path("a", "b", "c", "base")
        flat = self.path("a", "b", "c", "flat")
        self.all = self.path("all.log")

        def conf(ports):
            return ("@version: 4.0\noptions { keep-hostname(yes); create-dirs(yes); };\n"
                    f'source s {{ network(ip("127.0.0.1") port({ports[0]}) transport("tcp")); }};\n'
                    f'destination d {{ file({h.config_string(base + "/${HOST}/${PROGRAM}.log")} template("$MSG\\n")); }};\n'
                    f'destination f {{ file({h.config_string(flat + "/${HOST}")} template("$MSG\\n")); }};\n'
                    f'destination a {{ file({h.config_string(self.all)} template("$MSG\\n")); }};\n'
                    "log { source(s); destination(d); destination(f); destination(a); };\n")
        lf = self.logferry(conf)

        def bsd(host, prog, msg):
            return b"<13>Nov 28 08:00:00 " + host + b" " + prog + b": " + msg + b"\n"

        def oc(host, prog, msg):
            f = b"<13>1 2026-11-28T08:00:00Z " + host + b" " + prog + b" - - - " + msg
            return b"%d " % len(f) + f

        cases_bsd = [
            (b"../../etc/x", b"evil", b"m1"),
            (b"..", b"dotdot", b"m2"),
            (b".", b"dot", b"m3"),
            (b"../../../../escaped", b"up", b"m4"),
            (b"h4", b"../../../../../escaped2", b"m5"),
            (b"h5", b"..", b"m6"),
        ]
        h.tcp_send(lf.port, b"".join(bsd(*c) for c in cases_bsd))
        # RFC 5424 (octet counted) lets PROGRAM carry control characters.
        cases_5424 = [
            (b"h6", b"a/b\x01c\x1bd\x7fe", b"m7"),
            (b"h7/../../../..", b"p", b"m8"),
            (b"..", b"..", b"m9"),
        ]
        h.tcp_send(lf.port, b"".join(oc(*c) for c in cases_5424))
        self.wait_lines(self.all, 9, lf)
        stats = self.stop_ok(lf)
        got = {f: h.read_lines(os.path.join(self.dir, f)) for f in h.files_under(self.dir)
               if f not in ("all.log", "lf.conf", "lf.stderr")}
        self.assertEqual(got, {
            "a/b/c/base/.._.._etc_x/evil.log": ["m1"],
            "a/b/c/base/__/dotdot.log": ["m2"],
            "a/b/c/base/_/dot.log": ["m3"],
            "a/b/c/base/.._.._.._.._escaped/up.log": ["m4"],
            "a/b/c/base/h4/.._.._.._.._.._escaped2.log": ["m5"],
            "a/b/c/base/h5/...log": ["m6"],
            "a/b/c/base/h6/a_b_c_d_e.log": ["m7"],
            "a/b/c/base/h7_.._.._.._../p.log": ["m8"],
            "a/b/c/base/__/...log": ["m9"],
            "a/b/c/flat/.._.._etc_x": ["m1"],
            "a/b/c/flat/__": ["m2", "m9"],
            "a/b/c/flat/_": ["m3"],
            "a/b/c/flat/.._.._.._.._escaped": ["m4"],
            "a/b/c/flat/h4": ["m5"],
            "a/b/c/flat/h5": ["m6"],
            "a/b/c/flat/h6": ["m7"],
            "a/b/c/flat/h7_.._.._.._..": ["m8"],
        })
        self.assertEqual(stats["destination"]["d#0"]["errors"], 0, stats)
        self.assertFalse(os.path.exists(self.path("escaped")) or os.path.exists(self.path("a", "escaped")))


if __name__ == "__main__":
    h.main()
