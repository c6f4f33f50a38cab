#!/usr/bin/env python3
"""failback() of the ferry() destination with real processes: a client
logferry tails files and sends with ferry() to a primary logferry server
with a failover server (two logferry servers on loopback addresses, each
writing a file).  The primary is stopped while lines flow: they go to the
failover server; it is started again: after the probes the client switches
back and the lines go to the primary again.  At the end every line is in
one of the two files exactly once.  The same with load-balance(yes), where
connection i fails back to server i."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_ferry import FerryBase, Writer, seqs  # noqa: E402
from test_file_lib import h  # noqa: E402

FAILBACK = "failback(tcp-probe-interval(1) successful-probes-required(2))"
RATE = 2000     # lines a second per tailed file
STEP = 2000     # lines that must reach a server before the test moves on


class FerryFailbackTest(FerryBase):

    def setUp(self):
        super().setUp()
        self.other_out = self.path("other.log")

    def other(self):
        return self.other_server(self.other_out)

    def client_of(self, sources, dest_opts):
        """A client tailing `sources` ({name: path}) with one ferry()
        destination to 127.0.0.1 failing over to 127.0.0.2."""
        conf = "@version: 4.0\noptions { stats-freq(0); };\n"
        for name, path in sources.items():
            conf += f"source {name} {{ file({h.config_string(path)} follow-freq(1)); }};\n"
        conf += (f"destination d_ferry {{ ferry(\"127.0.0.1\" port({self.port}) "
                 f"failover(servers(\"127.0.0.2\") {FAILBACK}) {dest_opts} window(16) batch-messages(64) "
                 f"time-reopen(1)); }};\n")
        conf += "log { " + " ".join(f"source({n});" for n in sources) + " destination(d_ferry); };\n"
        return self.lf("client", conf)

    def away_and_back(self, server, out, away_out, client, tag, restart):
        """Stops `server` (writing `out`) once it stored lines of `tag`;
        waits until they go to the server writing `away_out`; starts it
        again with `restart()` and waits until the client switched back and
        new lines reach `out`.  Returns the restarted server."""
        h.wait_until(lambda: len(seqs(out, tag)) >= STEP, 60, what=f"{tag} lines at the first server",
                     proc=client.proc)
        self.stop_ok(server)
        before = len(seqs(out, tag))
        h.wait_until(lambda: len(seqs(away_out, tag)) >= STEP, 60, what=f"{tag} lines at the failover server",
                     proc=client.proc)
        server = restart()
        h.wait_until(lambda: "switching back to it" in client.stderr_text(), 60, what="the failback report",
                     proc=client.proc)
        h.wait_until(lambda: len(seqs(out, tag)) >= before + STEP, 60,
                     what=lambda: f"{tag} lines at the first server again (have {len(seqs(out, tag)) - before})",
                     proc=client.proc)
        return server

    def stop_writers(self, writers):
        """Ends the writers; returns how many lines each wrote."""
        for w in writers:
            w.total = 0  # the loop ends after the burst it is in
        for w in writers:
            w.join()
        return [w.written for w in writers]

    def assert_once(self, tag, total, home_out, away_out):
        """Every `tag` line once over both files, and the last at its own server."""
        h.wait_until(lambda: len(set(seqs(home_out, tag)) | set(seqs(away_out, tag))) >= total, 90,
                     what=f"every {tag} line at one server or the other")
        got = seqs(home_out, tag) + seqs(away_out, tag)
        self.assertEqual(len(got), total, f"{tag} lines stored: {len(got)} of {total} written (repeated?)")
        self.assertEqual(sorted(got), list(range(total)), f"{tag} lines once")
        self.assertIn(total - 1, seqs(home_out, tag), "the last lines went to their own server again")
        self.assertTrue(seqs(away_out, tag), "lines went to the failover server meanwhile")

    def test_failback_to_primary_under_load(self):
        """failover() with failback(): the primary stopped and started again
        while lines flow; no line lost or repeated by either switch."""
        a = self.server()
        b = self.other()
        client = self.client_of({"s_app": self.input}, "")
        w = Writer(self.input, 10 ** 9, RATE)
        w.start()
        a = self.away_and_back(a, self.out, self.other_out, client, "L", self.server)
        (total,) = self.stop_writers([w])
        self.assert_once("L", total, self.out, self.other_out)
        self.stop_ok(client)
        self.stop_ok(a)
        self.stop_ok(b)
        self.assertIn("primary server 127.0.0.1:", client.stderr)

    def test_load_balance_connection_fails_back_to_its_server(self):
        """load-balance(yes) with failback(): each stream has its own server;
        the second's is stopped (its stream fails over to the first) and
        started again: that stream returns to it.  Every line once."""
        a = self.server()
        b = self.other()
        second = self.path("second.log")
        open(second, "w").close()
        client = self.client_of({"s_app": self.input, "s_second": second}, "load-balance(yes)")
        wl, wm = Writer(self.input, 10 ** 9, RATE), Writer(second, 10 ** 9, RATE, tag="M")
        wl.start()
        wm.start()

        def tags(path):
            return {line[0] for line in h.read_lines(path) if line[:1] in ("L", "M")}

        h.wait_until(lambda: len(tags(self.out)) == 1 and len(tags(self.other_out)) == 1, 60,
                     what="one stream at each server", proc=client.proc)
        on_b = tags(self.other_out).pop()
        self.assertEqual(tags(self.out), {"M" if on_b == "L" else "L"}, "one stream per server")
        b = self.away_and_back(b, self.other_out, self.out, client, on_b, self.other)
        total_l, total_m = self.stop_writers([wl, wm])
        on_a = "M" if on_b == "L" else "L"
        self.assert_once(on_b, total_l if on_b == "L" else total_m, self.other_out, self.out)
        # The other stream never left its server.
        self.assert_once_at(on_a, total_l if on_a == "L" else total_m, self.out)
        self.stop_ok(client)
        self.stop_ok(a)
        self.stop_ok(b)

    def assert_once_at(self, tag, total, out):
        h.wait_until(lambda: len(set(seqs(out, tag))) >= total, 90, what=f"every {tag} line")
        self.assertEqual(sorted(seqs(out, tag)), list(range(total)), f"{tag} lines once")

    def test_check_describes_failback_and_needs_servers(self):
        """`logferry check` shows failback(); failback() without failover
        servers is the error network() gives."""
        conf = self.path("c.conf")

        def check(dest):
            with open(conf, "w") as f:
                f.write("@version: 4.0\nsource s { internal(); };\n"
                        f"destination d {{ {dest} }};\nlog {{ source(s); destination(d); }};\n")
            r = subprocess.run([h.LOGFERRY, "check", "-f", conf], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            return r.returncode, r.stdout.decode(), r.stderr.decode()

        rc, out, err = check(f'ferry("a.example.com" failover(servers("b.example.com") {FAILBACK}));')
        self.assertEqual(rc, 0, err)
        self.assertIn("ferry() a.example.com:5140 failover(b.example.com:5140) failback(probe every 1s, 2 probes)", out)
        rc, out, err = check(f'ferry("a.example.com" failover({FAILBACK}));')
        self.assertNotEqual(rc, 0)
        self.assertIn("error: failover() of ferry() destination needs servers()", err)


if __name__ == "__main__":
    h.main()
