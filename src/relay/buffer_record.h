// The payload of a disk buffer's record: a run of messages of one source
// block and, for messages a relay received with ferry(), of one batch of
// one origin stream, with what a replay needs to forward that batch
// upstream under the origin's identity and number (docs/architecture.md,
// "Disk buffers").
//
// Version 2 (written now; little-endian):
//   u16 0xFFFF   marks a version 2 record (a version 1 record starts with its
//                source id, and no configuration has 65536 source blocks)
//   u8  2        the version
//   u16          source id (LogMessage::source_id)
//   u8           flags: kFromOrigin, kContinues
//   u32          count: messages in the record
//   u64          file life (LogMessage::file_life), the same for the run
//   [kFromOrigin: node id (16 bytes), u16 length + source name,
//                 u16 length + HOST, u64 origin seq]
//   count x { varint file end (LogMessage::file_end),
//             the message as ferry::MessageEncoder writes it }
// Version 1 (before): u16 source id, then one message; it reads as a run of
// one message without origin.
//
// The origin's strings are bounded as the ferry protocol bounds them (u16
// lengths), so every identity a relay received round-trips.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/message.h"
#include "core/origin_table.h"
#include "relay/ferry_codec.h"

namespace logferry::buffer_record {

constexpr uint8_t kVersion = 2;
constexpr uint8_t kFromOrigin = 1;  // the origin fields are there
constexpr uint8_t kContinues = 2;   // the rest of the previous record's origin batch (a run cut at a size bound)

// The fields a run's messages share.
struct RunHeader {
  uint8_t version = kVersion;
  uint16_t source_id = 0;
  uint8_t flags = 0;
  uint32_t count = 0;
  uint64_t file_life = 0;
  OriginStreamId origin;  // with kFromOrigin
  uint64_t origin_seq = 0;
  bool from_origin() const { return flags & kFromOrigin; }
};

// Appends a run's header (its count as given; set_count() patches it) and
// returns the offset of the count field.
size_t begin_run(std::string* out, const RunHeader& h);
void set_count(std::string* out, size_t count_at, uint32_t count);
// Appends one message of the run: its file end, then its encoding.
void append_message(std::string* out, ferry::MessageEncoder& encoder, const LogMessage& m);

// How many messages a record holds (what its header says; 1 for a
// version 1 record, 0 when the header is malformed).  For DiskQueue's counts.
uint64_t messages_in(std::string_view payload);

// How far into its file content a record of this node's own messages
// reaches: the run's file life and its last message's file end (a file
// source's lines come in order).  False for a record of another node's
// messages (kFromOrigin), one without a file life, and a malformed one.
// The messages are walked, not decoded.
bool file_reach(std::string_view payload, uint64_t* life, uint64_t* end);

// Reads one record: its header, then its messages one at a time.  The
// payload is hostile (a bit flip past the checksum, another version): a
// malformed one gives false and error(), never a read outside it.
class RecordReader {
 public:
  bool open(std::string_view payload);
  const RunHeader& header() const { return h_; }
  // The next message into *m (its source id, file life and file end set;
  // origin and origin_seq are left to the caller, which knows the origin's
  // number).  False after the last one, or on a malformed one (error()).
  bool next(LogMessage* m);
  // The next message's file end, without decoding the message; false as
  // next().
  bool skip(uint64_t* file_end);
  const std::string& error() const { return error_; }

 private:
  // Takes the next message off rest_: its file end and its encoding.
  bool take(uint64_t* file_end, std::string_view* encoded);

  RunHeader h_;
  std::string_view rest_;  // the messages not read yet
  uint32_t left_ = 0;      // how many
  std::string error_;
};

}  // namespace logferry::buffer_record
