#!/usr/bin/env python3
"""wildcard-file() at scale and at the edges: 1,000 files (max-files(2000))
with 10 of them rotating at once, a 1 MB line (cut at log-msg-size(),
counted as truncated, the next line arrives), a file without a trailing
newline, a file deleted while it is being read, and flow control: with a
destination that cannot keep up (a FIFO or a TCP peer the test reads
slowly) logferry's memory stays bounded while a large file is read, and
every line arrives once the reader speeds up."""
import os
import socket
import time

import test_file_lib as fl
from test_file_lib import h

# ASan keeps freed memory in quarantine (256 MB by default), which would
# read as growth; a small quarantine keeps RSS meaningful in both builds.
os.environ["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS", ""), "quarantine_size_mb=16"]))


class ScaleTest(fl.FileTest):

    def test_thousand_files_ten_rotating(self):
        """1,000 files under one wildcard: every line of every file, then
        10 files rotated at once (renamed while their writers go on, new
        files created) while all 1,000 keep growing."""
        nfiles = 1000
        names = [f"f{i:04d}" for i in range(nfiles)]
        seqs = {}
        for n in names:
            seqs[n] = fl.append_lines(self.log(n + ".log"), n, 0, 0, 5, self.ledger)
        conf = fl.conf_text(fl.wildcard(self.logs, "*.log", "max-files(2000) follow-freq(1) rotate-wait(1)"), self.out)
        lf = self.lf(conf)
        self.wait_all(lf, timeout=60)
        rotating = names[::100]  # 10 of them
        gens = {n: 0 for n in names}
        for rnd in range(2):
            for n in names:
                seqs[n] = fl.append_lines(self.log(n + ".log"), n, gens[n], seqs[n], 2, self.ledger)
            for n in rotating:
                os.rename(self.log(n + ".log"), self.log(f"{n}.log.{rnd + 1}"))
            # Their writers still write to the renamed files ...
            for n in rotating:
                path = self.log(f"{n}.log.{rnd + 1}")
                seqs[n] = fl.append_lines(path, n, gens[n], seqs[n], 3, self.ledger)
            # ... and then to new ones.
            for n in rotating:
                gens[n] += 1
                seqs[n] = fl.append_lines(self.log(n + ".log"), n, gens[n], seqs[n], 3, self.ledger)
            for n in names:
                seqs[n] = fl.append_lines(self.log(n + ".log"), n, gens[n], seqs[n], 2, self.ledger)
            self.wait_all(lf, timeout=60)
        stats = self.stop_and_check(lf, "1,000 files")
        src = h.source_totals(stats)
        self.assertEqual((src["in"], src["errors"]), (self.ledger.total(), 0), stats)
        self.assertNotIn("max-files", lf.stderr)

    def test_max_files(self):
        """Past max-files() the further files are not followed, with one
        warning; the others are read in full."""
        for i in range(5):
            fl.append_lines(self.log(f"f{i}.log"), f"f{i}", 0, 0, 3, fl.Ledger())
        conf = fl.conf_text(fl.wildcard(self.logs, "*.log", "max-files(3) follow-freq(1)"), self.out)
        lf = self.lf(conf)
        self.wait_all(lf, n=9)
        time.sleep(0.3)
        stats = self.stop_ok(lf)
        got = fl.parse_out(self.out)
        self.assertEqual(len(got), 9)
        self.assertEqual(len({g[0] for g in got}), 3)
        self.assertEqual(lf.stderr.count("max-files(3) reached"), 1, lf.stderr)

    def test_one_megabyte_line(self):
        """A 1 MB line is cut at log-msg-size() (64 KiB by default), counted
        as truncated; the lines around it arrive whole."""
        app = self.log("app.log")
        with open(app, "wb") as f:
            f.write(b"before the long line\n" + b"L" * (1 << 20) + b"\nafter the long line\n")
        lf = self.lf(fl.conf_text(fl.wildcard(self.logs, "*.log", "follow-freq(1)"), self.out))
        self.wait_all(lf, n=3)
        with open(app, "ab") as f:
            f.write(b"S" * 100 + b"\n")  # just under and over the limit, at the end of a file
            f.write(b"M" * 70000 + b"\nlast\n")
        self.wait_all(lf, n=6)
        stats = self.stop_ok(lf)
        self.assertEqual(h.read_lines(self.out), ["before the long line", "L" * 65536, "after the long line",
                                                  "S" * 100, "M" * 65536, "last"])
        src = h.source_totals(stats)
        self.assertEqual((src["in"], src["truncated"], src["errors"]), (6, 2, 0), stats)
        self.assertEqual(fl.read_state(self.state)[0]["pos"], os.path.getsize(app))

    def test_no_trailing_newline(self):
        """A file whose last line has no newline and that is never written
        again: the line arrives after partial-line-timeout(), once, and
        the position is the end of the file."""
        app = self.log("app.log")
        with open(app, "wb") as f:
            f.write(b"one\ntwo\nthree without newline")
        lf = self.lf(fl.conf_text(fl.wildcard(self.logs, "*.log", "follow-freq(1) partial-line-timeout(1)"),
                                  self.out))
        self.wait_all(lf, n=3)
        self.stop_ok(lf)
        self.assertEqual(h.read_lines(self.out), ["one", "two", "three without newline"])
        self.assertEqual(fl.read_state(self.state)[0]["pos"], os.path.getsize(app))
        lf = self.lf(fl.conf_text(fl.wildcard(self.logs, "*.log", "follow-freq(1) partial-line-timeout(1)"),
                                  self.out))
        time.sleep(1.5)
        self.stop_ok(lf)
        self.assertEqual(h.count_lines(self.out), 3)

    def test_deleted_while_read(self):
        """A large file deleted while logferry is in the middle of it (a
        slow FIFO destination keeps it there): every line still arrives, and
        the file is let go afterwards."""
        fifo = self.path("slow.fifo")
        os.mkfifo(fifo)
        slow_out = self.path("slow.out")
        reader = fl.SlowReader(slow_out, 400_000, fifo=fifo)
        reader.start()
        big = self.log("big.log")
        fl.append_lines(big, "big", 0, 0, 100000, self.ledger)
        conf = fl.conf_text(fl.wildcard(self.logs, "*.log", "follow-freq(1) rotate-wait(1)"), self.out,
                            extra_dest=f"destination slow {{ pipe({h.config_string(fifo)} template(\"${{MESSAGE}}\\n\")); }};\n",
                            log_extra="destination(slow); ")
        lf = self.lf(conf)
        h.wait_until(lambda: h.count_lines(self.out) >= 2000, what="the first lines", proc=lf.proc)
        self.assertLess(h.count_lines(self.out), 100000)
        os.unlink(big)
        time.sleep(1.5)  # longer than rotate-wait(): it must not be let go while lines wait
        reader.set_rate(None)
        self.wait_all(lf, timeout=60)
        self.wait_all(lf, timeout=60, path=slow_out)
        h.wait_until(lambda: not lf.fds_to(self.logs), what=lambda: f"the deleted file closed: {lf.fds_to(self.logs)}",
                     proc=lf.proc)
        self.stop_and_check(lf, "deleted while read")
        reader.stop()
        fl.check_exact(self, fl.parse_out(slow_out), self.ledger, "deleted while read, FIFO")

    def flow_control(self, dest_conf, reader, total_lines, width=100, bound_mb=40):
        """A file of total_lines lines appears while the destination reads
        at a trickle: logferry's RSS must not grow by more than bound_mb
        while it waits; then the reader speeds up and every line arrives."""
        reader.start()
        conf = fl.conf_text(fl.wildcard(self.logs, "*.log", "follow-freq(1) rotate-wait(1)"), self.out,
                            extra_dest=dest_conf, log_extra="destination(slow); ")
        lf = self.lf(conf)
        time.sleep(0.3)
        base = lf.rss_kb()
        # The file appears whole (written aside, then moved in).
        tmp = self.path("big.tmp")
        chunk = 20000
        for first in range(0, total_lines, chunk):
            fl.append_lines(tmp, "big", 0, first, min(chunk, total_lines - first), self.ledger, width)
        size_mb = os.path.getsize(tmp) / 1e6
        os.rename(tmp, self.log("big.log"))
        peak = base
        t_end = time.monotonic() + 4
        while time.monotonic() < t_end:
            peak = max(peak, lf.rss_kb())
            time.sleep(0.05)
        done = reader.bytes
        growth_mb = (peak - base) / 1024
        print(f"  {size_mb:.0f} MB file, destination took {done / 1e6:.1f} MB in 4 s; "
              f"RSS {base / 1024:.0f} MB -> peak {peak / 1024:.0f} MB", flush=True)
        self.assertLess(done, os.path.getsize(self.log("big.log")) / 2, "the reader was slow")
        self.assertLess(growth_mb, bound_mb, f"RSS grew by {growth_mb:.0f} MB while the destination waited")
        reader.set_rate(None)
        self.wait_all(lf, timeout=90)
        self.wait_all(lf, timeout=90, path=reader.out_path)
        stats = self.stop_ok(lf)
        reader.stop()
        check_dest = [c for n, c in stats["destination"].items() if n.startswith("slow")]
        self.assertEqual([c["dropped_queue_full"] for c in check_dest], [0], stats)
        fl.check_exact(self, fl.parse_out(self.out), self.ledger, "file destination")
        fl.check_exact(self, fl.parse_out(reader.out_path), self.ledger, "slow destination")

    def test_flow_control_fifo(self):
        fifo = self.path("slow.fifo")
        os.mkfifo(fifo)
        reader = fl.SlowReader(self.path("slow.out"), 200_000, fifo=fifo)
        dest = f"destination slow {{ pipe({h.config_string(fifo)} template(\"${{MESSAGE}}\\n\")); }};\n"
        self.flow_control(dest, reader, 400_000)

    def test_flow_control_network(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        self.addCleanup(listener.close)
        port = listener.getsockname()[1]
        reader = fl.SlowReader(self.path("slow.out"), 200_000, listener=listener)
        dest = (f"destination slow {{ network(\"127.0.0.1\" port({port}) transport(\"tcp\") so-sndbuf(65536) "
                f"template(\"${{MESSAGE}}\\n\")); }};\n")
        self.flow_control(dest, reader, 400_000)

    def test_network_peer_down_then_up(self):
        """A network() peer that is not there yet: the file waits (nothing
        dropped); once the peer listens every line arrives, once."""
        fl.append_lines(self.log("app.log"), "app", 0, 0, 20000, self.ledger)
        port = h.free_port()
        dest = (f"destination slow {{ network(\"127.0.0.1\" port({port}) transport(\"tcp\") time-reopen(1) "
                f"template(\"${{MESSAGE}}\\n\")); }};\n")
        conf = fl.conf_text(fl.wildcard(self.logs, "*.log", "follow-freq(1)"), self.out,
                            extra_dest=dest, log_extra="destination(slow); ")
        lf = self.lf(conf)
        # The connection was refused (it is retried every second).
        h.wait_until(lambda: f"cannot connect to 127.0.0.1:{port}" in lf.stderr_text(), what="a refused connection",
                     proc=lf.proc)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(4)
        self.addCleanup(listener.close)
        reader = fl.SlowReader(self.path("net.out"), None, listener=listener)
        reader.start()
        self.wait_all(lf, timeout=60)
        fl.wait_complete(reader.out_path, self.ledger, timeout=60)
        stats = self.stop_ok(lf)
        reader.stop()
        self.assertEqual(stats["destination"]["slow#0"]["dropped_queue_full"], 0, stats)
        fl.check_exact(self, fl.parse_out(self.out), self.ledger, "file destination")
        fl.check_exact(self, fl.parse_out(reader.out_path), self.ledger, "network destination")


if __name__ == "__main__":
    h.main()
