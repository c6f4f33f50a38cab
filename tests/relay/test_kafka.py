#!/usr/bin/env python3
"""kafka-c() destination: logferry producing to a Kafka cluster.

The cluster is librdkafka's mock cluster (three brokers speaking the Kafka
protocol on loopback ports) in kafka_mock_broker, a program this script
starts and drives through its stdin (see kafka_mock_broker.cc): it counts
and dumps the records stored, takes brokers down and up, and makes requests
fail.  logferry reads messages from a TCP network() source (or, for the
ferry test, a client logferry tails a file and sends it with ferry()).
Every wait polls a condition until a generous deadline.

Covered: records consumed back match what was sent (topic from a template,
key, value, order per key); brokers down and Produce requests failing while
sending: everything arrives, nothing twice (idempotent producer); flow
control (log-fifo-size() records unconfirmed: the source is held, reported,
nothing dropped); records Kafka refuses (too large, a topic that does not
exist) and topic names it cannot take (fallback-topic()) counted; shutdown
with the brokers away (flush-timeout-on-shutdown()); a fatal error of the
producer (what was not confirmed is produced by the next start); config
errors from `logferry check`; and the ferry protocol acknowledging only what
Kafka confirmed (a server stopped while its brokers are down loses nothing:
the client sends it again); a disk-buffer() that keeps records while every
broker is down across a kill -9 of logferry (every record once), and keeps
what shutdown gives up (not counted as dropped).

Usage: test_kafka.py LOGFERRY_BINARY KAFKA_MOCK_BROKER [unittest args]
"""
import os
import subprocess
import sys
import threading

sys.dont_write_bytecode = True  # keep the source tree clean
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "server"))
sys.path.insert(0, os.path.join(HERE, "..", "client"))
import lfharness as h  # noqa: E402

MOCK = None  # set in __main__
KAFKA_WAIT = 120.0  # deadline for records to arrive (ASan builds are slow)


class MockKafka:
    """kafka_mock_broker: a three-broker cluster and its commands."""

    def __init__(self):
        self.proc = subprocess.Popen([MOCK], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     encoding="utf-8", preexec_fn=h._die_with_parent)
        first = self.proc.stdout.readline().split()
        assert first and first[0] == "bootstraps", f"kafka_mock_broker said {first}"
        self.bootstraps = first[1]

    def cmd(self, text):
        """Sends one command; returns the lines of its answer before "ok"."""
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        out = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"kafka_mock_broker exited during '{text}'")
            line = line.rstrip("\n")
            if line == "ok":
                return out
            if line.startswith("error"):
                raise AssertionError(f"kafka_mock_broker: '{text}': {line}")
            out.append(line)

    def count(self, topic):
        return int(self.cmd(f"count {topic}")[0].split()[1])

    def records(self, topic):
        import json
        return [json.loads(line) for line in self.cmd(f"dump {topic}")]

    def wait_count(self, topic, n, lf=None):
        h.wait_until(lambda: self.count(topic) >= n, KAFKA_WAIT,
                     lambda: f"{n} records in topic {topic} (have {self.count(topic)})",
                     proc=lf.proc if lf else None)

    def brokers(self, state):
        for b in (1, 2, 3):
            self.cmd(f"broker-{state} {b}")

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


def line(host, program, text):
    return f"<13>Dec  7 10:00:00 {host} {program}[1]: {text}\n"


def kafka_conf(port, bootstraps, opts="", global_opts=""):
    return (f"@version: 4.0\noptions {{ stats-freq(0); keep-hostname(yes); {global_opts} }};\n"
            f"source s {{ network(ip(\"127.0.0.1\") port({port}) transport(\"tcp\")); }};\n"
            f"destination d {{ kafka-c(bootstrap-servers(\"{bootstraps}\") {opts}); }};\n"
            f"log {{ source(s); destination(d); flags(flow-control); }};\n")


class Sender(threading.Thread):
    """Sends data over one TCP connection; it may block while logferry holds
    the source (flow control)."""

    def __init__(self, port, data):
        super().__init__(daemon=True)
        self.port, self.data = port, data
        self.error = None

    def run(self):
        try:
            with h.tcp_connect(self.port, timeout=KAFKA_WAIT) as s:
                s.sendall(self.data.encode())
        except OSError as e:
            self.error = e


class KafkaTest(h.ServerTest):

    def setUp(self):
        super().setUp()
        self.kafka = MockKafka()

    def tearDown(self):
        super().tearDown()
        self.kafka.close()

    def producer(self, opts, global_opts=""):
        return self.logferry(lambda p: kafka_conf(p[0], self.kafka.bootstraps, opts, global_opts))

    def send(self, lf, lines):
        sender = Sender(lf.port, "".join(lines))
        sender.start()
        return sender

    def values(self, topic):
        return [r["value"] for r in self.kafka.records(topic)]

    def assert_once(self, topic, expected):
        """Topic `topic` holds exactly the values `expected`, each once."""
        got = self.values(topic)
        self.assertEqual(sorted(got), sorted(expected),
                         f"records of {topic}: {len(got)} stored, {len(set(got))} distinct, {len(expected)} sent")

    def test_records_match(self):
        lf = self.producer('topic("logs-${PROGRAM}") key("${HOST}") message("${MSG}") config("linger.ms" => "5")')
        sent = []
        for i in range(300):
            host, prog = f"host{i % 2}", f"app{i % 3}"
            sent.append((f"logs-{prog}", host, f"message {i:04d} from {host}"))
        self.send(lf, [line(k, t[5:], v) for t, k, v in sent]).join()
        for t in ("logs-app0", "logs-app1", "logs-app2"):
            self.kafka.wait_count(t, 100, lf)
        for t in ("logs-app0", "logs-app1", "logs-app2"):
            recs = self.kafka.records(t)
            self.assertEqual(sorted((r["key"], r["value"]) for r in recs),
                             sorted((k, v) for tt, k, v in sent if tt == t))
            # One key goes to one partition, in the order sent.
            for host in ("host0", "host1"):
                mine = [r for r in recs if r["key"] == host]
                self.assertEqual(len({r["partition"] for r in mine}), 1)
                self.assertEqual([r["value"] for r in sorted(mine, key=lambda r: r["offset"])],
                                 [v for tt, k, v in sent if tt == t and k == host])
        stats = self.stop_ok(lf)
        self.assertEqual(stats["destination"]["d#0"]["out"], 300)
        self.assertEqual(stats["destination"]["d#0"].get("errors", 0), 0)

    def test_default_message_and_no_key(self):
        lf = self.producer('topic("plain")')
        self.send(lf, [line("h1", "prog", "hello kafka")]).join()
        self.kafka.wait_count("plain", 1, lf)
        rec = self.kafka.records("plain")[0]
        self.assertIsNone(rec["key"])
        # syslog-ng's default: $ISODATE $HOST $MSGHDR$MSG
        self.assertRegex(rec["value"], r"^\d{4}-12-07T10:00:00[+-]\d\d:\d\d h1 prog\[1\]: hello kafka$")
        self.stop_ok(lf)

    def test_broker_outage_and_request_errors_lose_nothing(self):
        lf = self.producer('topic("outage") key("${PROGRAM}") message("${MSG}")')
        first = [f"first {i:04d}" for i in range(200)]
        self.send(lf, [line("h", f"p{i % 7}", v) for i, v in enumerate(first)]).join()
        self.kafka.wait_count("outage", 200, lf)

        # Every broker away while messages come; then Produce requests fail
        # (timed out, not leader) once they are back.
        self.kafka.brokers("down")
        second = [f"second {i:04d}" for i in range(300)]
        sender = self.send(lf, [line("h", f"p{i % 7}", v) for i, v in enumerate(second)])
        sender.join()
        self.assertIsNone(sender.error)
        h.wait_until(lambda: lf.snapshot_stats()["destination"]["d#0"]["in"] >= 500, KAFKA_WAIT,
                     "the second batch to reach the destination", proc=lf.proc)
        # Nothing of it can be confirmed while every broker is away.
        self.assertLessEqual(lf.snapshot_stats()["destination"]["d#0"]["out"], 200)
        self.kafka.cmd("produce-errors 4 7")  # REQUEST_TIMED_OUT
        self.kafka.cmd("produce-errors 3 6")  # NOT_LEADER_OR_FOLLOWER
        self.kafka.brokers("up")
        self.kafka.wait_count("outage", 500, lf)
        self.assert_once("outage", first + second)
        stats = self.stop_ok(lf)
        self.assertEqual(stats["destination"]["d#0"]["out"], 500)
        self.assertEqual(stats["destination"]["d#0"].get("dropped_queue_full", 0), 0)

    def test_flow_control_holds_the_source(self):
        lf = self.producer('topic("held") message("${MSG}") log-fifo-size(50)')
        self.send(lf, [line("h", "p", "before")]).join()
        self.kafka.wait_count("held", 1, lf)
        self.kafka.brokers("down")
        msgs = [f"held {i:04d}" for i in range(600)]
        sender = self.send(lf, [line("h", "p", v) for v in msgs])
        h.wait_until(lambda: "holding the sources with flow control" in lf.stderr_text(), KAFKA_WAIT,
                     "the flow-control report", proc=lf.proc)
        self.kafka.brokers("up")
        sender.join()
        self.assertIsNone(sender.error)
        self.kafka.wait_count("held", 601, lf)
        self.assert_once("held", ["before"] + msgs)
        h.wait_until(lambda: "Kafka confirms records again" in lf.stderr_text(), KAFKA_WAIT,
                     "the end of the hold reported", proc=lf.proc)
        stats = self.stop_ok(lf)
        self.assertEqual(stats["destination"]["d#0"].get("dropped_queue_full", 0), 0)
        self.assertEqual(stats["destination"]["d#0"]["out"], 601)

    def test_refused_records_counted(self):
        lf = self.producer('topic("t-${MSG}") fallback-topic("fallback") message("${MSG}${PROGRAM}")'
                           ' config("message.max.bytes" => "2000")')
        self.send(lf, [line("h", "p" * 3000, "big"),  # too large: refused by librdkafka, counted
                       line("h", "a", "bad name"),    # ' ' in the topic: goes to fallback-topic()
                       line("h", "a", "good")]).join()
        self.kafka.wait_count("t-good", 1, lf)
        self.kafka.wait_count("fallback", 1, lf)
        self.assertEqual(self.values("t-good"), ["gooda"])
        self.assertEqual(self.values("fallback"), ["bad namea"])
        stats = self.stop_ok(lf)
        self.assertEqual(stats["destination"]["d#0"]["out"], 2)
        self.assertEqual(stats["destination"]["d#0"]["errors"], 1)
        self.assertIn("Kafka refused a record for topic t-big", lf.stderr)

    def test_unknown_topic_counted(self):
        """A topic the cluster says does not exist (auto-creation off): its
        records are given up, counted and reported, not retried forever;
        other topics go on."""
        self.kafka.cmd("topic-error missing 3")  # UNKNOWN_TOPIC_OR_PART
        lf = self.producer('topic("${PROGRAM}") message("${MSG}")'
                           ' config("topic.metadata.propagation.max.ms" => "100")')
        self.send(lf, [line("h", "missing", "lost"), line("h", "present", "kept")]).join()
        self.kafka.wait_count("present", 1, lf)
        h.wait_until(lambda: "Kafka refused a record for topic missing" in lf.stderr_text(), KAFKA_WAIT,
                     "the record for the missing topic reported", proc=lf.proc)
        stats = self.stop_ok(lf)
        self.assertEqual(stats["destination"]["d#0"]["out"], 1)
        self.assertEqual(stats["destination"]["d#0"]["errors"], 1)

    def test_invalid_topic_without_fallback_counted(self):
        lf = self.producer('topic("t-${MSG}") message("${MSG}")')
        self.send(lf, [line("h", "a", "not valid"), line("h", "a", "valid")]).join()
        self.kafka.wait_count("t-valid", 1, lf)
        stats = self.stop_ok(lf)
        self.assertEqual(stats["destination"]["d#0"]["errors"], 1)
        self.assertIn("not a valid Kafka topic name", lf.stderr)

    def test_shutdown_with_brokers_away(self):
        lf = self.producer('topic("away") message("${MSG}") flush-timeout-on-shutdown(500)')
        self.send(lf, [line("h", "p", "first")]).join()
        self.kafka.wait_count("away", 1, lf)
        self.kafka.brokers("down")
        self.send(lf, [line("h", "p", f"lost {i}") for i in range(5)]).join()
        h.wait_until(lambda: lf.snapshot_stats()["destination"]["d#0"]["in"] >= 6, KAFKA_WAIT,
                     "the messages to reach the destination", proc=lf.proc)
        stats = lf.stop(timeout=KAFKA_WAIT)
        self.assertEqual(lf.returncode, 0, lf.stderr)
        d = stats["destination"]["d#0"]
        self.assertEqual(d["out"], 1)
        self.assertEqual(d["out"] + d.get("dropped_queue_full", 0), 6)
        self.assertIn("records not confirmed by Kafka", lf.stderr)

    def test_disk_buffer_survives_kill_while_brokers_down(self):
        """disk-buffer(reliable(yes)): every broker is down while lines come,
        so they wait in the buffer; logferry is killed (SIGKILL) and started
        again, the brokers come back, and every line is in the topic exactly
        once.  Exactly once holds here because no record reached a broker
        before the kill; in general a kill -9 after a record reached Kafka
        but before its confirmation makes it at least once (the idempotent
        producer deduplicates its own retries, not those of a new process)."""
        buf = self.path("buffers")
        dest = (f"destination d {{ kafka-c(bootstrap-servers(\"{self.kafka.bootstraps}\") topic(\"buffered\")"
                f" message(\"${{MSGONLY}}\") disk-buffer(reliable(yes) dir({h.config_string(buf)}))); }};\n")
        sent, stats = self.disk_buffer_across_kill(dest, buf, 2000, lambda: self.kafka.brokers("down"),
                                                   lambda: self.kafka.brokers("up"),
                                                   lambda: self.kafka.count("buffered"), timeout=KAFKA_WAIT)
        self.assert_once("buffered", sent)
        self.assertEqual(stats["destination"]["d#0"].get("errors", 0), 0, stats)

    def test_disk_buffer_keeps_what_shutdown_gives_up(self):
        """Behind disk-buffer(), the records Kafka has not confirmed when
        flush-timeout-on-shutdown() passes stay in the buffer: not counted
        as dropped (the report says so), and sent after the next start."""
        buf = self.path("buffers")
        opts = ('topic("kept") message("${MSG}") log-fifo-size(3) flush-timeout-on-shutdown(500) '
                f"disk-buffer(dir({h.config_string(buf)}))")
        sent = [f"kept {i}" for i in range(10)]
        self.kafka.brokers("down")
        lf = self.producer(opts)
        self.send(lf, [line("h", "p", m) for m in sent]).join()
        # kafka-c() holds 3 records (log-fifo-size()) that Kafka cannot confirm.
        h.wait_until(lambda: "records wait for Kafka to confirm them" in lf.stderr_text(), KAFKA_WAIT,
                     "the records held", proc=lf.proc)
        stats = lf.stop(timeout=KAFKA_WAIT)
        self.assertEqual(lf.returncode, 0, lf.stderr)
        self.assertRegex(lf.stderr, r"shutting down with \d+ records not confirmed by Kafka \(.*\); they stay in the "
                                    r"disk buffer")
        self.assertEqual(stats["destination"]["d#0"].get("dropped_queue_full", 0), 0, stats)
        self.kafka.brokers("up")
        lf = self.producer(opts)
        self.kafka.wait_count("kept", len(sent), lf)
        self.stop_ok(lf)
        self.assert_once("kept", sent)

    def check_errors(self, opts):
        conf = self.path("check.conf")
        with open(conf, "w") as f:
            f.write(kafka_conf(h.free_port(), self.kafka.bootstraps, opts))
        r = h.run_logferry([h.LOGFERRY, "check", "-f", conf], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stderr

    def test_config_errors(self):
        err = self.check_errors('topic("t") config("no.such.property" => "1")')
        self.assertRegex(err, r"check\.conf:4:\d+: .*No such configuration property.*no\.such\.property")
        err = self.check_errors('topic("t") config("acks")')
        self.assertIn("property 'acks' in config() of", err)
        self.assertIn("has no value", err)
        err = self.check_errors('topic("t") sync-send(yes)')
        self.assertIn("sync-send(yes)", err)
        err = self.check_errors('message("$MSG")')
        self.assertIn("needs topic()", err)
        err = self.check_errors('topic("bad name")')
        self.assertIn("not a valid Kafka topic name", err)
        # Every spelling of config() syslog-ng takes is accepted.
        conf = self.path("ok.conf")
        with open(conf, "w") as f:
            f.write(kafka_conf(h.free_port(), self.kafka.bootstraps,
                               'topic("t") config("acks" => "all" "linger.ms" "5" "client.id"("me") '
                               '"compression.type" => "zstd")'))
        r = h.run_logferry([h.LOGFERRY, "check", "-f", conf], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("kafka-c()", r.stdout)
        # properties-file(): Java-style lines, each checked like config().
        props = self.path("producer.properties")
        with open(props, "w") as f:
            f.write("# comment\n! comment\ncompression.type=zstd\nlinger.ms: 5\n")
        self.assertEqual(h.run_logferry([h.LOGFERRY, "check", "-f", conf], capture_output=True).returncode, 0)
        with open(conf, "w") as f:
            f.write(kafka_conf(h.free_port(), self.kafka.bootstraps,
                               f'topic("t") properties-file({h.config_string(props)})'))
        r = h.run_logferry([h.LOGFERRY, "check", "-f", conf], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(props, "a") as f:
            f.write("compression.type=rot13\n")
        err = self.check_errors(f'topic("t") properties-file({h.config_string(props)})')
        self.assertIn("invalid property 'compression.type' in line 5 of properties-file(", err)
        with open(props, "a") as f:
            f.write("just words\n")
        err = self.check_errors(f'topic("t") properties-file({h.config_string(props)})')
        self.assertIn("line 6 of properties-file(", err)

    def test_fatal_error_loses_nothing(self):
        """A fatal error of the idempotent producer (injected: the broker
        answers a Produce with OUT_OF_ORDER_SEQUENCE_NUMBER): the lines of a
        tailed file not confirmed stay unacknowledged, and the next start
        produces them."""
        import test_file_lib as fl
        inp = self.path("app.log")
        conf = (f"@version: 4.0\noptions {{ stats-freq(0); }};\n"
                f"source s {{ file({h.config_string(inp)} follow-freq(1)); }};\n"
                f"destination d {{ kafka-c(bootstrap-servers(\"{self.kafka.bootstraps}\") topic(\"fatal\")"
                f" message(\"${{MESSAGE}}\")); }};\n"
                f"log {{ source(s); destination(d); }};\n")

        def start(name):
            lf = fl.FileLogferry(self.dir, self.path("state"), name)
            self._procs.append(lf)
            return lf.start_conf(conf)

        with open(inp, "w") as f:
            f.write("before\n")
        lf = start("lf1")
        self.kafka.wait_count("fatal", 1, lf)
        self.kafka.cmd("produce-errors 1 45")  # OUT_OF_ORDER_SEQUENCE_NUMBER
        with open(inp, "a") as f:
            f.writelines(f"after {i}\n" for i in range(5))
        h.wait_until(lambda: "fatal error of the Kafka producer" in lf.stderr_text(), KAFKA_WAIT,
                     "the fatal error reported", proc=lf.proc)
        stats = lf.stop(timeout=KAFKA_WAIT)
        self.assertEqual(lf.returncode, 0, lf.stderr)
        self.assertEqual(stats["destination"]["d#0"]["out"], 1)
        self.assertEqual(self.kafka.count("fatal"), 1)

        lf = start("lf2")
        self.kafka.wait_count("fatal", 6, lf)
        self.assert_once("fatal", ["before"] + [f"after {i}" for i in range(5)])
        self.stop_ok(lf)

    def test_ferry_acknowledges_only_what_kafka_confirmed(self):
        import test_file_lib as fl
        port = h.free_port()
        server_conf = (f"@version: 4.0\noptions {{ stats-freq(0); }};\n"
                       f"source s_in {{ ferry(ip(\"127.0.0.1\") port({port})); }};\n"
                       f"destination d {{ kafka-c(bootstrap-servers(\"{self.kafka.bootstraps}\") topic(\"ferried\")"
                       f" message(\"${{MESSAGE}}\") flush-timeout-on-shutdown(500)); }};\n"
                       f"log {{ source(s_in); destination(d); }};\n")
        inp = self.path("in.log")
        client_conf = (f"@version: 4.0\noptions {{ stats-freq(0); }};\n"
                       f"source s_app {{ file({h.config_string(inp)} follow-freq(1)); }};\n"
                       f"destination d_ferry {{ ferry(\"127.0.0.1\" port({port}) time-reopen(1)); }};\n"
                       f"log {{ source(s_app); destination(d_ferry); }};\n")

        def start(name, conf):
            lf = fl.FileLogferry(self.dir, self.path(name + "-state"), name)
            self._procs.append(lf)
            return lf.start_conf(conf)

        with open(inp, "w") as f:
            f.writelines(f"A{i:05d}\n" for i in range(100))
        server = start("server", server_conf)
        h.wait_until(lambda: h.tcp_listening(port), what="the server to listen", proc=server.proc)
        client = start("client", client_conf)
        self.kafka.wait_count("ferried", 100, server)
        # In Kafka is not yet confirmed: the delivery reports must be in too
        # (counted as out), else taking the brokers away leaves the A lines
        # unconfirmed, and they are rightly sent again.
        h.wait_until(lambda: server.snapshot_stats()["destination"]["d#0"]["out"] >= 100, KAFKA_WAIT,
                     "Kafka to confirm the A lines", proc=server.proc)

        # Brokers away: the server takes the next lines from the client but
        # cannot get them confirmed; stopped so, it gives them up unacknowledged.
        self.kafka.brokers("down")
        with open(inp, "a") as f:
            f.writelines(f"B{i:05d}\n" for i in range(200))
        h.wait_until(lambda: server.snapshot_stats()["destination"]["d#0"]["in"] >= 300, KAFKA_WAIT,
                     "the server to receive the B lines", proc=server.proc)
        server.stop(timeout=KAFKA_WAIT)
        self.assertEqual(server.returncode, 0, server.stderr)
        self.assertIn("records not confirmed by Kafka", server.stderr)

        # Brokers back, server back: the client sends what was never
        # acknowledged, and every line is in Kafka once.
        self.kafka.brokers("up")
        server = start("server2", server_conf)
        self.kafka.wait_count("ferried", 300, server)
        self.assert_once("ferried", [f"A{i:05d}" for i in range(100)] + [f"B{i:05d}" for i in range(200)])
        self.stop_ok(client)
        self.stop_ok(server)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(f"usage: {sys.argv[0]} LOGFERRY_BINARY KAFKA_MOCK_BROKER [unittest args]")
    MOCK = os.path.abspath(sys.argv.pop(2))
    h.main()
