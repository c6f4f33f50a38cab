#!/usr/bin/env python3
"""file() and wildcard-file() across rotation and its relatives, each with a
writer that keeps appending while the file rotates: rename-and-create (with
inotify and with monitor-method(poll)), copytruncate, truncation in place,
delete while open, inode reuse, a followed symlink, and a last line without
a newline.  Every test asserts that each line written arrives exactly once,
in order within its file (see test_file_lib.py)."""
import os
import shutil
import tempfile
import time
import unittest

import test_file_lib as fl
from test_file_lib import h


class RotationTest(fl.FileTest):

    def wildcard_conf(self, opts="", pattern="*.log", options=""):
        return fl.conf_text(fl.wildcard(self.logs, pattern, "follow-freq(1) rotate-wait(1) " + opts), self.out,
                            options)

    def rotate_by_rename(self, writer, keep=3):
        """logrotate without copytruncate: app.log.N -> app.log.N+1,
        app.log -> app.log.1, a new empty app.log; the writer goes on
        writing to the renamed file for a moment before it reopens."""
        base = writer.path
        for n in range(keep - 1, 0, -1):
            if os.path.exists(f"{base}.{n}"):
                os.rename(f"{base}.{n}", f"{base}.{n + 1}")
        os.rename(base, base + ".1")
        open(base, "ab").close()
        time.sleep(0.3)  # the application still writes to the old file
        writer.reopen()

    def run_rename_rotation(self, monitor, pattern="*.log", rotations=3):
        app = self.log("app.log")
        fl.append_lines(app, "app", 0, 0, 500, self.ledger)  # written before logferry starts: sent too
        writer = fl.Writer(app, "app", self.ledger)
        writer.seq = 500
        lf = self.lf(self.wildcard_conf(f"monitor-method({monitor})", pattern))
        writer.start()
        for _ in range(rotations):
            time.sleep(0.5)
            self.rotate_by_rename(writer)
        time.sleep(0.5)
        writer.stop()
        self.wait_all(lf)
        if pattern == "*.log":
            # The rotated files are let go once read (rotate-wait): no fd left.
            h.wait_until(lambda: not lf.fds_to(app + "."), what=lambda: f"rotated files closed: {lf.fds_to(app)}",
                         proc=lf.proc)
        stats = self.stop_and_check(lf, f"rename rotation, {monitor}")
        self.assertEqual(h.source_totals(stats)["in"], self.ledger.total(), stats)
        self.assertGreaterEqual(writer.gen, rotations)

    def test_rename_and_create_inotify(self):
        self.run_rename_rotation("inotify")

    def test_rename_and_create_poll(self):
        self.run_rename_rotation("poll")

    def test_rename_to_matching_name(self):
        """The rotated names match the pattern too (app.log*): the renamed
        file keeps its reader and position (nothing is read twice) and the
        new app.log is found at once."""
        self.run_rename_rotation("auto", pattern="app.log*", rotations=2)

    def test_rename_rotation_under_backpressure(self):
        """Rotations while a second destination (a FIFO the test reads
        slowly) holds the reading back: the rotated files still have
        unread lines long after rotate-wait(); they are read to their end
        before they are let go."""
        fifo = self.path("slow.fifo")
        os.mkfifo(fifo)
        reader = fl.SlowReader(self.path("slow.out"), 50_000, fifo=fifo)
        reader.start()
        self.addCleanup(reader.stop)
        app = self.log("app.log")
        writer = fl.Writer(app, "app", self.ledger, burst=100)
        conf = fl.conf_text(fl.wildcard(self.logs, "*.log", "follow-freq(1) rotate-wait(1)"), self.out,
                            extra_dest=f"destination slow {{ pipe({h.config_string(fifo)} template(\"${{MESSAGE}}\\n\")); }};\n",
                            log_extra="destination(slow); ")
        lf = self.lf(conf)
        writer.start()
        for _ in range(3):
            time.sleep(0.7)
            self.rotate_by_rename(writer)
        time.sleep(0.5)
        writer.stop()
        time.sleep(1.5)  # more than rotate-wait() with lines still unread
        self.assertLess(h.count_lines(self.out), self.ledger.total(), "the reading was held back")
        reader.set_rate(None)
        self.wait_all(lf, timeout=60)
        fl.wait_complete(reader.out_path, self.ledger, timeout=60)
        self.stop_and_check(lf, "rename rotation under backpressure")
        fl.check_exact(self, fl.parse_out(reader.out_path), self.ledger, "FIFO")

    def test_copytruncate(self):
        """logrotate copytruncate: copy app.log to app.log.1, truncate
        app.log.  Lines logferry had not read yet when the file was
        truncated are read from the copy, found by its first bytes."""
        self.run_copytruncate("*.log")

    def test_copytruncate_copies_match_the_pattern(self):
        """copytruncate where the copies match the pattern too (app.log*):
        a copy is known by its first bytes as the file it was copied from,
        so only what was not read before the truncation is read from it,
        and the older copies (renamed app.log.2, .3) are not read again.
        Also when a renamed copy still holds the name of the new copy
        (app.log.1 renamed to app.log.2 and not noticed yet)."""
        self.run_copytruncate("app.log*")

    def run_copytruncate(self, pattern):
        app = self.log("app.log")
        writer = fl.Writer(app, "app", self.ledger, burst=50)
        lf = self.lf(self.wildcard_conf(pattern=pattern))
        writer.start()
        for n in range(3):
            time.sleep(0.4)
            with writer.lock:
                for k in range(2, 0, -1):
                    if os.path.exists(f"{app}.{k}"):
                        os.rename(f"{app}.{k}", f"{app}.{k + 1}")
                shutil.copyfile(app, app + ".1")
                os.truncate(app, 0)
                writer.new_gen()
        time.sleep(0.4)
        writer.stop()
        self.wait_all(lf)
        self.stop_and_check(lf, "copytruncate")

    def test_copytruncate_unread_rest_from_copy(self):
        """A copytruncate of a file logferry has read only part of (a big
        burst written just before the copy): the rest comes from the copy."""
        app = self.log("app.log")
        fl.append_lines(app, "app", 0, 0, 100, self.ledger)
        lf = self.lf(self.wildcard_conf())
        self.wait_all(lf)
        for gen in range(1, 4):
            seq = self.ledger.total()
            # Written and rotated at once: at most a part of it can have been read.
            fl.append_lines(app, "app", gen - 1, seq, 20000, self.ledger)
            shutil.copyfile(app, f"{app}.{gen}")
            os.truncate(app, 0)
            fl.append_lines(app, "app", gen, seq + 20000, 10, self.ledger)
            self.wait_all(lf)
        self.stop_and_check(lf, "copytruncate of an unread burst")

    def test_truncate_in_place(self):
        """Truncation without a copy: the new content is read from offset 0,
        both when it is shorter than the old position and when the writer
        has already written past it before logferry looks."""
        app = self.log("app.log")
        writer = fl.Writer(app, "app", self.ledger)
        lf = self.lf(self.wildcard_conf())
        writer.start()
        for n in range(4):
            time.sleep(0.3)
            with writer.lock:
                # Lines not read before a truncation are gone with it: let
                # logferry read them, then truncate while the writer waits.
                self.wait_all(lf)
                os.truncate(app, 0)
                writer.new_gen()
                if n % 2:
                    # More than was there before, at once: the fingerprint
                    # (not the size) tells that the file is another one.
                    seq = writer.seq
                    writer.seq = fl.append_lines(app, "app", writer.gen, seq, 3000, self.ledger)
        time.sleep(0.3)
        writer.stop()
        self.wait_all(lf)
        self.stop_and_check(lf, "truncation in place")

    def test_delete_while_open(self):
        """The file is deleted while the writer still writes to it: what it
        writes to the deleted file still arrives; then a new file under the
        same name is read from its start."""
        app = self.log("app.log")
        writer = fl.Writer(app, "app", self.ledger)
        lf = self.lf(self.wildcard_conf())
        writer.start()
        for _ in range(2):
            time.sleep(0.4)
            os.unlink(app)
            time.sleep(0.4)  # still writing to the deleted file
            writer.reopen()
        time.sleep(0.3)
        writer.stop()
        self.wait_all(lf)
        # The deleted files are closed once read and quiet for rotate-wait.
        h.wait_until(lambda: not [p for p in lf.fds_to(self.logs) if p.endswith("(deleted)")],
                     what=lambda: f"deleted files closed: {lf.fds_to(self.logs)}", proc=lf.proc)
        self.stop_and_check(lf, "delete while open")

    def test_inode_reuse(self):
        """A file deleted and a new one created that gets the same inode
        (ext4 hands out a freed inode again): the new file is read from 0,
        none of it skipped, though it is longer than the old position and
        starts with the same bytes."""
        app = self.log("app.log")
        header = "HEADER " + "h" * 300  # longer than the fingerprint: the same first bytes in both files
        with open(app, "w") as f:
            f.write(header + "\n")
        fl.append_lines(app, "app", 0, 0, 50, self.ledger)
        # The state file is rewritten (a new inode each time) when the file
        # is let go: on another file system it cannot take the freed inode.
        if os.path.isdir("/dev/shm") and os.stat("/dev/shm").st_dev != os.stat(self.dir).st_dev:
            shm = tempfile.TemporaryDirectory(prefix="lf-state-", dir="/dev/shm")
            self.addCleanup(shm.cleanup)
            self.state = shm.name
        lf = self.lf(self.wildcard_conf())
        self.wait_all(lf, self.ledger.total() + 1)
        ino = os.stat(app).st_ino
        os.unlink(app)
        h.wait_until(lambda: not lf.fds_to(self.logs), what=lambda: f"the deleted file closed: {lf.fds_to(self.logs)}",
                     proc=lf.proc)
        # Create files until one gets the old inode.
        got = None
        spare = []
        for i in range(50):
            p = self.log(f"cand{i}")
            with open(p, "w") as f:
                f.write(header + "\n")
            if os.stat(p).st_ino == ino:
                got = p
                break
            spare.append(p)
        if got is None:
            self.skipTest("the file system did not reuse the inode")
        seq = fl.append_lines(got, "app", 1, 50, 200, self.ledger)
        os.rename(got, app)
        self.wait_all(lf, self.ledger.total() + 2)
        fl.append_lines(app, "app", 1, seq, 10, self.ledger)
        self.wait_all(lf, self.ledger.total() + 2)
        stats = self.stop_ok(lf)
        got_lines = fl.parse_out(self.out)
        self.assertEqual([g for g in got_lines if g[0] == "?"], [("?", header[:120], -1)] * 2)
        fl.check_exact(self, [g for g in got_lines if g[0] != "?"], self.ledger, "inode reuse")
        # And after a restart on the same inode, nothing is read again.
        lf = self.lf(self.wildcard_conf())
        time.sleep(0.5)
        self.assertEqual(h.count_lines(self.out), self.ledger.total() + 2)
        self.stop_ok(lf)

    def test_symlink(self):
        """file() of a symlink to a log file elsewhere: lines arrive at once
        (the target's directory is watched too: follow-freq() is long here),
        and a rotation of the target is followed through the link."""
        real_dir = self.path("real")
        os.mkdir(real_dir)
        real = os.path.join(real_dir, "app.log")
        link = self.log("app.log")
        fl.append_lines(real, "app", 0, 0, 10, self.ledger)
        os.symlink(real, link)
        lf = self.lf(fl.conf_text(fl.file_src(link, "follow-freq(3) rotate-wait(1)"), self.out))
        self.wait_all(lf, timeout=10)
        writer = fl.Writer(real, "app", self.ledger, interval=0.01)
        writer.seq = 10
        writer.start()
        time.sleep(0.5)
        os.rename(real, real + ".1")
        time.sleep(0.3)
        writer.reopen()
        time.sleep(0.5)
        writer.stop()
        self.wait_all(lf, timeout=15)  # shorter than the 30 s between full checks at follow-freq(3)
        self.stop_and_check(lf, "symlink")

    def test_last_line_without_newline_rotated(self):
        """The last line of a file has no newline when the file is rotated
        (renamed, and deleted): it still arrives, as a line of its own."""
        app = self.log("app.log")
        fl.append_lines(app, "app", 0, 0, 100, self.ledger)
        lf = self.lf(self.wildcard_conf())
        self.wait_all(lf)
        with open(app, "ab") as f:
            f.write(fl.line("app", 0, 100).encode())  # no newline
        self.ledger.add("app", 0, 100)
        os.rename(app, app + ".1")
        fl.append_lines(app, "app", 1, 101, 50, self.ledger)
        self.wait_all(lf)
        # The same for a deleted file.
        with open(app, "ab") as f:
            f.write(fl.line("app", 1, 151).encode())
        self.ledger.add("app", 1, 151)
        time.sleep(0.2)
        os.unlink(app)
        self.wait_all(lf)
        self.stop_and_check(lf, "lost trailing newline")

    def test_partial_line_timeout(self):
        """A line without its newline is sent after partial-line-timeout();
        what the writer appends later is read from there on."""
        app = self.log("app.log")
        fl.append_lines(app, "app", 0, 0, 5, self.ledger)
        with open(app, "ab") as f:
            f.write(fl.line("app", 0, 5).encode())  # no newline
        self.ledger.add("app", 0, 5)
        lf = self.lf(self.wildcard_conf("partial-line-timeout(1)"))
        self.wait_all(lf)
        with open(app, "ab") as f:
            f.write(b"\n")
        fl.append_lines(app, "app", 0, 6, 5, self.ledger)
        self.wait_all(lf)
        self.stop_and_check(lf, "partial-line-timeout")
        # Restart: nothing again.
        lf = self.lf(self.wildcard_conf("partial-line-timeout(1)"))
        fl.append_lines(app, "app", 0, 11, 5, self.ledger)
        self.wait_all(lf)
        self.stop_and_check(lf, "partial-line-timeout after restart")


if __name__ == "__main__":
    h.main()
