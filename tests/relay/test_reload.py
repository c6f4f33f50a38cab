#!/usr/bin/env python3
"""SIGHUP reloads the config, with real processes: a valid new config runs
after the old one drained (file positions carry over: no line lost or
repeated, a new destination gets only what comes after); a config with
errors is reported with its place and the running one stays; a reliable
disk buffer filled while its server is away survives a reload that changes
its capacity, and drains once the server comes: every line once."""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "client"))
import test_file_lib as fl  # noqa: E402
from test_file_lib import h  # noqa: E402

FILLER = "y" * 50


def lines(start, n):
    return "".join(f"L{i:08d} {FILLER}\n" for i in range(start, start + n))


def seqs(path):
    if not os.path.exists(path):
        return []
    return [int(line[1:9]) for line in h.read_lines(path) if line.startswith("L") and len(line) > 9]


def conf(source, *dests):
    names = " ".join(f"destination(d{i});" for i in range(len(dests)))
    body = "".join(f"destination d{i} {{ {d}; }};\n" for i, d in enumerate(dests))
    return (f"@version: 4.0\noptions {{ stats-freq(0); }};\n"
            f"source s {{ {source}; }};\n{body}"
            f"log {{ source(s); {names} }};\n")


class ReloadTest(h.ServerTest):

    def setUp(self):
        super().setUp()
        self.input = self.path("in.log")
        open(self.input, "w").close()

    def lf(self, name, text):
        lf = fl.FileLogferry(self.dir, self.path(name + "-state"), name)
        self._procs.append(lf)
        return lf.start_conf(text)

    def file_out(self, path):
        return f"file({h.config_string(path)} template(\"${{MESSAGE}}\\n\"))"

    def source(self):
        return f"file({h.config_string(self.input)} follow-freq(1))"

    def write(self, start, n):
        with open(self.input, "a", encoding="ascii") as f:
            f.write(lines(start, n))

    def reload(self, lf, text):
        """Writes the new config and sends SIGHUP; returns once the new
        config started (its "starting up" line)."""
        starts = lf.stderr_text().count("logferry starting up")
        with open(lf.conf_path, "w", encoding="utf-8") as f:
            f.write(text)
        lf.proc.send_signal(signal.SIGHUP)
        h.wait_until(lambda: lf.stderr_text().count("logferry starting up") > starts, 60,
                     lambda: f"the new config to start; stderr:\n{lf.stderr_text()}", proc=lf.proc)

    def test_reload_runs_the_new_config_positions_carry_over(self):
        out1, out2 = self.path("out1.log"), self.path("out2.log")
        lf = self.lf("client", conf(self.source(), self.file_out(out1)))
        self.write(0, 500)
        h.wait_until(lambda: len(seqs(out1)) >= 500, 30, "the first lines", proc=lf.proc)
        self.reload(lf, conf(self.source(), self.file_out(out1), self.file_out(out2)))
        self.write(500, 500)
        h.wait_until(lambda: len(seqs(out1)) >= 1000 and len(seqs(out2)) >= 500, 30, "the lines after the reload",
                     proc=lf.proc)
        self.stop_ok(lf)
        self.assertEqual(seqs(out1), list(range(1000)), "every line once, in order, across the reload")
        self.assertEqual(seqs(out2), list(range(500, 1000)), "the new destination: the lines after the reload")

    def test_reload_with_errors_keeps_the_running_config(self):
        out1 = self.path("out1.log")
        lf = self.lf("client", conf(self.source(), self.file_out(out1)))
        with open(lf.conf_path, "w", encoding="utf-8") as f:
            f.write(conf(self.source(), self.file_out(out1)).replace("destination(d0);", "destination(d_missing);"))
        lf.proc.send_signal(signal.SIGHUP)
        h.wait_until(lambda: "the running config stays" in lf.stderr_text(), 30, "the reload to be refused",
                     proc=lf.proc)
        err = lf.stderr_text()
        self.assertRegex(err, r"\.conf:\d+:\d+: .*d_missing", "the error names its place")
        self.write(0, 300)
        h.wait_until(lambda: len(seqs(out1)) >= 300, 30, "lines still flow", proc=lf.proc)
        self.stop_ok(lf)
        self.assertEqual(seqs(out1), list(range(300)))

    def test_disk_buffer_survives_a_reload_that_resizes_it(self):
        port = h.free_port()
        out = self.path("out.log")
        buf = self.path("buffers")

        def client_conf(capacity):
            return conf(self.source(), f'ferry("127.0.0.1" port({port}) time-reopen(1) '
                                       f'disk-buffer(reliable(yes) capacity-bytes({capacity}) '
                                       f'dir({h.config_string(buf)})))')

        client = self.lf("client", client_conf(4 << 20))
        self.write(0, 2000)
        # In the buffer: the reliable buffer took them, so the file position
        # saved moves past them while the server is still away.
        size = os.path.getsize(self.input)
        ino = fl.dev_ino(self.input)
        state = self.path("client-state")
        h.wait_until(lambda: fl.state_pos(state, ino) == size, 30, "the lines to be buffered", proc=client.proc)
        self.reload(client, client_conf(2 << 20))
        self.write(2000, 1000)
        server = self.lf("server", conf(f'ferry(ip("127.0.0.1") port({port}))', self.file_out(out)))
        h.wait_until(lambda: len(seqs(out)) >= 3000, 60, lambda: f"every line (have {len(seqs(out))})",
                     proc=client.proc)
        self.stop_ok(client)
        self.stop_ok(server)
        got = seqs(out)
        self.assertEqual(sorted(got), list(range(3000)), "every line exactly once")


if __name__ == "__main__":
    h.main()
