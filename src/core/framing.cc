#include "core/framing.h"

#include <algorithm>
#include <cstring>

namespace logferry {

namespace {
constexpr size_t kMaxLengthDigits = 10;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// First '\n' or NUL in s, or npos.
size_t find_line_end(std::string_view s) {
  const char* p = static_cast<const char*>(std::memchr(s.data(), '\n', s.size()));
  size_t end = p ? static_cast<size_t>(p - s.data()) : s.size();
  const char* z = static_cast<const char*>(std::memchr(s.data(), '\0', end));
  if (z) return static_cast<size_t>(z - s.data());
  return p ? end : std::string_view::npos;
}
}  // namespace

void FrameDecoder::emit(std::string_view frame, bool truncated, const Sink& sink) {
  if (truncated) counters_.truncated++;
  counters_.frames++;
  sink(frame, truncated);
}

void FrameDecoder::feed(std::string_view in, const Sink& sink) {
  while (!in.empty()) {
    size_t used = 0;
    switch (state_) {
      case State::kStart:
        if (mode_ == Framing::kLines) {
          state_ = State::kLine;
        } else if (in[0] == '\n' ||
                   (mode_ == Framing::kOctetCounted && (in[0] == '\r' || in[0] == ' '))) {
          // Stray separators between octet-counted frames.  While still
          // auto-detecting only a newline is skipped (an empty line yields
          // nothing either way); a leading space or CR belongs to a line.
          used = 1;
        } else if (is_digit(in[0])) {
          state_ = State::kLength;
        } else if (mode_ == Framing::kAuto) {
          mode_ = Framing::kLines;
          state_ = State::kLine;
        } else {
          counters_.bad_octet_count++;
          state_ = State::kLine;  // resynchronise: this line is one frame
        }
        break;
      case State::kLength:
        used = step_octets(in, sink);
        break;
      case State::kOctetBody: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(octets_left_, in.size()));
        if (pending_.empty() && take == octets_left_ && take <= max_size_ && !body_truncated_) {
          emit(in.substr(0, take), false, sink);  // whole frame in this read: no copy
        } else {
          size_t room = max_size_ - std::min(max_size_, pending_.size());
          pending_.append(in.data(), std::min(room, take));
          if (take > room) body_truncated_ = true;
          if (take == octets_left_) {
            emit(pending_, body_truncated_, sink);
            pending_.clear();
          }
        }
        octets_left_ -= take;
        used = take;
        if (octets_left_ == 0) {
          body_truncated_ = false;
          state_ = State::kStart;
        }
        break;
      }
      case State::kLine:
        used = step_line(in, sink);
        break;
      case State::kSkipLine: {
        size_t end = find_line_end(in);
        if (end == std::string_view::npos) {
          used = in.size();
        } else {
          used = end + 1;
          state_ = State::kStart;
        }
        break;
      }
    }
    in.remove_prefix(used);
  }
}

// Reads "<digits> " and decides what follows.  In kAuto mode a frame only
// counts as octet-counted when "<" follows the space.
size_t FrameDecoder::step_octets(std::string_view in, const Sink& sink) {
  size_t i = 0;
  while (i < in.size()) {
    char ch = in[i];
    bool have_space = !pending_.empty() && pending_.back() == ' ';
    if (have_space) {
      // Only reached while auto-detecting: the byte after the space decides.
      if (ch == '<') {
        mode_ = Framing::kOctetCounted;
        octets_left_ = std::stoull(pending_);
        pending_.clear();
        state_ = State::kOctetBody;
        return i;
      }
      mode_ = Framing::kLines;
      state_ = State::kLine;
      return i;
    }
    if (is_digit(ch) && pending_.size() < kMaxLengthDigits) {
      pending_.push_back(ch);
      ++i;
      continue;
    }
    if (ch == ' ' && !pending_.empty() && pending_[0] != '0') {
      if (mode_ == Framing::kAuto) {
        pending_.push_back(' ');
        ++i;
        continue;
      }
      octets_left_ = std::stoull(pending_);
      pending_.clear();
      state_ = State::kOctetBody;
      return i + 1;
    }
    // Not a valid length: in auto mode these are lines; otherwise count the
    // error and take everything up to the next newline as one frame.
    if (mode_ == Framing::kAuto) {
      mode_ = Framing::kLines;
    } else {
      counters_.bad_octet_count++;
    }
    state_ = State::kLine;
    return i;
  }
  return i;
}

size_t FrameDecoder::step_line(std::string_view in, const Sink& sink) {
  size_t end = find_line_end(in);
  size_t body = end == std::string_view::npos ? in.size() : end;
  size_t room = max_size_ - std::min(max_size_, pending_.size());
  // pending_ can only exceed the limit when a tiny limit meets the digits
  // kept while deciding whether a length prefix came first.
  if (body > room || pending_.size() > max_size_) {
    // Over the limit: emit what fits now and skip the rest of the line.
    if (pending_.size() > max_size_) pending_.resize(max_size_);
    pending_.append(in.data(), room);
    emit(pending_, true, sink);
    pending_.clear();
    if (end == std::string_view::npos) {
      state_ = State::kSkipLine;
      return in.size();
    }
    state_ = State::kStart;
    return end + 1;
  }
  if (end == std::string_view::npos) {
    pending_.append(in.data(), body);
    return in.size();
  }
  std::string_view line;
  if (pending_.empty()) {
    line = in.substr(0, body);  // whole line in this read: no copy
  } else {
    pending_.append(in.data(), body);
    line = pending_;
  }
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!line.empty()) emit(line, false, sink);
  pending_.clear();
  state_ = State::kStart;
  return end + 1;
}

void FrameDecoder::finish(const Sink& sink) {
  switch (state_) {
    case State::kLine:
    case State::kLength:
      if (!pending_.empty()) {
        // The same frame the line would have given with its newline.
        std::string_view line = pending_;
        const bool cut = line.size() > max_size_;
        if (cut) {
          line = line.substr(0, max_size_);
        } else if (line.back() == '\r') {
          line.remove_suffix(1);
        }
        // A length prefix cut off by the end of the stream is a cut frame too.
        const bool truncated = cut || (state_ == State::kLength && mode_ == Framing::kOctetCounted);
        if (!line.empty()) emit(line, truncated, sink);
      }
      break;
    case State::kOctetBody:
      // The peer promised more than it sent: keep what did arrive.
      if (!pending_.empty()) emit(pending_, true, sink);
      break;
    default:
      break;
  }
  pending_.clear();
  octets_left_ = 0;
  body_truncated_ = false;
  state_ = State::kStart;
}

}  // namespace logferry
