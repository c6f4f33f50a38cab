"""Shared harness of the forwarding interop tests (Python 3 standard library).

A real syslog daemon (syslog-ng or rsyslog, "the peer") runs on loopback with
its own config and state files in a temporary directory.  The test feeds it a
corpus of RFC 5424 messages over TCP; the peer forwards each message over TCP
to logferry in some wire format (a "path": RFC 3164 lines or RFC 5424 with
octet counting) and, with the same template, to a capture listener in this
process that records the exact bytes it sent.  logferry writes every message
it receives through a template that prints the fields one by one; the test
then checks, field by field, that logferry's values are what the peer sent:
the corpus entry, transformed only where that wire format cannot carry a
field (RFC 3164 has no MSGID or structured data, ...) or where the peer
documentedly rewrites it (each peer's `expected()` says which).

Every path must arrive completely: exactly one record per message, in order,
no loss, no duplicate (checked again after both daemons were stopped, so a
late duplicate is caught), and logferry's shutdown counters must agree.
"""

import datetime
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
import lfharness  # noqa: E402  (its sanitizer-report scan)

SKIP = 77

# Deadlines bound how long a broken run takes to fail; a passing run returns
# as soon as each condition holds.
START_TIMEOUT = 15.0
DELIVERY_TIMEOUT = 25.0
STOP_TIMEOUT = 10.0

FIELDS = ["HOST", "PROGRAM", "PID", "MSGID", "MSG", "FACILITY_NUM", "LEVEL_NUM", "ISODATE", "SDATA"]
# Every record logferry writes ends with this, so that a value holding a
# stray newline shows as such instead of splitting the record.
RECORD_END = "\t|\n"
LF_TEMPLATE = "\t".join("${" + f + "}" for f in FIELDS) + RECORD_END

BOM = "\ufeff"
LOOPBACK = "127.0.0.1"


# ---------------------------------------------------------------------------
# Processes, ports, polling

def die_with_parent():
    """preexec_fn: the kernel sends SIGTERM to the child when this script
    dies without cleaning up (e.g. killed by a ctest timeout)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _port_free(port):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_ports(n):
    """n distinct loopback ports that are free right now."""
    ports = []
    while len(ports) < n:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOOPBACK, 0))
            port = s.getsockname()[1]
        if port not in ports and _port_free(port):
            ports.append(port)
    return ports


def listening_ports():
    """TCP ports in LISTEN state, read from /proc/net so that probing opens
    no connection (which the daemons would log and logferry would count)."""
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/net/{table}") as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A":
                        ports.add(int(parts[1].rsplit(":", 1)[1], 16))
        except FileNotFoundError:
            pass
    return ports


def wait_until(pred, timeout, what, procs=()):
    """Polls pred() until truthy (returned) or the deadline (RuntimeError
    naming `what`).  Fails at once when one of `procs` (name, Popen) exits."""
    deadline = time.monotonic() + timeout
    interval = 0.01
    while True:
        v = pred()
        if v:
            return v
        for name, p in procs:
            if p is not None and p.poll() is not None:
                raise RuntimeError(f"{name} exited with status {p.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.1)


def config_string(s):
    """A double-quoted string literal for syslog-ng / logferry configs."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t").replace("\n", "\\n") + '"'


class Daemon:
    """A foreground daemon whose stdout and stderr go to a log file."""

    def __init__(self, name, cmd, log_path, env=None, cwd=None):
        self.name = name
        self.cmd = cmd
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                     preexec_fn=die_with_parent)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; returns the exit status
        (None when already stopped).  Idempotent."""
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                    rc = "killed after SIGTERM timed out"
            if rc is None:
                rc = self.proc.returncode
            self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None
        return rc

    def output(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


# ---------------------------------------------------------------------------
# The corpus

def sd_escape(v):
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def sd_text(sd):
    """RFC 5424 STRUCTURED-DATA text of [(SD-ID, [(name, value), ...]), ...]
    ('' for none)."""
    return "".join("[" + sdid + "".join(f' {n}="{sd_escape(v)}"' for n, v in params) + "]"
                   for sdid, params in sd)


class Case:
    """One message, as the fields of the RFC 5424 line fed to the peer.

    host/app/procid/msgid: '' is the NILVALUE.
    offset: the stamp's UTC offset in minutes, or 'Z'.
    frac:   the stamp's fraction digits as written ('' for none).
    sd:     [(SD-ID, [(PARAM-NAME, value), ...]), ...], values unescaped.
    bom:    MSG is written with a leading UTF-8 BOM.
    only:   the paths this case is sent on (None: all): path names
            ("rfc5424": that path of every peer, "rfc5424*": every path
            whose name starts so) or "peer/path" ("syslog-ng/*"); see
            sends_on().
    The stamp itself (`instant`, whole seconds, UTC) is set by assign_stamps().
    """

    def __init__(self, fac, sev, host, app, procid, msgid, sd, msg, offset="Z", frac="",
                 bom=False, only=None, note="", day=None):
        # Tabs separate logferry's fields; a LF only on octet-counted paths.
        assert "\t" not in msg and "\r" not in msg, msg
        self.fac, self.sev = fac, sev
        self.host, self.app, self.procid, self.msgid = host, app, procid, msgid
        self.sd, self.msg = sd, msg
        self.offset, self.frac, self.bom = offset, frac, bom
        self.only = set(only) if only else None
        self.note = note
        self.day = day  # a fixed day of the current month (UTC), else None
        self.instant = None

    @property
    def pri(self):
        return self.fac * 8 + self.sev

    def offset_minutes(self):
        return 0 if self.offset == "Z" else self.offset

    def local_time(self):
        return self.instant + datetime.timedelta(minutes=self.offset_minutes())

    @staticmethod
    def offset_text(minutes):
        sign = "+" if minutes >= 0 else "-"
        minutes = abs(minutes)
        return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"

    def stamp(self):
        """The TIMESTAMP as written in the input."""
        s = self.local_time().strftime("%Y-%m-%dT%H:%M:%S")
        if self.frac:
            s += "." + self.frac
        return s + ("Z" if self.offset == "Z" else self.offset_text(self.offset))

    def isodate(self, digits=6):
        """The stamp as logferry renders ISODATE with frac-digits(digits),
        in the stamp's own offset (the fraction cut, not rounded)."""
        s = self.local_time().strftime("%Y-%m-%dT%H:%M:%S")
        if digits:
            s += "." + (self.frac + "0" * digits)[:digits]
        return s + self.offset_text(self.offset_minutes())

    def isodate_utc_seconds(self, digits=6):
        """The stamp converted to UTC, whole seconds (what an RFC 3164 stamp
        written in UTC without a fraction carries)."""
        s = self.instant.strftime("%Y-%m-%dT%H:%M:%S")
        if digits:
            s += "." + "0" * digits
        return s + "+00:00"

    def line(self):
        """The RFC 5424 message fed to the peer (no newline)."""
        head = (f"<{self.pri}>1 {self.stamp()} {self.host or '-'} {self.app or '-'} "
                f"{self.procid or '-'} {self.msgid or '-'} {sd_text(self.sd) or '-'}")
        body = (BOM if self.bom else "") + self.msg
        return head + (" " + body if body else "")

    def sends_on(self, peer_name, path_name):
        """`only` entries: "PATH" (that path of every peer), "PREFIX*"
        (every path whose name starts so), "PEER/PATH", "PEER/PREFIX*"."""
        if self.only is None:
            return True
        for o in self.only:
            peer, _, path = o.rpartition("/")
            if peer and peer != peer_name:
                continue
            if path == path_name or (path.endswith("*") and path_name.startswith(path[:-1])):
                return True
        return False


def assign_stamps(corpus, now=None):
    """Gives each case its own whole second in the 40 minutes before now,
    so that a stamp without a year (RFC 3164) is read in the right year, and
    every message's instant is distinct."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    base = now.replace(microsecond=0) - datetime.timedelta(minutes=40)
    step = min(37, 40 * 60 // (len(corpus) + 2))
    for i, c in enumerate(corpus):
        c.instant = base + datetime.timedelta(seconds=step * i + 1)
        if c.day is not None:
            # Same month as now, so the year of a stamp without one is
            # this year under every year rule.
            c.instant = c.instant.replace(day=c.day, hour=12)


LONG_TEXT = ("lorem ipsum dolor sit amet, consectetur adipiscing elit; " * 70).strip()  # ~4 KB

# Facilities 0..23 and severities 0..7 are spread over the corpus.
CORPUS = [
    Case(1, 5, "web01", "sshd", "21345", "", [],
         "Accepted publickey for deploy from 192.0.2.10 port 52144 ssh2: ED25519 SHA256:Xk3QbW1y"),
    Case(4, 6, "bastion", "sshd", "1234", "AUTH", [],
         "pam_unix(sshd:session): session opened for user root(uid=0) by (uid=0)", offset=60,
         frac="250"),
    Case(2, 6, "mail01", "postfix/smtpd", "123", "", [],
         "connect from unknown[198.51.100.7]", frac="123456"),
    Case(3, 5, "web01", "systemd", "1", "", [], "Started Session 42 of user deploy.",
         offset=-300),
    Case(0, 0, "web01", "kernel", "", "", [], "Kernel panic - not syncing: Fatal exception"),
    Case(23, 7, "host01.example.com", "app", "7", "DBG", [], "local7.debug from an FQDN host",
         offset=330, frac="5"),
    Case(16, 3, "db01", "postgres", "4242", "ERR01",
         [("origin", [("ip", "192.0.2.1"), ("software", "postgres"), ("swVersion", "15.4")])],
         "connection refused", frac="000001"),
    Case(9, 6, "web01", "CRON", "22011", "", [],
         "(root) CMD (   cd / && run-parts --report /etc/cron.hourly)", offset=-480),
    Case(5, 4, "app01", "evntslog", "", "ID47",
         [("exampleSDID@32473", [("iut", "3"), ("eventSource", "Application"), ("eventID", "1011")])],
         "An application event log entry...", bom=True, frac="003"),
    Case(17, 2, "app01", "billing", "99", "PAY1",
         [("meta@32473", [("q", 'say "hi"'), ("b", "back\\slash"), ("r", "br]acket"),
                          ("all", '\\"]')])],
         "SD values with escaped quote, backslash and bracket", offset=120, frac="654321"),
    Case(18, 1, "geo01", "geoip", "5", "",
         [("geo@32473", [("city", "Zürich"), ("note", "naïve café"), ("jp", "東京")])],
         "UTF-8 in SD values", bom=True),
    Case(19, 6, "app02", "worker", "12", "BATCH",
         [("a@32473", [("x", "1")]), ("b@32473", [("y", "2"), ("z", "")])],
         "two SD elements, an empty value", frac="999999"),
    Case(20, 5, "app02", "worker", "13", "", [("flag@32473", [])], "SD element without params"),
    Case(21, 6, "desk01", "org.gnome.Shell.desktop", "2101", "", [],
         "Größe überschritten — naïve café — Грузия — 日本語 — 🎉", bom=True, offset=540),
    Case(1, 6, "desk01", "gedit", "3101", "", [], "UTF-8 without BOM: Größe, Ωμέγα, 日本語, 🎉"),
    Case(10, 5, "app03", "java", "main-thread", "", [], "pid that is not a number"),
    Case(11, 6, "ftp01", "vsftpd", "", "", [], "no pid, no msgid", offset=-600),
    Case(12, 7, "ntp01", "ntpd", "812", "", [], "", note="empty MSG"),
    Case(13, 4, "app04", "app", "1", "", [], "   three leading spaces", note="leading spaces"),
    Case(14, 3, "app04", "app", "2", "", [], "trailing spaces   "),
    Case(15, 2, "2001:db8::7", "ntpd", "813", "", [], "IPv6 address as HOSTNAME"),
    Case(6, 1, "printer", "lpd", "515", "", [], "long message: " + LONG_TEXT),
    Case(7, 0, "news01", "innd", "119", "", [], "offset +05:45 and a 3-digit fraction",
         offset=345, frac="007"),
    Case(8, 5, "uucp01", "uucico", "540", "", [], "offset -08:00 without fraction",
         offset=-480),
    Case(22, 6, "app05", "app", "3", "", [], 'chars [brackets] key="value" a:b C:\\path %s %% $HOST',
         frac="100000"),
    Case(16, 6, "app05", "app", "4", "M" * 32, [], "32-character MSGID"),
    Case(3, 6, "app06", "a-b_c.d", "5", "ID-1", [("x@1", [("k", "v")])], "dashes in APP-NAME",
         offset=-90),
    Case(1, 6, "", "anon", "6", "", [], "NIL HOSTNAME"),
    Case(2, 5, "mail02", "postfix/qmgr", "1022", "", [], "[brackets] at the start of MSG, no SD"),
    Case(3, 6, "app10", "app", "10", "", [], "", bom=True, note="MSG is only a BOM"),
    Case(4, 6, "app10", "app", "11", "", [], "offset +14:00", offset=840, frac="42"),
    Case(5, 6, "app10", "app", "12", "", [], "offset -12:00", offset=-720),
    Case(6, 6, "app10", "app", "13", "", [], "day 5 of this month: space-padded in RFC 3164",
         day=5, offset=-60),
    Case(7, 6, "app10", "A" * 48, "14", "", [], "48-character APP-NAME, RFC 5424's longest",
         only={"syslog-ng/*", "rsyslog/rfc5424*"},
         note="rsyslog cuts its RFC 3164 TAG at 32 characters"),
    Case(8, 6, "app10", "app", "15", "",
         [("kv@32473", [("eq", "a=b c"), ("sp", "  spaces  "), ("empty", "")])],
         "SD values with '=', spaces and nothing"),
    # RFC 3164 cannot say "no program": these go on the RFC 5424 paths only.
    Case(1, 6, "nilhost", "", "", "", [], "NIL APP-NAME and PROCID", only={"rfc5424*"}),
    Case(1, 5, "", "", "", "", [], "every header field NIL", only={"rfc5424*"}),
    # Multi-line messages: octet counting carries them (a line-framed path
    # cannot), so only the octet-counted paths get them.
    Case(19, 3, "app09", "java", "4711", "EXC", [],
         "java.lang.IllegalStateException: boom\n    at com.example.Foo.bar(Foo.java:42)\n"
         "    at com.example.Main.main(Main.java:7)", only={"rfc5424"}, note="multi-line"),
    Case(1, 6, "app09", "app", "4712", "", [], "ends with an empty line\n\nand goes on",
         only={"rfc5424"}, note="multi-line with an empty line"),
    Case(4, 5, "app07", "app", "7", "", [("origin", [("ip", "192.0.2.1"), ("ip", "192.0.2.2")])],
         "a repeated PARAM-NAME", only={"rsyslog/rfc5424*"}),
    Case(1, 6, "app08", "app", "8", "", [], "nine fraction digits", frac="123456789",
         only={"syslog-ng/*"},
         note="rsyslog 8.2302 cannot forward a 9-digit fraction: it sends '.\\xb789Z'"),
]

# After the varied corpus, each path carries BULK simple messages, to check
# that a larger volume also arrives exactly once and in order.
BULK = 3000


def bulk_cases(n, instant):
    out = []
    for i in range(n):
        c = Case(i % 24, i % 8, "bulk01", "loadgen", str(i), "",
                 [("seq@32473", [("n", str(i))])], f"bulk message {i:05d} " + "x" * (i % 300),
                 frac=f"{(i * 7919) % 1000000:06d}", note=f"bulk {i}")
        c.instant = instant
        out.append(c)
    return out


# ---------------------------------------------------------------------------
# Capture listener: records exactly what the peer sent

class Capture:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = []  # bytearray per accepted connection
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            buf = bytearray()
            with self.lock:
                self.conns.append(buf)
            threading.Thread(target=self._read, args=(c, buf), daemon=True).start()

    def _read(self, c, buf):
        with c:
            while True:
                try:
                    d = c.recv(65536)
                except OSError:
                    return
                if not d:
                    return
                with self.lock:
                    buf.extend(d)

    def data(self):
        with self.lock:
            return [bytes(b) for b in self.conns]

    def stop(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass


def split_lines(chunks):
    out = []
    for data in chunks:
        out += [l for l in data.split(b"\n")[:-1]] if data.endswith(b"\n") else data.split(b"\n")
    return [l for l in out if l]


def split_octet_counted(chunks):
    """Frames of RFC 6587 octet counting; a frame that cannot be read ends
    the chunk (the rest is returned as one bad frame)."""
    out = []
    for data in chunks:
        i = 0
        while i < len(data):
            while i < len(data) and data[i:i + 1] in (b"\n", b"\r", b" "):
                i += 1
            m = re.match(rb"([1-9][0-9]{0,9}) ", data[i:i + 12])
            if not m:
                if i < len(data):
                    out.append(data[i:])
                break
            n = int(m.group(1))
            start = i + len(m.group(0))
            out.append(data[start:start + n])
            i = start + n
    return out


# ---------------------------------------------------------------------------
# logferry

STATS_RE = re.compile(r"^logferry: (source|destination) (\S+?)#\d+.*? ((?:[a-z_]+=\d+ ?)+)$")


def parse_stats(text):
    out = {"source": {}, "destination": {}}
    for line in text.splitlines():
        m = STATS_RE.match(line)
        if m:
            counters = dict((k, int(v)) for k, v in (kv.split("=") for kv in m.group(3).split()))
            out[m.group(1)][m.group(2)] = counters
    return out


class Logferry:
    """logferry with one TCP source and one file destination per path."""

    def __init__(self, binary, workdir, paths):
        self.binary = binary
        self.workdir = workdir
        self.paths = paths
        self.daemon = None
        self.conf = os.path.join(workdir, "logferry.conf")
        self.out = {p.name: os.path.join(workdir, f"logferry-{p.name}.out") for p in paths}
        self.log_path = os.path.join(workdir, "logferry.log")  # every start's output, appended

    def sanitizer_reports(self):
        """Sanitizer reports in the output of every start (its stderr)."""
        return lfharness.sanitizer_reports_in_file(self.log_path)

    def _write_config(self, ports):
        lines = [
            "@version: 4.0",
            "# Generated by the interop tests.",
            "options {",
            "  keep-hostname(yes);",
            '  recv-time-zone("UTC");',
            "  stats-freq(0);",
            "};",
            f"template t_fields {{ template({config_string(LF_TEMPLATE)}); }};",
        ]
        for p in self.paths:
            n = p.name.replace("-", "_")
            lines.append(f"source s_{n} {{ {p.lf_driver}(ip(\"{LOOPBACK}\") port({ports[p.name]}) "
                         f"transport(\"tcp\")); }};")
            lines.append(f"destination d_{n} {{ file({config_string(self.out[p.name])} "
                         f"template(t_fields) frac-digits(6)); }};")
            lines.append(f"log {{ source(s_{n}); destination(d_{n}); flags(flow-control); }};")
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        last = None
        for _attempt in range(3):
            ports = dict(zip((p.name for p in self.paths), free_ports(len(self.paths))))
            self._write_config(ports)
            persist = os.path.join(self.workdir, "logferry-persist")
            os.makedirs(persist, exist_ok=True)
            self.daemon = Daemon("logferry", [self.binary, "run", "-f", self.conf, "--persist-dir", persist],
                                 self.log_path,
                                 env=dict(os.environ, TZ="UTC"), cwd=self.workdir)
            try:
                wait_until(lambda: set(ports.values()) <= listening_ports(), START_TIMEOUT,
                           f"logferry to listen on {sorted(ports.values())}",
                           procs=[("logferry", self.daemon.proc)])
                self.ports = ports
                return
            except RuntimeError as e:
                last = e
                self.daemon.stop()
        raise RuntimeError(f"logferry did not start: {last}\n--- logferry output ---\n{self.daemon.output()}")

    def stop(self):
        return self.daemon.stop() if self.daemon else None

    def output(self):
        return self.daemon.output() if self.daemon else ""


def read_records(path):
    """logferry's records: lists of FIELDS values (or the raw text of a
    record that does not have len(FIELDS) fields)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    end = RECORD_END.encode()
    parts = data.split(end)
    recs = parts[:-1]  # the last part is what follows the last complete record
    out = []
    for r in recs:
        s = r.decode("utf-8", "surrogateescape")
        v = s.split("\t")
        out.append(v if len(v) == len(FIELDS) else s)
    return out


def count_records(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(RECORD_END.encode())
    except FileNotFoundError:
        return 0


# ---------------------------------------------------------------------------
# The run

class Path:
    """One forwarding path of a peer.

    name:       short name (cases' `only` refer to it)
    title:      what is tested, for the report
    lf_driver:  the logferry source driver receiving it ("network" or "syslog")
    framing:    "lines" or "octet-counted": how the capture splits the wire
    expected:   function(Case) -> {FIELD: value} (what logferry must write)
    input_framing: how the test sends the corpus to the peer's input
    """

    def __init__(self, name, title, lf_driver, framing, expected, input_framing="lines"):
        self.name, self.title, self.lf_driver = name, title, lf_driver
        self.framing, self.expected = framing, expected
        self.input_framing = input_framing
        self.corpus = None


def send_corpus(port, corpus, framing):
    if framing == "lines":
        assert not any("\n" in c.msg for c in corpus), "a multi-line message on a line-framed input"
        data = b"".join(c.line().encode("utf-8") + b"\n" for c in corpus)
    else:
        frames = [c.line().encode("utf-8") for c in corpus]
        data = b"".join(b"%d %s" % (len(f), f) for f in frames)
    with socket.create_connection((LOOPBACK, port), timeout=10) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(10)
        try:
            while s.recv(65536):
                pass
        except (OSError, socket.timeout):
            pass


MAX_REPORTED = 25


def compare_path(peer_name, path, records, frames, verbose):
    """Returns a list of failure texts."""
    corpus = path.corpus
    failures = []
    n = len(corpus)
    tag = f"[{peer_name} {path.name}]"
    if len(frames) != n:
        failures.append(f"{tag} the capture listener got {len(frames)} frames for {n} messages: "
                        f"{peer_name} itself did not send every message once (not logferry's fault)")
    if len(records) != n:
        failures.append(f"{tag} logferry wrote {len(records)} records for {n} messages "
                        f"(loss or duplicates)")
        # Which messages are missing or repeated, by the message text.
        want = {}
        for i, c in enumerate(corpus):
            want.setdefault(path.expected(c)["MSG"], []).append(i)
        seen = {}
        for r in records:
            if isinstance(r, list):
                seen[r[FIELDS.index("MSG")]] = seen.get(r[FIELDS.index("MSG")], 0) + 1
        listed = 0
        for msg, idx in want.items():
            if seen.get(msg, 0) != len(idx):
                listed += 1
                if listed <= MAX_REPORTED:
                    failures.append(f"    #{idx[:5]}: MSG {msg[:60]!r} written {seen.get(msg, 0)} "
                                    f"times, expected {len(idx)}")
        for msg in seen:
            if msg not in want:
                listed += 1
                if listed <= MAX_REPORTED:
                    failures.append(f"    MSG {msg[:60]!r} written {seen[msg]} times, not sent")
        if listed > MAX_REPORTED:
            failures.append(f"    ... and {listed - MAX_REPORTED} more")
        return failures
    shown = 0
    for i, (case, rec) in enumerate(zip(corpus, records)):
        if shown >= MAX_REPORTED:
            failures.append(f"{tag} (stopped comparing after {MAX_REPORTED} mismatching messages)")
            break
        exp = path.expected(case)
        wire = frames[i] if i < len(frames) else b"<not captured>"
        head = (f"{tag} #{i}{' (' + case.note + ')' if case.note else ''}\n"
                f"    input:    {case.line().encode('utf-8')!r}\n"
                f"    wire:     {wire!r}")
        if not isinstance(rec, list):
            shown += 1
            failures.append(head + f"\n    logferry wrote a record without {len(FIELDS)} fields: {rec!r}")
            continue
        problems = []
        for field, actual in zip(FIELDS, rec):
            if exp[field] != actual:
                problems.append(f"    {field}: expected {exp[field]!r}\n"
                                f"    {' ' * len(field)}  logferry {actual!r}")
        if problems:
            shown += 1
            failures.append(head + "\n" + "\n".join(problems))
        elif verbose and not case.note.startswith("bulk"):
            print(f"ok {tag} #{i} {case.line()[:100]!r}")
    return failures


def run(peer, logferry_binary, keep_tmp=False, verbose=False):
    """Runs every path of `peer` (an object with .name, .paths,
    .start(workdir, lf_ports, cap_ports) -> {path: input port}, .stop(),
    .output()).  Returns the exit status."""
    if not os.access(logferry_binary, os.X_OK):
        print(f"FAIL: logferry binary {logferry_binary!r} is not executable")
        return 1
    logferry_binary = os.path.abspath(logferry_binary)
    workdir = tempfile.mkdtemp(prefix=f"logferry-interop-{peer.name}-")
    lf = Logferry(logferry_binary, workdir, peer.paths)
    caps = {}
    t0 = time.monotonic()
    try:
        assign_stamps(CORPUS)
        bulk = bulk_cases(BULK, CORPUS[-1].instant + datetime.timedelta(seconds=1))
        for p in peer.paths:
            p.corpus = [c for c in CORPUS if c.sends_on(peer.name, p.name)] + bulk
        lf.start()
        for p in peer.paths:
            caps[p.name] = Capture()
        in_ports = peer.start(workdir, lf.ports, {n: c.port for n, c in caps.items()})
        for p in peer.paths:
            send_corpus(in_ports[p.name], p.corpus, p.input_framing)

        def complete():
            return all(count_records(lf.out[p.name]) >= len(p.corpus) for p in peer.paths)
        try:
            wait_until(complete, DELIVERY_TIMEOUT, "logferry to write every message",
                       procs=[("logferry", lf.daemon.proc), (peer.name, peer.proc())])
        except RuntimeError as e:
            print(f"FAIL: {e}")
            for p in peer.paths:
                print(f"  {p.name}: logferry wrote {count_records(lf.out[p.name])} of "
                      f"{len(p.corpus)}")
            # Fall through: stop everything and report what did arrive.
        # Stop the peer first (it flushes), then logferry (it drains), then
        # read everything: a duplicate written late is counted too.
        peer_rc = peer.stop()
        lf_rc = lf.stop()
        for c in caps.values():
            c.stop()
        failures = [f"sanitizer report:\n{r}" for r in lf.sanitizer_reports()]
        if lf_rc != 0:
            failures.append(f"logferry exited with {lf_rc} on SIGTERM (expected 0)")
        stats = parse_stats(lf.output())
        total = 0
        for p in peer.paths:
            total += len(p.corpus)
            chunks = caps[p.name].data()
            frames = split_lines(chunks) if p.framing == "lines" else split_octet_counted(chunks)
            records = read_records(lf.out[p.name])
            failures += compare_path(peer.name, p, records, frames, verbose)
            n = p.name.replace("-", "_")
            src = stats["source"].get(f"s_{n}")
            if src is None:
                failures.append(f"[{peer.name} {p.name}] no counters for source s_{n} in logferry's output")
            else:
                if src.get("in") != len(p.corpus):
                    failures.append(f"[{peer.name} {p.name}] logferry counted in={src.get('in')} on "
                                    f"s_{n}, expected {len(p.corpus)}")
                for k in ("parse_errors", "truncated", "errors", "dropped_queue_full"):
                    if src.get(k, 0):
                        failures.append(f"[{peer.name} {p.name}] logferry counted {k}={src[k]} on s_{n}")
        elapsed = time.monotonic() - t0
        print(f"{peer.name}: stopped with status {peer_rc}; logferry: {lf_rc}; {elapsed:.1f}s")
        for p in peer.paths:
            print(f"  path {p.name}: {p.title}: {len(p.corpus) - BULK} varied + {BULK} bulk messages")
        if failures:
            print(f"\nMISMATCHES ({len(failures)}):")
            for f in failures:
                print(f)
            print(f"\nFAIL: {len(failures)} problems in {total} messages forwarded by {peer.name} "
                  f"(--keep-tmp keeps the configs, outputs and logs)")
            print("--- logferry output ---\n" + lf.output()[-3000:])
            print(f"--- {peer.name} output ---\n" + peer.output()[-3000:])
            return 1
        print(f"\nPASS: {total} messages forwarded by {peer.name}, every field as sent, "
              f"no loss, no duplicates")
        return 0
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print(f"FAIL: harness error: {e}")
        print("--- logferry output ---\n" + lf.output()[-3000:])
        print(f"--- {peer.name} output ---\n" + peer.output()[-3000:])
        return 1
    finally:
        peer.stop()
        lf.stop()
        for c in caps.values():
            c.stop()
        if keep_tmp:
            print(f"(temporary files kept in {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def setup_output():
    """One ordered stream on a terminal or under ctest; SIGTERM/SIGINT
    unwind through the cleanup that stops the daemons."""
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr = sys.stdout
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
