#!/usr/bin/env python3
"""The whole chain, all logferry: two clients tail files and send with
ferry() to a relay, which forwards to a server writing one file.  While
lines are appended the test kills the relay with kill -9 twice, the server
with kill -9, stops the server (SIGTERM) for a while, kills a client with
kill -9, and rotates both tailed files.  At the end a checker compares every
line written with every line stored and prints the counts.

What is asserted: every line written is stored exactly once: no line is
missing and none is stored twice, of either client (the receiver's journal
and the relay forwarding the origin's numbers make receiver and relay
crashes repeat nothing; after its kill -9, client B skips the lines read
again that the server already stored: its sent log and the server's mark,
docs/protocol.md "A sender's crash").

LOGFERRY_CHAIN_FULL=1: 1,000,000 lines and the server stopped for 30 s, as
issue 5 asks (the plain build's ctest run; the sanitizer build runs 40,000
lines and a 5 s outage)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "client"))
import test_file_lib as fl  # noqa: E402
from test_file_lib import h  # noqa: E402
from test_ferry import Writer, relay_conf, sender_conf, server_conf  # noqa: E402

FULL = os.environ.get("LOGFERRY_CHAIN_FULL") == "1"
LINES = 500000 if FULL else 20000          # per client
RATE = 5000 if FULL else 1000            # lines a second per client (the events happen while writing)
STOP_SECONDS = 30 if FULL else 5          # the server's planned outage
WAIT = 900 if FULL else 150               # the longest wait for a stage
LINE_BYTES = 1 + 8 + 1 + 60 + 1  # "A00000001 xxx...\n", as Writer writes them


def client_conf(log_dir, port):
    return sender_conf(fl.wildcard(log_dir, "*.log", "follow-freq(1) rotate-wait(2)").rstrip(";"), port)


def stored_counts(path):
    """Per tag, how often each number is stored."""
    counts = {}
    with open(path, "rb") as f:
        for line in f:
            if len(line) == LINE_BYTES and line[1:9].isdigit():
                tag = chr(line[0])
                c = counts.setdefault(tag, {})
                n = int(line[1:9])
                c[n] = c.get(n, 0) + 1
    return counts


class ChainTest(h.ServerTest):

    def lf(self, name, conf):
        lf = fl.FileLogferry(self.dir, self.path(name + "-state"), name)
        self._procs.append(lf)
        lf.start_conf(conf)
        return lf

    def listening(self, name, conf, port):
        lf = self.lf(name, conf)
        h.wait_until(lambda: h.tcp_listening(port), what=f"the {name} to listen", proc=lf.proc)
        return lf

    def stored_lines(self):
        # Lines are all LINE_BYTES long: the size tells the count without
        # reading the file (it is cut back after a server crash, so it can
        # shrink).
        try:
            return os.path.getsize(self.out) // LINE_BYTES
        except FileNotFoundError:
            return 0

    def wait_stored(self, n):
        h.wait_until(lambda: self.stored_lines() >= n, WAIT,
                     lambda: f"{n} lines stored (have {self.stored_lines()})", interval=0.05)

    def test_chain(self):
        server_port, relay_port = h.free_port(), h.free_port()
        self.out = self.path("stored.log")
        server = self.listening("server", server_conf(server_port, self.out), server_port)
        relay = self.listening("relay", relay_conf(relay_port, server_port), relay_port)
        writers, clients = {}, {}
        for tag in ("A", "B"):
            log_dir = self.path("logs" + tag)
            os.makedirs(log_dir)
            path = os.path.join(log_dir, "app.log")
            open(path, "w").close()
            clients[tag] = self.lf("client" + tag, client_conf(log_dir, relay_port))
            writers[tag] = Writer(path, LINES, RATE, tag, rotate_at=LINES // 2 if tag == "A" else LINES * 7 // 10)
        for w in writers.values():
            w.start()
        total = 2 * LINES
        started = time.monotonic()

        def stage(fraction, what):
            self.wait_stored(int(total * fraction))
            print(f"{time.monotonic() - started:6.1f}s {self.stored_lines()} stored: {what}")

        stage(0.10, "relay kill -9")
        relay.kill9()
        relay = self.listening("relay", relay_conf(relay_port, server_port), relay_port)
        stage(0.25, "server kill -9")
        server.kill9()
        server = self.listening("server", server_conf(server_port, self.out), server_port)
        stage(0.40, "relay kill -9")
        relay.kill9()
        relay = self.listening("relay", relay_conf(relay_port, server_port), relay_port)
        stage(0.50, f"server stopped for {STOP_SECONDS} s")
        self.stop_ok(server)
        time.sleep(STOP_SECONDS)  # the outage itself, not a wait for something to happen
        server = self.listening("server", server_conf(server_port, self.out), server_port)
        stage(0.65, "client B kill -9")
        clients["B"].kill9()
        clients["B"] = self.lf("clientB", client_conf(self.path("logsB"), relay_port))
        for w in writers.values():
            w.join()
        self.assertTrue(all(w.rotated for w in writers.values()))

        def complete():
            counts = stored_counts(self.out)
            return all(len(counts.get(tag, {})) == LINES for tag in writers)

        # Every line at least once (the file is read whole only after its
        # size says it can be complete).
        h.wait_until(lambda: self.stored_lines() >= total and complete(), WAIT,
                     lambda: f"every line stored (have {self.stored_lines()} lines)", interval=0.5)
        print(f"{time.monotonic() - started:6.1f}s every line stored")
        for lf in (clients["A"], clients["B"], relay, server):
            self.stop_ok(lf)

        counts = stored_counts(self.out)
        report = {}
        for tag in writers:
            c = counts.get(tag, {})
            missing = [n for n in range(LINES) if n not in c]
            report[tag] = dict(written=LINES, stored=sum(c.values()), missing=len(missing),
                               repeated=sum(v - 1 for v in c.values()))
            print(f"client {tag}: written={report[tag]['written']} stored={report[tag]['stored']} "
                  f"missing={report[tag]['missing']} repeated={report[tag]['repeated']}")
            self.assertEqual(missing, [], f"client {tag}: lost lines {fl.summarize(missing)}")
        for tag in writers:
            self.assertEqual(report[tag]["repeated"], 0, f"client {tag}: lines stored twice")


if __name__ == "__main__":
    h.main()
