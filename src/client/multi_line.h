// Multi-line messages for file sources: joins the lines a file source reads
// into messages, as syslog-ng's file() options multi-line-mode(),
// multi-line-prefix(), multi-line-garbage(), multi-line-suffix() and
// multi-line-timeout() do.
#pragma once

#include <re2/re2.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/option_reader.h"

namespace logferry {

struct MultiLineOptions {
  // kNone: every line is a message.
  // kIndented: a line that begins with a space or a tab continues the
  //   message before it; any other line starts a new one.
  // kPrefixGarbage (also written "regexp"): a line matching `prefix` starts
  //   a new message; a line in which `garbage` matches ends the message,
  //   which keeps that line up to where the match begins (the garbage and
  //   the rest of the line are dropped).
  // kPrefixSuffix: as kPrefixGarbage, with `suffix` ending the message, which
  //   keeps that line up to where the match ends.
  // A line that comes when no message is pending always starts one, whether
  // or not it matches the prefix (as in syslog-ng).
  enum class Mode { kNone, kIndented, kPrefixGarbage, kPrefixSuffix } mode = Mode::kNone;
  // Searched anywhere in a line (anchor with ^); null when not given.
  std::shared_ptr<const RE2> prefix, garbage, suffix;
  // multi-line-timeout(): how long a pending message may wait for its next
  // line before the file source flushes it; 0: never (only at end of file).
  int64_t timeout_ms = 10000;
};

// Reads multi-line-mode(), multi-line-prefix(), multi-line-garbage(),
// multi-line-suffix() and multi-line-timeout() from a driver's options.
// Errors (an invalid regular expression, a pattern the mode does not use, a
// regexp mode without a pattern) go to r.diag() with their location.
void read_multi_line_options(OptionReader& r, MultiLineOptions* o);

// Joins lines into messages.  One per file being read.  A line is given
// without its newline, with the file position just past its newline.
//
// Messages join their lines with '\n'; empty lines at the end of a message
// are left out.  An empty line never starts a message: with nothing pending
// it goes to the sink on its own as an empty message (the caller drops it
// unless it keeps empty lines).  Memory is bounded by max_size: a message
// that grows past it is cut there, goes to the sink at once with `truncated`
// set, and its further lines are dropped until the next message starts.
//
// The sink's view is valid only during the call; the sink must not call
// back into the assembler.  In steady state nothing is allocated per line:
// the pending buffer keeps its capacity.
class MultiLineAssembler {
 public:
  using Sink = std::function<void(std::string_view message, uint64_t end_position, bool truncated)>;

  // `start_position`: where reading starts (a saved position), which is
  // what settled_position() says until a line is settled.
  MultiLineAssembler(const MultiLineOptions& options, size_t max_size, uint64_t start_position = 0);

  // `line_truncated`: the reader already cut this line (it was longer than
  // its limit); the message holding it is marked truncated.
  void push(std::string_view line, uint64_t end_position, const Sink& sink, bool line_truncated = false);
  // Timeout or end of file: emits what is pending, and the next line starts
  // a new message.
  void flush(const Sink& sink);
  // Forgets anything pending (not emitted) and starts over at `position`
  // (reading resumes there: a saved position, a truncated file).
  void reset(uint64_t position);

  // A message is waiting for more lines (flush() would emit it).
  bool pending() const { return pending_; }
  // Every line before this position has been emitted or dropped; the lines
  // of a pending message are not covered.  What a file source may persist.
  uint64_t settled_position() const { return settled_; }
  const MultiLineOptions& options() const { return options_; }

 private:
  void start(std::string_view line, uint64_t end_position, size_t cut, bool line_truncated, const Sink& sink);
  void append(std::string_view piece, uint64_t end_position, bool ends, bool line_truncated, const Sink& sink);
  void emit(uint64_t end_position, const Sink& sink);
  // Where the end pattern cuts `line` (garbage: its start, suffix: its end),
  // or npos when it does not match.
  size_t end_cut(std::string_view line) const;
  bool is_start(std::string_view line) const;

  MultiLineOptions options_;
  const RE2* end_re_ = nullptr;  // garbage or suffix, by mode
  size_t max_size_;
  std::string buf_;           // the pending message
  bool pending_ = false;
  bool truncated_ = false;    // the pending message was cut
  bool skipping_ = false;     // dropping the rest of a message that was cut
  uint64_t last_end_ = 0;     // end position of the pending message's last line
  uint64_t settled_ = 0;
};

}  // namespace logferry
