// Where the file sources stopped: file identities and the positions up to
// which every destination has taken their lines, saved in a state file
// under the persist directory so a restart resumes exactly there.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace logferry {

// How a file is recognised: device and inode plus a hash of its first
// bytes.  Inodes are reused after a delete, so they alone never decide;
// a file shorter than kFingerprintBytes is fingerprinted over what it has
// and the fingerprint grows with it.  Where the file system records a
// file's birth time (statx STATX_BTIME: ext4, xfs, btrfs, tmpfs), it tells
// a reused inode apart even when the new file starts with the same bytes
// (a fixed header longer than the fingerprint).
struct FileIdentity {
  static constexpr uint32_t kFingerprintBytes = 256;
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t btime_ns = 0; // birth time, ns since the epoch (0: not known)
  uint32_t fp_len = 0;   // bytes hashed (0: the file was empty)
  uint64_t fp_hash = 0;  // FNV-1a 64 of those bytes

  // Reads the identity of an open file.  Returns false on a read error.
  static bool of_fd(int fd, FileIdentity* out);
  // Whether `other` can be the same inode's life as this: the same device
  // and inode, and the same birth time where both know it.
  bool same_inode(const FileIdentity& other) const {
    return dev == other.dev && ino == other.ino && (btime_ns == 0 || other.btime_ns == 0 || btime_ns == other.btime_ns);
  }
  // Whether the open file `fd` is this file: same device, inode and birth
  // time, at least fp_len bytes long, and the same first fp_len bytes.
  bool matches_fd(int fd) const;
  // The same, for a file that may have another inode (a copy made by
  // copytruncate): only the first fp_len bytes count.
  bool content_matches_fd(int fd) const;
};

uint64_t fnv1a64(const void* data, size_t len);

// One saved position.
struct PositionEntry {
  std::string path;      // where the file was last seen (informational, for renames)
  FileIdentity id;
  uint64_t position = 0; // every line before this byte offset was taken
  // The life of the file's content: a random id given when the file (or
  // its content after a truncation) was first seen.  Lines carry it
  // (LogMessage::file_life) so that a ferry() destination can tell, after
  // a crash, which of them its receiver already stored.  0: none yet.
  uint64_t life = 0;
};

// A new random life id (never 0).
uint64_t new_file_life();

// The state file: positions of every file source of the process, keyed by
// the source's persist name and the file's device and inode.  Lives on the
// input loop thread; writes are crash-safe (temporary file, fsync, rename,
// fsync of the directory).
class PositionStore {
 public:
  // The store for a persist directory, shared by the sources that use it.
  static std::shared_ptr<PositionStore> open(const std::string& dir, std::string* error);
  // Reads a state file without taking it (for `logferry state show`).
  static bool read_file(const std::string& path, std::vector<std::pair<std::string, PositionEntry>>* out,
                        std::string* error);
  static std::string file_in(const std::string& dir) { return dir + "/logferry.state"; }

  using Key = std::tuple<std::string, uint64_t, uint64_t>;  // persist name, dev, ino

  PositionEntry* find(const Key& k);
  void put(const Key& k, const PositionEntry& e);
  void erase(const Key& k);
  // Entries of one source, e.g. to find the files it followed before.
  std::vector<std::pair<Key, PositionEntry>> entries_of(const std::string& persist_name) const;
  void mark_dirty() { dirty_ = true; }

  // Writes the state file if anything changed.  Returns false (and says
  // why) when it cannot be written; the old file then stays intact.
  bool save(std::string* error);

 private:
  std::string dir_;
  std::map<Key, PositionEntry> entries_;
  bool dirty_ = false;
};

}  // namespace logferry
