// Which of a destination's messages are done, when they finish out of
// order (Kafka confirms each partition on its own).  Messages are numbered
// in the order they were handed over; done() marks one; taken() is the
// count of messages from the first on that are all done, the offset that
// DeliveryMarks works with.  At most capacity() messages may be
// outstanding (handed over, not done); the ring of flags is allocated once.
#pragma once

#include <cstdint>
#include <vector>

namespace logferry {

class CompletionWindow {
 public:
  explicit CompletionWindow(size_t capacity) {
    size_t n = 1;
    while (n < capacity) n <<= 1;
    done_.assign(n, 0);
    mask_ = n - 1;
  }

  size_t capacity() const { return done_.size(); }
  // Messages handed over and not yet done (counting those done out of
  // order after one that is not).
  uint64_t outstanding() const { return next_ - taken_; }
  bool full() const { return outstanding() >= done_.size(); }

  // Numbers the next message; the caller checks full() first.
  uint64_t add() { return next_++; }

  // Message `seq` is done (confirmed, or given up on).  A number outside
  // the window (never handed out, or done already) is ignored.
  void done(uint64_t seq) {
    if (seq < taken_ || seq >= next_) return;
    done_[seq & mask_] = 1;
    while (taken_ < next_ && done_[taken_ & mask_]) {
      done_[taken_ & mask_] = 0;
      ++taken_;
    }
  }

  uint64_t taken() const { return taken_; }
  uint64_t total() const { return next_; }

 private:
  std::vector<uint8_t> done_;
  size_t mask_ = 0;
  uint64_t next_ = 0;   // the number of the next message
  uint64_t taken_ = 0;  // messages below this are all done
};

}  // namespace logferry
