#include "client/positions.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/delivery_journal.h"

namespace logferry {

uint64_t new_file_life() {
  uint64_t life = 0;
  while (life == 0) {
    if (getrandom(&life, sizeof(life), 0) != static_cast<ssize_t>(sizeof(life))) {
      // No entropy source: time and address still differ between lives.
      life = static_cast<uint64_t>(time(nullptr)) * 0x9e3779b97f4a7c15ull ^ reinterpret_cast<uintptr_t>(&life);
    }
  }
  return life;
}

uint64_t fnv1a64(const void* data, size_t len) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < len; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

namespace {
// Reads up to `len` bytes from offset 0; returns how many (or -1).
ssize_t read_head(int fd, char* buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, buf + got, len - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(got);
}

// The birth time of an open file in ns, or 0 where the file system does
// not record it.
uint64_t birth_time_ns(int fd) {
  struct statx stx;
  if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, STATX_BTIME, &stx) != 0 || !(stx.stx_mask & STATX_BTIME))
    return 0;
  return static_cast<uint64_t>(stx.stx_btime.tv_sec) * 1000000000ull + stx.stx_btime.tv_nsec;
}
}  // namespace

bool FileIdentity::of_fd(int fd, FileIdentity* out) {
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  char buf[kFingerprintBytes];
  ssize_t n = read_head(fd, buf, sizeof(buf));
  if (n < 0) return false;
  out->dev = static_cast<uint64_t>(st.st_dev);
  out->ino = static_cast<uint64_t>(st.st_ino);
  out->btime_ns = birth_time_ns(fd);
  out->fp_len = static_cast<uint32_t>(n);
  out->fp_hash = fnv1a64(buf, static_cast<size_t>(n));
  return true;
}

bool FileIdentity::content_matches_fd(int fd) const {
  if (fp_len == 0) return true;
  char buf[kFingerprintBytes];
  ssize_t n = read_head(fd, buf, fp_len);
  return n == static_cast<ssize_t>(fp_len) && fnv1a64(buf, fp_len) == fp_hash;
}

bool FileIdentity::matches_fd(int fd) const {
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  if (static_cast<uint64_t>(st.st_dev) != dev || static_cast<uint64_t>(st.st_ino) != ino) return false;
  uint64_t born = birth_time_ns(fd);
  if (btime_ns != 0 && born != 0 && born != btime_ns) return false;  // the inode was reused
  return content_matches_fd(fd);
}

std::shared_ptr<PositionStore> PositionStore::open(const std::string& dir, std::string* error) {
  // One store per directory for the whole process (the input loop thread).
  static std::map<std::string, std::weak_ptr<PositionStore>> open_stores;
  if (auto s = open_stores[dir].lock()) return s;
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      *error = "cannot create persist-dir '" + dir + "': " + strerror(errno) +
               " (set options { persist-dir(\"...\"); } or run with --persist-dir DIR)";
      return nullptr;
    }
  } else if (!S_ISDIR(st.st_mode)) {
    *error = "persist-dir '" + dir + "' is not a directory";
    return nullptr;
  }
  auto store = std::make_shared<PositionStore>();
  store->dir_ = dir;
  std::vector<std::pair<std::string, PositionEntry>> loaded;
  std::string err;
  if (!read_file(file_in(dir), &loaded, &err)) {
    if (!err.empty()) {
      // A damaged state file must not stop the client; it starts over (the
      // files are read again from where nothing is known: their start).
      fprintf(stderr, "logferry: %s; starting without saved positions\n", err.c_str());
    }
  }
  for (auto& [name, e] : loaded) store->entries_[Key{name, e.id.dev, e.id.ino}] = e;
  open_stores[dir] = store;
  return store;
}

bool PositionStore::read_file(const std::string& path, std::vector<std::pair<std::string, PositionEntry>>* out,
                              std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;  // no state yet: not an error
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    auto j = nlohmann::json::parse(ss.str());
    if (j.value("version", 0) != 1) {
      *error = "state file " + path + " has an unknown version";
      return false;
    }
    for (const auto& f : j.at("files")) {
      PositionEntry e;
      e.path = f.at("path").get<std::string>();
      e.id.dev = f.at("dev").get<uint64_t>();
      e.id.ino = f.at("ino").get<uint64_t>();
      e.id.btime_ns = f.value("btime_ns", uint64_t{0});  // absent in older state files
      e.id.fp_len = f.at("fp_len").get<uint32_t>();
      e.id.fp_hash = std::stoull(f.at("fp").get<std::string>(), nullptr, 16);
      e.position = f.at("pos").get<uint64_t>();
      e.life = std::stoull(f.value("life", std::string("0")), nullptr, 16);  // absent in older state files
      if (e.id.fp_len > FileIdentity::kFingerprintBytes) continue;
      out->emplace_back(f.at("source").get<std::string>(), e);
    }
  } catch (const std::exception& ex) {
    *error = "state file " + path + " is damaged (" + ex.what() + ")";
    return false;
  }
  return true;
}

PositionEntry* PositionStore::find(const Key& k) {
  auto it = entries_.find(k);
  return it == entries_.end() ? nullptr : &it->second;
}

void PositionStore::put(const Key& k, const PositionEntry& e) {
  entries_[k] = e;
  dirty_ = true;
}

void PositionStore::erase(const Key& k) {
  if (entries_.erase(k)) dirty_ = true;
}

std::vector<std::pair<PositionStore::Key, PositionEntry>> PositionStore::entries_of(const std::string& name) const {
  std::vector<std::pair<Key, PositionEntry>> out;
  for (const auto& [k, e] : entries_)
    if (std::get<0>(k) == name) out.emplace_back(k, e);
  return out;
}

bool PositionStore::save(std::string* error) {
  if (!dirty_) return true;
  // Written entry by entry through one reused object: building the whole
  // document as a json tree first cost about 1 KiB of heap per file at every
  // save, memory an idle client kept (malloc keeps what it got).
  std::string text = "{\n \"version\": 1,\n \"files\": [";
  nlohmann::json entry = nlohmann::json::object();
  bool first = true;
  for (const auto& [k, e] : entries_) {
    char fp[17];
    snprintf(fp, sizeof(fp), "%016llx", static_cast<unsigned long long>(e.id.fp_hash));
    entry["source"] = std::get<0>(k);
    entry["path"] = e.path;
    entry["dev"] = e.id.dev;
    entry["ino"] = e.id.ino;
    entry["btime_ns"] = e.id.btime_ns;
    entry["fp_len"] = e.id.fp_len;
    entry["fp"] = fp;
    entry["pos"] = e.position;
    char life[17];
    snprintf(life, sizeof(life), "%016llx", static_cast<unsigned long long>(e.life));
    entry["life"] = life;
    text += first ? "\n  " : ",\n  ";
    text += entry.dump();
    first = false;
  }
  text += "\n ]\n}\n";
  std::string final_path = file_in(dir_);
  if (!write_file_durably(final_path, text, error)) return false;
  dirty_ = false;
  return true;
}

}  // namespace logferry
