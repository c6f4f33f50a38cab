#!/usr/bin/env python3
"""disk-buffer() with real processes: a client logferry tails a file and
sends it through a disk buffer to a server logferry (ferry() or syslog())
that is away at first.  The buffer fills while the server is down; the
client is killed with kill -9 and restarted with a larger, then a smaller
capacity; one segment is corrupted; then the server comes: every line
arrives exactly once except those of the corrupted segment (found with
`logferry buffer inspect --messages` before the corruption), which are
missing exactly.  `logferry buffer verify` passes on the intact buffer and
fails on the corrupted one."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "client"))
import test_file_lib as fl  # noqa: E402
from test_file_lib import h  # noqa: E402
from test_ferry import Writer  # noqa: E402

FILLER = "x" * 60


def lines(start, n):
    return "".join(f"L{i:08d} {FILLER}\n" for i in range(start, start + n))


def conf(source, dest):
    return (f"@version: 4.0\noptions {{ stats-freq(0); }};\n"
            f"source s {{ {source}; }};\n"
            f"destination d_out {{ {dest}; }};\n"
            f"log {{ source(s); destination(d_out); }};\n")


def seqs(path):
    return [int(line[1:9]) for line in h.read_lines(path) if line.startswith("L") and len(line) > 9]


class DiskBufferTest(h.ServerTest):

    def setUp(self):
        super().setUp()
        self.port = h.free_port()
        self.input = self.path("in.log")
        self.out = self.path("out.log")
        self.buf = self.path("buffers")
        self.state = self.path("client-state")
        open(self.input, "w").close()

    def lf(self, name, text, persist=None):
        lf = fl.FileLogferry(self.dir, persist or self.path(name + "-state"), name)
        self._procs.append(lf)
        return lf.start_conf(text)

    def server(self, driver):
        src = (f'ferry(ip("127.0.0.1") port({self.port}))' if driver == "ferry"
               else f'syslog(ip("127.0.0.1") port({self.port}) transport("tcp"))')
        lf = self.lf("server", conf(src, f"file({h.config_string(self.out)} template(\"${{MESSAGE}}\\n\"))"))
        h.wait_until(lambda: h.tcp_listening(self.port), what="the server to listen", proc=lf.proc)
        return lf

    def client(self, driver, capacity, reliable=True, extra=""):
        buffer = (f"disk-buffer(reliable({'yes' if reliable else 'no'}) capacity-bytes({capacity}) "
                  f"dir({h.config_string(self.buf)}) {extra})")
        dest = (f'ferry("127.0.0.1" port({self.port}) time-reopen(1) {buffer})' if driver == "ferry"
                else f'syslog("127.0.0.1" port({self.port}) transport("tcp") time-reopen(1) {buffer})')
        return self.lf("client", conf(f"file({h.config_string(self.input)} follow-freq(1))", dest), self.state)

    def write(self, start, n):
        with open(self.input, "a", encoding="ascii") as f:
            f.write(lines(start, n))

    def buffer_cmd(self, *args):
        r = h.run_logferry([h.LOGFERRY, "buffer", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def waiting(self):
        """Messages waiting in the buffer (from `logferry buffer inspect`)."""
        rc, out, _ = self.buffer_cmd("inspect", self.buf)
        n = 0
        for line in out.splitlines():
            if line.strip().endswith("bytes in segments") and "messages waiting" in line:
                n += int(line.split()[0])
        return n

    def wait_buffered_and_saved(self, client, total):
        """Every line is in the buffer, and the file position the client saved
        is past all of them (so a kill -9 now repeats nothing)."""
        h.wait_until(lambda: self.waiting() >= total, 60,
                     lambda: f"{total} messages in the disk buffer (have {self.waiting()})", proc=client.proc)
        size = os.path.getsize(self.input)
        ino = fl.dev_ino(self.input)
        h.wait_until(lambda: fl.state_pos(self.state, ino) == size, 60,
                     lambda: f"the saved position to reach {size} (is {fl.state_pos(self.state, ino)})",
                     proc=client.proc)

    def segments_by_file(self):
        """{segment file: [line seqs]} from `logferry buffer inspect --messages`."""
        rc, out, err = self.buffer_cmd("inspect", self.buf, "--messages")
        self.assertEqual(rc, 0, err)
        by = {}
        for row in out.splitlines():
            parts = row.split("\t")
            if len(parts) == 3 and parts[2].startswith("L"):
                by.setdefault(parts[0], []).append(int(parts[2][1:9]))
        return by

    def assert_every_line_once(self, total, sender, stop, label=""):
        """Waits until the server has each of the `total` lines (while
        `sender` runs), stops the processes `stop` in order, prints the counts
        and asserts that every line is stored once and the buffer is empty."""
        h.wait_until(lambda: len(set(seqs(self.out))) >= total, 120,
                     lambda: f"{total} lines at the server (have {len(set(seqs(self.out)))})", interval=0.2,
                     proc=sender.proc)
        for lf in stop:
            self.stop_ok(lf)
        got = seqs(self.out)
        missing = sorted(set(range(total)) - set(got))
        repeats = len(got) - len(set(got))
        print(f"{label}written={total} stored={len(got)} missing={len(missing)} repeated={repeats}")
        self.assertEqual(missing, [], "lines lost")
        self.assertEqual(repeats, 0, "lines stored twice")
        self.assertEqual(self.waiting(), 0)

    def run_scenario(self, driver):
        # 1. Server away; the buffer fills; kill -9.
        client = self.client(driver, 1 << 20)
        self.write(0, 3000)
        self.wait_buffered_and_saved(client, 3000)
        client.kill9()

        # 2. A larger capacity: what is there stays, more comes; kill -9.
        client = self.client(driver, 2 << 20)
        self.write(3000, 2000)
        self.wait_buffered_and_saved(client, 5000)
        client.kill9()
        bufdir = os.path.join(self.buf, os.listdir(self.buf)[0])
        before = sorted(f for f in os.listdir(bufdir) if f.endswith(".seg"))

        # 3. A smaller capacity than what is on disk: nothing is deleted and
        # nothing new is taken (the file source waits: its lines are read
        # but not routed to the destination).
        client = self.client(driver, 256 << 10)
        self.write(5000, 500)
        stats = h.wait_until(lambda: (lambda s: s if h.source_totals(s)["in"] >= 500 else None)(
            client.snapshot_stats(dests=("d_out#0",))), 60, "the file source to read the new lines", proc=client.proc)
        self.assertEqual(stats["destination"]["d_out#0"]["in"], 0, "a full buffer took messages")
        self.assertEqual(self.waiting(), 5000)
        # SIGTERM this time.  The engine gives up the 500 lines the buffer
        # did not take (after 10 s): not lost, the file is read from before
        # them at the next start (step 5 checks that).  The destination's
        # messages that the server did not take stay in the buffer: not
        # lost either, not counted as dropped.
        cstats = self.stop_ok(client)
        src = h.source_totals(cstats)
        self.assertEqual((src["unacknowledged"], src["dropped_queue_full"]), (500, 0), cstats)
        self.assertEqual(cstats["destination"]["d_out#0"]["dropped_queue_full"], 0, cstats)
        self.assertRegex(client.stderr, r"shutting down: messages of source s#0 .* were not delivered "
                                        r"\(a destination took nothing more\): 500 stay unacknowledged, so the "
                                        r"source has them again")
        not_taken = "not sent" if driver == "syslog" else "not acknowledged"
        self.assertRegex(client.stderr, rf"shutting down with \d+ messages {not_taken} \(no server reachable\); "
                                        r"they stay in the disk buffer")
        after = sorted(f for f in os.listdir(bufdir) if f.endswith(".seg"))
        self.assertTrue(set(before) <= set(after), f"segments deleted: {before} -> {after}")

        # 4. The intact buffer verifies; corrupt a segment in the middle.
        rc, out, err = self.buffer_cmd("verify", self.buf)
        self.assertEqual(rc, 0, out + err)
        by = self.segments_by_file()
        self.assertEqual(sum(len(v) for v in by.values()), 5000)
        full = sorted(f for f, v in by.items() if v)
        self.assertGreaterEqual(len(full), 3, f"expected several segments: {full}")
        victim = full[1]
        lost = set(by[victim])
        path = os.path.join(bufdir, victim)
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) // 2)
            b = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([b[0] ^ 0x5A]))
        rc, out, err = self.buffer_cmd("verify", self.buf)
        self.assertEqual(rc, 1, out + err)
        self.assertIn(victim, err)

        # 5. The server comes; the client restarts with the small capacity:
        # the buffer drains, then the lines that waited follow.
        server = self.server(driver)
        client = self.client(driver, 256 << 10)
        expected = set(range(5500)) - lost
        h.wait_until(lambda: len(set(seqs(self.out))) >= len(expected), 120,
                     lambda: f"{len(expected)} lines at the server (have {len(set(seqs(self.out)))})",
                     proc=client.proc)
        # The server writes a batch before it acknowledges it; the client
        # counts it sent (out) when the acknowledgement comes.
        h.wait_until(lambda: client.snapshot_stats(dests=("d_out#0",))["destination"]["d_out#0"]["out"]
                     >= len(expected), 60, "the client's out counter to cover every line", proc=client.proc)
        cstats = self.stop_ok(client)
        self.stop_ok(server)
        got = seqs(self.out)
        self.assertEqual(set(got), expected, "lines other than the corrupted segment's lost, or extra")
        self.assertEqual(len(got), len(set(got)), "lines repeated")
        self.assertIn("is corrupt", client.stderr)
        self.assertTrue(os.path.exists(path + ".corrupt"))
        self.assertEqual(cstats["destination"]["d_out#0"]["out"], len(expected) - 0, cstats)
        self.assertEqual(self.waiting(), 0)

    def test_ferry_fill_kill_resize_corrupt_drain(self):
        self.run_scenario("ferry")

    def test_syslog_fill_kill_resize_corrupt_drain(self):
        self.run_scenario("syslog")

    def test_drop_oldest_when_full(self):
        """when-full(drop-oldest): the sources never wait; the oldest
        segments go, counted; what arrives is the newest lines, after the
        few (mem-buf-length) that the sending destination already held."""
        client = self.client("ferry", 64 << 10, reliable=False, extra="when-full(drop-oldest) mem-buf-length(10)")
        self.write(0, 3000)
        ino = fl.dev_ino(self.input)
        size = os.path.getsize(self.input)
        h.wait_until(lambda: fl.state_pos(self.state, ino) == size, 60, "every line taken", proc=client.proc)
        self.assertLess(self.waiting(), 3000)
        server = self.server("ferry")

        def dropped_now():
            return client.snapshot_stats(dests=("d_out#0",))["destination"]["d_out#0"]["dropped_queue_full"]

        # Every line either arrives or is counted as dropped: the buffered
        # records and the few the sending destination held (mem-buf-length).
        h.wait_until(lambda: len(seqs(self.out)) + dropped_now() >= 3000, 60,
                     lambda: f"3000 lines delivered or dropped (have {len(seqs(self.out))} delivered)",
                     proc=client.proc)
        cstats = self.stop_ok(client)
        self.stop_ok(server)
        got = seqs(self.out)
        dropped = cstats["destination"]["d_out#0"]["dropped_queue_full"]
        self.assertGreater(dropped, 0)
        self.assertEqual(len(got) + dropped, 3000, "lines neither delivered nor counted as dropped")
        gaps = [i for i in range(1, len(got)) if got[i] != got[i - 1] + 1]
        held = gaps[0] if gaps else 0
        self.assertLessEqual(held, 10, f"more than mem-buf-length held: {got[:held + 1]}")
        self.assertEqual(got[held:], list(range(got[held], 3000)), "not the newest lines, in order")
        self.assertIn("dropped its oldest", client.stderr)

    def test_relay_acknowledges_from_its_buffer(self):
        """client --ferry()--> relay (ferry() source -> ferry() with a reliable
        disk buffer) --> server.  With the server away the relay acknowledges
        the client's batches once they are in its buffer (the client's saved
        position reaches the end of its file); the relay is killed (kill -9)
        and restarted, the server comes: every line arrives once."""
        relay_port = h.free_port()
        relay_conf = conf(f'ferry(ip("127.0.0.1") port({relay_port}))',
                          f'ferry("127.0.0.1" port({self.port}) time-reopen(1) '
                          f'disk-buffer(reliable(yes) dir({h.config_string(self.buf)})))')
        relay = self.lf("relay", relay_conf)
        h.wait_until(lambda: h.tcp_listening(relay_port), what="the relay to listen", proc=relay.proc)
        client = self.lf("client", conf(f"file({h.config_string(self.input)} follow-freq(1))",
                                        f'ferry("127.0.0.1" port({relay_port}) time-reopen(1))'), self.state)
        self.write(0, 5000)
        size, ino = os.path.getsize(self.input), fl.dev_ino(self.input)
        h.wait_until(lambda: fl.state_pos(self.state, ino) == size, 60,
                     lambda: f"the client's position to reach {size} (is {fl.state_pos(self.state, ino)})",
                     proc=client.proc)
        self.assertEqual(self.waiting(), 5000)
        relay.kill9()
        server = self.server("ferry")
        relay = self.lf("relay", relay_conf)
        self.write(5000, 1000)
        h.wait_until(lambda: len(set(seqs(self.out))) >= 6000, 120,
                     lambda: f"6000 lines at the server (have {len(set(seqs(self.out)))})", proc=relay.proc)
        self.stop_ok(client)
        self.stop_ok(relay)
        self.stop_ok(server)
        got = seqs(self.out)
        self.assertEqual(sorted(got), list(range(6000)))

    def test_relay_kill9_repeats_nothing_upstream(self):
        """client --ferry()--> relay (ferry() source -> ferry() with a reliable
        disk buffer) --> server, lines flowing all along.  The relay is killed
        with kill -9 while it forwards (the server has batches that the
        buffer's saved head does not cover yet: they are replayed), and again
        while the server is away (the client sends again the batches the relay
        had in its buffer but had not acknowledged yet: they are in the buffer
        twice); then the server comes back.  Every line is stored exactly once:
        the buffer's records keep each batch's origin stream and number, the
        relay forwards a replayed batch as that batch of the client's stream,
        and the server drops what it has."""
        relay_port = h.free_port()
        relay_conf = conf(f'ferry(ip("127.0.0.1") port({relay_port}))',
                          f'ferry("127.0.0.1" port({self.port}) time-reopen(1) '
                          f'disk-buffer(reliable(yes) dir({h.config_string(self.buf)})))')

        def start_relay():
            relay = self.lf("relay", relay_conf)
            h.wait_until(lambda: h.tcp_listening(relay_port), what="the relay to listen", proc=relay.proc)
            return relay

        def stored():
            return len(seqs(self.out)) if os.path.exists(self.out) else 0

        server = self.server("ferry")
        relay = start_relay()
        client = self.lf("client", conf(f"file({h.config_string(self.input)} follow-freq(1))",
                                        f'ferry("127.0.0.1" port({relay_port}) time-reopen(1) batch-messages(5) window(200))'),
                         self.state)
        total = 10000
        writer = Writer(self.input, total, 2000)
        writer.start()
        h.wait_until(lambda: stored() >= 2000, 60, lambda: f"2000 lines stored (have {stored()})", interval=0.05)
        relay.kill9()  # while forwarding
        relay = start_relay()
        h.wait_until(lambda: stored() >= 5000, 60, lambda: f"5000 lines stored (have {stored()})", interval=0.05)
        self.stop_ok(server)
        h.wait_until(lambda: self.waiting() >= 1000, 60,
                     lambda: f"1000 lines in the relay's buffer (have {self.waiting()})", interval=0.1, proc=relay.proc)
        relay.kill9()  # acknowledged to the client, not forwarded; lines still coming
        relay = start_relay()
        server = self.server("ferry")
        writer.join()
        self.assert_every_line_once(total, relay, (client, relay, server))

    def client_kill9_mid_load(self, reliable):
        """client (file source -> ferry() with a disk buffer) -> server, lines
        flowing all along.  The client is killed with kill -9 while it
        forwards, again while the server is away (the buffer holds lines
        the server never saw), and once more after the server is back.  Its
        saved position moves once a batch is in the buffer and is saved at
        most once a second, so each restart reads again lines that the
        buffer holds or already passed on; the buffer replays what it had
        not seen acknowledged.  Every line is stored, and none twice."""
        capacity = 64 << 20

        def stored():
            return len(seqs(self.out))

        server = self.server("ferry")
        client = self.client("ferry", capacity, reliable)
        total = 20000
        writer = Writer(self.input, total, 4000)
        writer.start()
        h.wait_until(lambda: stored() >= 3000, 60, lambda: f"3000 lines stored (have {stored()})", interval=0.05)
        client.kill9()  # while forwarding
        client = self.client("ferry", capacity, reliable)
        h.wait_until(lambda: stored() >= 7000, 60, lambda: f"7000 lines stored (have {stored()})", interval=0.05)
        self.stop_ok(server)
        h.wait_until(lambda: self.waiting() >= 2000, 60,
                     lambda: f"2000 lines in the client's buffer (have {self.waiting()})", interval=0.1,
                     proc=client.proc)
        client.kill9()  # the buffer holds lines the server never saw; lines still coming
        client = self.client("ferry", capacity, reliable)
        server = self.server("ferry")
        h.wait_until(lambda: stored() >= 15000, 60, lambda: f"15000 lines stored (have {stored()})", interval=0.05)
        client.kill9()
        client = self.client("ferry", capacity, reliable)
        writer.join()
        self.assert_every_line_once(total, client, (client, server), f"reliable({'yes' if reliable else 'no'}): ")

    def test_client_kill9_mid_load_reliable(self):
        self.client_kill9_mid_load(True)

    def test_client_kill9_mid_load_not_reliable(self):
        self.client_kill9_mid_load(False)

    def test_check_describes_and_rejects(self):
        path = self.path("c.conf")
        dest = ('ferry("127.0.0.1" disk-buffer(reliabel(yes) capacity-bytes(10) when-full(drop-newest))); '
                'syslog("127.0.0.1" disk-buffer(reliable(yes) disk-buf-size(100000000) mem-buf-length(100)))')
        with open(path, "w") as f:
            f.write(conf(f"file({h.config_string(self.input)})", dest))
        r = h.run_logferry([h.LOGFERRY, "check", "-f", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1, err)
        self.assertIn(f"{path}:4:", err)
        self.assertIn("expected a whole number from 65536", err)
        self.assertIn("did you mean 'drop-oldest'?", err)
        self.assertIn("did you mean 'reliable'?", err)
        with open(path, "w") as f:
            f.write(conf(f"file({h.config_string(self.input)})", dest.split("; ")[1]))
        r = h.run_logferry([h.LOGFERRY, "check", "-f", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn("syslog() tcp 127.0.0.1:601 disk-buffer(reliable 100000000 bytes)", r.stdout.decode())


if __name__ == "__main__":
    h.main()
