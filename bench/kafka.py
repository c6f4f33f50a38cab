#!/usr/bin/env python3
"""Messages per second into Kafka: --count messages (default 1,000,000) of
about 150 bytes over one TCP connection into logferry (network() source on a
flags(flow-control) path), produced by kafka-c() (librdkafka, idempotent
producer, acks=all) into librdkafka's MOCK cluster: kafka_mock_broker of
tests/relay (three brokers speaking the Kafka protocol on loopback ports,
inside that one process).  The mock cluster is not a real Kafka broker: it
keeps records in memory, writes nothing to disk and replicates nothing, so
the figures are logferry's and librdkafka's cost, not what a real cluster
takes (Debian 12 packages no Kafka broker).

For each --configs entry (extra kafka-c() options), a fresh topic; measured:
  msgs/s     records stored / seconds from the first byte sent until the
             topic's high watermarks sum to --count (polled every 50 ms)
  lf CPU     logferry's utime+stime (/proc/PID/stat) per million messages
  mock CPU   kafka_mock_broker's utime+stime per million messages
  RSS        logferry's peak resident memory (VmHWM)
Every record is checked to be there once: the topic's high watermarks sum
to exactly --count once logferry stopped (the mock cluster keeps only the
newest few MB of each partition, so the records are not read back).

Usage: bench/kafka.py [--logferry build/logferry]
                      [--mock build/tests/relay/kafka_mock_broker] [--count N]
                      [--configs 'OPTIONS;OPTIONS']
Takes about a minute per --configs entry on a 2-core machine.
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "server"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "relay"))
import test_kafka as tk  # noqa: E402
from benchlib import arg_parser, timed_run, write_conf  # noqa: E402

DEFAULT_CONFIGS = ';config("linger.ms" => "20");config("linger.ms" => "20" "compression.type" => "zstd")'


def run(kafka, logferry, count, options, topic, workdir):
    conf_path = os.path.join(workdir, f"lf-{topic}.conf")
    port = write_conf(conf_path, f"""kafka-c(bootstrap-servers("{kafka.bootstraps}") topic("{topic}") key("${{HOST}}")
    message("${{ISODATE}} ${{HOST}} ${{PROGRAM}}[${{PID}}]: ${{MSGONLY}}") log-fifo-size(100000) {options})""")
    figures = timed_run(logferry, conf_path, port, count, lambda: kafka.count(topic), kafka.proc.pid)
    # The mock cluster keeps only the newest records of a partition (a few
    # MB), so the check is the offsets: exactly `count` records were stored,
    # none lost and none twice (logferry stopped, nothing more comes).
    stored = kafka.count(topic)
    if stored != count:
        raise SystemExit(f"{options!r}: {stored} records stored, {count} sent")
    return figures


def main():
    ap = arg_parser(__doc__, os.path.join(HERE, "..", "build", "logferry"), "")
    ap.add_argument("--mock", default=os.path.join(HERE, "..", "build", "tests", "relay", "kafka_mock_broker"))
    ap.add_argument("--configs", default=DEFAULT_CONFIGS)
    a = ap.parse_args()
    tk.MOCK = os.path.abspath(a.mock)
    kafka = tk.MockKafka()
    workdir = tempfile.mkdtemp(prefix="lf-bench-kafka-")
    try:
        print(f"librdkafka mock cluster (3 brokers in one process, not a real broker), {a.count} messages, "
              f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
        print(f"{'msgs/s':>10} {'lf CPU s/M':>11} {'mock CPU s/M':>13} {'lf RSS MiB':>11}  kafka-c() options")
        for i, options in enumerate(a.configs.split(";")):
            rate, lf_cpu, mock_cpu, rss = run(kafka, os.path.abspath(a.logferry), a.count, options, f"bench{i}",
                                              workdir)
            print(f"{rate:>10.0f} {lf_cpu:>11.2f} {mock_cpu:>13.2f} {rss:>11.1f}  {options or '(defaults)'}"
                  f"   [load {os.getloadavg()[0]:.1f}]", flush=True)
    finally:
        kafka.close()
        subprocess.run(["rm", "-rf", workdir])


if __name__ == "__main__":
    main()
