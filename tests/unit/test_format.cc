// Unit tests for the output formats (src/core/format.{h,cc}): RFC 3164,
// RFC 5424 (with and without octet counting) and JSON lines, including
// round trips through parse_syslog().
#include <doctest/doctest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/format.h"
#include "core/message.h"
#include "core/syslog_parser.h"
#include "core/template.h"
#include "core/timestamp.h"

using namespace logferry;
using nlohmann::json;

namespace {

// 2024-03-05T07:08:09.123456+02:00.
constexpr Timestamp kStamp{1709615289, 123456000, 7200, 6};
constexpr Timestamp kReceived{1709615300, 0, 0, 0};

LogMessage make_message() {
  LogMessage m;
  m.set(Field::kHost, "host.example.com");
  m.set(Field::kProgram, "app");
  m.set(Field::kPid, "1234");
  m.set(Field::kMsgId, "ID47");
  m.set(Field::kMessage, "An application event");
  m.pri = 165;
  m.stamp = kStamp;
  m.received = kReceived;
  return m;
}

ParseOptions utc_options() {
  ParseOptions o;
  o.time_zone = TimeZone::utc();
  return o;
}

LogMessage parse(std::string_view raw, const Timestamp& received = kReceived) {
  LogMessage m;
  m.received = received;
  parse_syslog(raw, utc_options(), m);
  return m;
}

std::string rfc3164(const LogMessage& m, const RenderOptions& o = {}) {
  std::string out;
  format_rfc3164(m, o, out);
  return out;
}

std::string rfc5424(const LogMessage& m, const RenderOptions& o = {}, bool octets = false) {
  std::string out;
  format_rfc5424(m, o, octets, out);
  return out;
}

std::string json_line(const LogMessage& m, const RenderOptions& o = {}) {
  std::string out;
  format_json(m, o, out);
  return out;
}

std::string sdata(const LogMessage& m) {
  std::string error;
  auto t = Template::compile("$SDATA", &error);
  REQUIRE(t);
  return t->render(m);
}

// Splits "LEN MSG" and checks that LEN is the byte count of MSG.
std::string_view check_octet_frame(std::string_view frame) {
  size_t sp = frame.find(' ');
  REQUIRE(sp != std::string_view::npos);
  REQUIRE(sp > 0);
  std::string len(frame.substr(0, sp));
  for (char c : len) REQUIRE((c >= '0' && c <= '9'));
  CHECK(len[0] != '0');
  std::string_view body = frame.substr(sp + 1);
  CHECK(std::stoul(len) == body.size());
  return body;
}

void check_same_fields(const LogMessage& a, const LogMessage& b) {
  CHECK(a.pri == b.pri);
  CHECK(a.get(Field::kHost) == b.get(Field::kHost));
  CHECK(a.get(Field::kProgram) == b.get(Field::kProgram));
  CHECK(a.get(Field::kPid) == b.get(Field::kPid));
  CHECK(a.get(Field::kMsgId) == b.get(Field::kMsgId));
  CHECK(a.get(Field::kMessage) == b.get(Field::kMessage));
}

}  // namespace

TEST_SUITE("format") {

TEST_CASE("RFC 3164 output") {
  LogMessage m = make_message();
  CHECK(rfc3164(m) == "<165>Mar  5 07:08:09 host.example.com app[1234]: An application event\n");
  RenderOptions o;
  o.frac_digits = 3;  // BSD stamps carry no fraction
  CHECK(rfc3164(m, o) == "<165>Mar  5 07:08:09 host.example.com app[1234]: An application event\n");
  m.set(Field::kPid, "");
  CHECK(rfc3164(m) == "<165>Mar  5 07:08:09 host.example.com app: An application event\n");
  m.set(Field::kProgram, "");
  CHECK(rfc3164(m) == "<165>Mar  5 07:08:09 host.example.com An application event\n");
  m.set(Field::kHost, "");
  CHECK(rfc3164(m) == "<165>Mar  5 07:08:09 - An application event\n");
  m.pri = 0;
  m.stamp = Timestamp{1709615289 + 10 * 86400, 0, 0, 0};  // Mar 15, two-digit day
  CHECK(rfc3164(m) == "<0>Mar 15 05:08:09 - An application event\n");
}

TEST_CASE("RFC 3164 output uses the time zone option") {
  LogMessage m = make_message();
  RenderOptions o;
  o.time_zone = TimeZone::utc().get();
  CHECK(rfc3164(m, o) == "<165>Mar  5 05:08:09 host.example.com app[1234]: An application event\n");
}

TEST_CASE("RFC 3164 output appends to the buffer") {
  LogMessage m = make_message();
  std::string out = "first\n";
  format_rfc3164(m, RenderOptions{}, out);
  CHECK(out == "first\n<165>Mar  5 07:08:09 host.example.com app[1234]: An application event\n");
}

TEST_CASE("RFC 5424 output") {
  LogMessage m = make_message();
  CHECK(rfc5424(m) ==
        "<165>1 2024-03-05T07:08:09.123456+02:00 host.example.com app 1234 ID47 - An application event\n");
  m.stamp.gmtoff = -4 * 3600;
  CHECK(rfc5424(m) ==
        "<165>1 2024-03-05T01:08:09.123456-04:00 host.example.com app 1234 ID47 - An application event\n");
}

TEST_CASE("RFC 5424 fraction digits") {
  LogMessage m = make_message();
  RenderOptions o;
  o.frac_digits = 3;
  CHECK(rfc5424(m, o).starts_with("<165>1 2024-03-05T07:08:09.123+02:00 "));
  o.frac_digits = 0;  // keep what the stamp had
  CHECK(rfc5424(m, o).starts_with("<165>1 2024-03-05T07:08:09.123456+02:00 "));
  o.frac_digits = -1;
  CHECK(rfc5424(m, o).starts_with("<165>1 2024-03-05T07:08:09.123456+02:00 "));
  m.stamp.precision = 0;
  CHECK(rfc5424(m, o).starts_with("<165>1 2024-03-05T07:08:09+02:00 "));
  // TIME-SECFRAC has at most six digits, whatever the stamp or option say.
  m.stamp = Timestamp{1709615289, 123456789, 7200, 9};
  o.frac_digits = 0;
  CHECK(rfc5424(m, o).starts_with("<165>1 2024-03-05T07:08:09.123456+02:00 "));
  o.frac_digits = -1;
  CHECK(rfc5424(m, o).starts_with("<165>1 2024-03-05T07:08:09.123456+02:00 "));
  o.frac_digits = 9;
  CHECK(rfc5424(m, o).starts_with("<165>1 2024-03-05T07:08:09.123456+02:00 "));
}

TEST_CASE("RFC 5424 time zone option") {
  LogMessage m = make_message();
  RenderOptions o;
  o.time_zone = TimeZone::utc().get();
  CHECK(rfc5424(m, o).starts_with("<165>1 2024-03-05T05:08:09.123456+00:00 "));
}

TEST_CASE("RFC 5424 NILVALUE for empty fields") {
  LogMessage m;
  m.stamp = Timestamp{1709615289, 0, 0, 0};
  m.pri = 13;
  CHECK(rfc5424(m) == "<13>1 2024-03-05T05:08:09+00:00 - - - - -\n");
  m.set(Field::kMessage, "only a message");
  CHECK(rfc5424(m) == "<13>1 2024-03-05T05:08:09+00:00 - - - - - only a message\n");
  m.set(Field::kProgram, "p");
  CHECK(rfc5424(m) == "<13>1 2024-03-05T05:08:09+00:00 - p - - - only a message\n");
  m.set(Field::kMsgId, "M");
  m.set(Field::kHost, "h");
  CHECK(rfc5424(m) == "<13>1 2024-03-05T05:08:09+00:00 h p - M - only a message\n");
}

TEST_CASE("RFC 5424 header fields are printable ASCII and length-limited") {
  LogMessage m = make_message();
  m.set(Field::kProgram, "my app\t\xC3\xA9");
  m.set(Field::kHost, std::string(300, 'h'));
  m.set(Field::kMsgId, std::string(40, 'm'));
  m.set(Field::kPid, std::string(130, '9'));
  std::string out = rfc5424(m);
  std::string want = "<165>1 2024-03-05T07:08:09.123456+02:00 " + std::string(255, 'h') + " my_app___ " +
                     std::string(128, '9') + " " + std::string(32, 'm') + " - An application event\n";
  CHECK(out == want);
  m.set(Field::kProgram, std::string(60, 'p'));
  out = rfc5424(m);
  CHECK(out.find(" " + std::string(48, 'p') + " ") != std::string::npos);
  CHECK(out.find(std::string(49, 'p')) == std::string::npos);
}

TEST_CASE("RFC 5424 structured data") {
  LogMessage m = parse(
      "<165>1 2024-03-05T07:08:09.123456+02:00 host.example.com app 1234 ID47 "
      "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\"][empty@1][esc@1 v=\"a\\\"b\\\\c\\]d\"] "
      "An application event");
  REQUIRE(m.has_flag(kFlagRfc5424));
  CHECK(rfc5424(m) ==
        "<165>1 2024-03-05T07:08:09.123456+02:00 host.example.com app 1234 ID47 "
        "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\"][empty@1][esc@1 v=\"a\\\"b\\\\c\\]d\"] "
        "An application event\n");
  m.set_value(".SDATA.meta.sequenceId", "42");
  CHECK(rfc5424(m).find("[esc@1 v=\"a\\\"b\\\\c\\]d\"][meta sequenceId=\"42\"] An") != std::string::npos);
}

TEST_CASE("RFC 5424 SD names from name-value pairs are made safe for the frame") {
  LogMessage m = make_message();
  m.set_value(".SDATA.bad id]x.k=\"v w", "val]ue");
  m.set_value(".SDATA.long." + std::string(40, 'n'), "1");
  std::string out = rfc5424(m);
  CHECK(out.find("[bad_id_x k__v_w=\"val\\]ue\"][long " + std::string(32, 'n') + "=\"1\"] An") !=
        std::string::npos);
  LogMessage back = parse(out);
  REQUIRE(back.has_flag(kFlagRfc5424));
  CHECK_FALSE(back.has_flag(kFlagParseError));
  std::string_view v;
  REQUIRE(back.get_sd("bad_id_x", "k__v_w", &v));
  CHECK(v == "val]ue");
  CHECK(back.get(Field::kMessage) == "An application event");
}

TEST_CASE("RFC 5424 with a message that starts with a BOM") {
  LogMessage m = parse("<14>1 2024-03-05T07:08:09Z h a - - - \xEF\xBB\xBFhello");
  REQUIRE(m.has_flag(kFlagUtf8Bom));
  CHECK(m.get(Field::kMessage) == "hello");
  CHECK(rfc5424(m) == "<14>1 2024-03-05T07:08:09+00:00 h a - - - \xEF\xBB\xBFhello\n");
}

TEST_CASE("RFC 5424 octet counting: the prefix is the byte count") {
  LogMessage m = make_message();
  std::string framed = rfc5424(m, {}, true);
  std::string plain = rfc5424(m);
  CHECK(framed.back() != '\n');
  std::string_view body = check_octet_frame(framed);
  CHECK(std::string(body) + "\n" == plain);
  CHECK(framed == std::to_string(plain.size() - 1) + " " + plain.substr(0, plain.size() - 1));

  // Multibyte UTF-8 counts in bytes, not characters.
  m.set(Field::kMessage, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80 caf\xC3\xA9");
  framed = rfc5424(m, {}, true);
  check_octet_frame(framed);

  // Crossing a power of ten in the length.
  for (size_t n : {0, 1, 7, 8, 9, 10, 100, 1000}) {
    m.set(Field::kMessage, std::string(n, 'x'));
    framed = rfc5424(m, {}, true);
    INFO("message length ", n);
    check_octet_frame(framed);
  }
}

TEST_CASE("RFC 5424 octet counting appends after existing frames") {
  LogMessage a = make_message();
  LogMessage b = make_message();
  b.set(Field::kMessage, "second");
  std::string out;
  format_rfc5424(a, RenderOptions{}, true, out);
  size_t first_end = out.size();
  format_rfc5424(b, RenderOptions{}, true, out);
  std::string_view first = std::string_view(out).substr(0, first_end);
  std::string_view second = std::string_view(out).substr(first_end);
  CHECK(check_octet_frame(first).ends_with("An application event"));
  CHECK(check_octet_frame(second).ends_with("second"));
}

TEST_CASE("RFC 5424 round trip through parse_syslog") {
  LogMessage m = make_message();
  m.clear();
  m.received = kReceived;
  m.set(Field::kHost, "host.example.com");
  m.set(Field::kProgram, "app");
  m.set(Field::kPid, "1234");
  m.set(Field::kMsgId, "ID47");
  m.set(Field::kMessage, "multi word message with [brackets] and \"quotes\" and \xC3\xA9");
  m.pri = 134;
  m.stamp = kStamp;
  m.begin_sd_element(m.store("exampleSDID@32473"));
  m.add_sd_param(m.store("iut"), m.store("3"));
  m.add_sd_param(m.store("eventSource"), m.store("Application"));
  m.begin_sd_element(m.store("esc@1"));
  m.add_sd_param(m.store("v"), m.store("a\"b\\c]d"));
  m.add_sd_param(m.store("empty"), m.store(""));
  m.begin_sd_element(m.store("bare@1"));

  for (bool octets : {false, true}) {
    INFO("octet counting ", octets);
    std::string out = rfc5424(m, {}, octets);
    std::string_view wire = octets ? check_octet_frame(out) : std::string_view(out);
    LogMessage back = parse(wire);
    REQUIRE(back.has_flag(kFlagRfc5424));
    CHECK_FALSE(back.has_flag(kFlagParseError));
    check_same_fields(m, back);
    CHECK(back.stamp == m.stamp);
    REQUIRE(back.sd_elements().size() == 3);
    std::string_view v;
    REQUIRE(back.get_sd("exampleSDID@32473", "iut", &v));
    CHECK(v == "3");
    REQUIRE(back.get_sd("exampleSDID@32473", "eventSource", &v));
    CHECK(v == "Application");
    REQUIRE(back.get_sd("esc@1", "v", &v));
    CHECK(v == "a\"b\\c]d");
    REQUIRE(back.get_sd("esc@1", "empty", &v));
    CHECK(v == "");
    CHECK(back.view(back.sd_elements()[2].id) == "bare@1");
    CHECK(back.sd_elements()[2].count == 0);
    CHECK(sdata(back) == sdata(m));
    // And the output of the reparsed message is the same bytes.
    CHECK(rfc5424(back, {}, octets) == out);
  }
}

TEST_CASE("RFC 5424 round trip of a message with empty fields and no SD") {
  LogMessage m;
  m.received = kReceived;
  m.pri = 13;
  m.stamp = Timestamp{1709615289, 0, -3600, 0};
  m.set(Field::kMessage, "just text");
  LogMessage back = parse(rfc5424(m));
  REQUIRE(back.has_flag(kFlagRfc5424));
  check_same_fields(m, back);
  CHECK(back.stamp == m.stamp);
  CHECK(back.sd_elements().empty());
}

TEST_CASE("RFC 5424 round trip keeps Cisco meta pairs as SDATA") {
  LogMessage m = parse("<189>42: *Mar  1 18:46:11: %SYS-5-CONFIG_I: Configured");
  std::string_view seq;
  REQUIRE(m.get_value(".SDATA.meta.sequenceId", &seq));
  CHECK(seq == "42");
  LogMessage back = parse(rfc5424(m));
  REQUIRE(back.has_flag(kFlagRfc5424));
  std::string_view v;
  REQUIRE(back.get_sd("meta", "sequenceId", &v));
  CHECK(v == "42");
  REQUIRE(back.get_sd("timeQuality", "isSynced", &v));
  CHECK(v == "0");
  CHECK(back.pri == 189);
  CHECK(back.get(Field::kMessage) == m.get(Field::kMessage));
}

TEST_CASE("RFC 3164 round trip through parse_syslog") {
  const char* inputs[] = {
      "<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8",
      "<13>Mar  5 07:08:09 host.example.com app: message: with: colons [and] brackets",
      "<191>Jan  1 00:00:00 h postfix/smtpd[99]: x",
      "<0>Dec 31 23:59:59 h kernel: panic",
  };
  for (const char* raw : inputs) {
    INFO(raw);
    LogMessage m = parse(raw);
    REQUIRE_FALSE(m.has_flag(kFlagParseError));
    std::string out = rfc3164(m);
    CHECK(out == std::string(raw) + "\n");
    LogMessage back = parse(out);
    CHECK_FALSE(back.has_flag(kFlagParseError));
    CHECK(back.pri == m.pri);
    CHECK(back.get(Field::kHost) == m.get(Field::kHost));
    CHECK(back.get(Field::kProgram) == m.get(Field::kProgram));
    CHECK(back.get(Field::kPid) == m.get(Field::kPid));
    CHECK(back.get(Field::kMessage) == m.get(Field::kMessage));
    CHECK(back.stamp.sec == m.stamp.sec);
  }
}

TEST_CASE("RFC 3164 round trip of a constructed message") {
  for (int pri : {0, 13, 86, 165, 191}) {
    LogMessage m = make_message();
    m.pri = static_cast<uint16_t>(pri);
    m.stamp = Timestamp{1709615289, 0, 0, 0};
    INFO("pri ", pri);
    LogMessage back = parse(rfc3164(m));
    CHECK(back.pri == pri);
    CHECK(back.get(Field::kHost) == "host.example.com");
    CHECK(back.get(Field::kProgram) == "app");
    CHECK(back.get(Field::kPid) == "1234");
    CHECK(back.get(Field::kMessage) == "An application event");
    CHECK(back.stamp.sec == m.stamp.sec);
  }
}

TEST_CASE("JSON output") {
  LogMessage m = parse(
      "<165>1 2024-03-05T07:08:09.123456+02:00 host.example.com app 1234 ID47 "
      "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\"][empty@1] An application event");
  REQUIRE(m.has_flag(kFlagRfc5424));
  std::string out = json_line(m);
  REQUIRE_FALSE(out.empty());
  CHECK(out.back() == '\n');
  CHECK(out.find('\n') == out.size() - 1);  // exactly one line
  json j = json::parse(out);
  CHECK(j["HOST"] == "host.example.com");
  CHECK(j["PROGRAM"] == "app");
  CHECK(j["PID"] == "1234");
  CHECK(j["MSGID"] == "ID47");
  CHECK(j["MESSAGE"] == "An application event");
  CHECK(j["FACILITY"] == 20);
  CHECK(j["LEVEL"] == 5);
  CHECK(j["PRI"] == 165);
  CHECK(j["ISODATE"] == "2024-03-05T07:08:09.123456+02:00");
  CHECK(j["SDATA"] == json{{"exampleSDID@32473", {{"iut", "3"}, {"eventSource", "Application"}}},
                           {"empty@1", json::object()}});
  CHECK_FALSE(j.contains("parse_error"));
  CHECK(j.size() == 10);
}

TEST_CASE("JSON output of empty fields and empty structured data") {
  LogMessage m;
  m.stamp = Timestamp{0, 0, 0, 0};
  json j = json::parse(json_line(m));
  CHECK(j["HOST"] == "");
  CHECK(j["PROGRAM"] == "");
  CHECK(j["MESSAGE"] == "");
  CHECK(j["SDATA"] == json::object());
  CHECK(j["ISODATE"] == "1970-01-01T00:00:00+00:00");
  CHECK(j["PRI"] == 13);
}

TEST_CASE("JSON output escapes and stays valid for any bytes") {
  LogMessage m = make_message();
  m.set(Field::kMessage, std::string("q\" b\\ nl\n cr\r nul") + '\0' + " esc\x1b bad\xff\xC0\xAF ok\xC3\xA9");
  m.set(Field::kProgram, "p\"r");
  m.set_value(".SDATA.x@1.k\"ey", "v\x01");
  std::string out = json_line(m);
  json j = json::parse(out);
  CHECK(j["MESSAGE"] ==
        std::string("q\" b\\ nl\n cr\r nul") + '\0' + " esc\x1b bad\\xff\\xc0\\xaf ok\xC3\xA9");
  CHECK(j["PROGRAM"] == "p\"r");
  CHECK(j["SDATA"]["x@1"]["k\"ey"] == "v\x01");
}

TEST_CASE("JSON output of Cisco pairs and several SD elements") {
  LogMessage m = make_message();
  m.set_value(".SDATA.meta.sequenceId", "42");
  m.set_value(".SDATA.meta.sysUpTime", "100");
  m.set_value(".SDATA.timeQuality.isSynced", "1");
  json j = json::parse(json_line(m));
  CHECK(j["SDATA"] == json{{"meta", {{"sequenceId", "42"}, {"sysUpTime", "100"}}},
                           {"timeQuality", {{"isSynced", "1"}}}});
}

TEST_CASE("JSON parse_error appears only for flagged messages") {
  LogMessage bad = parse("<999>not a valid header");
  REQUIRE(bad.has_flag(kFlagParseError));
  json j = json::parse(json_line(bad));
  REQUIRE(j.contains("parse_error"));
  CHECK(j["parse_error"].get<std::string>().find("PRI") != std::string::npos);
  CHECK(j["MESSAGE"] == "<999>not a valid header");

  // A PARSE_ERROR value without the flag is not a parse error.
  LogMessage m = make_message();
  m.set_value("PARSE_ERROR", "stale");
  CHECK_FALSE(json::parse(json_line(m)).contains("parse_error"));
  // The flag without a description writes nothing either.
  LogMessage f = make_message();
  f.flags |= kFlagParseError;
  CHECK_FALSE(json::parse(json_line(f)).contains("parse_error"));
  f.set_value("PARSE_ERROR", "why");
  CHECK(json::parse(json_line(f))["parse_error"] == "why");
}

TEST_CASE("JSON ISODATE follows the render options") {
  LogMessage m = make_message();
  RenderOptions o;
  CHECK(json::parse(json_line(m, o))["ISODATE"] == "2024-03-05T07:08:09.123456+02:00");
  o.frac_digits = 3;
  CHECK(json::parse(json_line(m, o))["ISODATE"] == "2024-03-05T07:08:09.123+02:00");
  o.time_zone = TimeZone::utc().get();
  CHECK(json::parse(json_line(m, o))["ISODATE"] == "2024-03-05T05:08:09.123+00:00");
}

TEST_CASE("JSON lines append one object per message") {
  LogMessage a = make_message();
  LogMessage b = make_message();
  b.set(Field::kMessage, "second");
  std::string out;
  format_json(a, RenderOptions{}, out);
  format_json(b, RenderOptions{}, out);
  size_t nl = out.find('\n');
  REQUIRE(nl != std::string::npos);
  CHECK(json::parse(out.substr(0, nl))["MESSAGE"] == "An application event");
  CHECK(json::parse(out.substr(nl + 1))["MESSAGE"] == "second");
}

}  // TEST_SUITE
