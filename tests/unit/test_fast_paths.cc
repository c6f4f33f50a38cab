// Tests for the parser's and the template renderer's fast paths: the
// in-place stamp readers and their per-thread day caches, the byte-class
// scans of the header, and Template::render's path for plain templates.
// The fast paths must give byte for byte what the general code gives.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/message.h"
#include "core/syslog_parser.h"
#include "core/template.h"
#include "core/timestamp.h"

using namespace logferry;

namespace {

int64_t utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

std::shared_ptr<const TimeZone> zone(std::string_view spec) {
  std::string error;
  auto tz = TimeZone::parse(spec, &error);
  REQUIRE_MESSAGE(tz != nullptr, error);
  return tz;
}

ParseOptions options_in(std::string_view spec) {
  ParseOptions o;
  o.time_zone = zone(spec);
  return o;
}

LogMessage parse(std::string_view raw, const ParseOptions& o, int64_t received) {
  LogMessage m;
  m.received = Timestamp{received, 0, 0, 0};
  m.set(Field::kHostFrom, "192.0.2.7");
  m.set(Field::kSourceIp, "192.0.2.7");
  parse_syslog(raw, o, m);
  return m;
}

std::string show(const Timestamp& t) {
  return "sec=" + std::to_string(t.sec) + " nsec=" + std::to_string(t.nsec) + " gmtoff=" +
         std::to_string(t.gmtoff) + " precision=" + std::to_string(t.precision);
}

Timestamp stamp(int64_t sec, int32_t gmtoff, uint32_t nsec = 0, uint8_t precision = 0) {
  return Timestamp{sec, nsec, gmtoff, precision};
}

std::unique_ptr<Template> compile_ok(std::string_view text) {
  std::string error;
  auto t = Template::compile(text, &error);
  INFO("template: ", std::string(text), " error: ", error);
  REQUIRE(t != nullptr);
  return t;
}

// The same template with a part that the fast path does not take (a name
// that no message has renders as nothing), so the whole line is rendered
// by the general code.
std::unique_ptr<Template> general_of(std::string_view text) {
  return compile_ok(std::string(text) + "${NO_SUCH_NAME_ANYWHERE}");
}

// An independent writer of the date macros the fast path handles.
std::string reference_date(std::string_view macro, const Timestamp& ts, int frac_digits) {
  CivilTime c = to_civil(ts);
  static const char* const kMon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[96];
  std::string frac;
  int digits = frac_digits < 0 ? ts.precision : frac_digits;
  if (digits > 9) digits = 9;
  if (digits > 0) {
    uint32_t v = ts.nsec;
    for (int i = digits; i < 9; ++i) v /= 10;
    std::snprintf(buf, sizeof buf, ".%0*u", digits, v);
    frac = buf;
  }
  if (macro == "ISODATE") {
    int32_t off = ts.gmtoff;
    int64_t a = off < 0 ? -static_cast<int64_t>(off) : off;
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d%s%c%02lld:%02lld", c.year, c.month, c.day,
                  c.hour, c.min, c.sec, frac.c_str(), off < 0 ? '-' : '+', static_cast<long long>(a / 3600),
                  static_cast<long long>(a % 3600 / 60));
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%s %2d %02d:%02d:%02d%s", kMon[c.month - 1], c.day, c.hour, c.min, c.sec,
                frac.c_str());
  if (macro == "FULLDATE") return std::to_string(c.year) + " " + buf;
  return buf;  // DATE, STAMP, BSDDATE
}

}  // namespace

// ---------------------------------------------------------------------------
// Parser

TEST_CASE("fast paths: stamps that jump between days, years and DST get their own date") {
  // The day number of the last stamp is kept per thread: interleaved
  // stamps of different days (many senders, clock skew) must not share it.
  ParseOptions o = options_in("Europe/Berlin");
  const int64_t recv = utc(2024, 12, 31, 23, 30);  // 2025-01-01 00:30 in Berlin
  struct Case {
    const char* raw;
    Timestamp want;
  };
  const Case cases[] = {
      {"<13>Dec 31 23:59:59 h a: x", stamp(utc(2024, 12, 31, 22, 59, 59), 3600)},
      {"<13>Jan  1 00:00:00 h a: x", stamp(utc(2024, 12, 31, 23, 0, 0), 3600)},
      {"<13>Dec 31 23:59:59 h a: x", stamp(utc(2024, 12, 31, 22, 59, 59), 3600)},
      {"<13>2024-12-31T23:59:59 h a: x", stamp(utc(2024, 12, 31, 22, 59, 59), 3600)},
      {"<13>2023-12-31T23:59:59 h a: x", stamp(utc(2023, 12, 31, 22, 59, 59), 3600)},
      {"<13>Dec 31 23:59:59 h a: x", stamp(utc(2024, 12, 31, 22, 59, 59), 3600)},
      {"<13>Jan  1 00:00:00 h a: x", stamp(utc(2024, 12, 31, 23, 0, 0), 3600)},
      {"<13>2025-01-01T00:00:00 h a: x", stamp(utc(2024, 12, 31, 23, 0, 0), 3600)},
      // The same wall clock day on both sides of the DST changes of 2024.
      {"<13>2024-03-31T01:59:59 h a: x", stamp(utc(2024, 3, 31, 0, 59, 59), 3600)},
      {"<13>2024-03-31T03:00:00 h a: x", stamp(utc(2024, 3, 31, 1, 0, 0), 7200)},
      {"<13>2024-03-30T23:59:59 h a: x", stamp(utc(2024, 3, 30, 22, 59, 59), 3600)},
      {"<13>2024-03-31T12:00:00 h a: x", stamp(utc(2024, 3, 31, 10, 0, 0), 7200)},
      {"<13>2024-10-27T01:59:59 h a: x", stamp(utc(2024, 10, 26, 23, 59, 59), 7200)},
      {"<13>2024-10-27T03:00:00 h a: x", stamp(utc(2024, 10, 27, 2, 0, 0), 3600)},
      {"<13>2024-10-26T23:59:59 h a: x", stamp(utc(2024, 10, 26, 21, 59, 59), 7200)},
      {"<13>2024-10-27T12:00:00 h a: x", stamp(utc(2024, 10, 27, 11, 0, 0), 3600)},
      // Feb 29 of a leap year, then the day either side.
      {"<13>2024-02-29T00:00:00 h a: x", stamp(utc(2024, 2, 28, 23, 0, 0), 3600)},
      {"<13>2024-03-01T00:00:00 h a: x", stamp(utc(2024, 2, 29, 23, 0, 0), 3600)},
      {"<13>2024-02-28T23:59:59 h a: x", stamp(utc(2024, 2, 28, 22, 59, 59), 3600)},
      {"<13>2024-02-29T23:59:59 h a: x", stamp(utc(2024, 2, 29, 22, 59, 59), 3600)},
  };
  for (int round = 0; round < 3; ++round) {
    for (const auto& c : cases) {
      INFO(c.raw);
      CHECK(show(parse(c.raw, o, recv).stamp) == show(c.want));
    }
  }
}

TEST_CASE("fast paths: BSD stamps around the DST changes and Feb 29, received at different times") {
  ParseOptions o = options_in("Europe/Berlin");
  const int64_t april = utc(2024, 4, 2);
  const int64_t nov = utc(2024, 11, 2);
  for (int round = 0; round < 2; ++round) {
    CHECK(show(parse("<13>Mar 31 01:59:59 h a: x", o, april).stamp) == show(stamp(utc(2024, 3, 31, 0, 59, 59), 3600)));
    CHECK(show(parse("<13>Mar 31 03:00:00 h a: x", o, april).stamp) == show(stamp(utc(2024, 3, 31, 1), 7200)));
    CHECK(show(parse("<13>Mar 30 23:59:59 h a: x", o, april).stamp) == show(stamp(utc(2024, 3, 30, 22, 59, 59), 3600)));
    CHECK(show(parse("<13>Oct 27 03:00:00 h a: x", o, nov).stamp) == show(stamp(utc(2024, 10, 27, 2), 3600)));
    CHECK(show(parse("<13>Oct 27 01:59:59 h a: x", o, nov).stamp) == show(stamp(utc(2024, 10, 26, 23, 59, 59), 7200)));
    // Feb 29 received in a leap year, then in a year without one (the day
    // after Feb 28 then, as days_from_civil counts it: unchanged behaviour).
    CHECK(show(parse("<13>Feb 29 12:00:00 h a: x", o, utc(2024, 3, 1)).stamp) ==
          show(stamp(utc(2024, 2, 29, 11), 3600)));
    CHECK(show(parse("<13>Feb 29 12:00:00 h a: x", o, utc(2025, 3, 1)).stamp) ==
          show(stamp(utc(2025, 3, 1, 11), 3600)));
    CHECK(show(parse("<13>Feb 29 12:00:00 h a: x", o, utc(2024, 3, 1)).stamp) ==
          show(stamp(utc(2024, 2, 29, 11), 3600)));
    // The same stamp text in two zones, one after the other.
    CHECK(show(parse("<13>Jul  4 12:00:00 h a: x", o, april).stamp) == show(stamp(utc(2024, 7, 4, 10), 7200)));
    CHECK(show(parse("<13>Jul  4 12:00:00 h a: x", options_in("America/New_York"), april).stamp) ==
          show(stamp(utc(2024, 7, 4, 16), -14400)));
  }
}

TEST_CASE("fast paths: threads parsing stamps of different days at once each get their own") {
  ParseOptions o = options_in("Europe/Berlin");
  const int64_t recv = utc(2024, 6, 15);
  auto work = [&](const char* raw, int64_t want, int* bad) {
    for (int i = 0; i < 20000; ++i)
      if (parse(raw, o, recv).stamp.sec != want) ++*bad;
  };
  int bad1 = 0, bad2 = 0;
  std::thread a(work, "<13>Jan  1 00:00:00 h a: x", utc(2023, 12, 31, 23), &bad1);
  std::thread b(work, "<13>2024-12-31T23:59:59 h a: x", utc(2024, 12, 31, 22, 59, 59), &bad2);
  a.join();
  b.join();
  CHECK(bad1 == 0);
  CHECK(bad2 == 0);
}

TEST_CASE("fast paths: a BSD stamp at the very end of the message, or cut short") {
  ParseOptions o = options_in("UTC");
  const int64_t recv = utc(2024, 6, 15);
  // 15 bytes: the stamp ends the message (the general reader takes it).
  LogMessage m = parse("<13>Jan  5 10:00:00", o, recv);
  CHECK(m.stamp.sec == utc(2024, 1, 5, 10));
  CHECK_FALSE(m.has_flag(kFlagParseError));
  // 16 bytes: a space after the stamp and nothing else.
  m = parse("<13>Jan  5 10:00:00 ", o, recv);
  CHECK(m.stamp.sec == utc(2024, 1, 5, 10));
  // Every prefix of a full line parses without reading past its end (ASan
  // checks the reads; the line is copied so that its end is the buffer's).
  const std::string full = "<13>Jan 15 10:00:00 host-1 app[123]: message";
  for (size_t n = 0; n <= full.size(); ++n) {
    std::vector<char> exact(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    LogMessage p = parse(std::string_view(exact.data(), exact.size()), o, recv);
    CHECK(p.raw() == std::string_view(full).substr(0, n));
  }
  // Day written with a leading zero or padded; a single unpadded digit or
  // an impossible reading is no stamp (the time received stands in).
  CHECK(parse("<13>Jan 05 10:00:00 h a: x", o, recv).stamp.sec == utc(2024, 1, 5, 10));
  CHECK(parse("<13>jAN  5 10:00:00 h a: x", o, recv).stamp.sec == utc(2024, 1, 5, 10));
  CHECK(parse("<13>Jan 5 10:00:00 h a: x", o, recv).stamp.sec == recv);
  CHECK(parse("<13>Jan 00 10:00:00 h a: x", o, recv).stamp.sec == recv);
  CHECK(parse("<13>Jan 15 24:00:00 h a: x", o, recv).stamp.sec == recv);
}

TEST_CASE("fast paths: hostnames, IPv6 and the 255-byte limit") {
  ParseOptions o = options_in("UTC");
  const int64_t recv = utc(2024, 6, 15);
  auto host_prog = [&](std::string_view raw, const ParseOptions& opts) {
    LogMessage m = parse(raw, opts, recv);
    return std::string(m.get(Field::kHost)) + "|" + std::string(m.get(Field::kProgram)) + "|" +
           std::string(m.get(Field::kPid)) + "|" + std::string(m.get(Field::kMessage));
  };
  CHECK(host_prog("<13>Jan 15 10:00:00 2001:db8::1 app: x", o) == "2001:db8::1|app||x");
  CHECK(host_prog("<13>Jan 15 10:00:00 ::1 app[7]: x", o) == "::1|app|7|x");
  CHECK(host_prog("<13>Jan 15 10:00:00 fe80::1%eth0 app: x", o) == "fe80::1%eth0|app||x");
  CHECK(host_prog("<13>Jan 15 10:00:00 host: x", o) == "192.0.2.7|host||x");
  CHECK(host_prog("<13>Jan 15 10:00:00 host[1]: x", o) == "192.0.2.7|host|1|x");
  ParseOptions checked = o;
  checked.check_hostname = true;
  CHECK(host_prog("<13>Jan 15 10:00:00 2001:db8::1 app: x", checked) == "2001:db8::1|app||x");
  CHECK(host_prog("<13>Jan 15 10:00:00 ho$t app: x", checked) == "192.0.2.7|ho$t||app: x");
  const std::string h255(255, 'h');
  CHECK(host_prog("<13>Jan 15 10:00:00 " + h255 + " app: x", o) == h255 + "|app||x");
  const std::string h256(256, 'h');
  LogMessage m = parse("<13>Jan 15 10:00:00 " + h256 + " app: x", o, recv);
  CHECK(m.get(Field::kHost) == "192.0.2.7");
  // A name of 254 bytes then ':' (no IPv6): the colon ends it.
  const std::string h254(254, 'a');
  CHECK(host_prog("<13>Jan 15 10:00:00 " + h254 + ": x", o) == "192.0.2.7|" + h254 + "||x");
}

TEST_CASE("fast paths: PROGRAM and PID at the edges") {
  ParseOptions o = options_in("UTC");
  const int64_t recv = utc(2024, 6, 15);
  auto fields = [&](std::string_view raw) {
    LogMessage m = parse(raw, o, recv);
    return std::string(m.get(Field::kProgram)) + "|" + std::string(m.get(Field::kPid)) + "|" +
           std::string(m.get(Field::kMessage));
  };
  CHECK(fields("<13>Jan 15 10:00:00 h app[123]:") == "app|123|");
  CHECK(fields("<13>Jan 15 10:00:00 h app[123]") == "app|123|");
  CHECK(fields("<13>Jan 15 10:00:00 h app[123") == "app||");
  CHECK(fields("<13>Jan 15 10:00:00 h app[") == "app||");
  CHECK(fields("<13>Jan 15 10:00:00 h app[]: x") == "app||x");
  CHECK(fields("<13>Jan 15 10:00:00 h app[1 2]: x") == "app|1|2]: x");
  CHECK(fields("<13>Jan 15 10:00:00 h app[1:2]: x") == "app|1|2]: x");
  CHECK(fields("<13>Jan 15 10:00:00 h app:x") == "app||x");
  CHECK(fields("<13>Jan 15 10:00:00 h app") == "app||");
  CHECK(fields("<13>Jan 15 10:00:00 h postfix/smtpd[9]: x") == "postfix/smtpd|9|x");
  CHECK(fields("<13>Jan 15 10:00:00 h [123]: x") == "|123|x");
}

// ---------------------------------------------------------------------------
// Templates

TEST_CASE("fast paths: plain templates render what the general path renders") {
  // Generated messages of every shape the parser meets, rendered by the
  // fast path and by the general code with several templates and options.
  std::mt19937 rng(20241128);
  auto r = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const char* const hosts[] = {"host1", "web-01.example.com", "2001:db8::1", "", "h"};
  const char* const progs[] = {"sshd", "postfix/smtpd", "", "app", "sshd(pam_unix)"};
  const char* const pids[] = {"[123]", "", "[]", "[7", "[1 2]"};
  const char* const templates[] = {
      "$DATE $HOST $MSGHDR$MSG\n",
      "$ISODATE $HOST $PROGRAM[$PID]: $MESSAGE\n",
      "$FULLDATE|$STAMP|$BSDDATE|$R_ISODATE|$S_DATE|$HOST_FROM|$FULLHOST|$SOURCEIP|$MSGID|$RAWMSG\n",
      "$MSGHDR$MSGHDR$MSGHDR$MSGHDR$MSGHDR$MSGHDR$MSGHDR$MSGHDR$MSGHDR$MSGHDR$MSGHDR$MSGHDR$MSGHDR$MSGHDR$MSGHDR$MSGHDR",
      "literal only",
      "$ISODATE$ISODATE$ISODATE",  // a third date: the general path
      "",
  };
  std::vector<std::shared_ptr<const TimeZone>> zones = {nullptr, zone("Europe/Berlin"), zone("America/New_York"),
                                                      zone("+05:45"), zone("-00:25")};
  std::vector<std::unique_ptr<Template>> fast, general;
  for (const char* t : templates) {
    fast.push_back(compile_ok(t));
    general.push_back(general_of(t));
  }
  int checked = 0;
  for (int i = 0; i < 20000; ++i) {
    char stamp_text[64];
    int y = 1960 + r(100);
    if (r(2)) {
      std::snprintf(stamp_text, sizeof stamp_text, "%04d-%02d-%02dT%02d:%02d:%02d%s", y, 1 + r(12), 1 + r(28),
                    r(24), r(60), r(60), r(2) ? ".123456Z" : (r(2) ? "+13:45" : ""));
    } else {
      static const char* const kMon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
      std::snprintf(stamp_text, sizeof stamp_text, "%s %2d %02d:%02d:%02d%s", kMon[r(12)], 1 + r(31), r(24),
                    r(60), r(60), r(4) == 0 ? ".5" : "");
    }
    std::string line = "<" + std::to_string(r(192)) + ">" + stamp_text + " " + hosts[r(5)] + " " + progs[r(5)] +
                       pids[r(5)] + (r(2) ? ": " : " ") + "message " + std::to_string(i);
    if (r(10) == 0) line = "<13>1 2024-02-29T12:00:00.5-03:00 host app 77 ID1 [a b=\"c\"] m";
    if (r(20) == 0) line.resize(static_cast<size_t>(r(static_cast<int>(line.size()) + 1)));
    ParseOptions po;
    po.time_zone = zones[static_cast<size_t>(r(static_cast<int>(zones.size())))];
    LogMessage m;
    m.received = Timestamp{utc(2024, 1, 1) + r(400 * 86400) - 200 * 86400, static_cast<uint32_t>(r(1000000000)),
                           0, static_cast<uint8_t>(r(10))};
    m.set(Field::kHostFrom, "relay");
    m.set(Field::kSourceIp, "192.0.2.1");
    if (r(4) == 0) m.set(Field::kProgram, "x");  // set out of place: not a slice of the raw bytes
    parse_syslog(line, po, m);
    if (r(5) == 0) m.set(Field::kPid, "99");
    RenderOptions ro;
    ro.frac_digits = r(4) == 0 ? -1 : r(4);
    ro.time_zone = zones[static_cast<size_t>(r(static_cast<int>(zones.size())))].get();
    for (size_t t = 0; t < fast.size(); ++t) {
      std::string a = "prefix:", b = "prefix:";  // appends, keeping what `out` had
      fast[t]->render(m, ro, a);
      general[t]->render(m, ro, b);
      INFO("line: ", line, " template: ", templates[t]);
      CHECK(a == b);
      ++checked;
    }
  }
  CHECK(checked == 20000 * 7);
}

TEST_CASE("fast paths: date macros match an independent writer for any stamp") {
  std::mt19937_64 rng(7);
  auto tz_berlin = zone("Europe/Berlin");
  const char* const macros[] = {"DATE", "STAMP", "BSDDATE", "ISODATE", "FULLDATE"};
  std::vector<std::unique_ptr<Template>> ts;
  for (const char* m : macros) ts.push_back(compile_ok(std::string("$") + m));
  for (int i = 0; i < 50000; ++i) {
    Timestamp st;
    switch (rng() % 4) {
      case 0: st.sec = static_cast<int64_t>(rng() % 4000000000ull) - 2000000000; break;  // 1906..2096
      case 1: st.sec = utc(2024, 10, 27) + static_cast<int64_t>(rng() % 172800) - 86400; break;
      case 2: st.sec = utc(2024, 12, 31) + static_cast<int64_t>(rng() % 172800); break;
      default: st.sec = static_cast<int64_t>(rng() % 200000) - 100000; break;  // around the epoch
    }
    st.nsec = static_cast<uint32_t>(rng() % 1000000000);
    st.precision = static_cast<uint8_t>(rng() % 10);
    st.gmtoff = static_cast<int32_t>(rng() % 100800) - 50400;  // -14h..+14h, odd seconds too
    LogMessage m;
    m.stamp = st;
    RenderOptions ro;
    ro.frac_digits = static_cast<int>(rng() % 12) - 1;
    if (rng() % 3 == 0) ro.time_zone = tz_berlin.get();
    Timestamp shown = st;
    if (ro.time_zone) shown.gmtoff = ro.time_zone->offset_at_utc(st.sec);
    for (size_t k = 0; k < ts.size(); ++k) {
      INFO(macros[k], " ", show(st), " frac_digits=", ro.frac_digits);
      CHECK(ts[k]->render(m, ro) == reference_date(macros[k], shown, ro.frac_digits));
    }
  }
  // Years outside 0..9999 and fractions above a second take the general
  // path; it and the fast one agree.
  LogMessage m;
  for (Timestamp st : {Timestamp{-62167219201, 0, 0, 0}, Timestamp{253402300800, 0, 0, 0},
                       Timestamp{1700000000, 1500000000, 0, 9}, Timestamp{1700000000, 0, 400000, 0}}) {
    m.stamp = st;
    for (const char* mac : macros) {
      std::string t = std::string("$") + mac + " $HOST";
      CHECK(compile_ok(t)->render(m) == general_of(t)->render(m));
    }
  }
}

TEST_CASE("fast paths: $ISODATE agrees with its parts across midnight and DST, in any order") {
  // The parts ($YEAR, $HOUR, ...) come from the per-second cache of the
  // general code, $ISODATE from the per-day one of the fast path.
  auto iso = compile_ok("$ISODATE");
  auto parts = compile_ok("$YEAR-$MONTH-${DAY}T$HOUR:$MIN:$SEC$TZOFFSET");
  auto berlin = zone("Europe/Berlin");
  std::vector<int64_t> secs;
  for (int64_t base : {utc(2024, 3, 31, 0, 59, 58), utc(2024, 10, 27, 0, 59, 58), utc(2024, 12, 31, 22, 59, 58),
                       utc(2024, 2, 28, 22, 59, 58)})
    for (int d = 0; d < 4; ++d) secs.push_back(base + d);
  std::mt19937 rng(3);
  for (int round = 0; round < 50; ++round) {
    std::shuffle(secs.begin(), secs.end(), rng);
    for (int64_t s : secs) {
      LogMessage m;
      m.stamp = Timestamp{s, 0, 3600, 0};
      RenderOptions ro;
      ro.time_zone = berlin.get();
      INFO("sec=", s);
      CHECK(iso->render(m, ro) == parts->render(m, ro));
    }
  }
}

TEST_CASE("fast paths: templates rendered by several threads at once") {
  auto t = compile_ok("$DATE $ISODATE $HOST $MSGHDR$MSG\n");
  auto g = general_of("$DATE $ISODATE $HOST $MSGHDR$MSG\n");
  auto work = [&](int64_t sec, int* bad) {
    LogMessage m;
    m.stamp = Timestamp{sec, 0, 0, 0};
    m.set(Field::kHost, "h");
    m.set(Field::kProgram, "p");
    m.set(Field::kMessage, "m");
    const std::string want = g->render(m);
    for (int i = 0; i < 20000; ++i) {
      m.stamp.sec = sec + (i % 3) * 86400;
      if (i % 3 == 0 && t->render(m) != want) ++*bad;
    }
  };
  int bad1 = 0, bad2 = 0;
  std::thread a(work, utc(2024, 1, 1), &bad1);
  std::thread b(work, utc(2025, 6, 30, 23, 59, 59), &bad2);
  a.join();
  b.join();
  CHECK(bad1 == 0);
  CHECK(bad2 == 0);
}
