"""What the sql() scripts (test_sql_pgsql.py, test_sql_sqlite.py) share for
ferry() upstream of the database: a client logferry tails in.log and sends
it by ferry() to a server logferry whose ferry() source writes to sql(); the
cases check that every line is stored exactly once (the marks table)."""
import os
import sys
import threading
import time

import lfharness as h

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "client"))
import test_file_lib as fl  # noqa: E402


class SqlFerryCases:
    """A mixin for an h.ServerTest whose class gives sql_ferry_dest() (the
    config of destination d, which stores ${MSG} in column message of table
    messages), stored_count() and stored_messages() (that column, every
    row)."""

    def ferry_pair(self):
        """A server logferry whose ferry() source writes to sql(), and a
        client logferry tailing in.log with ferry() to it.  Returns (server,
        server start function, client, server persist dir)."""
        port = h.free_port()
        self.input = self.path("in.log")
        open(self.input, "w").close()
        server_state = self.path("server-state")
        server_conf = ("@version: 4.0\noptions { stats-freq(0); };\n"
                       f"source s_in {{ ferry(ip(\"127.0.0.1\") port({port})); }};\n" +
                       self.sql_ferry_dest() + "log { source(s_in); destination(d); };\n")
        client_conf = ("@version: 4.0\noptions { stats-freq(0); };\n"
                       f"source s_app {{ file({h.config_string(self.input)} follow-freq(1)); }};\n"
                       f"destination d_ferry {{ ferry(\"127.0.0.1\" port({port}) window(16) batch-messages(200) "
                       "time-reopen(1)); };\n"
                       "log { source(s_app); destination(d_ferry); };\n")

        def start_server():
            lf = fl.FileLogferry(self.dir, server_state, "server")
            self._procs.append(lf)
            lf.start_conf(server_conf)
            h.wait_until(lambda: h.tcp_listening(port), what="the server to listen", proc=lf.proc)
            return lf
        server = start_server()
        client = fl.FileLogferry(self.dir, self.path("client-state"), "client")
        self._procs.append(client)
        client.start_conf(client_conf)
        return server, start_server, client, server_state

    def stop_ferry_pair(self, client, server):
        for lf in (client, server):
            self.stop_ok(lf)
            for bad in ("runtime error:", "AddressSanitizer", "LeakSanitizer"):
                self.assertNotIn(bad, lf.stderr, f"sanitizer report; stderr:\n{lf.stderr[-5000:]}")

    def start_writer(self, total, rate):
        """Appends "line NNNNNN" (0 .. total-1) to in.log, `rate` lines a second."""
        def run():
            with open(self.input, "a") as f:
                start = time.monotonic()
                for first in range(0, total, 100):
                    f.write("".join(f"line {i:06d}\n" for i in range(first, min(first + 100, total))))
                    f.flush()
                    ahead = (first + 100) / rate - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def wait_stored(self, n, lf):
        h.wait_until(lambda: self.stored_count() >= n, what=lambda: f"{n} rows (have {self.stored_count()})",
                     proc=lf.proc, interval=0.05)

    def check_every_line_once(self, total, proc):
        h.wait_until(lambda: len(set(self.stored_messages())) == total,
                     what=lambda: f"{total} distinct rows (have {self.stored_count()})", proc=proc, interval=0.2,
                     timeout=60)
        got = self.stored_messages()
        want = {f"line {i:06d}" for i in range(total)}
        missing = len(want - set(got))
        repeats = len(got) - len(set(got))
        self.assertEqual((missing, repeats), (0, 0), "every line exactly once")

    def receiver_kill9_after_commits_not_journaled(self):
        """The server logferry commits rows but cannot record them in its
        delivery journal (PERSIST-DIR/journal.tmp is made a directory), so
        it acknowledges nothing; it is killed (kill -9) mid-load and
        started again: the client sends those batches again, and the marks
        table, written with the rows, says they are stored."""
        total = 6000
        server, start_server, client, state = self.ferry_pair()
        writer = self.start_writer(total, 3000)
        self.wait_stored(1000, server)
        blocker = h.block_journal(state)
        # The first journal commit that fails holds the marks of batches
        # whose rows are committed: from then on, what is committed is not
        # acknowledged.
        h.wait_until(lambda: "cannot commit the delivery journal" in server.stderr_text(),
                     what="the journal failing", proc=server.proc)
        server.kill9()
        os.rmdir(blocker)
        server = start_server()
        writer.join()
        self.check_every_line_once(total, server.proc)
        self.assertIn("not written again", server.stderr_text())
        self.stop_ferry_pair(client, server)
