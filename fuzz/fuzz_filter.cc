// Fuzzes parse_filter_text (filter expressions from the configuration and
// the conditions of $(if)) and evaluates what parses against fixed messages.
#include <cstdint>
#include <memory>
#include <string>

#include "core/filter.h"
#include "core/syslog_parser.h"
#include "fuzz_common.h"

using namespace logferry;

namespace {

const LogMessage& message(int i) {
  static const LogMessage* msgs = [] {
    static const char* const kRaw[] = {
        "<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8",
        ("<165>1 2024-03-11T22:14:15.003Z web01.example.com nginx 4242 ACCESS "
         "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\"] GET /index.html 200"),
        "<190>123: *Mar  1 18:48:50.483 UTC: %SYS-5-CONFIG_I: Configured from console by vty0",
        "garbage without a header",
    };
    auto* m = new LogMessage[4];
    for (int k = 0; k < 4; ++k) {
      fuzz::prepare(m[k]);
      ParseOptions o;
      parse_syslog(kRaw[k], o, m[k]);
    }
    m[0].set_value("user.name", "lonvick");
    m[0].add_tag("auth");
    return m;
  }();
  return msgs[i];
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::use_dst_local_zone();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  FilterError error;
  std::unique_ptr<Filter> f = parse_filter_text(text, &error);
  if (!f) {
    FUZZ_CHECK(!error.message.empty());
    FUZZ_CHECK(error.line >= 1 && error.col >= 1);
  } else {
    FUZZ_CHECK(error.message.empty());
    for (int i = 0; i < 4; ++i) {
      bool r1 = f->eval(message(i));
      bool r2 = f->eval(message(i));
      FUZZ_CHECK(r1 == r2);  // evaluation has no hidden state
    }
  }

  // As a config file's filter{} reads it: with filter(NAME) and source(NAME)
  // resolved, and evaluated the way log paths do (eval_mut may store
  // match groups as $0..$9 into the message).
  static const std::unique_ptr<Filter> kNamed = [] {
    FilterError e;
    return parse_filter_text("facility(auth, authpriv)", &e);
  }();
  FilterResolver filters = [](std::string_view name) -> const Filter* {
    return name == "f_auth" ? kNamed.get() : nullptr;
  };
  SourceResolver sources = [](std::string_view name) {
    return name == "s_net" ? 1 : name == "s_local" ? 0 : -1;
  };
  TokenStream tokens(tokenize(text));
  FilterError error2;
  std::unique_ptr<Filter> g = parse_filter(tokens, filters, &error2, sources);
  if (!g) {
    FUZZ_CHECK(!error2.message.empty());
    return 0;
  }
  for (int i = 0; i < 4; ++i) {
    LogMessage copy = message(i);
    copy.source_id = static_cast<uint16_t>(i & 1);
    g->eval(copy);
    g->eval_mut(copy);
    fuzz::check_spans(copy);
  }
  return 0;
}
