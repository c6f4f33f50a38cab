// DiskQueue: the segment files of the disk buffers, on a real temporary
// directory.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "relay/disk_queue.h"

using namespace logferry;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/lf-dq-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

struct Reports {
  std::vector<std::string> lines;
  DiskQueue::Report fn() {
    return [this](int, const std::string& t) { lines.push_back(t); };
  }
  bool any(const std::string& part) const {
    for (const auto& l : lines)
      if (l.find(part) != std::string::npos) return true;
    return false;
  }
};

DiskQueue::Options opts(const std::string& dir, uint64_t segment_bytes = 1u << 20) {
  DiskQueue::Options o;
  o.dir = dir;
  o.sync = true;
  o.segment_bytes = segment_bytes;
  return o;
}

void append(DiskQueue& q, const std::string& payload) {
  q.begin_record()->append(payload);
  q.end_record();
}

std::string rec(int i) { return "record " + std::to_string(i) + std::string(static_cast<size_t>(i % 7) * 10, 'x'); }

std::vector<std::string> read_all(DiskQueue& q) {
  std::vector<std::string> out;
  std::string_view p;
  while (q.read(&p)) out.emplace_back(p);
  return out;
}

void flip_byte(const std::string& path, uint64_t offset) {
  int fd = open(path.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  char c;
  REQUIRE(pread(fd, &c, 1, static_cast<off_t>(offset)) == 1);
  c ^= 0x5a;
  REQUIRE(pwrite(fd, &c, 1, static_cast<off_t>(offset)) == 1);
  close(fd);
}

// Appends records 0..n-1, written 20 at a time; returns what the oldest
// segment holds.
SegmentScan fill_and_scan_oldest(DiskQueue& q, const std::string& dir, int n) {
  std::string err;
  for (int i = 0; i < n; ++i) {
    append(q, rec(i));
    if (i % 20 == 19) REQUIRE(q.write_out(&err));
  }
  std::vector<uint64_t> segs;
  REQUIRE(list_segments(dir, &segs, &err));
  REQUIRE(segs.size() >= 3);
  SegmentScan scan;
  REQUIRE(scan_segment(segment_path(dir, segs[0]), &scan, nullptr, &err));
  return scan;
}

// Where record `index` of segment 1 has its payload.
uint64_t payload_offset(const std::string& dir, uint64_t index) {
  uint64_t at = 0, k = 0;
  SegmentScan scan;
  std::string err;
  REQUIRE(scan_segment(segment_path(dir, 1), &scan, [&](uint64_t off, std::string_view) {
    if (k++ == index) at = off;
  }, &err));
  return at + kRecordHeaderBytes;
}

}  // namespace

TEST_CASE("disk queue: records come back in order, consumed ones stay consumed across a restart") {
  TempDir t;
  Reports r;
  std::string err;
  {
    DiskQueue q;
    REQUIRE(q.open(opts(t.path), r.fn(), &err));
    for (int i = 0; i < 100; ++i) append(q, rec(i));
    CHECK(q.unread_messages() == 0);  // buffered, not written
    REQUIRE(q.write_out(&err));
    CHECK(q.unread_messages() == 100);
    std::string_view p;
    for (int i = 0; i < 40; ++i) {
      REQUIRE(q.read(&p));
      CHECK(std::string(p) == rec(i));
    }
    REQUIRE(q.consume(q.read_position(), &err));
    for (int i = 40; i < 60; ++i) REQUIRE(q.read(&p));  // read, not consumed: comes again
  }
  DiskQueue q;
  REQUIRE(q.open(opts(t.path), r.fn(), &err));
  CHECK(q.unread_messages() == 60);
  auto all = read_all(q);
  REQUIRE(all.size() == 60);
  CHECK(all.front() == rec(40));
  CHECK(all.back() == rec(99));
  CHECK(r.lines.empty());
}

TEST_CASE("disk queue: a second opener of the same directory is refused") {
  TempDir t;
  Reports r;
  std::string err;
  DiskQueue a, b;
  REQUIRE(a.open(opts(t.path), r.fn(), &err));
  CHECK_FALSE(b.open(opts(t.path), r.fn(), &err));
  CHECK(err.find("in use") != std::string::npos);
}

TEST_CASE("disk queue: consumed segments are deleted; disk_bytes follows") {
  TempDir t;
  Reports r;
  std::string err;
  DiskQueue q;
  REQUIRE(q.open(opts(t.path, 4096), r.fn(), &err));
  for (int i = 0; i < 1000; ++i) {
    append(q, rec(i));
    if (i % 50 == 49) REQUIRE(q.write_out(&err));
  }
  std::vector<uint64_t> segs;
  REQUIRE(list_segments(t.path, &segs, &err));
  CHECK(segs.size() > 5);
  uint64_t full = q.disk_bytes();
  CHECK(read_all(q).size() == 1000);
  REQUIRE(q.consume(q.read_position(), &err));
  REQUIRE(list_segments(t.path, &segs, &err));
  CHECK(segs.size() <= 2);  // the newest stays (being written)
  CHECK(q.disk_bytes() < full / 4);
}

TEST_CASE("disk queue: a record cut short at the end (kill -9 mid-write) is cut off, not an error") {
  TempDir t;
  Reports r;
  std::string err;
  {
    DiskQueue q;
    REQUIRE(q.open(opts(t.path), r.fn(), &err));
    for (int i = 0; i < 10; ++i) append(q, rec(i));
    REQUIRE(q.write_out(&err));
  }
  std::vector<uint64_t> segs;
  REQUIRE(list_segments(t.path, &segs, &err));
  REQUIRE(segs.size() == 1);
  {
    std::ofstream f(segment_path(t.path, segs.back()), std::ios::app | std::ios::binary);
    f.write("\x40\x00\x00\x00\x11\x22", 6);  // a header cut short
  }
  DiskQueue q;
  REQUIRE(q.open(opts(t.path), r.fn(), &err));
  CHECK(read_all(q).size() == 10);
  CHECK(r.any("cut short"));
  CHECK(q.quarantined_segments() == 0);
}

TEST_CASE("disk queue: a corrupt segment is set aside and every other record still comes") {
  TempDir t;
  Reports r;
  std::string err;
  std::vector<std::string> written;
  {
    DiskQueue q;
    REQUIRE(q.open(opts(t.path, 2048), r.fn(), &err));
    for (int i = 0; i < 300; ++i) {
      append(q, rec(i));
      written.push_back(rec(i));
      if (i % 20 == 19) REQUIRE(q.write_out(&err));
    }
  }
  std::vector<uint64_t> segs;
  REQUIRE(list_segments(t.path, &segs, &err));
  REQUIRE(segs.size() >= 4);
  std::string victim = segment_path(t.path, segs[1]);
  std::vector<std::string> in_victim;
  SegmentScan scan;
  REQUIRE(scan_segment(victim, &scan, [&](uint64_t, std::string_view p) { in_victim.emplace_back(p); }, &err));
  REQUIRE(!in_victim.empty());
  flip_byte(victim, 20);

  DiskQueue q;
  REQUIRE(q.open(opts(t.path, 2048), r.fn(), &err));
  CHECK(q.quarantined_segments() == 1);
  CHECK(fs::exists(victim + ".corrupt"));
  CHECK(r.any("corrupt"));
  auto got = read_all(q);
  std::vector<std::string> expect;
  for (const auto& w : written)
    if (std::find(in_victim.begin(), in_victim.end(), w) == in_victim.end()) expect.push_back(w);
  CHECK(got == expect);
}

TEST_CASE("disk queue: corruption found while reading sets the segment aside too") {
  TempDir t;
  Reports r;
  std::string err;
  DiskQueue q;
  REQUIRE(q.open(opts(t.path, 2048), r.fn(), &err));
  SegmentScan scan = fill_and_scan_oldest(q, t.path, 300);
  std::vector<uint64_t> segs;
  REQUIRE(list_segments(t.path, &segs, &err));
  flip_byte(segment_path(t.path, segs[0]), kRecordHeaderBytes + 2);  // the first record's payload
  auto got = read_all(q);
  CHECK(q.quarantined_segments() == 1);
  CHECK(got.size() == 300 - scan.records);
  CHECK(got.front() == rec(static_cast<int>(scan.records)));
}

TEST_CASE("disk queue: drop_oldest deletes the oldest segment and says how many unread records it held") {
  TempDir t;
  Reports r;
  std::string err;
  DiskQueue q;
  REQUIRE(q.open(opts(t.path, 2048), r.fn(), &err));
  SegmentScan scan = fill_and_scan_oldest(q, t.path, 200);
  std::string_view p;
  REQUIRE(q.read(&p));  // one read: not counted as lost
  uint64_t before = q.disk_bytes();
  CHECK(q.drop_oldest() == scan.records - 1);
  CHECK(q.disk_bytes() == before - scan.good_bytes);
  auto got = read_all(q);
  CHECK(got.size() == 200 - scan.records);
  CHECK(got.front() == rec(static_cast<int>(scan.records)));
}

TEST_CASE("disk queue: a reopened queue keeps its data whatever its segment size became") {
  TempDir t;
  Reports r;
  std::string err;
  {
    DiskQueue q;
    REQUIRE(q.open(opts(t.path, 2048), r.fn(), &err));
    for (int i = 0; i < 100; ++i) append(q, rec(i));
    REQUIRE(q.write_out(&err));
  }
  {
    DiskQueue q;
    REQUIRE(q.open(opts(t.path, 1u << 20), r.fn(), &err));
    for (int i = 100; i < 200; ++i) append(q, rec(i));
    REQUIRE(q.write_out(&err));
  }
  DiskQueue q;
  REQUIRE(q.open(opts(t.path, 1024), r.fn(), &err));
  auto got = read_all(q);
  REQUIRE(got.size() == 200);
  for (int i = 0; i < 200; ++i) CHECK(got[static_cast<size_t>(i)] == rec(i));
}

TEST_CASE("disk queue: when the head's segment is set aside, records written after it are all read") {
  TempDir t;
  Reports r;
  std::string err;
  {
    DiskQueue q;
    REQUIRE(q.open(opts(t.path), r.fn(), &err));
    for (int i = 0; i < 20; ++i) append(q, rec(i));
    REQUIRE(q.write_out(&err));
    std::string_view p;
    for (int i = 0; i < 5; ++i) REQUIRE(q.read(&p));
    REQUIRE(q.consume(q.read_position(), &err));  // the head is inside segment 1
  }
  flip_byte(segment_path(t.path, 1), payload_offset(t.path, 10));  // not the last: corrupt, not torn
  DiskQueue q;
  REQUIRE(q.open(opts(t.path), r.fn(), &err));
  CHECK(q.quarantined_segments() == 1);
  for (int i = 100; i < 110; ++i) append(q, rec(i));
  REQUIRE(q.write_out(&err));
  auto got = read_all(q);
  REQUIRE(got.size() == 10);
  CHECK(got.front() == rec(100));
}

TEST_CASE("disk queue: counts the messages records hold, and unread() puts the last record back") {
  TempDir t;
  Reports r;
  std::string err;
  // A record's first byte says how many messages it holds (as
  // buffer_record::messages_in reads a disk buffer's records).
  auto o = opts(t.path);
  o.messages_in = [](std::string_view p) -> uint64_t { return p.empty() ? 0 : static_cast<uint8_t>(p[0]); };
  {
    DiskQueue q;
    REQUIRE(q.open(o, r.fn(), &err));
    for (int i = 1; i <= 4; ++i) {
      q.begin_record()->append(1, static_cast<char>(i));
      q.end_record(static_cast<uint64_t>(i));
    }
    REQUIRE(q.write_out(&err));
    CHECK(q.unread_messages() == 10);
    std::string_view p;
    REQUIRE(q.read(&p));
    QueuePosition after_first = q.read_position();
    REQUIRE(q.read(&p));
    CHECK(p[0] == 2);
    CHECK(q.unread_messages() == 7);
    q.unread();
    CHECK(q.unread_messages() == 9);
    CHECK(q.read_position() == after_first);
    REQUIRE(q.read(&p));
    CHECK(p[0] == 2);
    REQUIRE(q.consume(q.read_position(), &err));
  }
  DiskQueue q;
  REQUIRE(q.open(o, r.fn(), &err));
  CHECK(q.unread_messages() == 7);  // counted again from the records after the head
  auto all = read_all(q);
  REQUIRE(all.size() == 2);
  CHECK(all[0][0] == 3);
  CHECK(q.unread_messages() == 0);
}
