#include "client/file_reader.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace logferry {

FileReader::FileReader(uint32_t id, std::string path, int fd, const FileIdentity& ident, uint64_t start,
                       size_t max_line)
    : id_(id), path_(std::move(path)), fd_(fd), ident_(ident), max_line_(max_line == 0 ? 1 : max_line),
      read_off_(start), line_start_(start) {}

FileReader::~FileReader() {
  if (fd_ >= 0) ::close(fd_);
}

void FileReader::restart_from_zero() {
  read_off_ = line_start_ = 0;
  partial_.clear();
  skipping_ = false;
  FileIdentity::of_fd(fd_, &ident_);
}

void FileReader::grow_fingerprint() {
  if (ident_.fp_len >= FileIdentity::kFingerprintBytes) return;
  struct stat st;
  if (fstat(fd_, &st) != 0 || static_cast<uint64_t>(st.st_size) <= ident_.fp_len) return;
  FileIdentity now;
  // Only when the bytes already fingerprinted are still the same: otherwise
  // the file was rewritten, which the caller detects through matches_fd().
  if (ident_.content_matches_fd(fd_) && FileIdentity::of_fd(fd_, &now)) ident_ = now;
}

// Appends `len` bytes of the current line; with `newline` the line ends
// there and `end_off` is the offset just past its newline.
void FileReader::take(const char* data, size_t len, uint64_t end_off, bool newline, const LineSink& sink) {
  if (!skipping_) {
    if (partial_.size() + len > max_line_) {
      partial_.append(data, max_line_ - partial_.size());
      sink(partial_, true, line_start_);
      partial_.clear();
      skipping_ = true;
    } else if (newline && partial_.empty()) {
      // The common case: the whole line is in the read buffer; no copy.
      std::string_view line(data, len);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      line_start_ = end_off;
      sink(line, false, line_start_);
      return;
    } else {
      partial_.append(data, len);
    }
  }
  if (!newline) return;
  line_start_ = end_off;
  if (skipping_) {
    skipping_ = false;
    sink(std::string_view(), false, line_start_);  // nothing to send; the position moves on
    return;
  }
  std::string_view line(partial_);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  sink(line, false, line_start_);
  partial_.clear();
}

FileReader::Status FileReader::read(size_t budget, char* buf, size_t buf_size, const LineSink& sink) {
  size_t done = 0;
  while (true) {
    ssize_t n = pread(fd_, buf, buf_size, static_cast<off_t>(read_off_));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::kError;
    if (n == 0) return Status::kEof;
    const char* p = buf;
    const char* end = buf + n;
    uint64_t base = read_off_;
    while (p < end) {
      const char* nl = static_cast<const char*>(memchr(p, '\n', static_cast<size_t>(end - p)));
      if (!nl) {
        take(p, static_cast<size_t>(end - p), 0, false, sink);
        break;
      }
      take(p, static_cast<size_t>(nl - p), base + static_cast<uint64_t>(nl + 1 - buf), true, sink);
      p = nl + 1;
    }
    read_off_ += static_cast<uint64_t>(n);
    done += static_cast<size_t>(n);
    if (done >= budget) return Status::kMore;
  }
}

bool FileReader::flush_partial(const LineSink& sink) {
  if (partial_.empty() && !skipping_) return false;
  line_start_ = read_off_;
  if (skipping_) {
    skipping_ = false;
    sink(std::string_view(), false, line_start_);
    return true;
  }
  std::string_view line(partial_);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  sink(line, false, line_start_);
  partial_.clear();
  return true;
}

}  // namespace logferry
