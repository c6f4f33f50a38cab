#!/usr/bin/env python3
"""file() destination: files and directories it creates get perm() and
dir-perm() exactly, whatever logferry's umask (as syslog-ng does); files
that exist keep their mode."""
import os
import stat
import unittest

import lfharness as h


class FilePermsTest(h.ServerTest):

    def test_perm_and_dir_perm_despite_umask(self):
        base = self.path("logs")
        os.mkdir(base)
        existing = os.path.join(base, "old.log")
        with open(existing, "w"):
            pass
        os.chmod(existing, 0o600)

        def conf(ports):
            return ("@version: 4.0\noptions { keep-hostname(yes); stats-freq(0); };\n"
                    f'source s {{ network(ip("127.0.0.1") port({ports[0]}) transport("tcp")); }};\n'
                    f'destination d {{ file({h.config_string(base + "/${HOST}/${PROGRAM}/x.log")} template("$MSG\\n") '
                    "create-dirs(yes) dir-perm(0751) perm(0664)); };\n"
                    f'destination d_old {{ file({h.config_string(existing)} template("$MSG\\n") perm(0666)); }};\n'
                    "log { source(s); destination(d); destination(d_old); };\n")
        old_umask = os.umask(0o077)  # inherited by logferry: would give 0700 and 0600
        try:
            lf = self.logferry(conf)
        finally:
            os.umask(old_umask)
        h.tcp_send(lf.port, b"<13>Nov 28 08:00:00 web1 app: one\n")
        out = os.path.join(base, "web1", "app", "x.log")
        self.wait_lines(out, 1, lf)
        self.wait_lines(existing, 1, lf)
        self.stop_ok(lf)
        mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
        self.assertEqual(mode(out), 0o664)
        self.assertEqual(mode(os.path.join(base, "web1")), 0o751)
        self.assertEqual(mode(os.path.join(base, "web1", "app")), 0o751)
        self.assertEqual(mode(existing), 0o600, "an existing file keeps its mode")


if __name__ == "__main__":
    h.main()
