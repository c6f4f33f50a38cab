#include "relay/disk_queue.h"

#include "core/delivery_journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>

namespace logferry {

namespace {

constexpr size_t kReadChunk = 1u << 20;

uint32_t get_u32(const char* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;  // little-endian hosts only (as the rest of logferry's formats)
}

void put_u32_at(std::string* s, size_t at, uint32_t v) { memcpy(s->data() + at, &v, 4); }

// The checksum of a record: its length field, then its payload.
uint32_t record_crc(const char* len_field, const char* payload, uint32_t len) {
  uLong c = crc32(0L, reinterpret_cast<const Bytef*>(len_field), 4);
  return static_cast<uint32_t>(crc32(c, reinterpret_cast<const Bytef*>(payload), len));
}

std::string errno_text(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + strerror(errno);
}

bool mkdir_p(const std::string& dir, std::string* error) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i < dir.size() && dir[i] != '/') continue;
    std::string part = dir.substr(0, i);
    if (mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
      *error = errno_text("cannot create", part);
      return false;
    }
  }
  return true;
}

void sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  fsync(fd);
  ::close(fd);
}

// Reads at `offset` until `n` bytes or the end of the file.
ssize_t pread_full(int fd, char* buf, size_t n, uint64_t offset) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = pread(fd, buf + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(done);
}

}  // namespace

std::string segment_path(const std::string& dir, uint64_t number) {
  char name[32];
  snprintf(name, sizeof(name), "/%010llu.seg", static_cast<unsigned long long>(number));
  return dir + name;
}

bool list_segments(const std::string& dir, std::vector<uint64_t>* numbers, std::string* error) {
  numbers->clear();
  DIR* d = opendir(dir.c_str());
  if (!d) {
    *error = errno_text("cannot read the directory", dir);
    return false;
  }
  while (dirent* e = readdir(d)) {
    std::string_view name = e->d_name;
    if (name.size() != 14 || !name.ends_with(".seg")) continue;
    uint64_t n = 0;
    bool digits = true;
    for (char c : name.substr(0, 10)) {
      if (c < '0' || c > '9') digits = false;
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    if (digits) numbers->push_back(n);
  }
  closedir(d);
  std::sort(numbers->begin(), numbers->end());
  return true;
}

bool read_head(const std::string& dir, QueuePosition* head) {
  FILE* f = fopen((dir + "/head").c_str(), "re");
  if (!f) return false;
  unsigned long long seg = 0, off = 0;
  int version = 0;
  bool ok = fscanf(f, "logferry-disk-buffer %d %llu %llu", &version, &seg, &off) == 3 && version == 1;
  fclose(f);
  if (ok) *head = QueuePosition{seg, off};
  return ok;
}

bool scan_segment(const std::string& path, SegmentScan* out,
                  const std::function<void(uint64_t, std::string_view)>& on_record, std::string* io_error) {
  *out = SegmentScan{};
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *io_error = errno_text("cannot open", path);
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    *io_error = errno_text("cannot stat", path);
    ::close(fd);
    return false;
  }
  out->file_bytes = static_cast<uint64_t>(st.st_size);
  std::string buf;
  uint64_t buf_at = 0;  // file offset of buf[0]
  auto have = [&](uint64_t off, size_t n) -> const char* {
    if (off >= buf_at && off + n <= buf_at + buf.size()) return buf.data() + (off - buf_at);
    buf.resize(std::max(n, kReadChunk));
    ssize_t r = pread_full(fd, buf.data(), buf.size(), off);
    buf.resize(r < 0 ? 0 : static_cast<size_t>(r));
    buf_at = off;
    if (r < 0) *io_error = errno_text("cannot read", path);
    return buf.size() >= n ? buf.data() : nullptr;
  };
  uint64_t off = 0;
  while (off < out->file_bytes) {
    uint64_t left = out->file_bytes - off;
    const char* h = left >= kRecordHeaderBytes ? have(off, kRecordHeaderBytes) : nullptr;
    if (!io_error->empty()) break;
    if (!h) {
      out->torn_tail = true;
      break;
    }
    uint32_t len = get_u32(h), crc = get_u32(h + 4);
    if (len > kMaxRecordBytes) {
      out->error = "record at offset " + std::to_string(off) + " claims " + std::to_string(len) + " bytes";
      break;
    }
    if (kRecordHeaderBytes + len > left) {
      out->torn_tail = true;
      break;
    }
    const char* rec = have(off, kRecordHeaderBytes + len);
    if (!rec) break;
    if (record_crc(rec, rec + kRecordHeaderBytes, len) != crc) {
      // The last record of the file failing its checksum: the same crash
      // (a write cut short, or blocks never written) as a short one.
      if (off + kRecordHeaderBytes + len == out->file_bytes) out->torn_tail = true;
      else out->error = "record at offset " + std::to_string(off) + " fails its checksum";
      break;
    }
    if (on_record) on_record(off, std::string_view(rec + kRecordHeaderBytes, len));
    ++out->records;
    off += kRecordHeaderBytes + len;
    out->good_bytes = off;
  }
  ::close(fd);
  return io_error->empty();
}

DiskQueue::~DiskQueue() { close(); }

void DiskQueue::close() {
  for (int* fd : {&write_fd_, &read_fd_, &lock_fd_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
  segments_.clear();
}

bool DiskQueue::open(const Options& o, const Report& report, std::string* error) {
  opt_ = o;
  report_ = report;
  if (!mkdir_p(opt_.dir, error)) return false;
  std::string lock = opt_.dir + "/lock";
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) {
    *error = errno_text("cannot open", lock);
    return false;
  }
  if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    *error = "the disk buffer " + opt_.dir + " is in use by another destination or logferry process";
    close();
    return false;
  }
  std::vector<uint64_t> numbers;
  if (!list_segments(opt_.dir, &numbers, error)) return false;
  bool have_head = read_head(opt_.dir, &head_);
  if (!have_head) head_ = QueuePosition{numbers.empty() ? 1 : numbers.front(), 0};

  uint64_t skip_messages = 0;  // messages of the head segment's records before the head
  for (size_t i = 0; i < numbers.size(); ++i) {
    uint64_t n = numbers[i];
    std::string path = segment_path(opt_.dir, n);
    if (n < head_.segment) {  // consumed; its deletion was cut short
      unlink(path.c_str());
      continue;
    }
    SegmentScan scan;
    std::string io;
    bool at_head = n == head_.segment;
    uint64_t messages = 0, before = 0, aligned = 0;  // messages before the head; the boundary after them
    auto count = [&](uint64_t off, std::string_view p) {
      uint64_t m = messages_in(p);
      messages += m;
      if (opt_.on_record) opt_.on_record(p);
      if (at_head && off < head_.offset) {
        before += m;
        aligned = off + kRecordHeaderBytes + p.size();
      }
    };
    if (!scan_segment(path, &scan, count, &io)) {
      *error = io;
      return false;
    }
    bool last = i + 1 == numbers.size();
    if (!scan.error.empty() || (scan.torn_tail && !last)) {
      segments_.push_back(Segment{n, scan.file_bytes, 0, 0});
      quarantine(segments_.size() - 1, scan.error.empty() ? "it ends in the middle of a record" : scan.error);
      continue;
    }
    if (scan.torn_tail) {
      if (truncate(path.c_str(), static_cast<off_t>(scan.good_bytes)) != 0) {
        *error = errno_text("cannot cut the torn last record of", path);
        return false;
      }
      report_(5, "disk buffer " + opt_.dir + ": cut " + std::to_string(scan.file_bytes - scan.good_bytes) +
                     " bytes of a record cut short at the end of " + path + " (a crash while writing it)");
    }
    if (at_head) {
      // A head between records (not written by logferry) moves to the
      // boundary after the record it points into.
      head_.offset = aligned;
      skip_messages = before;
    }
    segments_.push_back(Segment{n, scan.good_bytes, messages, at_head ? skip_messages : 0});
    disk_bytes_ += scan.good_bytes;
    unread_messages_ += messages - (at_head ? skip_messages : 0);
  }
  // Writing starts in a new segment, after every number used (a
  // quarantined one too) and after the head's.
  uint64_t next = std::max<uint64_t>(numbers.empty() ? 1 : numbers.back() + 1, head_.segment + (head_.offset > 0));
  if (!open_write_segment(next, error)) return false;
  // A head whose segment is gone (set aside, or consumed) moves to the
  // start of the next one.
  if (!find(head_.segment)) {
    for (const auto& s : segments_) {
      if (s.number > head_.segment) {
        head_ = QueuePosition{s.number, 0};
        break;
      }
    }
  }
  rpos_ = head_;
  save_head();
  return true;
}

bool DiskQueue::open_write_segment(uint64_t number, std::string* error) {
  std::string path = segment_path(opt_.dir, number);
  write_fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (write_fd_ < 0) {
    *error = errno_text("cannot create", path);
    return false;
  }
  if (opt_.sync) sync_dir(opt_.dir);
  segments_.push_back(Segment{number, 0, 0, 0});
  return true;
}

int DiskQueue::sync_fd() const { return write_fd_ >= 0 ? fcntl(write_fd_, F_DUPFD_CLOEXEC, 0) : -1; }

bool DiskQueue::roll(std::string* error) {
  // The closed segment's last records are synced here when the caller
  // syncs the newest one: its next sync is of another file.
  if (write_fd_ >= 0 && opt_.sync && opt_.caller_syncs_data && fdatasync(write_fd_) != 0) {
    *error = errno_text("cannot sync", segment_path(opt_.dir, segments_.back().number));
    return false;
  }
  if (write_fd_ >= 0) ::close(write_fd_);
  write_fd_ = -1;
  return open_write_segment(segments_.back().number + 1, error);
}

std::string* DiskQueue::begin_record() {
  record_at_ = wbuf_.size();
  wbuf_.append(kRecordHeaderBytes, '\0');
  return &wbuf_;
}

void DiskQueue::end_record(uint64_t messages) {
  size_t len = wbuf_.size() - record_at_ - kRecordHeaderBytes;
  if (len > kMaxRecordBytes) {
    cancel_record();
    return;
  }
  put_u32_at(&wbuf_, record_at_, static_cast<uint32_t>(len));
  put_u32_at(&wbuf_, record_at_ + 4,
             record_crc(wbuf_.data() + record_at_, wbuf_.data() + record_at_ + kRecordHeaderBytes,
                        static_cast<uint32_t>(len)));
  wbuf_messages_ += messages;
}

void DiskQueue::cancel_record() { wbuf_.resize(record_at_); }

uint64_t DiskQueue::discard_buffered() {
  uint64_t n = wbuf_messages_;
  wbuf_.clear();
  wbuf_messages_ = 0;
  return n;
}

bool DiskQueue::write_out(std::string* error) {
  if (wbuf_.empty()) return true;
  Segment& seg = segments_.back();
  std::string path = segment_path(opt_.dir, seg.number);
  if (!write_all(write_fd_, wbuf_)) {
    *error = errno_text("cannot write", path);
    // A partial write would leave a broken record in the middle: cut it.
    if (ftruncate(write_fd_, static_cast<off_t>(seg.bytes)) != 0) *error += " (and cannot cut it back)";
    return false;
  }
  if (opt_.sync && !opt_.caller_syncs_data && fdatasync(write_fd_) != 0) {
    *error = errno_text("cannot sync", path);
    if (ftruncate(write_fd_, static_cast<off_t>(seg.bytes)) != 0) *error += " (and cannot cut it back)";
    return false;
  }
  seg.bytes += wbuf_.size();
  seg.messages += wbuf_messages_;
  disk_bytes_ += wbuf_.size();
  unread_messages_ += wbuf_messages_;
  wbuf_.clear();
  wbuf_messages_ = 0;
  if (seg.bytes >= opt_.segment_bytes) return roll(error);
  return true;
}

DiskQueue::Segment* DiskQueue::find(uint64_t number) {
  for (auto& s : segments_)
    if (s.number == number) return &s;
  return nullptr;
}

bool DiskQueue::fill_read_buffer(size_t need) {
  if (read_fd_ >= 0 && read_fd_segment_ == rpos_.segment && rpos_.offset >= rbuf_at_ &&
      rpos_.offset + need <= rbuf_at_ + rbuf_used_)
    return true;
  if (read_fd_ < 0 || read_fd_segment_ != rpos_.segment) {
    if (read_fd_ >= 0) ::close(read_fd_);
    read_fd_ = ::open(segment_path(opt_.dir, rpos_.segment).c_str(), O_RDONLY | O_CLOEXEC);
    read_fd_segment_ = rpos_.segment;
    rbuf_used_ = 0;
    if (read_fd_ < 0) return false;
  }
  size_t want = std::max(need, kReadChunk);
  if (rbuf_.size() < want) rbuf_.resize(want);
  ssize_t r = pread_full(read_fd_, rbuf_.data(), want, rpos_.offset);
  rbuf_at_ = rpos_.offset;
  rbuf_used_ = r < 0 ? 0 : static_cast<size_t>(r);
  return rbuf_used_ >= need;
}

bool DiskQueue::read(std::string_view* payload) {
  while (!segments_.empty()) {
    size_t i = 0;
    while (i < segments_.size() && segments_[i].number < rpos_.segment) ++i;
    if (i == segments_.size()) return false;
    Segment& seg = segments_[i];
    if (seg.number != rpos_.segment) rpos_ = QueuePosition{seg.number, 0};  // quarantined or dropped
    if (rpos_.offset >= seg.bytes) {
      if (i + 1 == segments_.size()) return false;  // the newest: wait for more
      rpos_ = QueuePosition{segments_[i + 1].number, 0};
      continue;
    }
    std::string why;
    if (!fill_read_buffer(kRecordHeaderBytes)) {
      why = "cannot read a record header at offset " + std::to_string(rpos_.offset);
    } else {
      const char* h = rbuf_.data() + (rpos_.offset - rbuf_at_);
      uint32_t len = get_u32(h), crc = get_u32(h + 4);
      if (len > kMaxRecordBytes || rpos_.offset + kRecordHeaderBytes + len > seg.bytes) {
        why = "record at offset " + std::to_string(rpos_.offset) + " claims " + std::to_string(len) + " bytes";
      } else if (!fill_read_buffer(kRecordHeaderBytes + len)) {
        why = "cannot read the record at offset " + std::to_string(rpos_.offset);
      } else {
        h = rbuf_.data() + (rpos_.offset - rbuf_at_);
        if (record_crc(h, h + kRecordHeaderBytes, len) != crc) {
          why = "record at offset " + std::to_string(rpos_.offset) + " fails its checksum";
        } else {
          *payload = std::string_view(h + kRecordHeaderBytes, len);
          last_read_at_ = rpos_;
          last_read_messages_ = messages_in(*payload);
          rpos_.offset += kRecordHeaderBytes + len;
          seg.read_messages += last_read_messages_;
          unread_messages_ -= std::min(unread_messages_, last_read_messages_);
          return true;
        }
      }
    }
    quarantine(i, why);
  }
  return false;
}

void DiskQueue::unread() {
  if (Segment* seg = find(last_read_at_.segment)) {
    rpos_ = last_read_at_;
    seg->read_messages -= std::min(seg->read_messages, last_read_messages_);
    unread_messages_ += last_read_messages_;
    last_read_messages_ = 0;
  }
}

void DiskQueue::quarantine(size_t index, const std::string& why) {
  Segment seg = segments_[index];
  std::string path = segment_path(opt_.dir, seg.number);
  std::string to = path + ".corrupt";
  for (int k = 1; access(to.c_str(), F_OK) == 0; ++k) to = path + "." + std::to_string(k) + ".corrupt";
  if (rename(path.c_str(), to.c_str()) != 0) unlink(path.c_str());
  if (read_fd_ >= 0 && read_fd_segment_ == seg.number) {
    ::close(read_fd_);
    read_fd_ = -1;
  }
  uint64_t lost = seg.messages > seg.read_messages ? seg.messages - seg.read_messages : 0;
  report_(3, "disk buffer " + opt_.dir + ": segment " + path + " is corrupt (" + why + "); set aside as " + to +
                 (seg.messages ? "; " + std::to_string(lost) + " messages in it are not delivered" : "") +
                 "; `logferry buffer inspect` shows what it holds");
  disk_bytes_ -= std::min(disk_bytes_, seg.bytes);
  unread_messages_ -= std::min(unread_messages_, lost);
  ++quarantined_;
  bool newest = index + 1 == segments_.size() && write_fd_ >= 0;
  segments_.erase(segments_.begin() + static_cast<ptrdiff_t>(index));
  if (newest) {
    std::string err;
    uint64_t next = seg.number + 1;
    ::close(write_fd_);
    write_fd_ = -1;
    if (!open_write_segment(next, &err)) report_(3, "disk buffer " + opt_.dir + ": " + err);
  }
}

void DiskQueue::save_head() {
  std::string tmp = opt_.dir + "/head.tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    report_(3, errno_text("disk buffer: cannot write", tmp));
    return;
  }
  char text[96];
  int n = snprintf(text, sizeof(text), "logferry-disk-buffer 1 %llu %llu\n",
                   static_cast<unsigned long long>(head_.segment), static_cast<unsigned long long>(head_.offset));
  bool ok = ::write(fd, text, static_cast<size_t>(n)) == n && (!opt_.sync || fdatasync(fd) == 0);
  ::close(fd);
  if (!ok || rename(tmp.c_str(), (opt_.dir + "/head").c_str()) != 0)
    report_(3, errno_text("disk buffer: cannot save the head of", opt_.dir));
}

bool DiskQueue::consume(QueuePosition through, std::string* error) {
  if (through <= head_) return true;
  head_ = through;
  save_head();
  // Segments wholly before the head go (never the one being written).
  while (segments_.size() > 1) {
    const Segment& s = segments_.front();
    if (!(s.number < head_.segment || (s.number == head_.segment && head_.offset >= s.bytes))) break;
    std::string path = segment_path(opt_.dir, s.number);
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      *error = errno_text("cannot delete", path);
      return false;
    }
    if (read_fd_ >= 0 && read_fd_segment_ == s.number) {
      ::close(read_fd_);
      read_fd_ = -1;
    }
    disk_bytes_ -= std::min(disk_bytes_, s.bytes);
    segments_.pop_front();
  }
  return true;
}

uint64_t DiskQueue::drop_oldest() {
  if (segments_.size() == 1 && segments_.back().bytes > 0) {
    std::string err;
    if (!roll(&err)) report_(3, "disk buffer " + opt_.dir + ": " + err);
  }
  if (segments_.size() < 2) return 0;
  Segment s = segments_.front();
  std::string path = segment_path(opt_.dir, s.number);
  unlink(path.c_str());
  if (read_fd_ >= 0 && read_fd_segment_ == s.number) {
    ::close(read_fd_);
    read_fd_ = -1;
  }
  segments_.pop_front();
  uint64_t lost = s.messages > s.read_messages ? s.messages - s.read_messages : 0;
  disk_bytes_ -= std::min(disk_bytes_, s.bytes);
  unread_messages_ -= std::min(unread_messages_, lost);
  QueuePosition next{segments_.front().number, 0};
  if (rpos_ < next) rpos_ = next;
  if (head_ < next) {
    head_ = next;
    save_head();
  }
  return lost;
}

}  // namespace logferry
