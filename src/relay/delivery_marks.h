// Delivery tracking for a destination that writes asynchronously: which of
// the engine's flushes (Destination::flush_seq) have been taken, given how
// much of the destination's byte stream has been taken.
//
// The destination numbers every byte it renders (a stream offset that only
// grows).  At each flush it records a mark: "every byte of flush `seq` and
// of the flushes before it lies below offset `end`".  The bytes below the
// taken offset are those handed to the kernel or given up on; taken_through()
// answers with the highest flush whose bytes are all below it.  One mark per
// flush that added bytes (a flush that added none needs no mark: it is taken
// when the bytes before it are), so the deque holds one entry per batch
// still waiting, at most kMaxMarks; nothing is allocated per message.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>

namespace logferry {

class DeliveryMarks {
 public:
  // The engine's flush `seq` is done: the bytes of it and of every earlier
  // flush lie below `end` (the stream offset of the next byte rendered).
  void flushed(uint64_t seq, uint64_t end) {
    last_seq_ = std::max(last_seq_, seq);
    // No bytes since the last mark: this flush is taken when that mark is.
    if (end == marked_end_) return;
    marked_end_ = end;
    if (marks_.size() >= kMaxMarks) {
      // Merge into the newest mark: conservative (its flushes then wait for
      // each other's bytes), and it bounds the deque.
      marks_.back().end = end;
      return;
    }
    marks_.push_back(Mark{end, seq});
  }

  // Every byte below `taken` is taken: forgets the marks it covers.
  void release(uint64_t taken) {
    while (!marks_.empty() && marks_.front().end <= taken) marks_.pop_front();
  }

  // The highest flush number whose bytes all lie below `taken`, when `end`
  // bytes were rendered in all; `latest` when nothing is left untaken.
  uint64_t taken_through(uint64_t latest, uint64_t taken, uint64_t end) const {
    if (taken >= end) return latest;
    for (const Mark& m : marks_) {
      if (m.end <= taken) continue;  // released at the next progress
      // The flushes before `first` had all their bytes below the previous
      // mark's end, which is taken.
      return std::min(latest, m.first > 0 ? m.first - 1 : 0);
    }
    // Everything marked is taken; the bytes left were rendered after the
    // last flush and belong to a later one.
    return std::min(latest, last_seq_);
  }

  size_t size() const { return marks_.size(); }

 private:
  static constexpr size_t kMaxMarks = 4096;
  struct Mark {
    uint64_t end;    // stream offset after the last byte of these flushes
    uint64_t first;  // the flush that rendered the first of these bytes
  };
  std::deque<Mark> marks_;
  uint64_t marked_end_ = 0;
  uint64_t last_seq_ = 0;
};

}  // namespace logferry
