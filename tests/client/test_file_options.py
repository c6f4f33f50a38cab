"""file() / wildcard-file() options: multi-line modes through a real tailed
file, overrides and default priority, FILE_NAME, format() parsing,
exclude-pattern() and recursive().  Exact output lines; every wait polls."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
import lfharness as h  # noqa: E402


class FileOptionsTest(h.ServerTest):
    def run_conf(self, source, template="${MESSAGE}\\n", options=""):
        out = self.path("out.txt")
        state = self.path("state")
        conf = (f"@version: 4.0\noptions {{ stats-freq(0); persist-dir({h.config_string(state)}); {options} }};\n"
                f"source s {{ {source} }};\n"
                f"destination d {{ file({h.config_string(out)} template(\"{template}\")); }};\n"
                f"log {{ source(s); destination(d); }};\n")
        lf = self.logferry(lambda ports: conf, nports=0)
        return lf, out

    def write(self, path, text, mode="a"):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, mode, encoding="utf-8") as f:
            f.write(text)

    def test_multi_line_indented(self):
        log = self.path("logs", "app.log")
        self.write(log, "Traceback first\n  at one\n  at two\nnext message\n\tcontinued\nlast\n")
        lf, out = self.run_conf(f'file({h.config_string(log)} multi-line-mode(indented) multi-line-timeout(1));',
                                template="[${MESSAGE}]\\n")
        # "last" waits for a possible continuation: the timeout flushes it.
        # (wait_lines counts newlines, the ones inside messages included)
        self.wait_lines(out, 6, lf)
        self.stop_ok(lf)
        self.assertEqual(h.read_bytes(out).decode(),
                         "[Traceback first\n  at one\n  at two]\n[next message\n\tcontinued]\n[last]\n")

    def test_multi_line_prefix_garbage(self):
        log = self.path("logs", "java.log")
        self.write(log, "2026-11-28 ERROR boom\njava.lang.X\n  at Y END\nignored tail\n2026-11-28 INFO ok\n")
        lf, out = self.run_conf(
            f'file({h.config_string(log)} multi-line-mode(prefix-garbage) multi-line-prefix("^[0-9]{{4}}-") '
            f'multi-line-garbage(" END$") multi-line-timeout(1));', template="[${MESSAGE}]\\n")
        self.wait_lines(out, 5, lf)
        self.stop_ok(lf)
        # The garbage match ends the message (and is dropped); the line after
        # it starts a message of its own, as in syslog-ng.
        self.assertEqual(h.read_bytes(out).decode(),
                         "[2026-11-28 ERROR boom\njava.lang.X\n  at Y]\n[ignored tail]\n[2026-11-28 INFO ok]\n")

    def test_multi_line_position_not_past_pending(self):
        # A pending multi-line message is not sent at SIGTERM and its lines are
        # not behind the saved position: the next run sends it whole.
        log = self.path("logs", "app.log")
        self.write(log, "one\n  cont\n")
        src = f'file({h.config_string(log)} multi-line-mode(indented) multi-line-timeout(0));'
        lf, out = self.run_conf(src, template="[${MESSAGE}]\\n")
        self.write(log, "two\n")  # ends "one"; "two" stays pending (no timeout)
        self.wait_lines(out, 2, lf)
        self.stop_ok(lf)
        self.assertEqual(h.read_bytes(out).decode(), "[one\n  cont]\n")
        self.write(log, "  more of two\nthree\n")
        lf2, _ = self.run_conf(src, template="[${MESSAGE}]\\n")
        self.wait_lines(out, 4, lf2)
        self.stop_ok(lf2)
        self.assertEqual(h.read_bytes(out).decode(), "[one\n  cont]\n[two\n  more of two]\n")

    def test_overrides_priority_and_file_name(self):
        log = self.path("logs", "svc.log")
        self.write(log, "plain line\n")
        lf, out = self.run_conf(
            f'file({h.config_string(log)} program-override("svc") host-override("box1") '
            f'default-facility(local3) default-priority(warning));',
            template="${HOST} ${PROGRAM} ${FACILITY}.${LEVEL} ${FILE_NAME} ${MESSAGE}\\n")
        self.wait_lines(out, 1, lf)
        self.stop_ok(lf)
        self.assertEqual(h.read_lines(out), [f"box1 svc local3.warning {log} plain line"])

    def test_default_is_no_parse_and_format_parses(self):
        raw = self.path("logs", "raw.log")
        sl = self.path("logs2", "messages")
        line = "<30>Nov 28 10:00:00 web1 nginx[42]: GET /"
        self.write(raw, line + "\n")
        self.write(sl, line + "\n")
        lf, out = self.run_conf(f'file({h.config_string(raw)}); file({h.config_string(sl)} format("rfc3164"));',
                                template="${PROGRAM}|${PID}|${MESSAGE}\\n")
        self.wait_lines(out, 2, lf)
        self.stop_ok(lf)
        self.assertEqual(sorted(h.read_lines(out)), sorted([f"||{line}", "nginx|42|GET /"]))

    def test_exclude_and_recursive(self):
        base = self.path("tree")
        self.write(os.path.join(base, "a.log"), "top\n")
        self.write(os.path.join(base, "skip.tmp.log"), "excluded\n")
        self.write(os.path.join(base, "sub", "b.log"), "nested\n")
        self.write(os.path.join(base, "sub", "c.txt"), "not matching\n")
        lf, out = self.run_conf(f'wildcard-file(base-dir({h.config_string(base)}) filename-pattern("*.log") '
                                f'exclude-pattern("*.tmp.*") recursive(yes));')
        self.wait_lines(out, 2, lf)
        # A new subdirectory and file after the start are picked up.
        self.write(os.path.join(base, "new", "d.log"), "late\n")
        self.wait_lines(out, 3, lf)
        self.stop_ok(lf)
        self.assertEqual(sorted(h.read_lines(out)), ["late", "nested", "top"])


if __name__ == "__main__":
    h.main()
