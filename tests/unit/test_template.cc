// Unit tests for templates (src/core/template.{h,cc}): macros, the date
// family, name-value pairs, structured data and template functions, with
// syslog-ng 3.38 semantics as the reference.
#include <doctest/doctest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/message.h"
#include "core/syslog_parser.h"
#include "core/template.h"
#include "core/timestamp.h"

using namespace logferry;
using nlohmann::json;

namespace {

// 2024-03-05T07:08:09.123456789+02:00, a Tuesday.
constexpr Timestamp kStamp{1709615289, 123456789, 7200, 9};
// 2023-12-31T23:59:59.500Z, a Sunday.
constexpr Timestamp kReceived{1704067199, 500000000, 0, 3};

std::unique_ptr<Template> compile_ok(std::string_view text) {
  std::string error;
  auto t = Template::compile(text, &error);
  INFO("template: ", std::string(text));
  INFO("error: ", error);
  REQUIRE(t != nullptr);
  return t;
}

std::string render(std::string_view text, const LogMessage& m, const RenderOptions& o = {}) {
  return compile_ok(text)->render(m, o);
}

std::string compile_error(std::string_view text) {
  std::string error;
  auto t = Template::compile(text, &error);
  INFO("template: ", std::string(text));
  CHECK(t == nullptr);
  CHECK_FALSE(error.empty());
  return error;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// A message with every header field set directly and fixed stamps.
LogMessage make_message() {
  LogMessage m;
  m.set(Field::kHost, "host.example.com");
  m.set(Field::kHostFrom, "relay.example.net");
  m.set(Field::kSourceIp, "192.0.2.7");
  m.set(Field::kProgram, "app");
  m.set(Field::kPid, "1234");
  m.set(Field::kMsgId, "ID47");
  m.set(Field::kMessage, "An application event");
  m.pri = 165;  // local4.notice
  m.stamp = kStamp;
  m.received = kReceived;
  return m;
}

// The RFC 5424 example, parsed: two SD elements (one with a dotted SD-ID).
LogMessage parse_5424(std::string_view raw) {
  LogMessage m;
  m.received = kReceived;
  m.set(Field::kHostFrom, "relay.example.net");
  m.set(Field::kSourceIp, "192.0.2.7");
  ParseOptions o;
  o.time_zone = TimeZone::utc();
  parse_syslog(raw, o, m);
  return m;
}

constexpr std::string_view k5424 =
    "<165>1 2024-03-05T07:08:09.123456+02:00 host.example.com app 1234 ID47 "
    "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\"][meta.x y=\"1\"] An application event";

}  // namespace

TEST_SUITE("template") {

TEST_CASE("literal templates render as written") {
  LogMessage m = make_message();
  auto t = compile_ok("plain text, no macros");
  CHECK(t->is_literal());
  CHECK(t->source() == "plain text, no macros");
  CHECK(t->render(m) == "plain text, no macros");
  CHECK(compile_ok("")->render(m) == "");
  CHECK(compile_ok("")->is_literal());
  CHECK_FALSE(compile_ok("$HOST")->is_literal());
  CHECK_FALSE(compile_ok("$(echo x)")->is_literal());
  CHECK(compile_ok("$(echo x)")->source() == "$(echo x)");
}

TEST_CASE("render appends to the caller's buffer") {
  LogMessage m = make_message();
  auto t = compile_ok("[$PROGRAM]");
  std::string out = "before ";
  t->render(m, RenderOptions{}, out);
  CHECK(out == "before [app]");
  t->render(m, RenderOptions{}, out);
  CHECK(out == "before [app][app]");
}

TEST_CASE("$NAME and ${NAME} forms") {
  LogMessage m = make_message();
  CHECK(render("$HOST", m) == "host.example.com");
  CHECK(render("${HOST}", m) == "host.example.com");
  CHECK(render("<$HOST>", m) == "<host.example.com>");
  CHECK(render("${PROGRAM}[${PID}]", m) == "app[1234]");
  CHECK(render("$PROGRAM[$PID]:", m) == "app[1234]:");
  CHECK(render("${HOST}x", m) == "host.example.comx");
  // The bare form takes every name character: "$HOSTx" is the unknown name HOSTx.
  CHECK(render("$HOSTx", m) == "");
  CHECK(render("$HOST.x", m) == "host.example.com.x");
  CHECK(render("$HOST-$PID", m) == "host.example.com-1234");
  // Macro names are case-sensitive, as in syslog-ng.
  CHECK(render("$host", m) == "");
  CHECK(render("${NO_SUCH_MACRO}", m) == "");
}

TEST_CASE("${NAME:-default} uses the default only for empty values") {
  LogMessage m = make_message();
  CHECK(render("${HOST:-none}", m) == "host.example.com");
  CHECK(render("${UNSET:-none}", m) == "none");
  CHECK(render("${UNSET:-}", m) == "");
  CHECK(render("${UNSET:-two words}", m) == "two words");
  m.set(Field::kMsgId, "");
  CHECK(render("${MSGID:--}", m) == "-");
  m.set_value("custom", "val");
  CHECK(render("${custom:-fallback}", m) == "val");
  m.set_value("empty", "");
  CHECK(render("${empty:-fallback}", m) == "fallback");
  // Defaults work for dates and structured data too.
  CHECK(render("${YEAR:-x}", m) == "2024");
  CHECK(render("${.SDATA.nope.x:-nosd}", m) == "nosd");
}

TEST_CASE("$$ is a literal dollar; a lone $ stays as written") {
  LogMessage m = make_message();
  CHECK(render("$$", m) == "$");
  CHECK(render("cost: $$5", m) == "cost: $5");
  CHECK(render("$$HOST", m) == "$HOST");
  CHECK(render("$$$HOST", m) == "$host.example.com");
  CHECK(render("a$", m) == "a$");
  CHECK(render("$ x", m) == "$ x");
  CHECK(render("$-", m) == "$-");
  CHECK(compile_ok("$$")->is_literal());
}

TEST_CASE("host, program and message macros") {
  LogMessage m = make_message();
  CHECK(render("$HOST", m) == "host.example.com");
  CHECK(render("$FULLHOST", m) == "host.example.com");
  CHECK(render("$HOST_FROM", m) == "relay.example.net");
  CHECK(render("$FULLHOST_FROM", m) == "relay.example.net");
  CHECK(render("$SOURCEIP", m) == "192.0.2.7");
  CHECK(render("$PROGRAM", m) == "app");
  CHECK(render("$PID", m) == "1234");
  CHECK(render("$MSGID", m) == "ID47");
  CHECK(render("$MSG", m) == "An application event");
  CHECK(render("$MESSAGE", m) == "An application event");
  CHECK(render("$MSGONLY", m) == "An application event");
}

TEST_CASE("macros of a parsed RFC 3164 message") {
  LogMessage m;
  m.received = Timestamp{1717200000, 0, 0, 0};  // 2024-06-01
  m.set(Field::kHostFrom, "10.0.0.1");
  ParseOptions o;
  o.time_zone = TimeZone::utc();
  parse_syslog("<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick", o, m);
  CHECK(render("$PRI $FACILITY.$LEVEL $HOST $HOST_FROM $PROGRAM $PID", m) ==
        "34 auth.crit mymachine 10.0.0.1 su 123");
  CHECK(render("$MSGHDR$MSG", m) == "su[123]: 'su root' failed for lonvick");
  CHECK(render("$ISODATE", m) == "2024-10-11T22:14:15+00:00");
  CHECK(render("$DATE", m) == "Oct 11 22:14:15");
}

TEST_CASE("MSGHDR with and without PID and with an empty PROGRAM") {
  LogMessage m = make_message();
  CHECK(render("$MSGHDR", m) == "app[1234]: ");
  CHECK(render("$MSGHDR$MSG", m) == "app[1234]: An application event");
  m.set(Field::kPid, "");
  CHECK(render("$MSGHDR", m) == "app: ");
  m.set(Field::kProgram, "");
  CHECK(render("$MSGHDR", m) == "");
  m.set(Field::kPid, "99");  // a PID without a program is not written either
  CHECK(render("$MSGHDR", m) == "");
}

TEST_CASE("PRI, FACILITY, LEVEL and their numeric forms") {
  LogMessage m = make_message();
  CHECK(render("$PRI", m) == "165");
  CHECK(render("$FACILITY", m) == "local4");
  CHECK(render("$FACILITY_NUM", m) == "20");
  CHECK(render("$LEVEL", m) == "notice");
  CHECK(render("$PRIORITY", m) == "notice");
  CHECK(render("$SEVERITY", m) == "notice");
  CHECK(render("$LEVEL_NUM", m) == "5");

  m.pri = 0;
  CHECK(render("$PRI $FACILITY $FACILITY_NUM $LEVEL $LEVEL_NUM", m) == "0 kern 0 emerg 0");
  m.pri = 191;
  CHECK(render("$PRI $FACILITY $FACILITY_NUM $LEVEL $LEVEL_NUM", m) == "191 local7 23 debug 7");
  m.set_pri(3, 4);  // daemon.warning
  CHECK(render("$PRI $FACILITY $FACILITY_NUM $LEVEL $LEVEL_NUM", m) == "28 daemon 3 warning 4");
  m.set_pri(10, 3);  // authpriv.err
  CHECK(render("$FACILITY.$PRIORITY", m) == "authpriv.err");
}

TEST_CASE("TAGS lists the tags comma-separated") {
  LogMessage m = make_message();
  CHECK(render("[$TAGS]", m) == "[]");
  m.add_tag("first");
  CHECK(render("$TAGS", m) == "first");
  m.add_tag("second");
  m.add_tag("first");  // no duplicates
  m.add_tag(".source.s_net");
  CHECK(render("$TAGS", m) == "first,second,.source.s_net");
}

TEST_CASE("SDATA renders the structured data of a parsed message") {
  LogMessage m = parse_5424(k5424);
  REQUIRE(m.has_flag(kFlagRfc5424));
  CHECK(render("$SDATA", m) ==
        "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\"][meta.x y=\"1\"]");
  LogMessage none = make_message();
  CHECK(render("[$SDATA]", none) == "[]");
}

TEST_CASE("SDATA escapes quote, backslash and bracket in values") {
  LogMessage m = parse_5424(
      "<14>1 2024-03-05T07:08:09Z h a - - [x@1 q=\"say \\\"hi\\\"\" b=\"C:\\\\dir\" r=\"[a\\]\"] msg");
  REQUIRE(m.has_flag(kFlagRfc5424));
  // The parser unescapes; SDATA escapes again.
  CHECK(render("${.SDATA.x@1.q}|${.SDATA.x@1.b}|${.SDATA.x@1.r}", m) == "say \"hi\"|C:\\dir|[a]");
  CHECK(render("$SDATA", m) == "[x@1 q=\"say \\\"hi\\\"\" b=\"C:\\\\dir\" r=\"[a\\]\"]");
}

TEST_CASE("SDATA includes an element without parameters") {
  LogMessage m = parse_5424("<14>1 2024-03-05T07:08:09Z h a - - [empty@1][x@1 a=\"b\"] msg");
  REQUIRE(m.has_flag(kFlagRfc5424));
  CHECK(render("$SDATA", m) == "[empty@1][x@1 a=\"b\"]");
}

TEST_CASE("SDATA includes Cisco .SDATA.meta.* name-value pairs") {
  LogMessage m = make_message();
  m.set_value(".SDATA.meta.sequenceId", "42");
  CHECK(render("$SDATA", m) == "[meta sequenceId=\"42\"]");
  m.set_value(".SDATA.timeQuality.isSynced", "1");
  m.set_value(".SDATA.meta.sysUpTime", "a\"b]");
  CHECK(render("$SDATA", m) ==
        "[meta sequenceId=\"42\" sysUpTime=\"a\\\"b\\]\"][timeQuality isSynced=\"1\"]");
  CHECK(render("${.SDATA.meta.sequenceId}", m) == "42");
  // Name-value pairs that do not look like SDATA stay out of it.
  m.set_value("plain", "x");
  m.set_value(".SDATA.noparam", "x");
  CHECK(render("$SDATA", m) ==
        "[meta sequenceId=\"42\" sysUpTime=\"a\\\"b\\]\"][timeQuality isSynced=\"1\"]");
}

TEST_CASE("SDATA of a parsed message follows its own elements with Cisco pairs") {
  LogMessage m;
  m.received = kReceived;
  ParseOptions o;
  o.time_zone = TimeZone::utc();
  parse_syslog("<189>123: *Mar  1 18:46:11: %SYS-5-CONFIG_I: Configured from console", o, m);
  CHECK(render("${.SDATA.meta.sequenceId}", m) == "123");
  CHECK(contains(render("$SDATA", m), "[meta sequenceId=\"123\"]"));
}

TEST_CASE(".SDATA.<id>.<param> lookups, including SD-IDs with dots") {
  LogMessage m = parse_5424(k5424);
  REQUIRE(m.has_flag(kFlagRfc5424));
  CHECK(render("${.SDATA.exampleSDID@32473.iut}", m) == "3");
  CHECK(render("${.SDATA.exampleSDID@32473.eventSource}", m) == "Application");
  CHECK(render("${.SDATA.meta.x.y}", m) == "1");  // SD-ID "meta.x", param "y"
  CHECK(render("[${.SDATA.meta.x.z}]", m) == "[]");
  CHECK(render("[${.SDATA.exampleSDID@32473}]", m) == "[]");
  CHECK(render("[${.SDATA.nosuch.iut}]", m) == "[]");
  CHECK(render("[${.SDATA.}]", m) == "[]");
  // Without braces the leading dot ends the name, as in syslog-ng.
  CHECK(render("$.SDATA.meta.x.y", m) == "$.SDATA.meta.x.y");
}

TEST_CASE("$1..$9 and other name-value pairs") {
  LogMessage m = make_message();
  m.set_value("0", "whole");
  m.set_value("1", "first");
  m.set_value("2", "second");
  m.set_value("9", "ninth");
  CHECK(render("$0|$1|$2|$9", m) == "whole|first|second|ninth");
  CHECK(render("${1}${2}", m) == "firstsecond");
  CHECK(render("[$3]", m) == "[]");
  m.set_value("1", "replaced");
  CHECK(render("$1", m) == "replaced");
  m.set_value("user_name", "joe");
  m.set_value("app.user", "ann");
  CHECK(render("$user_name ${app.user}", m) == "joe ann");
  // A name-value pair named like a macro does not hide the macro.
  m.set_value("HOST", "shadow");
  CHECK(render("$HOST", m) == "host.example.com");
}

TEST_CASE("lookup_macro, render_macro and render_name") {
  Macro mac;
  bool received = true;
  REQUIRE(lookup_macro("HOST", &mac, &received));
  CHECK(mac == Macro::kHost);
  CHECK_FALSE(received);
  REQUIRE(lookup_macro("R_ISODATE", &mac, &received));
  CHECK(mac == Macro::kIsoDate);
  CHECK(received);
  REQUIRE(lookup_macro("S_ISODATE", &mac, &received));
  CHECK(mac == Macro::kIsoDate);
  CHECK_FALSE(received);
  REQUIRE(lookup_macro("MESSAGE", &mac, &received));
  CHECK(mac == Macro::kMessage);
  REQUIRE(lookup_macro("PRIORITY", &mac, &received));
  CHECK(mac == Macro::kLevel);
  CHECK_FALSE(lookup_macro("R_HOST", &mac, &received));  // only dates have R_/S_ forms
  CHECK_FALSE(lookup_macro("NOPE", &mac, &received));
  CHECK_FALSE(lookup_macro("", &mac, &received));
  CHECK_FALSE(lookup_macro("isodate", &mac, &received));

  LogMessage m = make_message();
  std::string out = ">";
  render_macro(Macro::kProgram, false, m, RenderOptions{}, out);
  CHECK(out == ">app");
  out.clear();
  render_macro(Macro::kYear, true, m, RenderOptions{}, out);
  CHECK(out == "2023");
  out.clear();
  m.set_value("k", "v");
  render_name("k", m, RenderOptions{}, out);
  render_name("R_YEAR", m, RenderOptions{}, out);
  render_name("missing", m, RenderOptions{}, out);
  CHECK(out == "v2023");
}

TEST_CASE("the date family for the stamp") {
  LogMessage m = make_message();
  struct Case {
    const char* tmpl;
    const char* want;
  };
  const Case cases[] = {
      {"$ISODATE", "2024-03-05T07:08:09+02:00"},
      {"$DATE", "Mar  5 07:08:09"},
      {"$FULLDATE", "2024 Mar  5 07:08:09"},
      {"$STAMP", "Mar  5 07:08:09"},
      {"$BSDDATE", "Mar  5 07:08:09"},
      {"$YEAR", "2024"},
      {"$MONTH", "03"},
      {"$MONTH_ABBREV", "Mar"},
      {"$MONTH_NAME", "March"},
      {"$DAY", "05"},
      {"$HOUR", "07"},
      {"$HOUR12", "07"},
      {"$AMPM", "AM"},
      {"$MIN", "08"},
      {"$SEC", "09"},
      {"$MSEC", "123"},
      {"$USEC", "123456"},
      {"$TZOFFSET", "+02:00"},
      {"$TZ", "+02:00"},
      {"$UNIXTIME", "1709615289"},
      {"$WEEK_DAY_ABBREV", "Tue"},
      {"$WEEKDAY", "Tue"},
      {"$WEEK_DAY_NAME", "Tuesday"},
      {"$WEEK_DAY", "3"},  // 1 is Sunday
      {"$WEEK", "10"},
      {"$YEAR_DAY", "065"},
  };
  for (const auto& c : cases) {
    INFO(c.tmpl);
    CHECK(render(c.tmpl, m) == c.want);
    // S_ names the stamp explicitly.
    std::string s = std::string("$S_") + (c.tmpl + 1);
    CHECK(render(s, m) == c.want);
  }
}

TEST_CASE("R_ macros use the time received, not the stamp") {
  LogMessage m = make_message();
  struct Case {
    const char* tmpl;
    const char* want;
  };
  const Case cases[] = {
      {"$R_ISODATE", "2023-12-31T23:59:59+00:00"},
      {"$R_DATE", "Dec 31 23:59:59"},
      {"$R_FULLDATE", "2023 Dec 31 23:59:59"},
      {"$R_STAMP", "Dec 31 23:59:59"},
      {"$R_YEAR", "2023"},
      {"$R_MONTH", "12"},
      {"$R_MONTH_ABBREV", "Dec"},
      {"$R_DAY", "31"},
      {"$R_HOUR", "23"},
      {"$R_HOUR12", "11"},
      {"$R_AMPM", "PM"},
      {"$R_MIN", "59"},
      {"$R_SEC", "59"},
      {"$R_MSEC", "500"},
      {"$R_USEC", "500000"},
      {"$R_TZOFFSET", "+00:00"},
      {"$R_TZ", "+00:00"},
      {"$R_UNIXTIME", "1704067199"},
      {"$R_WEEK_DAY_ABBREV", "Sun"},
      {"$R_WEEK_DAY", "1"},
      {"$R_WEEK", "52"},
      {"$R_YEAR_DAY", "365"},
      {"${R_ISODATE}", "2023-12-31T23:59:59+00:00"},
  };
  for (const auto& c : cases) {
    INFO(c.tmpl);
    CHECK(render(c.tmpl, m) == c.want);
  }
  CHECK(render("$YEAR/$R_YEAR/$S_YEAR", m) == "2024/2023/2024");
}

TEST_CASE("negative UTC offsets, including half hours") {
  LogMessage m = make_message();
  m.stamp.gmtoff = -(5 * 3600 + 30 * 60);  // 2024-03-04 23:38:09 -05:30, a Monday
  CHECK(render("$ISODATE", m) == "2024-03-04T23:38:09-05:30");
  CHECK(render("$TZOFFSET $TZ", m) == "-05:30 -05:30");
  CHECK(render("$DAY $HOUR $HOUR12 $AMPM $MIN", m) == "04 23 11 PM 38");
  CHECK(render("$WEEK_DAY_ABBREV $WEEK_DAY $YEAR_DAY $WEEK", m) == "Mon 2 064 10");
  CHECK(render("$DATE", m) == "Mar  4 23:38:09");
  CHECK(render("$UNIXTIME", m) == "1709615289");  // the instant does not change

  m.stamp.gmtoff = -8 * 3600;
  CHECK(render("$ISODATE", m) == "2024-03-04T21:08:09-08:00");
  m.stamp.gmtoff = -45 * 60;  // under an hour, still negative
  CHECK(render("$ISODATE", m) == "2024-03-05T04:23:09-00:45");
}

TEST_CASE("positive UTC offsets that move the date") {
  LogMessage m = make_message();
  m.stamp.gmtoff = 14 * 3600;
  CHECK(render("$ISODATE", m) == "2024-03-05T19:08:09+14:00");
  m.stamp.gmtoff = 5 * 3600 + 45 * 60;
  CHECK(render("$ISODATE", m) == "2024-03-05T10:53:09+05:45");
  m.stamp.gmtoff = 0;
  CHECK(render("$ISODATE $TZOFFSET", m) == "2024-03-05T05:08:09+00:00 +00:00");
  m.received.gmtoff = 3600;  // the received stamp has its own offset
  CHECK(render("$R_ISODATE", m) == "2024-01-01T00:59:59+01:00");
  CHECK(render("$R_YEAR $R_WEEK_DAY_ABBREV $R_YEAR_DAY $R_WEEK", m) == "2024 Mon 001 01");
}

TEST_CASE("HOUR12 and AMPM around midnight and noon") {
  LogMessage m = make_message();
  m.stamp = Timestamp{1709596800 + 30 * 60, 0, 0, 0};  // 2024-03-05 00:30 UTC
  CHECK(render("$HOUR $HOUR12 $AMPM", m) == "00 12 AM");
  m.stamp.sec = 1709596800 + 12 * 3600;
  CHECK(render("$HOUR $HOUR12 $AMPM", m) == "12 12 PM");
  m.stamp.sec = 1709596800 + 13 * 3600 + 5;
  CHECK(render("$HOUR $HOUR12 $AMPM", m) == "13 01 PM");
  m.stamp.sec = 1709596800 + 11 * 3600 + 59 * 60;
  CHECK(render("$HOUR $HOUR12 $AMPM", m) == "11 11 AM");
}

TEST_CASE("WEEK, YEAR_DAY and DATE padding at year boundaries") {
  LogMessage m = make_message();
  m.stamp = Timestamp{1672574400, 0, 0, 0};  // 2023-01-01, a Sunday
  CHECK(render("$WEEK $YEAR_DAY $WEEK_DAY_ABBREV $WEEK_DAY", m) == "00 001 Sun 1");
  m.stamp = Timestamp{1735646400, 0, 0, 0};  // 2024-12-31, leap year
  CHECK(render("$WEEK $YEAR_DAY $WEEK_DAY_ABBREV", m) == "53 366 Tue");
  CHECK(render("$DATE", m) == "Dec 31 12:00:00");
  m.stamp = Timestamp{-1, 0, 0, 0};  // before the epoch
  CHECK(render("$ISODATE $UNIXTIME $WEEK_DAY_ABBREV", m) == "1969-12-31T23:59:59+00:00 -1 Wed");
}

TEST_CASE("MSEC and USEC are zero-padded") {
  LogMessage m = make_message();
  m.stamp.nsec = 5000000;  // 5 ms
  CHECK(render("$MSEC $USEC", m) == "005 005000");
  m.stamp.nsec = 999;
  CHECK(render("$MSEC $USEC", m) == "000 000000");
  m.stamp.nsec = 7000;
  CHECK(render("$MSEC $USEC", m) == "000 000007");
}

TEST_CASE("RenderOptions.frac_digits") {
  LogMessage m = make_message();
  RenderOptions o;
  o.frac_digits = 0;
  CHECK(render("$ISODATE", m, o) == "2024-03-05T07:08:09+02:00");
  CHECK(render("$UNIXTIME", m, o) == "1709615289");
  o.frac_digits = 3;
  CHECK(render("$ISODATE", m, o) == "2024-03-05T07:08:09.123+02:00");
  CHECK(render("$DATE", m, o) == "Mar  5 07:08:09.123");
  CHECK(render("$STAMP", m, o) == "Mar  5 07:08:09.123");
  CHECK(render("$FULLDATE", m, o) == "2024 Mar  5 07:08:09.123");
  CHECK(render("$UNIXTIME", m, o) == "1709615289.123");
  CHECK(render("$R_ISODATE", m, o) == "2023-12-31T23:59:59.500+00:00");
  // Fields that are not stamps ignore the option.
  CHECK(render("$SEC $MSEC $YEAR", m, o) == "09 123 2024");
  o.frac_digits = 6;
  CHECK(render("$ISODATE", m, o) == "2024-03-05T07:08:09.123456+02:00");
  CHECK(render("$UNIXTIME", m, o) == "1709615289.123456");
  o.frac_digits = 9;
  CHECK(render("$ISODATE", m, o) == "2024-03-05T07:08:09.123456789+02:00");
  o.frac_digits = 12;  // clamped to nanoseconds
  CHECK(render("$ISODATE", m, o) == "2024-03-05T07:08:09.123456789+02:00");
  // -1: as many digits as the stamp carried.
  o.frac_digits = -1;
  CHECK(render("$ISODATE", m, o) == "2024-03-05T07:08:09.123456789+02:00");
  CHECK(render("$R_ISODATE", m, o) == "2023-12-31T23:59:59.500+00:00");
  m.stamp.precision = 3;
  CHECK(render("$ISODATE", m, o) == "2024-03-05T07:08:09.123+02:00");
  m.stamp.precision = 0;
  CHECK(render("$ISODATE", m, o) == "2024-03-05T07:08:09+02:00");
  // Leading zeros of the fraction are kept.
  m.stamp.nsec = 1000000;
  o.frac_digits = 6;
  CHECK(render("$ISODATE", m, o) == "2024-03-05T07:08:09.001000+02:00");
}

TEST_CASE("frac_digits of a parsed stamp with -1") {
  LogMessage m = parse_5424(k5424);
  RenderOptions o;
  o.frac_digits = -1;
  CHECK(render("$ISODATE", m, o) == "2024-03-05T07:08:09.123456+02:00");
  CHECK(render("$ISODATE", m) == "2024-03-05T07:08:09+02:00");
}

TEST_CASE("RenderOptions.time_zone converts every stamp") {
  LogMessage m = make_message();
  std::string error;
  auto minus3 = TimeZone::parse("-03:00", &error);
  REQUIRE(minus3);
  RenderOptions o;
  o.time_zone = minus3.get();
  CHECK(render("$ISODATE", m, o) == "2024-03-05T02:08:09-03:00");
  CHECK(render("$R_ISODATE", m, o) == "2023-12-31T20:59:59-03:00");
  CHECK(render("$TZOFFSET $HOUR $DAY", m, o) == "-03:00 02 05");
  CHECK(render("$UNIXTIME", m, o) == "1709615289");

  o.time_zone = TimeZone::utc().get();
  CHECK(render("$ISODATE", m, o) == "2024-03-05T05:08:09+00:00");
  CHECK(render("$R_ISODATE", m, o) == "2023-12-31T23:59:59+00:00");

  auto plus530 = TimeZone::parse("+05:30", &error);
  REQUIRE(plus530);
  o.time_zone = plus530.get();
  o.frac_digits = 3;
  CHECK(render("$ISODATE", m, o) == "2024-03-05T10:38:09.123+05:30");
  CHECK(render("$R_DATE", m, o) == "Jan  1 05:29:59.500");
}

TEST_CASE("RenderOptions.time_zone with a named zone follows DST") {
  std::string error;
  auto bud = TimeZone::parse("Europe/Budapest", &error);
  if (!bud) {
    MESSAGE("Europe/Budapest not available: " << error);
    return;
  }
  LogMessage m = make_message();
  RenderOptions o;
  o.time_zone = bud.get();
  CHECK(render("$ISODATE", m, o) == "2024-03-05T06:08:09+01:00");  // CET
  m.stamp.sec = 1720000000;  // 2024-07-03T09:46:40Z
  CHECK(render("$ISODATE", m, o) == "2024-07-03T11:46:40+02:00");  // CEST
}

TEST_CASE("$(echo)") {
  LogMessage m = make_message();
  CHECK(render("$(echo)", m) == "");
  CHECK(render("$(echo hello)", m) == "hello");
  CHECK(render("$(echo $HOST $PROGRAM)", m) == "host.example.com app");
  CHECK(render("$(echo \"a  b\" c)", m) == "a  b c");
  CHECK(render("$(echo '$HOST')", m) == "host.example.com");
  CHECK(render("$(echo \"${PROGRAM}[${PID}]\")", m) == "app[1234]");
  CHECK(render("<$(echo x)>", m) == "<x>");
  CHECK(render("$(echo \"tab\\there\")", m) == "tab\there");
}

TEST_CASE("$(lowercase) and $(uppercase)") {
  LogMessage m = make_message();
  CHECK(render("$(lowercase \"MiXeD $PROGRAM\")", m) == "mixed app");
  CHECK(render("$(uppercase $PROGRAM)", m) == "APP");
  CHECK(render("$(uppercase $PROGRAM x)", m) == "APP X");
  CHECK(render("$(lowercase ABC DEF)", m) == "abc def");
  CHECK(render("$(uppercase \"a-z_0.9\")", m) == "A-Z_0.9");
  CHECK(render("$(uppercase)", m) == "");
  // Bytes outside ASCII pass through unharmed.
  CHECK(render("$(lowercase \"\xC3\xA9X\")", m) == "\xC3\xA9x");
  CHECK(render("$(uppercase \"\xC3\xA9x\")", m) == "\xC3\xA9X");
}

TEST_CASE("$(substr) with positive, negative and out-of-range arguments") {
  LogMessage m = make_message();
  m.set_value("s", "abcdef");
  struct Case {
    const char* args;
    const char* want;
  };
  const Case cases[] = {
      {"0", "abcdef"},     {"1 3", "bcd"},     {"2", "cdef"},     {"0 0", ""},
      {"-2", "ef"},        {"-3 2", "de"},     {"-6", "abcdef"},  {"-6 1", "a"},
      {"1 -2", "bcd"},     {"0 -6", ""},       {"0 -7", ""},      {"2 -4", ""},
      {"-4 -1", "cde"},    {"-2 -3", ""},      {"-3 -3", ""},     {"2 100", "cdef"},
      {"5", "f"},          {"6", ""},          {"100", ""},       {"100 2", ""},
      {"-7", ""},          {"-100 3", ""},     {"+1 +2", "bc"},
  };
  for (const auto& c : cases) {
    std::string t = std::string("[$(substr $s ") + c.args + ")]";
    INFO(t);
    CHECK(render(t, m) == std::string("[") + c.want + "]");
  }
  CHECK(render("$(substr \"$PROGRAM-$PID\" 4)", m) == "1234");
  CHECK(render("$(substr $HOST 0 4)", m) == "host");
  CHECK(render("[$(substr \"\" 0 3)]", m) == "[]");
}

TEST_CASE("$(sanitize) and its options") {
  LogMessage m = make_message();
  CHECK(render("$(sanitize \"a/b\")", m) == "a_b");
  CHECK(render("$(sanitize \"a\\tb\\nc\")", m) == "a_b_c");  // control characters by default
  CHECK(render("$(sanitize $HOST $PROGRAM)", m) == "host.example.com/app");  // args joined by '/'
  CHECK(render("$(sanitize \"x/y\" \"z\")", m) == "x_y/z");
  CHECK(render("$(sanitize -r X -i . $HOST)", m) == "hostXexampleXcom");
  CHECK(render("$(sanitize --replacement - --invalid-chars ab abc)", m) == "--c");
  CHECK(render("$(sanitize --no-ctrl-chars \"a\\tb/c\")", m) == "a\tb_c");
  CHECK(render("$(sanitize -C \"a\\tb/c\")", m) == "a\tb_c");
  CHECK(render("$(sanitize --ctrl-chars \"a\\tb\")", m) == "a_b");
  CHECK(render("$(sanitize -c -i \"\" \"a\\tb/c\")", m) == "a_b/c");
  CHECK(render("$(sanitize)", m) == "");
  // A quoted argument that starts with '-' is data, not an option.
  CHECK(render("$(sanitize \"-r\")", m) == "-r");
}

TEST_CASE("$(strip)") {
  LogMessage m = make_message();
  CHECK(render("[$(strip \"  a b  \")]", m) == "[a b]");
  CHECK(render("[$(strip \"\\t\\n x \\n\")]", m) == "[x]");
  CHECK(render("[$(strip \"   \")]", m) == "[]");
  CHECK(render("[$(strip $PROGRAM)]", m) == "[app]");
  // Each argument is stripped; the results are joined by one space and
  // arguments that are empty after stripping are dropped (syslog-ng).
  CHECK(render("[$(strip \" a \" \" b \")]", m) == "[a b]");
  CHECK(render("[$(strip \" \" \"x\" \"\")]", m) == "[x]");
}

TEST_CASE("$(length)") {
  LogMessage m = make_message();
  CHECK(render("$(length abc)", m) == "3");
  CHECK(render("$(length \"\")", m) == "0");
  CHECK(render("$(length $MSG)", m) == "20");
  CHECK(render("$(length \"\xC3\xA9\")", m) == "2");  // bytes, as syslog-ng counts
  // One length per argument (syslog-ng).
  CHECK(render("$(length abc de)", m) == "3 2");
  CHECK(render("$(length)", m) == "");
}

TEST_CASE("nested template functions") {
  LogMessage m = make_message();
  CHECK(render("$(uppercase $(substr $PROGRAM 0 1))$(substr $PROGRAM 1)", m) == "App");
  CHECK(render("$(length $(echo abc def))", m) == "7");
  CHECK(render("$(echo $(lowercase $(uppercase \"Mixed Case\")) done)", m) == "mixed case done");
  CHECK(render("$(substr $(echo \"0123456789\") -3 2)", m) == "78");
  CHECK(render("$(sanitize $(echo a/b) $(uppercase c/d))", m) == "a_b/C_D");
  CHECK(render("$(strip \"  $(uppercase x)  \")", m) == "X");
}

TEST_CASE("function names accept '_' for '-'") {
  LogMessage m = make_message();
  auto a = json::parse(render("$(format_json --key HOST)", m));
  CHECK(a == json{{"HOST", "host.example.com"}});
}

TEST_CASE("$(if) with comparisons") {
  LogMessage m = make_message();
  CHECK(render("$(if (\"$PROGRAM\" eq \"app\") \"yes\" \"no\")", m) == "yes");
  CHECK(render("$(if (\"$PROGRAM\" ne \"app\") \"yes\" \"no\")", m) == "no");
  CHECK(render("$(if (\"$PID\" == 1234) big small)", m) == "big");
  CHECK(render("$(if (\"$PID\" > 2000) big small)", m) == "small");
  CHECK(render("$(if (\"${LEVEL_NUM}\" <= 5) low high)", m) == "low");
  CHECK(render("$(if ('$PID' == '1234') 'eq' 'ne')", m) == "eq");
  CHECK(render("$(if (\"$HOST\" lt \"z\") a b)", m) == "a");
}

TEST_CASE("$(if) with filter functions and boolean operators") {
  LogMessage m = make_message();
  CHECK(render("$(if (program(\"app\")) \"P:$PROGRAM\" none)", m) == "P:app");
  CHECK(render("$(if (program(\"other\")) \"P:$PROGRAM\" none)", m) == "none");
  CHECK(render("$(if (level(err..emerg)) urgent normal)", m) == "normal");
  CHECK(render("$(if (level(notice)) \"$LEVEL\" other)", m) == "notice");
  CHECK(render("$(if (facility(local4) and not tags(\"x\")) yes no)", m) == "yes");
  m.add_tag("x");
  CHECK(render("$(if (facility(local4) and not tags(\"x\")) yes no)", m) == "no");
  CHECK(render("$(if (host(\"example\" type(string) flags(substring))) h -)", m) == "h");
  CHECK(render("$(if (message(\"^An\") or level(debug)) m -)", m) == "m");
}

TEST_CASE("$(if) branches are templates and may nest") {
  LogMessage m = make_message();
  CHECK(render("$(if (\"$PID\" != \"\") $(uppercase $PROGRAM) \"-\")", m) == "APP");
  CHECK(render("$(if (\"1\" == \"1\") $(if (\"a\" eq \"b\") inner-yes inner-no) outer-no)", m) ==
        "inner-no");
  CHECK(render("[$(if (\"a\" eq \"b\") x \"\")]", m) == "[]");
  // The condition may itself render functions.
  CHECK(render("$(if (\"$(length $PROGRAM)\" == 3) three other)", m) == "three");
}

TEST_CASE("$(format-json) output parses as JSON") {
  LogMessage m = make_message();
  m.set(Field::kMessage, "quote \" backslash \\ newline \n tab \t bad \xff utf8 \xC3\xA9");
  std::string out = render("$(format-json --scope rfc3164)", m);
  json j = json::parse(out);
  CHECK(j["MESSAGE"] == "quote \" backslash \\ newline \n tab \t bad \\xff utf8 \xC3\xA9");
}

TEST_CASE("$(format-json) scopes") {
  LogMessage m = parse_5424(k5424);
  REQUIRE(m.has_flag(kFlagRfc5424));
  m.set_value("custom", "v");
  m.set_value("app.user", "joe");
  m.set_value("app.id", "7");
  m.set_value(".hidden.x", "h");
  m.set_value(".SDATA.meta.sequenceId", "42");
  m.add_tag("t1");
  m.add_tag("t2");

  const json rfc3164 = {{"FACILITY", "local4"}, {"PRIORITY", "notice"},
                        {"DATE", "Mar  5 07:08:09"}, {"HOST", "host.example.com"},
                        {"PROGRAM", "app"}, {"PID", "1234"},
                        {"MESSAGE", "An application event"}};
  const json sdata = {{"exampleSDID@32473", {{"iut", "3"}, {"eventSource", "Application"}}},
                      {"meta", {{"sequenceId", "42"}, {"x", {{"y", "1"}}}}}};

  SUBCASE("rfc3164") {
    CHECK(json::parse(render("$(format-json --scope rfc3164)", m)) == rfc3164);
  }
  SUBCASE("rfc5424 adds MSGID and the structured data") {
    json want = rfc3164;
    want["MSGID"] = "ID47";
    want["_SDATA"] = sdata;
    CHECK(json::parse(render("$(format-json --scope rfc5424)", m)) == want);
  }
  SUBCASE("selected-macros adds TAGS and SOURCEIP") {
    json want = rfc3164;
    want["TAGS"] = "t1,t2";
    want["SOURCEIP"] = "192.0.2.7";
    CHECK(json::parse(render("$(format-json --scope selected-macros)", m)) == want);
  }
  SUBCASE("nv-pairs: pairs without a leading dot, dotted names nested") {
    json want = {{"custom", "v"}, {"app", {{"user", "joe"}, {"id", "7"}}}};
    CHECK(json::parse(render("$(format-json --scope nv-pairs)", m)) == want);
    CHECK(json::parse(render("$(format-json --scope nv_pairs)", m)) == want);
  }
  SUBCASE("dot-nv-pairs: pairs with a leading dot, written as '_'") {
    json want = {{"_hidden", {{"x", "h"}}}, {"_SDATA", sdata}};
    CHECK(json::parse(render("$(format-json --scope dot-nv-pairs)", m)) == want);
  }
  SUBCASE("all-nv-pairs") {
    json want = {{"custom", "v"},
                 {"app", {{"user", "joe"}, {"id", "7"}}},
                 {"_hidden", {{"x", "h"}}},
                 {"_SDATA", sdata}};
    CHECK(json::parse(render("$(format-json --scope all-nv-pairs)", m)) == want);
  }
  SUBCASE("sdata") {
    CHECK(json::parse(render("$(format-json --scope sdata)", m)) == json{{"_SDATA", sdata}});
  }
  SUBCASE("several scopes, comma-separated or repeated") {
    json want = rfc3164;
    want["custom"] = "v";
    want["app"] = {{"user", "joe"}, {"id", "7"}};
    CHECK(json::parse(render("$(format-json --scope rfc3164,nv-pairs)", m)) == want);
    CHECK(json::parse(render("$(format-json --scope rfc3164 --scope nv-pairs)", m)) == want);
    CHECK(json::parse(render("$(format-json -s rfc3164 -s nv-pairs)", m)) == want);
  }
  SUBCASE("without a scope only what is asked for is written") {
    CHECK(render("$(format-json)", m) == "{}");
    CHECK(render("$(format-json --scope none)", m) == "{}");
    CHECK(json::parse(render("$(format-json a=b)", m)) == json{{"a", "b"}});
  }
}

TEST_CASE("$(format-json) keys are sorted and nested objects are contiguous") {
  LogMessage m = make_message();
  m.set_value("b", "2");
  m.set_value("a.y", "1");
  m.set_value("c", "3");
  m.set_value("a.x", "0");
  m.set_value("a-b", "4");
  m.set_value("a.z.deep", "5");
  std::string out = render("$(format-json --scope nv-pairs)", m);
  CHECK(out == "{\"a\":{\"x\":\"0\",\"y\":\"1\",\"z\":{\"deep\":\"5\"}},\"a-b\":\"4\",\"b\":\"2\",\"c\":\"3\"}");
  CHECK(json::parse(out) ==
        json{{"a", {{"x", "0"}, {"y", "1"}, {"z", {{"deep", "5"}}}}}, {"a-b", "4"}, {"b", "2"}, {"c", "3"}});
}

TEST_CASE("$(format-json) --key and --exclude") {
  LogMessage m = parse_5424(k5424);
  m.set_value("app.user", "joe");
  m.set_value("app.id", "7");
  m.set_value("other", "o");

  CHECK(json::parse(render("$(format-json --key HOST --key PROGRAM)", m)) ==
        json{{"HOST", "host.example.com"}, {"PROGRAM", "app"}});
  CHECK(json::parse(render("$(format-json -k HOST,PID)", m)) ==
        json{{"HOST", "host.example.com"}, {"PID", "1234"}});
  CHECK(json::parse(render("$(format-json --key app.*)", m)) ==
        json{{"app", {{"user", "joe"}, {"id", "7"}}}});
  // Any macro may be named, not only those of a scope.
  CHECK(json::parse(render("$(format-json --key ISODATE --key R_YEAR)", m)) ==
        json{{"ISODATE", "2024-03-05T07:08:09+02:00"}, {"R_YEAR", "2023"}});
  CHECK(json::parse(render("$(format-json --key .SDATA.exampleSDID@32473.iut)", m)) ==
        json{{"_SDATA", {{"exampleSDID@32473", {{"iut", "3"}}}}}});
  CHECK(json::parse(render("$(format-json --scope rfc3164 --exclude P*)", m)) ==
        json{{"FACILITY", "local4"}, {"DATE", "Mar  5 07:08:09"}, {"HOST", "host.example.com"},
             {"MESSAGE", "An application event"}});
  CHECK(json::parse(render("$(format-json --scope nv-pairs --exclude app.*)", m)) ==
        json{{"other", "o"}});
  CHECK(json::parse(render("$(format-json --scope nv-pairs -x app.user,other)", m)) ==
        json{{"app", {{"id", "7"}}}});
  CHECK(json::parse(render("$(format-json --scope rfc5424 --exclude .SDATA.*)", m)).count("_SDATA") == 0);
}

TEST_CASE("$(format-json) explicit name=value pairs") {
  LogMessage m = make_message();
  CHECK(json::parse(render("$(format-json a=b)", m)) == json{{"a", "b"}});
  CHECK(json::parse(render("$(format-json msg=$MSG host=${HOST}-x)", m)) ==
        json{{"msg", "An application event"}, {"host", "host.example.com-x"}});
  CHECK(json::parse(render("$(format-json \"greeting=hello world\" --pair p=$PID)", m)) ==
        json{{"greeting", "hello world"}, {"p", "1234"}});
  CHECK(json::parse(render("$(format-json x.y=1 x.z=2 w=0)", m)) ==
        json{{"x", {{"y", "1"}, {"z", "2"}}}, {"w", "0"}});
  CHECK(json::parse(render("$(format-json .meta=1 .a.b=2)", m)) ==
        json{{"_meta", "1"}, {"_a", {{"b", "2"}}}});
  CHECK(json::parse(render("$(format-json up=$(uppercase $PROGRAM) eq=a=b)", m)) ==
        json{{"up", "APP"}, {"eq", "a=b"}});
  CHECK(json::parse(render("$(format-json empty=)", m)) == json{{"empty", ""}});
  CHECK(json::parse(render("$(format-json --omit-empty-values empty= full=x)", m)) ==
        json{{"full", "x"}});
}

TEST_CASE("$(format-json) explicit pairs win over scoped values") {
  LogMessage m = make_message();
  std::string out = render("$(format-json --scope rfc3164 HOST=override)", m);
  json j = json::parse(out);
  CHECK(j["HOST"] == "override");
  CHECK(j["PROGRAM"] == "app");
  size_t first = out.find("\"HOST\"");
  REQUIRE(first != std::string::npos);
  CHECK(out.find("\"HOST\"", first + 1) == std::string::npos);  // no duplicate key
}

TEST_CASE("$(format-json) --omit-empty-values drops empty macros") {
  LogMessage m = make_message();
  m.set(Field::kPid, "");
  json with = json::parse(render("$(format-json --scope rfc3164)", m));
  CHECK(with.contains("PID"));
  CHECK(with["PID"] == "");
  json without = json::parse(render("$(format-json --scope rfc3164 --omit-empty-values)", m));
  CHECK_FALSE(without.contains("PID"));
  CHECK(without.contains("PROGRAM"));
}

TEST_CASE("$(format-json) uses the render options for dates") {
  LogMessage m = make_message();
  RenderOptions o;
  o.frac_digits = 3;
  CHECK(json::parse(render("$(format-json --key ISODATE)", m, o)) ==
        json{{"ISODATE", "2024-03-05T07:08:09.123+02:00"}});
  CHECK(json::parse(render("$(format-json d=$R_ISODATE)", m, o)) ==
        json{{"d", "2023-12-31T23:59:59.500+00:00"}});
}

TEST_CASE("$(format-json) may nest inside another function and itself") {
  LogMessage m = make_message();
  std::string out = render("$(format-json outer=$(format-json inner=$PROGRAM) n=1)", m);
  json j = json::parse(out);
  CHECK(j["n"] == "1");
  CHECK(json::parse(j["outer"].get<std::string>()) == json{{"inner", "app"}});
  CHECK(render("$(length $(format-json a=b))", m) == "9");  // {"a":"b"}
}

TEST_CASE("compile errors: unknown functions") {
  std::string e = compile_error("abc $(nosuch x)");
  CHECK(contains(e, "unknown template function 'nosuch'"));
  CHECK(contains(e, "echo"));  // lists what exists
  CHECK(contains(e, "column 5"));
  e = compile_error("$(echo $(bogus))");
  CHECK(contains(e, "bogus"));
}

TEST_CASE("compile errors: unbalanced groups") {
  std::string e = compile_error("$(echo x");
  CHECK(contains(e, "'$('"));
  CHECK(contains(e, "column 1"));
  e = compile_error("ab ${HOST");
  CHECK(contains(e, "'${'"));
  CHECK(contains(e, "column 4"));
  e = compile_error("${}");
  CHECK(contains(e, "empty"));
  e = compile_error("$()");
  CHECK(contains(e, "empty"));
  e = compile_error("$(   )");
  CHECK(contains(e, "empty"));
  compile_error("$(echo \"abc)");    // the quote swallows the ')'
  compile_error("$(echo ${HOST)");   // '${' inside an argument
  compile_error("$(echo $(echo x)");
  compile_error("x $(echo (a b)");
}

TEST_CASE("compile errors: bad function arguments") {
  std::string e = compile_error("$(substr abc)");
  CHECK(contains(e, "substr"));
  compile_error("$(substr abc x)");
  compile_error("$(substr abc 1 y)");
  compile_error("$(substr abc 1 2 3)");
  compile_error("$(substr abc 1.5)");

  e = compile_error("$(sanitize --bogus x)");
  CHECK(contains(e, "--bogus"));

  e = compile_error("$(if \"a\" \"b\" \"c\")");
  CHECK(contains(e, "if"));
  compile_error("$(if (level(err)) a)");
  compile_error("$(if (level(err)) a b c)");

  e = compile_error("xx $(if (level(nope)) a b)");
  CHECK(contains(e, "nope"));
  CHECK(contains(e, "column 16"));  // points at the bad level inside the condition
  e = compile_error("$(if (bogus(1)) a b)");
  CHECK(contains(e, "unknown filter function 'bogus'"));
  compile_error("$(if (\"a\" eq) a b)");
  compile_error("$(if (level(err) extra) a b)");

  e = compile_error("$(format-json --scope bogus)");
  CHECK(contains(e, "bogus"));
  e = compile_error("$(format-json --key)");
  CHECK(contains(e, "--key"));
  e = compile_error("$(format-json --bogus)");
  CHECK(contains(e, "--bogus"));
  e = compile_error("$(format-json novalue)");
  CHECK(contains(e, "novalue"));
  compile_error("$(format-json =x)");
  compile_error("$(format-json a=$(nosuch))");
  compile_error("$(echo \"unterminated)");
}

TEST_CASE("compiled templates are reusable across messages") {
  auto t = compile_ok("$PROGRAM:$(uppercase $MSG)");
  LogMessage a = make_message();
  LogMessage b = make_message();
  b.set(Field::kProgram, "other");
  b.set(Field::kMessage, "second");
  CHECK(t->render(a) == "app:AN APPLICATION EVENT");
  CHECK(t->render(b) == "other:SECOND");
  CHECK(t->render(a) == "app:AN APPLICATION EVENT");
}

}  // TEST_SUITE
