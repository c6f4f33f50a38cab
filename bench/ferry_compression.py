#!/usr/bin/env python3
"""Bytes on the wire of ferry() for realistic logs, against their raw bytes.

Generates, with a seeded random generator, samples of three kinds of logs:
  nginx    nginx "combined" access lines: client IPs (a few busy ones, many
           rare), methods, paths with ids and query strings, status codes,
           sizes, referers, a dozen user agents, increasing timestamps
  json     JSON application logs of several services: timestamp, level,
           service, host, trace and span ids, a message per event kind and
           the fields of that kind (user ids, amounts, durations, paths, SQL
           tables, error texts), varying from line to line
  json-traced  (not run unless asked: --kinds) "json" with the trace id shared
           by the 2-8 lines of a request and the span id by 1-3 of them, as
           real services log (see json_traced())
  syslog   RFC 3164 lines as /var/log/syslog holds them, from sshd, CRON,
           systemd, kernel, postfix, sudo, dhclient with their usual messages
and sends each through a logferry client (a file source following the
sample, appended at once, ferry() destination) to a logferry server
(ferry() source -> file) at each zstd level asked for, and "none"
(compression(no)).  With --dictionary, both ends use a zstd dictionary
(compression-dictionary()) trained with `logferry ferry-dictionary train`
on another sample of the same kind (another seed, --train-lines lines):
never on the lines measured.  The wire bytes are the TCP payload the server received
(the kernel's counters, `ss -tin`), so they include ferry's framing, the
message fields it carries besides the line (HOST, PROGRAM, stamps) and the
batches exactly as the sender cut them (batch-messages(512) by default:
the sample is appended at once, so the batches are full).

  bench/ferry_compression.py [--build DIR] [--lines N] [--levels "none 1 3 6"]
                             [--kinds "nginx json syslog"]
                             [--ferry-options " batch-messages(4096)"] [--keep]
                             [--dictionary] [--train-lines N] [--dictionary-size BYTES]

LOGFERRY overrides DIR/logferry (default build-cmp, see bench/client_compare.sh).
About 1 minute on a 2-core machine with the defaults (100,000 lines a sample).
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "client"))
import driver as common  # noqa: E402  (bench/client/driver.py)

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


class Clock:
    """Increasing timestamps: a start and random steps of a few ms."""

    def __init__(self, r, mean_step_ms):
        self.r = r
        self.t = 1796660000.0  # 2026-12-07
        self.mean = mean_step_ms / 1000.0

    def tick(self):
        self.t += self.r.expovariate(1 / self.mean)
        return self.t


def utc(t):
    return time.gmtime(t)


def ip(r):
    # A few busy clients and a long tail, as an access log has.
    if r.random() < 0.4:
        return f"10.0.{r.randrange(4)}.{r.randrange(1, 20)}"
    return f"{r.choice([31, 46, 66, 81, 92, 109, 151, 178, 185, 203])}.{r.randrange(256)}." \
           f"{r.randrange(256)}.{r.randrange(1, 255)}"


AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/7.88.1", "python-requests/2.32.3", "Go-http-client/1.1", "okhttp/4.12.0",
    "Prometheus/2.53.0",
]
PATHS = ["/", "/index.html", "/api/v1/products/{id}", "/api/v1/cart", "/api/v1/orders/{id}", "/login",
         "/static/js/app.{hex}.js", "/static/css/main.{hex}.css", "/images/p/{id}.jpg", "/search?q={word}&page={n}",
         "/api/v1/users/{id}/profile", "/health", "/metrics", "/favicon.ico", "/wp-login.php"]
WORDS = ["shoes", "laptop", "coffee", "desk", "lamp", "jacket", "phone+case", "headphones", "book", "chair"]
STATUSES = [200] * 80 + [304] * 8 + [301, 302] * 2 + [404] * 4 + [401, 403, 500, 502]


def fill(r, path):
    return (path.replace("{id}", str(r.randrange(1, 200000))).replace("{hex}", f"{r.getrandbits(32):08x}")
            .replace("{word}", r.choice(WORDS)).replace("{n}", str(r.randrange(1, 20))))


def nginx(r, clock):
    g = utc(clock.tick())
    method = "GET" if r.random() < 0.85 else r.choice(["POST", "PUT", "DELETE", "HEAD"])
    status = r.choice(STATUSES)
    size = 0 if status in (304, 301, 302) else int(r.lognormvariate(8, 1.5))
    ref = "-" if r.random() < 0.5 else f"https://shop.example.com{fill(r, r.choice(PATHS))}"
    return (f"{ip(r)} - - [{g.tm_mday:02d}/{MONTHS[g.tm_mon - 1]}/{g.tm_year}:{g.tm_hour:02d}:{g.tm_min:02d}:"
            f"{g.tm_sec:02d} +0000] \"{method} {fill(r, r.choice(PATHS))} HTTP/1.1\" {status} {size} "
            f"\"{ref}\" \"{r.choice(AGENTS)}\"")


SERVICES = ["checkout", "payments", "inventory", "auth", "search", "notifications"]
TABLES = ["orders", "order_items", "customers", "products", "sessions", "payments"]
ERRORS = ["connection reset by peer", "context deadline exceeded", "duplicate key value violates unique constraint",
          "upstream returned 503", "invalid token signature"]


def json_line(r, clock, request=None):
    """One JSON line; `request` (json_traced) gives the service, host, trace
    and span ids, else each line draws its own."""
    t = clock.tick()
    g = utc(t)
    ts = f"{g.tm_year}-{g.tm_mon:02d}-{g.tm_mday:02d}T{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}." \
         f"{int(t * 1000) % 1000:03d}Z"
    svc = request["svc"] if request else r.choice(SERVICES)
    kind = r.random()
    level = "info"
    if kind < 0.45:
        msg = "request completed"
        extra = (f'"http":{{"method":"{r.choice(["GET", "GET", "POST", "PUT"])}","path":'
                 f'"{fill(r, r.choice(PATHS[2:5] + PATHS[10:11]))}","status":{r.choice(STATUSES)},'
                 f'"duration_ms":{r.lognormvariate(3, 1):.1f},"bytes":{int(r.lognormvariate(7, 1.2))}}},'
                 f'"client_ip":"{ip(r)}"')
    elif kind < 0.65:
        msg = "query executed"
        extra = (f'"db":{{"table":"{r.choice(TABLES)}","op":"{r.choice(["select", "insert", "update"])}",'
                 f'"rows":{r.randrange(0, 500)},"duration_ms":{r.lognormvariate(1, 1):.2f}}}')
    elif kind < 0.8:
        msg = r.choice(["order placed", "payment authorized", "cart updated", "user logged in"])
        extra = (f'"user_id":{r.randrange(1, 10**6)},"order_id":"ord_{r.getrandbits(48):012x}",'
                 f'"amount":{r.randrange(100, 100000) / 100:.2f},"currency":"{r.choice(["EUR", "USD", "GBP"])}"')
    elif kind < 0.95:
        level = "debug"
        msg = "cache lookup"
        extra = f'"key":"{svc}:{r.choice(TABLES)}:{r.randrange(10**5)}","hit":{r.choice(["true", "false"])}'
    else:
        level = r.choice(["warn", "error"])
        msg = "call failed"
        extra = (f'"error":"{r.choice(ERRORS)}","retry":{r.randrange(0, 4)},'
                 f'"peer":"{r.choice(SERVICES)}.svc.cluster.local:8080"')
    if request:
        host, trace, span = request["host"], request["trace"], request["span"]
    else:  # drawn in this order, as the sample always was
        host = f"{svc}-{r.getrandbits(20):05x}-{r.randrange(3)}"
        trace = f"{r.getrandbits(128):032x}"
        span = f"{r.getrandbits(64):016x}"
    return (f'{{"ts":"{ts}","level":"{level}","service":"{svc}","host":"{host}","trace_id":"{trace}",'
            f'"span_id":"{span}","msg":"{msg}",{extra}}}')


# The "json" sample gives every line a fresh trace and span id: 24 random
# bytes a line that no compressor can shrink, while a real service logs
# several lines per request under one trace id, and one span per service
# call.  This variant keeps everything else of "json" and draws a request
# (service, pod, trace id) every 2-8 lines and a new span every 1-3 of its
# lines.  Both are reported; the goal is judged on "json".
def json_traced(r, clock):
    req = getattr(clock, "request", None)
    if not req or req["left"] == 0:
        svc = r.choice(SERVICES)
        req = clock.request = {"svc": svc, "host": f"{svc}-{r.getrandbits(20):05x}-{r.randrange(3)}",
                               "trace": f"{r.getrandbits(128):032x}", "left": r.randrange(2, 9), "span_left": 0}
    if req["span_left"] == 0:
        req["span"] = f"{r.getrandbits(64):016x}"
        req["span_left"] = r.randrange(1, 4)
    req["left"] -= 1
    req["span_left"] -= 1
    return json_line(r, clock, req)


USERS = ["root", "deploy", "alice", "bob", "backup", "git", "admin", "ubuntu"]
# Each user logs in with one of their keys, each host has its gateway: the
# same fingerprints and MAC addresses come again, as in a real log.
_keys = random.Random("ferry-compression-keys")
KEYS = {u: [f"{_keys.getrandbits(256):064x}"[:43] for _ in range(2)] for u in USERS}
GATEWAYS = {f"web-{i:02d}": f"52:54:00:{_keys.getrandbits(24):06x}" for i in range(1, 5)}


def syslog(r, clock):
    g = utc(clock.tick())
    host = f"web-{r.randrange(1, 5):02d}"
    pid = r.randrange(300, 65000)
    k = r.random()
    if k < 0.3:
        prog = f"sshd[{pid}]"
        user = r.choice(USERS)
        msg = r.choice([f"Accepted publickey for {user} from {ip(r)} port {r.randrange(1024, 65535)} "
                        f"ssh2: ED25519 SHA256:{r.choice(KEYS[user])}",
                        f"Failed password for invalid user {r.choice(USERS)}{r.randrange(100)} from {ip(r)} port "
                        f"{r.randrange(1024, 65535)} ssh2",
                        f"pam_unix(sshd:session): session opened for user {r.choice(USERS)}(uid={r.randrange(1000, 1010)}) "
                        f"by (uid=0)",
                        f"Connection closed by authenticating user root {ip(r)} port {r.randrange(1024, 65535)} [preauth]"])
    elif k < 0.5:
        prog = f"CRON[{pid}]"
        msg = f"({r.choice(USERS)}) CMD ({r.choice(['/usr/local/bin/backup.sh', 'run-parts /etc/cron.hourly', 'php /var/www/cron.php', '/usr/lib/sa/sa1 1 1'])})"
    elif k < 0.65:
        prog = "systemd[1]"
        unit = r.choice(["logrotate.service", "apt-daily.service", "session-%d.scope" % r.randrange(1, 9999),
                         "user@1000.service", "certbot.timer"])
        msg = r.choice([f"Started {unit}.", f"{unit}: Deactivated successfully.", f"Starting {unit}...",
                        f"{unit}: Consumed {r.randrange(1, 900) / 100:.2f}s CPU time."])
    elif k < 0.75:
        msg = (f"[{r.randrange(10**5, 10**7)}.{r.randrange(10**6):06d}] [UFW BLOCK] IN=eth0 OUT= "
               f"MAC={GATEWAYS[host]} SRC={ip(r)} DST=10.0.0.{r.randrange(2, 9)} LEN={r.randrange(40, 80)} "
               f"TOS=0x00 PREC=0x00 TTL={r.randrange(40, 250)} ID={r.randrange(65536)} PROTO=TCP SPT={r.randrange(1024, 65535)} "
               f"DPT={r.choice([22, 23, 443, 3389, 8080])} WINDOW={r.randrange(1024, 65535)} RES=0x00 SYN URGP=0")
        prog = "kernel"
    elif k < 0.9:
        prog = f"postfix/smtpd[{pid}]"
        msg = r.choice([f"connect from unknown[{ip(r)}]", f"disconnect from unknown[{ip(r)}] ehlo=1 auth=0/1 quit=1 commands=2/3",
                        f"{r.getrandbits(40):010X}: client=mail{r.randrange(9)}.example.net[{ip(r)}]"])
    elif k < 0.96:
        prog = "sudo"
        msg = (f"{r.choice(USERS)} : TTY=pts/{r.randrange(4)} ; PWD=/home/{r.choice(USERS)} ; USER=root ; "
               f"COMMAND=/usr/bin/{r.choice(['systemctl restart nginx', 'apt-get upgrade', 'journalctl -xe', 'tail -f /var/log/syslog'])}")
    else:
        prog = f"dhclient[{pid}]"
        msg = f"DHCPACK of 10.0.0.{r.randrange(2, 250)} from 10.0.0.1 (xid=0x{r.getrandbits(32):08x})"
    return f"{MONTHS[g.tm_mon - 1]} {g.tm_mday:2d} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d} {host} {prog}: {msg}"


KINDS = {"nginx": (nginx, 2.0), "json": (json_line, 1.0), "syslog": (syslog, 20.0), "json-traced": (json_traced, 1.0)}


def sample(kind, n, seed="ferry-compression"):
    """n lines of `kind`, seeded: the same bytes every run."""
    r = random.Random(f"{seed}-{kind}")
    make, step = KINDS[kind]
    clock = Clock(r, step)
    return ("\n".join(make(r, clock) for _ in range(n)) + "\n").encode()


def train(tmp, kind, lines, size):
    """A dictionary trained on `lines` lines of `kind` from another seed than
    the measured sample; returns its path."""
    path = os.path.join(tmp, f"train-{kind}.log")
    with open(path, "wb") as f:
        f.write(sample(kind, lines, seed="ferry-compression-training"))
    dict_path = os.path.join(tmp, f"{kind}.dict")
    subprocess.run([os.environ["LOGFERRY"], "ferry-dictionary", "train", "-o", dict_path, "--size", str(size), path],
                   check=True, stdout=subprocess.DEVNULL)
    return dict_path


def run(tools, tmp, kind, level, data, n, options, dictionary=None):
    """One sample through client -> server; returns measure_e2e's result and
    the wire bytes."""
    name = f"{kind}-{level}" + ("-dict" if dictionary else "")
    rundir, logdir, tailed, out = common.e2e_dirs(tmp, name)
    ferry = options + (" compression(no)" if level == "none" else f" compression-level({level})")
    source = ""
    if dictionary:
        source = f' compression-dictionary("{dictionary}")'
        ferry += source
    values = {"FERRY_OPTIONS": ferry, "FERRY_SOURCE_OPTIONS": source}
    server, port = tools.start("logferry", "server", rundir, dict(values, OUT=out), listen=True)
    try:
        client = tools.client("logferry", rundir, port, logdir, values=values)
    except BaseException:
        server.stop()
        raise
    res = common.measure_e2e(name, [("client", client), ("server", server)], tailed, out, data, n,
                             lambda: common.tcp_bytes(port))
    res["wire"] = res["snap1"][0] - res["snap0"][0]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(os.path.dirname(HERE), "build-cmp"))
    ap.add_argument("--lines", type=int, default=100000)
    ap.add_argument("--levels", default="none 1 3 6")
    ap.add_argument("--kinds", default="nginx json syslog")
    ap.add_argument("--ferry-options", default="")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--dictionary", action="store_true")
    ap.add_argument("--train-lines", type=int, default=20000)
    ap.add_argument("--dictionary-size", type=int, default=112640)
    args = ap.parse_args()
    os.environ.setdefault("LOGFERRY", os.path.join(os.path.abspath(args.build), "logferry"))
    if not os.access(os.environ["LOGFERRY"], os.X_OK):
        sys.exit(f"ferry_compression: no logferry at {os.environ['LOGFERRY']} (see bench/client_compare.sh)")
    tools = common.Tools(confdirs=(os.path.join(HERE, "relay"),))
    tmp = tempfile.mkdtemp(prefix="logferry-ferry-compression.", dir=os.environ.get("TMPDIR", "/tmp"))
    n = args.lines
    common.log(f"machine: {os.cpu_count()} CPUs, load average {open('/proc/loadavg').read().split()[0]} at start")
    rows = []
    try:
        for kind in args.kinds.split():
            data = sample(kind, n)
            dictionary = train(tmp, kind, args.train_lines, args.dictionary_size) if args.dictionary else None
            for level in args.levels.split():
                r = run(tools, tmp, kind, level, data, n, args.ferry_options, dictionary)
                rows.append((kind, level + (" +dict" if dictionary else ""), len(data), r))
                common.log(f"{kind} level {level}: {r['wire'] / len(data) * 100:.1f} % of raw "
                           f"({r['wire'] / n:.1f} of {len(data) / n:.1f} B/line), lines {r['lines'] - 1} of {n}")
    finally:
        if args.keep:
            common.log(f"(temporary files kept in {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    common.log()
    common.log(f"ferry() client -> server, {n:,} lines a sample appended at once{args.ferry_options}:")
    common.log()
    common.log("| sample | raw B/line | zstd level | wire B/line | wire/raw | msgs/s | client CPU s/M | "
               "server CPU s/M | lines arrived |")
    common.log("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for kind, level, raw, r in rows:
        common.log(f"| {kind} | {raw / n:.1f} | {level} | {r['wire'] / n:.1f} | {100 * r['wire'] / raw:.1f} % | "
                   f"{r['rate']:,.0f} | {r['client_cpu'] / n * 1e6:.2f} | {r['server_cpu'] / n * 1e6:.2f} | "
                   f"{r['lines'] - 1} |")
    return common.finish()


if __name__ == "__main__":
    common.run_main(main, "ferry_compression")
