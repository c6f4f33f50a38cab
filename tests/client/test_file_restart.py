#!/usr/bin/env python3
"""file() and wildcard-file() across restarts: SIGTERM in the middle of the
files (nothing lost, nothing repeated, the saved positions are exactly the
ends of the lines delivered), kill -9 (nothing lost; the only repeats are the
lines after the position the state file held at the kill), files rotated,
copied and truncated, or deleted and their inode reused while logferry was
down, and `logferry run --persist-dir DIR` (DIR/logferry.state, JSON)."""
import os
import shutil
import time

import test_file_lib as fl
from test_file_lib import h

WIDTH = 80          # every line is WIDTH bytes plus its newline
LINE = WIDTH + 1


class RestartTest(fl.FileTest):

    def conf(self, opts="", slow_fifo=None):
        """The files of logs/ into out.log, and with `slow_fifo` also into
        that FIFO (which the test reads slowly: logferry then stays in the
        middle of big files, held back by flow control)."""
        extra_dest = log_extra = ""
        if slow_fifo:
            extra_dest = f"destination slow {{ pipe({h.config_string(slow_fifo)} template(\"${{MESSAGE}}\\n\")); }};\n"
            log_extra = "destination(slow); "
        return fl.conf_text(fl.wildcard(self.logs, "*.log", "follow-freq(1) rotate-wait(1) " + opts), self.out,
                            extra_dest=extra_dest, log_extra=log_extra)

    def by_tag(self, got):
        """{tag: [seq, ...]} in arrival order."""
        out = {}
        for tag, _gen, seq in got:
            out.setdefault(tag, []).append(seq)
        return out

    def start_busy(self, big_lines=100000, writers=("w1", "w2")):
        """big.log (written before the start) and files appended to by
        writer threads all along; a slow second destination (a FIFO read
        at 300 kB/s) keeps logferry in the middle of big.log."""
        fl.append_lines(self.log("big.log"), "big", 0, 0, big_lines, self.ledger, WIDTH)
        self.fifo = self.path("slow.fifo")
        os.mkfifo(self.fifo)
        self.reader = fl.SlowReader(self.path("slow.out"), 300_000, fifo=self.fifo)
        self.reader.start()
        self.addCleanup(self.reader.stop)
        ws = [fl.Writer(self.log(t + ".log"), t, self.ledger, burst=10, interval=0.005, width=WIDTH) for t in writers]
        lf = self.lf(self.conf(slow_fifo=self.fifo))
        for w in ws:
            w.start()
        return lf, ws

    def assert_restart_shape(self, seqs, total, j, what):
        """seqs (one tag, in arrival order) must be 0..k-1 then j..total-1
        for some k >= j: the first run's lines, then the second run's from
        the saved position on."""
        k = 0
        while k < len(seqs) and seqs[k] == k:
            k += 1
        if k == len(seqs):
            self.assertEqual(k, total, f"{what}: every line")
            return 0
        self.assertGreaterEqual(k, j, f"{what}: the saved position ({j}) covers only lines that were delivered")
        self.assertEqual(seqs[k:], list(range(j, total)), f"{what}: after line {k - 1}, the second run from {j}")
        return k - j

    def test_sigterm_mid_file(self):
        """SIGTERM while big.log is being read and two files are being
        written: the state file then holds, for every file, exactly the end
        of the last line delivered; after a restart (the writers went on
        meanwhile) every line has arrived exactly once."""
        lf, ws = self.start_busy()
        h.wait_until(lambda: h.count_lines(self.out) >= 5000, what="the first lines", proc=lf.proc)
        self.reader.set_rate(None)  # the shutdown drains the queue into both destinations
        self.stop_ok(lf)
        delivered = self.by_tag(fl.parse_out(self.out))
        self.assertLess(len(delivered["big"]), 100000, "stopped in the middle of big.log")
        for tag in ("big", "w1", "w2"):
            seqs = delivered.get(tag, [])
            self.assertEqual(seqs, list(range(len(seqs))), f"{tag}: the lines before the stop, in order")
            self.assertEqual(fl.state_pos(self.state, fl.dev_ino(self.log(tag + ".log"))), len(seqs) * LINE,
                             f"{tag}: the saved position is the end of the last line delivered")
        time.sleep(0.3)  # the writers go on while logferry is down
        lf = self.lf(self.conf(slow_fifo=self.fifo))
        time.sleep(0.5)
        for w in ws:
            w.stop()
        self.wait_all(lf, timeout=60)
        self.stop_and_check(lf, "SIGTERM and restart")
        fl.wait_complete(self.reader.out_path, self.ledger, timeout=60)
        fl.check_exact(self, fl.parse_out(self.reader.out_path), self.ledger, "SIGTERM and restart, FIFO")

    def test_kill9_mid_file(self):
        """kill -9 while files are read and written: after the restart
        nothing is lost, and the lines delivered twice are exactly those
        after the position the state file held when logferry died (it is
        written at most once a second: those are the lines of that window)."""
        lf, ws = self.start_busy(big_lines=200000)
        h.wait_until(lambda: h.count_lines(self.out) >= 5000, what="the first lines", proc=lf.proc)
        h.wait_until(lambda: fl.read_state(self.state), what="a state file", proc=lf.proc)
        before = {t: fl.state_pos(self.state, fl.dev_ino(self.log(t + ".log"))) for t in ("big", "w1", "w2")}
        lf.kill9()
        # The state file as the killed process left it: what the restart uses.
        after = {t: fl.state_pos(self.state, fl.dev_ino(self.log(t + ".log"))) for t in ("big", "w1", "w2")}
        first_run = [g for g in fl.parse_out(self.out) if g[0] != "?"]  # not a torn last line
        n_first = len(first_run)
        self.assertLess(len(self.by_tag(first_run)["big"]), 200000, "killed in the middle of big.log")
        self.reader.set_rate(None)
        lf = self.lf(self.conf(slow_fifo=self.fifo))
        time.sleep(0.5)
        for w in ws:
            w.stop()
        self.wait_all(lf, n=None, timeout=60)
        # Wait for the repeats too: every line of the second run.
        expected_second = 0
        run1 = self.by_tag(first_run)
        for t in ("big", "w1", "w2"):
            total = len(self.ledger.lines[t])
            pos = after[t] or 0
            expected_second += total - pos // LINE
        self.wait_all(lf, n_first + expected_second, timeout=60)
        self.stop_ok(lf)
        # SIGKILL can stop a write between two pages: the first run's last
        # line may be torn, with the second run's first line after it.
        torn = []
        got = fl.parse_out(self.out, torn, WIDTH)
        self.assertLessEqual(len(torn), 1, torn)
        run2 = self.by_tag(got[n_first:])
        repeats = 0
        for t in ("big", "w1", "w2"):
            total = len(self.ledger.lines[t])
            k = len(run1.get(t, []))
            self.assertEqual(run1.get(t, []), list(range(k)), f"{t}: first run in order")
            if before[t] is not None:
                self.assertGreaterEqual(after[t], before[t], f"{t}: positions only move forward")
            self.assertIsNotNone(after[t], f"{t}: in the state file")
            self.assertEqual(after[t] % LINE, 0, f"{t}: a saved position is the end of a line")
            j = after[t] // LINE
            self.assertLessEqual(j, k, f"{t}: the saved position covers only lines that were delivered")
            self.assertEqual(run2.get(t, []), list(range(j, total)),
                             f"{t}: the second run starts exactly at the saved position ({j}) and loses nothing")
            repeats += k - j
        self.assertEqual(len(got), self.ledger.total() + repeats)
        # The FIFO destination: the same shape (its first part may end at
        # another line: the kill can fall between the two destinations'
        # writes of a batch, whose position was not saved then).
        fl.wait_complete(self.reader.out_path, self.ledger, timeout=60, width=WIDTH)
        torn = []
        fifo_got = self.by_tag(fl.parse_out(self.reader.out_path, torn, WIDTH))
        self.assertLessEqual(len(torn), 1, torn)
        for t in ("big", "w1", "w2"):
            self.assert_restart_shape(fifo_got.get(t, []), len(self.ledger.lines[t]), after[t] // LINE, f"FIFO {t}")
        print(f"  kill -9: {repeats} lines repeated (after the last saved positions), "
              f"{self.ledger.total()} lines in all", flush=True)

    def test_rotated_while_down(self):
        """app.log renamed to app.log.1 (after more lines were written to
        it) and a new app.log created while logferry was stopped: the rest
        of app.log.1 is read from the saved position, the new file from 0."""
        app = self.log("app.log")
        fl.append_lines(app, "app", 0, 0, 100, self.ledger, WIDTH)
        lf = self.lf(self.conf())
        self.wait_all(lf)
        self.stop_ok(lf)
        fl.append_lines(app, "app", 0, 100, 50, self.ledger, WIDTH)
        os.rename(app, app + ".1")
        fl.append_lines(app, "app", 1, 150, 30, self.ledger, WIDTH)
        lf = self.lf(self.conf())
        self.wait_all(lf)
        h.wait_until(lambda: not lf.fds_to(app + ".1"), what="app.log.1 let go", proc=lf.proc)
        self.stop_and_check(lf, "rotated while down")
        self.assertEqual([e["path"] for e in fl.read_state(self.state)], [app],
                         "the rotated file's position is dropped once it was read")

    def test_copytruncate_while_down(self):
        """copytruncate while logferry was stopped: the lines not yet read
        come from the copy, the truncated file is read from 0."""
        app = self.log("app.log")
        fl.append_lines(app, "app", 0, 0, 100, self.ledger, WIDTH)
        lf = self.lf(self.conf())
        self.wait_all(lf)
        self.stop_ok(lf)
        fl.append_lines(app, "app", 0, 100, 50, self.ledger, WIDTH)
        shutil.copyfile(app, app + ".1")
        os.truncate(app, 0)
        fl.append_lines(app, "app", 1, 150, 200, self.ledger, WIDTH)  # longer than before
        lf = self.lf(self.conf())
        self.wait_all(lf)
        self.stop_and_check(lf, "copytruncate while down")

    def test_stopped_while_copy_is_read(self):
        """SIGTERM while logferry reads the unread rest of a copytruncate
        copy (held back by a slow FIFO destination): the state keeps the
        copy's position, and the next run reads the copy on from there."""
        fifo = self.path("slow.fifo")
        os.mkfifo(fifo)
        reader = fl.SlowReader(self.path("slow.out"), 200_000, fifo=fifo)
        reader.start()
        self.addCleanup(reader.stop)
        app = self.log("app.log")
        fl.append_lines(app, "app", 0, 0, 30000, self.ledger, WIDTH)
        extra_dest = f"destination slow {{ pipe({h.config_string(fifo)} template(\"${{MESSAGE}}\\n\")); }};\n"
        conf = fl.conf_text(fl.wildcard(self.logs, "*.log", "follow-freq(1) rotate-wait(1)"), self.out,
                            options="log-fifo-size(1000);", extra_dest=extra_dest, log_extra="destination(slow); ")
        lf = self.lf(conf)
        h.wait_until(lambda: h.count_lines(self.out) >= 1000, what="the first lines", proc=lf.proc)
        shutil.copyfile(app, app + ".1")
        os.truncate(app, 0)
        fl.append_lines(app, "app", 1, 30000, 100, self.ledger, WIDTH)
        h.wait_until(lambda: lf.fds_to(app + ".1"), what="logferry reading the copy", proc=lf.proc)
        self.stop_ok(lf)
        self.assertLess(h.count_lines(self.out), 30000, "stopped before the copy was read")
        copy = [e for e in fl.read_state(self.state) if e["path"] == app + ".1"]
        self.assertEqual(len(copy), 1, fl.read_state(self.state))
        self.assertLess(copy[0]["pos"], os.path.getsize(app + ".1"))
        reader.set_rate(None)
        lf = self.lf(conf)
        self.wait_all(lf)
        h.wait_until(lambda: not lf.fds_to(app + ".1"), what="the copy let go", proc=lf.proc)
        self.stop_and_check(lf, "stopped while the copy was read")
        fl.wait_complete(reader.out_path, self.ledger)
        fl.check_exact(self, fl.parse_out(reader.out_path), self.ledger, "FIFO")
        self.assertEqual([e["path"] for e in fl.read_state(self.state)], [app])

    def test_truncated_while_down(self):
        """Truncated in place (no copy) while logferry was stopped, then
        written past the old position with other lines: read from 0."""
        app = self.log("app.log")
        fl.append_lines(app, "app", 0, 0, 100, self.ledger, WIDTH)
        lf = self.lf(self.conf())
        self.wait_all(lf)
        self.stop_ok(lf)
        os.truncate(app, 0)
        fl.append_lines(app, "app", 1, 100, 300, self.ledger, WIDTH)
        lf = self.lf(self.conf())
        self.wait_all(lf)
        self.stop_and_check(lf, "truncated while down")

    def test_inode_reused_while_down(self):
        """app.log deleted while logferry was stopped and a new app.log
        created on the same inode, starting with the same bytes (a header
        longer than the fingerprint) and longer than the old position: it is
        read from 0, nothing skipped."""
        app = self.log("app.log")
        header = "HEADER " + "h" * 400
        with open(app, "w") as f:
            f.write(header + "\n")
        fl.append_lines(app, "app", 0, 0, 20, self.ledger, WIDTH)
        lf = self.lf(self.conf())
        self.wait_all(lf, self.ledger.total() + 1)
        self.stop_ok(lf)
        ino = os.stat(app).st_ino
        self.assertEqual(fl.state_pos(self.state, fl.dev_ino(app)), os.path.getsize(app))
        os.unlink(app)
        got = None
        for i in range(50):
            p = self.log(f"cand{i}")
            with open(p, "w") as f:
                f.write(header + "\n")
            if os.stat(p).st_ino == ino:
                got = p
                break
        if got is None:
            self.skipTest("the file system did not reuse the inode")
        fl.append_lines(got, "app", 1, 20, 100, self.ledger, WIDTH)
        os.rename(got, app)
        lf = self.lf(self.conf())
        self.wait_all(lf, self.ledger.total() + 2)
        self.stop_ok(lf)
        got_lines = fl.parse_out(self.out)
        self.assertEqual([g for g in got_lines if g[0] == "?"], [("?", header[:120], -1)] * 2)
        fl.check_exact(self, [g for g in got_lines if g[0] != "?"], self.ledger, "inode reused while down")

    def test_persist_dir_flag(self):
        """`--persist-dir DIR` wins over options { persist-dir(); }: the
        state is DIR/logferry.state, JSON, with each file's path, device,
        inode and position; without the flag the option is used."""
        app = self.log("app.log")
        fl.append_lines(app, "app", 0, 0, 10, self.ledger, WIDTH)
        opt_dir = self.path("from-option")
        flag_dir = self.path("from-flag")
        conf = fl.conf_text(fl.wildcard(self.logs, "*.log", "follow-freq(1)"), self.out,
                            options=f"persist-dir({h.config_string(opt_dir)});")
        lf = self.lf(conf, persist_dir=flag_dir)
        self.wait_all(lf)
        self.stop_ok(lf)
        self.assertFalse(os.path.exists(os.path.join(opt_dir, fl.STATE_FILE)))
        entries = fl.read_state(flag_dir)
        st = os.stat(app)
        self.assertEqual([(e["path"], e["dev"], e["ino"], e["pos"]) for e in entries],
                         [(app, st.st_dev, st.st_ino, st.st_size)])
        # Without the flag: the option's directory, and a fresh start there.
        lf = self.lf(conf, persist_dir=None)
        self.wait_all(lf, 20)
        self.stop_ok(lf)
        self.assertEqual([(e["path"], e["pos"]) for e in fl.read_state(opt_dir)], [(app, st.st_size)])
        # With the flag again: nothing is read twice.
        fl.append_lines(app, "app", 0, 10, 5, self.ledger, WIDTH)
        lf = self.lf(conf, persist_dir=flag_dir)
        self.wait_all(lf, 25)
        self.stop_ok(lf)
        self.assertEqual(h.count_lines(self.out), 25)

    def test_position_not_held_by_unrelated_destination(self):
        """Positions wait only for the destinations the file's messages go
        to: another source's network() destination whose server is down
        (holding a message it cannot send) does not keep the file's
        position from being saved while logferry runs."""
        app = self.log("app.log")
        fl.append_lines(app, "app", 0, 0, 50, self.ledger, WIDTH)
        in_port, down_port = h.free_ports(2)
        conf = (f"@version: 4.0\noptions {{ stats-freq(0); }};\n"
                f"source s {{ {fl.file_src(app)} }};\n"
                f'source s_net {{ network(ip("127.0.0.1") port({in_port}) transport("tcp")); }};\n'
                f'destination d {{ file({h.config_string(self.out)} template("${{MESSAGE}}\\n")); }};\n'
                f'destination d_down {{ network("127.0.0.1" port({down_port}) time-reopen(60)); }};\n'
                f"log {{ source(s); destination(d); }};\n"
                f"log {{ source(s_net); destination(d_down); }};\n")
        lf = self.lf(conf)
        h.tcp_send(in_port, b"<13>Nov 28 10:00:00 h p: for nobody\n")
        h.wait_until(lambda: "cannot connect to 127.0.0.1" in lf.stderr_text(), what="d_down failing", proc=lf.proc)
        self.wait_all(lf)
        fl.append_lines(app, "app", 0, 50, 50, self.ledger, WIDTH)  # routed after d_down holds its message
        self.wait_all(lf)
        size = os.stat(app).st_size
        h.wait_until(lambda: fl.state_pos(self.state, fl.dev_ino(app)) == size, proc=lf.proc,
                     what=lambda: f"saved position {size} (have {fl.state_pos(self.state, fl.dev_ino(app))})")
        self.stop_and_check(lf, "beside a stuck destination")


if __name__ == "__main__":
    h.main()
