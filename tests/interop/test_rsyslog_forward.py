#!/usr/bin/env python3
"""Interop test: a real rsyslog forwards to logferry over TCP.

A private rsyslogd (`rsyslogd -n -f CONF -i PIDFILE -M MODULEDIR`, its own
workDirectory in a temporary directory, free random loopback ports) reads RFC
5424 messages that this test sends to its imtcp inputs and forwards them with
omfwd over TCP to logferry

  * rfc3164: template RSYSLOG_ForwardFormat,
    `<PRI>TIMESTAMP(RFC 3339, high precision) HOSTNAME TAG MSG`, one per line;
  * rfc5424: template RSYSLOG_SyslogProtocol23Format with
    TCP_Framing="octet-counted" (rsyslog counts the template's final LF into
    the frame);
  * rfc5424-lines: the same template with omfwd's default (LF) framing, read
    by a logferry network() source.

logferry (keep-hostname(yes)) receives them on network() and syslog()
sources and writes HOST, PROGRAM, PID, MSGID, MSG, FACILITY_NUM, LEVEL_NUM,
ISODATE and SDATA; every field must be what rsyslog sent, and every message
(about 30 varied ones, then a few thousand simple ones) must arrive exactly
once, in order.  rsyslog also sends the same bytes to a capture
listener, so that a mismatch report shows the exact wire frame.

rsyslog conflicts with syslog-ng-core in Debian, so the test runs rsyslogd
from the unpacked Debian package: fetch-rsyslog.sh (next to this script)
downloads and unpacks it into --rsyslog-dir once.  --rsyslogd (or $RSYSLOGD)
runs an installed rsyslogd instead.

Usage:  test_rsyslog_forward.py [--rsyslog-dir DIR [--no-fetch] | --rsyslogd PATH] [--keep-tmp] [-v]
                                LOGFERRY
Exit status: 0 pass, 1 mismatch or harness failure, 77 rsyslogd is not
available (fetch-rsyslog.sh could not download it).
"""

import argparse
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, HERE)
import interop_common as ic  # noqa: E402

FETCH_UNAVAILABLE = 77  # fetch-rsyslog.sh: the package could not be downloaded


def expected_rfc3164(c):
    """What RSYSLOG_ForwardFormat carries:
    "<%PRI%>%TIMESTAMP:::date-rfc3339% %HOSTNAME% %syslogtag:1:32%%msg:::sp-if-no-1st-sp%%msg%"."""
    msg = (ic.BOM if c.bom else "") + c.msg
    if not c.bom and msg.startswith(" "):
        # rsyslog adds no separator before a message that starts with a space
        # (for RFC 3164 input rsyslog keeps the separator in %msg%), so the
        # receiver takes the first of those spaces as the separator.
        msg = msg[1:]
    return {
        # rsyslog writes a NIL HOSTNAME as "-"; RFC 3164 has no NILVALUE, so
        # "-" is the hostname that was sent.
        "HOST": c.host or "-",
        # For RFC 5424 input rsyslog's TAG is APP-NAME[PROCID], or APP-NAME
        # for a NIL PROCID, without a colon.
        "PROGRAM": c.app,
        "PID": c.procid,
        "MSGID": "",
        # The BOM is part of %msg%; RFC 3164 gives it no meaning, so it stays.
        "MSG": msg,
        "FACILITY_NUM": str(c.fac),
        "LEVEL_NUM": str(c.sev),
        # RFC 3339 stamp with the sender's offset and fraction.
        "ISODATE": c.isodate(6),
        "SDATA": "",
    }


def expected_rfc3164_traditional(c):
    """What RSYSLOG_TraditionalForwardFormat carries:
    "<%PRI%>%TIMESTAMP% %HOSTNAME% %syslogtag:1:32%%msg:::sp-if-no-1st-sp%%msg%"."""
    e = expected_rfc3164(c)
    # %TIMESTAMP% is the stamp's own wall-clock time without year, fraction
    # or offset; logferry reads it in UTC (recv-time-zone("UTC")).
    e["ISODATE"] = c.local_time().strftime("%Y-%m-%dT%H:%M:%S") + ".000000+00:00"
    return e


def expected_rfc5424(c):
    """What RSYSLOG_SyslogProtocol23Format carries:
    "<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% %PROCID% %MSGID% %STRUCTURED-DATA% %msg%\\n"."""
    return {
        # A NIL HOSTNAME: the sender's address, as syslog-ng does.
        "HOST": c.host or ic.LOOPBACK,
        "PROGRAM": c.app,
        "PID": c.procid,
        "MSGID": c.msgid,
        # The BOM opens MSG (RFC 5424 6.4); the LF that rsyslog's template
        # puts at the end of the frame ends the message, it is not part of it.
        "MSG": c.msg,
        "FACILITY_NUM": str(c.fac),
        "LEVEL_NUM": str(c.sev),
        "ISODATE": c.isodate(6),
        # %STRUCTURED-DATA% is the text as received, escapes and repeated
        # PARAM-NAMEs included.
        "SDATA": ic.sd_text(c.sd),
    }


class RsyslogPeer:
    name = "rsyslog"

    def __init__(self, rsyslogd, moddir, lib_dirs):
        self.rsyslogd = rsyslogd
        self.moddir = moddir
        self.lib_dirs = lib_dirs
        self.daemon = None
        self.paths = [
            ic.Path("rfc3164", "omfwd TCP, template RSYSLOG_ForwardFormat", "network", "lines",
                    expected_rfc3164),
            ic.Path("rfc3164-traditional", "omfwd TCP, template RSYSLOG_TraditionalForwardFormat "
                    "(omfwd's default)", "network", "lines", expected_rfc3164_traditional),
            ic.Path("rfc5424", 'omfwd TCP, RSYSLOG_SyslogProtocol23Format, TCP_Framing="octet-counted"',
                    "syslog", "octet-counted", expected_rfc5424, input_framing="octet-counted"),
            ic.Path("rfc5424-lines", "omfwd TCP, RSYSLOG_SyslogProtocol23Format, traditional "
                    "(LF) framing", "network", "lines", expected_rfc5424),
        ]

    def proc(self):
        return self.daemon.proc if self.daemon else None

    def _config(self, workdir, in_ports, lf_ports, cap_ports):
        actions = {
            "rfc3164": lambda port: (f'action(type="omfwd" target="{ic.LOOPBACK}" port="{port}" '
                                     f'protocol="tcp" template="RSYSLOG_ForwardFormat")'),
            "rfc5424": lambda port: (f'action(type="omfwd" target="{ic.LOOPBACK}" port="{port}" '
                                     f'protocol="tcp" template="RSYSLOG_SyslogProtocol23Format" '
                                     f'TCP_Framing="octet-counted")'),
            "rfc3164-traditional": lambda port: (f'action(type="omfwd" target="{ic.LOOPBACK}" '
                                                 f'port="{port}" protocol="tcp" '
                                                 f'template="RSYSLOG_TraditionalForwardFormat")'),
            "rfc5424-lines": lambda port: (f'action(type="omfwd" target="{ic.LOOPBACK}" port="{port}" '
                                           f'protocol="tcp" template="RSYSLOG_SyslogProtocol23Format")'),
        }
        work = os.path.join(workdir, "rsyslog-work")
        os.makedirs(work, exist_ok=True)
        parts = [f"""# Generated by test_rsyslog_forward.py.
global(workDirectory="{work}" maxMessageSize="64k"
       # Multi-line messages arrive octet-counted; forward their LFs as
       # they are instead of as "#012".
       parser.escapeControlCharactersOnReceive="off")
# One worker keeps the order in which the messages were received.
main_queue(queue.workerThreads="1")
module(load="imtcp")
"""]
        for p in self.paths:
            n = p.name.replace("-", "_")
            # Each input has its own ruleset, so rsyslog's own messages (which
            # go to the default ruleset) are not forwarded.
            parts.append(f"""input(type="imtcp" address="{ic.LOOPBACK}" port="{in_ports[p.name]}" ruleset="fwd_{n}")
ruleset(name="fwd_{n}") {{
  {actions[p.name](lf_ports[p.name])}
  {actions[p.name](cap_ports[p.name])}
}}
""")
        return "\n".join(parts)

    def start(self, workdir, lf_ports, cap_ports):
        env = dict(os.environ, TZ="UTC")
        if self.lib_dirs:
            env["LD_LIBRARY_PATH"] = ":".join(self.lib_dirs + [env.get("LD_LIBRARY_PATH", "")]).rstrip(":")
        last = None
        for _attempt in range(3):
            in_ports = dict(zip((p.name for p in self.paths), ic.free_ports(len(self.paths))))
            conf = os.path.join(workdir, "rsyslog.conf")
            with open(conf, "w", encoding="utf-8") as f:
                f.write(self._config(workdir, in_ports, lf_ports, cap_ports))
            cmd = [self.rsyslogd, "-n", "-f", conf, "-i", os.path.join(workdir, "rsyslogd.pid"),
                   "-M", self.moddir]
            self.daemon = ic.Daemon("rsyslog", cmd, os.path.join(workdir, "rsyslog.log"),
                                    env=env, cwd=workdir)
            try:
                ic.wait_until(lambda: set(in_ports.values()) <= ic.listening_ports(),
                              ic.START_TIMEOUT, f"rsyslogd to listen on {sorted(in_ports.values())}",
                              procs=[("rsyslogd", self.daemon.proc)])
                return in_ports
            except RuntimeError as e:
                last = e
                self.daemon.stop()
        raise RuntimeError(f"rsyslogd did not start: {last}")

    def stop(self):
        return self.daemon.stop() if self.daemon else None

    def output(self):
        return self.daemon.output() if self.daemon else ""


def module_dir(root):
    """rsyslog's module directory below root (usr/lib/<multiarch>/rsyslog)."""
    for pattern in ("usr/lib/*/rsyslog", "usr/lib/rsyslog", "usr/lib64/rsyslog", "lib/*/rsyslog"):
        for d in sorted(glob.glob(os.path.join(root, pattern))):
            if os.path.exists(os.path.join(d, "imtcp.so")):
                return d
    return None


def find_rsyslog(args):
    """(rsyslogd, moddir, lib_dirs) or None (with the reason printed)."""
    explicit = args.rsyslogd or os.environ.get("RSYSLOGD")
    if explicit:
        if not os.access(explicit, os.X_OK):
            print(f"rsyslogd {explicit!r} is not executable")
            return None
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(explicit))))
        moddir = module_dir(root) or module_dir("/")
        if moddir is None:
            print(f"no rsyslog module directory (with imtcp.so) found for {explicit}")
            return None
        return explicit, moddir, []
    root = os.path.abspath(args.rsyslog_dir or os.environ.get("RSYSLOG_DIR")
                           or "/tmp/logferry-rsyslog-pkg")
    fetch = [os.path.join(HERE, "fetch-rsyslog.sh")] + (["--check"] if args.no_fetch else [])
    p = subprocess.run(["bash"] + fetch + [root], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=600)
    out = p.stdout.decode("utf-8", "replace")
    if p.returncode != 0:
        print(out.rstrip())
        if p.returncode == FETCH_UNAVAILABLE:
            return None
        raise RuntimeError(f"fetch-rsyslog.sh failed with status {p.returncode}")
    rsyslogd = out.strip().splitlines()[-1]
    moddir = module_dir(root)
    if moddir is None:
        raise RuntimeError(f"no rsyslog module directory with imtcp.so below {root}")
    lib_dirs = [d for d in sorted(glob.glob(os.path.join(root, "usr/lib/*-linux-gnu"))
                                  + glob.glob(os.path.join(root, "lib/*-linux-gnu")))
                if os.path.isdir(d)]
    return rsyslogd, moddir, lib_dirs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("logferry", help="path to the logferry binary")
    ap.add_argument("--rsyslog-dir", help="where fetch-rsyslog.sh unpacks rsyslog "
                    "(default: $RSYSLOG_DIR, else /tmp/logferry-rsyslog-pkg)")
    ap.add_argument("--no-fetch", action="store_true",
                    help="only use what is already unpacked in the rsyslog dir (ctest's fixture "
                    "interop_fetch_rsyslog fetched it); skip when it is not there")
    ap.add_argument("--rsyslogd", help="an installed rsyslogd to use instead (default: $RSYSLOGD)")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temporary directory")
    ap.add_argument("-v", "--verbose", action="store_true", help="also list the matching messages")
    args = ap.parse_args()
    ic.setup_output()

    try:
        found = find_rsyslog(args)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print(f"FAIL: {e}")
        return 1
    if found is None:
        print("SKIP: rsyslogd is not available")
        return ic.SKIP
    rsyslogd, moddir, lib_dirs = found
    env = dict(os.environ)
    if lib_dirs:
        env["LD_LIBRARY_PATH"] = ":".join(lib_dirs)
    v = subprocess.run([rsyslogd, "-v"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    print(f"rsyslogd: {rsyslogd}: {v.stdout.decode('utf-8', 'replace').splitlines()[:1]}")
    print(f"modules:  {moddir}")
    print(f"logferry: {args.logferry}")
    return ic.run(RsyslogPeer(rsyslogd, moddir, lib_dirs), args.logferry,
                  keep_tmp=args.keep_tmp, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
