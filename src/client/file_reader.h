// FileReader: one open file being followed.  Reads what was appended and
// splits it into lines, remembering where the line in progress starts, so
// that a position saved from it never falls inside a line.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "client/positions.h"

namespace logferry {

class FileReader {
 public:
  // Called once per line, without its newline (a CR before it is dropped).
  // `truncated`: the line was longer than the limit and this is its start;
  // the rest is skipped.  `settled`: the offset where the next unread line
  // starts (every byte before it has been handed over).
  using LineSink = std::function<void(std::string_view line, bool truncated, uint64_t settled)>;
  enum class Status { kMore, kEof, kError };

  FileReader(uint32_t id, std::string path, int fd, const FileIdentity& ident, uint64_t start, size_t max_line);
  ~FileReader();
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;

  // Reads up to `budget` bytes (at least one chunk) through `buf`.
  // kMore: stopped at the budget; kEof: read everything there was.
  Status read(size_t budget, char* buf, size_t buf_size, const LineSink& sink);
  // Hands over a last line that has no newline (end of a file that is let
  // go, or one that stayed incomplete too long).  Returns whether there was one.
  bool flush_partial(const LineSink& sink);
  // Starts again from offset 0 (the file was truncated).
  void restart_from_zero();
  // Updates the fingerprint while the file is shorter than it.
  void grow_fingerprint();

  uint32_t id() const { return id_; }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  void set_path(std::string p) { path_ = std::move(p); }
  const FileIdentity& identity() const { return ident_; }
  uint64_t read_offset() const { return read_off_; }   // next byte to read
  uint64_t line_start() const { return line_start_; } // where the unread line starts
  bool has_partial() const { return !partial_.empty() || skipping_; }

 private:
  void take(const char* data, size_t len, uint64_t end_off, bool newline, const LineSink& sink);

  uint32_t id_;
  std::string path_;
  int fd_;
  FileIdentity ident_;
  size_t max_line_;
  uint64_t read_off_;
  uint64_t line_start_;
  std::string partial_;    // the line in progress (at most max_line_ bytes)
  bool skipping_ = false;  // inside the rest of an over-long line
};

}  // namespace logferry
