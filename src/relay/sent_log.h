// The sent log of a ferry() destination: for each batch of this node's own
// streams, the file contents its lines came from and how far into each
// they reached (LogMessage::file_life, file_end).  It is appended before a
// batch goes out, so after a crash of this node (kill -9) the receiver's
// high-water mark says which lines it already stored: the file sources
// read again from their last saved position, and the destination skips
// what the receiver has instead of sending it a second time under new
// batch numbers (docs/protocol.md, "A sender's crash").
//
// The file (PERSIST-DIR/ferry-sent-SERVER-PORT) is text, one record a line:
//   logferry-sent 1
//   b STREAM SEQ LIFE:END ...   batch SEQ of STREAM reached END in each LIFE
//   v STREAM SEQ                batches of STREAM above SEQ recorded so far are void
// STREAM is the hex of the source's name, LIFE hex, SEQ and END decimal.
// Written with write(2) and no fsync: it survives a killed process (the
// page cache); after a power failure a lost tail only means lines are
// sent again.  When it grows, it is rewritten with what still matters:
// per stream, the reaches of everything acknowledged folded into one
// record, and the batches not acknowledged yet.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace logferry {

class SentLog {
 public:
  struct Reach {
    uint64_t life = 0;
    uint64_t end = 0;
  };
  using Stored = std::unordered_map<uint64_t, uint64_t>;  // life -> end of the lines stored

  ~SentLog();

  // Opens (and reads) the log at `path`; creates it when missing.  A
  // damaged line is skipped (counted in skipped_lines()).  False and
  // *error when the file cannot be opened.
  bool open(const std::string& path, std::string* error);

  // Whether the log knows batches of `stream` from an earlier run.
  bool knows(const std::string& stream) const { return streams_.count(stream) != 0; }

  // Notes that batch `seq` of `stream`, with `reaches`, is about to be
  // sent.  Written by the next write_pending().
  void record(const std::string& stream, uint64_t seq, const std::vector<Reach>& reaches);

  // The receiver has every batch of `stream` through `hwm` and this run
  // numbers afresh above it: returns how far into each life the stored
  // lines reach; batches recorded above `hwm` no longer count (they are
  // sent again under new numbers).
  Stored resume(const std::string& stream, uint64_t hwm);

  // Batches of `stream` above `seq` recorded so far no longer count (they
  // are renumbered).
  void void_above(const std::string& stream, uint64_t seq);

  // The receiver acknowledged `stream` through `seq`.
  void acknowledged(const std::string& stream, uint64_t seq);

  // Appends what was recorded since the last call (one write), and
  // rewrites the file when it grew large.  False and *error on failure.
  bool write_pending(std::string* error);

  size_t skipped_lines() const { return skipped_lines_; }

  // The most lives remembered per stream: more (a source following very
  // many files) forgets the oldest ones (their lines may then be sent
  // again after a crash; never lost).
  static constexpr size_t kMaxLives = 4096;

 private:
  struct Batch {
    uint64_t seq = 0;
    std::vector<Reach> reaches;
  };
  struct StreamLog {
    uint64_t folded_through = 0;  // batches through here are in `folded`
    // life -> (end, seq of the batch that reached it), acknowledged batches
    std::map<uint64_t, std::pair<uint64_t, uint64_t>> folded;
    std::vector<Batch> recent;    // recorded, not folded (not acknowledged yet)
  };

  void fold(StreamLog& s, uint64_t through);
  void forget_oldest_lives(StreamLog& s);
  bool parse_line(const std::string& line);
  bool rewrite(std::string* error);
  static void append_batch(std::string* out, const std::string& stream, uint64_t seq,
                           const std::vector<Reach>& reaches);

  std::string path_;
  int fd_ = -1;
  std::map<std::string, StreamLog> streams_;
  std::string pending_;        // records not written yet
  uint64_t file_bytes_ = 0;    // the file's size
  uint64_t compact_bytes_ = 0; // its size after the last rewrite
  size_t skipped_lines_ = 0;
};

}  // namespace logferry
