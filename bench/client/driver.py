#!/usr/bin/env python3
"""The driver of bench/client_compare.sh (see its header for what is measured
and how to run it).  Python 3 standard library only.

  driver.py [--tools "logferry syslog-ng rsyslog"] [--lines N] [--idle-seconds S]
            [--idle-files N] [--rss-files N] [--workloads "e2e rss idle"] [--keep]

Binaries come from the environment: LOGFERRY, SYSLOG_NG, RSYSLOGD (and
RSYSLOG_MODDIR, RSYSLOG_LIBS for an unpacked rsyslog).
"""
import argparse
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HZ = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
MiB = 1024 * 1024


def log(msg=""):
    print(msg, flush=True)


# ---------------------------------------------------------------------------
# /proc

def cpu_ticks(pid):
    """utime + stime of every thread of the process (clock ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def rollup_kb(pid):
    """{'Rss': kB, 'Pss': kB, ...} from /proc/PID/smaps_rollup."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[-1] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def busy_ticks():
    with open("/proc/stat") as f:
        p = f.readline().split()
    return sum(int(x) for x in p[1:4]) + sum(int(x) for x in p[6:9])


def listening(port):
    hexport = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A" and parts[1].endswith(hexport):
                        return True
        except FileNotFoundError:
            pass
    return False


def tcp_bytes(port):
    """(bytes received, bytes sent) by the established TCP sockets whose local
    port is `port` (a server's side of its connections), from the kernel's
    per-socket counters (`ss -tin`): TCP payload, without IP/TCP headers."""
    out = subprocess.run(["ss", "-tinH", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    received = sum(int(x) for x in re.findall(r"\bbytes_received:(\d+)", out))
    sent = sum(int(x) for x in re.findall(r"\bbytes_sent:(\d+)", out))
    return received, sent


def free_port():
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue


def wait_until(pred, timeout, what, procs=()):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        for p in procs:
            if p.proc.poll() is not None:
                raise RuntimeError(f"{p.name} exited ({p.proc.returncode}) while waiting for {what}:\n"
                                   f"{p.tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


# ---------------------------------------------------------------------------
# Daemons

def die_with_parent():
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except Exception:
        pass


def render(template, out, values, confdirs=(HERE,)):
    """Fills @KEY@ of the first confdirs/template found into out."""
    path = next((p for p in (os.path.join(d, template) for d in confdirs) if os.path.exists(p)),
                os.path.join(confdirs[0], template))
    with open(path) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace(f"@{k}@", str(v))
    with open(out, "w") as f:
        f.write(text)
    return out


class Daemon:
    def __init__(self, name, cmd, rundir, env=None):
        self.name = name
        self.log_path = os.path.join(rundir, name.replace(" ", "-") + ".log")
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env, cwd=rundir, preexec_fn=die_with_parent)
        self.pid = self.proc.pid

    def tail(self, n=3000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


class Tools:
    """Starts each tool as a client or a server (or, for bench/relay, a relay)
    with its config template TOOL-ROLE.conf from the first of confdirs that
    has it."""

    def __init__(self, confdirs=(HERE,)):
        self.confdirs = confdirs
        self.logferry = os.environ.get("LOGFERRY")
        self.syslog_ng = os.environ.get("SYSLOG_NG")
        self.rsyslogd = os.environ.get("RSYSLOGD")
        self.rsyslog_moddir = os.environ.get("RSYSLOG_MODDIR", "")
        self.rsyslog_libs = os.environ.get("RSYSLOG_LIBS", "")

    def env(self, tool):
        env = dict(os.environ, TZ="UTC")
        if tool.startswith("rsyslog") and self.rsyslog_libs:
            env["LD_LIBRARY_PATH"] = self.rsyslog_libs + (":" + env["LD_LIBRARY_PATH"]
                                                          if env.get("LD_LIBRARY_PATH") else "")
        return env

    def command(self, tool, conf, state):
        if tool == "logferry":
            return [self.logferry, "run", "-f", conf, "--persist-dir", state]
        if tool == "syslog-ng":
            return [self.syslog_ng, "-F", "-e", "--no-caps", "-f", conf, "-p", os.path.join(state, "syslog-ng.pid"),
                    "-c", os.path.join(state, "syslog-ng.ctl"), "-R", os.path.join(state, "syslog-ng.persist")]
        cmd = [self.rsyslogd, "-n", "-f", conf, "-i", os.path.join(state, "rsyslogd.pid")]
        return cmd + (["-M", self.rsyslog_moddir] if self.rsyslog_moddir else [])

    def start(self, tool, role, rundir, values, listen=False):
        """Starts `tool` (rsyslog-relp: rsyslog) as `role` with its config
        filled with `values` and STATE; with `listen`, on a free PORT and
        once it listens there.  Returns (Daemon, PORT or None)."""
        state = os.path.join(rundir, f"{role}-state")
        os.makedirs(state, exist_ok=True)
        binary = "rsyslog" if tool.startswith("rsyslog") else tool
        last = None
        for _ in range(3):
            port = free_port() if listen else None
            conf = render(f"{tool}-{role}.conf", os.path.join(rundir, f"{tool}-{role}.conf"),
                          dict(values, PORT=port, STATE=state) if listen else dict(values, STATE=state),
                          self.confdirs)
            d = Daemon(f"{tool} {role}", self.command(binary, conf, state), rundir, self.env(tool))
            if not listen:
                return d, None
            try:
                wait_until(lambda: listening(port), 20, f"{tool} {role} on port {port}", [d])
                return d, port
            except RuntimeError as e:
                last = e
                d.stop()
        raise RuntimeError(f"{tool} {role} did not start: {last}")

    def server(self, tool, rundir, out):
        """Starts `tool` as the receiving server writing `out`; returns
        (Daemon, port)."""
        return self.start(tool, "server", rundir, {"OUT": out}, listen=True)

    def client(self, tool, rundir, port, logdir, one_file=None, values=None):
        """Starts `tool` as the client that follows logdir/*.log (syslog-ng:
        file(one_file) when given) and forwards to `port`; `values`: more
        for its config."""
        if one_file:
            source = (f'file("{one_file}" flags(no-parse) program-override("bench") follow-freq(1)\n'
                      f'       log-iw-size(20000) log-fetch-limit(1000));')
        else:
            source = (f'wildcard-file(base-dir("{logdir}") filename-pattern("*.log") max-files(5000)\n'
                      f'       flags(no-parse) program-override("bench") log-iw-size(20000) log-fetch-limit(1000));')
        return self.start(tool, "client", rundir,
                          dict(values or {}, PORT=port, LOGDIR=logdir, SOURCE=source))[0]


# ---------------------------------------------------------------------------
# Lines

METHODS = ["GET", "POST", "PUT", "DELETE"]


def generate(n, path):
    """n log lines of about 200 bytes, each ending with seq=NNNNNNNNN (0..n-1),
    written to path; returns (bytes, mean line length)."""
    r = random.Random(42)
    parts = []
    total = 0
    for i in range(n):
        line = (f"2026-11-28T10:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}Z INFO  "
                f"[worker-{i % 16}] http.server.RequestLog: {METHODS[i % 4]} /api/v1/items/{r.randrange(10**6)}"
                f"?page={i % 50} status=200 bytes={r.randrange(100000)} dur_ms={r.randrange(2000)} "
                f"user=user{r.randrange(5000)}@example.com ua=\"curl/7.88.1\" seq={i:09d}\n")
        parts.append(line)
        total += len(line)
    data = "".join(parts).encode()
    with open(path, "wb") as f:
        f.write(data)
    return data, total / n - 1


def check(path, n, data=None):
    """Counts the lines of a server's output: (lines, distinct, dup, missing,
    other).  With `data` (what generate() wrote), a line counts as other
    (altered) unless it ends with the generated line of its sequence number:
    the message bodies every tool wrote are then the same."""
    sent = data.split(b"\n") if data is not None else None
    seen = bytearray(n)
    lines = distinct = dup = other = 0
    with open(path, "rb") as f:
        for raw in f:
            lines += 1
            s = raw.rstrip(b"\r\n ")
            at = s.rfind(b"seq=")
            if at < 0 or len(s) - at != 13 or not s[at + 4:].isdigit():
                other += 1
                continue
            v = int(s[at + 4:])
            if v >= n or (sent is not None and not s.endswith(sent[v])):
                other += 1
            elif seen[v]:
                dup += 1
            else:
                seen[v] = 1
                distinct += 1
    return lines, distinct, dup, n - distinct, other


class Follower:
    """Counts the complete lines of a file as it grows."""

    def __init__(self, path):
        self.path = path
        self.f = None
        self.lines = 0
        self.longest_stall = 0.0  # longest time without growth while waiting

    def poll(self):
        if self.f is None:
            try:
                self.f = open(self.path, "rb")
            except FileNotFoundError:
                return self.lines
        while True:
            d = self.f.read(8 * MiB)
            if not d:
                return self.lines
            self.lines += d.count(b"\n")

    def wait(self, want, timeout, settle=None, procs=()):
        """Until `want` lines (returns the time they were first seen) or no
        growth for `settle` s / the deadline (returns None)."""
        deadline = time.monotonic() + timeout
        last, since = -1, time.monotonic()
        while True:
            n = self.poll()
            now = time.monotonic()
            if n >= want:
                return now
            if n != last:
                if last >= 0:
                    self.longest_stall = max(self.longest_stall, now - since)
                last, since = n, now
            elif settle is not None and now - since > settle:
                return None
            if now > deadline:
                return None
            for p in procs:
                if p.proc.poll() is not None:
                    raise RuntimeError(f"{p.name} exited ({p.proc.returncode}):\n{p.tail()}")
            time.sleep(0.002)

    def close(self):
        if self.f:
            self.f.close()


def append_all(path, data, chunk=4 * MiB):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view[:chunk])
            view = view[n:]
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------
# Workloads

def e2e_dirs(tmp, tool):
    """A run's directory, its log directory with an empty tailed file, and
    the server's output: (rundir, logdir, tailed, out)."""
    rundir = os.path.join(tmp, f"e2e-{tool}")
    logdir = os.path.join(rundir, "logs")
    os.makedirs(logdir)
    tailed = os.path.join(logdir, "app.log")
    open(tailed, "wb").close()
    return rundir, logdir, tailed, os.path.join(rundir, "server.out")


def measure_e2e(tool, hops, tailed, out, data, n, snapshot=None):
    """Appends `data` (n lines) to `tailed` once a warm-up line went through
    the running `hops` [(role, Daemon)] into `out`, and measures until `out`
    holds them all; stops the hops.  Gives ROLE_cpu and ROLE_hwm of every hop;
    `snapshot()`, when given, is taken after the warm-up and at the end, while
    the hops run (res["snap0"], res["snap1"])."""
    procs = [d for _role, d in hops]
    res = {"tool": tool}
    follower = Follower(out)
    try:
        # A first line that carries no sequence number: once it is in the
        # server's file, the client follows the file and is connected.
        append_all(tailed, b"warm-up line\n")
        if follower.wait(1, 60, procs=procs) is None:
            raise RuntimeError(f"{tool}: the warm-up line did not arrive within 60 s")
        time.sleep(0.5)
        follower.longest_stall = 0.0
        if snapshot:
            res["snap0"] = snapshot()
        c0, b0 = [cpu_ticks(d.pid) for d in procs], busy_ticks()
        t0 = time.monotonic()
        writer = threading.Thread(target=append_all, args=(tailed, data))
        writer.start()
        done = follower.wait(1 + n, 600, settle=20, procs=procs)
        t_end = time.monotonic()
        writer.join()
        c1, b1 = [cpu_ticks(d.pid) for d in procs], busy_ticks()
        if snapshot:
            res["snap1"] = snapshot()
        for (role, d), a, b in zip(hops, c0, c1):
            res[f"{role}_hwm"] = status_kb(d.pid, "VmHWM")
            res[f"{role}_cpu"] = (b - a) / HZ
        elapsed = (done if done else t_end) - t0
        res["seconds"] = elapsed
        res["rate"] = (follower.lines - 1) / elapsed if elapsed > 0 else 0
        res["complete"] = done is not None
        wall = t_end - t0
        res["others"] = max(0.0, ((b1 - b0) - (sum(c1) - sum(c0))) / HZ / wall) if wall > 0 else 0
        res["stall"] = follower.longest_stall
    finally:
        follower.close()
        for d in procs:
            d.stop()
    lines, distinct, dup, missing, other = check(out, n, data)
    # `other`: lines without a valid sequence number or whose message is not
    # the line written, less the warm-up line (a line split in two, mangled).
    res.update(lines=lines, distinct=distinct, dup=dup, missing=missing, other=max(0, other - 1))
    return res


def run_e2e(tools, tool, tmp, data, n):
    """file -> client -> TCP -> server -> file, n lines appended at once."""
    rundir, logdir, tailed, out = e2e_dirs(tmp, tool)
    server, port = tools.server(tool, rundir, out)
    client = tools.client(tool, rundir, port, logdir, one_file=tailed if tool == "syslog-ng" else None)
    return measure_e2e(tool, [("client", client), ("server", server)], tailed, out, data, n)


def start_fleet(tools, tool, tmp, name, nfiles):
    """A server and a client following nfiles files, one line appended to
    each after the client started; returns once the server wrote them all."""
    rundir = os.path.join(tmp, f"{name}-{tool}")
    logdir = os.path.join(rundir, "logs")
    os.makedirs(logdir)
    paths = [os.path.join(logdir, f"app{i:04d}.log") for i in range(nfiles)]
    for p in paths:
        open(p, "wb").close()
    out = os.path.join(rundir, "server.out")
    server, port = tools.server(tool, rundir, out)
    client = tools.client(tool, rundir, port, logdir)
    time.sleep(2)  # lets the client find the files
    for i, p in enumerate(paths):
        append_all(p, f"file {i} started seq={i:09d}\n".encode())
    follower = Follower(out)
    ok = follower.wait(nfiles, 120, settle=30, procs=[server, client])
    follower.close()
    return server, client, ok is not None, follower.lines


def run_rss(tools, tool, tmp, nfiles, settle):
    server, client, ok, got = start_fleet(tools, tool, tmp, "rss", nfiles)
    try:
        time.sleep(settle)
        r = rollup_kb(client.pid)
        return {"tool": tool, "complete": ok, "got": got, "rss": status_kb(client.pid, "VmRSS"),
                "pss": r.get("Pss", 0), "hwm": status_kb(client.pid, "VmHWM"),
                "private": r.get("Private_Clean", 0) + r.get("Private_Dirty", 0)}
    finally:
        client.stop()
        server.stop()


def run_idle(tools, names, tmp, nfiles, seconds):
    """Every tool's client follows nfiles idle files; CPU over `seconds`,
    measured for all of them over the same window."""
    fleets = {}
    results = {}
    try:
        for t in names:
            fleets[t] = start_fleet(tools, t, tmp, "idle", nfiles)
        time.sleep(2)
        c0 = {t: cpu_ticks(f[1].pid) for t, f in fleets.items()}
        t0 = time.monotonic()
        time.sleep(seconds)
        wall = time.monotonic() - t0
        for t, (server, client, ok, got) in fleets.items():
            cpu = (cpu_ticks(client.pid) - c0[t]) / HZ
            results[t] = {"tool": t, "complete": ok, "got": got, "cpu": cpu, "wall": wall,
                          "rss": status_kb(client.pid, "VmRSS"), "pss": rollup_kb(client.pid).get("Pss", 0)}
    finally:
        for server, client, _ok, _got in fleets.values():
            client.stop()
            server.stop()
    return [results[t] for t in names if t in results]


# ---------------------------------------------------------------------------

def ratio(a, b):
    return f"{a / b:.2f}x" if b else "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tools", default="logferry syslog-ng rsyslog")
    ap.add_argument("--lines", type=int, default=1000000)
    ap.add_argument("--rss-files", type=int, default=100)
    ap.add_argument("--rss-settle", type=float, default=5.0)
    ap.add_argument("--idle-files", type=int, default=1000)
    ap.add_argument("--idle-seconds", type=float, default=60.0)
    ap.add_argument("--workloads", default="e2e rss idle")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    names = args.tools.split()
    workloads = args.workloads.split()
    tools = Tools()
    tmp = tempfile.mkdtemp(prefix="logferry-client-compare.", dir=os.environ.get("TMPDIR", "/tmp"))
    load0 = open("/proc/loadavg").read().split()[0]
    log(f"machine: {os.cpu_count()} CPUs, load average {load0} at start; temporary files in {tmp}")
    e2e, rss, idle = [], [], []
    try:
        if "e2e" in workloads:
            t = time.monotonic()
            data, avg = generate(args.lines, os.path.join(tmp, "lines.txt"))
            log(f"generated {args.lines} lines, {len(data) / MiB:.0f} MiB, {avg:.0f} bytes a line on average "
                f"({time.monotonic() - t:.1f} s)")
            for tool in names:
                r = run_e2e(tools, tool, tmp, data, args.lines)
                e2e.append(r)
                log(f"e2e {tool}: {r['rate']:,.0f} msgs/s in {r['seconds']:.2f} s; client CPU {r['client_cpu']:.2f} s, "
                    f"server CPU {r['server_cpu']:.2f} s; lines {r['lines']} missing {r['missing']} dup {r['dup']} "
                    f"altered {r['other']}; longest stall {r['stall']:.2f} s; other load {r['others']:.2f} cores")
            del data
        if "rss" in workloads:
            for tool in names:
                r = run_rss(tools, tool, tmp, args.rss_files, args.rss_settle)
                rss.append(r)
                log(f"rss {tool}: {args.rss_files} files ({'all' if r['complete'] else r['got']} lines arrived): "
                    f"RSS {r['rss'] / 1024:.1f} MiB, PSS {r['pss'] / 1024:.1f} MiB")
        if "idle" in workloads:
            log(f"idle: {args.idle_files} files per client, {args.idle_seconds:.0f} s, the clients side by side ...")
            idle = run_idle(tools, names, tmp, args.idle_files, args.idle_seconds)
    finally:
        if args.keep:
            log(f"(temporary files kept in {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    log()
    if e2e:
        n = args.lines
        log(f"End to end: {n:,} lines of ~200 bytes appended to a followed file -> client -> TCP (RFC 3164) "
            f"-> server -> file")
        log()
        log("| tool | msgs/s | seconds | longest stall s | client CPU s/M | server CPU s/M | client peak RSS MiB | "
            "server peak RSS MiB | lost | dup | altered | other load (cores) |")
        log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in e2e:
            log(f"| {r['tool']} | {r['rate']:,.0f} | {r['seconds']:.2f} | {r['stall']:.2f} | "
                f"{r['client_cpu'] / n * 1e6:.2f} | {r['server_cpu'] / n * 1e6:.2f} | {r['client_hwm'] / 1024:.1f} | "
                f"{r['server_hwm'] / 1024:.1f} | {r['missing']} | {r['dup']} | {r['other']} | {r['others']:.2f} |")
        log()
        log("longest stall: the longest time the server's file did not grow during the run; altered: lines "
            "in the server's file that are no line written (e.g. a line split in two)")
        log()
    if rss:
        log(f"Idle client following {args.rss_files} files and forwarding over TCP "
            f"({args.rss_settle:.0f} s after its last line):")
        log()
        log("| tool | RSS MiB | PSS MiB | private MiB | peak RSS MiB |")
        log("|---|---:|---:|---:|---:|")
        for r in rss:
            log(f"| {r['tool']} | {r['rss'] / 1024:.2f} | {r['pss'] / 1024:.2f} | {r['private'] / 1024:.2f} | "
                f"{r['hwm'] / 1024:.2f} |" + ("" if r["complete"] else f" (only {r['got']} lines arrived)"))
        log()
    if idle:
        log(f"Client following {args.idle_files} idle files for {idle[0]['wall']:.0f} s:")
        log()
        log("| tool | CPU s | % of a core | RSS MiB | PSS MiB |")
        log("|---|---:|---:|---:|---:|")
        for r in idle:
            log(f"| {r['tool']} | {r['cpu']:.2f} | {100 * r['cpu'] / r['wall']:.3f} | {r['rss'] / 1024:.2f} | "
                f"{r['pss'] / 1024:.2f} |" + ("" if r["complete"] else f" (only {r['got']} lines arrived)"))
        log()

    lf = {r["tool"]: r for r in e2e}
    if "logferry" in lf:
        log("logferry's ratios (msgs/s: logferry / other; CPU and memory: logferry / other):")
        for r in e2e:
            if r["tool"] == "logferry":
                continue
            a = lf["logferry"]
            log(f"  vs {r['tool']}: msgs/s {ratio(a['rate'], r['rate'])}, client CPU/M "
                f"{ratio(a['client_cpu'], r['client_cpu'])}, server CPU/M {ratio(a['server_cpu'], r['server_cpu'])}, "
                f"client peak RSS {ratio(a['client_hwm'], r['client_hwm'])}")
    m = {r["tool"]: r for r in rss}
    if "logferry" in m:
        for r in rss:
            if r["tool"] != "logferry":
                log(f"  idle client vs {r['tool']}: RSS {ratio(m['logferry']['rss'], r['rss'])}, "
                    f"PSS {ratio(m['logferry']['pss'], r['pss'])}")
    goals = []
    if "logferry" in lf and "rsyslog" in lf:
        x = lf["logferry"]["rate"] / lf["rsyslog"]["rate"] if lf["rsyslog"]["rate"] else 0
        a = lf["logferry"]
        ok = x >= 2 and a["missing"] == 0 and a["dup"] == 0 and a["other"] == 0
        goals.append(f"  end to end >= 2x rsyslog, every line once and intact: {x:.2f}x, lost {a['missing']}, "
                     f"dup {a['dup']}, altered {a['other']}  {'MET' if ok else 'MISSED'}")
    if "logferry" in m:
        r = m["logferry"]
        goals.append(f"  idle client RSS < 4 MiB: {r['rss'] / 1024:.2f} MiB  {'MET' if r['rss'] < 4096 else 'MISSED'}")
        goals.append(f"  idle client PSS < 2 MiB: {r['pss'] / 1024:.2f} MiB  {'MET' if r['pss'] < 2048 else 'MISSED'}")
    ic = {r["tool"]: r for r in idle}
    if "logferry" in ic:
        r = ic["logferry"]
        pct = 100 * r["cpu"] / r["wall"]
        others = ", ".join(f"{o['tool']} {100 * o['cpu'] / o['wall']:.3f} %" for o in idle if o["tool"] != "logferry")
        goals.append(f"  near-zero CPU with {args.idle_files} idle files: {r['cpu']:.2f} s in {r['wall']:.0f} s = "
                     f"{pct:.3f} % of a core ({1000 * r['cpu'] / r['wall']:.1f} ms per second){'; ' + others if others else ''}")
    if goals:
        log()
        log("Goals:")
        for g in goals:
            log(g)
    return finish()


def finish():
    """The last line of every benchmark's report; returns 0."""
    log()
    log(f"load average at the end: {open('/proc/loadavg').read().split()[0]} (a shared machine: other work "
        f"disturbs single runs)")
    return 0


def run_main(main, name):
    """Runs a benchmark's main(): a RuntimeError is its one-line failure."""
    try:
        sys.exit(main())
    except RuntimeError as e:
        log(f"{name}: {e}")
        sys.exit(1)


if __name__ == "__main__":
    run_main(main, "client_compare")
