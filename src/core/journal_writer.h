// Writes the delivery journal (core/delivery_journal.h) on libuv's thread
// pool, so that the loop that acknowledges batches goes on reading while
// the journal is written and fsynced.  One commit at a time: whoever starts
// them collects what is acknowledged meanwhile for the next one (group
// commit), and tells its peers only once the commit covering it is done.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>

namespace logferry {

class DeliveryJournal;

class JournalWriter {
 public:
  // `done(ok, error)`: a commit finished, durable (ok) or not (the
  // journal's marks are dirty again); called on the loop's thread.
  using Done = std::function<void(bool ok, const std::string& error)>;

  JournalWriter(uv_loop_t* loop, DeliveryJournal* journal, Done done);
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Whether a commit is in flight.  The loop does not end before it is done.
  bool running() const { return running_; }

  // Loop thread, not running(): writes the journal's marks as they are now
  // and the output lengths after flush `flush_seq`, in the background.
  void start(uint64_t flush_seq);

 private:
  static void write(uv_work_t* work);
  static void written(uv_work_t* work, int status);

  uv_loop_t* loop_;
  DeliveryJournal* journal_;
  Done done_;
  uv_work_t work_{};
  bool running_ = false;
  // Handed between the threads by uv_queue_work (its start and end order
  // the accesses): the path and text to write, and what went wrong.
  std::string path_;
  std::string text_;
  std::string error_;
  bool ok_ = false;
};

}  // namespace logferry
