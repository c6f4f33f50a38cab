// Unit tests for civil-time conversion and time zones (src/core/timestamp.{h,cc}).
#include <doctest/doctest.h>

#include <cstdint>
#include <ctime>
#include <fstream>
#include <random>
#include <string>
#include <string_view>

#include "core/timestamp.h"

using logferry::CivilTime;
using logferry::civil_from_unix;
using logferry::days_from_civil;
using logferry::month_from_abbrev;
using logferry::now_in;
using logferry::Timestamp;
using logferry::TimeZone;
using logferry::to_civil;
using logferry::unix_from_civil;

namespace {

// An oracle for the calendar that shares no code with the implementation:
// walk a date forward one day at a time with the textbook leap-year rule.
struct NaiveDate {
  int y, m, d;
  static bool leap(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }
  static int month_days(int year, int month) {
    static const int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && leap(year) ? 29 : kDays[month - 1];
  }
  void next() {
    if (++d > month_days(y, m)) {
      d = 1;
      if (++m > 12) {
        m = 1;
        ++y;
      }
    }
  }
};

int64_t utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

std::shared_ptr<const TimeZone> must_parse(std::string_view spec) {
  std::string error;
  auto tz = TimeZone::parse(spec, &error);
  INFO("spec: ", std::string(spec), " error: ", error);
  REQUIRE(tz != nullptr);
  CHECK(error.empty());
  return tz;
}

}  // namespace

TEST_CASE("days_from_civil: known dates, verified independently") {
  CHECK(days_from_civil(1970, 1, 1) == 0);
  CHECK(days_from_civil(1970, 1, 2) == 1);
  CHECK(days_from_civil(1969, 12, 31) == -1);
  CHECK(days_from_civil(2000, 3, 1) == 11017);
  CHECK(days_from_civil(2024, 2, 29) == 19782);
  CHECK(days_from_civil(1900, 3, 1) == -25508);
  CHECK(days_from_civil(1600, 1, 1) == -135140);
  CHECK(days_from_civil(1, 1, 1) == -719162);
  CHECK(days_from_civil(9999, 12, 31) == 2932896);
}

TEST_CASE("days_from_civil: leap year rules (4, 100, 400)") {
  // The day after Feb 28 is Mar 1 exactly when the year is not leap.
  auto feb_length = [](int y) { return days_from_civil(y, 3, 1) - days_from_civil(y, 2, 1); };
  CHECK(feb_length(2023) == 28);
  CHECK(feb_length(2024) == 29);
  CHECK(feb_length(1900) == 28);  // divisible by 100: not leap
  CHECK(feb_length(2100) == 28);
  CHECK(feb_length(2000) == 29);  // divisible by 400: leap
  CHECK(feb_length(1600) == 29);
  CHECK(feb_length(-4) == 29);    // proleptic, negative years too
  CHECK(days_from_civil(2025, 1, 1) - days_from_civil(2024, 1, 1) == 366);
  CHECK(days_from_civil(2024, 1, 1) - days_from_civil(2023, 1, 1) == 365);
  CHECK(days_from_civil(2001, 1, 1) - days_from_civil(1601, 1, 1) == 146097);  // one 400-year era
}

TEST_CASE("civil_from_unix: walks the calendar day by day like a naive oracle, 1600..2400") {
  NaiveDate nd{1600, 1, 1};
  int64_t day = days_from_civil(1600, 1, 1);
  REQUIRE(day == -135140);
  int expected_weekday = 6;  // 1600-01-01 was a Saturday
  int yearday = 0;
  int mismatches = 0;
  for (; nd.y <= 2400; ++day) {
    // A second inside the day that varies, to exercise the time-of-day split.
    const int64_t sec_of_day = ((day * 7919) % 86400 + 86400) % 86400;
    const CivilTime c = civil_from_unix(day * 86400 + sec_of_day);
    if (c.year != nd.y || c.month != nd.m || c.day != nd.d || c.weekday != expected_weekday ||
        c.yearday != yearday || c.hour != sec_of_day / 3600 || c.min != sec_of_day % 3600 / 60 ||
        c.sec != sec_of_day % 60 || days_from_civil(nd.y, nd.m, nd.d) != day) {
      if (++mismatches <= 5) {
        FAIL_CHECK("mismatch at day ", day, ": got ", c.year, "-", c.month, "-", c.day, " wd ",
                   c.weekday, " yd ", c.yearday, ", expected ", nd.y, "-", nd.m, "-", nd.d, " wd ",
                   expected_weekday, " yd ", yearday);
      }
    }
    const int prev_year = nd.y;
    nd.next();
    expected_weekday = (expected_weekday + 1) % 7;
    yearday = nd.y == prev_year ? yearday + 1 : 0;
  }
  CHECK(mismatches == 0);
}

TEST_CASE("civil_from_unix: negative times, epoch edges, weekday and yearday") {
  CivilTime c = civil_from_unix(-1);
  CHECK(c.year == 1969);
  CHECK(c.month == 12);
  CHECK(c.day == 31);
  CHECK(c.hour == 23);
  CHECK(c.min == 59);
  CHECK(c.sec == 59);
  CHECK(c.weekday == 3);  // Wednesday
  CHECK(c.yearday == 364);

  c = civil_from_unix(0);
  CHECK(c.year == 1970);
  CHECK(c.month == 1);
  CHECK(c.day == 1);
  CHECK(c.weekday == 4);  // Thursday
  CHECK(c.yearday == 0);

  c = civil_from_unix(-86400);
  CHECK(c.day == 31);
  CHECK(c.hour == 0);
  CHECK(c.weekday == 3);

  c = civil_from_unix(-86401);
  CHECK(c.day == 30);
  CHECK(c.hour == 23);
  CHECK(c.weekday == 2);

  // 2024 is leap: Dec 31 is day 365 (0-based), and Feb 29 exists.
  c = civil_from_unix(utc(2024, 12, 31, 12));
  CHECK(c.yearday == 365);
  CHECK(c.weekday == 2);  // Tuesday
  c = civil_from_unix(utc(2023, 12, 31, 12));
  CHECK(c.yearday == 364);
  CHECK(c.weekday == 0);  // Sunday
  c = civil_from_unix(utc(2024, 2, 29, 23, 59, 59));
  CHECK(c.month == 2);
  CHECK(c.day == 29);
  CHECK(c.yearday == 59);
  CHECK(c.weekday == 4);  // Thursday

  // Far in the past, before the Gregorian reform (proleptic calendar).
  c = civil_from_unix(utc(1, 1, 1));
  CHECK(c.year == 1);
  CHECK(c.month == 1);
  CHECK(c.day == 1);
  CHECK(c.weekday == 1);  // Monday
}

TEST_CASE("unix_from_civil(civil_from_unix(t)) == t for random t, negative ones included") {
  std::mt19937_64 rng(20240615);
  std::uniform_int_distribution<int64_t> dist(-62135596800LL, 253402300799LL);  // 0001..9999
  for (int i = 0; i < 50000; ++i) {
    const int64_t t = i < 1000 ? -500 + i : dist(rng);  // the epoch's neighbourhood, then anywhere
    const CivilTime c = civil_from_unix(t);
    const bool sane = c.month >= 1 && c.month <= 12 && c.day >= 1 && c.day <= 31 && c.weekday >= 0 &&
                      c.weekday <= 6 && c.yearday >= 0 && c.yearday <= 365;
    if (unix_from_civil(c) != t || !sane) {
      FAIL("round trip failed for t=", t, ": ", c.year, "-", c.month, "-", c.day, " wd ", c.weekday, " yd ",
           c.yearday);
    }
  }
}

TEST_CASE("unix_from_civil ignores weekday/yearday and treats the fields as UTC") {
  CivilTime c;
  c.year = 2024;
  c.month = 1;
  c.day = 15;
  c.hour = 10;
  c.min = 30;
  c.sec = 5;
  c.weekday = 0;  // wrong on purpose
  c.yearday = 200;
  CHECK(unix_from_civil(c) == 1705314605);
}

TEST_CASE("to_civil shows the wall clock of the stamp's own offset") {
  Timestamp ts{utc(2024, 1, 15, 23, 30), 0, 3600, 0};  // 00:30 next day at +01:00
  CivilTime c = to_civil(ts);
  CHECK(c.year == 2024);
  CHECK(c.month == 1);
  CHECK(c.day == 16);
  CHECK(c.hour == 0);
  CHECK(c.min == 30);

  ts.gmtoff = -5 * 3600;  // 18:30 the same day
  c = to_civil(ts);
  CHECK(c.day == 15);
  CHECK(c.hour == 18);

  ts = Timestamp{utc(2025, 1, 1, 0, 15), 0, -3600, 0};  // still last year in that zone
  c = to_civil(ts);
  CHECK(c.year == 2024);
  CHECK(c.month == 12);
  CHECK(c.day == 31);
  CHECK(c.hour == 23);
  CHECK(c.yearday == 365);
}

TEST_CASE("Timestamp equality compares every field") {
  Timestamp a{100, 5, 3600, 3};
  Timestamp b = a;
  CHECK(a == b);
  b.nsec = 6;
  CHECK_FALSE(a == b);
  b = a;
  b.gmtoff = 0;
  CHECK_FALSE(a == b);
  b = a;
  b.precision = 6;
  CHECK_FALSE(a == b);
}

TEST_CASE("month_from_abbrev and name tables") {
  const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i) {
    CHECK(month_from_abbrev(months[i]) == i + 1);
    CHECK(std::string_view(logferry::kMonthAbbrevs[i]) == months[i]);
    CHECK(std::string_view(logferry::kMonthNames[i]).substr(0, 3) == months[i]);
  }
  CHECK(month_from_abbrev("jan") == 1);  // case-insensitive, as syslog-ng
  CHECK(month_from_abbrev("DEC") == 12);
  CHECK(month_from_abbrev("sEp") == 9);
  CHECK(month_from_abbrev("Jax") == 0);
  CHECK(month_from_abbrev("Ja") == 0);
  CHECK(month_from_abbrev("January") == 0);
  CHECK(month_from_abbrev("") == 0);
  CHECK(month_from_abbrev("J n") == 0);
  CHECK(std::string_view(logferry::kWeekdayAbbrevs[0]) == "Sun");
  CHECK(std::string_view(logferry::kWeekdayAbbrevs[4]) == "Thu");
  CHECK(std::string_view(logferry::kWeekdayNames[6]) == "Saturday");
  CHECK(std::string_view(logferry::kMonthNames[8]) == "September");
}

TEST_CASE("TimeZone::parse: fixed offsets") {
  struct Case {
    const char* spec;
    int32_t offset;
  };
  const Case cases[] = {
      {"+02:00", 7200},  {"-0530", -19800}, {"+0530", 19800}, {"-05:30", -19800},
      {"+00:00", 0},     {"+14", 50400},    {"-08", -28800},  {"+23:59", 86340},
  };
  for (const Case& c : cases) {
    const std::string spec = c.spec;
    CAPTURE(spec);
    auto tz = must_parse(c.spec);
    CHECK(tz->name() == c.spec);
    CHECK(tz->offset_at_utc(0) == c.offset);
    CHECK(tz->offset_at_utc(utc(2024, 7, 1)) == c.offset);
    CHECK(tz->offset_at_utc(-5000000000LL) == c.offset);
    CHECK(tz->offset_for_local(utc(2024, 7, 1)) == c.offset);
  }
}

TEST_CASE("TimeZone::parse: UTC spellings share the UTC zone") {
  for (const std::string spec : {"UTC", "utc", "Z", "GMT"}) {
    CAPTURE(spec);
    auto tz = must_parse(spec);
    CHECK(tz.get() == TimeZone::utc().get());
    CHECK(tz->offset_at_utc(utc(2024, 7, 1)) == 0);
  }
  CHECK(TimeZone::utc()->name() == "UTC");
}

TEST_CASE("TimeZone::parse: local is the process zone") {
  auto tz = must_parse("local");
  CHECK(tz.get() == TimeZone::local().get());
  CHECK(must_parse("").get() == TimeZone::local().get());
  CHECK(tz->name() == "local");
  // Whatever TZ the test runs under, the offsets agree with the C library.
  for (int64_t t : {utc(2024, 1, 15, 12), utc(2024, 7, 15, 12), utc(2001, 3, 25, 3)}) {
    time_t tt = static_cast<time_t>(t);
    struct tm tm;
    localtime_r(&tt, &tm);
    CHECK(tz->offset_at_utc(t) == tm.tm_gmtoff);
  }
}

TEST_CASE("TimeZone::parse: IANA zone with DST (Europe/Budapest)") {
  auto tz = must_parse("Europe/Budapest");
  CHECK(tz->name() == "Europe/Budapest");
  CHECK(tz->offset_at_utc(utc(2024, 1, 15, 12)) == 3600);
  CHECK(tz->offset_at_utc(utc(2024, 7, 15, 12)) == 7200);
  // Spring forward at 01:00 UTC on the last Sunday of March.
  CHECK(tz->offset_at_utc(1711846800 - 1) == 3600);
  CHECK(tz->offset_at_utc(1711846800) == 7200);
  // Fall back at 01:00 UTC on the last Sunday of October.
  CHECK(tz->offset_at_utc(1729990800 - 1) == 7200);
  CHECK(tz->offset_at_utc(1729990800) == 3600);

  // Wall-clock readings map to the offset in force at that reading.
  CHECK(tz->offset_for_local(utc(2024, 1, 15, 12)) == 3600);
  CHECK(tz->offset_for_local(utc(2024, 7, 15, 12)) == 7200);
  CHECK(tz->offset_for_local(utc(2024, 3, 31, 1, 59, 59)) == 3600);
  CHECK(tz->offset_for_local(utc(2024, 3, 31, 3, 0, 0)) == 7200);
  CHECK(tz->offset_for_local(utc(2024, 3, 31, 3, 30)) == 7200);
  CHECK(tz->offset_for_local(utc(2024, 10, 27, 1, 30)) == 7200);
  CHECK(tz->offset_for_local(utc(2024, 10, 27, 3, 0, 0)) == 3600);
  CHECK(tz->offset_for_local(utc(2024, 10, 27, 3, 30)) == 3600);
  // Historical: Hungary had no DST in 1970.
  CHECK(tz->offset_at_utc(utc(1970, 7, 1)) == 3600);
}

TEST_CASE("TimeZone: zones keep their DST rules beyond the transition table (POSIX footer)") {
  // Transition instants computed independently (Python zoneinfo).  Debian's
  // "fat" files list transitions only up to 2037 and slim ones stop at the
  // last rule change; later instants must follow the TZ rule in the footer.
  struct Transition {
    const char* zone;
    int64_t at;
    int32_t before, after;
  };
  const Transition transitions[] = {
      {"Europe/Budapest", 2216250000, 3600, 7200},     // 2040-03-25
      {"Europe/Budapest", 2234998800, 7200, 3600},     // 2040-10-28
      {"Europe/Budapest", 4078429200, 3600, 7200},     // 2099-03-29
      {"Europe/Budapest", 4096573200, 7200, 3600},     // 2099-10-25
      {"America/New_York", 1710054000, -18000, -14400},  // 2024-03-10
      {"America/New_York", 1730613600, -14400, -18000},  // 2024-11-03
      {"America/New_York", 2215062000, -18000, -14400},  // 2040-03-11
      {"America/New_York", 2235621600, -14400, -18000},  // 2040-11-04
      {"America/New_York", 4076636400, -18000, -14400},  // 2099-03-08
      {"America/New_York", 4097196000, -14400, -18000},  // 2099-11-01
      {"Australia/Sydney", 1712419200, 39600, 36000},  // 2024-04-06
      {"Australia/Sydney", 1728144000, 36000, 39600},  // 2024-10-05
      {"Australia/Sydney", 2216822400, 39600, 36000},  // 2040-03-31
      {"Australia/Sydney", 2233152000, 36000, 39600},  // 2040-10-06
      {"Australia/Sydney", 4079001600, 39600, 36000},  // 2099-04-04
      {"Australia/Sydney", 4094726400, 36000, 39600},  // 2099-10-03
      // Unusual rule forms: negative and past-24h change times, <+hhmm>
      // names, half-hour and 45-minute offsets, negative DST (Dublin), a
      // 30-minute DST step (Lord Howe).  All in 2050.
      {"America/Nuuk", 2531955600, -7200, -3600},         // <-02>2<-01>,M3.5.0/-1,M10.5.0/0
      {"America/Nuuk", 2550704400, -3600, -7200},
      {"Asia/Jerusalem", 2531779200, 7200, 10800},        // IST-2IDT,M3.4.4/26,M10.5.0
      {"Asia/Jerusalem", 2550697200, 10800, 7200},
      {"Pacific/Chatham", 2532520800, 49500, 45900},      // <+1245>-12:45<+1345>,M9.5.0/2:45,...
      {"Pacific/Chatham", 2547640800, 45900, 49500},
      {"America/Santiago", 2532567600, -10800, -14400},   // <-04>4<-03>,M9.1.6/24,M4.1.6/24
      {"America/Santiago", 2545876800, -14400, -10800},
      {"Europe/Dublin", 2531955600, 0, 3600},             // IST-1GMT0,M10.5.0,M3.5.0/1
      {"Europe/Dublin", 2550704400, 3600, 0},
      {"Australia/Lord_Howe", 2532524400, 39600, 37800},  // <+1030>-10:30<+11>-11,M10.1.0,M4.1.0
      {"Australia/Lord_Howe", 2548251000, 37800, 39600},
      {"America/St_Johns", 2530762200, -12600, -9000},    // NST3:30NDT,M3.2.0,M11.1.0
      {"America/St_Johns", 2551321800, -9000, -12600},
  };
  for (const Transition& t : transitions) {
    const std::string zone = t.zone;
    CAPTURE(zone);
    CAPTURE(t.at);
    auto tz = must_parse(t.zone);
    CHECK(tz->offset_at_utc(t.at - 1) == t.before);
    CHECK(tz->offset_at_utc(t.at) == t.after);
    CHECK(tz->offset_at_utc(t.at - 86400 * 20) == t.before);
    CHECK(tz->offset_at_utc(t.at + 86400 * 20) == t.after);
  }
  // A zone without DST stays put, far in the future too.
  auto kolkata = must_parse("Asia/Kolkata");
  CHECK(kolkata->offset_at_utc(utc(2024, 7, 1)) == 19800);
  CHECK(kolkata->offset_at_utc(utc(2090, 1, 1)) == 19800);
  // Southern hemisphere: summer time spans the new year.
  auto sydney = must_parse("Australia/Sydney");
  CHECK(sydney->offset_at_utc(utc(2045, 1, 1, 0, 0)) == 39600);
  CHECK(sydney->offset_at_utc(utc(2045, 12, 31, 23, 0)) == 39600);
  CHECK(sydney->offset_at_utc(utc(2045, 7, 1)) == 36000);
}

TEST_CASE("TimeZone::parse: unknown names fail with an error") {
  for (const std::string spec : {"Mars/Olympus_Mons", "Europe/Atlantis", "Europe", "Nowhere"}) {
    CAPTURE(spec);
    std::string error;
    auto tz = TimeZone::parse(spec, &error);
    CHECK(tz == nullptr);
    CHECK_FALSE(error.empty());
  }
  // The error pointer is optional.
  CHECK(TimeZone::parse("Mars/Olympus_Mons", nullptr) == nullptr);
}

TEST_CASE("TimeZone::parse: malformed offsets are not taken as offsets") {
  for (const std::string spec : {"+25:00", "+02:60", "+2", "+2:00", "+02:0", "+020", "+02:00:00", "-", "+"}) {
    CAPTURE(spec);
    std::string error;
    auto tz = TimeZone::parse(spec, &error);
    CHECK(tz == nullptr);
    CHECK_FALSE(error.empty());
  }
}

TEST_CASE("TimeZone::parse: names that would escape the zoneinfo directory are rejected") {
  for (const std::string spec : {"../etc/passwd", "../../../../etc/passwd", "Europe/../../etc/passwd",
                           "/etc/passwd", "/usr/share/zoneinfo/UTC", "..", "Europe/..",
                           "Europe/Budapest\n", "Europe/./Budapest", "Europe\\Budapest"}) {
    CAPTURE(spec);
    std::string error;
    auto tz = TimeZone::parse(spec, &error);
    CHECK(tz == nullptr);
    CHECK_FALSE(error.empty());
  }
}

TEST_CASE("TimeZone::parse: names with characters no IANA zone uses are refused") {
  // "iso3166.tab" and "zone.tab" are text files shipped inside
  // /usr/share/zoneinfo; no zone name contains a '.', ':', space or quote.
  for (const std::string spec : {"iso3166.tab", "zone.tab", "Europe/Buda pest", "Europe:Budapest",
                           "Europe/Budapest\"", "Europe/Budapest;rm"}) {
    CAPTURE(spec);
    std::string error;
    CHECK(TimeZone::parse(spec, &error) == nullptr);
    CHECK_FALSE(error.empty());
  }
}

TEST_CASE("TimeZone::parse: a file that exists but is not TZif is refused") {
  // "leapseconds" is a text file in the zoneinfo directory of tzdata.
  std::ifstream probe("/usr/share/zoneinfo/leapseconds");
  if (!probe) return;  // not shipped on this system
  std::string error;
  CHECK(TimeZone::parse("leapseconds", &error) == nullptr);
  CHECK(error.find("unknown time zone") != std::string::npos);
}

TEST_CASE("now_in carries the zone's offset and the current time") {
  const Timestamp t = now_in(*TimeZone::utc());
  const int64_t wall = static_cast<int64_t>(time(nullptr));
  CHECK(t.gmtoff == 0);
  CHECK(t.sec >= wall - 5);
  CHECK(t.sec <= wall + 5);
  CHECK(t.nsec < 1000000000u);

  const Timestamp p = now_in(*must_parse("+05:30"));
  CHECK(p.gmtoff == 19800);
  CHECK(p.sec >= wall - 5);
  CHECK(p.sec <= wall + 5);
}
