#!/usr/bin/env python3
"""Drain on shutdown: lines a client sent before SIGTERM are all written,
logferry exits 0 and prints its counters."""
import os
import signal
import socket
import threading
import unittest

import lfharness as h

N = 50000


def process_state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def lines_payload(tag, n=N):
    return b"".join(b"<13>Nov 28 08:00:00 host prog: %s line %06d padding to make it longer\n" % (tag, i)
                    for i in range(n))


class ShutdownTest(h.ServerTest):

    def server(self, flow_control=False, fifo=None, extra_sources=""):
        self.out = self.path("out.log")

        def conf(ports):
            opts = f"log-fifo-size({fifo});" if fifo else ""
            return (f"@version: 4.0\noptions {{ keep-hostname(yes); stats-freq(0); {opts} }};\n"
                    f'source s {{ network(ip("127.0.0.1") port({ports[0]}) transport("tcp")); {extra_sources} }};\n'
                    f'destination d {{ file({h.config_string(self.out)} template("$MSG\\n")); }};\n'
                    f"log {{ source(s); destination(d); {'flags(flow-control);' if flow_control else ''} }};\n")
        return self.logferry(conf)

    def send_then_term(self, lf, payload, wait_for_server_eof):
        s = h.tcp_connect(lf.port)
        s.sendall(payload)
        if wait_for_server_eof:
            # Half-close and wait until logferry has read everything (it
            # closes its side at EOF) before the SIGTERM.
            s.shutdown(socket.SHUT_WR)
            s.settimeout(30)
            while s.recv(65536):
                pass
        s.close()
        return self.stop_ok(lf)

    def check_all(self, stats, tag, n=N):
        lines = h.read_lines(self.out)
        expect = [f"{tag} line {i:06d} padding to make it longer" for i in range(n)]
        if lines != expect:
            missing = sorted(set(expect) - set(lines))
            self.fail(f"{len(lines)} of {n} lines written after SIGTERM; {len(missing)} missing, "
                      f"first missing {missing[:2]}, last written {lines[-1:]}; counters {stats}")
        src = h.source_totals(stats)
        self.assertEqual((src["in"], src["dropped_queue_full"]), (n, 0), stats)
        self.assertEqual((stats["destination"]["d#0"]["in"], stats["destination"]["d#0"]["out"]), (n, n), stats)

    def test_drain_after_server_read_everything(self):
        """SIGTERM once logferry has read the whole stream (but before it has
        necessarily written it): every queued line is written."""
        lf = self.server(flow_control=True)
        stats = self.send_then_term(lf, lines_payload(b"a"), wait_for_server_eof=True)
        self.check_all(stats, "a")

    def test_drain_immediately_after_client_close(self):
        """KNOWN BUG: SIGTERM right after the client's close() loses the lines
        still in the socket buffers when the signal arrives: stop() closes
        every connection without reading what the kernel already holds (the
        client has sent it and closed), the line cut by that is written as a
        message of its own, and the lost lines are not counted anywhere.

        To make "immediately" deterministic, logferry is frozen (SIGSTOP)
        while the client sends its 50k lines and closes, SIGTERM is queued,
        and SIGCONT lets it see the signal and the bytes together."""
        lf = self.server(flow_control=True)
        s = h.tcp_connect(lf.port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        payload = lines_payload(b"b")
        os.kill(lf.pid, signal.SIGSTOP)
        try:
            h.wait_until(lambda: process_state(lf.pid) == "T", what="logferry stopped")
            sender = threading.Thread(target=s.sendall, args=(payload,), daemon=True)
            sender.start()
            sender.join(20)
            if sender.is_alive():
                self.skipTest("the socket buffers cannot hold the 50k lines while logferry is frozen")
            s.close()
            os.kill(lf.pid, signal.SIGTERM)
        finally:
            os.kill(lf.pid, signal.SIGCONT)
        stats = self.stop_ok(lf)
        self.check_all(stats, "b")

    def test_drain_immediately_after_client_close(self):
        """SIGTERM right after the client's close(), without freezing: every
        line logferry counted as received is written, exit 0.  (That no line
        is lost is test_known_bug_drain_immediately_after_client_close.)"""
        lf = self.server(flow_control=True)
        s = h.tcp_connect(lf.port)
        s.sendall(lines_payload(b"d"))
        s.close()
        stats = self.stop_ok(lf)
        lines = h.read_lines(self.out)
        received = h.source_totals(stats)["in"]
        self.assertEqual(len(lines), received, stats)
        self.assertEqual(stats["destination"]["d#0"]["out"], received, stats)
        # Whatever was read arrived complete and in order (the last line may
        # be cut short by the bug above).
        expect = [f"d line {i:06d} padding to make it longer" for i in range(len(lines))]
        self.assertEqual(lines[:-1], expect[:-1])

    def test_drain_without_flow_control(self):
        """The same without flow-control and a large queue: nothing is
        dropped, everything written."""
        lf = self.server(flow_control=False, fifo=100000)
        stats = self.send_then_term(lf, lines_payload(b"c"), wait_for_server_eof=True)
        self.check_all(stats, "c")

    def test_sigint_and_idle_exit(self):
        """SIGINT stops it too; an idle server with an open idle connection
        exits promptly with status 0 and prints every counter line."""
        lf = self.server()
        idle = h.tcp_connect(lf.port)
        h.tcp_send(lf.port, b"<13>Nov 28 08:00:00 host prog: only one\n")
        self.wait_lines(self.out, 1, lf)
        lf.proc.send_signal(signal.SIGINT)
        lf.proc.wait(timeout=h.STOP_TIMEOUT)
        stats = self.stop_ok(lf)
        idle.close()
        self.assertEqual(h.read_lines(self.out), ["only one"])
        self.assertEqual(list(stats["destination"]), ["d#0"])
        self.assertEqual(len(stats["source"]), 1)
        common = ["in", "out", "dropped_queue_full", "truncated", "parse_errors", "filtered", "errors"]
        for c in stats["source"].values():
            self.assertEqual(sorted(c), sorted(common + ["unacknowledged"]))
        for c in stats["destination"].values():
            self.assertEqual(sorted(c), sorted(common))
        self.assertEqual(h.source_totals(stats)["in"], 1)


if __name__ == "__main__":
    h.main()
