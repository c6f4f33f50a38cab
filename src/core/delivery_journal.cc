#include "core/delivery_journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace logferry {

namespace {
constexpr const char* kMagic = "logferry-journal 1";
constexpr size_t kMaxNoted = 1024;  // lengths kept per file between commits
}

bool write_all(int fd, std::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

bool write_file_durably(const std::string& path, const std::string& text, std::string* error) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = "cannot write " + tmp + ": " + strerror(errno);
    return false;
  }
  if (!write_all(fd, text)) {
    *error = "cannot write " + tmp + ": " + strerror(errno);
    ::close(fd);
    return false;
  }
  if (fsync(fd) != 0 || ::close(fd) != 0) {
    *error = "cannot sync " + tmp + ": " + strerror(errno);
    return false;
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    *error = "cannot rename " + tmp + ": " + strerror(errno);
    return false;
  }
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    ::close(dfd);
  }
  return true;
}

DeliveryJournal::DeliveryJournal(std::string persist_dir)
    : path_(persist_dir.empty() ? std::string() : persist_dir + "/journal") {}

bool DeliveryJournal::load(std::string* error) {
  if (path_.empty()) return true;
  std::ifstream in(path_);
  if (!in) return true;
  std::string line;
  if (!std::getline(in, line) || line != kMagic) {
    *error = path_ + " is not a logferry journal (expected '" + kMagic + "' on its first line)";
    return false;
  }
  int lineno = 1;
  while (std::getline(in, line)) {
    ++lineno;
    std::istringstream ls(line);
    std::string kind, key;
    uint64_t value;
    if (!(ls >> kind >> value)) {
      *error = path_ + ":" + std::to_string(lineno) + ": malformed line";
      return false;
    }
    ls.get();  // the space before the key, which is the rest of the line
    std::getline(ls, key);
    if (key.empty()) {
      *error = path_ + ":" + std::to_string(lineno) + ": missing key";
      return false;
    }
    if (kind == "mark") marks_[key] = value;
    else if (kind == "length") lengths_[key] = value;
    else {
      *error = path_ + ":" + std::to_string(lineno) + ": unknown entry '" + kind + "'";
      return false;
    }
  }
  return true;
}

void DeliveryJournal::cut_outputs(const std::function<void(const std::string&)>& report) {
  for (const auto& [path, length] : lengths_) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) <= length)
      continue;
    if (::truncate(path.c_str(), static_cast<off_t>(length)) == 0) {
      report("cut " + path + " back from " + std::to_string(st.st_size) + " to " + std::to_string(length) +
             " bytes (written after the last acknowledged batch; its senders send it again)");
    } else {
      report("cannot cut " + path + " back to " + std::to_string(length) + " bytes: " + strerror(errno) +
             " (lines after that may be stored twice)");
    }
  }
}

bool DeliveryJournal::forget_lengths() {
  if (lengths_.empty()) return false;
  lengths_.clear();
  return true;
}

void DeliveryJournal::set_mark(const std::string& key, uint64_t value) {
  auto [it, added] = marks_.emplace(key, value);
  if (!added && it->second == value) return;
  it->second = value;
  dirty_ = true;
}

void DeliveryJournal::forget_mark(const std::string& key) {
  if (marks_.erase(key)) dirty_ = true;
}

void DeliveryJournal::note_length(const std::string& path, uint64_t flush_seq, uint64_t length) {
  // A path with a line break cannot be written as a journal line: not
  // journaled (it is never cut back).
  if (path_.empty() || path.find('\n') != std::string::npos) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto& q = noted_[path];
  if (!q.empty() && q.back().first == flush_seq) {
    q.back().second = length;
    return;
  }
  q.emplace_back(flush_seq, length);
  if (q.size() > kMaxNoted) {
    // Nothing acknowledged for long (a file fed mostly by other sources):
    // the oldest entry gives way to the next one's length, from its flush
    // on.  A crash may then keep lines of unacknowledged batches (sent
    // again: repeats), never cut acknowledged ones.
    q[1].first = q[0].first;
    q.pop_front();
  }
}

bool DeliveryJournal::commit(uint64_t flush_seq, std::string* error) {
  if (path_.empty()) return true;
  if (write_file_durably(path_, begin_commit(flush_seq), error)) return true;
  commit_failed();
  return false;
}

std::string DeliveryJournal::begin_commit(uint64_t flush_seq) {
  committed_flush_ = std::max(committed_flush_, flush_seq);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = noted_.begin(); it != noted_.end();) {
      auto& q = it->second;
      while (!q.empty() && q.front().first <= committed_flush_) {
        lengths_[it->first] = q.front().second;
        q.pop_front();
      }
      it = q.empty() ? noted_.erase(it) : std::next(it);
    }
  }
  std::string text = std::string(kMagic) + "\n";
  for (const auto& [key, value] : marks_) text += "mark " + std::to_string(value) + " " + key + "\n";
  for (const auto& [path, length] : lengths_) text += "length " + std::to_string(length) + " " + path + "\n";
  dirty_ = false;
  return text;
}

}  // namespace logferry
