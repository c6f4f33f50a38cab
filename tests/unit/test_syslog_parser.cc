// Unit tests for the RFC 3164 / RFC 5424 parser (src/core/syslog_parser.{h,cc}).
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "core/framing.h"
#include "core/message.h"
#include "core/syslog_parser.h"
#include "core/timestamp.h"

using logferry::days_from_civil;
using logferry::Field;
using logferry::LogMessage;
using logferry::parse_syslog;
using logferry::ParseOptions;
using logferry::SyslogFormat;
using logferry::Timestamp;
using logferry::TimeZone;
using namespace std::string_literals;

namespace {

constexpr int64_t kReceived = 1718452800;  // 2024-06-15T12:00:00Z
constexpr std::string_view kPeer = "192.0.2.7";

int64_t utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

std::shared_ptr<const TimeZone> zone(std::string_view spec) {
  std::string error;
  auto tz = TimeZone::parse(spec, &error);
  REQUIRE_MESSAGE(tz != nullptr, error);
  return tz;
}

// Options with a fixed zone, so that no test depends on the machine's TZ.
ParseOptions utc_options() {
  ParseOptions o;
  o.time_zone = TimeZone::utc();
  return o;
}

// Parses the way a network source does: received set, HOST_FROM and
// SOURCEIP set to the peer (unless `peer` is empty).
LogMessage parse(std::string_view raw, const ParseOptions& o = utc_options(), int64_t received = kReceived,
                 std::string_view peer = kPeer) {
  LogMessage m;
  m.received = Timestamp{received, 250000000, 0, 9};
  if (!peer.empty()) {
    m.set(Field::kHostFrom, peer);
    m.set(Field::kSourceIp, peer);
  }
  parse_syslog(raw, o, m);
  return m;
}

std::string get(const LogMessage& m, Field f) { return std::string(m.get(f)); }

std::string value(const LogMessage& m, std::string_view name) {
  std::string_view v;
  return m.get_value(name, &v) ? std::string(v) : "<unset>";
}

std::string sd(const LogMessage& m, std::string_view id, std::string_view param) {
  std::string_view v;
  return m.get_sd(id, param, &v) ? std::string(v) : "<unset>";
}

std::string show(const Timestamp& t) {
  return "sec=" + std::to_string(t.sec) + " nsec=" + std::to_string(t.nsec) + " gmtoff=" +
         std::to_string(t.gmtoff) + " precision=" + std::to_string(t.precision);
}

Timestamp stamp(int64_t sec, int32_t gmtoff = 0, uint32_t nsec = 0, uint8_t precision = 0) {
  return Timestamp{sec, nsec, gmtoff, precision};
}

Timestamp received_stamp(int64_t received = kReceived) { return Timestamp{received, 250000000, 0, 9}; }

// Everything a parse error promises.
void check_parse_error(const LogMessage& m, std::string_view raw, std::string_view error) {
  CHECK(m.has_flag(logferry::kFlagParseError));
  CHECK_FALSE(m.has_flag(logferry::kFlagRfc5424));
  CHECK(m.has_tag("syslog.parse_error"));
  CHECK(value(m, "PARSE_ERROR") == error);
  CHECK(m.get(Field::kMessage) == raw);
  CHECK(m.raw() == raw);
  CHECK(get(m, Field::kProgram).empty());
  CHECK(get(m, Field::kPid).empty());
  CHECK(get(m, Field::kMsgId).empty());
  CHECK(m.get(Field::kHost) == m.get(Field::kHostFrom));
  CHECK(m.sd_elements().empty());
  CHECK(m.sd_params().empty());
  CHECK(show(m.stamp) == show(m.received));
}

}  // namespace

// ---------------------------------------------------------------------------
// RFC 3164: the messages Linux hosts actually send.

TEST_CASE("rfc3164: linux samples (sshd, CRON, postfix, systemd, kernel, sudo)") {
  struct Case {
    std::string raw;
    int pri;
    const char* host;
    const char* program;
    const char* pid;
    const char* message;
    int64_t sec;
  };
  const Case cases[] = {
      {"<38>Jan 15 10:00:00 myhost sshd[2345]: Accepted publickey for alice from 192.0.2.10 port 52144 ssh2: "
       "ED25519 SHA256:Zm9vYmFyYmF6",
       38, "myhost", "sshd", "2345",
       "Accepted publickey for alice from 192.0.2.10 port 52144 ssh2: ED25519 SHA256:Zm9vYmFyYmF6",
       utc(2024, 1, 15, 10)},
      {"<86>Jan 15 10:17:01 web01 CRON[12345]: pam_unix(cron:session): session opened for user root(uid=0) by "
       "(uid=0)",
       86, "web01", "CRON", "12345", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
       utc(2024, 1, 15, 10, 17, 1)},
      {"<78>Feb 29 10:17:01 web01 CRON[12346]: (root) CMD (   cd / && run-parts --report /etc/cron.hourly)", 78,
       "web01", "CRON", "12346", "(root) CMD (   cd / && run-parts --report /etc/cron.hourly)",
       utc(2024, 2, 29, 10, 17, 1)},
      {"<22>Mar  3 04:05:06 mx1 postfix/smtpd[4242]: connect from unknown[192.0.2.1]", 22, "mx1",
       "postfix/smtpd", "4242", "connect from unknown[192.0.2.1]", utc(2024, 3, 3, 4, 5, 6)},
      {"<22>Apr 30 23:59:59 mx1 postfix/qmgr[990]: 4F2A31C0A2B: from=<alice@example.org>, size=1234, nrcpt=1 "
       "(queue active)",
       22, "mx1", "postfix/qmgr", "990", "4F2A31C0A2B: from=<alice@example.org>, size=1234, nrcpt=1 (queue active)",
       utc(2024, 4, 30, 23, 59, 59)},
      {"<30>May  1 00:00:00 web01 systemd[1]: Started Session 42 of User alice.", 30, "web01", "systemd", "1",
       "Started Session 42 of User alice.", utc(2024, 5, 1)},
      {"<4>Jun 15 11:59:00 web01 kernel: [ 1234.567890] e1000e: eth0 NIC Link is Down", 4, "web01", "kernel",
       "", "[ 1234.567890] e1000e: eth0 NIC Link is Down", utc(2024, 6, 15, 11, 59)},
      {"<85>Jul  4 12:00:00 web01 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; "
       "COMMAND=/usr/bin/apt update",
       85, "web01", "sudo", "",
       "   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/apt update",
       utc(2024, 7, 4, 12)},
      {"<38>Aug  5 08:09:10 web01 sshd(pam_unix)[2345]: session closed for user alice", 38, "web01",
       "sshd(pam_unix)", "2345", "session closed for user alice", utc(2024, 8, 5, 8, 9, 10)},
      {"<14>Sep 15 10:00:06 desktop org.gnome.Shell.desktop[2001]: Window manager warning: Buggy client", 14,
       "desktop", "org.gnome.Shell.desktop", "2001", "Window manager warning: Buggy client",
       utc(2024, 9, 15, 10, 0, 6)},
      {"<13>Oct 15 10:00:07 host app message without colon", 13, "host", "app", "", "message without colon",
       utc(2024, 10, 15, 10, 0, 7)},
      {"<13>Nov 15 10:00:08 host prog[123] text after pid", 13, "host", "prog", "123", "text after pid",
       utc(2024, 11, 15, 10, 0, 8)},
      {"<13>Dec 15 10:00:09 host prog[123", 13, "host", "prog", "", "", utc(2024, 12, 15, 10, 0, 9)},
      {"<13>Jan 15 10:00:10 host prog[]: empty pid", 13, "host", "prog", "", "empty pid",
       utc(2024, 1, 15, 10, 0, 10)},
      {"<13>jan 15 10:00:11 host lower: month names are case-insensitive", 13, "host", "lower",
       "", "month names are case-insensitive", utc(2024, 1, 15, 10, 0, 11)},
  };
  for (const Case& c : cases) {
    CAPTURE(c.raw);
    LogMessage m = parse(c.raw);
    CHECK(m.pri == c.pri);
    CHECK(get(m, Field::kHost) == c.host);
    CHECK(get(m, Field::kProgram) == c.program);
    CHECK(get(m, Field::kPid) == c.pid);
    CHECK(get(m, Field::kMessage) == c.message);
    CHECK(get(m, Field::kMsgId).empty());
    CHECK(show(m.stamp) == show(stamp(c.sec)));
    CHECK(m.flags == 0);
    CHECK(m.tags().empty());
    CHECK(m.values().empty());
    CHECK(m.sd_elements().empty());
    CHECK(m.raw() == c.raw);
    CHECK(get(m, Field::kHostFrom) == kPeer);  // untouched
    CHECK(get(m, Field::kSourceIp) == kPeer);
  }
}

TEST_CASE("rfc3164: PRI decodes to facility and severity") {
  LogMessage m = parse("<38>Jan 15 10:00:00 myhost sshd[1]: x");
  CHECK(m.facility() == 4);  // auth
  CHECK(m.severity() == 6);  // info
  m = parse("<0>Jan 15 10:00:00 myhost kernel: panic");
  CHECK(m.pri == 0);
  CHECK_FALSE(m.has_flag(logferry::kFlagParseError));
  m = parse("<191>Jan 15 10:00:00 myhost app: x");
  CHECK(m.pri == 191);
  CHECK(m.facility() == 23);  // local7
  CHECK(m.severity() == 7);   // debug
  CHECK_FALSE(m.has_flag(logferry::kFlagParseError));
  m = parse("<013>Jan 15 10:00:00 myhost app: x");
  CHECK(m.pri == 13);
  CHECK(get(m, Field::kProgram) == "app");
}

TEST_CASE("rfc3164: fractional seconds in BSD stamps") {
  LogMessage m = parse("<13>Jan 15 10:00:00.123456 host app: x");
  CHECK(show(m.stamp) == show(stamp(utc(2024, 1, 15, 10), 0, 123456000, 6)));
  CHECK(get(m, Field::kHost) == "host");
  m = parse("<13>Jan 15 10:00:00.5 host app: x");
  CHECK(show(m.stamp) == show(stamp(utc(2024, 1, 15, 10), 0, 500000000, 1)));
  m = parse("<13>Jan 15 10:00:00.123456789123 host app: x");  // beyond ns: dropped
  CHECK(show(m.stamp) == show(stamp(utc(2024, 1, 15, 10), 0, 123456789, 9)));
  CHECK(get(m, Field::kHost) == "host");
  CHECK(get(m, Field::kMessage) == "x");
}

TEST_CASE("rfc3164: a leap second stays in its minute") {
  LogMessage m = parse("<13>Dec 31 23:59:60 host app: leap");
  CHECK(show(m.stamp) == show(stamp(utc(2024, 12, 31, 23, 59, 59))));
  CHECK(get(m, Field::kProgram) == "app");
}

TEST_CASE("rfc3164: impossible clock readings are not stamps") {
  for (std::string raw : {"<13>Jan 15 24:00:00 host app: x", "<13>Jan 32 10:00:00 host app: x",
                          "<13>Jan 15 10:60:00 host app: x", "<13>Jan 15 10:00:61 host app: x",
                          "<13>Foo 15 10:00:00 host app: x", "<13>Jan 1x 10:00:00 host app: x",
                          "<13>Jan 15 1:00:00 host app: x"}) {
    CAPTURE(raw);
    LogMessage m = parse(raw);
    CHECK(show(m.stamp) == show(received_stamp()));
    CHECK(m.get(Field::kHost) == kPeer);
    CHECK(get(m, Field::kProgram) == raw.substr(4, 3));  // the month word becomes PROGRAM
    CHECK_FALSE(m.has_flag(logferry::kFlagParseError));   // RFC 3164 has no wrong header
  }
}

TEST_CASE("rfc3164: Cisco IOS sequence numbers, clock marks and %FAC-SEV-MNEMONIC") {
  SUBCASE("unsynchronised clock '*' with milliseconds") {
    LogMessage m =
        parse("<189>123: *Mar  1 00:00:05.123: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.1)");
    CHECK(m.pri == 189);
    CHECK(value(m, ".SDATA.meta.sequenceId") == "123");
    CHECK(value(m, ".SDATA.timeQuality.isSynced") == "0");
    CHECK(show(m.stamp) == show(stamp(utc(2024, 3, 1, 0, 0, 5), 0, 123000000, 3)));
    CHECK(get(m, Field::kHost) == kPeer);
    CHECK(get(m, Field::kProgram) == "%SYS-5-CONFIG_I");
    CHECK(get(m, Field::kPid).empty());
    CHECK(get(m, Field::kMessage) == "Configured from console by vty0 (10.0.0.1)");
    // The values show up as structured data, grouped by SD-ID.
    std::vector<std::tuple<std::string, std::string, std::string, bool>> seen;
    logferry::for_each_sd_param(m, [&](std::string_view id, std::string_view n, std::string_view v, bool first) {
      seen.emplace_back(std::string(id), std::string(n), std::string(v), first);
    });
    REQUIRE(seen.size() == 2);
    CHECK(seen[0] == std::make_tuple("meta"s, "sequenceId"s, "123"s, true));
    CHECK(seen[1] == std::make_tuple("timeQuality"s, "isSynced"s, "0"s, true));
  }
  SUBCASE("synchronised clock '.'") {
    LogMessage m = parse(
        "<187>4567: .Jan 15 10:00:00.456: %LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to down");
    CHECK(m.severity() == 3);
    CHECK(value(m, ".SDATA.meta.sequenceId") == "4567");
    CHECK(value(m, ".SDATA.timeQuality.isSynced") == "1");
    CHECK(show(m.stamp) == show(stamp(utc(2024, 1, 15, 10), 0, 456000000, 3)));
    CHECK(get(m, Field::kProgram) == "%LINK-3-UPDOWN");
    CHECK(get(m, Field::kMessage) == "Interface GigabitEthernet0/1, changed state to down");
  }
  SUBCASE("no clock mark, zero-padded sequence") {
    LogMessage m = parse(
        "<190>000042: Jan 15 10:00:00: %SEC-6-IPACCESSLOGP: list 101 denied tcp 192.0.2.1(1234) -> "
        "10.0.0.1(22), 1 packet");
    CHECK(value(m, ".SDATA.meta.sequenceId") == "000042");
    CHECK(value(m, ".SDATA.timeQuality.isSynced") == "<unset>");
    CHECK(show(m.stamp) == show(stamp(utc(2024, 1, 15, 10))));
    CHECK(get(m, Field::kProgram) == "%SEC-6-IPACCESSLOGP");
    CHECK(get(m, Field::kMessage) == "list 101 denied tcp 192.0.2.1(1234) -> 10.0.0.1(22), 1 packet");
  }
  SUBCASE("clock mark without sequence number") {
    LogMessage m = parse("<189>*Mar  1 00:00:05: %SYS-5-RESTART: System restarted --");
    CHECK(value(m, ".SDATA.meta.sequenceId") == "<unset>");
    CHECK(value(m, ".SDATA.timeQuality.isSynced") == "0");
    CHECK(get(m, Field::kProgram) == "%SYS-5-RESTART");
    CHECK(get(m, Field::kMessage) == "System restarted --");
  }
  SUBCASE("digits and a colon without a space are no sequence number") {
    LogMessage m = parse("<13>123:abc");
    CHECK(value(m, ".SDATA.meta.sequenceId") == "<unset>");
    CHECK(get(m, Field::kProgram) == "123");
    CHECK(get(m, Field::kMessage) == "abc");
    m = parse("<13>12a: x");
    CHECK(value(m, ".SDATA.meta.sequenceId") == "<unset>");
    CHECK(get(m, Field::kProgram) == "12a");
    m = parse("<13>77:");
    CHECK(value(m, ".SDATA.meta.sequenceId") == "<unset>");
  }
}

TEST_CASE("rfc3164: Cisco ASA/PIX stamps carry their own year") {
  // Received in 2026: the year must come from the stamp, not be guessed.
  const int64_t received = utc(2026, 6, 1);
  LogMessage m = parse(
      "<166>Jan 15 2024 10:00:00: %ASA-6-302013: Built outbound TCP connection 1234 for "
      "outside:192.0.2.1/443 (192.0.2.1/443) to inside:10.0.0.5/51234 (10.0.0.5/51234)",
      utc_options(), received);
  CHECK(m.pri == 166);
  CHECK(show(m.stamp) == show(stamp(utc(2024, 1, 15, 10))));
  CHECK(get(m, Field::kHost) == kPeer);
  CHECK(get(m, Field::kProgram) == "%ASA-6-302013");
  CHECK(get(m, Field::kMessage) ==
        "Built outbound TCP connection 1234 for outside:192.0.2.1/443 (192.0.2.1/443) to inside:10.0.0.5/51234 "
        "(10.0.0.5/51234)");

  m = parse(
      "<164>Mar  3 2023 08:15:30 asa-fw01 %ASA-4-106023: Deny tcp src outside:203.0.113.9/4455 dst "
      "inside:10.0.0.5/22 by access-group \"outside_in\" [0x0, 0x0]",
      utc_options(), received);
  CHECK(show(m.stamp) == show(stamp(utc(2023, 3, 3, 8, 15, 30))));
  CHECK(get(m, Field::kHost) == "asa-fw01");
  CHECK(get(m, Field::kProgram) == "%ASA-4-106023");
  CHECK(get(m, Field::kMessage) ==
        "Deny tcp src outside:203.0.113.9/4455 dst inside:10.0.0.5/22 by access-group \"outside_in\" [0x0, 0x0]");
}

TEST_CASE("rfc3164: Linksys stamps with the year after the time") {
  LogMessage m = parse("<30>Jan 15 10:00:00 2023 wrt54g kernel: ACCEPT IN=eth1 OUT=vlan1 SRC=192.0.2.5");
  CHECK(show(m.stamp) == show(stamp(utc(2023, 1, 15, 10))));
  CHECK(get(m, Field::kHost) == "wrt54g");
  CHECK(get(m, Field::kProgram) == "kernel");
  CHECK(get(m, Field::kMessage) == "ACCEPT IN=eth1 OUT=vlan1 SRC=192.0.2.5");
}

TEST_CASE("rfc3164: ISO 8601 stamps in a BSD header") {
  LogMessage m = parse("<34>2024-01-15T10:00:00.123456+01:00 myhost su[812]: 'su root' failed for alice on /dev/pts/3");
  CHECK(show(m.stamp) == show(stamp(utc(2024, 1, 15, 9), 3600, 123456000, 6)));
  CHECK(get(m, Field::kHost) == "myhost");
  CHECK(get(m, Field::kProgram) == "su");
  CHECK(get(m, Field::kPid) == "812");
  CHECK(get(m, Field::kMessage) == "'su root' failed for alice on /dev/pts/3");
  CHECK_FALSE(m.has_flag(logferry::kFlagRfc5424));

  m = parse("<13>2024-01-15T10:00:00Z host app: x");
  CHECK(show(m.stamp) == show(stamp(utc(2024, 1, 15, 10))));
  m = parse("<13>2024-01-15t10:00:00z host app: x");
  CHECK(show(m.stamp) == show(stamp(utc(2024, 1, 15, 10))));
  CHECK(get(m, Field::kHost) == "host");
  m = parse("<13>2024-01-15T10:00:00-08:00 host app: x");
  CHECK(show(m.stamp) == show(stamp(utc(2024, 1, 15, 18), -28800)));
  m = parse("<13>2024-01-15T10:00:00+05:45 host app: x");
  CHECK(show(m.stamp) == show(stamp(utc(2024, 1, 15, 10) - 20700, 20700)));
  // A Cisco-style colon after the stamp is skipped.
  m = parse("<13>2024-01-15T10:00:00+01:00: host app: x");
  CHECK(get(m, Field::kHost) == "host");
  CHECK(get(m, Field::kProgram) == "app");
  // Without an offset the configured zone applies.
  ParseOptions o = utc_options();
  o.time_zone = zone("+05:30");
  m = parse("<13>2024-01-15T10:00:00 host app: x", o);
  CHECK(show(m.stamp) == show(stamp(utc(2024, 1, 15, 10) - 19800, 19800)));
  CHECK(get(m, Field::kHost) == "host");
  // An impossible ISO stamp is no stamp.
  m = parse("<13>2024-13-15T10:00:00Z host app: x");
  CHECK(show(m.stamp) == show(received_stamp()));
  m = parse("<13>2024-01-15T10:00:00+24:00 host app: x");
  CHECK(show(m.stamp) == show(received_stamp()));
}

TEST_CASE("rfc3164: messages without PRI get the default priority") {
  LogMessage m = parse("Jan 15 10:00:00 host app[1]: hello");
  CHECK(m.pri == 13);  // user.notice
  CHECK(get(m, Field::kHost) == "host");
  CHECK(get(m, Field::kProgram) == "app");
  CHECK(get(m, Field::kMessage) == "hello");
  CHECK_FALSE(m.has_flag(logferry::kFlagParseError));

  ParseOptions o = utc_options();
  o.default_pri = 134;  // local0.info
  m = parse("Jan 15 10:00:00 host app[1]: hello", o);
  CHECK(m.pri == 134);

  // No stamp either: "program[pid]: message", stamped when received.
  m = parse("myapp[77]: started");
  CHECK(m.pri == 13);
  CHECK(get(m, Field::kProgram) == "myapp");
  CHECK(get(m, Field::kPid) == "77");
  CHECK(get(m, Field::kMessage) == "started");
  CHECK(show(m.stamp) == show(received_stamp()));
  CHECK(m.get(Field::kHost) == kPeer);

  // Plain text: the first word is taken as the program, as syslog-ng does.
  m = parse("hello world");
  CHECK(get(m, Field::kProgram) == "hello");
  CHECK(get(m, Field::kMessage) == "world");
}

TEST_CASE("rfc3164: PRI but no stamp") {
  LogMessage m = parse("<13>myapp[77]: started");
  CHECK(get(m, Field::kProgram) == "myapp");
  CHECK(get(m, Field::kPid) == "77");
  CHECK(get(m, Field::kMessage) == "started");
  CHECK(show(m.stamp) == show(received_stamp()));
  CHECK(get(m, Field::kHost) == kPeer);
}

TEST_CASE("rfc3164: without a hostname HOST falls back to HOST_FROM") {
  LogMessage m = parse("<13>Jan 15 10:00:00 sshd[99]: hi");
  CHECK(get(m, Field::kHost) == kPeer);
  CHECK(get(m, Field::kProgram) == "sshd");
  CHECK(get(m, Field::kPid) == "99");
  CHECK(get(m, Field::kMessage) == "hi");

  m = parse("<13>Jan 15 10:00:00 app: hi");
  CHECK(get(m, Field::kHost) == kPeer);
  CHECK(get(m, Field::kProgram) == "app");

  // Nothing to fall back on: HOST stays empty.
  m = parse("<13>Jan 15 10:00:00 sshd[99]: hi", utc_options(), kReceived, "");
  CHECK(get(m, Field::kHost).empty());
  m = parse("<13>Jan 15 10:00:00 host sshd[99]: hi", utc_options(), kReceived, "");
  CHECK(get(m, Field::kHost) == "host");
}

TEST_CASE("rfc3164: expect_hostname=false (local sources) takes the first word as PROGRAM") {
  ParseOptions o = utc_options();
  o.expect_hostname = false;
  LogMessage m = parse("<13>Jan 15 10:00:00 myprog[1]: msg", o);
  CHECK(get(m, Field::kProgram) == "myprog");
  CHECK(get(m, Field::kPid) == "1");
  CHECK(get(m, Field::kHost) == kPeer);
  m = parse("<13>Jan 15 10:00:00 myhost myprog: msg", o);
  CHECK(get(m, Field::kProgram) == "myhost");
  CHECK(get(m, Field::kMessage) == "myprog: msg");
  CHECK(get(m, Field::kHost) == kPeer);
}

TEST_CASE("rfc3164: IPv6 addresses as hostnames") {
  for (std::string host : {"2001:db8::1", "fe80::a00:27ff:fe4e:66a1", "::1", "2001:db8:85a3:0:0:8a2e:370:7334",
                           "::ffff:192.0.2.128", "dead:beef:cafe::"}) {
    CAPTURE(host);
    LogMessage m = parse("<13>Jan 15 10:00:00 " + host + " sshd[1]: x");
    CHECK(get(m, Field::kHost) == host);
    CHECK(get(m, Field::kProgram) == "sshd");
    CHECK(get(m, Field::kPid) == "1");
    CHECK(get(m, Field::kMessage) == "x");
  }
  // Not IPv6: a 5-digit group, or more than 7 colons, ends at the colon.
  LogMessage m = parse("<13>Jan 15 10:00:00 abcde:1 sshd: x");
  CHECK(get(m, Field::kHost) == kPeer);
  CHECK(get(m, Field::kProgram) == "abcde");
  CHECK(get(m, Field::kMessage) == "1 sshd: x");
  m = parse("<13>Jan 15 10:00:00 1:2:3:4:5:6:7:8:9 sshd: x");
  CHECK(get(m, Field::kHost) == kPeer);
  CHECK(get(m, Field::kProgram) == "1");
}

TEST_CASE("rfc3164: hostnames are at most 255 bytes") {
  const std::string h255(255, 'h');
  LogMessage m = parse("<13>Jan 15 10:00:00 " + h255 + " app: x");
  CHECK(get(m, Field::kHost) == h255);
  CHECK(get(m, Field::kProgram) == "app");
  const std::string h256(256, 'h');
  m = parse("<13>Jan 15 10:00:00 " + h256 + " app: x");
  CHECK(get(m, Field::kHost) == kPeer);
  CHECK(get(m, Field::kProgram) == h256);
}

TEST_CASE("rfc3164: check_hostname stops at characters no hostname has") {
  ParseOptions o = utc_options();
  LogMessage m = parse("<13>Jan 15 10:00:00 bad!host prog: msg", o);
  CHECK(get(m, Field::kHost) == "bad!host");  // unchecked: anything up to the space
  CHECK(get(m, Field::kProgram) == "prog");

  o.check_hostname = true;
  m = parse("<13>Jan 15 10:00:00 bad!host prog: msg", o);
  CHECK(get(m, Field::kHost) == kPeer);
  CHECK(get(m, Field::kProgram) == "bad!host");
  CHECK(get(m, Field::kMessage) == "prog: msg");

  for (std::string host : {"relay@host/x_1.example-2.com", "2001:db8::1", "WEB01"}) {
    CAPTURE(host);
    m = parse("<13>Jan 15 10:00:00 " + host + " prog: msg", o);
    CHECK(get(m, Field::kHost) == host);
    CHECK(get(m, Field::kProgram) == "prog");
  }
}

TEST_CASE("rfc3164: AIX 'Message forwarded from'") {
  for (bool expect_hostname : {true, false}) {
    CAPTURE(expect_hostname);
    ParseOptions o = utc_options();
    o.expect_hostname = expect_hostname;
    LogMessage m = parse("<13>Jan 15 10:00:00 Message forwarded from aixbox: sshd[77]: Accepted password for bob", o);
    CHECK(get(m, Field::kHost) == "aixbox");
    CHECK(get(m, Field::kProgram) == "sshd");
    CHECK(get(m, Field::kPid) == "77");
    CHECK(get(m, Field::kMessage) == "Accepted password for bob");
    CHECK(show(m.stamp) == show(stamp(utc(2024, 1, 15, 10))));
  }
}

TEST_CASE("rfc3164: 'last message repeated' has neither host nor program") {
  LogMessage m = parse("<13>Jan 15 10:00:00 last message repeated 5 times");
  CHECK(get(m, Field::kHost) == kPeer);
  CHECK(get(m, Field::kProgram).empty());
  CHECK(get(m, Field::kMessage) == "last message repeated 5 times");
  CHECK(show(m.stamp) == show(stamp(utc(2024, 1, 15, 10))));
  // After a hostname it is an ordinary message (syslog-ng reads it the same way).
  m = parse("<13>Jan 15 10:00:00 myhost last message repeated 5 times");
  CHECK(get(m, Field::kHost) == "myhost");
  CHECK(get(m, Field::kProgram) == "last");
}

TEST_CASE("rfc3164: year guessing around the new year") {
  const int64_t jan2 = utc(2025, 1, 2);
  const int64_t dec31 = utc(2024, 12, 31, 23, 30);
  SUBCASE("a December stamp received in January is last year's") {
    LogMessage m = parse("<13>Dec 31 23:59:59 host app: x", utc_options(), jan2);
    CHECK(show(m.stamp) == show(stamp(utc(2024, 12, 31, 23, 59, 59))));
  }
  SUBCASE("a January stamp received in December is next year's") {
    LogMessage m = parse("<13>Jan  1 00:10:00 host app: x", utc_options(), dec31);
    CHECK(show(m.stamp) == show(stamp(utc(2025, 1, 1, 0, 10))));
  }
  SUBCASE("otherwise the year received") {
    CHECK(parse("<13>Jan  1 00:10:00 host app: x", utc_options(), jan2).stamp.sec == utc(2025, 1, 1, 0, 10));
    CHECK(parse("<13>Nov 30 00:00:00 host app: x", utc_options(), jan2).stamp.sec == utc(2025, 11, 30));
    CHECK(parse("<13>Dec 24 18:00:00 host app: x").stamp.sec == utc(2024, 12, 24, 18));
    CHECK(parse("<13>Jan  1 00:00:00 host app: x").stamp.sec == utc(2024, 1, 1));
    CHECK(parse("<13>Dec 30 00:00:00 host app: x", utc_options(), dec31).stamp.sec == utc(2024, 12, 30));
  }
  SUBCASE("'received in January' is judged in the configured zone") {
    // 2024-12-31T23:30Z is already 2025-01-01 00:30 in Budapest.
    ParseOptions o = utc_options();
    o.time_zone = zone("Europe/Budapest");
    LogMessage m = parse("<13>Dec 31 23:59:00 host app: x", o, dec31);
    CHECK(show(m.stamp) == show(stamp(utc(2024, 12, 31, 22, 59), 3600)));
    m = parse("<13>Jan  1 00:10:00 host app: x", o, dec31);
    CHECK(show(m.stamp) == show(stamp(utc(2024, 12, 31, 23, 10), 3600)));
  }
}

TEST_CASE("rfc3164: --time-zone for stamps without an offset") {
  SUBCASE("fixed offsets") {
    ParseOptions o = utc_options();
    o.time_zone = zone("+02:00");
    LogMessage m = parse("<13>Jan 15 10:00:00 host app: x", o);
    CHECK(show(m.stamp) == show(stamp(utc(2024, 1, 15, 8), 7200)));
    o.time_zone = zone("-0530");
    m = parse("<13>Jan 15 10:00:00 host app: x", o);
    CHECK(show(m.stamp) == show(stamp(utc(2024, 1, 15, 15, 30), -19800)));
  }
  SUBCASE("a named zone, with DST") {
    ParseOptions o = utc_options();
    o.time_zone = zone("Europe/Budapest");
    const int64_t july = utc(2024, 7, 20);
    CHECK(show(parse("<13>Jul 15 12:00:00 host app: x", o, july).stamp) ==
          show(stamp(utc(2024, 7, 15, 10), 7200)));
    CHECK(show(parse("<13>Jan 15 12:00:00 host app: x", o, july).stamp) ==
          show(stamp(utc(2024, 1, 15, 11), 3600)));
    // Around the changes (last Sundays of March and October 2024).
    CHECK(show(parse("<13>Mar 31 01:59:59 host app: x", o, july).stamp) ==
          show(stamp(utc(2024, 3, 31, 0, 59, 59), 3600)));
    CHECK(show(parse("<13>Mar 31 03:30:00 host app: x", o, july).stamp) ==
          show(stamp(utc(2024, 3, 31, 1, 30), 7200)));
    CHECK(show(parse("<13>Oct 27 01:30:00 host app: x", o, july).stamp) ==
          show(stamp(utc(2024, 10, 26, 23, 30), 7200)));
    CHECK(show(parse("<13>Oct 27 03:30:00 host app: x", o, july).stamp) ==
          show(stamp(utc(2024, 10, 27, 2, 30), 3600)));
    // Fractions survive the zone conversion.
    CHECK(show(parse("<13>Jul 15 12:00:00.250 host app: x", o, july).stamp) ==
          show(stamp(utc(2024, 7, 15, 10), 7200, 250000000, 3)));
  }
  SUBCASE("a stamp with its own offset ignores the option") {
    ParseOptions o = utc_options();
    o.time_zone = zone("Europe/Budapest");
    LogMessage m = parse("<13>2024-07-15T12:00:00+00:00 host app: x", o);
    CHECK(show(m.stamp) == show(stamp(utc(2024, 7, 15, 12), 0)));
    m = parse("<13>1 2024-07-15T12:00:00-03:00 host app - - - x", o);
    CHECK(show(m.stamp) == show(stamp(utc(2024, 7, 15, 15), -10800)));
  }
  SUBCASE("no option: the local zone") {
    ParseOptions o;  // time_zone null
    LogMessage m = parse("<13>Jan 15 10:00:00 host app: x", o);
    const int32_t off = TimeZone::local()->offset_for_local(utc(2024, 1, 15, 10));
    CHECK(show(m.stamp) == show(stamp(utc(2024, 1, 15, 10) - off, off)));
  }
}

TEST_CASE("rfc3164: kernel messages from a local source without a stamp") {
  ParseOptions o = utc_options();
  o.local = true;
  o.expect_hostname = false;
  LogMessage m = parse("<6>[ 1234.567890] usb 1-1: new high-speed USB device number 2 using xhci_hcd", o);
  CHECK(get(m, Field::kProgram) == "kernel");
  CHECK(get(m, Field::kPid).empty());
  CHECK(get(m, Field::kMessage) == "[ 1234.567890] usb 1-1: new high-speed USB device number 2 using xhci_hcd");
  CHECK(show(m.stamp) == show(received_stamp()));
  // Other facilities parse the program as usual.
  m = parse("<14>myapp: hi", o);
  CHECK(get(m, Field::kProgram) == "myapp");
  CHECK(get(m, Field::kMessage) == "hi");
  // And so does kern over the network.
  o.local = false;
  m = parse("<6>kernel: hi", o);
  CHECK(get(m, Field::kProgram) == "kernel");
  CHECK(get(m, Field::kMessage) == "hi");
}

TEST_CASE("rfc3164: bad PRI keeps the raw bytes and marks the error") {
  for (std::string raw : {"<192>Jan 15 10:00:00 host app: x", "<1000>x", "<>x", "<abc>x", "<13", "<-1>x", "<",
                          "<1 3>x", "<0013>x", "<999>"}) {
    CAPTURE(raw);
    LogMessage m = parse(raw);
    check_parse_error(m, raw, "rfc3164: invalid PRI at byte 0");
    CHECK(m.pri == 13);
    CHECK(m.values().size() == 1);  // PARSE_ERROR only
  }
  ParseOptions o = utc_options();
  o.default_pri = 134;
  LogMessage m = parse("<200>x", o);
  CHECK(m.pri == 134);
  CHECK(m.has_flag(logferry::kFlagParseError));
}

// ---------------------------------------------------------------------------
// RFC 5424

TEST_CASE("rfc5424: a complete message") {
  const std::string raw =
      "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 [exampleSDID@32473 iut=\"3\" "
      "eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"] "
      "\xEF\xBB\xBF"
      "An application event log entry...";
  LogMessage m = parse(raw);
  CHECK(m.pri == 165);
  CHECK(m.facility() == 20);  // local4
  CHECK(m.severity() == 5);   // notice
  CHECK(show(m.stamp) == show(stamp(1065910455, 0, 3000000, 3)));
  CHECK(get(m, Field::kHost) == "mymachine.example.com");
  CHECK(get(m, Field::kProgram) == "evntslog");
  CHECK(get(m, Field::kPid) == "1234");
  CHECK(get(m, Field::kMsgId) == "ID47");
  CHECK(get(m, Field::kMessage) == "An application event log entry...");
  CHECK(m.flags == (logferry::kFlagRfc5424 | logferry::kFlagUtf8Bom));
  CHECK(m.tags().empty());
  CHECK(m.values().empty());
  CHECK(m.raw() == raw);
  REQUIRE(m.sd_elements().size() == 2);
  CHECK(m.view(m.sd_elements()[0].id) == "exampleSDID@32473");
  CHECK(m.sd_elements()[0].count == 3);
  CHECK(m.view(m.sd_elements()[1].id) == "examplePriority@32473");
  CHECK(m.sd_elements()[1].count == 1);
  CHECK(sd(m, "exampleSDID@32473", "iut") == "3");
  CHECK(sd(m, "exampleSDID@32473", "eventSource") == "Application");
  CHECK(sd(m, "exampleSDID@32473", "eventID") == "1011");
  CHECK(sd(m, "examplePriority@32473", "class") == "high");
  CHECK(sd(m, "examplePriority@32473", "iut") == "<unset>");
}

TEST_CASE("rfc5424: NILVALUE in every field") {
  LogMessage m = parse("<13>1 - - - - - -");
  CHECK(m.flags == logferry::kFlagRfc5424);
  CHECK(show(m.stamp) == show(received_stamp()));
  CHECK(get(m, Field::kHost) == kPeer);
  CHECK(get(m, Field::kProgram).empty());
  CHECK(get(m, Field::kPid).empty());
  CHECK(get(m, Field::kMsgId).empty());
  CHECK(m.sd_elements().empty());
  CHECK(get(m, Field::kMessage).empty());

  // One NILVALUE at a time; the other fields still parse.
  const std::vector<std::string> full = {"2024-01-15T10:00:00Z", "host", "app", "42", "MSG1", "[a b=\"c\"]"};
  for (size_t nil = 0; nil < full.size(); ++nil) {
    CAPTURE(nil);
    std::string raw = "<14>1";
    for (size_t i = 0; i < full.size(); ++i) raw += " " + (i == nil ? "-"s : full[i]);
    raw += " the message";
    m = parse(raw);
    CHECK(m.flags == logferry::kFlagRfc5424);
    CHECK(get(m, Field::kMessage) == "the message");
    CHECK(show(m.stamp) == show(nil == 0 ? received_stamp() : stamp(utc(2024, 1, 15, 10))));
    CHECK(get(m, Field::kHost) == (nil == 1 ? std::string(kPeer) : "host"s));
    CHECK(get(m, Field::kProgram) == (nil == 2 ? ""s : "app"s));
    CHECK(get(m, Field::kPid) == (nil == 3 ? ""s : "42"s));
    CHECK(get(m, Field::kMsgId) == (nil == 4 ? ""s : "MSG1"s));
    CHECK(m.sd_elements().size() == (nil == 5 ? 0u : 1u));
  }
}

TEST_CASE("rfc5424: stamps with fractions and offsets") {
  struct Case {
    const char* text;
    Timestamp want;
  };
  const Case cases[] = {
      {"2024-01-15T10:00:00.123456+02:00", stamp(utc(2024, 1, 15, 8), 7200, 123456000, 6)},
      {"2024-01-15T10:00:00.1-07:00", stamp(utc(2024, 1, 15, 17), -25200, 100000000, 1)},
      {"2024-01-15T10:00:00Z", stamp(utc(2024, 1, 15, 10))},
      {"2024-01-15T10:00:00+05:45", stamp(utc(2024, 1, 15, 10) - 20700, 20700)},
      {"2024-01-15T10:00:00.123456789012Z", stamp(utc(2024, 1, 15, 10), 0, 123456789, 9)},
      {"1985-04-12T23:20:50.52Z", stamp(482196050, 0, 520000000, 2)},
      {"2024-02-29T23:59:60Z", stamp(utc(2024, 2, 29, 23, 59, 59))},
  };
  for (const Case& c : cases) {
    const std::string text = c.text;
    CAPTURE(text);
    LogMessage m = parse("<13>1 " + text + " host app - - - x");
    CHECK(m.flags == logferry::kFlagRfc5424);
    CHECK(show(m.stamp) == show(c.want));
    CHECK(get(m, Field::kMessage) == "x");
  }
  // No offset at all: the configured zone.
  ParseOptions o = utc_options();
  o.time_zone = zone("+01:00");
  LogMessage m = parse("<13>1 2024-01-15T10:00:00 host app - - - x", o);
  CHECK(show(m.stamp) == show(stamp(utc(2024, 1, 15, 9), 3600)));
}

TEST_CASE("rfc5424: SD-PARAM escapes") {
  const std::string raw =
      R"(<13>1 - host app - - [x@32473 q="say \"hi\"" b="a\]b" s="back\\slash" u="C:\Windows\new" )"
      R"(e="" end="tail\\" utf="k\xc3\xb6rte"] msg)";
  LogMessage m = parse(raw);
  REQUIRE(m.flags == logferry::kFlagRfc5424);
  CHECK(sd(m, "x@32473", "q") == R"(say "hi")");
  CHECK(sd(m, "x@32473", "b") == "a]b");
  CHECK(sd(m, "x@32473", "s") == R"(back\slash)");
  CHECK(sd(m, "x@32473", "u") == R"(C:\Windows\new)");  // unknown escapes keep their backslash
  CHECK(sd(m, "x@32473", "e").empty());
  CHECK(sd(m, "x@32473", "end") == R"(tail\)");
  CHECK(sd(m, "x@32473", "utf") == R"(k\xc3\xb6rte)");
  CHECK(get(m, Field::kMessage) == "msg");
  CHECK(m.raw() == raw);  // unescaping does not touch the raw bytes

  // UTF-8 inside a value is kept byte for byte.
  m = parse("<13>1 - host app - - [x@1 city=\"K\xc3\xb6ln\"] msg");
  CHECK(sd(m, "x@1", "city") == "K\xc3\xb6ln");
}

TEST_CASE("rfc5424: several SD elements, duplicate names and empty elements") {
  LogMessage m = parse(
      "<13>1 - host app - - [origin ip=\"192.0.2.1\" ip=\"192.0.2.2\" software=\"rsyslogd\"][meta "
      "sequenceId=\"7\"][empty@1] body");
  REQUIRE(m.sd_elements().size() == 3);
  CHECK(m.sd_elements()[0].count == 3);
  CHECK(m.sd_elements()[1].count == 1);
  CHECK(m.sd_elements()[2].count == 0);
  CHECK(m.sd_params().size() == 4);
  CHECK(sd(m, "origin", "ip") == "192.0.2.1");  // the first of duplicates
  std::vector<std::tuple<std::string, std::string, std::string, bool>> seen;
  logferry::for_each_sd_param(m, [&](std::string_view id, std::string_view n, std::string_view v, bool first) {
    seen.emplace_back(std::string(id), std::string(n), std::string(v), first);
  });
  const std::vector<std::tuple<std::string, std::string, std::string, bool>> want = {
      {"origin", "ip", "192.0.2.1", true},   {"origin", "ip", "192.0.2.2", false},
      {"origin", "software", "rsyslogd", false}, {"meta", "sequenceId", "7", true},
      {"empty@1", "", "", true},
  };
  CHECK(seen == want);
  CHECK(get(m, Field::kMessage) == "body");
}

TEST_CASE("rfc5424: SD-ID and PARAM-NAME are 1..255 printable characters (syslog-ng accepts over 32)") {
  const std::string id32(32, 'i'), id33(33, 'i'), id255(255, 'i'), id256(256, 'i');
  LogMessage m = parse("<13>1 - h a - - [" + id32 + " " + id32 + "=\"v\"] x");
  CHECK(m.flags == logferry::kFlagRfc5424);
  CHECK(sd(m, id32, id32) == "v");

  m = parse("<13>1 - h a - - [" + id33 + " " + id255 + "=\"w\"] x");
  CHECK(m.flags == logferry::kFlagRfc5424);
  CHECK(sd(m, id33, id255) == "w");
  m = parse("<13>1 - h a - - [" + id256 + "] x");
  CHECK(m.has_flag(logferry::kFlagParseError));
  m = parse("<13>1 - h a - - [id " + id256 + "=\"v\"] x");
  CHECK(m.has_flag(logferry::kFlagParseError));
}

TEST_CASE("rfc5424: fields longer than the RFC allows are cut, as syslog-ng does") {
  const std::string host(300, 'h'), app(60, 'a'), procid(200, 'p'), msgid(40, 'm');
  LogMessage m = parse("<13>1 - " + host + " " + app + " " + procid + " " + msgid + " - x");
  CHECK(m.flags == logferry::kFlagRfc5424);
  CHECK(get(m, Field::kHost) == host.substr(0, 255));
  CHECK(get(m, Field::kProgram) == app.substr(0, 48));
  CHECK(get(m, Field::kPid) == procid.substr(0, 128));
  CHECK(get(m, Field::kMsgId) == msgid.substr(0, 32));
  CHECK(get(m, Field::kMessage) == "x");
  // At the limits nothing is cut.
  m = parse("<13>1 - " + host.substr(0, 255) + " " + app.substr(0, 48) + " " + procid.substr(0, 128) + " " +
            msgid.substr(0, 32) + " - x");
  CHECK(get(m, Field::kHost).size() == 255);
  CHECK(get(m, Field::kProgram).size() == 48);
  CHECK(get(m, Field::kPid).size() == 128);
  CHECK(get(m, Field::kMsgId).size() == 32);
}

TEST_CASE("rfc5424: MSG edge cases (empty, BOM, spaces)") {
  CHECK(get(parse("<13>1 - h a p m -"), Field::kMessage).empty());
  CHECK(get(parse("<13>1 - h a p m - "), Field::kMessage).empty());
  LogMessage m = parse("<13>1 - h a p m [a b=\"c\"]");
  CHECK(m.flags == logferry::kFlagRfc5424);
  CHECK(get(m, Field::kMessage).empty());
  CHECK(sd(m, "a", "b") == "c");

  m = parse("<13>1 - h a p m - \xEF\xBB\xBF");
  CHECK(m.flags == (logferry::kFlagRfc5424 | logferry::kFlagUtf8Bom));
  CHECK(get(m, Field::kMessage).empty());
  m = parse("<13>1 - h a p m - \xEF\xBB");  // not a whole BOM
  CHECK(m.flags == logferry::kFlagRfc5424);
  CHECK(get(m, Field::kMessage) == "\xEF\xBB");
  m = parse("<13>1 - h a p m - \xEF\xBB\xBF\xEF\xBB\xBFtwo");  // only the first is the BOM
  CHECK(get(m, Field::kMessage) == "\xEF\xBB\xBFtwo");

  m = parse("<13>1 - h a p m -   indented");
  CHECK(get(m, Field::kMessage) == "  indented");  // one SP is the separator
}

TEST_CASE("rfc5424: a broken header keeps the raw bytes and says where") {
  struct Case {
    std::string raw;
    const char* error;
  };
  const std::string id33(256, 'i');  // over the 255 logferry accepts
  const Case cases[] = {
      {"<13>1 garbage host app - - - msg", "rfc5424: invalid TIMESTAMP at byte 6"},
      {"<13>1 2024-01-15T10:00:00Z", "rfc5424: expected SP after TIMESTAMP at byte 26"},
      {"<13>1 2024-01-15T10:00:00+0100 host app - - - x", "rfc5424: expected SP after TIMESTAMP at byte 25"},
      {"<13>1 2024-01-15T10:00:00+24:00 host app - - - x", "rfc5424: invalid TIMESTAMP at byte 6"},
      {"<13>1 2024-01-15T10:00:00Z host", "rfc5424: invalid HOSTNAME at byte 31"},
      {"<13>1 -  host app - - - x", "rfc5424: invalid HOSTNAME at byte 8"},
      {"<13>1 - host app", "rfc5424: invalid APP-NAME at byte 16"},
      {"<13>1 - host  app - - - x", "rfc5424: invalid APP-NAME at byte 13"},
      {"<13>1 - h a p", "rfc5424: invalid PROCID at byte 13"},
      {"<13>1 - h a p m", "rfc5424: invalid MSGID at byte 15"},
      {"<13>1 - h a p m x", "rfc5424: invalid STRUCTURED-DATA at byte 16"},
      {"<13>1 - h a p m [id", "rfc5424: invalid STRUCTURED-DATA at byte 19"},
      {"<13>1 - h a p m [id a=\"b\"", "rfc5424: invalid STRUCTURED-DATA at byte 25"},
      {"<13>1 - h a p m [id a=\"b]\"] x", "rfc5424: invalid STRUCTURED-DATA at byte 24"},
      {"<13>1 - h a p m [id a=b] x", "rfc5424: invalid STRUCTURED-DATA at byte 22"},
      {"<13>1 - h a p m [id a=\"unterminated", "rfc5424: invalid STRUCTURED-DATA at byte 35"},
      {"<13>1 - h a p m [id a=\"b\\", "rfc5424: invalid STRUCTURED-DATA at byte 25"},
      {"<13>1 - h a p m [] x", "rfc5424: invalid STRUCTURED-DATA at byte 17"},
      {"<13>1 - h a p m [id =\"x\"] x", "rfc5424: invalid STRUCTURED-DATA at byte 20"},
      {"<13>1 - h a p m [" + id33 + "] x", "rfc5424: invalid STRUCTURED-DATA at byte 273"},
      {"<13>1 - h a p m [ok a=\"b\"][bad", "rfc5424: invalid STRUCTURED-DATA at byte 30"},
      {"<13>1 - h a p m [id a=\"b\"]msg", "rfc5424: expected SP before MSG at byte 26"},
      {"<13>1 - h a p m -x", "rfc5424: expected SP before MSG at byte 17"},
      {"<192>1 - h a p m - x", "rfc5424: invalid PRI at byte 0"},
      {"<1000>1 - h a p m - x", "rfc5424: invalid PRI at byte 0"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.raw);
    LogMessage m = parse(c.raw);
    check_parse_error(m, c.raw, c.error);
  }
  // A valid PRI is kept even though the rest of the header is broken.
  CHECK(parse("<165>1 garbage").pri == 165);
}

TEST_CASE("format option: forcing one syntax") {
  SUBCASE("rfc5424 forced on a message without '<PRI>1 ' falls back to RFC 3164, as syslog-ng does") {
    ParseOptions o = utc_options();
    o.format = SyslogFormat::kRfc5424;
    LogMessage bsd = parse("<13>Jan 15 10:00:00 host app: x", o);
    CHECK_FALSE(bsd.has_flag(logferry::kFlagParseError));
    CHECK_FALSE(bsd.has_flag(logferry::kFlagRfc5424));
    CHECK(get(bsd, Field::kHost) == "host");
    CHECK(get(bsd, Field::kProgram) == "app");
    CHECK(get(bsd, Field::kMessage) == "x");
    LogMessage v2 = parse("<13>2 - h a p m - x", o);
    CHECK_FALSE(v2.has_flag(logferry::kFlagRfc5424));
    CHECK(get(v2, Field::kProgram) == "2");
    // A broken RFC 5424 header is still an error that keeps the bytes.
    check_parse_error(parse("<13>1 bad", o), "<13>1 bad", "rfc5424: invalid TIMESTAMP at byte 6");
    LogMessage m = parse("<13>1 - h a p m - ok", o);
    CHECK(m.flags == logferry::kFlagRfc5424);
  }
  SUBCASE("rfc3164 forced on an RFC 5424 message reads it the BSD way") {
    ParseOptions o = utc_options();
    o.format = SyslogFormat::kRfc3164;
    LogMessage m = parse("<13>1 2024-01-15T10:00:00Z host app - - - msg", o);
    CHECK_FALSE(m.has_flag(logferry::kFlagRfc5424));
    CHECK_FALSE(m.has_flag(logferry::kFlagParseError));
    CHECK(get(m, Field::kProgram) == "1");
    CHECK(get(m, Field::kMessage) == "2024-01-15T10:00:00Z host app - - - msg");
  }
  SUBCASE("auto needs '<PRI>1 ' to choose RFC 5424") {
    CHECK_FALSE(parse("<13>1").has_flag(logferry::kFlagRfc5424));
    CHECK(get(parse("<13>1"), Field::kProgram) == "1");
    CHECK_FALSE(parse("<13>10 x").has_flag(logferry::kFlagRfc5424));
    CHECK(parse("<13>1 - - - - - -").has_flag(logferry::kFlagRfc5424));
  }
}

// ---------------------------------------------------------------------------
// Options and byte-level behaviour shared by both syntaxes.

TEST_CASE("no_multi_line turns CR and LF in MESSAGE into spaces") {
  ParseOptions o = utc_options();
  const std::string raw3164 = "<13>Jan 15 10:00:00 host app: line1\nline2\r\nline3";
  CHECK(get(parse(raw3164, o), Field::kMessage) == "line1\nline2\r\nline3");
  o.no_multi_line = true;
  LogMessage m = parse(raw3164, o);
  CHECK(get(m, Field::kMessage) == "line1 line2  line3");
  CHECK(m.raw() == raw3164);  // the raw bytes are untouched
  CHECK(get(m, Field::kProgram) == "app");

  m = parse("<13>1 - host app - - [a b=\"x\ny\"] first\nsecond", o);
  CHECK(get(m, Field::kMessage) == "first second");
  CHECK(sd(m, "a", "b") == "x\ny");  // only MESSAGE is flattened

  m = parse("<999>broken\nheader", o);
  CHECK(m.has_flag(logferry::kFlagParseError));
  CHECK(get(m, Field::kMessage) == "<999>broken header");

  m = parse("<13>Jan 15 10:00:00 host app: no newline here", o);
  CHECK(get(m, Field::kMessage) == "no newline here");
}

TEST_CASE("no_parse: the whole line is MESSAGE") {
  ParseOptions o = utc_options();
  o.no_parse = true;
  for (std::string raw : {"<13>Jan 15 10:00:00 host app: msg", "<999>not even valid", "<13>1 - h a p m - x"}) {
    CAPTURE(raw);
    LogMessage m = parse(raw, o);
    CHECK(get(m, Field::kMessage) == raw);
    CHECK(m.pri == 13);
    CHECK(m.flags == 0);
    CHECK(m.tags().empty());
    CHECK(get(m, Field::kProgram).empty());
    CHECK(get(m, Field::kHost) == kPeer);
    CHECK(show(m.stamp) == show(received_stamp()));
  }
  o.default_pri = 134;
  CHECK(parse("<13>x", o).pri == 134);
}

TEST_CASE("trailing newlines, CRs and NULs are framing, not content") {
  LogMessage m = parse("<13>Jan 15 10:00:00 host app: msg\r\n");
  CHECK(get(m, Field::kMessage) == "msg");
  CHECK(m.raw() == "<13>Jan 15 10:00:00 host app: msg");
  m = parse("<13>Jan 15 10:00:00 host app: msg\n\0\n"s);
  CHECK(get(m, Field::kMessage) == "msg");
  m = parse("<13>1 - h a p m - msg\n");
  CHECK(get(m, Field::kMessage) == "msg");
  // Inside the message they stay.
  m = parse("<13>Jan 15 10:00:00 host app: a\0b\rc"s);
  CHECK(get(m, Field::kMessage) == "a\0b\rc"s);
}

TEST_CASE("invalid UTF-8 passes through unchanged") {
  const std::string junk = "\xff\xfe caf\xc3\xa9 \xc3\x28 \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf";
  LogMessage m = parse("<13>Jan 15 10:00:00 host app: " + junk);
  CHECK(get(m, Field::kMessage) == junk);
  m = parse("<13>1 - host app - - - " + junk);
  CHECK(get(m, Field::kMessage) == junk);
  CHECK(m.flags == logferry::kFlagRfc5424);
  m = parse("<13>1 - host app - - - \xEF\xBB\xBF" + junk);
  CHECK(get(m, Field::kMessage) == junk);
  m = parse("<13>Jan 15 10:00:00 h\xffst app: x");  // in the hostname too
  CHECK(get(m, Field::kHost) == "h\xffst");
  m = parse(junk);
  CHECK(m.raw() == junk);
  CHECK_FALSE(m.has_flag(logferry::kFlagParseError));
}

TEST_CASE("empty input") {
  for (std::string raw : {""s, "\n"s, "\r\n"s, "\0"s}) {
    LogMessage m = parse(raw);
    CHECK(m.raw().empty());
    CHECK(get(m, Field::kMessage).empty());
    CHECK(m.pri == 13);
    CHECK(m.flags == 0);
    CHECK(show(m.stamp) == show(received_stamp()));
  }
}

TEST_CASE("a reused message carries nothing over from the previous parse") {
  const std::string first =
      "<165>1 2003-10-11T22:14:15.003Z mymachine app 1 ID47 [a b=\"c\"][d e=\"f\"] \xEF\xBB\xBFhello";
  const std::string second = "<13>Jan 15 10:00:00 sshd[1]: x";
  LogMessage reused;
  for (const std::string& raw : {first, "<999>bad"s, second}) {
    reused.clear();
    reused.received = received_stamp();
    reused.set(Field::kHostFrom, kPeer);
    parse_syslog(raw, utc_options(), reused);
  }
  LogMessage fresh = parse(second);
  CHECK(reused.raw() == fresh.raw());
  for (Field f : {Field::kHost, Field::kProgram, Field::kPid, Field::kMsgId, Field::kMessage}) {
    CHECK(reused.get(f) == fresh.get(f));
  }
  CHECK(reused.flags == fresh.flags);
  CHECK(reused.pri == fresh.pri);
  CHECK(reused.sd_elements().empty());
  CHECK(reused.values().empty());
  CHECK(reused.tags().empty());
  CHECK(show(reused.stamp) == show(fresh.stamp));
}

// ---------------------------------------------------------------------------
// Properties over random input.

namespace {

const std::vector<std::string>& samples() {
  static const std::vector<std::string> s = {
      "<38>Jan 15 10:00:00 myhost sshd[2345]: Accepted publickey for alice from 192.0.2.10 port 52144 ssh2",
      "<22>Mar  3 04:05:06 mx1 postfix/smtpd[4242]: connect from unknown[192.0.2.1]",
      "<189>123: *Mar  1 00:00:05.123: %SYS-5-CONFIG_I: Configured from console by vty0",
      "<166>Jan 15 2024 10:00:00: %ASA-6-302013: Built outbound TCP connection 1234",
      "<30>Jan 15 10:00:00 2023 wrt54g kernel: ACCEPT IN=eth1",
      "<34>2024-01-15T10:00:00.123456+01:00 myhost su[812]: failed",
      "<13>Jan 15 10:00:00 Message forwarded from aixbox: sshd[77]: ok",
      "<13>Jan 15 10:00:00 2001:db8::1 sshd[1]: x",
      "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 [exampleSDID@32473 iut=\"3\" "
      "eventSource=\"Application\"][p@1 class=\"high\"] \xEF\xBB\xBF"
      "An application event",
      R"(<13>1 - host app - - [x@1 q="say \"hi\"" b="a\]b" s="back\\slash"] msg)",
      "<13>1 - - - - - -",
  };
  return s;
}

std::string strip_framing(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

// What must hold for any input whatsoever.
void check_invariants(std::string_view input, const ParseOptions& o, const LogMessage& m) {
  const std::string raw = strip_framing(input);
  REQUIRE(m.raw() == raw);
  REQUIRE(m.pri <= 191);
  REQUIRE(m.stamp.nsec < 1000000000u);
  REQUIRE(m.stamp.precision <= 9);
  // Touch every span: out-of-range ones trip the sanitizers.
  size_t total = 0;
  for (Field f : {Field::kHost, Field::kHostFrom, Field::kSourceIp, Field::kProgram, Field::kPid, Field::kMsgId,
                  Field::kMessage}) {
    for (char ch : m.get(f)) total += static_cast<unsigned char>(ch);
  }
  for (const auto& e : m.sd_elements()) {
    REQUIRE(e.first + e.count <= m.sd_params().size());
    REQUIRE_FALSE(m.view(e.id).empty());
  }
  for (const auto& p : m.sd_params()) total += m.view(p.name).size() + m.view(p.value).size();
  for (const auto& nv : m.values()) total += m.view(nv.name).size() + m.view(nv.value).size();
  (void)total;
  if (!raw.empty()) REQUIRE_FALSE(m.raw().empty());
  if (m.has_flag(logferry::kFlagParseError)) {
    REQUIRE(m.has_tag("syslog.parse_error"));
    std::string_view why;
    REQUIRE(m.get_value("PARSE_ERROR", &why));
    REQUIRE_FALSE(why.empty());
    REQUIRE_FALSE(m.has_flag(logferry::kFlagRfc5424));
    REQUIRE(m.get(Field::kProgram).empty());
    REQUIRE(m.sd_elements().empty());
    REQUIRE(m.stamp == m.received);
    if (!o.no_multi_line) REQUIRE(m.get(Field::kMessage) == raw);
    REQUIRE(m.get(Field::kMessage).size() == raw.size());
  } else {
    REQUIRE_FALSE(m.has_tag("syslog.parse_error"));
    // Nothing is lost: MESSAGE is the tail of the raw bytes, and the header
    // fields come out of the raw bytes too.
    if (!o.no_multi_line) REQUIRE(std::string_view(raw).ends_with(m.get(Field::kMessage)));
    REQUIRE(m.get(Field::kMessage).size() <= raw.size());
    // The one PROGRAM not taken from the bytes: stamp-less kern messages of local sources.
    if (!(o.local && m.get(Field::kProgram) == "kernel")) REQUIRE(contains(raw, m.get(Field::kProgram)));
    REQUIRE(contains(raw, m.get(Field::kPid)));
    REQUIRE(contains(raw, m.get(Field::kMsgId)));
    if (m.get(Field::kHost) != m.get(Field::kHostFrom)) REQUIRE(contains(raw, m.get(Field::kHost)));
  }
}

std::vector<ParseOptions> option_sets() {
  std::vector<ParseOptions> sets;
  ParseOptions o = utc_options();
  sets.push_back(o);
  o.format = SyslogFormat::kRfc5424;
  sets.push_back(o);
  o.format = SyslogFormat::kRfc3164;
  o.check_hostname = true;
  o.no_multi_line = true;
  sets.push_back(o);
  o = utc_options();
  o.expect_hostname = false;
  o.local = true;
  o.time_zone = zone("Europe/Budapest");
  sets.push_back(o);
  o = utc_options();
  o.no_parse = true;
  sets.push_back(o);
  return sets;
}

std::string random_input(std::mt19937& rng) {
  static const std::string kAlphabet = "<>0123456789 -:.[]=\"\\TZ+*abcJanDecMay\n\r\t\xEF\xBB\xBF\xff";
  std::uniform_int_distribution<size_t> len(0, 120);
  std::uniform_int_distribution<int> kind(0, 4);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<size_t> pick(0, kAlphabet.size() - 1);
  std::string s;
  const size_t n = len(rng);
  for (size_t i = 0; i < n; ++i) s.push_back(kind(rng) == 0 ? static_cast<char>(byte(rng)) : kAlphabet[pick(rng)]);
  return s;
}

std::string mutate(std::string s, std::mt19937& rng) {
  std::uniform_int_distribution<int> op(0, 3);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> count(1, 4);
  for (int k = count(rng); k > 0; --k) {
    if (s.empty()) break;
    std::uniform_int_distribution<size_t> at(0, s.size() - 1);
    switch (op(rng)) {
      case 0: s[at(rng)] = static_cast<char>(byte(rng)); break;
      case 1: s.erase(at(rng), 1); break;
      case 2: s.insert(at(rng), 1, " []\"\\:<>-"[byte(rng) % 9]); break;
      case 3: s.resize(at(rng)); break;
    }
  }
  return s;
}

}  // namespace

TEST_CASE("property: random bytes never crash and always yield a consistent message") {
  std::mt19937 rng(0xC0FFEE);
  const auto sets = option_sets();
  for (int iter = 0; iter < 2000; ++iter) {
    const std::string input = random_input(rng);
    for (const ParseOptions& o : sets) {
      LogMessage m = parse(input, o);
      check_invariants(input, o, m);
    }
  }
}

TEST_CASE("property: mutated real-world samples never crash and keep their bytes") {
  std::mt19937 rng(1234);
  const auto sets = option_sets();
  for (int iter = 0; iter < 200; ++iter) {
    for (const std::string& sample : samples()) {
      const std::string input = mutate(sample, rng);
      for (const ParseOptions& o : sets) {
        LogMessage m = parse(input, o);
        check_invariants(input, o, m);
      }
    }
  }
  // The unmutated samples parse without error.
  for (const std::string& sample : samples()) {
    CAPTURE(sample);
    CHECK_FALSE(parse(sample).has_flag(logferry::kFlagParseError));
  }
}

TEST_CASE("property: every frame of a random stream yields exactly one message") {
  std::mt19937 rng(77);
  std::uniform_int_distribution<int> coin(0, 2);
  for (int iter = 0; iter < 200; ++iter) {
    // A stream of samples, mutated samples and noise, some octet-counted.
    std::string stream;
    const bool octets = iter % 2 == 1;
    for (int i = 0; i < 8; ++i) {
      std::string msg = coin(rng) == 0 ? random_input(rng) : mutate(samples()[rng() % samples().size()], rng);
      if (octets) {
        if (msg.empty()) msg = "x";
        stream += std::to_string(msg.size()) + " " + msg;
      } else {
        stream += msg + "\n";
      }
    }
    logferry::FrameDecoder decoder(octets ? logferry::Framing::kOctetCounted : logferry::Framing::kLines);
    size_t frames = 0, messages = 0;
    LogMessage m;
    auto sink = [&](std::string_view frame, bool truncated) {
      ++frames;
      m.clear();
      m.received = received_stamp();
      m.set(Field::kHostFrom, kPeer);
      parse_syslog(frame, utc_options(), m);
      if (truncated) m.flags |= logferry::kFlagTruncated;
      ++messages;
      check_invariants(frame, utc_options(), m);
      if (!strip_framing(frame).empty()) {
        REQUIRE((!m.get(Field::kMessage).empty() || !m.raw().empty()));
      }
    };
    decoder.feed(stream, sink);
    decoder.finish(sink);
    CHECK(frames == messages);
    CHECK(frames == decoder.counters().frames);
    CHECK(frames >= 1);
  }
}
