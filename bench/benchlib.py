"""What the database benchmarks (clickhouse.py, sql.py) share: the messages
they send, the sender, and the CPU and memory figures of a process."""
import os
import socket
import threading

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
