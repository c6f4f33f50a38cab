#!/usr/bin/env python3
"""time-reap(): idle files of a templated path are closed; a file in use is
never reaped, even when another file was opened after it."""
import os
import threading
import time
import unittest

import lfharness as h


def open_targets(pid):
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return out


class FileReapTest(h.ServerTest):

    def test_active_file_is_kept_and_idle_file_is_reaped(self):
        base = self.path("logs")

        def conf(ports):
            return ("@version: 4.0\noptions { keep-hostname(yes); stats-freq(0); create-dirs(yes); };\n"
                    f'source s {{ network(ip("127.0.0.1") port({ports[0]}) transport("tcp")); }};\n'
                    f'destination d {{ file({h.config_string(base + "/${HOST}.log")} template("$MSG\\n") time-reap(2)); }};\n'
                    "log { source(s); destination(d); };\n")
        lf = self.logferry(conf)
        a, b = os.path.join(base, "a.log"), os.path.join(base, "b.log")
        s = h.tcp_connect(lf.port)
        s.sendall(b"<13>Nov 28 08:00:00 b app: only\n")
        # a.log is written every 0.1 s without a pause (so it is never idle
        # for time-reap(2)) while b.log is idle and another file is opened.
        sent = [0]
        stop = threading.Event()

        def keep_writing():
            while not stop.is_set():
                s.sendall(b"<13>Nov 28 08:00:00 a app: keep %d\n" % sent[0])
                sent[0] += 1
                time.sleep(0.1)
        t = threading.Thread(target=keep_writing, daemon=True)
        t.start()
        h.wait_until(lambda: h.count_lines(a) >= 1 and h.count_lines(b) == 1, what="a.log and b.log written")
        # Rotate a.log away: while logferry keeps it open, lines follow it to a.old.
        os.rename(a, a + ".old")
        s2 = h.tcp_connect(lf.port)
        s2.sendall(b"<13>Nov 28 08:00:00 c app: opened after a\n")
        s2.close()
        time.sleep(5)  # longer than time-reap(2): several reap ticks pass
        stop.set()
        t.join()
        s.close()
        h.wait_until(lambda: h.count_lines(a + ".old") == sent[0], what="every line in the still-open file")
        self.assertFalse(os.path.exists(a), "the file in use was reaped and reopened")
        h.wait_until(lambda: not any(t.endswith("/b.log") for t in open_targets(lf.pid)),
                     what="the idle b.log to be closed")
        self.stop_ok(lf)


if __name__ == "__main__":
    h.main()
