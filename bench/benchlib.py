"""What the database benchmarks (clickhouse.py, kafka.py, sql.py) share: the
messages they send, the sender, the CPU and memory figures of a process, and
one timed run of logferry."""
import os
import socket
import subprocess
import threading
import time

HZ = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of process pid (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def tree_cpu_seconds(pids):
    """cpu_seconds summed over pids that still exist."""
    total = 0.0
    for p in pids:
        try:
            total += cpu_seconds(p)
        except OSError:
            pass
    return total


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def message_chunks(count, step=10000):
    """count RFC 5424 lines of about 150 bytes, in chunks of step lines; the
    id in each message is its number, so that every row is told apart."""
    chunks = []
    for base in range(0, count, step):
        chunks.append(b"".join(
            b"<13>1 2026-12-07T16:00:00.000Z web%02d nginx %d - - GET /index.html?id=%09d HTTP/1.1 200 "
            b"user-agent=bench/1.0 ref=-\n" % (i % 50, 1000 + i % 30000, i)
            for i in range(base, min(base + step, count))))
    return chunks


def start_sender(port, chunks):
    """Sends chunks over one TCP connection to 127.0.0.1:port, on a thread
    (returned, started)."""
    def send():
        s = socket.create_connection(("127.0.0.1", port))
        for c in chunks:
            s.sendall(c)
        s.close()
    t = threading.Thread(target=send)
    t.start()
    return t


def arg_parser(doc, logferry_default, batch_lines):
    """The options every database benchmark takes: --logferry, --count and
    --batch-lines (default batch_lines)."""
    import argparse
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--logferry", default=logferry_default)
    ap.add_argument("--count", type=int, default=1000000)
    ap.add_argument("--batch-lines", default=batch_lines)
    return ap


def write_conf(path, destination):
    """Writes a logferry config to path: a TCP network() source on a free
    loopback port into `destination` (the body of destination d), on a
    flags(flow-control) path; returns the port."""
    import lfharness as h  # the callers put tests/server on sys.path
    port = h.free_port()
    with open(path, "w") as f:
        f.write(f"""@version: 4.0
options {{ stats-freq(0); log-fifo-size(100000); }};
source s {{ network(ip("127.0.0.1") port({port}) transport("tcp")); }};
destination d {{ {destination}; }};
log {{ source(s); destination(d); flags(flow-control); }};
""")
    return port


def timed_run(logferry, conf_path, port, count, stored, peer_pid):
    """Starts `logferry run -f conf_path` (its network() source on port,
    see write_conf()), sends count messages, waits until stored() >= count, and stops logferry.
    Returns (messages/s, logferry CPU s/M, peer CPU s/M, logferry peak RSS
    MiB); the peer is the process (a database, a broker) with pid peer_pid."""
    import lfharness as h  # the callers put tests/server on sys.path
    err = open(conf_path + ".stderr", "wb")
    lf = subprocess.Popen([logferry, "run", "-f", conf_path], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=err)
    try:
        h.wait_until(lambda: h.tcp_listening(port), what="logferry listening", timeout=30)
        # Messages built before the clock starts: the sender is not measured.
        chunks = message_chunks(count)
        lf_cpu0 = cpu_seconds(lf.pid)
        peer_cpu0 = cpu_seconds(peer_pid)
        t0 = time.monotonic()
        sender = start_sender(port, chunks)
        h.wait_until(lambda: stored() >= count, timeout=1800, interval=0.05,
                     what=lambda: f"{count} stored (have {stored()})")
        seconds = time.monotonic() - t0
        sender.join()
        lf_cpu = cpu_seconds(lf.pid) - lf_cpu0
        peer_cpu = cpu_seconds(peer_pid) - peer_cpu0
        return count / seconds, lf_cpu * 1e6 / count, peer_cpu * 1e6 / count, peak_rss_mib(lf.pid)
    finally:
        lf.terminate()
        lf.wait(timeout=60)
        err.close()
