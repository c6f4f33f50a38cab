#include "relay/sent_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "core/delivery_journal.h"
#include "core/text.h"

namespace logferry {

namespace {

constexpr const char* kHeader = "logferry-sent 1\n";
constexpr size_t kMaxLine = 1 << 20;          // bytes; a longer line is damaged
constexpr size_t kMaxReachesPerLine = 1024;   // a folded record is cut into lines of this many
constexpr size_t kMaxRecentOnLoad = 1 << 16;  // batches per stream kept from the file
constexpr uint64_t kMinRewriteBytes = 1 << 20;
constexpr uint64_t kMaxFileBytes = 256ull << 20;  // larger: not ours to read whole; start over

bool unhex(std::string_view h, std::string* out) {
  if (h.size() % 2 != 0 || h.size() > 1024) return false;
  out->clear();
  for (size_t i = 0; i < h.size(); i += 2) {
    int v = 0;
    if (std::from_chars(h.data() + i, h.data() + i + 2, v, 16).ptr != h.data() + i + 2) return false;
    out->push_back(static_cast<char>(v));
  }
  return true;
}

bool number(std::string_view s, uint64_t* out, int base = 10) {
  return !s.empty() && std::from_chars(s.data(), s.data() + s.size(), *out, base).ptr == s.data() + s.size();
}

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    size_t j = line.find(' ', i);
    if (j == std::string_view::npos) j = line.size();
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

}  // namespace

SentLog::~SentLog() {
  if (fd_ >= 0) ::close(fd_);
}

bool SentLog::open(const std::string& path, std::string* error) {
  path_ = path;
  int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in >= 0) {
    struct stat st;
    if (fstat(in, &st) == 0 && static_cast<uint64_t>(st.st_size) <= kMaxFileBytes) {
      std::string text(static_cast<size_t>(st.st_size), '\0');
      ssize_t n = pread(in, text.data(), text.size(), 0);
      text.resize(n > 0 ? static_cast<size_t>(n) : 0);
      size_t at = 0;
      bool first = true;
      while (at < text.size()) {
        size_t nl = text.find('\n', at);
        if (nl == std::string::npos) break;  // a torn last line: never complete, never counted
        std::string line = text.substr(at, nl - at);
        at = nl + 1;
        if (first) {
          first = false;
          if (line + "\n" == kHeader) continue;
        }
        if (line.size() > kMaxLine || !parse_line(line)) ++skipped_lines_;
      }
    } else {
      ++skipped_lines_;  // unreadable or far too large: start over (lines may be sent again, never lost)
    }
    ::close(in);
  }
  // Rewritten at once: the folded form, and a torn tail gone.
  if (!rewrite(error)) return false;
  return true;
}

bool SentLog::parse_line(const std::string& text) {
  auto w = words(text);
  std::string stream;
  uint64_t seq = 0;
  if (w.size() < 3 || !unhex(w[1], &stream) || !number(w[2], &seq)) return false;
  if (w[0] == "v" && w.size() == 3) {
    auto it = streams_.find(stream);
    if (it != streams_.end()) {
      auto& recent = it->second.recent;
      recent.erase(std::remove_if(recent.begin(), recent.end(), [&](const Batch& b) { return b.seq > seq; }),
                   recent.end());
    }
    return true;
  }
  if (w[0] != "b" || w.size() - 3 > kMaxReachesPerLine) return false;
  Batch b;
  b.seq = seq;
  for (size_t i = 3; i < w.size(); ++i) {
    size_t colon = w[i].find(':');
    Reach r;
    if (colon == std::string_view::npos || !number(w[i].substr(0, colon), &r.life, 16) ||
        !number(w[i].substr(colon + 1), &r.end) || r.life == 0)
      return false;
    b.reaches.push_back(r);
  }
  auto& recent = streams_[stream].recent;
  if (recent.size() >= kMaxRecentOnLoad) recent.erase(recent.begin());
  recent.push_back(std::move(b));
  return true;
}

void SentLog::append_batch(std::string* out, const std::string& stream, uint64_t seq,
                           const std::vector<Reach>& reaches) {
  char num[48];
  *out += "b ";
  *out += hex_bytes(stream);
  snprintf(num, sizeof(num), " %llu", static_cast<unsigned long long>(seq));
  *out += num;
  for (const Reach& r : reaches) {
    snprintf(num, sizeof(num), " %llx:%llu", static_cast<unsigned long long>(r.life),
             static_cast<unsigned long long>(r.end));
    *out += num;
  }
  *out += '\n';
}

void SentLog::record(const std::string& stream, uint64_t seq, const std::vector<Reach>& reaches) {
  if (reaches.empty()) return;
  streams_[stream].recent.push_back(Batch{seq, reaches});
  append_batch(&pending_, stream, seq, reaches);
}

void SentLog::fold(StreamLog& s, uint64_t through) {
  auto keep = std::stable_partition(s.recent.begin(), s.recent.end(), [&](const Batch& b) { return b.seq > through; });
  for (auto it = keep; it != s.recent.end(); ++it) {
    for (const Reach& r : it->reaches) {
      auto& slot = s.folded[r.life];
      if (r.end >= slot.first) slot = {r.end, it->seq};
    }
  }
  s.recent.erase(keep, s.recent.end());
  s.folded_through = std::max(s.folded_through, through);
  if (s.folded.size() > kMaxLives) forget_oldest_lives(s);
}

void SentLog::forget_oldest_lives(StreamLog& s) {
  std::vector<std::pair<uint64_t, uint64_t>> by_seq;  // (seq, life)
  for (const auto& [life, v] : s.folded) by_seq.emplace_back(v.second, life);
  std::sort(by_seq.begin(), by_seq.end());
  for (size_t i = 0; i + kMaxLives < by_seq.size(); ++i) s.folded.erase(by_seq[i].second);
}

SentLog::Stored SentLog::resume(const std::string& stream, uint64_t hwm) {
  Stored out;
  auto it = streams_.find(stream);
  if (it == streams_.end()) return out;
  StreamLog& s = it->second;
  fold(s, hwm);
  if (!s.recent.empty()) {
    s.recent.clear();
    char line[64];
    snprintf(line, sizeof(line), " %llu\n", static_cast<unsigned long long>(hwm));
    pending_ += "v " + hex_bytes(stream) + line;
  }
  for (const auto& [life, v] : s.folded) out[life] = v.first;
  return out;
}

void SentLog::void_above(const std::string& stream, uint64_t seq) {
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  auto& recent = it->second.recent;
  recent.erase(std::remove_if(recent.begin(), recent.end(), [&](const Batch& b) { return b.seq > seq; }),
               recent.end());
  char line[64];
  snprintf(line, sizeof(line), " %llu\n", static_cast<unsigned long long>(seq));
  pending_ += "v " + hex_bytes(stream) + line;
}

void SentLog::acknowledged(const std::string& stream, uint64_t seq) {
  auto it = streams_.find(stream);
  if (it == streams_.end() || seq <= it->second.folded_through) return;
  fold(it->second, seq);
}

bool SentLog::write_pending(std::string* error) {
  if (pending_.empty()) return true;
  if (fd_ < 0) {
    *error = "the sent log " + path_ + " is not open";
    return false;
  }
  if (!write_all(fd_, pending_)) {
    *error = "cannot write " + path_ + ": " + strerror(errno);
    pending_.clear();
    return false;
  }
  file_bytes_ += pending_.size();
  pending_.clear();
  if (file_bytes_ > std::max(kMinRewriteBytes, 4 * compact_bytes_)) return rewrite(error);
  return true;
}

bool SentLog::rewrite(std::string* error) {
  std::string text = kHeader;
  for (const auto& [stream, s] : streams_) {
    std::vector<Reach> folded;
    for (const auto& [life, v] : s.folded) {
      folded.push_back(Reach{life, v.first});
      if (folded.size() == kMaxReachesPerLine) {
        append_batch(&text, stream, s.folded_through, folded);
        folded.clear();
      }
    }
    if (!folded.empty()) append_batch(&text, stream, s.folded_through, folded);
    for (const Batch& b : s.recent) append_batch(&text, stream, b.seq, b.reaches);
  }
  text += pending_;
  pending_.clear();
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!write_file_durably(path_, text, error)) return false;
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) {
    *error = "cannot open " + path_ + ": " + strerror(errno);
    return false;
  }
  file_bytes_ = compact_bytes_ = text.size();
  return true;
}

}  // namespace logferry
