#!/usr/bin/env python3
"""util-linux `logger` -> logferry over UDP, TCP (RFC 3164 and 5424), RFC 6587
octet counting, unix-dgram and unix-stream: the exact lines written, into
per-host/per-program files, and the counters."""
import os
import socket
import subprocess
import unittest

import lfharness as h

TEMPLATE = "$HOST|$PROGRAM|$PID|$MSGID|$MSG|$FACILITY|$LEVEL|${.SDATA.x@1.k}\n"
HOSTNAME = socket.gethostname()
# logger writes the short host name in RFC 3164 headers, the full one in RFC 5424.
HOST3164 = HOSTNAME.split(".")[0]


def logger(*args, stdin=None):
    p = subprocess.run(["logger", *args], input=stdin, capture_output=True, timeout=30)
    if p.returncode != 0:
        raise AssertionError(f"logger {args} failed: {p.returncode} {p.stderr!r}")


def file_dest(base, template=TEMPLATE):
    return (f'destination d {{ file({h.config_string(base + "/${HOST}/${PROGRAM}.log")} '
            f'template({h.config_string(template)})); }};\n')


def conf_head():
    return '@version: 4.0\noptions { keep-hostname(yes); create-dirs(yes); stats-freq(0); };\n'


class LoggerTest(h.ServerTest):

    def net_server(self, transports, extra=""):
        """One network() source per transport, all on one port."""
        self.out = self.path("out")

        def conf(ports):
            srcs = "".join(f'  network(ip("127.0.0.1") port({ports[0]}) transport("{t}") {extra});\n'
                           for t in transports)
            return conf_head() + f"source s {{\n{srcs}}};\n" + file_dest(self.out) + \
                "log { source(s); destination(d); };\n"
        return self.logferry(conf, kinds=["+".join(sorted(transports))])

    def files(self):
        return h.files_under(self.out)

    def lines(self, host, program):
        return h.read_lines(os.path.join(self.out, host, program + ".log"))

    def test_udp(self):
        lf = self.net_server(["udp"])
        p = str(lf.port)
        logger("-n", "127.0.0.1", "-P", p, "-d", "--rfc3164", "-t", "udpapp", "--id=101", "-p", "local3.warning",
               "hello over udp")
        logger("-n", "127.0.0.1", "-P", p, "-d", "--rfc5424", "-t", "udp5424", "--id=102", "--msgid", "M1",
               "-p", "mail.err", "--sd-id", "x@1", "--sd-param", 'k="v1"', "grüße 5424")
        self.wait_lines(self.path("out", HOST3164, "udpapp.log"), 1, lf)
        self.wait_lines(self.path("out", HOSTNAME, "udp5424.log"), 1, lf)
        stats = self.stop_ok(lf)
        self.assertEqual(self.lines(HOST3164, "udpapp"),
                         [f"{HOST3164}|udpapp|101||hello over udp|local3|warning|"])
        self.assertEqual(self.lines(HOSTNAME, "udp5424"),
                         [f"{HOSTNAME}|udp5424|102|M1|grüße 5424|mail|err|v1"])
        self.assertEqual(self.files(), sorted([f"{HOST3164}/udpapp.log", f"{HOSTNAME}/udp5424.log"]))
        src = h.source_totals(stats)
        self.assertEqual((src["in"], src["truncated"], src["parse_errors"], src["errors"]), (2, 0, 0, 0), stats)
        self.assertEqual(stats["destination"]["d#0"]["out"], 2, stats)

    def test_tcp_rfc3164(self):
        lf = self.net_server(["tcp"])
        p = str(lf.port)
        logger("-n", "127.0.0.1", "-P", p, "-T", "--rfc3164", "-t", "app1", "--id=4242", "-p", "local3.warning",
               "hello tcp")
        # Several lines from stdin, one message each, into two programs.
        logger("-n", "127.0.0.1", "-P", p, "-T", "--rfc3164", "-t", "app2", "--id=7", "-p", "auth.info",
               stdin=b"first line\nsecond line\nthird: with colon\n")
        logger("-n", "127.0.0.1", "-P", p, "-T", "--rfc3164", "-t", "app1", "-p", "kern.emerg", "no pid")
        self.wait_lines(self.path("out", HOST3164, "app2.log"), 3, lf)
        self.wait_lines(self.path("out", HOST3164, "app1.log"), 2, lf)
        stats = self.stop_ok(lf)
        self.assertEqual(self.files(), [f"{HOST3164}/app1.log", f"{HOST3164}/app2.log"])
        self.assertEqual(self.lines(HOST3164, "app1"), [
            f"{HOST3164}|app1|4242||hello tcp|local3|warning|",
            # logger turns the kern facility into user (only the kernel may log as kern).
            f"{HOST3164}|app1|||no pid|user|emerg|",
        ])
        self.assertEqual(self.lines(HOST3164, "app2"), [
            f"{HOST3164}|app2|7||first line|auth|info|",
            f"{HOST3164}|app2|7||second line|auth|info|",
            f"{HOST3164}|app2|7||third: with colon|auth|info|",
        ])
        src = h.source_totals(stats)
        self.assertEqual((src["in"], src["truncated"], src["parse_errors"]), (5, 0, 0), stats)
        self.assertEqual((stats["destination"]["d#0"]["in"], stats["destination"]["d#0"]["out"]), (5, 5), stats)

    def test_tcp_rfc5424_sdata(self):
        lf = self.net_server(["tcp"])
        p = str(lf.port)
        logger("-n", "127.0.0.1", "-P", p, "-T", "--rfc5424", "-t", "web", "--id=99", "--msgid", "ACCESS",
               "-p", "local7.notice", "--sd-id", "x@1", "--sd-param", 'k="va\\"lue\\]"', "--sd-param", 'other="o"',
               "GET /index.html")
        logger("-n", "127.0.0.1", "-P", p, "-T", "--rfc5424=notq", "-t", "web", "--id=99", "-p", "daemon.debug",
               "no sdata")
        # Another SD element only: the x@1 parameter is empty.
        logger("-n", "127.0.0.1", "-P", p, "-T", "--rfc5424", "-t", "db", "--sd-id", "y@1", "--sd-param", 'k="no"',
               "other sd")
        self.wait_lines(self.path("out", HOSTNAME, "web.log"), 2, lf)
        self.wait_lines(self.path("out", HOSTNAME, "db.log"), 1, lf)
        stats = self.stop_ok(lf)
        self.assertEqual(self.files(), [f"{HOSTNAME}/db.log", f"{HOSTNAME}/web.log"])
        self.assertEqual(self.lines(HOSTNAME, "web"), [
            f'{HOSTNAME}|web|99|ACCESS|GET /index.html|local7|notice|va"lue]',
            f"{HOSTNAME}|web|99||no sdata|daemon|debug|",
        ])
        self.assertEqual(self.lines(HOSTNAME, "db"), [f"{HOSTNAME}|db|||other sd|user|notice|"])
        self.assertEqual(h.source_totals(stats)["parse_errors"], 0, stats)

    def test_tcp_sdata_macro(self):
        """$SDATA renders every element logger sent, in order."""
        self.out = self.path("out")

        def conf(ports):
            return conf_head() + f'source s {{ network(ip("127.0.0.1") port({ports[0]}) transport("tcp")); }};\n' + \
                f'destination d {{ file({h.config_string(self.out + "/all.log")} template("$SDATA|$MSG\\n")); }};\n' + \
                "log { source(s); destination(d); };\n"
        lf = self.logferry(conf)
        logger("-n", "127.0.0.1", "-P", str(lf.port), "-T", "--rfc5424=notq", "-t", "t",
               "--sd-id", "x@1", "--sd-param", 'k="1"', "--sd-param", 'j="2"', "--sd-id", "z@2", "--sd-param", 'a="b"',
               "body")
        self.wait_lines(self.path("out", "all.log"), 1, lf)
        self.stop_ok(lf)
        self.assertEqual(h.read_lines(self.path("out", "all.log")), ['[x@1 k="1" j="2"][z@2 a="b"]|body'])

    def test_octet_counting(self):
        lf = self.net_server(["tcp"])
        p = str(lf.port)
        # Under octet counting a newline is part of the message, not a frame end.
        logger("-n", "127.0.0.1", "-P", p, "-T", "--octet-count", "--rfc5424", "-t", "oc", "--id=5",
               "--sd-id", "x@1", "--sd-param", 'k="oc"', "line1\nline2")
        logger("-n", "127.0.0.1", "-P", p, "-T", "--octet-count", "--rfc5424", "-t", "oc", "--id=6",
               stdin=b"from stdin 1\nfrom stdin 2\n")
        wait_path = self.path("out", HOSTNAME, "oc.log")
        h.wait_until(lambda: (h.read_bytes(wait_path) or b"").count(b"|user|notice|") >= 3, what="3 messages", proc=lf.proc)
        stats = self.stop_ok(lf)
        self.assertEqual(h.read_bytes(wait_path).decode(), "".join([
            f"{HOSTNAME}|oc|5||line1\nline2|user|notice|oc\n",
            f"{HOSTNAME}|oc|6||from stdin 1|user|notice|\n",
            f"{HOSTNAME}|oc|6||from stdin 2|user|notice|\n",
        ]))
        self.assertEqual(self.files(), [f"{HOSTNAME}/oc.log"])
        self.assertEqual(h.source_totals(stats)["in"], 3, stats)

    def test_newline_framing_splits(self):
        """The same multi-line message without octet counting is two messages
        (the control for test_octet_counting)."""
        lf = self.net_server(["tcp"])
        logger("-n", "127.0.0.1", "-P", str(lf.port), "-T", "--rfc3164", "-t", "nl", "--id=5", "line1\nline2")
        h.wait_until(lambda: h.source_totals(lf.snapshot_stats()).get("in", 0) >= 2, what="2 messages", proc=lf.proc)
        stats = self.stop_ok(lf)
        self.assertEqual(self.lines(HOST3164, "nl"), [f"{HOST3164}|nl|5||line1|user|notice|"])
        self.assertEqual(h.source_totals(stats)["in"], 2, stats)

    def test_udp_and_tcp_same_port(self):
        lf = self.net_server(["udp", "tcp"])
        p = str(lf.port)
        logger("-n", "127.0.0.1", "-P", p, "-d", "--rfc3164", "-t", "both", "--id=1", "via udp")
        self.wait_lines(self.path("out", HOST3164, "both.log"), 1, lf)
        logger("-n", "127.0.0.1", "-P", p, "-T", "--rfc3164", "-t", "both", "--id=2", "via tcp")
        self.wait_lines(self.path("out", HOST3164, "both.log"), 2, lf)
        stats = self.stop_ok(lf)
        self.assertEqual(self.lines(HOST3164, "both"), [
            f"{HOST3164}|both|1||via udp|user|notice|",
            f"{HOST3164}|both|2||via tcp|user|notice|",
        ])
        ins = {name.split(" ")[2]: c["in"] for name, c in stats["source"].items()}
        self.assertEqual(ins, {"udp": 1, "tcp": 1}, stats)

    def test_keep_hostname_no(self):
        """keep-hostname(no): HOST is the peer address, not what logger wrote."""
        self.out = self.path("out")

        def conf(ports):
            return '@version: 4.0\noptions { keep-hostname(no); create-dirs(yes); };\n' + \
                f'source s {{ network(ip("127.0.0.1") port({ports[0]}) transport("tcp")); }};\n' + \
                file_dest(self.out, "$HOST|$HOST_FROM|$SOURCEIP|$PROGRAM|$MSG\n") + \
                "log { source(s); destination(d); };\n"
        lf = self.logferry(conf)
        logger("-n", "127.0.0.1", "-P", str(lf.port), "-T", "--rfc5424", "-t", "kh", "peer host")
        self.wait_lines(self.path("out", "127.0.0.1", "kh.log"), 1, lf)
        self.stop_ok(lf)
        self.assertEqual(self.files(), ["127.0.0.1/kh.log"])
        self.assertEqual(self.lines("127.0.0.1", "kh"), ["127.0.0.1|127.0.0.1|127.0.0.1|kh|peer host"])

    def test_unix_sockets(self):
        self.out = self.path("out")
        dgram, stream = self.path("dgram.sock"), self.path("stream.sock")

        def conf(ports):
            return conf_head() + \
                f"source s_dgram {{ unix-dgram({h.config_string(dgram)}); }};\n" + \
                f"source s_stream {{ unix-stream({h.config_string(stream)}); }};\n" + file_dest(self.out) + \
                "log { source(s_dgram); source(s_stream); destination(d); };\n"
        lf = self.logferry(conf, nports=0, unix_paths=(dgram, stream))
        logger("-u", dgram, "-d", "--socket-errors=on", "-t", "dg", "--id=11", "-p", "mail.err", "via dgram")
        logger("-u", dgram, "-d", "--socket-errors=on", "--rfc5424", "-t", "dg", "--id=12", "--msgid", "D5",
               "--sd-id", "x@1", "--sd-param", 'k="dg"', "dgram 5424")
        logger("-u", stream, "-T", "--socket-errors=on", "-t", "st", "--id=21", "-p", "local0.info",
               stdin=b"stream one\nstream two\n")
        logger("-u", stream, "-T", "--socket-errors=on", "--rfc5424", "-t", "st", "--id=22", "--msgid", "S5",
               "--sd-id", "x@1", "--sd-param", 'k="st"', "stream 5424")
        self.wait_lines(self.path("out", HOSTNAME, "dg.log"), 2, lf)
        self.wait_lines(self.path("out", HOSTNAME, "st.log"), 3, lf)
        stats = self.stop_ok(lf)
        self.assertEqual(self.files(), [f"{HOSTNAME}/dg.log", f"{HOSTNAME}/st.log"])
        self.assertEqual(self.lines(HOSTNAME, "dg"), [
            f"{HOSTNAME}|dg|11||via dgram|mail|err|",
            f"{HOSTNAME}|dg|12|D5|dgram 5424|user|notice|dg",
        ])
        self.assertEqual(self.lines(HOSTNAME, "st"), [
            f"{HOSTNAME}|st|21||stream one|local0|info|",
            f"{HOSTNAME}|st|21||stream two|local0|info|",
            f"{HOSTNAME}|st|22|S5|stream 5424|user|notice|st",
        ])
        ins = {name.split("#")[0]: c["in"] for name, c in stats["source"].items()}
        self.assertEqual(ins, {"s_dgram": 2, "s_stream": 3}, stats)
        # The sockets are removed at shutdown.
        self.assertFalse(os.path.exists(dgram) or os.path.exists(stream))


if __name__ == "__main__":
    h.main(requires=["logger"])
