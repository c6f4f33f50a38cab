#!/usr/bin/env python3
"""network() and syslog() destinations: logferry sending onward.

Each test runs logferry "A" (a TCP network() source feeding the destination
under test) and, as the receiver, logferry "B" (a network() or syslog()
source writing a file), a raw listener in this process that records the
exact bytes A sends, or a real syslog-ng.  Everything runs on loopback with
free ports; every wait polls a condition until a deadline.

Covered: exact RFC 3164 lines and RFC 5424 octet-counted frames on TCP, one
datagram per message on UDP (cut at 65507 bytes), delivery A -> B field by
field, B stopped and restarted mid-stream (A reconnects, nothing that waited
is lost, the loss report is on A's stderr), a connection reset by the peer
(the loss estimate covers what the peer did not read), failover to the
second server and failback to the primary, round-robin over two receivers
with network-load-balancer() (every line exactly once; a receiver that goes
away or is down from the start gets nothing more), the loss and reconnect
reports in a file fed by internal(), the pending-buffer cap
(log-fifo-size(): the newest messages are dropped and counted), shutdown
with the server down and with a backlog, `logferry check`, and a real
syslog-ng parsing what A sends.  Delivery tracking (taken_through) is
checked by taken_through_check.cc.

Usage: test_network_destination.py LOGFERRY_BINARY [unittest args]
"""
import datetime
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "server"))
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
import lfharness as h  # noqa: E402
import interop_common as ic  # noqa: E402

# What B writes per message: every field, '|'-separated.
FIELDS_T = "$HOST|$PROGRAM|$PID|$MSGID|$MSG|$FACILITY_NUM|$LEVEL_NUM|$ISODATE|${SDATA}\\n"

# Message stamps an hour ago: an RFC 3164 stamp (no year) is then read in the
# right year whatever the date.
NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(hours=1)


def bsd_date(t):
    return t.strftime("%b ") + f"{t.day:2d}" + t.strftime(" %H:%M:%S")


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S")


BSD = bsd_date(NOW).encode()
ISO = iso(NOW)

LOSS_RE = re.compile(r"connection to (\S+) lost \(([^)]*)\); up to (\d+) messages may be lost")


# ---------------------------------------------------------------------------
# Helpers

def _hex_ipv4(addr):
    return "".join(f"{int(x):02X}" for x in reversed(addr.split(".")))


def listening_on(addr, port, kind="tcp"):
    """True when a TCP socket listens on (or a UDP socket is bound to)
    addr:port, read from /proc/net so that probing opens no connection."""
    want = f"{_hex_ipv4(addr)}:{port:04X}"
    with open(f"/proc/net/{kind}") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[1] == want and (kind != "tcp" or parts[3] == "0A"):
                return True
    return False


def connected_to(addr, port):
    """True when some socket has an established TCP connection to
    addr:port (read from /proc/net/tcp)."""
    want = f"{_hex_ipv4(addr)}:{port:04X}"
    with open("/proc/net/tcp") as f:
        next(f)
        return any(p[2] == want and p[3] == "01" for p in (line.split() for line in f))


def lines_3164(tag, n, start=0):
    return b"".join(b"<13>%s host%d prog[%d]: %s message %06d\n" % (BSD, i % 3, 100 + i % 7, tag, i)
                    for i in range(start, start + n))


def expected_b_records(tag, n, start=0):
    """What B writes (FIELDS_T) for lines_3164(tag, n, start) relayed by A."""
    return [f"host{i % 3}|prog|{100 + i % 7}||{tag.decode()} message {i:06d}|1|5|{ISO}.000+00:00|"
            for i in range(start, start + n)]


def year_of_bsd_stamp(logferry, line):
    """The ISODATE logferry gives an RFC 3164 line (its year is guessed)."""
    out = h.run_logferry([logferry, "parse"], input=line, stdout=subprocess.PIPE, check=True,
                         env=dict(os.environ, TZ="UTC")).stdout
    return json.loads(out.decode().splitlines()[0])["ISODATE"]


class Capture:
    """A TCP listener (or UDP socket) in this process that records what it
    receives: per connection the bytes (TCP), or each datagram (UDP)."""

    def __init__(self, kind="tcp", addr="127.0.0.1", port=0):
        self.kind = kind
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if kind == "udp":
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((addr, port))
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = []       # TCP: bytearray per accepted connection
        self.datagrams = []   # UDP
        self.stopped = False
        self.threads = []
        if kind == "tcp":
            self.sock.listen(16)
        self.sock.settimeout(0.1)
        t = threading.Thread(target=self._run, daemon=True)
        t.start()
        self.threads.append(t)

    def _run(self):
        while not self.stopped:
            try:
                if self.kind == "udp":
                    d = self.sock.recv(70000)
                    with self.lock:
                        self.datagrams.append(d)
                    continue
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            buf = bytearray()
            with self.lock:
                self.conns.append(buf)
            t = threading.Thread(target=self._read, args=(c, buf), daemon=True)
            t.start()
            self.threads.append(t)

    def _read(self, c, buf):
        c.settimeout(0.1)
        with c:
            while not self.stopped:
                try:
                    d = c.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not d:
                    return
                with self.lock:
                    buf.extend(d)

    def data(self):
        with self.lock:
            return b"".join(bytes(b) for b in self.conns)

    def dgrams(self):
        with self.lock:
            return list(self.datagrams)

    def stop(self):
        self.stopped = True
        self.sock.close()
        for t in self.threads:
            t.join(2)


def split_octet_counted(data):
    """Frames of an RFC 6587 octet-counted stream; asserts it is well formed."""
    frames = []
    i = 0
    while i < len(data):
        sp = data.index(b" ", i)
        n = int(data[i:sp])
        frames.append(data[sp + 1:sp + 1 + n])
        assert len(frames[-1]) == n, f"truncated frame at {i}"
        i = sp + 1 + n
    return frames


# ---------------------------------------------------------------------------
# Tests

class NetworkDestinationTest(h.ServerTest):

    def tearDown(self):
        for c in getattr(self, "_captures", []):
            c.stop()
        super().tearDown()

    def capture(self, kind="tcp", port=0):
        c = Capture(kind, port=port)
        self.__dict__.setdefault("_captures", []).append(c)
        return c

    def start_lf(self, name, conf, listen):
        """Starts logferry with a fixed config; returns once it listens on
        every (addr, port, kind) of `listen`."""
        lf = h.Logferry(self.dir, name)
        self._procs.append(lf)
        lf.start(lambda _ports: conf, nports=0)
        for addr, port, kind in listen:
            h.wait_until(lambda: listening_on(addr, port, kind), h.START_TIMEOUT,
                         f"{name} to listen on {kind} {addr}:{port}", proc=lf.proc)
        return lf

    def start_a(self, dest, name="A", options="", port=None):
        """logferry A: TCP source on a free port -> `dest` (driver text)."""
        port = port or h.free_port()
        conf = (f"@version: 4.0\noptions {{ keep-hostname(yes); stats-freq(0); {options} }};\n"
                f'source s {{ network(ip("127.0.0.1") port({port}) transport("tcp")); }};\n'
                f"destination d {{ {dest}; }};\n"
                f"log {{ source(s); destination(d); flags(flow-control); }};\n")
        lf = self.start_lf(name, conf, [("127.0.0.1", port, "tcp")])
        lf.in_port = port
        return lf

    def start_b(self, port, out, name="B", driver="network", transport="tcp", ip="127.0.0.1"):
        """logferry B: a `driver` source on ip:port -> file `out` (FIELDS_T)."""
        conf = (f"@version: 4.0\noptions {{ keep-hostname(yes); stats-freq(0); frac-digits(3); }};\n"
                f'source s {{ {driver}(ip("{ip}") port({port}) transport("{transport}")); }};\n'
                f'destination d {{ file({h.config_string(out)} template("{FIELDS_T}")); }};\n'
                f"log {{ source(s); destination(d); flags(flow-control); }};\n")
        return self.start_lf(name, conf, [(ip, port, transport)])

    def wait_stderr(self, lf, pattern, what, timeout=h.WAIT_TIMEOUT):
        rx = re.compile(pattern)
        return h.wait_until(lambda: rx.search(lf.stderr_text()), timeout,
                            lambda: f"{what} on {lf.name}'s stderr; it has:\n{lf.stderr_text()}")

    def dest_counters(self, stats, name="d#0"):
        return stats["destination"][name]

    # -- formats -------------------------------------------------------------

    def test_rfc3164_exact_lines(self):
        """network() over TCP: the default line is format_rfc3164 output,
        one per message, many per write; time-zone() shifts the date."""
        cap = self.capture()
        cap2 = self.capture()
        a = self.start_a(f'network("127.0.0.1" port({cap.port}) transport("tcp")); '
                         f'network("127.0.0.1" port({cap2.port}) time-zone("+01:00"))')
        lines = [
            (b"<13>Nov 28 08:00:00 host1 prog[12]: hello one\n", b"<13>Nov 28 08:00:00 host1 prog[12]: hello one\n"),
            (b"<165>Nov  5 23:59:59 host2 app: no pid here\n", b"<165>Nov  5 23:59:59 host2 app: no pid here\n"),
            (b"<34>1 2003-10-11T22:14:15.003Z mymachine su 77 ID47 - 'su root' failed\n",
             b"<34>Oct 11 22:14:15 mymachine su[77]: 'su root' failed\n"),
        ]
        bulk = lines_3164(b"bulk", 2000)
        h.tcp_send(a.in_port, b"".join(i for i, _ in lines) + bulk)
        want = b"".join(o for _, o in lines) + bulk
        h.wait_until(lambda: len(cap.data()) >= len(want), what=lambda: f"{len(want)} bytes (have {len(cap.data())})")
        h.wait_until(lambda: cap2.data().count(b"\n") >= 2003, what="the time-zone() copy")
        stats = self.stop_ok(a)
        self.assertEqual(cap.data(), want)
        first = cap2.data().split(b"\n")[:2]
        self.assertEqual(first, [b"<13>Nov 28 09:00:00 host1 prog[12]: hello one",
                                 b"<165>Nov  6 00:59:59 host2 app: no pid here"])
        for name in ("d#0", "d#1"):
            c = self.dest_counters(stats, name)
            self.assertEqual((c["in"], c["out"], c["dropped_queue_full"], c["errors"]), (2003, 2003, 0, 0), stats)

    def test_template_sent_as_given(self):
        cap = self.capture()
        a = self.start_a(f'network("127.0.0.1" port({cap.port}) template("$PROGRAM says $MSG\\n"))')
        h.tcp_send(a.in_port, b"<13>Nov 28 08:00:00 h p[1]: one\n<13>Nov 28 08:00:00 h q: two\n")
        h.wait_until(lambda: cap.data().count(b"\n") >= 2, what="2 lines")
        self.stop_ok(a)
        self.assertEqual(cap.data(), b"p says one\nq says two\n")

    def test_rfc5424_octet_counting_exact(self):
        """syslog() over TCP: RFC 5424 with RFC 6587 octet counting."""
        cap = self.capture()
        a = self.start_a(f'syslog("127.0.0.1" port({cap.port}) transport("tcp"))')
        sd = '[exampleSDID@32473 iut="3" eventSource="Appl\\"ication" eventID="1011"][x@1 k="v"]'
        bsd = b"<13>Nov 28 08:00:00 host1 prog[12]: hello one"
        inputs = [
            f"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 {sd} An application event".encode(),
            "<14>1 2026-11-28T10:00:00.5+01:00 web1 nginx 42 - - multi\nline UTF-8 Größe".encode(),
            bsd,
        ]
        stream = b"".join(b"%d %s" % (len(m), m) for m in inputs)
        stream += b"".join(b"%d %s" % (len(m), m) for m in (b"<13>1 2026-11-28T08:00:00Z h app - - - bulk %05d" % i
                                                             for i in range(1000)))
        h.tcp_send(a.in_port, stream)
        h.wait_until(lambda: len(split_octet_counted(cap.data())) >= 1003 if cap.data() else False,
                     what=lambda: f"1003 frames (have {len(cap.data())} bytes)")
        stats = self.stop_ok(a)
        frames = split_octet_counted(cap.data())
        bsd_date = year_of_bsd_stamp(a_bin(), bsd + b"\n")
        self.assertEqual(frames[:3], [
            f"<165>1 2003-10-11T22:14:15.003+00:00 mymachine.example.com evntslog - ID47 {sd} An application event".encode(),
            "<14>1 2026-11-28T10:00:00.5+01:00 web1 nginx 42 - - multi\nline UTF-8 Größe".encode(),
            f"<13>1 {bsd_date} host1 prog 12 - - hello one".encode(),
        ])
        self.assertEqual(frames[3:], [b"<13>1 2026-11-28T08:00:00+00:00 h app - - - bulk %05d" % i for i in range(1000)])
        c = self.dest_counters(stats)
        self.assertEqual((c["in"], c["out"], c["errors"]), (1003, 1003, 0), stats)

    def test_rfc3164_and_rfc5424_a_to_b(self):
        """A relays to B: network() -> network() source and syslog() ->
        syslog() source; B's fields are what A received."""
        p1, p2 = h.free_ports(2)
        out1, out2 = self.path("b1.log"), self.path("b2.log")
        b1 = self.start_b(p1, out1, name="B1")
        b2 = self.start_b(p2, out2, name="B2", driver="syslog")
        a = self.start_a(f'network("127.0.0.1" port({p1}) transport("tcp")); '
                         f'syslog("127.0.0.1" port({p2}) transport("tcp") frac-digits(3))')
        five = b'<165>1 2003-10-11T22:14:15.003Z mymachine evntslog - ID47 [ex@32473 iut="3"] An application event\n'
        h.tcp_send(a.in_port, lines_3164(b"x", 500) + five)
        got1 = self.wait_lines(out1, 501, b1)
        got2 = self.wait_lines(out2, 501, b2)
        stats = self.stop_ok(a)
        self.stop_ok(b1)
        self.stop_ok(b2)
        exp = expected_b_records(b"x", 500)
        self.assertEqual(got1[:500], exp)
        self.assertEqual(got2[:500], exp)
        # RFC 3164 carries no MSGID, SD, year or fraction.
        guessed = year_of_bsd_stamp(a_bin(), b"<165>Oct 11 22:14:15 mymachine evntslog: x\n")
        self.assertEqual(got1[500], f"mymachine|evntslog|||An application event|20|5|{guessed[:19]}.000+00:00|")
        self.assertEqual(got2[500], 'mymachine|evntslog||ID47|An application event|20|5|'
                                    '2003-10-11T22:14:15.003+00:00|[ex@32473 iut="3"]')
        for name in ("d#0", "d#1"):
            c = self.dest_counters(stats, name)
            self.assertEqual((c["in"], c["out"], c["errors"]), (501, 501, 0), stats)

    def test_udp(self):
        """UDP: one datagram per message; network() keeps the line end,
        syslog() sends none; longer than 65507 bytes is cut and counted."""
        pb = h.free_port()
        out = self.path("b.log")
        b = self.start_b(pb, out, transport="udp")
        cap = self.capture("udp")
        a = self.start_a(f'network("127.0.0.1" port({pb}) transport("udp")); '
                         f'syslog("127.0.0.1" port({cap.port}) transport("udp"))',
                         options="log-msg-size(200000);")
        big = b"<13>1 2026-11-28T08:00:00Z h big - - - " + b"x" * 70000
        # UDP has no flow control: in chunks that fit the receivers' buffers.
        for k in range(0, 200, 50):
            h.tcp_send(a.in_port, lines_3164(b"u", 50, start=k))
            self.wait_lines(out, k + 50, b)
            h.wait_until(lambda: len(cap.dgrams()) >= k + 50, what=f"{k + 50} datagrams")
        got = h.read_lines(out)
        self.assertEqual(got, expected_b_records(b"u", 200))
        # the long one, octet-counted on A's input so that it is one message
        s = h.tcp_connect(a.in_port)
        s.sendall(b"%d %s" % (len(big), big))
        s.close()
        h.wait_until(lambda: len(cap.dgrams()) >= 201, what="the long datagram")
        stats = self.stop_ok(a)
        self.stop_ok(b)
        dg = cap.dgrams()
        self.assertEqual(dg[0], f"<13>1 {ISO}+00:00 host0 prog 100 - - u message 000000".encode())
        self.assertEqual(len(dg[200]), 65507)
        self.assertTrue(dg[200].startswith(b"<13>1 2026-11-28T08:00:00+00:00 h big - - - xxxx"), dg[200][:60])
        c0, c1 = self.dest_counters(stats, "d#0"), self.dest_counters(stats, "d#1")
        self.assertEqual((c0["in"], c0["out"], c0["errors"]), (201, 201, 0), stats)
        self.assertEqual((c1["in"], c1["out"], c1["truncated"], c1["errors"]), (201, 201, 1, 0), stats)

    def test_udp_port_unreachable(self):
        """UDP to a port where nothing listens: the ICMP answer is reported
        and counted; the message that met it waits; once a receiver is
        there, messages arrive again."""
        port = h.free_port()
        a = self.start_a(f'syslog("127.0.0.1" port({port}) transport("udp") time-reopen(1))')
        first = [b"<13>1 2026-11-28T08:00:00Z h app - - - early %d" % i for i in range(3)]
        for m in first:
            h.tcp_send(a.in_port, m + b"\n")
        self.wait_stderr(a, rf"127\.0\.0\.1:{port} answered port unreachable", "the port-unreachable report")
        cap = self.capture("udp", port=port)
        late = [b"<13>1 2026-11-28T08:00:00Z h app - - - late %d" % i for i in range(5)]
        h.tcp_send(a.in_port, b"".join(m + b"\n" for m in late))
        h.wait_until(lambda: len(cap.dgrams()) >= 5 and cap.dgrams()[-1].endswith(b"late 4"),
                     what=lambda: f"the late datagrams (have {cap.dgrams()})")
        stats = self.stop_ok(a)
        want = [m.replace(b"Z", b"+00:00") for m in late]
        self.assertEqual(cap.dgrams()[-5:], want)
        # Whatever of the early ones arrived came first, in order, once.
        early = cap.dgrams()[:-5]
        self.assertEqual(early, [m.replace(b"Z", b"+00:00") for m in first][len(first) - len(early):])
        c = self.dest_counters(stats)
        self.assertEqual(c["in"], 8, stats)
        self.assertGreaterEqual(c["errors"], 1, stats)

    # -- connection loss -----------------------------------------------------

    def test_server_restart_mid_stream(self):
        """B stopped and restarted: A notices at once (the loss report), keeps
        what arrives meanwhile, reconnects, and sends it; nothing is lost or
        repeated."""
        pb = h.free_port()
        out = self.path("b.log")
        b = self.start_b(pb, out)
        a = self.start_a(f'network("127.0.0.1" port({pb}) transport("tcp") time-reopen(2))')
        h.tcp_send(a.in_port, lines_3164(b"r", 3000))
        self.wait_lines(out, 3000, b)
        self.stop_ok(b)
        m = self.wait_stderr(a, LOSS_RE.pattern, "the loss report")
        self.assertEqual(m.group(1), f"127.0.0.1:{pb}")
        # While B is down: queued in A.
        h.tcp_send(a.in_port, lines_3164(b"r", 2000, start=3000))
        b = self.start_b(pb, out, name="B-again")
        got = self.wait_lines(out, 5000, b)
        self.wait_stderr(a, rf"connected to 127\.0\.0\.1:{pb}", "the reconnect report")
        # And after the reconnect.
        h.tcp_send(a.in_port, lines_3164(b"r", 1000, start=5000))
        got = self.wait_lines(out, 6000, b)
        stats = self.stop_ok(a)
        self.stop_ok(b)
        self.assertEqual(got, expected_b_records(b"r", 6000))
        c = self.dest_counters(stats)
        self.assertEqual((c["in"], c["out"], c["dropped_queue_full"], c["errors"]), (6000, 6000, 0, 0), stats)
        self.assertIn("connection(s) broke while running", a.stderr)

    def test_reset_by_peer_loss_estimate(self):
        """A peer that resets the connection with unread data: A reports
        "up to N messages may be lost" with N covering every message the
        peer did not read, then reconnects and sends the rest."""
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        srv.settimeout(h.WAIT_TIMEOUT)
        port = srv.getsockname()[1]
        first = bytearray()
        second = bytearray()
        done = threading.Event()

        def peer():
            c1, _ = srv.accept()
            while b"\n" not in first:
                first.extend(c1.recv(100))
            c1.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c1.close()  # RST: what A sent beyond these bytes is lost
            c2, _ = srv.accept()
            c2.settimeout(0.2)
            while not done.is_set():
                try:
                    d = c2.recv(65536)
                except socket.timeout:
                    continue
                if not d:
                    break
                second.extend(d)
            c2.close()

        t = threading.Thread(target=peer, daemon=True)
        t.start()
        try:
            a = self.start_a(f'network("127.0.0.1" port({port}) time-reopen(2))')
            h.tcp_send(a.in_port, lines_3164(b"z", 200))
            m = self.wait_stderr(a, LOSS_RE.pattern, "the loss report")
            estimate = int(m.group(3))
            h.tcp_send(a.in_port, lines_3164(b"z", 10, start=200))
            want_tail = lines_3164(b"z", 10, start=200)
            h.wait_until(lambda: bytes(second).endswith(want_tail), what="the last 10 lines on the new connection")
            stats = self.stop_ok(a)
        finally:
            done.set()
            t.join(5)
            srv.close()
        read_first = bytes(first).count(b"\n")
        got_second = bytes(second).count(b"\n")
        missing = 210 - read_first - got_second
        self.assertGreater(missing, 0, "the peer read everything; nothing to estimate")
        self.assertGreaterEqual(estimate, missing, f"estimate {estimate} < {missing} actually lost; {a.stderr}")
        self.assertLessEqual(estimate, 200)
        # The second connection carries only messages the first did not.
        self.assertTrue(bytes(second).endswith(want_tail))
        c = self.dest_counters(stats)
        self.assertEqual(c["in"], 210, stats)

    def test_failover_and_failback(self):
        """Primary 127.0.0.2 down: messages go to 127.0.0.1; when the primary
        comes up, A probes it, switches back, and later messages go there."""
        port = h.free_port()
        out1, out2 = self.path("secondary.log"), self.path("primary.log")
        b1 = self.start_b(port, out1, name="B-secondary", ip="127.0.0.1")
        a = self.start_a(f'network("127.0.0.2" port({port}) transport("tcp") time-reopen(2) '
                         f'failover(servers("127.0.0.1") failback(tcp-probe-interval(1) successful-probes-required(2))))')
        h.tcp_send(a.in_port, lines_3164(b"f", 500))
        self.assertEqual(self.wait_lines(out1, 500, b1), expected_b_records(b"f", 500))
        self.assertIn(f"cannot connect to 127.0.0.2:{port}", a.stderr_text())
        b2 = self.start_b(port, out2, name="B-primary", ip="127.0.0.2")
        self.wait_stderr(a, rf"switching back to it from 127\.0\.0\.1:{port}", "the failback report")
        h.tcp_send(a.in_port, lines_3164(b"f", 500, start=500))
        self.assertEqual(self.wait_lines(out2, 500, b2), expected_b_records(b"f", 500, start=500))
        stats = self.stop_ok(a)
        self.stop_ok(b1)
        self.stop_ok(b2)
        self.assertEqual(h.read_lines(out1), expected_b_records(b"f", 500))
        c = self.dest_counters(stats)
        self.assertEqual((c["in"], c["out"], c["errors"]), (1000, 1000, 0), stats)

    def test_failover_when_primary_breaks(self):
        """Connected to the primary, which goes away: the next message goes to
        the failover server at once."""
        p = h.free_port()
        out1, out2 = self.path("primary.log"), self.path("secondary.log")
        b1 = self.start_b(p, out1, name="B-primary", ip="127.0.0.2")
        b2 = self.start_b(p, out2, name="B-secondary", ip="127.0.0.1")
        a = self.start_a(f'network("127.0.0.2" port({p}) failover(servers("127.0.0.1")))')
        h.tcp_send(a.in_port, lines_3164(b"g", 100))
        self.wait_lines(out1, 100, b1)
        self.stop_ok(b1)
        self.wait_stderr(a, LOSS_RE.pattern, "the loss report")
        h.tcp_send(a.in_port, lines_3164(b"g", 100, start=100))
        self.assertEqual(self.wait_lines(out2, 100, b2), expected_b_records(b"g", 100, start=100))
        self.stop_ok(a)
        self.stop_ok(b2)

    # -- round-robin ---------------------------------------------------------

    def test_round_robin_spreads_lines_exactly_once(self):
        """network-load-balancer(targets(...)): batches go to the two
        receivers in turn; every line arrives exactly once.  When one
        receiver goes away, the other gets everything sent after that."""
        port = h.free_port()
        out1, out2 = self.path("b1.log"), self.path("b2.log")
        b1 = self.start_b(port, out1, name="B1", ip="127.0.0.1")
        b2 = self.start_b(port, out2, name="B2", ip="127.0.0.2")
        a = self.start_a(f'network-load-balancer(targets("127.0.0.1" "127.0.0.2") port({port}) time-reopen(1))')
        # Batches go only to connected targets: on a busy machine the second
        # connection may still be in the making when the first lines come.
        for ip in ("127.0.0.1", "127.0.0.2"):
            h.wait_until(lambda: connected_to(ip, port), what=f"A connected to {ip}:{port}")
        n, chunk = 2000, 100
        for k in range(0, n, chunk):  # one connection per chunk: many batches
            h.tcp_send(a.in_port, lines_3164(b"rr", chunk, start=k))
        h.wait_until(lambda: h.count_lines(out1) + h.count_lines(out2) >= n,
                     what=lambda: f"{n} lines over both (have {h.count_lines(out1)} + {h.count_lines(out2)})")
        got1, got2 = h.read_lines(out1), h.read_lines(out2)
        self.assertGreater(len(got1), n // 10, "the first receiver got almost nothing")
        self.assertGreater(len(got2), n // 10, "the second receiver got almost nothing")
        self.assertEqual(sorted(got1 + got2), sorted(expected_b_records(b"rr", n)))
        # Each receiver gets whole batches, in order.
        number = lambda rec: int(rec.split("|")[4].split()[-1])  # noqa: E731
        self.assertEqual(got1, sorted(got1, key=number))
        self.assertEqual(got2, sorted(got2, key=number))

        # B1 goes away: what A sends after it noticed goes to B2 only.
        self.stop_ok(b1)
        self.wait_stderr(a, LOSS_RE.pattern, "the loss report")
        before2 = h.count_lines(out2)
        h.tcp_send(a.in_port, lines_3164(b"rr", 500, start=n))
        got2 = self.wait_lines(out2, before2 + 500, b2)
        self.assertEqual(got2[before2:], expected_b_records(b"rr", 500, start=n))
        stats = self.stop_ok(a)
        self.stop_ok(b2)
        c = self.dest_counters(stats)
        self.assertEqual((c["in"], c["out"], c["dropped_queue_full"], c["errors"]), (n + 500, n + 500, 0, 0), stats)

    def test_round_robin_server_down_at_start(self):
        """A target that is down from the start gets nothing; the other gets
        every line; the failures are reported."""
        port = h.free_port()
        out2 = self.path("b2.log")
        b2 = self.start_b(port, out2, name="B2", ip="127.0.0.2")
        a = self.start_a(f'network-load-balancer(targets("127.0.0.1" "127.0.0.2") port({port}) time-reopen(1))')
        for k in range(0, 1000, 100):
            h.tcp_send(a.in_port, lines_3164(b"rd", 100, start=k))
        self.assertEqual(self.wait_lines(out2, 1000, b2), expected_b_records(b"rd", 1000))
        self.assertIn(f"cannot connect to 127.0.0.1:{port}", a.stderr_text())
        stats = self.stop_ok(a)
        self.stop_ok(b2)
        c = self.dest_counters(stats)
        self.assertEqual((c["in"], c["out"], c["dropped_queue_full"]), (1000, 1000, 0), stats)

    # -- logferry's own log --------------------------------------------------

    def test_loss_and_reconnect_reported_to_internal(self):
        """With internal() routed to a file: a killed receiver gives a
        warning "connection to ... lost (...); up to N messages may be lost",
        and the reconnect a notice."""
        pb, pa = h.free_port(), h.free_port()
        out, internal = self.path("b.log"), self.path("internal.log")
        b = self.start_b(pb, out)
        conf = (f"@version: 4.0\noptions {{ keep-hostname(yes); stats-freq(0); }};\n"
                f'source s {{ network(ip("127.0.0.1") port({pa}) transport("tcp")); }};\n'
                f"source s_int {{ internal(); }};\n"
                f'destination d {{ network("127.0.0.1" port({pb}) time-reopen(1)); }};\n'
                f'destination d_int {{ file({h.config_string(internal)} template("$LEVEL_NUM $PROGRAM $MSG\\n")); }};\n'
                f"log {{ source(s); destination(d); flags(flow-control); }};\n"
                f"log {{ source(s_int); destination(d_int); }};\n")
        a = self.start_lf("A", conf, [("127.0.0.1", pa, "tcp")])
        h.tcp_send(pa, lines_3164(b"i", 200))
        self.wait_lines(out, 200, b)
        b.kill()
        loss = re.compile(rf"^4 logferry destination network\(\) tcp 127\.0\.0\.1:{pb}: "
                          rf"connection to 127\.0\.0\.1:{pb} lost \([^)]*\); up to \d+ messages may be lost", re.M)
        h.wait_until(lambda: loss.search((h.read_bytes(internal) or b"").decode()), proc=a.proc,
                     what=lambda: f"the loss report in {internal}; it has:\n{(h.read_bytes(internal) or b'').decode()}")
        b = self.start_b(pb, out, name="B-again")
        h.tcp_send(pa, lines_3164(b"i", 10, start=200))
        notice = re.compile(rf"^5 logferry destination network\(\) tcp 127\.0\.0\.1:{pb}: connected to 127\.0\.0\.1:{pb}",
                            re.M)
        h.wait_until(lambda: notice.search((h.read_bytes(internal) or b"").decode()), proc=a.proc,
                     what=lambda: f"the reconnect notice in {internal}; it has:\n{(h.read_bytes(internal) or b'').decode()}")
        self.stop_ok(a)
        self.stop_ok(b)
        # Also on stderr, as before.
        self.assertRegex(a.stderr, rf"logferry: destination network\(\) tcp 127\.0\.0\.1:{pb}: connection to .* lost")

    # -- bounds and shutdown -------------------------------------------------

    def test_pending_cap_drops_newest(self):
        """Server down: at most log-fifo-size() messages wait; newer ones are
        dropped and counted; the ones kept arrive when the server is back."""
        pb = h.free_port()
        out = self.path("b.log")
        a = self.start_a(f'network("127.0.0.1" port({pb}) log-fifo-size(100) time-reopen(1))')
        # The first message starts the connection; once it failed, the cap
        # holds (also while later attempts are made).
        h.tcp_send(a.in_port, lines_3164(b"c", 1))
        self.wait_stderr(a, f"cannot connect to 127.0.0.1:{pb}", "the first failure")
        h.tcp_send(a.in_port, lines_3164(b"c", 300, start=1))
        h.wait_until(lambda: a.snapshot_stats()["destination"]["d#0"]["in"] == 301, what="A to take 301 messages")
        self.assertIn("dropping new messages", a.stderr_text())
        b = self.start_b(pb, out)
        got = self.wait_lines(out, 100, b)
        stats = self.stop_ok(a)
        self.stop_ok(b)
        self.assertEqual(got, expected_b_records(b"c", 100))
        c = self.dest_counters(stats)
        self.assertEqual((c["in"], c["out"], c["dropped_queue_full"]), (301, 100, 201), stats)

    def test_shutdown_with_server_down(self):
        """SIGTERM while nothing listens: one more round of connects, then
        the messages are counted as dropped and logferry exits promptly."""
        pb = h.free_port()
        a = self.start_a(f'network("127.0.0.1" port({pb}) time-reopen(60))')
        h.tcp_send(a.in_port, lines_3164(b"s", 50))
        h.wait_until(lambda: a.snapshot_stats()["destination"]["d#0"]["in"] == 50, what="A to take 50 messages")
        t0 = time.monotonic()
        stats = self.stop_ok(a)
        self.assertLess(time.monotonic() - t0, 5.0, "shutdown waited for the backoff")
        self.assertIn("shutting down with 50 messages not sent", a.stderr)
        c = self.dest_counters(stats)
        self.assertEqual((c["in"], c["out"], c["dropped_queue_full"]), (50, 0, 50), stats)

    def test_shutdown_drains_backlog(self):
        """SIGTERM right after a burst: what A holds is written before exit."""
        pb = h.free_port()
        out = self.path("b.log")
        b = self.start_b(pb, out)
        a = self.start_a(f'network("127.0.0.1" port({pb}))')
        n = 50000
        s = h.tcp_connect(a.in_port)
        s.sendall(lines_3164(b"d", n))
        s.shutdown(socket.SHUT_WR)
        s.settimeout(30)
        while s.recv(65536):
            pass
        s.close()
        stats = self.stop_ok(a)
        got = self.wait_lines(out, n, b)
        self.stop_ok(b)
        self.assertEqual(got, expected_b_records(b"d", n))
        c = self.dest_counters(stats)
        self.assertEqual((c["in"], c["out"], c["dropped_queue_full"], c["errors"]), (n, n, 0, 0), stats)

    # -- config --------------------------------------------------------------

    def test_check_prints_destinations(self):
        conf = self.path("c.conf")
        with open(conf, "w") as f:
            f.write('@version: 4.0\nsource s { network(port(5140)); };\n'
                    'destination d {\n'
                    '  network("logs.example.com" port(514) transport("tcp") so-keepalive(yes) disk-buffer(reliable(no)) throttle(10));\n'
                    '  syslog("a.example.com" failover(servers("b.example.com" "c.example.com") '
                    'failback(tcp-probe-interval(5) successful-probes-required(2))));\n'
                    '  network("u.example.com" transport("udp") template("$MSG\\n") flags(no-multi-line));\n'
                    '};\nlog { source(s); destination(d); };\n')
        r = h.run_logferry([a_bin(), "check", "-f", conf], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = r.stdout.decode(), r.stderr.decode()
        self.assertEqual(r.returncode, 0, err)
        self.assertIn("    network() tcp logs.example.com:514 disk-buffer(non-reliable 1073741824 bytes)\n", out)
        self.assertIn("    syslog() tcp a.example.com:601 failover(b.example.com:601 c.example.com:601) "
                      "failback(probe every 5s, 2 probes)\n", out)
        self.assertIn("    network() udp u.example.com:514\n", out)
        self.assertIn("throttle() of network() destination is accepted but not acted on yet", err)

        with open(conf, "w") as f:
            f.write('@version: 4.0\nsource s { network(port(5140)); };\n'
                    'destination d { network(port(514) transport("tls")); syslog("x" failover(server("y"))); };\n'
                    'log { source(s); destination(d); };\n')
        r = h.run_logferry([a_bin(), "check", "-f", conf], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err = r.stderr.decode()
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("expected the host to send to in network() destination", err)
        self.assertIn('transport("tls") is not supported yet', err)
        self.assertIn("unknown option 'server' in failover() of syslog() destination", err)

    def test_check_load_balancer(self):
        """network-load-balancer(): syslog-ng's spelling (targets() may be
        bare words), what `logferry check` prints, and its errors."""
        conf = self.path("c.conf")
        with open(conf, "w") as f:
            f.write('@version: 4.0\nsource s { network(port(5140)); };\n'
                    'destination d {\n'
                    '  network-load-balancer(targets(logs1 "logs2.example.com" "::1") port(6514) flags(syslog-protocol));\n'
                    '  network-load-balancer(targets("u1" "u2") transport("udp"));\n'
                    '};\nlog { source(s); destination(d); };\n')
        r = h.run_logferry([a_bin(), "check", "-f", conf], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = r.stdout.decode(), r.stderr.decode()
        self.assertEqual(r.returncode, 0, err)
        self.assertIn("    network-load-balancer() tcp round-robin(logs1:6514 logs2.example.com:6514 [::1]:6514)\n", out)
        self.assertIn("    network-load-balancer() udp round-robin(u1:514 u2:514)\n", out)

        with open(conf, "w") as f:
            f.write('@version: 4.0\nsource s { network(port(5140)); };\n'
                    'destination d {\n'
                    '  network-load-balancer(targets("a") failover(servers("b")));\n'
                    '  network-load-balancer("x" targets("y"));\n'
                    '  network-load-balancer(port(514));\n'
                    '  network-load-balancer(targets());\n'
                    '};\nlog { source(s); destination(d); };\n')
        r = h.run_logferry([a_bin(), "check", "-f", conf], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err = r.stderr.decode()
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(":4:", err)
        self.assertIn("error: failover() cannot be used in network-load-balancer()", err)
        self.assertIn("hint: its targets() already stand in for each other", err)
        self.assertIn("error: network-load-balancer() takes its servers in targets(), not as a value", err)
        self.assertNotIn("unknown option 'targets'", err)
        self.assertIn("error: network-load-balancer() needs targets()", err)
        self.assertIn("error: targets() of network-load-balancer() destination lists no server", err)
        self.assertIn('hint: write network-load-balancer(targets("logs1.example.com" "logs2.example.com") port(514))', err)

    # -- a real syslog-ng receiving ------------------------------------------

    def test_syslog_ng_parses_what_a_sends(self):
        binary = shutil.which("syslog-ng") or next(
            (p for p in ("/usr/sbin/syslog-ng", "/usr/local/sbin/syslog-ng") if os.access(p, os.X_OK)), None)
        if not binary:
            self.skipTest("syslog-ng is not installed")
        p_bsd, p_5424, p_udp = ic.free_ports(3)
        t = "${HOST}\\t${PROGRAM}\\t${PID}\\t${MSGID}\\t${MSG}\\t${FACILITY_NUM}\\t${LEVEL_NUM}\\t${ISODATE}\\t${SDATA}\\n"
        outs = {k: self.path(f"sng-{k}.log") for k in ("bsd", "5424", "udp")}
        conf = self.path("syslog-ng.conf")
        with open(conf, "w") as f:
            f.write(f"""@version: 3.38
options {{ keep-hostname(yes); chain-hostnames(no); use-dns(no); dns-cache(no); stats-freq(0);
  mark-freq(0); recv-time-zone("UTC"); frac-digits(3); }};
source s_bsd {{ network(ip("127.0.0.1") port({p_bsd}) transport("tcp")); }};
source s_5424 {{ syslog(ip("127.0.0.1") port({p_5424}) transport("tcp")); }};
source s_udp {{ syslog(ip("127.0.0.1") port({p_udp}) transport("udp")); }};
destination d_bsd {{ file("{outs['bsd']}" template("{t}")); }};
destination d_5424 {{ file("{outs['5424']}" template("{t}")); }};
destination d_udp {{ file("{outs['udp']}" template("{t}")); }};
log {{ source(s_bsd); destination(d_bsd); }};
log {{ source(s_5424); destination(d_5424); }};
log {{ source(s_udp); destination(d_udp); }};
""")
        d = ic.Daemon("syslog-ng", [binary, "-F", "-e", "--no-caps", "-f", conf,
                                    "-p", self.path("sng.pid"), "-c", self.path("sng.ctl"),
                                    "-R", self.path("sng.persist")],
                      self.path("syslog-ng.log"), env=dict(os.environ, TZ="UTC"), cwd=self.dir)
        try:
            h.wait_until(lambda: listening_on("127.0.0.1", p_bsd) and listening_on("127.0.0.1", p_5424)
                         and listening_on("127.0.0.1", p_udp, "udp"), h.START_TIMEOUT,
                         lambda: f"syslog-ng to listen; its output:\n{d.output()}")
            a = self.start_a(f'network("127.0.0.1" port({p_bsd}) transport("tcp")); '
                             f'syslog("127.0.0.1" port({p_5424}) transport("tcp") frac-digits(3)); '
                             f'syslog("127.0.0.1" port({p_udp}) transport("udp") frac-digits(3))')
            t1, t2, t3, t4 = (NOW + datetime.timedelta(seconds=k) for k in (0, 1, 2, 3))
            local2 = t2 + datetime.timedelta(hours=1)  # t2 written at +01:00
            msgs = [
                f'<165>1 {iso(t1)}.003Z mymachine evntslog - ID47 [ex@32473 iut="3" src="A\\"pp"] An event',
                f"<13>1 {iso(local2)}+01:00 web1 nginx 42 - - GET / 200",
                f"<86>1 {iso(t3)}.25Z host.example.com sshd 21345 AUTH - Accepted publickey for deploy",
            ]
            bulk = [f"<14>1 {iso(t4)}Z h app {i} - - bulk {i:04d}" for i in range(300)]
            everything = msgs + bulk
            # UDP has no flow control: in chunks that fit syslog-ng's buffer.
            for k in range(0, len(everything), 50):
                chunk = everything[k:k + 50]
                h.tcp_send(a.in_port, "".join(m + "\n" for m in chunk).encode())
                for path in outs.values():
                    h.wait_until(lambda: h.count_lines(path) >= k + len(chunk), h.WAIT_TIMEOUT,
                                 lambda: f"syslog-ng to write {k + len(chunk)} lines to {path} (has "
                                         f"{h.count_lines(path)}); its output:\n{d.output()}")
            n = len(everything)
            stats = self.stop_ok(a)
        finally:
            d.stop()
        rec = {k: [line.split("\t") for line in h.read_lines(p)] for k, p in outs.items()}
        exp5424 = [
            ["mymachine", "evntslog", "", "ID47", "An event", "20", "5", f"{iso(t1)}.003+00:00",
             '[ex@32473 iut="3" src="A\\"pp"]'],
            ["web1", "nginx", "42", "", "GET / 200", "1", "5", f"{iso(local2)}.000+01:00", ""],
            ["host.example.com", "sshd", "21345", "AUTH", "Accepted publickey for deploy", "10", "6",
             f"{iso(t3)}.250+00:00", ""],
        ] + [["h", "app", str(i), "", f"bulk {i:04d}", "1", "6", f"{iso(t4)}.000+00:00", ""] for i in range(300)]
        self.assertEqual(rec["5424"], exp5424)
        self.assertEqual(rec["udp"], exp5424)
        # RFC 3164: no MSGID, SD, fraction or offset: the date is written in
        # the stamp's own offset (+01:00 for the second one) and syslog-ng
        # reads it in its recv-time-zone(), UTC.
        expbsd = [
            ["mymachine", "evntslog", "", "", "An event", "20", "5", f"{iso(t1)}.000+00:00", ""],
            ["web1", "nginx", "42", "", "GET / 200", "1", "5", f"{iso(local2)}.000+00:00", ""],
            ["host.example.com", "sshd", "21345", "", "Accepted publickey for deploy", "10", "6",
             f"{iso(t3)}.000+00:00", ""],
        ] + [["h", "app", str(i), "", f"bulk {i:04d}", "1", "6", f"{iso(t4)}.000+00:00", ""] for i in range(300)]
        self.assertEqual(rec["bsd"], expbsd)
        for name in ("d#0", "d#1", "d#2"):
            c = self.dest_counters(stats, name)
            self.assertEqual((c["in"], c["out"], c["errors"]), (n, n, 0), stats)


def a_bin():
    return h.LOGFERRY


if __name__ == "__main__":
    h.main()
