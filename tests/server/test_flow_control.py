#!/usr/bin/env python3
"""Flow control: with flags(flow-control) a slow destination slows its TCP
source and nothing is dropped; without it the bounded queue drops the excess
and counts it.  Memory stays bounded either way."""
import os
import threading
import time
import unittest

import lfharness as h

N = 300000  # ~36 MB: more than the kernel's socket buffers can absorb


def payload(n=N):
    return b"".join(b"<13>Nov 28 08:00:00 host prog: flow line %07d padding padding padding padding pad\n" % i
                    for i in range(n))


class FlowControlTest(h.ServerTest):

    def server(self, flow_control):
        self.fifo = self.path("out.fifo")
        os.mkfifo(self.fifo)

        def conf(ports):
            return ("@version: 4.0\noptions { stats-freq(0); log-fifo-size(2000); time-reopen(120); };\n"
                    f'source s {{ network(ip("127.0.0.1") port({ports[0]}) transport("tcp")); }};\n'
                    f'destination d {{ pipe({h.config_string(self.fifo)} template("$MSG\\n")); }};\n'
                    f"log {{ source(s); destination(d); {'flags(flow-control);' if flow_control else ''} }};\n")
        return self.logferry(conf)

    def send_in_background(self, lf):
        done = threading.Event()

        def send():
            s = h.tcp_connect(lf.port, timeout=120)
            s.sendall(payload())
            s.close()
            done.set()
        threading.Thread(target=send, daemon=True).start()
        return done

    def read_fifo(self, want, lf, deadline_s=90):
        """Reads the FIFO until `want` lines came or nothing came for a while
        after the sender finished; returns the lines."""
        fd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
        buf = bytearray()
        deadline = time.monotonic() + deadline_s
        try:
            while buf.count(b"\n") < want and time.monotonic() < deadline:
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:
                    chunk = None
                if chunk:
                    buf += chunk
                else:
                    time.sleep(0.01)
        finally:
            os.close(fd)
        return bytes(buf).splitlines()

    def test_flow_control_slows_the_source_and_loses_nothing(self):
        lf = self.server(flow_control=True)
        done = self.send_in_background(lf)
        time.sleep(1.0)  # let the FIFO, the queue and the socket buffers fill
        rss_while_blocked = lf.peak_rss_kb()
        lines = self.read_fifo(N, lf)
        self.assertTrue(done.wait(60), "the sender never finished")
        self.assertEqual(len(lines), N, "every line arrives")
        self.assertEqual([int(l.split()[2]) for l in lines], list(range(N)), "in order, each once")
        peak = lf.peak_rss_kb()
        stats = self.stop_ok(lf)
        self.assertEqual(h.source_totals(stats)["dropped_queue_full"], 0)
        self.assertLess(rss_while_blocked, 100 * 1024, "memory stays bounded while the destination is blocked")
        self.assertLess(peak, 100 * 1024)

    def test_without_flow_control_the_queue_drops_and_counts(self):
        lf = self.server(flow_control=False)
        done = self.send_in_background(lf)
        self.assertTrue(done.wait(60), "without flow control the sender is never held back")
        def all_counted():
            t = h.source_totals(lf.snapshot_stats(dests=("d#0",)))
            return t["in"] + t["dropped_queue_full"] >= N
        h.wait_until(all_counted, what="every line counted as taken or dropped", interval=0.2)
        peak = lf.peak_rss_kb()
        lines = self.read_fifo(N, lf, deadline_s=5)
        stats = self.stop_ok(lf)
        # The queue between the threads, or the pipe's own backlog when the
        # output thread keeps up (it never waits for the FIFO), drops.
        dropped = h.source_totals(stats)["dropped_queue_full"] + stats["destination"]["d#0"]["dropped_queue_full"]
        self.assertGreater(dropped, 0, "a full queue drops")
        written = len(lines)
        self.assertEqual(written + dropped, N, f"written {written} + dropped {dropped} accounts for every line")
        self.assertLess(peak, 100 * 1024)

    def test_stuck_pipe_does_not_stall_other_destinations(self):
        """A FIFO nobody reads holds its own lines (flow control: its source
        waits) while another source's file destination goes on being
        written; once the FIFO is read, all its lines arrive, once."""
        fifo = self.path("stuck.fifo")
        os.mkfifo(fifo)
        out = self.path("other.log")
        n_pipe, n_file = 20000, 2000

        def conf(ports):
            return ("@version: 4.0\noptions { stats-freq(0); time-reopen(600); };\n"
                    f'source s_pipe {{ network(ip("127.0.0.1") port({ports[0]}) transport("tcp")); }};\n'
                    f'source s_file {{ network(ip("127.0.0.1") port({ports[1]}) transport("tcp")); }};\n'
                    f'destination d_pipe {{ pipe({h.config_string(fifo)} template("$MSG\\n")); }};\n'
                    f'destination d_file {{ file({h.config_string(out)} template("$MSG\\n")); }};\n'
                    "log { source(s_pipe); destination(d_pipe); flags(flow-control); };\n"
                    "log { source(s_file); destination(d_file); };\n")
        lf = self.logferry(conf, nports=2)
        sender = threading.Thread(target=lambda: h.tcp_send(lf.ports[0], payload(n_pipe), timeout=120), daemon=True)
        sender.start()
        # The FIFO (64 KiB) is full long before n_pipe lines: d_pipe waits.
        h.wait_until(lambda: h.source_totals(lf.snapshot_stats(dests=("d_pipe#0",)), "s_pipe")["in"] > 2000,
                     what="lines for the FIFO")
        h.tcp_send(lf.ports[1], payload(n_file))
        self.wait_lines(out, n_file, lf)
        self.fifo = fifo
        lines = self.read_fifo(n_pipe, lf)
        sender.join(60)
        self.assertEqual([int(l.split()[2]) for l in lines], list(range(n_pipe)), "every FIFO line, in order, once")
        stats = self.stop_ok(lf)
        self.assertEqual(h.source_totals(stats)["dropped_queue_full"], 0)
        self.assertEqual(stats["destination"]["d_pipe#0"]["dropped_queue_full"], 0)


if __name__ == "__main__":
    h.main()
