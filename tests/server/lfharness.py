"""Shared helpers for the server integration tests.

Each test runs the real logferry binary (argv[1]) with a config it writes, on
free random loopback ports and in a temporary directory, feeds it with real
clients, and asserts on exact file contents and on the counters logferry
prints to stderr when SIGTERM stops it.

No assertion depends on a fixed sleep: everything that waits polls a
condition until a deadline (and then fails with a description of what was
being waited for).
"""
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

LOGFERRY = None  # set by main()

# Generous deadlines: they bound how long a broken build takes to fail, not
# how long a passing test takes (every wait returns as soon as its condition
# holds).
START_TIMEOUT = 10.0
WAIT_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0


# ---------------------------------------------------------------------------
# Polling

def block_journal(persist_dir):
    """Makes PERSIST-DIR/journal.tmp a directory (once no journal write is in
    progress), so that logferry's delivery journal cannot be committed;
    returns its path: os.rmdir() it to let commits succeed again."""
    blocker = os.path.join(persist_dir, "journal.tmp")

    def block():
        try:
            os.mkdir(blocker)
            return True
        except FileExistsError:  # a journal write in progress
            return False
    wait_until(block, what="journal.tmp made a directory")
    return blocker


def wait_until(pred, timeout=WAIT_TIMEOUT, what="condition", interval=0.01, proc=None):
    """Polls pred() until it returns a truthy value (returned) or the deadline
    passes (AssertionError naming `what`, a string or a function giving one).  With `proc`, also fails at once
    if that logferry process exits."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"logferry exited with status {proc.returncode} while waiting for "
                                 f"{what() if callable(what) else what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what() if callable(what) else what}")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.1)


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def read_lines(path):
    """The complete (newline-terminated) lines of a file as str (bytes that
    are not UTF-8 are kept as surrogate escapes), or [] when it is absent."""
    data = read_bytes(path)
    if not data:
        return []
    end = data.rfind(b"\n")
    if end < 0:
        return []
    return data[:end].decode("utf-8", "surrogateescape").split("\n")


def count_lines(path):
    data = read_bytes(path)
    return 0 if data is None else data.count(b"\n")


def files_under(root):
    """Relative paths of every regular file below root, sorted."""
    out = []
    for d, _dirs, files in os.walk(root):
        for f in files:
            out.append(os.path.relpath(os.path.join(d, f), root))
    return sorted(out)


# ---------------------------------------------------------------------------
# Ports and sockets

def _port_free(port):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port():
    """A loopback port that is free for both TCP and UDP right now."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if _port_free(port):
            return port
    raise RuntimeError("no free port found")


def free_ports(n):
    ports = []
    while len(ports) < n:
        p = free_port()
        if p not in ports:
            ports.append(p)
    return ports


def _proc_net_ports(table, state):
    """Local ports in /proc/net/<table> (tcp, tcp6, udp, udp6) in `state`
    (hex, e.g. '0A' LISTEN; None: any)."""
    ports = set()
    try:
        with open(f"/proc/net/{table}") as f:
            next(f)
            for line in f:
                parts = line.split()
                if state is None or parts[3] == state:
                    ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    except FileNotFoundError:
        pass
    return ports


def tcp_listening(port):
    """True when something listens on TCP `port`.  Read from /proc/net so
    that probing opens no connection (which logferry would count)."""
    return port in _proc_net_ports("tcp", "0A") or port in _proc_net_ports("tcp6", "0A")


def udp_bound(port):
    return port in _proc_net_ports("udp", None) or port in _proc_net_ports("udp6", None)


def port_ready(port, kind):
    """kind: "tcp", "udp" or "tcp+udp" (both on the same port number)."""
    return (("tcp" not in kind or tcp_listening(port)) and ("udp" not in kind or udp_bound(port)))


def is_socket(path):
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def unix_socket_ready(path):
    """True when a unix datagram socket is bound at `path`, or a unix stream
    socket listens there (per /proc/net/unix, so that probing connects
    nothing)."""
    if not is_socket(path):
        return False
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            parts = line.split(None, 7)
            if len(parts) < 8 or parts[7].strip() != path:
                continue
            flags, kind = int(parts[3], 16), int(parts[4], 16)
            if kind != socket.SOCK_STREAM or flags & 0x10000:  # __SO_ACCEPTCON: listening
                return True
    return False


def tcp_connect(port, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def tcp_send(port, data, timeout=10.0):
    """Sends bytes on a fresh TCP connection, then closes it cleanly (FIN)
    and waits until the server closes its side too (so the bytes were read,
    though not necessarily written out yet)."""
    s = tcp_connect(port, timeout)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(timeout)
        try:
            while s.recv(65536):
                pass
        except ConnectionResetError:
            pass
        except socket.timeout:
            raise AssertionError(f"logferry did not close the connection within {timeout}s of the client's EOF")
    finally:
        s.close()


def udp_send(port, data):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(data, ("127.0.0.1", port))


def config_string(s):
    """A config double-quoted string literal."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t").replace("\n", "\\n") + '"'


# ---------------------------------------------------------------------------
# The logferry process

STATS_RE = re.compile(r"^logferry: (source|destination) (.+?) ((?:[a-z_]+=\d+ ?)+)$")


def parse_stats(text):
    """{'source': {name: {counter: n}}, 'destination': {...}} from the
    counter lines logferry prints.  When a component appears several times
    (SIGUSR1 and shutdown), the last line wins."""
    out = {"source": {}, "destination": {}}
    for line in text.splitlines():
        m = STATS_RE.match(line)
        if not m:
            continue
        counters = {k: int(v) for k, v in (kv.split("=") for kv in m.group(3).split())}
        out[m.group(1)][m.group(2)] = counters
    return out


# What a sanitizer writes when it finds something.  Only the stderr tells
# for sure: a test may expect a failing exit status (a config error), not
# see one (a process it killed), or run a build whose sanitizers recover.
SANITIZER_MARKERS = ("runtime error:", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer")


def sanitizer_reports_in(text, label):
    """The sanitizer reports in `text` (what a logferry wrote on stderr,
    named `label` in the excerpts): one excerpt per report found."""
    found = []
    for marker in SANITIZER_MARKERS:
        i = text.find(marker)
        if i >= 0:
            found.append(f"--- {label}:\n{text[max(0, i - 300):i + 4000]}")
    return found


def sanitizer_reports_in_file(path):
    """sanitizer_reports_in() of a file's text (none when it is absent)."""
    return sanitizer_reports_in((read_bytes(path) or b"").decode("utf-8", "replace"), os.path.basename(path))


def run_logferry(args, **kwargs):
    """subprocess.run(args, **kwargs) for a logferry command that runs to
    its end (check, parse, buffer, a run that must fail, ...): stderr is
    captured when the caller does not, and a sanitizer report in it raises
    AssertionError, whatever the exit status (tests expect some commands
    to fail).  Processes that run on in the background go through
    Logferry.open_stderr() or sanitizer_reports_in_file() instead."""
    if not kwargs.get("capture_output") and "stderr" not in kwargs:
        kwargs["stderr"] = subprocess.PIPE
    check = kwargs.pop("check", False)  # after the scan: a report says more than the exit status
    p = subprocess.run(args, **kwargs)
    err = p.stdout if kwargs.get("stderr") == subprocess.STDOUT else p.stderr
    if isinstance(err, bytes):
        err = err.decode("utf-8", "replace")
    reports = sanitizer_reports_in(err or "", " ".join(str(a) for a in args[:3]))
    if reports:
        raise AssertionError("sanitizer report in logferry's stderr:\n" + "\n".join(reports))
    if check:
        p.check_returncode()
    return p

# Every Logferry started since the current test began (ServerTest.tearDown
# kills them and scans their stderr).
_started = []


def _die_with_parent():
    """preexec_fn: the kernel SIGKILLs logferry if the test process dies
    without cleaning up (e.g. a ctest timeout)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Logferry:
    """One `logferry run -f CONF` in the foreground."""

    def __init__(self, workdir, name="lf"):
        self.workdir = workdir
        self.name = name
        self.proc = None
        self.ports = []
        self.conf_path = os.path.join(workdir, name + ".conf")
        self.err_path = os.path.join(workdir, name + ".stderr")
        self.stats = None
        self.returncode = None
        self.stderr = ""
        self.err_paths = []  # every stderr file of every run, for sanitizer_reports()

    def open_stderr(self, path):
        """Opens the stderr file of a new run at `path` (the caller starts
        the process with it); registers this logferry for the sanitizer
        scan at the end of the test."""
        self.err_path = path
        if path not in self.err_paths:
            self.err_paths.append(path)
        if self not in _started:
            _started.append(self)
        self._err = open(path, "wb")
        return self._err

    def sanitizer_reports(self):
        """The sanitizer reports in the stderr of every run of this
        logferry: one excerpt per report found."""
        return [r for path in self.err_paths for r in sanitizer_reports_in_file(path)]

    def start(self, make_conf, nports=1, unix_paths=(), kinds=None, tries=3):
        """Writes make_conf(ports) (ports: nports fresh loopback ports) and
        starts logferry; returns once it listens on every port (kinds[i] says
        how port i is used: "tcp" (the default), "udp" or "tcp+udp") and on
        every unix socket path.  Retries with other ports if logferry exits
        at start (another process may have taken a port)."""
        kinds = list(kinds) if kinds else ["tcp"] * nports
        assert len(kinds) == nports
        last = ""
        for _ in range(tries):
            self.ports = free_ports(nports)
            conf = make_conf(self.ports)
            with open(self.conf_path, "w", encoding="utf-8") as f:
                f.write(conf)
            self.proc = subprocess.Popen([LOGFERRY, "run", "-f", self.conf_path], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=self.open_stderr(self.err_path), cwd=self.workdir,
                                         env=dict(os.environ, TZ="UTC"), preexec_fn=_die_with_parent)
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                if self.proc.poll() is not None:
                    self._err.close()
                    last = read_bytes(self.err_path).decode("utf-8", "replace")
                    reports = sanitizer_reports_in(last, os.path.basename(self.err_path))
                    if reports:  # the next try writes over this stderr
                        raise AssertionError("sanitizer report in logferry's stderr:\n" + "\n".join(reports))
                    break
                if all(port_ready(p, k) for p, k in zip(self.ports, kinds)) and all(unix_socket_ready(p) for p in unix_paths):
                    return self
                if time.monotonic() > deadline:
                    self.kill()
                    raise AssertionError(f"logferry did not start listening within {START_TIMEOUT}s; "
                                         f"stderr:\n{self.stderr_text()}")
                time.sleep(0.01)
            if "cannot listen" not in last and "cannot bind" not in last:
                break
        raise AssertionError(f"logferry failed to start (status {self.proc.returncode}); stderr:\n{last}\n"
                             f"config:\n{conf}")

    @property
    def port(self):
        return self.ports[0]

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr_text(self):
        data = read_bytes(self.err_path)
        return "" if data is None else data.decode("utf-8", "replace")

    def peak_rss_kb(self):
        """VmHWM (peak resident set size) of the running process, in kB."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        raise AssertionError("no VmHWM in /proc/PID/status")

    def open_fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def snapshot_stats(self, dests=("d#0",), timeout=WAIT_TIMEOUT):
        """SIGUSR1, then the counters printed in response (sources are
        printed first; waits for the destination lines named in `dests`)."""
        before = self.stderr_text().count("\n")
        self.proc.send_signal(signal.SIGUSR1)

        def got():
            stats = parse_stats("\n".join(self.stderr_text().split("\n")[before:]))
            return stats if all(d in stats["destination"] for d in dests) else None

        return wait_until(got, timeout, f"counters of {list(dests)} after SIGUSR1", proc=self.proc)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait for exit; returns the parsed final counters.  The
        exit status is kept in .returncode."""
        if self.proc is None:
            return self.stats
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"logferry did not exit within {timeout}s of SIGTERM (hang on shutdown)")
        self.returncode = self.proc.returncode
        self._err.close()
        self.stderr = self.stderr_text()
        self.stats = parse_stats(self.stderr)
        self.proc = None
        return self.stats

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None:
            self.returncode = self.proc.returncode
            self._err.close()
            self.proc = None


def append_numbered_lines(path, start, end):
    """Appends the lines "line 0START" .. "line 0END-1" (5 digits) to path."""
    with open(path, "ab") as f:
        f.write(b"".join(b"line %05d\n" % i for i in range(start, end)))


def wait_sources_in(lf, n):
    """Waits until logferry's sources counted n messages in (SIGUSR1)."""
    wait_until(lambda: source_totals(lf.snapshot_stats())["in"] >= n, what=f"{n} messages received", proc=lf.proc,
               interval=0.1)


def buffer_waiting(buf):
    """Messages waiting in the disk buffers under directory `buf`, as
    `logferry buffer inspect` counts them."""
    r = run_logferry([LOGFERRY, "buffer", "inspect", buf], capture_output=True, text=True, timeout=30)
    return sum(int(line.split()[0]) for line in r.stdout.splitlines()
               if "messages waiting" in line and line.strip().endswith("bytes in segments"))


def source_totals(stats, prefix=""):
    """Sum of every counter over the sources whose name starts with prefix."""
    tot = {}
    for name, c in stats["source"].items():
        if name.startswith(prefix):
            for k, v in c.items():
                tot[k] = tot.get(k, 0) + v
    return tot


# ---------------------------------------------------------------------------
# Test cases

class ServerTest(unittest.TestCase):
    """Gives each test a temp dir, stops every logferry it started and fails
    the test when one of them wrote a sanitizer report (see
    SANITIZER_MARKERS)."""

    maxDiff = None

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="lf-server-")
        self.dir = self._tmp.name
        self._procs = []
        _started.clear()

    def tearDown(self):
        try:
            started = self._procs + [lf for lf in _started if lf not in self._procs]
            for lf in started:
                lf.kill()
            reports = [r for lf in started for r in lf.sanitizer_reports()]
            if reports:
                self.fail("sanitizer report in logferry's stderr:\n" + "\n".join(reports))
        finally:
            _started.clear()
            self._tmp.cleanup()

    def logferry(self, make_conf, nports=1, unix_paths=(), kinds=None, name="lf"):
        lf = Logferry(self.dir, name)
        self._procs.append(lf)
        return lf.start(make_conf, nports, unix_paths, kinds)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def stop_ok(self, lf):
        """Stops logferry and asserts a clean exit with counters printed."""
        stats = lf.stop()
        self.assertEqual(lf.returncode, 0, f"exit status; stderr:\n{lf.stderr}")
        self.assertTrue(stats["source"] and stats["destination"], f"no counters printed; stderr:\n{lf.stderr}")
        return stats

    def tcp_server(self, dest, flow_control=False, options="", name="lf"):
        """A logferry whose network() TCP source s feeds `dest` (the config
        of destination d), on a flags(flow-control) path when asked."""
        def conf(ports):
            return (f"@version: 4.0\noptions {{ keep-hostname(yes); stats-freq(0); {options} }};\n"
                    f'source s {{ network(ip("127.0.0.1") port({ports[0]}) transport("tcp")); }};\n' + dest +
                    "log { source(s); destination(d); " + ("flags(flow-control); " if flow_control else "") + "};\n")
        return self.logferry(conf, name=name)

    def disk_buffer_across_kill(self, dest, buf, n, down, up, stored, timeout=WAIT_TIMEOUT):
        """The scenario of disk-buffer(reliable(yes) dir(buf)) in `dest`:
        down() makes the database (or broker) refuse; n lines sent over TCP
        wait in the buffer; logferry is killed (SIGKILL) and started again;
        the buffer still holds all n; up() brings the database back; every
        line is delivered (stored(): how many are stored) and the buffer
        drains.  Returns (the messages sent, in order; the final counters)."""
        sent = [f"line {i:05d}" for i in range(n)]
        down()
        try:
            lf = self.tcp_server(dest, name="lf1")
            tcp_send(lf.port, b"".join(b"<13>1 2026-01-01T00:00:00Z h app - - - %s\n" % m.encode() for m in sent))
            wait_until(lambda: buffer_waiting(buf) >= n, timeout,
                       lambda: f"{n} lines in the disk buffer (have {buffer_waiting(buf)})", proc=lf.proc, interval=0.1)
            lf.kill()
            lf = self.tcp_server(dest, name="lf2")
            self.assertEqual(buffer_waiting(buf), n, "the buffer kept every line across the kill")
        finally:
            up()
        wait_until(lambda: stored() >= n, timeout, lambda: f"{n} lines stored (have {stored()})", proc=lf.proc,
                   interval=0.1)
        wait_until(lambda: buffer_waiting(buf) == 0, timeout,
                   lambda: f"the buffer to drain (has {buffer_waiting(buf)})", proc=lf.proc, interval=0.1)
        return sent, self.stop_ok(lf)

    def check_config(self, body):
        """`logferry check` of "@version: 4.0" + body: (exit status, stderr + stdout)."""
        path = self.path("bad.conf")
        with open(path, "w") as f:
            f.write("@version: 4.0\n" + body)
        p = run_logferry([LOGFERRY, "check", "-f", path], capture_output=True, text=True, timeout=30)
        return p.returncode, p.stderr + p.stdout

    def assert_config_errors(self, cases):
        """Each (body, text) of `cases` fails `logferry check` with one
        error holding `text`, followed by its hint."""
        for body, want in cases:
            rc, err = self.check_config(body)
            self.assertNotEqual(rc, 0, body)
            self.assertIn(want, err, body)
            errors = [line for line in err.splitlines() if ": error: " in line]
            self.assertEqual(len(errors), 1, err)
            lines = err.splitlines()
            self.assertTrue(lines[lines.index(errors[0]) + 1].startswith("  hint: "), err)

    def wait_lines(self, path, n, lf=None, timeout=WAIT_TIMEOUT):
        """Waits until `path` holds at least n complete lines; returns them."""
        wait_until(lambda: count_lines(path) >= n, timeout,
                   lambda: f"{n} lines in {os.path.relpath(path, self.dir)} (have {count_lines(path)})",
                   proc=lf.proc if lf else None)
        return read_lines(path)


class SteadySender:
    """A steady load over one TCP connection, from a thread: lines
    "<13>1 2026-01-01T00:00:00Z h p - - - row NNNNNN", 500 at a time with a
    short pause between (a steady load, not a threshold), until finish() or
    `cap` rows.  `sent` is how many rows were sent so far."""

    def __init__(self, port, cap):
        self.port = port
        self.cap = cap
        self.sent = 0
        self._stop = threading.Event()
        self._done = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        s = tcp_connect(self.port, timeout=120)
        i = 0
        while not self._stop.is_set() and i < self.cap:
            s.sendall(b"".join(b"<13>1 2026-01-01T00:00:00Z h p - - - row %06d\n" % k for k in range(i, i + 500)))
            i += 500
            self.sent = i
            time.sleep(0.02)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
        s.close()
        self._done.set()

    def finish(self, timeout=60):
        """Stops sending; True once the connection was closed by both ends."""
        self._stop.set()
        return self._done.wait(timeout)


KNOWN_BUG = "test_known_bug_"


def _take_shard(args):
    """Removes "--shard I/N" from args; returns (I, N), (1, 1) without it."""
    if "--shard" not in args:
        return 1, 1
    k = args.index("--shard")
    try:
        i, n = (int(x) for x in args[k + 1].split("/"))
    except (IndexError, ValueError):
        sys.exit("--shard takes I/N, e.g. --shard 2/3")
    if not 1 <= i <= n:
        sys.exit(f"--shard {i}/{n}: I must be from 1 to N")
    del args[k:k + 2]
    return i, n


class _TimedResult(unittest.TextTestResult):
    """Prints how long each test took, after its verdict (to find the
    slow ones: ctest shows only the script's total)."""

    def startTest(self, test):
        self._started_at = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        if self.showAll:
            self.stream.writeln(f"    ({time.monotonic() - self._started_at:.1f} s)")
        super().stopTest(test)


def main(requires=()):
    """usage: SCRIPT LOGFERRY [--known-bugs] [--shard I/N] [unittest args]

    `requires`: client programs the tests run; when one is missing the
    script exits 77 (ctest reports it as skipped).

    Tests named test_known_bug_* reproduce bugs logferry has today: they are
    left out of the default run (which must pass) and run alone, expected to
    fail until the bug is fixed, with --known-bugs.

    --shard I/N runs the I-th of N parts of the tests: every N-th test in the
    loader's order (class, then name), starting at the I-th.  CMake registers
    a long script as N ctest entries (logferry_sharded_test) so that ctest -j
    runs its parts side by side; together they run every test once."""
    global LOGFERRY
    if len(sys.argv) < 2:
        sys.exit(f"usage: {sys.argv[0]} LOGFERRY_BINARY [--known-bugs] [--shard I/N] [unittest args]")
    LOGFERRY = os.path.abspath(sys.argv[1])
    if not os.access(LOGFERRY, os.X_OK):
        sys.exit(f"{LOGFERRY} is not executable")
    import shutil
    for prog in requires:
        if not shutil.which(prog) and not os.access(f"/usr/bin/{prog}", os.X_OK):
            print(f"SKIP: {prog} is not installed")
            sys.exit(77)
    args = sys.argv[2:]
    known_bugs = "--known-bugs" in args
    args = [a for a in args if a != "--known-bugs"]
    shard, shards = _take_shard(args)
    sys.stdout.reconfigure(line_buffering=True)
    main_module = sys.modules["__main__"]
    if args:  # explicit test names or unittest options
        unittest.main(module=main_module, argv=[sys.argv[0]] + args,
                      testRunner=unittest.TextTestRunner(verbosity=2, resultclass=_TimedResult, stream=sys.stdout))
        return
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    selected = [t for t in _iter_tests(loader.loadTestsFromModule(main_module))
                if t._testMethodName.startswith(KNOWN_BUG) == known_bugs]
    for test in selected[shard - 1::shards]:
        suite.addTest(test)
    if known_bugs:
        print(f"Running {suite.countTestCases()} known-bug tests; each FAILS while its bug is present.")
    if shards > 1:
        print(f"shard {shard}/{shards}: {suite.countTestCases()} of {len(selected)} tests")
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout, resultclass=_TimedResult).run(suite)
    if suite.countTestCases() == 0:
        print("no tests selected")
    sys.exit(0 if result.wasSuccessful() else 1)


def main_with_server(missing, user, destroy):
    """main() for a script that runs a server of its own (a database): exits
    77 (skipped) when `missing` says what is not installed, or when running as
    root without `user` to run the server as; calls destroy() at the end."""
    import pwd
    if missing:
        print(f"SKIP: {missing}")
        sys.exit(77)
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(user)
        except KeyError:
            print(f"SKIP: running as root and there is no {user} user to run the server as")
            sys.exit(77)
    try:
        main()
    finally:
        destroy()


def _iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from _iter_tests(t)
        else:
            yield t
