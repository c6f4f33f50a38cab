// disk-buffer(): a destination's messages kept on disk on their way out, so
// that they survive a server that is away, a restart and (reliable mode) a
// crash.  The buffered destination wraps the sending one (network(),
// syslog(), ferry(), sql(), clickhouse(), kafka-c()): every batch goes into
// the DiskQueue first (and the engine counts it as taken once it is there),
// and a replay pump feeds the queue's records to the sending destination as
// fast as it takes them.
//
// The parts:
//   disk_queue.{h,cc}   segment files, records, checksums, head, quarantine
//   disk_buffer.{h,cc}  the options, and the wrapping destination
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "core/config.h"

namespace logferry {

struct DiskBufferConfig {
  enum class WhenFull { kBlock, kDropOldest };
  bool enabled = false;                       // disk-buffer(...) given
  bool reliable = false;                      // reliable(): fdatasync() every batch before it counts as taken
  uint64_t capacity_bytes = uint64_t{1} << 30;  // capacity-bytes(), disk-buf-size(): bytes of segment files
  std::string dir;                            // dir(); empty: PERSIST-DIR/buffers
  uint64_t mem_buf_length = 10000;            // mem-buf-length(): messages handed on, not yet taken
  uint64_t mem_buf_size = 16u << 20;          // mem-buf-size(): their bytes
  WhenFull when_full = WhenFull::kBlock;      // when-full(block|drop-oldest)
  uint64_t segment_bytes() const;             // a segment file is closed once this large
};

// Reads disk-buffer(...) of destination `r` into *c (enabled when present).
// False after reporting an invalid option.
bool read_disk_buffer(OptionReader& r, DiskBufferConfig* c);
// " disk-buffer(reliable ...)" for `logferry check`, or "" when not enabled.
std::string describe_disk_buffer(const DiskBufferConfig& c);

// Wraps `inner` in a disk buffer (returns it as it is when `c` is not
// enabled).  `name` describes the inner destination; it names it in
// reports and, through disk_buffer_id(), the buffer's directory under dir()
// (so the buffer is found again after a restart, whatever the buffer's own
// options became).
std::unique_ptr<Destination> make_buffered_destination(const DiskBufferConfig& c, const std::string& name,
                                                       std::unique_ptr<Destination> inner);

// The driver of a sending destination that may sit behind a disk buffer
// (network(), ferry(), kafka-c()): its config, how `logferry check`
// describes it, and the destination it makes, wrapped when the buffer is on.
template <class Config, std::string (*Describe)(const Config&), std::unique_ptr<Destination> (*Make)(const Config&)>
class BufferedDestinationDriver : public DestinationDriver {
 public:
  BufferedDestinationDriver(Config c, DiskBufferConfig b) : cfg_(std::move(c)), buffer_(std::move(b)) {}
  std::string describe() const override { return Describe(cfg_) + describe_disk_buffer(buffer_); }
  std::unique_ptr<Destination> create() const override {
    return make_buffered_destination(buffer_, Describe(cfg_), Make(cfg_));
  }

 private:
  Config cfg_;
  DiskBufferConfig buffer_;
};

// The directory name a destination described as `describe` keeps its
// buffer in: the description with every character other than letters,
// digits, '.', '-' and '_' turned into '_'.
std::string disk_buffer_id(const std::string& describe);

}  // namespace logferry
