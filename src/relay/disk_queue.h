// The on-disk queue behind a disk buffer: records appended to numbered
// segment files, read back in order, and removed once consumed.
//
// A buffer directory holds:
//   NNNNNNNNNN.seg   segments, oldest first; each a run of records
//                    [u32 length][u32 crc32 of length and payload][payload]
//                    (little-endian), the payload at most kMaxRecordBytes
//   head             where the consumer is: "logferry-disk-buffer 1 SEG OFFSET\n",
//                    replaced atomically (temp file, rename)
//   lock             flock()ed while a queue has the directory open
//   *.corrupt        segments set aside because a record's checksum failed
//
// Every byte read back is checked: a record whose checksum or length is
// wrong makes its segment quarantined (renamed to .corrupt, reported) and
// reading goes on with the next segment.  A record cut short at the end of
// the newest segment is what a crash leaves (a write in progress): it is
// cut off, not an error.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace logferry {

constexpr size_t kRecordHeaderBytes = 8;
constexpr uint32_t kMaxRecordBytes = 64u << 20;

// A place in the queue: a segment number and a byte offset in it.
struct QueuePosition {
  uint64_t segment = 0;
  uint64_t offset = 0;
  auto operator<=>(const QueuePosition&) const = default;
};

// What reading one segment file found (scan_segment()).
struct SegmentScan {
  uint64_t records = 0;
  uint64_t good_bytes = 0;  // the records that checked out, from the start
  uint64_t file_bytes = 0;
  bool torn_tail = false;   // bytes after good_bytes that end the file mid-record
  std::string error;        // set when a record is corrupt (not merely cut short)
};

// Reads every record of a segment file, calling on_record(offset, payload)
// for each that checks out (when given).  Stops at the first bad record.
// False only when the file cannot be read (then *io_error).
bool scan_segment(const std::string& path, SegmentScan* out,
                  const std::function<void(uint64_t, std::string_view)>& on_record, std::string* io_error);

// Lists the segment numbers of `dir`, ascending.
bool list_segments(const std::string& dir, std::vector<uint64_t>* numbers, std::string* error);
std::string segment_path(const std::string& dir, uint64_t number);
// Reads `dir`/head; false when absent or unreadable (start at the oldest).
bool read_head(const std::string& dir, QueuePosition* head);

// The queue itself.  Not thread-safe: one owner (the output thread).
class DiskQueue {
 public:
  struct Options {
    std::string dir;
    bool sync = true;                      // make what is written durable (fdatasync, directory fsync)
    // With `sync`: write_out() leaves syncing the newest segment to the
    // caller (sync_fd()), which may do it on another thread; segments that
    // are closed are still synced before the next one starts.
    bool caller_syncs_data = false;
    uint64_t segment_bytes = 16u << 20;    // a segment is closed once this large
    // How many messages a record's payload holds, for the counts below
    // (nullptr: one per record).
    uint64_t (*messages_in)(std::string_view payload) = nullptr;
    // Called by open() with every record that checks out in the segments
    // it keeps (the head's segment from its start), oldest first, and the
    // records before a corrupt one in a segment it sets aside: what the
    // caller wants to know of what an earlier run wrote (disk_buffer.cc:
    // how far into each file it reached).
    std::function<void(std::string_view payload)> on_record;
  };
  using Report = std::function<void(int severity, const std::string& text)>;

  DiskQueue() = default;
  ~DiskQueue();
  DiskQueue(const DiskQueue&) = delete;
  DiskQueue& operator=(const DiskQueue&) = delete;

  // Creates or opens the directory, takes its lock, checks every segment
  // (quarantining corrupt ones, cutting a torn tail) and places the reader
  // at the saved head.
  bool open(const Options& o, const Report& report, std::string* error);
  void close();

  // ---- appending ----
  // A record is built in the write buffer: begin_record() returns the
  // buffer (the caller appends the payload), end_record() seals it.
  std::string* begin_record();
  void end_record(uint64_t messages = 1);
  // Discards the record begun last (e.g. too long).
  void cancel_record();
  // Writes the buffered records to the newest segment (fdatasync() when
  // Options::sync) and starts a new segment when it is full.  On failure
  // the records stay buffered for the next call.
  bool write_out(std::string* error);
  size_t buffered_bytes() const { return wbuf_.size(); }
  // A new descriptor of the newest segment, for an fdatasync() that covers
  // everything written to it so far (the caller closes it); -1 on error.
  int sync_fd() const;
  // Forgets the buffered records (writes keep failing); returns how many
  // messages they held.
  uint64_t discard_buffered();

  // ---- reading ----
  // The next record after the reader's position: true and *payload (valid
  // until the next call) or false when everything written was read.
  bool read(std::string_view* payload);
  // Puts back the record the last read() returned: the next read() returns
  // it again (a reader that looked at it and stopped before it).
  void unread();
  // The position after the last record read().
  QueuePosition read_position() const { return rpos_; }

  // ---- consuming ----
  // Everything before `through` was consumed: saves the head, deletes the
  // segments before it.
  bool consume(QueuePosition through, std::string* error);
  // Deletes the oldest segment (closing the newest first when it is the
  // only one); returns how many messages that nobody read it held.
  uint64_t drop_oldest();

  // Bytes in segment files (written, not yet deleted) and messages in the
  // records not yet read.
  uint64_t disk_bytes() const { return disk_bytes_; }
  uint64_t unread_messages() const { return unread_messages_; }
  QueuePosition head() const { return head_; }
  uint64_t quarantined_segments() const { return quarantined_; }
  const std::string& dir() const { return opt_.dir; }

 private:
  struct Segment {
    uint64_t number = 0;
    uint64_t bytes = 0;    // checked (or written) bytes
    uint64_t messages = 0;
    uint64_t read_messages = 0;  // by the reader
  };

  bool open_write_segment(uint64_t number, std::string* error);
  bool roll(std::string* error);
  void quarantine(size_t index, const std::string& why);
  Segment* find(uint64_t number);
  void save_head();
  bool fill_read_buffer(size_t need);
  uint64_t messages_in(std::string_view payload) const { return opt_.messages_in ? opt_.messages_in(payload) : 1; }

  Options opt_;
  Report report_;
  int lock_fd_ = -1;
  int write_fd_ = -1;
  std::deque<Segment> segments_;  // oldest first; back() is written to
  uint64_t disk_bytes_ = 0;
  uint64_t unread_messages_ = 0;
  uint64_t quarantined_ = 0;
  QueuePosition head_;

  std::string wbuf_;
  size_t record_at_ = 0;  // begin_record()'s offset in wbuf_
  uint64_t wbuf_messages_ = 0;

  QueuePosition rpos_;
  QueuePosition last_read_at_;    // where the record read() returned last starts
  uint64_t last_read_messages_ = 0;
  int read_fd_ = -1;
  uint64_t read_fd_segment_ = 0;
  std::string rbuf_;       // bytes of the read segment from rbuf_at_
  uint64_t rbuf_at_ = 0;   // file offset of rbuf_[0]
  size_t rbuf_used_ = 0;   // valid bytes in rbuf_
};

}  // namespace logferry
