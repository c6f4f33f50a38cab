// Fuzzes MultiLineAssembler, which joins the lines a file source reads into
// multi-line messages.
//
// The input's last bytes choose the mode, the patterns (from a fixed set,
// compiled once), the size limit and whether the end flushes; the rest is
// the file's content.  A line that begins with \x01 is preceded by a flush
// (a timeout); one that begins with \x02 comes marked as cut by the reader.
// Checked: no message exceeds the limit; every message is a piece of the
// content, made of whole lines from where the message before it ended;
// messages come in order and end at a line end; the settled position never
// goes back, never passes the lines read, and covers everything whenever
// nothing is pending; kNone gives one message per line.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "client/multi_line.h"
#include "fuzz_common.h"

using namespace logferry;
using Mode = MultiLineOptions::Mode;

namespace {

std::shared_ptr<const RE2> compile(const char* pattern) {
  if (!pattern) return nullptr;
  auto re = std::make_shared<const RE2>(pattern);
  FUZZ_CHECK(re->ok());
  return re;
}

struct Patterns {
  std::vector<std::shared_ptr<const RE2>> prefixes, ends;
  Patterns() {
    for (const char* p : {static_cast<const char*>(nullptr), "^P", "^[0-9]", "^$", "", "x+", "^\\S"})
      prefixes.push_back(compile(p));
    for (const char* p : {static_cast<const char*>(nullptr), "G", "^$", "[a-c]{2}", "$", "^", "G.*G"})
      ends.push_back(compile(p));
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Patterns patterns;
  FuzzedDataProvider fdp(data, size);
  static const Mode kModes[] = {Mode::kNone, Mode::kIndented, Mode::kPrefixGarbage, Mode::kPrefixSuffix};
  MultiLineOptions o;
  o.mode = kModes[fdp.ConsumeIntegralInRange<int>(0, 3)];
  o.prefix = patterns.prefixes[fdp.ConsumeIntegralInRange<size_t>(0, patterns.prefixes.size() - 1)];
  auto end = patterns.ends[fdp.ConsumeIntegralInRange<size_t>(0, patterns.ends.size() - 1)];
  (o.mode == Mode::kPrefixSuffix ? o.suffix : o.garbage) = end;
  const size_t max_size = fdp.ConsumeIntegralInRange<size_t>(1, 48);
  const bool flush_at_end = fdp.ConsumeBool();
  const uint64_t start = fdp.ConsumeIntegralInRange<uint64_t>(0, 3);  // where reading resumed
  std::string content = std::string(start, '\n') + fdp.ConsumeRemainingBytesAsString();
  if (!content.empty() && content.back() != '\n') content += '\n';

  // Where each line starts, skipping the `start` lines read before.
  std::vector<size_t> line_starts;
  for (size_t p = start; p < content.size(); p = content.find('\n', p) + 1) line_starts.push_back(p);

  MultiLineAssembler a(o, max_size, start);
  uint64_t prev_end = start;   // end of the last message
  uint64_t read_end = start;   // end of the last line pushed
  uint64_t settled = start;
  size_t messages = 0;
  MultiLineAssembler::Sink sink = [&](std::string_view m, uint64_t end_position, bool truncated) {
    ++messages;
    FUZZ_CHECK(m.size() <= max_size);
    FUZZ_CHECK(end_position >= prev_end && end_position <= read_end);
    FUZZ_CHECK(end_position > 0 && content[end_position - 1] == '\n');
    if (o.mode == Mode::kNone) FUZZ_CHECK(m.find('\n') == std::string_view::npos);
    if (!m.empty()) FUZZ_CHECK(m.back() != '\n');
    // Lines joined with '\n' are the content as it was: the message is a
    // piece of it that begins at a line start after the previous message
    // and ends before the newline of its last line.
    bool found = false;
    for (size_t s : line_starts) {
      if (s < prev_end) continue;
      if (s + m.size() >= end_position) break;
      if (content.compare(s, m.size(), m) == 0) {
        found = true;
        break;
      }
    }
    FUZZ_CHECK(found || (m.empty() && !truncated));
    prev_end = end_position;
  };
  auto check_settled = [&] {
    uint64_t s = a.settled_position();
    FUZZ_CHECK(s >= settled && s <= read_end);
    FUZZ_CHECK(a.pending() ? s < read_end : s == read_end);
    settled = s;
  };

  size_t lines = 0;
  for (size_t begin : line_starts) {
    size_t nl = content.find('\n', begin);
    std::string_view line(content.data() + begin, nl - begin);
    if (!line.empty() && line[0] == '\x01') {
      a.flush(sink);
      FUZZ_CHECK(!a.pending());
      check_settled();
    }
    read_end = nl + 1;
    a.push(line, read_end, sink, !line.empty() && line[0] == '\x02');
    ++lines;
    check_settled();
  }
  if (o.mode == Mode::kNone) FUZZ_CHECK(messages == lines);
  if (flush_at_end) {
    a.flush(sink);
    FUZZ_CHECK(!a.pending());
    check_settled();
    FUZZ_CHECK(a.settled_position() == read_end);
  }
  return 0;
}
