#!/usr/bin/env python3
"""`logferry check` on broken and valid configs.

Every broken config must be rejected (exit 1) with exactly the expected
`file:line:col: error: ...` line, followed by the expected `  hint: ...` line
(or by no hint), and with no other error.  Every valid config must load
(exit 0) with only the expected warnings and print its resolved graph.

usage: test_config_errors.py path/to/logferry
"""
import os
import re
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
import lfharness  # noqa: E402  (run_logferry: a sanitizer report ends the script as a failure)

LOGFERRY = os.path.abspath(sys.argv[1])
REPO = Path(__file__).resolve().parents[2]

# The environment variable that a backtick may name.
ENV = dict(os.environ, TZ="UTC", LOGFERRY_TEST_PORT="5514")
for name in ("undefined_thing", "listen_prot"):
    ENV.pop(name, None)


def conf(text):
    """A config written in the table: the first line is line 1, indentation removed."""
    return textwrap.dedent(text).lstrip("\n")


class Hint:
    """A hint given as a regular expression (for lists that grow with new drivers)."""

    def __init__(self, pattern):
        self.pattern = pattern


class Line:
    """An error line given as a regular expression: the location and the message's start are
    exact, a list of known names that grows with new features is not."""

    def __init__(self, pattern):
        self.pattern = pattern

    def __str__(self):
        return self.pattern


# name, files ({path: text}; "bad.conf" is checked unless `check` names another),
# the error line, and the hint line's text (None: no hint follows).
ERRORS = [
    # ---- syntax ----
    ("missing ';' after '}'",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); }
        log { source(s_net); };
        """)},
     "bad.conf:3:1: error: expected ';' after the '}' that closes source s_net, found 'log'",
     "every block ends with '};'"),
    ("missing ';' after the last '}'",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); }
        """)},
     "bad.conf:2:37: error: expected ';' after the '}' that closes source s_net, found the end of the file",
     "every block ends with '};'"),
    ("missing ';' after a driver",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)) };
        """)},
     "bad.conf:2:35: error: expected ';' after network(...) in source s_net, found '}'",
     "end each driver and option with ';'"),
    ("missing '}' before the next statement",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net {
          network(port(514));

        destination d_all { file("/var/log/all"); };
        """)},
     "bad.conf:5:1: error: expected '}' to close source s_net before 'destination'",
     "a '}' is missing: every block ends with '};'"),
    ("missing '}' of a log statement",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); };
        log { source(s_net);
        destination d_all { file("/var/log/all"); };
        """)},
     "bad.conf:4:1: error: expected '}' to close log before 'destination'",
     "a '}' is missing: every block ends with '};'"),
    ("missing '}' at the end of the file",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net {
          network(port(514));
        """)},
     "bad.conf:3:22: error: expected a driver or option name in source s_net, found the end of the file",
     "a '}' is missing"),
    ("stray '}'",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); };
        };
        """)},
     "bad.conf:3:1: error: unexpected '}': no block is open here",
     "remove it, or look for a block closed twice"),
    ("unbalanced parentheses in a driver",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514); };
        """)},
     "bad.conf:2:33: error: expected a value or ')' in network(), found ';'",
     "a ')' is missing"),
    ("unbalanced parentheses in a filter",
     {"bad.conf": conf("""
        @version: 4.0
        filter f_err { level(err..emerg or program("kernel"); };
        """)},
     "bad.conf:2:21: error: unclosed '(' in filter f_err",
     "a ')' is missing before ';' at bad.conf:2:53"),
    ("unbalanced parentheses in an if condition",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); };
        destination d_err { file("/var/log/err"); };
        log { source(s_net); if (level(err) { destination(d_err); }; };
        """)},
     "bad.conf:4:25: error: unclosed '(' in if condition",
     "a ')' is missing before '{' at bad.conf:4:37"),
    ("elif without a condition",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); };
        destination d_all { file("/var/log/all"); };
        log { source(s_net); if (level(err)) { destination(d_all); } elif { destination(d_all); }; };
        """)},
     "bad.conf:4:67: error: expected '(' after elif, found '{'",
     "the condition goes in parentheses: elif (level(err)) { ... }"),
    ("unterminated string",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(ip("0.0.0.0) port(514)); };
        log { source(s_net); };
        """)},
     "bad.conf:2:27: error: unterminated string",
     "close the string with a matching quote"),
    ("unknown statement, did you mean",
     {"bad.conf": conf("""
        @version: 4.0
        sorce s_net { network(port(514)); };
        """)},
     "bad.conf:2:1: error: unknown statement 'sorce'",
     "did you mean 'source'?"),
    ("syslog-ng block definition",
     {"bad.conf": conf("""
        @version: 4.0
        block source my_src() { network(port(514)); };
        """)},
     "bad.conf:2:1: error: unknown statement 'block'",
     "syslog-ng's block definitions are not supported; write the objects out"),
    ("unknown pragma",
     {"bad.conf": conf("""
        @version: 4.0
        @modules "affile"
        """)},
     "bad.conf:2:1: error: unknown pragma '@modules'",
     "logferry knows @version:, @include, @define, @module and @requires"),
    ("missing ';' in a log path",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); };
        destination d_all { file("/var/log/all"); };
        log { source(s_net) destination(d_all); };
        """)},
     "bad.conf:4:21: error: expected ';' after source(s_net) in log, found 'destination'",
     "end each element of a log path with ';'"),
    ("unknown log path element",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); };
        destination d_all { file("/var/log/all"); };
        log { source(s_net); destinaton(d_all); };
        """)},
     "bad.conf:4:22: error: unknown log path element 'destinaton'",
     "did you mean 'destination'?"),

    # ---- drivers and options ----
    ("unknown source driver, did you mean",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { netwrk(port(514)); };
        log { source(s_net); };
        """)},
     "bad.conf:2:16: error: unknown source driver 'netwrk'",
     "did you mean 'network()'?"),
    ("unknown source driver, list",
     {"bad.conf": conf("""
        @version: 4.0
        source s_kafka { kafka(topic("logs")); };
        log { source(s_kafka); };
        """)},
     "bad.conf:2:18: error: unknown source driver 'kafka'",
     Hint(r"logferry's source drivers: (?=.*\binternal\(\))(?=.*\bnetwork\(\))(?=.*\bsyslog\(\))"
          r"(?=.*\bunix-stream\(\)).*")),
    ("unknown destination driver, did you mean",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); };
        destination d_all { fiel("/var/log/all"); };
        log { source(s_net); destination(d_all); };
        """)},
     "bad.conf:3:21: error: unknown destination driver 'fiel'",
     "did you mean 'file()'?"),
    ("unknown option, the README example",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net {
          network(prot(514));
        };
        log { source(s_net); };
        """)},
     "bad.conf:3:11: error: unknown option 'prot' in network() source",
     "did you mean 'port'?"),
    ("unknown option in file()",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); };
        destination d_host { file("/var/log/${HOST}.log" creat-dirs(yes)); };
        log { source(s_net); destination(d_host); };
        """)},
     "bad.conf:3:50: error: unknown option 'creat-dirs' in file() destination",
     "did you mean 'create-dirs'?"),
    # ---- file sources ----
    ("glob in a file() source's directory",
     {"bad.conf": conf("""
        @version: 4.0
        source s_app { file("/var/log/*/app.log"); };
        log { source(s_app); };
        """)},
     "bad.conf:2:21: error: file(\"/var/log/*/app.log\"): a glob is allowed in the file name only",
     "for several directories use wildcard-file(base-dir(...) filename-pattern(...) recursive(yes))"),
    ("wildcard-file() without base-dir()",
     {"bad.conf": conf("""
        @version: 4.0
        source s_app { wildcard-file(filename-pattern("*.log")); };
        log { source(s_app); };
        """)},
     Line(r"bad\.conf:2:\d+: error: wildcard-file\(\) needs base-dir\(\)"),
     'e.g. wildcard-file(base-dir("/var/log/app") filename-pattern("*.log"))'),
    ("unknown option in wildcard-file()",
     {"bad.conf": conf("""
        @version: 4.0
        source s_app { wildcard-file(base-dir("/var/log") filename-pattern("*.log") max-file(10)); };
        log { source(s_app); };
        """)},
     "bad.conf:2:77: error: unknown option 'max-file' in wildcard-file() source",
     "did you mean 'max-files'?"),
    ("bad monitor-method()",
     {"bad.conf": conf("""
        @version: 4.0
        source s_app { file("/var/log/app.log" monitor-method(fanotify)); };
        log { source(s_app); };
        """)},
     Line(r"bad\.conf:2:\d+: error: .*fanotify.*"),
     Hint(r".*")),
    ("unknown option in options {}",
     {"bad.conf": conf("""
        @version: 4.0
        options {
          keep_hostname(yes);
          chain_hostname(no);
        };
        """)},
     "bad.conf:4:3: error: unknown option 'chain-hostname' in options",
     "did you mean 'chain-hostnames'?"),
    ("unknown option in options {}, nothing near",
     {"bad.conf": conf("""
        @version: 4.0
        options { log_rotate(daily); };
        """)},
     "bad.conf:2:11: error: unknown option 'log-rotate' in options",
     "see docs/configuration.md for the options of options { }"),
    ("port out of range",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(70000)); };
        log { source(s_net); };
        """)},
     "bad.conf:2:29: error: expected a whole number from 1 to 65535 in port() of network() source, found '70000'",
     "write a plain number, without quotes or units: port(N)"),
    ("port without a value",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port()); };
        log { source(s_net); };
        """)},
     "bad.conf:2:24: error: expected one value in port() of network() source, found nothing",
     "write port(value)"),
    ("yes/no expected",
     {"bad.conf": conf("""
        @version: 4.0
        options { keep-hostname(maybe); };
        """)},
     "bad.conf:2:25: error: expected yes or no in keep-hostname() of options, found 'maybe'",
     "write keep-hostname(yes) or keep-hostname(no)"),
    ("octal permission",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); };
        destination d_all { file("/var/log/all" perm(0698)); };
        log { source(s_net); destination(d_all); };
        """)},
     "bad.conf:3:46: error: expected an octal mode such as 0640 in perm() of file() destination, found '0698'",
     "write perm(0640): owner, group and others, each 0 to 7"),
    ("unknown transport",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(transport("tpc") port(514)); };
        log { source(s_net); };
        """)},
     "bad.conf:2:34: error: unknown value 'tpc' in transport() of network() source",
     "did you mean 'tcp'? (expected one of udp, tcp, tls, udp6, tcp6)"),
    ("transport tls not supported",
     {"bad.conf": conf("""
        @version: 4.0
        source s_tls { network(port(6514) transport("tls")); };
        log { source(s_tls); };
        """)},
     "bad.conf:2:35: error: transport(\"tls\") is not supported yet",
     "use tcp, or terminate TLS in front of logferry"),
    ("listen address written as a value",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network("10.0.0.1" port(514)); };
        log { source(s_net); };
        """)},
     "bad.conf:2:24: error: unexpected value '10.0.0.1' in network() source",
     "write the listen address as ip(\"10.0.0.1\")"),
    ("unknown source flag",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514) flags(no-parse, no_prase)); };
        log { source(s_net); };
        """)},
     "bad.conf:2:50: error: unknown flag 'no-prase' in flags() of network() source",
     "did you mean 'no-parse'?"),
    ("bad time zone",
     {"bad.conf": conf("""
        @version: 4.0
        options { time-zone("Mars/Olympus_Mons"); };
        """)},
     "bad.conf:2:11: error: invalid time-zone('Mars/Olympus_Mons'): unknown time zone: "
     "/usr/share/zoneinfo/Mars/Olympus_Mons",
     "use an offset such as +01:00, UTC, local, or a name from /usr/share/zoneinfo"),

    # ---- references, names, filters ----
    ("undefined source, did you mean",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); };
        destination d_all { file("/var/log/all"); };
        log { source(s_nte); destination(d_all); };
        """)},
     "bad.conf:4:7: error: undefined source 's_nte'",
     "did you mean 's_net'?"),
    ("undefined source",
     {"bad.conf": conf("""
        @version: 4.0
        destination d_all { file("/var/log/all"); };
        log { source(s_remote); destination(d_all); };
        """)},
     "bad.conf:3:7: error: undefined source 's_remote'",
     "define it with source s_remote { ... };"),
    ("undefined filter",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); };
        filter f_error { level(err..emerg); };
        destination d_all { file("/var/log/all"); };
        log { source(s_net); filter(f_errors); destination(d_all); };
        """)},
     "bad.conf:5:22: error: undefined filter 'f_errors'",
     "did you mean 'f_error'?"),
    ("undefined destination",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); };
        log { source(s_net); destination(d_archive); };
        """)},
     "bad.conf:3:22: error: undefined destination 'd_archive'",
     "define it with destination d_archive { ... };"),
    ("undefined template, did you mean",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); };
        template t_line { template("${ISODATE} ${HOST} ${MSG}\\n"); };
        destination d_all { file("/var/log/all" template(t_lien)); };
        log { source(s_net); destination(d_all); };
        """)},
     "bad.conf:4:50: error: undefined template 't_lien' in file()",
     "did you mean 't_line'?"),
    ("undefined template",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); };
        destination d_all { file("/var/log/all" template("t_json")); };
        log { source(s_net); destination(d_all); };
        """)},
     "bad.conf:3:50: error: undefined template 't_json' in file()",
     "define it with template t_json { template(\"${ISODATE} ${HOST} ${MSG}\\n\"); }; "
     "or write the template itself, with its macros"),
    ("duplicate source",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); };
        destination d_all { file("/var/log/all"); };
        source s_net { network(port(601) transport("tcp")); };
        log { source(s_net); destination(d_all); };
        """)},
     "bad.conf:4:1: error: duplicate source 's_net': first defined at bad.conf:2:1",
     "give each source a different name"),
    ("duplicate filter",
     {"bad.conf": conf("""
        @version: 4.0
        filter f_err { level(err); };
        filter f_err { level(crit); };
        """)},
     "bad.conf:3:1: error: duplicate filter 'f_err': first defined at bad.conf:2:1",
     "give each filter a different name"),
    ("filter cycle",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); };
        filter f_a { level(err) and filter(f_b); };
        filter f_b { program("sshd") or filter(f_a); };
        destination d_all { file("/var/log/all"); };
        log { source(s_net); filter(f_a); destination(d_all); };
        """)},
     "bad.conf:4:40: error: filter cycle: f_a -> f_b -> f_a (filter(f_a) in filter f_b)",
     "a filter cannot refer to itself, directly or through other filters"),
    ("filter referring to itself",
     {"bad.conf": conf("""
        @version: 4.0
        filter f_self { not filter(f_self); };
        """)},
     "bad.conf:2:28: error: filter cycle: f_self -> f_self (filter(f_self) in filter f_self)",
     "a filter cannot refer to itself, directly or through other filters"),
    ("invalid RE2 regex",
     {"bad.conf": conf("""
        @version: 4.0
        filter f_bad { message("(foo|bar"); };
        """)},
     "bad.conf:2:24: error: invalid regular expression '(foo|bar': missing ): (foo|bar "
     "(logferry uses RE2: no backreferences or lookaround) (in filter f_bad)",
     None),
    ("RE2 has no lookaround",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); };
        destination d_all { file("/var/log/all"); };
        log { source(s_net); filter { message("^(?!debug)"); }; destination(d_all); };
        """)},
     "bad.conf:4:39: error: invalid regular expression '^(?!debug)': invalid perl operator: (?! "
     "(logferry uses RE2: no backreferences or lookaround) (in inline filter)",
     None),
    ("unknown filter function",
     {"bad.conf": conf("""
        @version: 4.0
        filter f_ssh { progam("sshd"); };
        """)},
     Line(re.escape("bad.conf:2:16: error: unknown filter function 'progam'; expected facility, level, ")
          + ".*" + re.escape("program, message, match, tags") + ".*" + re.escape(" (in filter f_ssh)")),
     "did you mean 'program()'?"),
    ("bad level name",
     {"bad.conf": conf("""
        @version: 4.0
        filter f_err { level(errr..emerg); };
        """)},
     "bad.conf:2:22: error: unknown level 'errr'; expected emerg, alert, crit, err, warning, notice, "
     "info, debug (in filter f_err)",
     "did you mean 'err'?"),
    ("incomplete filter expression",
     {"bad.conf": conf("""
        @version: 4.0
        filter f_err { level(err) and };
        """)},
     "bad.conf:2:31: error: expected a filter (facility(), level(), program(), match(), a comparison, "
     "'not' or '('), found the end of the input (in filter f_err)",
     None),
    ("unknown log flag",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); };
        destination d_all { file("/var/log/all"); };
        log { source(s_net); destination(d_all); flags(final, fallbak); };
        """)},
     "bad.conf:4:55: error: unknown log flag 'fallbak'",
     "did you mean 'fallback'?"),
    ("source inside a nested log",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); };
        destination d_all { file("/var/log/all"); };
        log {
          source(s_net);
          log { source(s_net); destination(d_all); };
        };
        """)},
     "bad.conf:6:9: error: a source inside a nested log statement",
     "put sources in the top-level log { } statement"),

    # ---- preprocessor: @include, @define, `backticks` ----
    ("@include of a missing file",
     {"bad.conf": conf("""
        @version: 4.0
        @include "conf.d/missing.conf"
        """)},
     "bad.conf:2:10: error: cannot include 'conf.d/missing.conf': no such file",
     "relative paths are resolved from the including file's directory (.)"),
    ("@include of a missing file from an included file",
     {"bad.conf": conf("""
        @version: 4.0
        @include "conf.d/main.conf"
        """),
      "conf.d/main.conf": conf("""
        # sources
        @include "sources.conf"
        """)},
     "conf.d/main.conf:2:10: error: cannot include 'sources.conf': no such file",
     "relative paths are resolved from the including file's directory (conf.d)"),
    ("@include cycle",
     {"bad.conf": conf("""
        @version: 4.0
        @include "conf.d/a.conf"
        """),
      "conf.d/a.conf": '@include "b.conf"\n',
      "conf.d/b.conf": 'options { keep-hostname(yes); };\n@include "a.conf"\n'},
     "conf.d/b.conf:2:10: error: @include cycle: 'conf.d/a.conf' is already being read",
     "remove the @include that loops back"),
    ("error in an included file",
     {"bad.conf": conf("""
        @version: 4.0
        @include "conf.d/*.conf"
        destination d_all { file("/var/log/all"); };
        log { source(s_net); destination(d_all); };
        """),
      "conf.d/10-net.conf": conf("""
        # The network sources.

        source s_net {
          network(port(514) transport("tcp"));
          network(port(514) transprot("udp"));
        };
        """)},
     "conf.d/10-net.conf:5:21: error: unknown option 'transprot' in network() source",
     "did you mean 'transport'?"),
    ("syntax error in an included file",
     {"bad.conf": conf("""
        @version: 4.0
        @include "conf.d"
        """),
      "conf.d/net.conf": conf("""
        source s_net {
          network(port(514))
        };
        """)},
     "conf.d/net.conf:3:1: error: expected ';' after network(...) in source s_net, found '}'",
     "end each driver and option with ';'"),
    ("undefined `name`",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(`undefined_thing`)); };
        """)},
     "bad.conf:2:29: error: undefined `undefined_thing`",
     "define it with @define undefined_thing \"value\" before this line, or set the environment variable"),
    ("undefined `name`, did you mean",
     {"bad.conf": conf("""
        @version: 4.0
        @define listen_port "514"
        source s_net { network(port(`listen_prot`)); };
        """)},
     "bad.conf:3:29: error: undefined `listen_prot`",
     "did you mean `listen_port`?"),
    ("unterminated `",
     {"bad.conf": conf("""
        @version: 4.0
        source s_net { network(port(`listen_port)); };
        """)},
     "bad.conf:2:29: error: unterminated `",
     "close the name with a second backtick: `name`"),
    ("column as written after a `name` substitution",
     {"bad.conf": conf("""
        @version: 4.0
        @define ip "192.168.100.200"
        source s_net { network(ip(`ip`) prot(514)); };
        """)},
     "bad.conf:3:33: error: unknown option 'prot' in network() source",
     "did you mean 'port'?"),
    ("parser blocks are not supported",
     {"bad.conf": conf("""
        @version: 4.0
        parser p_kv { kv-parser(); };
        """)},
     "bad.conf:2:1: error: parser blocks are not supported yet",
     "remove the block and its references; logferry parses syslog headers itself"),
    # ---- ferry() ----
    ("ferry() destination without a host",
     {"bad.conf": conf("""
        @version: 4.0
        source s { internal(); };
        destination d { ferry(port(5140)); };
        log { source(s); destination(d); };
        """)},
     "bad.conf:3:17: error: expected the host to send to in ferry() destination",
     'write ferry("logs.example.com" port(5140)); for backups add failover(servers("b.example.com"))'),
    ("ferry() source with a positional address",
     {"bad.conf": conf("""
        @version: 4.0
        source s { ferry("0.0.0.0" port(5140)); };
        log { source(s); };
        """)},
     "bad.conf:2:18: error: unexpected value '0.0.0.0' in ferry() source",
     'write the listen address as ip("0.0.0.0")'),
    ("ferry() window of 0",
     {"bad.conf": conf("""
        @version: 4.0
        source s { internal(); };
        destination d { ferry("a" window(0)); };
        log { source(s); destination(d); };
        """)},
     "bad.conf:3:34: error: expected a whole number from 1 to 100000 in window() of ferry() destination, found '0'",
     "write a plain number, without quotes or units: window(N)"),
    ("ferry() failover without servers",
     {"bad.conf": conf("""
        @version: 4.0
        source s { internal(); };
        destination d { ferry("a" failover()); };
        log { source(s); destination(d); };
        """)},
     "bad.conf:3:27: error: failover() of ferry() destination needs servers()",
     'write failover(servers("backup1.example.com" "backup2.example.com"))'),
]

# The central-server example of the issue: syslog-ng's global options.
CENTRAL = conf("""
    @version: 4.0
    @include "scl.conf"

    options {
      chain-hostnames(no);
      keep-hostname(yes);
      use-dns(no);
      use-fqdn(no);
      dns-cache(no);
      owner("root");
      group("root");
      perm(0640);
      dir-perm(0750);
      create-dirs(yes);
      flush-lines(100);
      log-fifo-size(100000);
      log-msg-size(65536);
      stats-freq(3600);
      bad-hostname("^gconfd$");
      time-reopen(10);
      time-zone("UTC");
      frac-digits(3);
    };

    source s_remote {
      network(ip("0.0.0.0") port(514) transport("udp") so-rcvbuf(8388608));
      network(ip("0.0.0.0") port(514) transport("tcp") max-connections(1000));
      syslog(ip("0.0.0.0") port(601) transport("tcp"));
    };
    source s_local { internal(); };

    template t_file { template("${ISODATE} ${HOST} ${MSGHDR}${MSG}\\n"); };

    filter f_auth { facility(auth, authpriv) or program("^(sshd|sudo)$"); };
    filter f_emerg { level(emerg); };

    destination d_hosts {
      file("/var/log/remote/${HOST}/${YEAR}${MONTH}${DAY}.log" template(t_file) owner("root") group("root"));
    };
    destination d_auth { file("/var/log/remote/auth.log" template(t_file)); };
    destination d_local { file("/var/log/logferry.log"); };

    log { source(s_local); destination(d_local); flags(final); };
    log { source(s_remote); filter(f_auth); destination(d_auth); };
    log { source(s_remote); destination(d_hosts); flags(flow-control); };
    """)

# name, files ("good.conf" is checked; no files: conf/server.conf), lines the printed graph must
# hold, and the warnings stderr must hold (and nothing else).
VALID = [
    ("central server with syslog-ng's global options",
     {"good.conf": CENTRAL},
     ["    network() tcp 0.0.0.0:514", "    syslog() tcp 0.0.0.0:601", "  f_auth",
      '  t_file: "${ISODATE} ${HOST} ${MSGHDR}${MSG}\\n"',
      '    file() "/var/log/remote/${HOST}/${YEAR}${MONTH}${DAY}.log"', "  log flags(flow-control)"],
     ["good.conf:2:10: warning: @include \"scl.conf\" skipped: syslog-ng's SCL library is not needed, "
      "logferry's drivers are built in",
      "good.conf:19:3: warning: bad-hostname() is accepted but not acted on yet"]),
    ("no @version: is a warning only",
     {"good.conf": conf("""
        source s_local { internal(); };
        destination d_local { file("/var/log/logferry.log"); };
        log { source(s_local); destination(d_local); };
        """)},
     ["  s_local", "    internal()"],
     ["good.conf:1:1: warning: no @version: line; assuming the syntax of syslog-ng 4 (write @version: 4.0)"]),
    ("accepted-not-implemented options are warnings that name them",
     {"good.conf": conf("""
        @version: 4.0
        options { mark-freq(600); threaded(yes); };
        source s_net { network(port(514) transport("tcp") so-keepalive(yes) listen-backlog(256)); };
        destination d_all { file("/var/log/all" pad-size(1024)); };
        log { source(s_net); destination(d_all); };
        """)},
     ["    network() tcp 0.0.0.0:514"],
     ["good.conf:2:11: warning: mark-freq() of options is accepted but not acted on yet",
      "good.conf:2:27: warning: threaded() of options is accepted but not acted on yet",
      "good.conf:3:51: warning: so-keepalive() of network() source is accepted but not acted on yet",
      "good.conf:3:69: warning: listen-backlog() of network() source is accepted but not acted on yet",
      "good.conf:4:41: warning: pad-size() of file() destination is accepted but not acted on yet"]),
    ("@define and the environment in `backticks`",
     {"good.conf": conf("""
        @version: 4.0
        @define logdir "/srv/log"
        @define listen "127.0.0.1"
        # `not_substituted` in a comment
        source s_net { network(ip(`listen`) port(`LOGFERRY_TEST_PORT`) transport("tcp")); };  # `nor here`
        destination d_all { file("`logdir`/${HOST}/all.log"); };
        log { source(s_net); destination(d_all); };
        """)},
     ["    network() tcp 127.0.0.1:5514", '    file() "/srv/log/${HOST}/all.log"'],
     []),
    ("@include of a glob, of a directory and of an empty glob",
     {"good.conf": conf("""
        @version: 4.0
        @include "conf.d/*.conf"
        @include "paths.d"
        @include "empty.d/*.conf"
        """),
      "conf.d/10-sources.conf": 'source s_net { network(port(514)); };\n',
      "conf.d/20-destinations.conf": 'destination d_all { file("/var/log/all"); };\n',
      "conf.d/README": 'not a .conf file: not included\n',
      "paths.d/main": 'log { source(s_net); destination(d_all); };\n',
      "empty.d/.keep": ''},
     ["  s_net", "  d_all", "    source s_net", "    destination d_all"],
     []),
    ("inline objects, nested log, junction, if/elif/else and flags",
     {"good.conf": conf("""
        @version: 4.0
        source s_net { network(port(514)); };
        destination d_all { file("/var/log/all"); };
        destination d_err { file("/var/log/err"); };
        filter f_err { level(err..emerg); };
        log {
          source(s_net);
          source { internal(); };
          filter { not facility(local7) and "${PROGRAM}" ne "noisy"; };
          destination { file("/var/log/inline.log" create_dirs(yes)); };
          log { filter(f_err); destination(d_err); flags(final); };
          junction {
            channel { filter { host("web*" type(glob)); }; destination(d_all); flags(final); };
            channel { destination(d_all); };
          };
          if (level(warning)) {
            destination(d_err);
          } elif (message("timeout" flags(ignore-case))) {
            destination(d_all);
          } else {
            destination(d_all);
          };
          flags(flow-control);
        };
        log { source(s_net); destination(d_all); flags(fallback); };
        log { destination(d_all); flags(catchall, final); };
        """)},
     ["  log flags(flow-control)", "    source #anonymous-source-0", "    filter (inline)",
      "    destination #anonymous-destination-1", "      log flags(final)", "    junction:", "    if (condition):", "    else:",
      "  log flags(fallback)", "  log flags(final, catchall)"],
     []),
    ("dashes and underscores are one name",
     {"good.conf": conf("""
        @version: 4.0
        options { keep_hostname(yes); log_fifo_size(5000); create-dirs(yes); dir_perm(0755); };
        source s_local { unix_stream("/run/logferry/app.sock" max_connections(10)); };
        destination d_all { file("/var/log/all" create_dirs(yes) time_reap(30)); };
        log { source(s_local); destination(d_all); flags(flow_control); };
        """)},
     ["    unix-stream() /run/logferry/app.sock", "  log flags(flow-control)"],
     []),
    ("the same option written with '_' and '-' is given twice",
     {"good.conf": conf("""
        @version: 4.0
        options { keep_hostname(yes); keep-hostname(no); };
        source s_local { internal(); };
        destination d_all { file("/var/log/all"); };
        log { source(s_local); destination(d_all); };
        """)},
     ["  s_local"],
     ["good.conf:2:31: warning: keep-hostname() given twice in options; the last one counts"]),
    ("templates: short form and by name",
     {"good.conf": conf("""
        @version: 4.0
        template t_short "${HOST} ${MSG}\\n";
        template t_long { template("${ISODATE} ${HOST} ${MSG}\\n"); template_escape(no); };
        source s_local { internal(); };
        destination d_a { file("/var/log/a" template(t_short)); file("/var/log/b" template("t_long")); };
        destination d_c { file("/var/log/c" template("$MSG\\n")); };
        log { source(s_local); destination(d_a); destination(d_c); };
        """)},
     ['  t_short: "${HOST} ${MSG}\\n"', '  t_long: "${ISODATE} ${HOST} ${MSG}\\n"'],
     []),
    ("conf/client.conf",
     {},
     ["    system() /dev/log + /dev/kmsg", "    internal()", "    wildcard-file() /var/log/app *.log", "    pipe() /run/logferry/app.pipe"],
     []),
    ("conf/demo.conf",
     {},
     ["    sql() sqlite3 var/logs.db table messages_${R_YEAR}${R_MONTH}"],
     []),
    ("conf/server.conf",
     {},
     ["    network() udp 0.0.0.0:514", "    network() tcp 0.0.0.0:514", "    syslog() tcp 0.0.0.0:601",
      "    internal()", "  f_sshd", "  f_errors",
      '    file() "/var/log/remote/${HOST}/${YEAR}-${MONTH}-${DAY}/${PROGRAM}.log"',
      "  log flags(final)", "  log flags(fallback)"],
     []),
]

failures = []
passed = 0


def fail(name, why, out=""):
    failures.append(name)
    print(f"FAIL {name}: {why}")
    if out:
        print(textwrap.indent(out.rstrip("\n"), "    | "))


def write_files(root, files):
    for rel, text in files.items():
        p = Path(root) / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def check(root, path):
    p = lfharness.run_logferry([LOGFERRY, "check", "-f", path], cwd=root, env=ENV, capture_output=True,
                               text=True, timeout=10)
    return p.returncode, p.stdout, p.stderr


def error_lines(stderr):
    return [l for l in stderr.splitlines() if ": error: " in l]


def run_error_case(root, name, files, expected, hint):
    global passed
    write_files(root, files)
    rc, out, err = check(root, "bad.conf")
    lines = err.splitlines()
    if rc != 1:
        return fail(name, f"exit {rc}, expected 1", err)
    if isinstance(expected, Line):
        found = [i for i, l in enumerate(lines) if re.fullmatch(expected.pattern, l)]
    else:
        found = [i for i, l in enumerate(lines) if l == expected]
    if not found:
        return fail(name, f"no line\n      {expected}", err)
    errors = error_lines(err)
    if len(errors) != 1:
        return fail(name, f"{len(errors)} errors, expected only the one", err)
    i = found[0]
    after = lines[i + 1] if i + 1 < len(lines) else ""
    if hint is None:
        if after.startswith("  hint:"):
            return fail(name, f"unexpected hint {after!r}", err)
    elif isinstance(hint, Hint):
        if not re.fullmatch(r"  hint: " + hint.pattern, after):
            return fail(name, f"hint {after!r} does not match {hint.pattern!r}", err)
    elif after != "  hint: " + hint:
        return fail(name, f"hint {after!r}, expected {'  hint: ' + hint!r}", err)
    if out:
        return fail(name, "printed a graph for an invalid config", out)
    passed += 1


def run_valid_case(root, name, files, stdout_lines, warnings):
    global passed
    write_files(root, files)
    path = "good.conf" if files else str(REPO / name)
    rc, out, err = check(root, path)
    if rc != 0:
        return fail(name, f"exit {rc}, expected 0", err)
    if error_lines(err):
        return fail(name, "errors on a valid config", err)
    out_lines = out.splitlines()
    for want in stdout_lines:
        if want not in out_lines:
            return fail(name, f"graph lacks {want!r}", out)
    err_lines = err.splitlines()
    for want in warnings:
        if want not in err_lines:
            return fail(name, f"no warning\n      {want}", err)
    # Nothing but the expected warnings on a valid config (no "not used" warnings either).
    extra = [l for l in err_lines if l not in warnings]
    if extra:
        return fail(name, "unexpected output on stderr", "\n".join(extra))
    passed += 1


def main():
    if not os.access(LOGFERRY, os.X_OK):
        print(f"not an executable: {LOGFERRY}")
        return 1
    for i, (name, files, expected, hint) in enumerate(ERRORS):
        with tempfile.TemporaryDirectory(prefix=f"lfcfg{i}-") as root:
            run_error_case(root, name, files, expected, hint)
    for i, (name, files, stdout_lines, warnings) in enumerate(VALID):
        with tempfile.TemporaryDirectory(prefix=f"lfcfg-ok{i}-") as root:
            run_valid_case(root, name, files, stdout_lines, warnings)
    print(f"{passed} passed, {len(failures)} failed ({len(ERRORS)} broken and {len(VALID)} valid configs)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
