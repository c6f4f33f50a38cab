#!/usr/bin/env python3
"""syslog-ng's loggen -> logferry over TCP (BSD lines), RFC 5424 (octet
counted, with structured data) and unix-stream: every message loggen
reports as sent is in the file exactly once, in order per connection, and
the source and destination counters agree; SIGTERM then drains and exits 0."""
import re
import shutil
import subprocess
import unittest
from collections import defaultdict

import lfharness as h

LOGGEN = shutil.which("loggen") or "/usr/bin/loggen"
# loggen's payload: "seq: 0000000012, thread: 0001, runid: 1795855794, stamp: ... PADD..."
SEQ_RE = re.compile(r"seq: (\d+), thread: (\d+), runid: (\d+),")
TEMPLATE = "$HOST|$PROGRAM|$PID|$MSGID|${.SDATA.x@1.k}|$FACILITY|$LEVEL|$MSG\n"


def run_loggen(*args, timeout=40):
    """Runs loggen; returns the total count it reports as sent."""
    p = subprocess.run([LOGGEN, *args], capture_output=True, timeout=timeout)
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    if p.returncode != 0:
        raise AssertionError(f"loggen {args} exited {p.returncode}: {out}")
    m = re.findall(r"average rate = [\d.]+ msg/sec, count=(\d+)", out)
    if not m:
        raise AssertionError(f"no 'average rate ... count=' in loggen's output: {out}")
    if "error sending" in out:
        raise AssertionError(f"loggen reported a send error: {out}")
    return int(m[-1])


def check_sequences(test, lines, connections):
    """Every line is a loggen message; per (runid, thread) the sequence
    numbers are exactly 0..n-1 in order (nothing lost, repeated or
    reordered within a connection)."""
    seqs = defaultdict(list)
    for i, line in enumerate(lines):
        m = SEQ_RE.search(line)
        test.assertIsNotNone(m, f"line {i + 1} is not a loggen message: {line[:200]!r}")
        seqs[(m.group(3), m.group(2))].append(int(m.group(1)))
    test.assertEqual(len(seqs), connections, f"connections seen: {sorted(seqs)}")
    for key, s in seqs.items():
        if s != list(range(len(s))):
            missing = sorted(set(range(max(s) + 1)) - set(s))[:10]
            test.fail(f"connection {key}: {len(s)} messages, not 0..n-1 in order; first missing {missing}")


class LoggenTest(h.ServerTest):

    def server(self, source_decl, unix_paths=(), nports=1, flow_control=True):
        self.out = self.path("all.log")

        def conf(ports):
            return ("@version: 4.0\noptions { keep-hostname(yes); stats-freq(0); };\n"
                    f"source s {{ {source_decl(ports)} }};\n"
                    f"destination d {{ file({h.config_string(self.out)} template({h.config_string(TEMPLATE)})); }};\n"
                    f"log {{ source(s); destination(d); {'flags(flow-control);' if flow_control else ''} }};\n")
        return self.logferry(conf, nports=nports, unix_paths=unix_paths)

    def assert_counts(self, lf, sent, check_lines):
        """Waits for every line, checks the counters while running (SIGUSR1)
        and after SIGTERM, and the file once stopped."""
        lines = self.wait_lines(self.out, sent, lf, timeout=30)
        self.assertEqual(len(lines), sent, "more lines than loggen sent")
        live = lf.snapshot_stats()
        src = h.source_totals(live)
        self.assertEqual(src["in"], sent, live)
        self.assertEqual((live["destination"]["d#0"]["in"], live["destination"]["d#0"]["out"]), (sent, sent), live)
        stats = self.stop_ok(lf)
        src = h.source_totals(stats)
        self.assertEqual({k: src[k] for k in ("in", "dropped_queue_full", "truncated", "parse_errors", "errors")},
                         {"in": sent, "dropped_queue_full": 0, "truncated": 0, "parse_errors": 0, "errors": 0}, stats)
        d = stats["destination"]["d#0"]
        self.assertEqual((d["in"], d["out"], d["errors"], d["dropped_queue_full"]), (sent, sent, 0, 0), stats)
        lines = h.read_lines(self.out)
        self.assertEqual(len(lines), sent)
        check_lines(lines)

    def test_tcp_rate_interval(self):
        lf = self.server(lambda p: f'network(ip("127.0.0.1") port({p[0]}) transport("tcp"));')
        sent = run_loggen("--inet", "--stream", "--rate", "20000", "--interval", "2", "--size", "200",
                          "--active-connections", "2", "127.0.0.1", str(lf.port))
        self.assertGreater(sent, 1000, "loggen sent too little to test anything")

        def check(lines):
            check_sequences(self, lines, 2)
            self.assertTrue(all(l.startswith("localhost|prg00000|1234|||auth|info|seq: ") for l in lines),
                            [l for l in lines if not l.startswith("localhost|prg00000|1234|||auth|info|")][:3])
        self.assert_counts(lf, sent, check)

    def test_tcp_fixed_number(self):
        lf = self.server(lambda p: f'network(ip("127.0.0.1") port({p[0]}) transport("tcp"));')
        sent = run_loggen("--inet", "--stream", "--rate", "100000", "--number", "20000", "--size", "300",
                          "127.0.0.1", str(lf.port))
        self.assertEqual(sent, 20000)
        self.assert_counts(lf, sent, lambda lines: check_sequences(self, lines, 1))

    def test_rfc5424_syslog_driver(self):
        """--syslog-proto: RFC 6587 octet-counted RFC 5424 frames into syslog(),
        with structured data from --sdata."""
        lf = self.server(lambda p: f'syslog(ip("127.0.0.1") port({p[0]}) transport("tcp"));')
        sent = run_loggen("--inet", "--stream", "--syslog-proto", "--sdata", '[x@1 k="sd value"]', "--rate", "50000",
                          "--number", "10000", "--size", "300", "--active-connections", "2", "127.0.0.1", str(lf.port))
        self.assertEqual(sent, 20000)  # --number is per connection

        def check(lines):
            check_sequences(self, lines, 2)
            # The BOM before the message is not part of $MSG.
            bad = [l for l in lines if not l.startswith("localhost|prg00000|1234||sd value|auth|info|seq: ")]
            self.assertEqual(bad[:3], [])
        self.assert_counts(lf, sent, check)

    def test_rfc5424_network_auto_framing(self):
        """The same frames into network(): octet counting is detected."""
        lf = self.server(lambda p: f'network(ip("127.0.0.1") port({p[0]}) transport("tcp"));')
        sent = run_loggen("--inet", "--stream", "--syslog-proto", "--sdata", '[x@1 k="v"]', "--rate", "50000",
                          "--number", "10000", "--size", "300", "127.0.0.1", str(lf.port))
        self.assertEqual(sent, 10000)

        def check(lines):
            check_sequences(self, lines, 1)
            self.assertEqual([l for l in lines if not l.startswith("localhost|prg00000|1234||v|auth|info|seq: ")][:3], [])
        self.assert_counts(lf, sent, check)

    def test_unix_stream(self):
        sock = self.path("log.sock")
        lf = self.server(lambda p: f"unix-stream({h.config_string(sock)});", unix_paths=(sock,), nports=0)
        sent = run_loggen("--unix", "--stream", "--rate", "100000", "--number", "10000", "--size", "200", sock)
        self.assertEqual(sent, 10000)
        self.assert_counts(lf, sent, lambda lines: check_sequences(self, lines, 1))


if __name__ == "__main__":
    h.main(requires=["loggen"])
