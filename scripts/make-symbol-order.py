#!/usr/bin/env python3
"""Writes packaging/logferry.order: the functions logferry runs, for lld to
place side by side (CMakeLists.txt, LOGFERRY_LEAN_BINARY).

The kernel maps a program's code 64 KiB around every page it touches, so the
resident size of logferry's code depends on how far apart the functions it
runs are.  This runs the logferry of BUILD under callgrind in two short
workloads and lists every function of the binary that ran:

  client  wildcard-file() of 100 files -> network() over TCP to a sink,
          idle ticks, then new lines in a few files;
  server  network() TCP source -> file() destination, a few hundred lines.

The client's functions come first, so that a client touches the front of
the ordered code only.  Names that a later change renames are ignored by the
linker (the order only degrades): run this again after large changes.

Usage: scripts/make-symbol-order.py [BUILD]   (default: build)
Needs valgrind (callgrind).  Takes about a minute.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sink(port, stop):
    """Accepts connections and discards what they send."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(4)
    srv.settimeout(0.5)
    while not stop.is_set():
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
        threading.Thread(target=lambda c=conn: [None for _ in iter(lambda: c.recv(65536), b"")], daemon=True).start()
    srv.close()


def functions_run(callgrind_out, binary):
    """The (mangled) names of the functions of `binary` that ran."""
    names, objects, current, ran = {}, {}, None, set()
    for line in open(callgrind_out, errors="replace"):
        m = re.match(r"^(c?ob)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            if m.group(3):
                objects[m.group(2)] = m.group(3)
            if m.group(1) == "ob":
                current = objects.get(m.group(2))
            continue
        m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            if m.group(3):
                names[m.group(2)] = m.group(3)
            if m.group(1) == "fn" and current and os.path.realpath(current) == os.path.realpath(binary):
                ran.add(names[m.group(2)])
    return ran


def run_under_callgrind(binary, config, out, feed, seconds):
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--demangle=no", "--callgrind-out-file=" + out,
                             binary, "run", "-f", config],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        feed()
        time.sleep(seconds)
    finally:
        proc.send_signal(2)
        proc.wait(timeout=120)


def client_workload(binary, tmp):
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    for i in range(100):
        with open(os.path.join(logs, f"f{i}.log"), "w") as f:
            f.write(f"first line of file {i}\n")
    port = free_port()
    stop = threading.Event()
    threading.Thread(target=sink, args=(port, stop), daemon=True).start()
    config = os.path.join(tmp, "client.conf")
    with open(config, "w") as f:
        f.write(f"""@version: 4.0
options {{ stats-freq(0); persist-dir("{tmp}/client-state"); }};
source s {{ wildcard-file(base-dir("{logs}") filename-pattern("*.log") max-files(5000)); }};
destination d {{ network("127.0.0.1" port({port}) transport("tcp")); }};
log {{ source(s); destination(d); flags(flow-control); }};
""")
    os.makedirs(os.path.join(tmp, "client-state"))

    def feed():
        time.sleep(15)  # startup under callgrind, then idle ticks
        for i in range(5):
            with open(os.path.join(logs, f"f{i}.log"), "a") as f:
                f.write("a new line\n" * 20)

    out = os.path.join(tmp, "client.callgrind")
    run_under_callgrind(binary, config, out, feed, 10)
    stop.set()
    return functions_run(out, binary)


def server_workload(binary, tmp):
    port = free_port()
    config = os.path.join(tmp, "server.conf")
    with open(config, "w") as f:
        f.write(f"""@version: 4.0
options {{ stats-freq(0); persist-dir("{tmp}/server-state"); }};
source s {{ network(ip("127.0.0.1") port({port}) transport("tcp")); }};
destination d {{ file("{tmp}/out/${{HOST}}/${{PROGRAM}}.log" create-dirs(yes)); }};
log {{ source(s); destination(d); }};
""")
    os.makedirs(os.path.join(tmp, "server-state"))

    def feed():
        deadline = time.time() + 60
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        with conn:
            for i in range(300):
                conn.sendall(f"<13>Dec  7 12:00:00 host{i % 3} app{i % 5}[42]: message {i}\n".encode())

    out = os.path.join(tmp, "server.callgrind")
    run_under_callgrind(binary, config, out, feed, 8)
    return functions_run(out, binary)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    binary = os.path.abspath(os.path.join(build, "logferry"))
    if not shutil.which("valgrind"):
        sys.exit("make-symbol-order: valgrind is needed")
    tmp = tempfile.mkdtemp(prefix="logferry-order-")
    try:
        client = client_workload(binary, tmp)
        server = server_workload(binary, tmp) - client
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    order = os.path.join(ROOT, "packaging", "logferry.order")
    with open(order, "w") as f:
        f.write("# The functions logferry runs, client's first: lld lays them out side by side.\n"
                "# Made by scripts/make-symbol-order.py; see CMakeLists.txt (LOGFERRY_LEAN_BINARY).\n")
        for name in sorted(client) + sorted(server):
            f.write(name + "\n")
    print(f"make-symbol-order: {len(client)} client and {len(server)} more server functions -> {order}")


if __name__ == "__main__":
    main()
