#!/usr/bin/env python3
"""The ferry protocol end to end with real processes: a client logferry tails
a file and sends it with ferry() to a server logferry, whose ferry() source
writes it to a file.  Every line exactly once; the server stopped with
SIGTERM and restarted mid-load or killed with kill -9 (nothing lost, nothing
repeated); a garbage peer dropped and counted while a client is
served; client -> relay -> server with the relay killed (kill -9): nothing
lost, nothing repeated."""
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "client"))
import test_file_lib as fl  # noqa: E402
from test_file_lib import h  # noqa: E402

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench")
WINDOW = 16
BATCH = 512


def server_conf(port, out, opts="", ip="127.0.0.1", driver="file", options=""):
    return (f"@version: 4.0\noptions {{ stats-freq(0); {options} }};\n"
            f"source s_in {{ ferry(ip(\"{ip}\") port({port}) {opts}); }};\n"
            f"destination d {{ {driver}({h.config_string(out)} template(\"${{MESSAGE}}\\n\")); }};\n"
            f"log {{ source(s_in); destination(d); }};\n")


def sender_conf(source, port, dest_opts=""):
    """A logferry sending what `source` reads with ferry() to `port`."""
    return (f"@version: 4.0\noptions {{ stats-freq(0); }};\n"
            f"source s_app {{ {source}; }};\n"
            f"destination d_ferry {{ ferry(\"127.0.0.1\" port({port}) {dest_opts} time-reopen(1)); }};\n"
            f"log {{ source(s_app); destination(d_ferry); }};\n")


def client_conf(path, port):
    return sender_conf(f"file({h.config_string(path)} follow-freq(1))", port,
                       f"window({WINDOW}) batch-messages({BATCH})")


def relay_conf(port, upstream_port):
    return sender_conf(f"ferry(ip(\"127.0.0.1\") port({port}))", upstream_port, f"window({WINDOW})")


class Writer(threading.Thread):
    """Appends lines "L%08d <filler>" (another letter with `tag`) to a file,
    `rate` lines a second.  With `rotate_at`, after that many lines it
    rotates the file as logrotate does without copytruncate (app.log ->
    app.log.1, a new app.log) and goes on in the new one."""

    def __init__(self, path, total, rate, tag="L", rotate_at=None):
        super().__init__(daemon=True)
        self.path, self.total, self.rate, self.tag, self.rotate_at = path, total, rate, tag, rotate_at
        self.written = 0
        self.rotated = False

    def run(self):
        f = open(self.path, "a", encoding="ascii")
        start = time.monotonic()
        while self.written < self.total:
            if self.rotate_at is not None and not self.rotated and self.written >= self.rotate_at:
                f.close()
                os.rename(self.path, self.path + ".1")
                f = open(self.path, "a", encoding="ascii")
                self.rotated = True
            burst = min(100, self.total - self.written)
            f.write("".join(f"{self.tag}{self.written + i:08d} {'x' * 60}\n" for i in range(burst)))
            f.flush()
            self.written += burst
            ahead = self.written / self.rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
        f.close()


def listening_on(ip, port):
    """Whether something listens on IPv4 `ip`:`port` (from /proc/net/tcp:
    the port alone would also match another address's listener)."""
    local = "".join(f"{int(x):02X}" for x in reversed(ip.split("."))) + f":{port:04X}"
    with open("/proc/net/tcp") as f:
        return any(fields[1] == local and fields[3] == "0A" for fields in (line.split() for line in f))


def seqs(path, tag="L"):
    out = []
    for line in h.read_lines(path):
        if line.startswith(tag) and len(line) > 9:
            out.append(int(line[1:9]))
    return out


class FerryBase(h.ServerTest):
    """What the ferry tests share: a port, an input file, servers and clients."""

    def setUp(self):
        super().setUp()
        self.port = h.free_port()
        self.input = self.path("in.log")
        self.out = self.path("out.log")
        open(self.input, "w").close()

    def lf(self, name, conf):
        lf = fl.FileLogferry(self.dir, self.path(name + "-state"), name)
        self._procs.append(lf)
        return lf.start_conf(conf)

    def server(self, opts=""):
        lf = self.lf("server", server_conf(self.port, self.out, opts))
        h.wait_until(lambda: h.tcp_listening(self.port), what="the server to listen", proc=lf.proc)
        return lf

    def other_server(self, out):
        """A second server on 127.0.0.2 (the same port) writing `out`."""
        lf = self.lf("other", server_conf(self.port, out, ip="127.0.0.2"))
        h.wait_until(lambda: listening_on("127.0.0.2", self.port), what="the second server to listen", proc=lf.proc)
        return lf

    def client(self, name="client", path=None):
        return self.lf(name, client_conf(path or self.input, self.port))

    def wait_all(self, total, tag="L"):
        h.wait_until(lambda: len(set(seqs(self.out, tag))) >= total, 90,
                     lambda: f"{total} distinct {tag} lines (have {len(set(seqs(self.out, tag)))})")

    def check(self, total, max_repeats=0, tag="L"):
        got = seqs(self.out, tag)
        counts = {}
        for s in got:
            counts[s] = counts.get(s, 0) + 1
        missing = [s for s in range(total) if s not in counts]
        self.assertEqual(missing, [], f"lost lines: {fl.summarize(missing)}")
        repeats = sum(c - 1 for c in counts.values())
        self.assertLessEqual(repeats, max_repeats, "repeated lines")
        return repeats

    def write_all(self, total, rate, path=None, tag="L"):
        """Writes `total` lines and waits until the server stored each."""
        w = Writer(path or self.input, total, rate, tag)
        w.start()
        w.join()
        self.wait_all(total, tag)


class FerryTest(FerryBase):

    def test_every_line_once(self):
        server = self.server()
        client = self.client()
        self.write_all(20000, 20000)
        self.stop_ok(client)
        stats = self.stop_ok(server)
        self.check(20000)
        self.assertEqual(len(seqs(self.out)), 20000)
        self.assertEqual(h.source_totals(stats)["in"], 20000)

    def test_server_sigterm_restart_mid_load(self):
        """SIGTERM while lines flow; the server is away 2 s; after the
        restart every line arrives, none twice (the marks are saved at
        shutdown after the output)."""
        server = self.server()
        client = self.client()
        w = Writer(self.input, 20000, 5000)
        w.start()
        h.wait_until(lambda: len(seqs(self.out)) >= 5000, 60, what="the first lines")
        self.stop_ok(server)
        time.sleep(2)
        server = self.server()
        w.join()
        self.wait_all(20000)
        self.stop_ok(client)
        self.stop_ok(server)
        self.check(20000)

    def test_server_kill9_mid_load(self):
        """kill -9 three times while lines flow: nothing lost, nothing
        repeated.  The server acknowledges a batch only once the output file
        is fsynced and the journal holds its mark with the file's length; at
        start it cuts the file back to the journaled length (what lies beyond
        was not acknowledged and is sent again)."""
        server = self.server()
        client = self.client()
        w = Writer(self.input, 20000, 5000)
        w.start()
        for stored in (4000, 9000, 14000):
            h.wait_until(lambda: len(seqs(self.out)) >= stored, 60, what=f"{stored} lines stored")
            server.kill9()
            server = self.server()
        w.join()
        self.wait_all(20000)
        self.stop_ok(client)
        self.stop_ok(server)
        self.check(20000)

    def test_small_batches_lose_nothing(self):
        """batch-messages(5) with the default window: one engine batch of a
        file source (up to 512 lines) makes up to 103 ferry batches, more
        than the stream may hold for sources that do not wait; a file
        source's lines are never dropped for that (they were, counted as
        dropped_queue_full)."""
        server = self.server()
        with open(self.input, "w", encoding="ascii") as f:  # all there at the start: full engine batches
            f.write("".join(f"L{i:08d} {'x' * 40}\n" for i in range(6000)))
        client = self.lf("client", sender_conf(f"file({h.config_string(self.input)} follow-freq(1))", self.port,
                                               "batch-messages(5)"))
        self.wait_all(6000)
        stats = self.stop_ok(client)
        self.stop_ok(server)
        self.check(6000)
        self.assertEqual(stats["destination"]["d_ferry#0"]["dropped_queue_full"], 0, stats)

    def test_failed_journal_commit_is_tried_again(self):
        """The server cannot write its delivery journal for a while
        (PERSIST-DIR/journal.tmp made a directory), so it acknowledges
        nothing; once it can again, the commit is tried again by itself -
        the client, whose lines all arrived, sends nothing new that would
        set it off - and the client hears its ACKs."""
        server = self.server()
        client = self.client()
        self.write_all(1000, 5000)
        blocker = h.block_journal(self.path("server-state"))
        with open(self.input, "a", encoding="ascii") as f:
            f.write("".join(f"L{i:08d} {'x' * 40}\n" for i in range(1000, 1500)))
        self.wait_all(1500)
        h.wait_until(lambda: "cannot commit the delivery journal" in server.stderr_text(),
                     what="the journal failing", proc=server.proc)
        def acked():
            return client.snapshot_stats(dests=("d_ferry#0",))["destination"]["d_ferry#0"]["out"]
        self.assertLess(acked(), 1500, "nothing acknowledged while the journal fails")
        os.rmdir(blocker)
        h.wait_until(lambda: acked() >= 1500, 30, lambda: f"every line acknowledged (have {acked()})",
                     proc=client.proc)
        self.assertIn("the delivery journal is written again", server.stderr_text())
        self.stop_ok(client)
        self.stop_ok(server)
        self.check(1500)

    def test_client_restart_no_repeats(self):
        """The client stopped and started again mid-load: its saved position
        covers only acknowledged lines; nothing lost, nothing repeated."""
        server = self.server()
        client = self.client()
        w = Writer(self.input, 20000, 5000)
        w.start()
        h.wait_until(lambda: len(seqs(self.out)) >= 3000, 60, what="the first lines")
        self.stop_ok(client)
        client = self.client()
        w.join()
        self.wait_all(20000)
        self.stop_ok(client)
        self.stop_ok(server)
        self.check(20000)

    def test_client_kill9_mid_load(self):
        """The client killed with kill -9 while batches are in flight and
        started again: nothing lost, nothing repeated.  Its saved position
        may be behind what the server has; the lines after it that the
        server stored are skipped (the client's sent log and the server's
        mark), and the new run's batches are numbered after everything the
        server accepted, so none of them is mistaken for a duplicate."""
        server = self.server()
        client = self.client()
        w = Writer(self.input, 20000, 5000)
        w.start()
        h.wait_until(lambda: len(seqs(self.out)) >= 5000, 60, what="the first lines")
        client.kill9()
        client = self.client()
        w.join()
        self.wait_all(20000)
        self.stop_ok(client)
        self.stop_ok(server)
        self.check(20000)

    def test_two_clients(self):
        """Two clients (two node ids, the same source name) into one server:
        separate streams, every line of each once, even across a server
        restart."""
        server = self.server()
        other = self.path("other.log")
        open(other, "w").close()
        c1 = self.client()
        c2 = self.client("client2", other)
        w1 = Writer(self.input, 15000, 5000)
        w2 = Writer(other, 15000, 5000, tag="M")
        w1.start()
        w2.start()
        h.wait_until(lambda: len(seqs(self.out, "M")) >= 2000, 60, what="the first lines of client2")
        self.stop_ok(server)
        server = self.server()
        w1.join()
        w2.join()
        self.wait_all(15000)
        self.wait_all(15000, "M")
        self.stop_ok(c1)
        self.stop_ok(c2)
        self.stop_ok(server)
        self.check(15000)
        self.check(15000, tag="M")
        with open(os.path.join(self.path("server-state"), "journal")) as f:
            marks = [line for line in f.read().split("\n") if line.startswith("mark ")]
            self.assertEqual(len(marks), 2, "one mark per origin stream")

    def test_restarted_client_numbers_above_a_restarted_relay(self):
        """A relay that restarted does not know how far upstream its earlier
        run forwarded a stream; a client that restarts too must not reuse
        those numbers (the server would drop its new, different batches).
        The relay's STREAM_STATE says to number afresh above its mark plus
        the largest window: the server's mark jumps past it, and every line
        is stored once."""
        relay_port = h.free_port()
        server = self.server()
        relay = self.lf("relay", relay_conf(relay_port, self.port))
        h.wait_until(lambda: h.tcp_listening(relay_port), what="the relay to listen", proc=relay.proc)
        client = self.lf("client", client_conf(self.input, relay_port))
        self.write_all(3000, 3000)
        self.stop_ok(client)
        self.stop_ok(relay)
        relay = self.lf("relay", relay_conf(relay_port, self.port))
        h.wait_until(lambda: h.tcp_listening(relay_port), what="the relay to listen", proc=relay.proc)
        client = self.lf("client", client_conf(self.input, relay_port))
        w = Writer(self.input, 6000, 3000)
        w.written = 3000
        w.start()
        w.join()
        self.wait_all(6000)
        for lf in (client, relay, server):
            self.stop_ok(lf)
        self.check(6000)
        with open(os.path.join(self.path("server-state"), "journal")) as f:
            marks = [int(line.split(" ")[1]) for line in f.read().split("\n") if line.startswith("mark ")]
        self.assertEqual(len(marks), 1)
        self.assertGreater(marks[0], 100000, "numbered afresh above the restarted relay's mark + window")

    def test_max_streams_forgets_idle_streams(self):
        """max-streams(1): a second client's stream takes the place of the
        first one's once that client is gone (its mark is forgotten), instead
        of being refused for good."""
        server = self.server("max-streams(1)")
        client = self.client()
        self.write_all(3000, 3000)
        self.stop_ok(client)
        other = self.path("other.log")
        open(other, "w").close()
        c2 = self.client("client2", other)
        self.write_all(3000, 3000, other, "M")
        self.stop_ok(c2)
        self.stop_ok(server)
        self.check(3000)
        self.check(3000, tag="M")
        with open(os.path.join(self.path("client2-state"), "node-id"), "rb") as f:
            c2_id = f.read().hex()
        self.assertEqual(self.journal_marks("server"), [f"ferry:{c2_id}:{b's_app'.hex()}"])
        self.assertIn("max-streams(1) reached", server.stderr)

    def test_log_msg_size_cuts_decoded_messages(self):
        """The receiver's log-msg-size() holds for messages that arrive
        parsed: a longer MESSAGE is cut there and counted as truncated."""
        server = self.server("log-msg-size(100)")
        client = self.client()
        with open(self.input, "a") as f:
            f.write("L00000000 " + "y" * 2000 + "\n")
            f.write("L00000001 short\n")
        self.wait_all(2)
        self.stop_ok(client)
        stats = self.stop_ok(server)
        lines = h.read_lines(self.out)
        self.assertEqual(lines, ["L00000000 " + "y" * 90, "L00000001 short"])
        self.assertEqual(h.source_totals(stats)["truncated"], 1)

    def test_split_layout_on_the_wire(self):
        """Access-log lines (bench/ferry_compression.py's nginx sample, 20,000
        at once) arrive intact, and in fewer bytes than the row layout can
        carry them: the split layout measured 13.3 % of the raw bytes here,
        rows 15.6 % (the kernel's counters of the server's socket)."""
        sys.path.insert(0, BENCH)
        import ferry_compression  # noqa: E402
        from driver import tcp_bytes  # noqa: E402  (bench/client/driver.py)
        data = ferry_compression.sample("nginx", 20000)
        server = self.server()
        client = self.lf("client", sender_conf(f"file({h.config_string(self.input)} follow-freq(1) flags(no-parse))",
                                               self.port, "compression-level(1)"))
        with open(self.input, "ab") as f:
            f.write(data)
        h.wait_until(lambda: len(h.read_lines(self.out)) >= 20000, 90, what="20,000 lines", proc=client.proc)
        wire = tcp_bytes(self.port)[0]  # the one connection's, handshake included
        print(f"  wire {wire} B for {len(data)} B raw: {100 * wire / len(data):.1f} %", file=sys.stderr)
        self.stop_ok(client)
        self.stop_ok(server)
        self.assertEqual("".join(line + "\n" for line in h.read_lines(self.out)).encode(), data)
        self.assertLess(wire / len(data), 0.145, f"{wire} bytes on the wire for {len(data)} raw")

    def test_texts_with_newlines_go_in_rows(self):
        """A batch whose texts hold newlines (multi-line messages) cannot
        go in the split layout: it goes in rows, mixed on one connection
        with batches that went split; every message arrives whole."""
        server = self.server()
        client = self.lf("client", sender_conf(
            f"file({h.config_string(self.input)} follow-freq(1) multi-line-mode(indented) flags(no-parse))",
            self.port, "batch-messages(4)"))
        lines = []
        for i in range(40):
            lines.append(f"M{i:03d} first line")
            if i % 10 == 3:  # one message in ten with a second line
                lines.append(f"  M{i:03d} continued")
        lines.append("M999 last")  # ends the message before it (indented mode)
        with open(self.input, "a") as f:
            f.write("".join(line + "\n" for line in lines))
        h.wait_until(lambda: any(line.startswith("M039") for line in h.read_lines(self.out)), 60, what="M039",
                     proc=client.proc)
        self.stop_ok(client)
        self.stop_ok(server)
        self.assertEqual(h.read_lines(self.out), lines[:-1])

    def test_compression_dictionary(self):
        """compression-dictionary() on both ends: lines arrive intact; a
        receiver with another dictionary takes the sender without one (a
        notice), lines still intact; a missing or corrupt dictionary is a
        config error at the option."""
        sample = self.path("sample.log")
        with open(sample, "w") as f:
            f.write("".join(f"S{i:08d} GET /api/v1/items/{i * 7919 % 100000} status={200 + i % 3} "
                            f"agent=client-{i % 17}\n" for i in range(3000)))
        dicts = []
        for size in (4096, 2048):
            d = self.path(f"ferry-{size}.dict")
            p = h.run_logferry([h.LOGFERRY, "ferry-dictionary", "train", "-o", d, "--size", str(size), sample],
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("dictionary id", p.stdout)
            dicts.append(d)
        opt = f"compression-dictionary({h.config_string(dicts[0])})"
        server = self.server(opt)
        client = self.lf("client", sender_conf(f"file({h.config_string(self.input)} follow-freq(1))", self.port,
                                               f"window({WINDOW}) {opt}"))
        lines = [f"L{i:08d} GET /api/v1/items/{i} status=200 \u00e9\t end" for i in range(2000)]
        with open(self.input, "a", encoding="utf-8") as f:
            f.write("".join(x + "\n" for x in lines))
        self.wait_all(2000)
        self.stop_ok(server)
        self.assertEqual(h.read_lines(self.out), lines)
        self.assertNotIn("compressing without it", client.stderr_text())

        # The receiver's dictionary differs: both go without one.
        server = self.server(f"compression-dictionary({h.config_string(dicts[1])})")
        more = [f"L{i:08d} after" for i in range(2000, 2100)]
        with open(self.input, "a", encoding="utf-8") as f:
            f.write("".join(x + "\n" for x in more))
        self.wait_all(2100)
        self.stop_ok(client)
        self.stop_ok(server)
        self.assertEqual(h.read_lines(self.out), lines + more)
        self.assertIn("compressing without it", client.stderr)

        with open(self.path("corrupt.dict"), "wb") as f:
            f.write(b"\x37\xa4\x30\xec garbage")
        for path, why in (("missing.dict", "cannot read"), ("corrupt.dict", "not a usable zstd dictionary")):
            where = h.config_string(self.path(path))
            for body in (f'source s {{ ferry(port(5140) compression-dictionary({where})); }};\n',
                         f'destination d {{ ferry("127.0.0.1" compression-dictionary({where})); }};\n'):
                rc, err = self.check_config(body)
                self.assertNotEqual(rc, 0, body)
                self.assertIn(why, err)
                self.assertRegex(err, r"bad\.conf:2:\d+: error: compression-dictionary\(\)")
                self.assertIn("hint: train one", err)

    def journal_marks(self, name):
        with open(os.path.join(self.path(name + "-state"), "journal")) as f:
            return [line.split(" ", 2)[2] for line in f.read().split("\n") if line.startswith("mark ")]

    def test_relay_kill9_mid_load(self):
        """client -> relay -> server, the relay killed with kill -9 twice
        while lines flow: nothing lost, nothing repeated.  The relay forwards
        the client's stream under the client's node id with the client's
        batch numbers, so the server drops whatever a restarted relay sends
        again; the server keeps one mark, for the client's stream."""
        relay_port = h.free_port()
        server = self.server()
        relay = self.lf("relay", relay_conf(relay_port, self.port))
        h.wait_until(lambda: h.tcp_listening(relay_port), what="the relay to listen", proc=relay.proc)
        client = self.lf("client", client_conf(self.input, relay_port))
        w = Writer(self.input, 20000, 5000)
        w.start()
        for stored in (4000, 12000):
            h.wait_until(lambda: len(seqs(self.out)) >= stored, 60, what=f"{stored} lines stored")
            relay.kill9()
            relay = self.lf("relay", relay_conf(relay_port, self.port))
            h.wait_until(lambda: h.tcp_listening(relay_port), what="the relay to listen", proc=relay.proc)
        w.join()
        self.wait_all(20000)
        self.stop_ok(client)
        self.stop_ok(relay)
        self.stop_ok(server)
        self.check(20000)
        with open(os.path.join(self.path("client-state"), "node-id"), "rb") as f:
            client_id = f.read().hex()
        self.assertEqual(self.journal_marks("server"), [f"ferry:{client_id}:{b's_app'.hex()}"],
                         "the server knows the client's stream, not the relay's")

    def test_hung_receiver_ack_timeout_fails_over(self):
        """A receiver that stops answering but keeps its TCP connection (the
        process stopped with SIGSTOP: the kernel still acknowledges) is left
        after ack-timeout(): the client fails over to the second server, which
        gets the rest.  Nothing is lost over both."""
        other_out = self.path("other.log")
        server = self.server()
        other = self.other_server(other_out)
        client = self.lf("client", sender_conf(f"file({h.config_string(self.input)} follow-freq(1))", self.port,
                                               "failover(servers(\"127.0.0.2\")) ack-timeout(2)"))
        w = Writer(self.input, 20000, 4000)
        w.start()
        h.wait_until(lambda: len(seqs(self.out)) >= 2000, 60, what="the first lines")
        server.proc.send_signal(signal.SIGSTOP)
        try:
            h.wait_until(lambda: len(seqs(other_out)) > 0, 60, what="lines at the second server",
                         proc=client.proc)
            w.join()
            h.wait_until(lambda: len(set(seqs(self.out)) | set(seqs(other_out))) >= 20000, 90,
                         what="every line at one server or the other")
        finally:
            server.proc.send_signal(signal.SIGCONT)
        self.stop_ok(client)
        self.stop_ok(server)
        self.stop_ok(other)
        self.assertIn("ack-timeout", client.stderr)

    def test_load_balance_streams_stick_then_fail_over(self):
        """load-balance(yes) with two servers: the client's two streams (two
        source blocks) go one to each server and stay there; when one server
        stops, its stream fails over to the other.  Every line once over
        both servers."""
        other_out = self.path("other.log")
        a = self.server()
        b = self.other_server(other_out)
        second = self.path("second.log")
        open(second, "w").close()
        conf = (f"@version: 4.0\noptions {{ stats-freq(0); }};\n"
                f"source s_app {{ file({h.config_string(self.input)} follow-freq(1)); }};\n"
                f"source s_second {{ file({h.config_string(second)} follow-freq(1)); }};\n"
                f"destination d_ferry {{ ferry(\"127.0.0.1\" port({self.port}) failover(servers(\"127.0.0.2\"))"
                f" load-balance(yes) time-reopen(1)); }};\n"
                f"log {{ source(s_app); source(s_second); destination(d_ferry); }};\n")
        client = self.lf("client", conf)
        wl, wm = Writer(self.input, 5000, 5000), Writer(second, 5000, 5000, tag="M")
        wl.start()
        wm.start()
        wl.join()
        wm.join()

        def tags(path):
            return {line[0] for line in h.read_lines(path) if line[:1] in ("L", "M")}

        h.wait_until(lambda: len(seqs(self.out)) + len(seqs(other_out)) + len(seqs(self.out, "M")) +
                     len(seqs(other_out, "M")) >= 10000, 60, what="the first 10000 lines")
        self.assertEqual(len(tags(self.out)), 1, "one stream per server")
        self.assertEqual(tags(self.out) | tags(other_out), {"L", "M"})
        on_b = tags(other_out).pop()
        self.stop_ok(b)
        w = Writer(second if on_b == "M" else self.input, 8000, 5000, tag=on_b)
        w.written = 5000  # numbers go on after the first 5000
        w.start()
        w.join()
        h.wait_until(lambda: len(set(seqs(self.out, on_b)) | set(seqs(other_out, on_b))) >= 8000, 60,
                     what=f"the {on_b} lines after the failover")
        self.stop_ok(client)
        self.stop_ok(a)
        for tag in ("L", "M"):
            got = seqs(self.out, tag) + seqs(other_out, tag)
            self.assertEqual(sorted(got), list(range(8000 if tag == on_b else 5000)), f"{tag} lines once")
        self.assertEqual(tags(self.out), {"L", "M"}, "the failed-over stream went on at the first server")

    def test_paused_receiver_is_not_left(self):
        """A receiver whose output does not take anything (a FIFO nobody
        reads) fills its queue and stops reading; it then sends PINGs, so the
        client (ack-timeout(2)) waits instead of reconnecting.  Once a reader
        comes, every line arrives once."""
        fifo = self.path("out.fifo")
        os.mkfifo(fifo)
        # Windows of 64 batches: more than the pipe() backlog (1 MiB) plus
        # the queue can be unacknowledged, so the queue fills.
        self.lf("server", server_conf(self.port, fifo, "window(64)", driver="pipe", options="log-fifo-size(600);"))
        h.wait_until(lambda: h.tcp_listening(self.port), what="the server to listen")
        client = self.lf("client", sender_conf(f"file({h.config_string(self.input)} follow-freq(1))", self.port,
                                               "window(64) ack-timeout(2)"))
        w = Writer(self.input, 40000, 40000)
        w.start()
        w.join()
        # Nobody reads the FIFO: the server's pipe() backlog, then its
        # queue, fill; it stops reading and the client waits on its window.
        # The outage lasts more than two ack-timeouts (a client that did
        # not see the PINGs would have reconnected twice).
        time.sleep(5)
        got = []

        def read_fifo():
            with open(fifo, "rb") as f:
                for line in f:
                    got.append(line)

        reader = threading.Thread(target=read_fifo, daemon=True)
        reader.start()
        h.wait_until(lambda: len(got) >= 40000, 90, lambda: f"40000 lines through the FIFO (have {len(got)})")
        self.stop_ok(client)
        nums = [int(line[1:9]) for line in got if line.startswith(b"L")]
        self.assertEqual(sorted(nums), list(range(40000)))
        self.assertNotIn("ack-timeout", client.stderr)

    def test_garbage_peer_dropped_while_client_served(self):
        server = self.server()
        client = self.client()
        w = Writer(self.input, 10000, 5000)
        w.start()
        dropped = []
        for payload in (b"GET / HTTP/1.0\r\n\r\n", b"\x01\x00\x00\x00\x00\x00\x00\x04LFRX",
                        b"\x05\x00\x00\x00\xff\xff\xff\xff"):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            s.sendall(payload)
            data = b""
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except (ConnectionResetError, socket.timeout):
                pass
            s.close()
            dropped.append(data)
        # Each was answered with ERROR (type 0x0F) and closed.
        for data in dropped:
            self.assertTrue(data.startswith(b"\x0f"), f"ERROR frame expected, got {data[:16]!r}")
        w.join()
        self.wait_all(10000)
        self.stop_ok(client)
        stats = self.stop_ok(server)
        self.check(10000)
        self.assertGreaterEqual(h.source_totals(stats)["errors"], 3)
        self.assertEqual(server.stderr.count("ferry(): dropping"), 3)


if __name__ == "__main__":
    h.main()
