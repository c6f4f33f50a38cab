// Fuzzes parse_syslog (RFC 3164 / RFC 5424 headers, as read from the
// network) and the formatters that write a parsed message back out.
//
// Input: byte 0 picks the ParseOptions, the rest is one raw message.
//   bits 0-1  format: 0 auto, 1 rfc3164, 2 rfc5424, 3 auto
//   bit 2     flags(no-parse)
//   bit 3     expect-hostname off (local source)
//   bit 4     check-hostname(yes)
//   bit 5     flags(no-multi-line)
//   bit 6     local source
//   bit 7     time-zone("+05:30") instead of the local zone (Europe/Budapest)
#include <cstdint>
#include <string>

#include "core/format.h"
#include "core/syslog_parser.h"
#include "fuzz_common.h"

using namespace logferry;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::use_dst_local_zone();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const std::shared_ptr<const TimeZone> kFixedZone = [] {
    std::string error;
    return TimeZone::parse("+05:30", &error);
  }();

  const uint8_t sel = data[0];
  std::string_view raw(reinterpret_cast<const char*>(data + 1), size - 1);

  ParseOptions o;
  static const SyslogFormat kFormats[] = {SyslogFormat::kAuto, SyslogFormat::kRfc3164,
                                          SyslogFormat::kRfc5424, SyslogFormat::kAuto};
  o.format = kFormats[sel & 3];
  o.no_parse = sel & 4;
  o.expect_hostname = !(sel & 8);
  o.check_hostname = sel & 16;
  o.no_multi_line = sel & 32;
  o.local = sel & 64;
  if (sel & 128) o.time_zone = kFixedZone;
  o.default_pri = (sel & 64) ? 5 : 13;  // kern.notice for local sources, user.notice otherwise

  LogMessage msg;
  fuzz::prepare(msg);
  parse_syslog(raw, o, msg);
  fuzz::check_spans(msg);

  FUZZ_CHECK(msg.pri <= 191);
  if (msg.has_flag(kFlagParseError)) {
    // Nothing is lost: the raw bytes become MESSAGE.
    FUZZ_CHECK(msg.has_tag("syslog.parse_error"));
    std::string_view err;
    FUZZ_CHECK(msg.get_value("PARSE_ERROR", &err) && !err.empty());
    if (!o.no_multi_line) FUZZ_CHECK(msg.get(Field::kMessage) == msg.raw());
  }
  if (o.no_multi_line) {
    FUZZ_CHECK(msg.get(Field::kMessage).find_first_of("\r\n") == std::string_view::npos);
  }
  FUZZ_CHECK(!msg.get(Field::kHost).empty());  // the header's host or HOST_FROM

  std::string out;
  RenderOptions ro;
  format_rfc3164(msg, ro, out);
  FUZZ_CHECK(!out.empty() && out.back() == '\n');

  // RFC 5424 with octet counting: the length prefix counts the frame.
  out.clear();
  format_rfc5424(msg, ro, /*octet_counting=*/true, out);
  {
    size_t sp = out.find(' ');
    FUZZ_CHECK(sp != std::string::npos && sp > 0);
    FUZZ_CHECK(std::stoull(out.substr(0, sp)) == out.size() - sp - 1);
  }
  // ... and what logferry writes as RFC 5424, logferry reads as RFC 5424.
  out.clear();
  format_rfc5424(msg, ro, /*octet_counting=*/false, out);
  {
    LogMessage back;
    fuzz::prepare(back);
    ParseOptions o5424;
    o5424.format = SyslogFormat::kRfc5424;
    o5424.time_zone = kFixedZone;
    parse_syslog(out, o5424, back);
    fuzz::check_spans(back);
    if (back.has_flag(kFlagParseError)) {
      std::string_view err;
      back.get_value("PARSE_ERROR", &err);
      std::fprintf(stderr, "re-parse of format_rfc5424 output failed: %.*s\noutput: %s\n",
                   static_cast<int>(err.size()), err.data(), out.c_str());
    }
    FUZZ_CHECK(!back.has_flag(kFlagParseError));
    FUZZ_CHECK(back.pri == msg.pri);
    // Same wall clock.  The instant may differ by the seconds of a
    // historic local-mean-time offset (e.g. +01:16:20): RFC 5424 offsets
    // have minutes only.
    FUZZ_CHECK(back.stamp.sec + back.stamp.gmtoff == msg.stamp.sec + msg.stamp.gmtoff);
    FUZZ_CHECK(back.stamp.sec - msg.stamp.sec < 60 && msg.stamp.sec - back.stamp.sec < 60);
  }

  // JSON lines: always one valid JSON object, whatever bytes came in.
  out.clear();
  format_json(msg, ro, out);
  FUZZ_CHECK(!out.empty() && out.back() == '\n');
  out.pop_back();
  const bool valid = fuzz::is_valid_json(out);
  if (!valid) std::fprintf(stderr, "invalid JSON: %s\n", out.c_str());
  FUZZ_CHECK(valid);

  // The same with a fixed render zone and all fraction digits.
  RenderOptions ro2;
  ro2.frac_digits = -1;
  ro2.time_zone = kFixedZone.get();
  out.clear();
  format_rfc3164(msg, ro2, out);
  format_rfc5424(msg, ro2, false, out);
  format_json(msg, ro2, out);
  return 0;
}
