#!/usr/bin/env python3
"""Runs the real logferry binary's command line: parse, --version, --help, errors."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
import lfharness as h  # noqa: E402  (run_logferry: a sanitizer report ends the script as a failure)

LOGFERRY = sys.argv[1]
failures = []
passed = 0


def run(args, stdin=b""):
    p = h.run_logferry([LOGFERRY] + args, input=stdin, capture_output=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def check(name, cond, detail=""):
    global passed
    if cond:
        passed += 1
    else:
        failures.append(f"{name}: {detail}")
        print(f"FAIL {name}: {detail}")


def parse(stdin, *args):
    rc, out, err = run(["parse", *args], stdin)
    check(f"parse {args} exit", rc == 0, f"rc={rc} stderr={err!r}")
    return [json.loads(line) for line in out.decode().splitlines()]


# The example, every key.
recs = parse(b"<34>Oct 11 22:14:15 mymachine su[123]: hi\n")
check("example count", len(recs) == 1, recs)
r = recs[0]
expect = {"HOST": "mymachine", "PROGRAM": "su", "PID": "123", "MSGID": "", "MESSAGE": "hi",
          "FACILITY": 4, "LEVEL": 2, "PRI": 34, "SDATA": {}}
for k, v in expect.items():
    check(f"example {k}", r.get(k) == v, f"{r.get(k)!r} != {v!r}")
check("example ISODATE", r["ISODATE"].endswith("-10-11T22:14:15+00:00"), r["ISODATE"])
check("example no parse_error", "parse_error" not in r, r)

# RFC 5424 with structured data, escapes and a BOM.
recs = parse(b'<165>1 2003-10-11T22:14:15.003-07:00 host.example.com evntslog 99 ID47 '
             b'[exampleSDID@32473 iut="3" eventSource="App\\"x\\]"][meta seq="1"] \xef\xbb\xbfAn event\n')
r = recs[0]
check("5424 fields", (r["HOST"], r["PROGRAM"], r["PID"], r["MSGID"], r["MESSAGE"]) ==
      ("host.example.com", "evntslog", "99", "ID47", "An event"), r)
check("5424 pri", (r["FACILITY"], r["LEVEL"], r["PRI"]) == (20, 5, 165), r)
check("5424 isodate", r["ISODATE"] == "2003-10-11T22:14:15.003-07:00", r["ISODATE"])
check("5424 sdata", r["SDATA"] == {"exampleSDID@32473": {"iut": "3", "eventSource": 'App"x]'},
                                   "meta": {"seq": "1"}}, r["SDATA"])

# Malformed input is kept and marked.
recs = parse(b"<13>1 2003-10-11T22:14:15Z host app - - [broken\n<999>hello\n")
check("malformed count", len(recs) == 2, recs)
check("malformed 5424 kept", recs[0]["MESSAGE"] == "<13>1 2003-10-11T22:14:15Z host app - - [broken", recs[0])
check("malformed 5424 marked", "STRUCTURED-DATA" in recs[0].get("parse_error", ""), recs[0])
check("bad pri kept", recs[1]["MESSAGE"] == "<999>hello" and "PRI" in recs[1].get("parse_error", ""), recs[1])

# Octet counting, auto-detected, and fixed lines framing.
frame = b"<13>1 - h a - - - one"
recs = parse(str(len(frame)).encode() + b" " + frame + str(len(frame)).encode() + b" " + frame)
check("octet counted", [x["MESSAGE"] for x in recs] == ["one", "one"], recs)
recs = parse(b"5 hello\n", "--framing", "lines", "--no-parse")
check("lines framing", [x["MESSAGE"] for x in recs] == ["5 hello"], recs)

# A megabyte without a newline is cut at --max-size, counted, and the stream stays in sync.
rc, out, err = run(["parse", "--max-size", "1000", "--no-parse"], b"x" * 1_000_000 + b"\nafter\n")
lines = [json.loads(l) for l in out.decode().splitlines()]
check("long line count", len(lines) == 2, len(lines))
check("long line cut", len(lines[0]["MESSAGE"]) == 1000 and lines[1]["MESSAGE"] == "after", lines[1:])
check("long line reported", b"1 cut at --max-size" in err, err)

# Templates.
rc, out, err = run(["parse", "--template", "$HOST|$PROGRAM|$(uppercase $MSG)|$FACILITY/$LEVEL"],
                   b"<38>Oct  1 01:02:03 web1 sshd[42]: accepted\n")
check("template", out == b"web1|sshd|ACCEPTED|auth/info\n", out)
rc, out, err = run(["parse", "--template", "$(nosuchfunc $MSG)"])
check("bad template exit", rc == 2, rc)
check("bad template message", b"unknown template function 'nosuchfunc'" in err, err)

# HOST falls back to the peer's address; time zone for stamps without offset.
rc, out, err = run(["parse", "--source-ip", "192.0.2.7", "--time-zone", "+02:00",
                    "--template", "$HOST $ISODATE"], b"<13>Jun  1 10:00:00 su: x\n")
check("source-ip host", out.decode().startswith("192.0.2.7 "), out)
check("time-zone", out.decode().rstrip().endswith("-06-01T10:00:00+02:00"), out)
rc, out, err = run(["parse", "--time-zone", "Mars/Olympus"])
check("bad time zone", rc == 2 and b"Mars/Olympus" in err, err)

# Invalid UTF-8 passes through unchanged in templates, escaped in JSON.
rc, out, err = run(["parse", "--no-parse", "--template", "$MSG"], b"caf\xc3\xa9 \xff\xfe\n")
check("invalid utf8 template", out == b"caf\xc3\xa9 \xff\xfe\n", out)
recs = parse(b"caf\xc3\xa9 \xff\n", "--no-parse")
check("invalid utf8 json", recs[0]["MESSAGE"] == "caf\u00e9 \\xff", recs[0])

# Version, help, errors.
rc, out, _ = run(["--version"])
check("version", rc == 0 and out.startswith(b"logferry "), out)
rc, out, _ = run(["--help"])
check("help", rc == 0 and b"parse" in out, out)
rc, out, _ = run(["help", "parse"])
check("help parse", rc == 0 and b"--template" in out and b"--framing" in out, out)
rc, _, err = run(["frobnicate"])
check("unknown command", rc == 2 and b"unknown command 'frobnicate'" in err, err)
rc, _, err = run(["parse", "--format", "xml"])
check("bad format", rc == 2 and b"expected auto, rfc3164 or rfc5424" in err, err)

# `logferry state show`: positions a file source saved, read back.
import json, os, tempfile, time
with tempfile.TemporaryDirectory() as d:
    logdir, state = os.path.join(d, "logs"), os.path.join(d, "state")
    os.mkdir(logdir)
    with open(os.path.join(logdir, "a.log"), "w") as f:
        f.write("one\ntwo\n")
    conf = os.path.join(d, "c.conf")
    with open(conf, "w") as f:
        f.write('@version: 4.0\nsource s { file("%s/*.log"); };\n'
                'destination o { file("%s/out"); };\nlog { source(s); destination(o); };\n' % (logdir, d))
    p = subprocess.Popen([LOGFERRY, "run", "-f", conf, "--persist-dir", state], stderr=subprocess.PIPE)
    for _ in range(200):  # until both lines are written out
        if os.path.exists(os.path.join(d, "out")) and open(os.path.join(d, "out"), "rb").read().count(b"\n") == 2:
            break
        time.sleep(0.05)
    p.terminate()
    _, run_err = p.communicate(timeout=30)
    check("run: no sanitizer report", not h.sanitizer_reports_in(run_err.decode("utf-8", "replace"), "logferry run"),
          run_err[-4000:])
    rc, out, err = run(["state", "show", "--persist-dir", state, "--json"])
    entries = json.loads(out) if rc == 0 else []
    check("state show json", len(entries) == 1 and entries[0]["position"] == 8 and entries[0]["behind"] == 0
          and entries[0]["path"].endswith("/a.log"), (rc, out, err))
    rc, out, err = run(["state", "show", "--persist-dir", state])
    check("state show table", rc == 0 and b"a.log" in out and b"POSITION" in out, out)
    rc, out, err = run(["state", "show", "--persist-dir", os.path.join(d, "nothing")])
    check("state show empty", rc == 0 and b"no saved positions" in err, err)
    rc, _, err = run(["state", "frob"])
    check("state bad subcommand", rc == 2 and b"usage: logferry state show" in err, err)

print(f"{passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
