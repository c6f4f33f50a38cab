// Splits a byte stream into syslog frames: newline-terminated lines or
// RFC 6587 octet-counted frames.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace logferry {

enum class Framing { kAuto, kLines, kOctetCounted };

struct FramingCounters {
  uint64_t frames = 0;
  uint64_t truncated = 0;      // frames cut at the size limit
  uint64_t bad_octet_count = 0; // an octet-counted frame with a malformed length
};

// One decoder per connection.  Feed it bytes as they arrive; it calls the
// sink once per complete frame.  Memory stays bounded by the size limit
// whatever the peer sends: an over-long frame is cut (the sink sees its
// first max_size bytes, `truncated` set) and the rest of it skipped; a
// malformed octet count makes the decoder resynchronise on the next
// newline instead of trusting the count.
//
// In kAuto mode the first frame decides: digits, a space and '<' mean octet
// counting for the rest of the connection; anything else means lines.  In
// lines mode a NUL also ends a frame (as in syslog-ng) and a CR before the
// newline is dropped; empty lines yield nothing.
class FrameDecoder {
 public:
  using Sink = std::function<void(std::string_view frame, bool truncated)>;

  explicit FrameDecoder(Framing mode = Framing::kAuto, size_t max_size = 65536)
      : mode_(mode), max_size_(max_size == 0 ? 1 : max_size) {}

  void feed(std::string_view bytes, const Sink& sink);
  // End of stream: a partial frame still buffered becomes a frame.
  void finish(const Sink& sink);

  Framing mode() const { return mode_; }
  const FramingCounters& counters() const { return counters_; }
  size_t buffered() const { return pending_.size(); }

 private:
  enum class State { kStart, kLength, kOctetBody, kLine, kSkipLine };

  void emit(std::string_view frame, bool truncated, const Sink& sink);
  size_t step_line(std::string_view in, const Sink& sink);
  size_t step_octets(std::string_view in, const Sink& sink);

  Framing mode_;
  size_t max_size_;
  State state_ = State::kStart;
  std::string pending_;        // bytes of the frame in progress
  uint64_t octets_left_ = 0;   // body bytes still due (octet mode)
  bool body_truncated_ = false;
  FramingCounters counters_;
};

}  // namespace logferry
