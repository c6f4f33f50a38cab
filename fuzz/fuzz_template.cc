// Fuzzes Template::compile (template text comes from the configuration and
// from $(if) conditions) and renders what compiles against fixed messages.
#include <cstdint>
#include <memory>
#include <string>

#include "core/syslog_parser.h"
#include "core/template.h"
#include "fuzz_common.h"

using namespace logferry;

namespace {

// A message with something in every field: host, program, pid, msgid, SD
// (with an escaped value and a dotted id), name-value pairs and tags.
const LogMessage& rfc5424_message() {
  static const LogMessage* m = [] {
    auto* msg = new LogMessage();
    fuzz::prepare(*msg);
    ParseOptions o;
    parse_syslog(
        "<165>1 2024-03-11T22:14:15.003+01:00 web01.example.com nginx 4242 ACCESS "
        "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]"
        "[meta.x@1 sequenceId=\"17\" note=\"a \\\"quoted\\\" \\] value\"] "
        "GET /index.html HTTP/1.1 200 612 \"-\" \"curl/8.0\"",
        o, *msg);
    msg->set_value("1", "first match");
    msg->set_value("user.name", "alice");
    msg->set_value(".SDATA.meta.sequenceId", "18");
    msg->add_tag("net");
    msg->add_tag("web");
    return msg;
  }();
  return *m;
}

const LogMessage& rfc3164_message() {
  static const LogMessage* m = [] {
    auto* msg = new LogMessage();
    fuzz::prepare(*msg);
    ParseOptions o;
    parse_syslog("<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8", o,
                 *msg);
    return msg;
  }();
  return *m;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::use_dst_local_zone();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  std::unique_ptr<Template> t = Template::compile(text, &error);
  if (!t) {
    FUZZ_CHECK(!error.empty());
    return 0;
  }
  FUZZ_CHECK(t->source() == text);

  static const std::shared_ptr<const TimeZone> kZone = [] {
    std::string e;
    return TimeZone::parse("America/New_York", &e);
  }();
  const LogMessage& a = rfc5424_message();
  const LogMessage& b = rfc3164_message();

  RenderOptions plain;
  RenderOptions zoned;
  zoned.frac_digits = 3;
  zoned.time_zone = kZone.get();

  std::string out1 = t->render(a, plain);
  std::string out2 = t->render(a, plain);
  FUZZ_CHECK(out1 == out2);  // rendering has no hidden state
  std::string out3 = t->render(b, plain);
  if (t->is_literal()) FUZZ_CHECK(out1 == out3);

  // As a file destination renders its path: values made safe, literals kept.
  RenderOptions path;
  path.path_safe = true;
  std::string out5 = t->render(a, path);
  if (t->is_literal()) FUZZ_CHECK(out5 == out1);

  // Appends to what the buffer already holds.
  std::string out4 = "prefix:";
  t->render(a, zoned, out4);
  FUZZ_CHECK(out4.compare(0, 7, "prefix:") == 0);
  return 0;
}
