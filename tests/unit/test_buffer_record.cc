// The disk buffer's record format (src/relay/buffer_record.*): runs with and
// without an origin stream, version 1 records, and malformed ones.
#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "relay/buffer_record.h"

using namespace logferry;
using namespace logferry::buffer_record;

namespace {

LogMessage message(const std::string& text, uint64_t file_end) {
  LogMessage m;
  m.set(Field::kMessage, text);
  m.set(Field::kHost, "client-a");
  m.file_end = file_end;
  return m;
}

RunHeader origin_header() {
  RunHeader h;
  h.source_id = 3;
  h.flags = kFromOrigin | kContinues;
  h.file_life = 0x1122334455667788ull;
  for (size_t i = 0; i < h.origin.node.size(); ++i) h.origin.node[i] = static_cast<uint8_t>(0xA0 + i);
  h.origin.source = "s_files";
  h.origin.host = "client-a.example.com";
  h.origin_seq = 4711;
  return h;
}

// A record of `n` messages "m0".."m(n-1)" with file ends 100, 200, ...
std::string run_record(const RunHeader& h, int n) {
  std::string out;
  ferry::MessageEncoder enc;
  size_t at = begin_run(&out, h);
  for (int i = 0; i < n; ++i) append_message(&out, enc, message("m" + std::to_string(i), 100u * (i + 1)));
  set_count(&out, at, static_cast<uint32_t>(n));
  return out;
}

}  // namespace

TEST_CASE("buffer record: a run of an origin batch keeps the origin's identity, number and file positions") {
  RunHeader h = origin_header();
  std::string rec = run_record(h, 3);
  CHECK(messages_in(rec) == 3);
  RecordReader r;
  REQUIRE(r.open(rec));
  const RunHeader& got = r.header();
  CHECK(got.version == 2);
  CHECK(got.source_id == 3);
  CHECK(got.flags == (kFromOrigin | kContinues));
  CHECK(got.origin.node == h.origin.node);
  CHECK(got.origin.source == "s_files");
  CHECK(got.origin.host == "client-a.example.com");
  CHECK(got.origin_seq == 4711);
  LogMessage m;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(r.next(&m));
    CHECK(m.get(Field::kMessage) == "m" + std::to_string(i));
    CHECK(m.get(Field::kHost) == "client-a");
    CHECK(m.source_id == 3);
    CHECK(m.file_life == 0x1122334455667788ull);
    CHECK(m.file_end == 100u * (i + 1));
  }
  CHECK_FALSE(r.next(&m));
  CHECK(r.error().empty());
}

TEST_CASE("buffer record: a run without origin has no origin fields") {
  RunHeader h;
  h.source_id = 1;
  std::string rec = run_record(h, 2);
  RecordReader r;
  REQUIRE(r.open(rec));
  CHECK_FALSE(r.header().from_origin());
  CHECK(r.header().origin_seq == 0);
  LogMessage m;
  CHECK(r.next(&m));
  CHECK(r.next(&m));
  CHECK(m.file_end == 200);
  CHECK(m.file_life == 0);
  CHECK_FALSE(r.next(&m));
  CHECK(r.error().empty());
}

TEST_CASE("buffer record: a version 1 record (source id, one message) still reads") {
  std::string rec("\x02\x00", 2);
  ferry::MessageEncoder enc;
  enc.append(message("old line", 0), &rec);
  CHECK(messages_in(rec) == 1);
  RecordReader r;
  REQUIRE(r.open(rec));
  CHECK(r.header().version == 1);
  CHECK_FALSE(r.header().from_origin());
  LogMessage m;
  REQUIRE(r.next(&m));
  CHECK(m.get(Field::kMessage) == "old line");
  CHECK(m.source_id == 2);
  CHECK_FALSE(r.next(&m));
  CHECK(r.error().empty());
}

TEST_CASE("buffer record: malformed records give an error, never a read past them") {
  std::string good = run_record(origin_header(), 2);
  RecordReader r;
  LogMessage m;
  // Every cut short: either the header fails, or a message does.
  for (size_t len = 0; len < good.size(); ++len) {
    std::string cut = good.substr(0, len);
    if (!r.open(cut)) {
      CHECK_FALSE(r.error().empty());
      continue;
    }
    while (r.next(&m)) {
    }
    CHECK_FALSE(r.error().empty());
  }
  SUBCASE("a newer version") {
    std::string v3 = good;
    v3[2] = 3;
    CHECK_FALSE(r.open(v3));
    CHECK(r.error().find("record version 3") != std::string::npos);
  }
  SUBCASE("more messages announced than there are") {
    std::string more = good;
    set_count(&more, 6, 5);
    CHECK(messages_in(more) == 5);
    REQUIRE(r.open(more));
    int n = 0;
    while (r.next(&m)) ++n;
    CHECK(n == 2);
    CHECK_FALSE(r.error().empty());
  }
  SUBCASE("bytes after the announced messages") {
    std::string fewer = good;
    set_count(&fewer, 6, 1);
    REQUIRE(r.open(fewer));
    CHECK(r.next(&m));
    CHECK_FALSE(r.next(&m));
    CHECK(r.error().find("bytes after") != std::string::npos);
  }
}

TEST_CASE("buffer record: file_reach gives a record's file life and its last line's end, for own lines only") {
  RunHeader h;
  h.source_id = 1;
  h.file_life = 0xABCDull;
  uint64_t life = 0, end = 0;
  REQUIRE(file_reach(run_record(h, 3), &life, &end));
  CHECK(life == 0xABCDull);
  CHECK(end == 300);
  // Another node's lines (a relay's record), lines of no file, and a
  // record cut short say nothing.
  CHECK_FALSE(file_reach(run_record(origin_header(), 3), &life, &end));
  h.file_life = 0;
  CHECK_FALSE(file_reach(run_record(h, 3), &life, &end));
  h.file_life = 7;
  std::string rec = run_record(h, 3);
  for (size_t len = 0; len < rec.size(); ++len) CHECK_FALSE(file_reach(rec.substr(0, len), &life, &end));
}
