"""Shared helpers of the file() / wildcard-file() source tests
(test_file_rotation.py, test_file_restart.py, test_file_scale.py); not a
test script itself.

The tests run the real logferry binary on a config they write, tailing files
in a temporary directory that the tests write, rotate, truncate and delete,
and delivering every line to a file() destination with
template("${MESSAGE}\\n").  Every line the tests write is unique:

    TAG:GEN:SEQ:filler

TAG names the logical log (one writer), GEN the physical file the line went
to (it changes when the writer reopens after a rotation, or when a
copytruncate empties the file), SEQ counts the writer's lines from 0.  The
checks are exact: every line written arrives exactly once, and the lines of
each physical file arrive in the order they were written.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
import lfharness as h  # noqa: E402

STATE_FILE = "logferry.state"


def conf_text(sources, out, options="", extra_dest="", log_extra=""):
    """A config with the source statements `sources` (the text inside
    `source s { ... };`) delivering to the file `out`."""
    return (f"@version: 4.0\noptions {{ stats-freq(0); {options} }};\n"
            f"source s {{ {sources} }};\n"
            f"destination d {{ file({h.config_string(out)} template(\"${{MESSAGE}}\\n\")); }};\n"
            f"{extra_dest}"
            f"log {{ source(s); destination(d); {log_extra}}};\n")


def wildcard(base_dir, pattern, opts=""):
    return f"wildcard-file(base-dir({h.config_string(base_dir)}) filename-pattern({h.config_string(pattern)}) {opts});"


def file_src(path, opts=""):
    return f"file({h.config_string(path)} {opts});"


class FileLogferry(h.Logferry):
    """`logferry run -f CONF --persist-dir DIR`; started() once it logged
    that it is up (its sources have scanned their files by then)."""

    def __init__(self, workdir, persist_dir, name="lf"):
        super().__init__(workdir, name)
        self.persist_dir = persist_dir
        self.runs = 0

    def start_conf(self, conf, extra_args=()):
        with open(self.conf_path, "w", encoding="utf-8") as f:
            f.write(conf)
        self.runs += 1
        err = self.open_stderr(os.path.join(self.workdir, f"{self.name}.{self.runs}.stderr"))
        args = [h.LOGFERRY, "run", "-f", self.conf_path]
        if self.persist_dir is not None:
            args += ["--persist-dir", self.persist_dir]
        self.proc = subprocess.Popen(args + list(extra_args), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=err, cwd=self.workdir, env=dict(os.environ, TZ="UTC"),
                                     preexec_fn=h._die_with_parent)
        h.wait_until(lambda: "logferry starting up" in self.stderr_text(), h.START_TIMEOUT,
                     lambda: f"logferry to start; stderr:\n{self.stderr_text()}", proc=self.proc)
        return self

    def kill9(self):
        """SIGKILL: no shutdown, no last state save."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.returncode = self.proc.returncode
        self._err.close()
        self.stderr = self.stderr_text()
        self.proc = None

    def fds_to(self, path_prefix):
        """Paths (readlink) of the process's open fds that start with `path_prefix`."""
        out = []
        d = f"/proc/{self.proc.pid}/fd"
        for fd in os.listdir(d):
            try:
                target = os.readlink(os.path.join(d, fd))
            except OSError:
                continue
            if target.startswith(path_prefix):
                out.append(target)
        return out

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")


def read_state(persist_dir):
    """The state file's entries as a list of dicts, [] when there is none."""
    try:
        with open(os.path.join(persist_dir, STATE_FILE), "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    return json.loads(data)["files"]


def state_pos(persist_dir, dev_ino):
    """The saved position of the file (dev, ino), or None."""
    for e in read_state(persist_dir):
        if (e["dev"], e["ino"]) == dev_ino:
            return e["pos"]
    return None


def dev_ino(path):
    st = os.stat(path)
    return (st.st_dev, st.st_ino)


# ---------------------------------------------------------------------------
# Writing lines

def line(tag, gen, seq, width=80):
    head = f"{tag}:{gen}:{seq:07d}:"
    return head + "x" * max(0, width - len(head))


class Ledger:
    """What was written: for each tag, the (gen, seq) of each line in order."""

    def __init__(self):
        self.lines = {}  # tag -> list of gen, indexed by seq
        self.mu = threading.Lock()

    def add(self, tag, gen, seq):
        with self.mu:
            lst = self.lines.setdefault(tag, [])
            assert seq == len(lst), (tag, seq, len(lst))
            lst.append(gen)

    def total(self):
        with self.mu:
            return sum(len(v) for v in self.lines.values())


def append_lines(path, tag, gen, first, n, ledger, width=80):
    """Appends lines first..first+n-1 of (tag, gen) to path in one write."""
    data = "".join(line(tag, gen, s, width) + "\n" for s in range(first, first + n)).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)
    for s in range(first, first + n):
        ledger.add(tag, gen, s)
    return first + n


def write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class Writer(threading.Thread):
    """An application appending to `path` (O_APPEND, like a logger) in small
    bursts until stopped.  Rotators hold `lock` while they copy and truncate
    (no line is written in between, as if the copy were instant), and call
    reopen() to make it close its fd and open the path again (SIGHUP after a
    rename), or new_gen() when the file it writes was emptied."""

    def __init__(self, path, tag, ledger, burst=20, interval=0.002, width=80):
        super().__init__(daemon=True)
        self.path, self.tag, self.ledger = path, tag, ledger
        self.burst, self.interval, self.width = burst, interval, width
        self.lock = threading.Lock()
        self.gen = 0
        self.seq = 0
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._quit = threading.Event()
        self._reopen = False
        self.error = None

    def run(self):
        try:
            while not self._quit.is_set():
                with self.lock:
                    if self._reopen:
                        os.close(self.fd)
                        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                        self.gen += 1
                        self._reopen = False
                    data = "".join(line(self.tag, self.gen, s, self.width) + "\n"
                                   for s in range(self.seq, self.seq + self.burst)).encode()
                    write_all(self.fd, data)
                    for s in range(self.seq, self.seq + self.burst):
                        self.ledger.add(self.tag, self.gen, s)
                    self.seq += self.burst
                time.sleep(self.interval)
        except Exception as e:  # reported by stop()
            self.error = e

    def reopen(self):
        with self.lock:
            self._reopen = True

    def new_gen(self):
        """Under self.lock: the file was emptied; later lines are another file's."""
        self.gen += 1

    def stop(self):
        self._quit.set()
        self.join()
        os.close(self.fd)
        if self.error:
            raise self.error


# ---------------------------------------------------------------------------
# Checking what arrived

def parse_out(path, torn=None, width=None):
    """(tag, gen, seq) of every complete line in path; other lines as
    ('?', line, -1).  With `torn` (a list) and `width`: a line longer than
    width is the start of a line a killed process did not finish writing,
    then a whole line; the whole line is kept and the torn start appended
    to `torn`."""
    out = []
    for ln in h.read_lines(path):
        if torn is not None and len(ln) > width:
            torn.append(ln[:-width])
            ln = ln[-width:]
        parts = ln.split(":", 3)
        if len(parts) == 4 and parts[2].isdigit():
            out.append((parts[0], parts[1], int(parts[2])))
        else:
            out.append(("?", ln[:120], -1))
    return out


def check_exact(test, got, ledger, context=""):
    """Asserts that `got` (parse_out) holds every line in `ledger` exactly
    once and nothing else, and that the lines of each (tag, gen) are in
    order."""
    problems = []
    strays = [g for g in got if g[0] == "?"]
    if strays:
        problems.append(f"{len(strays)} lines that were never written, e.g. {strays[:3]}")
    seen = {}
    last = {}
    disorder = []
    wrong_gen = []
    for tag, gen, seq in got:
        if tag == "?":
            continue
        seen.setdefault(tag, {})
        seen[tag][seq] = seen[tag].get(seq, 0) + 1
        gens = ledger.lines.get(tag)
        if gens is None or seq >= len(gens):
            wrong_gen.append((tag, gen, seq, "never written"))
        elif str(gens[seq]) != gen:
            wrong_gen.append((tag, gen, seq, f"written to gen {gens[seq]}"))
        key = (tag, gen)
        if key in last and seq <= last[key]:
            disorder.append((tag, gen, last[key], seq))
        last[key] = max(seq, last.get(key, -1))
    if wrong_gen:
        problems.append(f"{len(wrong_gen)} lines not as written, e.g. {wrong_gen[:3]}")
    if disorder:
        problems.append(f"{len(disorder)} lines out of order within their file (tag, gen, after, got): {disorder[:5]}")
    for tag, gens in sorted(ledger.lines.items()):
        counts = seen.get(tag, {})
        missing = [s for s in range(len(gens)) if s not in counts]
        dups = [s for s, c in counts.items() if c > 1]
        if missing:
            problems.append(f"{tag}: {len(missing)} of {len(gens)} lines lost: {summarize(missing)}")
        if dups:
            problems.append(f"{tag}: {len(dups)} lines arrived more than once: {summarize(sorted(dups))}")
    for tag in seen:
        if tag not in ledger.lines:
            problems.append(f"lines of a tag never written: {tag}")
    if problems:
        test.fail((context + ": " if context else "") + "; ".join(problems))


def summarize(nums, limit=8):
    """[1,2,3,7,9,10] -> '1-3, 7, 9-10'."""
    ranges = []
    for n in nums:
        if ranges and n == ranges[-1][1] + 1:
            ranges[-1][1] = n
        else:
            ranges.append([n, n])
    parts = [f"{a}-{b}" if a != b else f"{a}" for a, b in ranges[:limit]]
    return ", ".join(parts) + (f", ... ({len(ranges)} ranges)" if len(ranges) > limit else "")


def wait_complete(path, ledger, timeout=h.WAIT_TIMEOUT, width=None):
    """Waits until every line in the ledger is in path (repeats allowed:
    for destinations that may get some twice; with `width`, torn lines are
    repaired as parse_out() does)."""
    total = ledger.total()
    state = {"n": 0}

    def done():
        got = parse_out(path, [], width) if width else parse_out(path)
        distinct = {(tag, seq) for tag, _gen, seq in got if tag != "?"}
        state["n"] = len(distinct)
        return len(distinct) >= total
    h.wait_until(done, timeout, lambda: f"all {total} lines in {os.path.basename(path)} (have {state['n']})")


class FileTest(h.ServerTest):
    """A temp dir with logs/ (the files followed), state/ (--persist-dir)
    and out.log (the destination)."""

    def setUp(self):
        super().setUp()
        self.logs = self.path("logs")
        self.state = self.path("state")
        os.mkdir(self.logs)
        self.out = self.path("out.log")
        self.ledger = Ledger()

    def lf(self, conf, extra_args=(), persist_dir="default", name="lf"):
        lf = FileLogferry(self.dir, self.state if persist_dir == "default" else persist_dir, name)
        self._procs.append(lf)
        return lf.start_conf(conf, extra_args)

    def log(self, name):
        return os.path.join(self.logs, name)

    def wait_all(self, lf, n=None, timeout=h.WAIT_TIMEOUT, path=None):
        """Waits until the destination holds at least n lines (default:
        every line in the ledger)."""
        path = path or self.out
        n = self.ledger.total() if n is None else n
        h.wait_until(lambda: h.count_lines(path) >= n, timeout,
                     lambda: f"{n} lines in {os.path.basename(path)} (have {h.count_lines(path)}); "
                             f"stderr:\n{lf.stderr_text()[-3000:]}",
                     proc=lf.proc)

    def stop_and_check(self, lf, context=""):
        """SIGTERM; asserts a clean exit and the exact lines."""
        stats = self.stop_ok(lf)
        check_exact(self, parse_out(self.out), self.ledger, context)
        return stats


# ---------------------------------------------------------------------------
# Slow consumers (flow control)

class SlowReader(threading.Thread):
    """Reads what logferry sends to a FIFO (pipe() destination) or over TCP
    (network() destination), at most `rate` bytes a second until
    set_rate(None) lets it read as fast as it can.  Keeps what it read in
    a file, for parse_out()."""

    def __init__(self, out_path, rate, fifo=None, listener=None):
        super().__init__(daemon=True)
        self.out_path = out_path
        self.rate = rate
        self.fifo = fifo
        self.listener = listener
        self.bytes = 0
        self._quit = threading.Event()
        self.error = None
        self.mu = threading.Lock()
        self._out = open(out_path, "ab")

    def set_rate(self, rate):
        with self.mu:
            self.rate = rate

    def _chunk(self):
        with self.mu:
            rate = self.rate
        return (65536, 0.0) if rate is None else (max(1024, rate // 50), max(1024, rate // 50) / rate)

    def _pump(self, recv):
        import select
        while not self._quit.is_set():
            size, pause = self._chunk()
            data = recv(size)
            if data is None:
                continue
            if not data:
                return
            self._out.write(data)
            self._out.flush()
            self.bytes += len(data)
            if pause:
                time.sleep(pause)

    def run(self):
        import select
        import socket
        try:
            if self.fifo:
                # O_RDWR: never EOF and never a blocking open, across
                # logferry restarts.
                fd = os.open(self.fifo, os.O_RDWR | os.O_NONBLOCK)
                try:
                    def recv(n):
                        r, _, _ = select.select([fd], [], [], 0.1)
                        if not r:
                            return None
                        try:
                            return os.read(fd, n)
                        except BlockingIOError:
                            return None
                    self._pump(recv)
                finally:
                    os.close(fd)
            else:
                while not self._quit.is_set():
                    r, _, _ = select.select([self.listener], [], [], 0.1)
                    if not r:
                        continue
                    conn, _ = self.listener.accept()
                    conn.setblocking(False)

                    def recv(n, conn=conn):
                        r, _, _ = select.select([conn], [], [], 0.1)
                        if not r:
                            return None
                        try:
                            return conn.recv(n)
                        except BlockingIOError:
                            return None
                    self._pump(recv)
                    conn.close()
        except Exception as e:
            self.error = e

    def stop(self):
        self._quit.set()
        self.join()
        self._out.close()
        if self.error:
            raise self.error
