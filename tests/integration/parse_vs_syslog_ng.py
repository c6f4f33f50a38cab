#!/usr/bin/env python3
"""Interop test: logferry's syslog parsing must agree with syslog-ng's.

The same corpus of raw syslog messages is
  * sent over TCP to a private syslog-ng instance (network() sources, one
    with default BSD parsing and one with flags(syslog-protocol)) that writes
    each message through a template into a file, and
  * piped through `logferry parse --template T` with the same template,
and the two outputs are compared line by line, field by field.

Usage:  parse_vs_syslog_ng.py [--syslog-ng PATH] [--keep-tmp] [-v] LOGFERRY_BINARY

Exit status: 0 all fields agree (apart from the explicit known differences
below), 1 a mismatch or a harness failure, 77 syslog-ng is not installed.

Python 3 standard library only.
"""

import argparse
import datetime
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
import lfharness  # noqa: E402  (run_logferry: a sanitizer report fails the run)

SKIP = 77

# The fields compared, in template order.  frac-digits(0) on both sides keeps
# ISODATE free of fractions (logferry's `parse --template` renders with 0
# fraction digits, syslog-ng's default frac-digits() is 0 as well); the
# fraction itself is compared through $USEC, which both print as exactly six
# digits.
FIELDS = ["HOST", "PROGRAM", "PID", "MSGID", "MSG", "FACILITY_NUM", "LEVEL_NUM",
          "ISODATE", "USEC", "SDATA"]
TEMPLATE = "\t".join("$" + f for f in FIELDS)
# Fields that hold the receive time for messages without a timestamp.
RECV_TIME_FIELDS = {"ISODATE", "USEC"}
# How far a receive-time ISODATE may be from the test's own clock.
RECV_TIME_SLACK = datetime.timedelta(minutes=10)

BOM = "\ufeff"
# In an expected_difference: the value is the time of receipt (ISODATE near
# the test run, USEC any six digits), not a fixed string.
RECV = "<receive time>"

_LOWER_T = ("ISO stamp with lower-case 't' and 'z' in a BSD header: logferry accepts it "
            "as a timestamp; syslog-ng 3.38 does not, so it reads no stamp (receive time), "
            "no hostname and takes '2026-11-27t07' as PROGRAM")
_LEAP = ("leap second :60: syslog-ng 3.38 carries it inconsistently (07:39:60 becomes "
         "07:40:00, but 22:59:60 becomes 22:00:00 of the same day and 23:59:60 23:00:00 of the "
         "next day); logferry clamps :60 to :59 of the same minute")


class Case:
    """One corpus entry.

    raw:        the message as sent (str, UTF-8 encoded on the wire; no
                newline, no tab, so that both outputs split cleanly).
    recv_time:  the message carries no timestamp, so both sides stamp it with
                the time of receipt: ISODATE/USEC are then only checked to be
                close to now, not compared with each other.
    expected_difference: {FIELD: (syslog_ng_value, logferry_value, note)} for
                a known parsing difference (either value may be RECV: the
                time of receipt).  The field passes when logferry's value is
                either syslog-ng's (the difference was resolved) or exactly
                the recorded logferry value; any other logferry value fails,
                so a regression in a field with a known difference is still
                caught.  All other fields of the entry are compared as usual.
    """

    def __init__(self, raw, recv_time=False, expected_difference=None):
        assert "\t" not in raw and "\n" not in raw and "\r" not in raw, raw
        self.raw = raw
        self.recv_time = recv_time
        self.expected_difference = expected_difference or {}


# ---------------------------------------------------------------------------
# Corpus.  Stamps avoid December and January so that year guessing (both
# sides: the current year, last year for a December stamp received in
# January, next year for a January stamp received in December) cannot hit the
# turn of the year differently; both use the same rule anyway.

BSD_CORPUS = [
    # RFC 3164 section 5.4 examples.
    Case("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8"),
    Case("<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!"),
    # Linux daemons.
    Case("<38>Nov 27 07:12:03 web01 sshd[21345]: Accepted publickey for deploy from 192.0.2.10 "
         "port 52144 ssh2: ED25519 SHA256:Xk3QbW1yQ9w2mJm0x0m7b8YwqZ2dP1u1pQ3l9y6t0sE"),
    Case("<86>Nov 27 07:12:03 web01 sshd[21345]: pam_unix(sshd:session): session opened for "
         "user deploy(uid=1001) by (uid=0)"),
    Case("<38>Nov 27 07:31:00 bastion sshd(pam_unix)[1234]: authentication failure; logname= "
         "uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9"),
    Case("<78>Nov 27 07:17:01 web01 CRON[22011]: (root) CMD (   cd / && run-parts --report /etc/cron.hourly)"),
    Case("<22>Nov 27 07:20:44 mail01 postfix/smtpd[123]: connect from unknown[198.51.100.7]"),
    Case("<22>Nov 27 07:20:45 mail01 postfix/qmgr[1022]: 4F1A23E0C1: from=<alice@example.org>, "
         "size=1234, nrcpt=1 (queue active)"),
    Case("<22>Nov 27 07:28:00 mail01 postfix/cleanup: 9A1B2C3D4E: message-id=<20261127072800.9A1B@mail01>"),
    Case("<30>Nov 27 07:21:00 web01 systemd[1]: Started Session 42 of user deploy."),
    Case("<30>Nov 27 07:21:00 web01 systemd-logind[655]: New session 42 of user deploy."),
    Case("<4>Nov 27 07:21:03 web01 kernel: [12345.678901] EXT4-fs (sda1): mounted filesystem "
         "with ordered data mode. Opts: (null)"),
    Case("<0>Nov 27 07:21:04 web01 kernel: Kernel panic - not syncing: Fatal exception"),
    Case("<14>Nov 27 07:28:00 desk01 org.gnome.Shell.desktop[2101]: Window manager warning: "
         "Buggy client sent a _NET_ACTIVE_WINDOW message"),
    Case("<29>Nov 27 07:37:00 app02 java[main-thread]: pid that is not a number"),
    Case("<13>Nov  7 07:36:00 host01 app: space padded day"),
    Case("<13>Nov 07 07:36:00 host01 app: zero padded day"),
    Case("<14>Nov 27 07:35:00 host01 app[1]: Größe überschritten — naïve café"),
    Case("<14>Nov 27 07:36:00 host01 app[1]:"),
    Case("<165>Nov 27 07:30:00 host01 app: trailing spaces   "),
    # Cisco IOS: sequence number, '*' unsynchronised / '.' synchronised clock.
    Case("<189>123: *Mar  1 18:46:11.123: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.1)"),
    Case("<187>4567: .Jun  3 09:01:02.456: %LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to down"),
    Case("<189>89: Sep 14 10:51:20: %SYS-5-CONFIG_I: Configured from console by admin on vty0"),
    # Cisco ASA: "Mmm dd yyyy hh:mm:ss:" with and without a device id.
    Case("<166>Nov 27 2026 07:23:45: %ASA-6-302013: Built outbound TCP connection 1234 for "
         "outside:203.0.113.5/443 (203.0.113.5/443) to inside:10.1.1.5/51234 (198.51.100.2/51234)"),
    Case("<166>Nov 27 2026 07:23:46 asa-fw01 : %ASA-6-302014: Teardown TCP connection 1234 for "
         "outside:203.0.113.5/443 to inside:10.1.1.5/51234 duration 0:00:01 bytes 5120 TCP FINs"),
    # Linksys-style "Mmm dd hh:mm:ss yyyy".
    Case("<14>Nov 27 07:32:00 2026 router1 kernel: linksys style stamp"),
    # ISO 8601 stamps in BSD headers.
    Case("<14>2026-11-27T07:24:00.123456+01:00 app01 myapp[77]: offset and microseconds"),
    Case("<14>2026-11-27T07:24:00 app01 myapp[77]: no offset, no fraction"),
    Case("<14>2026-11-27T07:24:00.5Z app01 myapp: one fraction digit, Z"),
    Case("<14>2026-11-27T02:24:00-05:00 app01 myapp: negative offset"),
    Case("<14>2026-11-27T07:24:00.123456789+05:30 app01 myapp: nanoseconds, +05:30"),
    Case("<14>2026-11-27T07:24:00.250 app01 myapp: fraction without offset"),
    Case("<14>Nov 27 07:25:00.250 app01 myapp: BSD stamp with milliseconds"),
    # No hostname in the header.
    Case("<13>Nov 27 07:26:00 myprog[42]: message without hostname"),
    Case("<13>Nov 27 07:26:01 myprog: no hostname, no pid"),
    # IPv6 hostnames.
    Case("<14>Nov 27 07:27:00 2001:db8::1 ntpd[812]: kernel reports TIME_ERROR: 0x41: Clock Unsynchronized"),
    Case("<14>Nov 27 07:27:01 fe80::1ff:fe23:4567:890a dhclient[901]: DHCPREQUEST for 10.0.0.5 on eth0"),
    # Special forms.
    Case("<13>Nov 27 07:33:00 host01 last message repeated 3 times"),
    Case("<13>Nov 27 07:34:00 Message forwarded from aixhost: syslogd: restart"),
    # No PRI.
    Case("Nov 27 07:29:00 host01 app[5]: no PRI, BSD header"),
    Case("just a bare line of text", recv_time=True),
    # No timestamp.
    Case("<13>myprog[123]: stampless with pid", recv_time=True),
    Case("<27>dhcpd: DHCPACK on 10.0.0.7 to 00:11:22:33:44:55 via eth0", recv_time=True),
    Case("<14>", recv_time=True),
    # Header oddities both read the same way.
    Case("<191>Nov 27 07:38:00 host01.example.com app[1]: local7.debug from an FQDN host"),
    Case("<14>Nov 27 07:39:00  host01  app: extra spaces between fields"),
    Case("<14> Nov 27 07:39:02 host01 app: space after PRI"),
    Case("<14>Nov 27 07:39:01 host01 app[77] pid without colon"),
    Case("<14>Nov 27 07:39:08 host01 app[]: empty pid"),
    Case("<14>Nov 27 07:39:10 host01 [12]: no program"),
    Case("<14>Nov 27 07:39:13 host01 app:no space after colon"),
    Case("<14>Nov 27 07:39:11 host01"),
    Case("<14>Nov 27 07:39:14.123456789 host01 app: nine-digit BSD fraction"),
    Case("<14>Nov 27 07:39:17 10.1.2.3:514 app: relay wrote address:port as hostname"),
    # Known differences.
    Case("<14>2026-06-30T23:59:60Z host01 ntpd[812]: leap second in an ISO stamp",
         expected_difference={
             "ISODATE": ("2026-07-01T23:00:00+00:00", "2026-06-30T23:59:59+00:00",
                         _LEAP),
         }),
    Case("<14>2026-11-27t07:39:04z host01 app: lower-case t and z",
         expected_difference={
             "HOST": ("127.0.0.1", "host01", _LOWER_T),
             "PROGRAM": ("2026-11-27t07", "app", _LOWER_T),
             "MSG": ("39:04z host01 app: lower-case t and z", "lower-case t and z", _LOWER_T),
             "ISODATE": (RECV, "2026-11-27T07:39:04+00:00", _LOWER_T),
             "USEC": (RECV, "000000", _LOWER_T),
         }),
]

SYSLOG_PROTOCOL_CORPUS = [
    # RFC 5424 section 6.5 examples.
    Case("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - " + BOM
         + "'su root' failed for lonvick on /dev/pts/8"),
    Case("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - "
         "%% It's time to make the do-nuts."),
    Case("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
         "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] " + BOM
         + "An application event log entry..."),
    Case("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
         "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]"
         "[examplePriority@32473 class=\"high\"]"),
    # Escapes in SD values.
    Case("<14>1 2026-11-27T07:40:00.123456+02:00 app01 billing 99 PAY1 "
         "[meta@32473 q=\"say \\\"hi\\\"\" b=\"back\\\\slash\" r=\"br\\]acket\" o=\"keep \\n\"] escapes"),
    # NILVALUEs everywhere.
    Case("<14>1 - - - - - - all nil", recv_time=True),
    Case("<14>1 2026-11-27T07:41:00Z - - - - -"),
    Case("<15>1 2026-11-27T07:41:01Z - - - - - " + BOM),
    Case("<30>1 2026-11-27T07:43:00.000000+00:00 web01 systemd 1 - - Started Daily apt upgrade "
         "and clean activities."),
    Case("<190>1 2026-11-27T07:44:00.5+05:30 host-in app.with.dots 4242 ID-1 - offset +05:30"),
    Case("<38>1 2026-11-27T07:45:00.999999Z 2001:db8::7 sshd 21345 - - Accepted password for root"),
    Case("<13>1 2026-11-27T07:46:00Z host01 app - - -    leading spaces kept"),
    Case("<13>1 2026-11-27T07:46:01Z host01 app - - - " + BOM + "Größe überschritten"),
    Case("<14>1 2026-11-27T07:47:02.123456789Z host01 app - - - nine-digit fraction"),
    Case("<14>1 2026-11-27T07:47:05Z host01 app - - [a x=\"1\"][b] element without params"),
    Case("<14>1 2026-11-27T07:47:06Z host01 app - - [a x=\"1\"] [b y=\"2\"] second element after a space"),
    # Over-long APP-NAME (48), PROCID (128) and MSGID (32) are cut.
    Case("<14>1 2026-11-27T07:47:00Z host01 " + "a" * 60 + " " + "1" * 129 + " "
         + "MSGID" * 8 + " - over-long columns"),
    # Known differences.
    Case("<14>1 2026-11-27T07:42:00Z host app - - [timeQuality tzKnown=\"1\" isSynced=\"1\"]"
         "[origin ip=\"192.0.2.1\" ip=\"192.0.2.2\" software=\"\"] repeated param name",
         expected_difference={
             "SDATA": ("[timeQuality tzKnown=\"1\" isSynced=\"1\"][origin ip=\"192.0.2.2\" software=\"\"]",
                       "[timeQuality tzKnown=\"1\" isSynced=\"1\"][origin ip=\"192.0.2.1\" ip=\"192.0.2.2\" "
                       "software=\"\"]",
                       "a repeated PARAM-NAME (RFC 5424 7.2.3 allows origin ip= more than once): "
                       "syslog-ng stores SD params as name-value pairs, so the last value wins; "
                       "logferry keeps every param"),
         }),
    Case("<14>1 2026-06-30T23:59:60Z host01 chronyd 612 - - leap second",
         expected_difference={
             "ISODATE": ("2026-07-01T23:00:00+00:00", "2026-06-30T23:59:59+00:00",
                         _LEAP),
         }),
    # SD-IDs longer than RFC 5424's 32 characters: both accept them.
    Case("<14>1 2026-11-27T07:48:00Z host01 app - - [com.example.monitoring.check@32473 "
         "status=\"ok\"] SD-ID longer than 32 characters"),
]


# ---------------------------------------------------------------------------
# syslog-ng side

def _die_with_parent():
    """preexec_fn: have the kernel SIGTERM syslog-ng if this script dies
    without running its cleanup (e.g. killed by a ctest timeout)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # not Linux: the finally block still stops it
        pass


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_string(s):
    """A syslog-ng double-quoted string literal."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t").replace("\n", "\\n") + '"'


def write_config(path, bsd_port, proto_port, bsd_out, proto_out):
    tmpl = config_string(TEMPLATE + "\n")
    conf = f"""@version: 3.38
# Generated by parse_vs_syslog_ng.py.
options {{
  keep-hostname(yes);
  chain-hostnames(no);
  use-dns(no);
  use-fqdn(no);
  dns-cache(no);
  # Stamps without an offset are read as UTC.  (The global time-zone()
  # would instead convert every output stamp to UTC, hiding the offsets.)
  recv-time-zone("UTC");
  frac-digits(0);
  stats-freq(0);
  mark-freq(0);
  log-msg-size(65536);
}};

source s_bsd {{
  network(ip("127.0.0.1") port({bsd_port}) transport("tcp"));
}};
source s_proto {{
  network(ip("127.0.0.1") port({proto_port}) transport("tcp") flags(syslog-protocol));
}};

destination d_bsd {{ file({config_string(bsd_out)} template({tmpl})); }};
destination d_proto {{ file({config_string(proto_out)} template({tmpl})); }};

log {{ source(s_bsd); destination(d_bsd); }};
log {{ source(s_proto); destination(d_proto); }};
"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(conf)


class SyslogNg:
    def __init__(self, binary, workdir):
        self.binary = binary
        self.workdir = workdir
        self.proc = None
        self.log = None
        self.log_path = os.path.join(workdir, "syslog-ng.log")
        self.bsd_out = os.path.join(workdir, "bsd.out")
        self.proto_out = os.path.join(workdir, "proto.out")
        self.conf = os.path.join(workdir, "syslog-ng.conf")

    def start(self, deadline_s=20.0):
        """Starts syslog-ng on two fresh free ports; retries a few times in
        case another process grabs a port between picking and binding."""
        last_error = None
        for _attempt in range(3):
            self.bsd_port, self.proto_port = free_port(), free_port()
            while self.proto_port == self.bsd_port:
                self.proto_port = free_port()
            write_config(self.conf, self.bsd_port, self.proto_port, self.bsd_out, self.proto_out)
            cmd = [self.binary, "-F", "-e", "--no-caps",
                   "-f", self.conf,
                   "-p", os.path.join(self.workdir, "syslog-ng.pid"),
                   "-c", os.path.join(self.workdir, "syslog-ng.ctl"),
                   "-R", os.path.join(self.workdir, "syslog-ng.persist")]
            env = dict(os.environ, TZ="UTC")
            self.log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                         stderr=subprocess.STDOUT, env=env, cwd=self.workdir,
                                         preexec_fn=_die_with_parent)
            try:
                self.bsd_sock = self._connect(self.bsd_port, deadline_s)
                self.proto_sock = self._connect(self.proto_port, deadline_s)
                return
            except RuntimeError as e:
                last_error = e
                self.stop()
        raise RuntimeError(f"syslog-ng did not start: {last_error}")

    def _connect(self, port, deadline_s):
        deadline = time.monotonic() + deadline_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"syslog-ng exited with status {self.proc.returncode}")
            try:
                return socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"port {port} not accepting after {deadline_s}s")
                time.sleep(0.05)

    def send(self, sock, corpus):
        data = b"".join(c.raw.encode("utf-8") + b"\n" for c in corpus)
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        sock.close()

    def wait_lines(self, path, count, deadline_s=30.0):
        deadline = time.monotonic() + deadline_s
        while True:
            lines = read_lines(path)
            if lines is not None and len(lines) >= count:
                return lines
            if self.proc.poll() is not None:
                raise RuntimeError(f"syslog-ng exited with status {self.proc.returncode} "
                                   f"before writing {count} lines to {path}")
            if time.monotonic() > deadline:
                got = 0 if lines is None else len(lines)
                raise RuntimeError(f"only {got} of {count} lines in {path} after {deadline_s}s")
            time.sleep(0.05)

    def stop(self):
        """Stops syslog-ng (SIGTERM, then SIGKILL after 10 s); idempotent."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None

    def output(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


def read_lines(path):
    """Complete (newline-terminated) lines of a file, or None if it is absent."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    if not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
    return [line.decode("utf-8", "replace") for line in data.split(b"\n")[:-1]]


# ---------------------------------------------------------------------------
# logferry side

def run_logferry(binary, corpus, fmt):
    cmd = [binary, "parse", "--template", TEMPLATE, "--framing", "lines",
           "--source-ip", "127.0.0.1", "--time-zone", "UTC"]
    if fmt:
        cmd += ["--format", fmt]
    data = b"".join(c.raw.encode("utf-8") + b"\n" for c in corpus)
    try:
        p = lfharness.run_logferry(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=dict(os.environ, TZ="UTC"), timeout=60)
    except AssertionError as e:
        raise RuntimeError(str(e)) from None
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {p.returncode}: "
                           + p.stderr.decode("utf-8", "replace"))
    return [line.decode("utf-8", "replace") for line in p.stdout.split(b"\n")[:-1]]


# ---------------------------------------------------------------------------
# Comparison

def parse_isodate(s):
    try:
        return datetime.datetime.fromisoformat(s)
    except ValueError:
        return None


def compare(name, corpus, sng_lines, lf_lines, t_start, t_end, verbose):
    """Returns (failures, known) lists of printable strings."""
    failures, known = [], []
    if len(sng_lines) != len(corpus):
        failures.append(f"[{name}] syslog-ng wrote {len(sng_lines)} lines for {len(corpus)} messages")
    if len(lf_lines) != len(corpus):
        failures.append(f"[{name}] logferry wrote {len(lf_lines)} lines for {len(corpus)} messages")
    if failures:
        return failures, known
    lo, hi = t_start - RECV_TIME_SLACK, t_end + RECV_TIME_SLACK

    def is_recv_time(field, v):
        if field == "USEC":
            return len(v) == 6 and v.isdigit()
        d = parse_isodate(v)
        return d is not None and lo <= d <= hi

    def matches(field, expected, v):
        return is_recv_time(field, v) if expected is RECV else v == expected

    def pair(field, s, l):
        pad = " " * len(field)
        return f"    {field}: syslog-ng {s!r}\n    {pad}  logferry  {l!r}"

    for i, (case, s_line, l_line) in enumerate(zip(corpus, sng_lines, lf_lines)):
        label = f"[{name} #{i}] input {case.raw.encode('utf-8')!r}"
        s_vals, l_vals = s_line.split("\t"), l_line.split("\t")
        if len(s_vals) != len(FIELDS) or len(l_vals) != len(FIELDS):
            failures.append(f"{label}\n    bad output line (expected {len(FIELDS)} tab-separated fields)\n"
                            f"    syslog-ng: {s_line!r}\n    logferry:  {l_line!r}")
            continue
        problems, notes = [], []
        for field, s, l in zip(FIELDS, s_vals, l_vals):
            pad = " " * len(field)
            if field in case.expected_difference:
                want_sng, want_lf, note = case.expected_difference[field]
                if l == s:
                    notes.append(f"    {field}: known difference no longer present, both give {s!r}; "
                                 f"drop it from expected_difference")
                elif matches(field, want_lf, l):
                    extra = ""
                    if not matches(field, want_sng, s):
                        extra = f"\n    {pad}  (recorded syslog-ng value: {want_sng!r})"
                    notes.append(pair(field, s, l) + extra)
                else:
                    problems.append(pair(field, s, l) + f"\n    {pad}  known difference, but logferry "
                                    f"should give {want_lf!r} or syslog-ng's value")
            elif case.recv_time and field in RECV_TIME_FIELDS:
                # Both stamp it on receipt: only check that both did.
                for who, v in (("syslog-ng", s), ("logferry", l)):
                    if not is_recv_time(field, v):
                        problems.append(f"    {field}: {who} gave {v!r}, not a receive time near the "
                                        f"test run ({t_start.isoformat()} .. {t_end.isoformat()})")
            elif s != l:
                problems.append(pair(field, s, l))
        if case.expected_difference and not problems:
            why = sorted({n for _, _, n in case.expected_difference.values()})
            known.append(label + "\n" + "\n".join(notes) + "".join(f"\n    why: {w}" for w in why))
        if problems:
            failures.append(label + "\n" + "\n".join(problems))
        elif verbose:
            print(f"ok {label}")
    return failures, known


def find_syslog_ng(explicit):
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    env = os.environ.get("SYSLOG_NG")
    if env:
        return env if os.access(env, os.X_OK) else None
    found = shutil.which("syslog-ng")
    if found:
        return found
    for p in ("/usr/sbin/syslog-ng", "/usr/local/sbin/syslog-ng", "/opt/syslog-ng/sbin/syslog-ng"):
        if os.access(p, os.X_OK):
            return p
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("logferry", help="path to the logferry binary")
    ap.add_argument("--syslog-ng", help="path to syslog-ng (default: $SYSLOG_NG, PATH, /usr/sbin)")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temporary directory")
    ap.add_argument("-v", "--verbose", action="store_true", help="also list the agreeing messages")
    args = ap.parse_args()
    # One stream, in order, whether on a terminal or captured by ctest.
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr = sys.stdout
    # SIGTERM/SIGINT: unwind through the finally block that stops syslog-ng.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))

    sng_bin = find_syslog_ng(args.syslog_ng)
    if sng_bin is None:
        print("SKIP: syslog-ng is not installed", file=sys.stderr)
        return SKIP
    if not os.access(args.logferry, os.X_OK):
        print(f"FAIL: logferry binary {args.logferry!r} is not executable", file=sys.stderr)
        return 1
    version = subprocess.run([sng_bin, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    print(f"syslog-ng: {sng_bin}: {version.stdout.decode('utf-8', 'replace').splitlines()[0:1]}")
    print(f"logferry:  {args.logferry}")
    print(f"template:  {TEMPLATE!r}")

    workdir = tempfile.mkdtemp(prefix="logferry-interop-")
    sng = SyslogNg(sng_bin, workdir)
    try:
        t_start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        sng.start()
        sng.send(sng.bsd_sock, BSD_CORPUS)
        sng.send(sng.proto_sock, SYSLOG_PROTOCOL_CORPUS)
        sng_bsd = sng.wait_lines(sng.bsd_out, len(BSD_CORPUS))
        sng_proto = sng.wait_lines(sng.proto_out, len(SYSLOG_PROTOCOL_CORPUS))
        sng.stop()
        # Anything written after the expected count is a surprise (e.g. one
        # message read as two): re-read once syslog-ng has flushed and exited.
        sng_bsd = read_lines(sng.bsd_out)
        sng_proto = read_lines(sng.proto_out)

        lf_bsd = run_logferry(args.logferry, BSD_CORPUS, None)
        lf_proto = run_logferry(args.logferry, SYSLOG_PROTOCOL_CORPUS, "rfc5424")
        t_end = datetime.datetime.now(datetime.timezone.utc)

        failures, known = [], []
        for name, corpus, s, l in (("bsd", BSD_CORPUS, sng_bsd, lf_bsd),
                                   ("rfc5424", SYSLOG_PROTOCOL_CORPUS, sng_proto, lf_proto)):
            f, k = compare(name, corpus, s, l, t_start, t_end, args.verbose)
            failures += f
            known += k

        total = len(BSD_CORPUS) + len(SYSLOG_PROTOCOL_CORPUS)
        if known:
            print(f"\nKnown differences ({len(known)}, marked expected_difference in the corpus):")
            for k in known:
                print(k)
        if failures:
            print(f"\nMISMATCHES ({len(failures)} of {total} messages):")
            for f in failures:
                print(f)
            print(f"\nFAIL: logferry and syslog-ng disagree on {len(failures)} of {total} messages "
                  f"(--keep-tmp keeps syslog-ng's config and output)")
            return 1
        print(f"\nPASS: {total} messages, all compared fields agree")
        return 0
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print(f"FAIL: harness error: {e}", file=sys.stderr)
        out = sng.output()
        if out:
            print("--- syslog-ng output ---\n" + out, file=sys.stderr)
        return 1
    finally:
        sng.stop()
        if args.keep_tmp:
            print(f"(temporary files kept in {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
