// Fuzzes the disk buffers' reader (src/relay/disk_queue.*): a segment file
// and head as a crash, a full disk or a bit flip may leave them.
//
// The input's first byte chooses the head (none, or offset = next 2 bytes
// into segment 1); the rest is written as segment 0000000001.seg of a
// scratch directory.  Checked: no crash, hang or unbounded allocation;
// scan_segment() stops inside the file; DiskQueue::open() then reads
// exactly the records the scan found after the head (every one when the
// segment checks out or ends in a torn record, none when it is corrupt and
// set aside); every record's payload decodes (or not) as a disk buffer
// record (relay/buffer_record.h: version 1, or version 2 with its origin
// stream, batch number and file positions) whose messages have no spans
// outside their buffer, and the queue's count of unread messages is what
// the records' headers say.  The input past a record header is also decoded
// as a record payload by itself.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "relay/buffer_record.h"
#include "relay/disk_queue.h"

using namespace logferry;

namespace {

// In memory when it can be (/dev/shm): on a disk file system the renames
// and truncations make the kernel write back, and each run waits for it.
std::string scratch_dir() {
  static std::string dir = [] {
    char shm[] = "/dev/shm/lf-fuzz-dq-XXXXXX";
    char tmp[] = "/tmp/lf-fuzz-dq-XXXXXX";
    const char* d = mkdtemp(shm);
    if (!d) d = mkdtemp(tmp);
    return std::string(d ? d : "/tmp");
  }();
  return dir;
}

void write_file(const std::string& path, std::string_view data) {
  FILE* f = fopen(path.c_str(), "wb");
  FUZZ_CHECK(f != nullptr);
  if (!data.empty()) FUZZ_CHECK(fwrite(data.data(), 1, data.size(), f) == data.size());
  fclose(f);
}

void clear_dir(const std::string& dir) {
  for (const char* name : {"/0000000001.seg", "/0000000002.seg", "/0000000001.seg.corrupt", "/head", "/head.tmp",
                           "/lock"})
    unlink((dir + name).c_str());
}

LogMessage g_msg;
buffer_record::RecordReader g_reader;

// Decodes a record's payload as the disk buffer does; returns how many
// messages its header announces.
uint64_t check_record(std::string_view payload) {
  if (!g_reader.open(payload)) return buffer_record::messages_in(payload);
  const buffer_record::RunHeader& h = g_reader.header();
  if (h.from_origin())
    FUZZ_CHECK(h.origin.source.size() < payload.size() && h.origin.host.size() < payload.size());
  uint32_t n = 0;
  while (g_reader.next(&g_msg)) {
    ++n;
    FUZZ_CHECK(g_msg.source_id == h.source_id && g_msg.file_life == h.file_life);
    fuzz::check_spans(g_msg);
  }
  FUZZ_CHECK(n <= h.count);
  FUZZ_CHECK(buffer_record::messages_in(payload) == h.count);
  return h.count;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  std::string dir = scratch_dir() + "/q";
  mkdir(dir.c_str(), 0700);
  clear_dir(dir);
  bool with_head = data[0] & 1;
  uint64_t head_offset = static_cast<uint64_t>(data[1]) | (static_cast<uint64_t>(data[2]) << 8);
  std::string_view segment(reinterpret_cast<const char*>(data + 3), size - 3);
  std::string seg_path = segment_path(dir, 1);
  write_file(seg_path, segment);
  if (with_head) write_file(dir + "/head", "logferry-disk-buffer 1 1 " + std::to_string(head_offset) + "\n");

  SegmentScan scan;
  std::string io;
  uint64_t after_head = 0;
  FUZZ_CHECK(scan_segment(seg_path, &scan, [&](uint64_t off, std::string_view payload) {
    FUZZ_CHECK(off + kRecordHeaderBytes + payload.size() <= segment.size());
    if (!with_head || off >= head_offset) ++after_head;
  }, &io));
  FUZZ_CHECK(scan.good_bytes <= scan.file_bytes && scan.file_bytes == segment.size());
  FUZZ_CHECK(scan.error.empty() || !scan.torn_tail);

  DiskQueue q;
  std::string err;
  DiskQueue::Options o;
  o.dir = dir;
  o.sync = false;
  o.messages_in = buffer_record::messages_in;
  FUZZ_CHECK(q.open(o, [](int, const std::string&) {}, &err));
  uint64_t got = 0, unread = q.unread_messages(), counted = 0;
  std::string_view payload;
  while (q.read(&payload)) {
    ++got;
    counted += check_record(payload);
  }
  FUZZ_CHECK(q.unread_messages() == 0);
  FUZZ_CHECK(counted == unread);
  // A head inside a record moves to the end of that record: the records
  // read are those starting at or after the head.
  FUZZ_CHECK(got == (scan.error.empty() ? after_head : 0));
  q.close();
  clear_dir(dir);
  // The record decoder on its own, without a checksum in front of it (which
  // mutations rarely keep right): a checksum that holds over a payload of
  // another version or a bug.
  check_record(segment.substr(std::min<size_t>(segment.size(), kRecordHeaderBytes)));
  return 0;
}
