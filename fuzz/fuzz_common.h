// Helpers shared by the fuzz targets.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "core/message.h"
#include "core/syslog_parser.h"
#include "core/timestamp.h"

// assert() is compiled out in RelWithDebInfo (NDEBUG); invariants must hold
// in the fuzz build whatever the build type.
#define FUZZ_CHECK(cond)                                                              \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)

namespace logferry::fuzz {

// True when text is one valid JSON value (json_check.cc: not instrumented).
bool is_valid_json(std::string_view text);

// A fixed receive time (2024-03-11T10:00:00Z) so that runs are reproducible.
inline Timestamp fixed_received() {
  Timestamp t;
  t.sec = 1710151200;
  t.nsec = 123456000;
  t.precision = 6;
  t.gmtoff = 0;
  return t;
}

// A zone with DST for the "local" zone, so that the offset lookups the
// parser does for stamps without an offset take the interesting paths.
inline void use_dst_local_zone() {
  setenv("TZ", "Europe/Budapest", 1);
  tzset();
}

// Clears msg and fills what a network source sets before parsing.
inline void prepare(LogMessage& msg) {
  msg.clear();
  msg.received = fixed_received();
  msg.set(Field::kHostFrom, "relay01.example.net");
  msg.set(Field::kSourceIp, "192.0.2.10");
}

// Every span the message hands out must lie inside its buffer.
inline void check_spans(LogMessage& msg) {
  const uint32_t end = msg.store(std::string_view()).off;  // current buffer size
  auto in = [&](Span s) { return static_cast<uint64_t>(s.off) + s.len <= end; };
  for (int f = 0; f < static_cast<int>(Field::kCount); ++f) FUZZ_CHECK(in(msg.span(static_cast<Field>(f))));
  for (const auto& nv : msg.values()) FUZZ_CHECK(in(nv.name) && in(nv.value));
  for (const auto& e : msg.sd_elements()) {
    FUZZ_CHECK(in(e.id));
    FUZZ_CHECK(static_cast<uint64_t>(e.first) + e.count <= msg.sd_params().size());
  }
  for (const auto& p : msg.sd_params()) FUZZ_CHECK(in(p.name) && in(p.value));
  for (const auto& t : msg.tags()) FUZZ_CHECK(in(t));
}

}  // namespace logferry::fuzz
