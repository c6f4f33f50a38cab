// The delivery journal: what a receiver has made durable, in one file
// (PERSIST-DIR/journal), so that a crash at any moment neither loses what
// it acknowledged nor keeps what it did not (docs/protocol.md,
// "Deduplication and durability at the receiver").
//
// It holds two things written together, atomically: marks of sources
// (e.g. a ferry() stream's high-water mark) and, per output file of a
// journaled file() destination, its length after the engine flush that
// holds the newest acknowledged batch.  At start, a file longer than its
// journaled length is cut back to it: what lies beyond was never
// acknowledged, so its senders send it again.
//
// Threads: note_length() is called on the output thread, everything else
// on the input thread (or after both loops ended); the file itself is
// written on libuv's thread pool (JournalWriter, core/journal_writer.h).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace logferry {

// Writes all of `data` to `fd` (again after EINTR and short writes).  False
// with errno set when a write fails.
bool write_all(int fd, std::string_view data);

// Writes `text` to `path` so that a crash leaves the old file or the whole
// new one: a temporary file, fsynced, renamed over, and the directory
// fsynced.  False and *error when that fails.
bool write_file_durably(const std::string& path, const std::string& text, std::string* error);

class DeliveryJournal {
 public:
  // The journal of `persist_dir` (empty: journaling is off).
  explicit DeliveryJournal(std::string persist_dir);

  // Reads the journal; a missing one is empty.  False and *error when it
  // cannot be read or is not a journal.
  bool load(std::string* error);

  // Cuts every journaled file that is longer than its journaled length
  // back to it; `report` says what was cut.  Before outputs are opened.
  void cut_outputs(const std::function<void(const std::string&)>& report);

  // Drops the journaled lengths (a run without journaling sources: its
  // files grow unjournaled, so they must not be cut later).  Whether there
  // were any.
  bool forget_lengths();

  // Source marks, by key (no white space in keys).
  const std::map<std::string, uint64_t>& marks() const { return marks_; }
  void set_mark(const std::string& key, uint64_t value);
  void forget_mark(const std::string& key);

  // Output thread: after engine flush `flush_seq` (and its fsync), `path`
  // is `length` bytes long.  Also called when a file is opened, with the
  // previous flush number and the length found.
  void note_length(const std::string& path, uint64_t flush_seq, uint64_t length);

  // Whether marks changed since the last commit.
  bool dirty() const { return dirty_; }

  // Writes the marks and, per file, its length after flush `flush_seq`
  // (the newest acknowledged one).  False and *error when it failed (the
  // marks stay dirty, so the next commit tries again).
  bool commit(uint64_t flush_seq, std::string* error);

  // commit() in two steps, for a writer on another thread (JournalWriter):
  // the text to write, with the marks as they are now and the lengths
  // after flush `flush_seq` (the marks count as clean from here on), and,
  // when writing it failed, commit_failed() (dirty again).
  std::string begin_commit(uint64_t flush_seq);
  void commit_failed() { dirty_ = true; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::map<std::string, uint64_t> marks_;
  std::map<std::string, uint64_t> lengths_;  // committed, by path
  bool dirty_ = false;
  uint64_t committed_flush_ = 0;
  std::mutex mu_;  // guards noted_
  // Per path, lengths noted after flushes not yet committed, oldest first.
  std::map<std::string, std::deque<std::pair<uint64_t, uint64_t>>> noted_;
};

}  // namespace logferry
