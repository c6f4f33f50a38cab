// file() and wildcard-file(): follow files matching a pattern.
//
// Discovery: the pattern's directories are watched with inotify (libuv fs
// events; a directory watch reports its files' writes, creations and
// renames) and rescanned on events; where a watch cannot be had, or with
// monitor-method(poll), they are polled every follow-freq() seconds.
// Rescans and the checks events ask for run even while reading is paused
// (they emit nothing), so that a rotation is seen while the old name still
// names the file, however far behind the reading is.
//
// Rotation: a followed path that now names another file (or none) keeps its
// reader, which reads the old file to its end and lets it go only once it
// is read to its end and stayed unchanged for rotate-wait; the new file is
// read from its start.  A file that shrank below the position, or whose
// first bytes changed, was truncated (copytruncate): the lines not yet read
// are looked for in a sibling with the same first bytes (the copy), then
// the file is read again from 0.  A saved position is used only for the
// same inode with the same birth time and first bytes (a reused inode is a
// new file).
//
// Symlinks: a followed path that is a symlink is followed to its target,
// whose directory is watched too (writes to the target are reported there).
//
// Positions: each line marks its end as a position (SourceHost::
// mark_position); once every destination took it, acknowledged() moves the
// file's saved position there, and the state file is written at most once
// a second and at shutdown.
//
// Flow control: a full queue pauses the source (files stay in the ready
// list and are read again on resume).  Beyond that, at most
// kMaxUnacknowledged bytes of lines may be on their way (marked, not yet
// acknowledged) over all the source's files: a destination that takes its
// messages late (a slow network peer) stops the reading instead of
// collecting the files in its buffer.
#include "client/file_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>

#include "client/file_reader.h"
#include "client/multi_line.h"
#include "client/positions.h"
#include "core/receive.h"

namespace logferry {

namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kReadBudget = 1 << 20;      // bytes per file per turn: big files don't starve small ones
constexpr uint64_t kSaveIntervalMs = 1000;    // the state file is written at most this often
constexpr int kFullCheckEvery = 10;           // with inotify, every file is also checked every 10 ticks
constexpr size_t kRotatedCandidates = 64;     // siblings examined when looking for a rotated copy
constexpr uint64_t kMaxUnacknowledged = 8 << 20;   // bytes of lines on their way, per source

std::string dir_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Whether `copy` can be named after `original` by a rotation: the same
// directory, and its name starts with the original's up to the first dot
// ("app.log.1", "app.log-20261128", "app-20261128.log" for "app.log"), the
// names find_rotated_copy() looks at.
bool copy_name_of(const std::string& copy, const std::string& original) {
  std::string base = base_of(original);
  return dir_of(copy) == dir_of(original) && base_of(copy).starts_with(base.substr(0, base.find('.')));
}

bool has_glob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

struct FileSourceConfig {
  std::string driver = "file";   // "file" or "wildcard-file"
  std::string base_dir;
  std::string pattern;           // fnmatch(3) on file names
  std::string exclude;           // fnmatch(3); empty: none
  bool recursive = false;
  bool literal = false;          // file("/path") without a glob: that one file
  int64_t max_files = 100;
  int64_t follow_freq_ms = 1000;
  enum class Monitor { kAuto, kInotify, kPoll } monitor = Monitor::kAuto;
  int64_t rotate_wait_ms = 5000;
  int64_t partial_line_timeout_ms = 10000;
  std::string persist_name;      // key of this source's positions
  ReceiveOptions receive;
  MultiLineOptions multi_line;
};

// The running source: every followed file of one file()/wildcard-file().
class FileSource : public Source {
 public:
  explicit FileSource(const FileSourceConfig& c) : cfg_(c), buf_(kReadChunk) {}
  ~FileSource() override = default;

  bool start(uv_loop_t* loop, SourceHost* host, std::string* error) override;
  void stop() override;
  void pause() override {
    paused_ = true;
    uv_idle_stop(&idle_);
  }
  void resume() override {
    paused_ = false;
    wake();
  }
  bool always_flow_controlled() const override { return true; }
  void acknowledged(uint32_t stream, uint64_t position) override;
  void drained() override;

 private:
  struct Followed {
    std::unique_ptr<FileReader> reader;
    std::unique_ptr<MultiLineAssembler> multi;
    uint64_t acked = 0;            // every destination took the lines before this
    uint64_t marked = 0;           // the last position handed to mark_position()
    bool retiring = false;         // the path names another file now, or none
    bool closed = false;           // let go; kept until its last lines are acknowledged
    bool queued = false;           // in ready_
    bool check_due = false;        // an event asked for a rotation/truncation check
    uint64_t last_change_ms = 0;   // last time it grew or changed
    uint64_t partial_since_ms = 0; // since when an incomplete line waits
    uint64_t size_seen = 0;
    uint64_t life = 0;             // PositionEntry::life of the content it reads
    bool life_saved = false;       // the state file holds `life` (else saved before its lines go out)
  };
  struct Watch {
    uv_fs_event_t handle;
    FileSource* owner;
    std::string dir;
  };

  static void on_idle(uv_idle_t* h) { static_cast<FileSource*>(h->data)->run_ready(); }
  static void on_discover(uv_idle_t* h) { static_cast<FileSource*>(h->data)->discover(); }
  static void on_tick(uv_timer_t* t) { static_cast<FileSource*>(t->data)->tick(); }

  uint64_t now_ms() const { return uv_now(loop_); }
  PositionStore::Key key_of(const FileIdentity& id) const { return {cfg_.persist_name, id.dev, id.ino}; }
  bool matches(const std::string& name) const {
    if (fnmatch(cfg_.pattern.c_str(), name.c_str(), FNM_PERIOD) != 0) return false;
    return cfg_.exclude.empty() || fnmatch(cfg_.exclude.c_str(), name.c_str(), FNM_PERIOD) != 0;
  }

  void scan();
  void scan_dir(const std::string& dir, int depth, std::vector<std::string>* seen_dirs);
  void watch_dir(const std::string& dir);
  void on_fs_event(Watch* w, const char* filename, int events, int status);
  Followed* follow(const std::string& path);
  Followed* take_as_copy(const std::string& path, int fd, const FileIdentity& id, uint64_t size, uint32_t* held_by);
  void release_held();
  Followed* add_reader(const std::string& path, int fd, const FileIdentity& id, uint64_t start, uint64_t acked,
                       uint64_t life);
  bool find_rotated_copy(const std::string& path, const FileIdentity& id, uint64_t position, uint64_t acked,
                         bool by_inode, uint64_t life);
  void adopt_unclaimed_entries();
  void check(Followed* f);
  void truncated(Followed* f);
  void retire(Followed* f);
  void let_go(Followed* f);
  void schedule(Followed* f);
  void wake();
  void request_discovery();
  void discover();
  void run_ready();
  bool at_eof(Followed* f) const;
  void mark(Followed* f, uint64_t position);
  void set_acked(Followed* f, uint64_t position);
  void forget(uint32_t rid);
  void drop_entry(Followed* f);
  void watch_link_target(const std::string& path, uint32_t rid);
  void raise_fd_limit();
  bool read_file(Followed* f);
  void emit(Followed* f, std::string_view line, bool truncated, uint64_t settled);
  void emit_message(Followed* f, std::string_view text, bool truncated, uint64_t end);
  void tick();
  void save_positions(bool force);

  FileSourceConfig cfg_;
  uv_loop_t* loop_ = nullptr;
  SourceHost* host_ = nullptr;
  std::shared_ptr<PositionStore> store_;
  uv_idle_t idle_{};           // reading: runs while files are ready, unless paused or throttled
  uv_idle_t discover_idle_{};  // rescans and checks events asked for: runs even while paused
  uv_timer_t timer_{};
  bool started_ = false;
  bool stopped_ = false;
  bool paused_ = false;
  bool throttled_ = false;  // kMaxUnacknowledged bytes on their way: wait for acknowledgements
  uint64_t unacked_ = 0;    // bytes marked and not acknowledged, over every file
  bool rescan_pending_ = false;
  bool warned_max_files_ = false;
  bool all_watched_ = true;  // every directory has an inotify watch
  int ticks_ = 0;
  uint64_t last_save_ms_ = 0;
  uint32_t next_id_ = 1;
  size_t active_ = 0;  // readers that follow a path (not retiring)
  std::map<uint32_t, Followed> files_;               // by reader id
  std::unordered_map<std::string, uint32_t> by_path_; // followed path -> reader id
  std::unordered_map<std::string, uint32_t> by_target_; // target of a followed symlink -> reader id
  std::set<std::string> link_dirs_;                     // directories watched for symlink targets
  std::map<std::string, std::unique_ptr<Watch>> watches_;
  std::deque<uint32_t> ready_;
  std::vector<uint32_t> check_list_;  // files whose check_due is set
  // Copies (copytruncate) whose names match too.  A new file whose whole
  // content is the beginning of an older followed file is held, not read:
  // a copy is read only through find_rotated_copy() (the part the original
  // had not read when it was truncated); a file that turns out to differ
  // is followed from 0.  Held files whose original was let go are copies
  // for good: copies_ keeps their size, and what they gain beyond it is read.
  struct Held {
    uint64_t dev, ino;
    uint32_t original;  // reader id
  };
  std::map<std::string, Held> held_;
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> copies_;  // (dev, ino) -> size read through the original
  std::vector<char> buf_;
};

bool FileSource::start(uv_loop_t* loop, SourceHost* host, std::string* error) {
  loop_ = loop;
  host_ = host;
  store_ = PositionStore::open(host->persist_dir(), error);
  if (!store_) return false;
  uv_idle_init(loop, &idle_);
  idle_.data = this;
  uv_idle_init(loop, &discover_idle_);
  discover_idle_.data = this;
  uv_timer_init(loop, &timer_);
  timer_.data = this;
  started_ = true;
  raise_fd_limit();
  scan();
  adopt_unclaimed_entries();
  uint64_t every = static_cast<uint64_t>(cfg_.follow_freq_ms);
  uv_timer_start(&timer_, on_tick, every, every);
  if (!ready_.empty()) uv_idle_start(&idle_, on_idle);
  return true;
}

void FileSource::stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  // Incomplete lines and pending multi-line messages are not sent: their
  // position is not saved, so the next start reads them whole.
  host_->commit();
  uv_idle_stop(&idle_);
  uv_idle_stop(&discover_idle_);
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&discover_idle_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
  for (auto& [dir, w] : watches_) {
    uv_fs_event_stop(&w->handle);
    Watch* raw = w.release();
    uv_close(reinterpret_cast<uv_handle_t*>(&raw->handle), [](uv_handle_t* h) {
      delete static_cast<Watch*>(h->data);
    });
  }
  watches_.clear();
}

void FileSource::drained() {
  save_positions(true);
  files_.clear();
}

// Every followed file holds a descriptor: make room for max-files() of them
// (the soft limit is often 1024) as far as the hard limit allows.
void FileSource::raise_fd_limit() {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t want = static_cast<rlim_t>(cfg_.max_files) * 2 + 256;  // rotated files are held a while too
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want) return;
  rlim_t old = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? want : std::min(want, rl.rlim_max);
  if (rl.rlim_cur > old) setrlimit(RLIMIT_NOFILE, &rl);
}

// ---- discovery ----

void FileSource::scan() {
  rescan_pending_ = false;
  std::vector<std::string> dirs;
  if (cfg_.literal) {
    std::string path = cfg_.base_dir + "/" + cfg_.pattern;
    watch_dir(cfg_.base_dir);
    if (!by_path_.count(path)) {
      struct stat st;
      if (stat(path.c_str(), &st) == 0 && (S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)))
        follow(path);
    }
    return;
  }
  scan_dir(cfg_.base_dir, 0, &dirs);
  // Watches of directories that are gone.
  for (auto it = watches_.begin(); it != watches_.end();) {
    if (std::find(dirs.begin(), dirs.end(), it->first) != dirs.end() || link_dirs_.count(it->first)) {
      ++it;
      continue;
    }
    uv_fs_event_stop(&it->second->handle);
    Watch* raw = it->second.release();
    uv_close(reinterpret_cast<uv_handle_t*>(&raw->handle), [](uv_handle_t* h) { delete static_cast<Watch*>(h->data); });
    it = watches_.erase(it);
  }
}

void FileSource::scan_dir(const std::string& dir, int depth, std::vector<std::string>* seen_dirs) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  seen_dirs->push_back(dir);
  watch_dir(dir);
  std::vector<std::string> subdirs, known_files, new_files;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string path = dir + "/" + name;
    struct stat st;
    if (stat(path.c_str(), &st) != 0) continue;  // follows symlinks: a link to a log file is followed
    if (S_ISDIR(st.st_mode)) {
      if (cfg_.recursive && depth < 32) subdirs.push_back(path);
      continue;
    }
    if (!S_ISREG(st.st_mode) || !matches(name) || by_path_.count(path)) continue;
    if (auto c = copies_.find({static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)});
        c != copies_.end() && static_cast<uint64_t>(st.st_size) <= c->second)
      continue;
    bool known = store_->find({cfg_.persist_name, static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)});
    (known ? known_files : new_files).push_back(path);
  }
  closedir(d);
  // Files followed before first, then new ones in name order: so that an
  // original is followed before a copy of it (copytruncate) is looked at.
  std::sort(new_files.begin(), new_files.end());
  for (const auto& path : known_files) follow(path);
  for (const auto& path : new_files) follow(path);
  std::sort(subdirs.begin(), subdirs.end());
  for (const auto& s : subdirs) scan_dir(s, depth + 1, seen_dirs);
}

void FileSource::watch_dir(const std::string& dir) {
  if (cfg_.monitor == FileSourceConfig::Monitor::kPoll || watches_.count(dir)) return;
  auto w = std::make_unique<Watch>();
  w->owner = this;
  w->dir = dir;
  uv_fs_event_init(loop_, &w->handle);
  w->handle.data = w.get();
  int rc = uv_fs_event_start(&w->handle, [](uv_fs_event_t* h, const char* filename, int events, int status) {
    auto* watch = static_cast<Watch*>(h->data);
    watch->owner->on_fs_event(watch, filename, events, status);
  }, dir.c_str(), 0);
  if (rc != 0) {
    // Out of inotify watches (or a file system without them): poll it.
    if (all_watched_)
      host_->internal_log(4, "cannot watch " + dir + " (" + uv_strerror(rc) + "); polling it every follow-freq() instead");
    all_watched_ = false;
    Watch* raw = w.release();
    uv_close(reinterpret_cast<uv_handle_t*>(&raw->handle), [](uv_handle_t* h) { delete static_cast<Watch*>(h->data); });
    return;
  }
  watches_[dir] = std::move(w);
}

void FileSource::on_fs_event(Watch* w, const char* filename, int events, int status) {
  if (stopped_) return;
  if (status < 0) {
    all_watched_ = false;
    return;
  }
  if (filename) {
    std::string path = w->dir + "/" + filename;
    uint32_t rid = 0;
    if (auto it = by_path_.find(path); it != by_path_.end()) {
      rid = it->second;
    } else if (auto lt = by_target_.find(path); lt != by_target_.end()) {
      rid = lt->second;  // the target of a followed symlink
      if (!files_.count(rid)) by_target_.erase(lt);
    }
    // A held file (or, through a symlink, its target) changed: look again.
    if (!held_.empty()) rescan_pending_ = true;
    if (auto f = files_.find(rid); rid != 0 && f != files_.end() && !f->second.closed) {
      // Checked (renamed? truncated?) soon, even while reading is paused:
      // a rotation must be seen while the old name still names the file.
      if (!f->second.check_due) check_list_.push_back(rid);
      f->second.check_due = true;
      request_discovery();
      schedule(&f->second);
    }
  }
  if ((events & UV_RENAME) || !filename) rescan_pending_ = true;
  if (rescan_pending_) request_discovery();
}

// Starts following a path: from the saved position when the state knows
// this file, else from its start (files found at startup included: lines
// written before logferry ran are sent too).
FileSource::Followed* FileSource::follow(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    Counters::add(counters.errors);
    host_->internal_log(3, "cannot open " + path + ": " + strerror(errno));
    return nullptr;
  }
  FileIdentity id;
  if (!FileIdentity::of_fd(fd, &id)) {
    ::close(fd);
    return nullptr;
  }
  // The same file under another name (renamed to a name that matches too):
  // keep its reader.
  for (auto& [rid, f] : files_) {
    if (f.closed || f.reader->identity().dev != id.dev || f.reader->identity().ino != id.ino) continue;
    ::close(fd);
    if (f.retiring) {
      f.retiring = false;
      ++active_;
    } else {
      // Another name of a file followed under a name it still has (a hard
      // link, a symlink beside its target): keep following it as it is.
      struct stat cur;
      if (stat(f.reader->path().c_str(), &cur) == 0 && static_cast<uint64_t>(cur.st_ino) == id.ino &&
          static_cast<uint64_t>(cur.st_dev) == id.dev)
        return &f;
      by_path_.erase(f.reader->path());
    }
    f.reader->set_path(path);
    by_path_[path] = rid;
    // Renamed to a name that matches too: the old name may already name a
    // new file, which this scan may have passed over while the old name
    // still belonged to this reader.
    rescan_pending_ = true;
    request_discovery();
    return &f;
  }
  if (static_cast<int64_t>(active_) >= cfg_.max_files) {
    ::close(fd);
    Counters::add(counters.errors);
    if (!warned_max_files_) {
      host_->internal_log(4, "max-files(" + std::to_string(cfg_.max_files) + ") reached in " + cfg_.base_dir +
                                 "; further files are not followed (raise max-files())");
      warned_max_files_ = true;
    }
    return nullptr;
  }
  uint64_t start = 0;
  struct stat st;
  fstat(fd, &st);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  PositionEntry* own = store_->find(key_of(id));
  if (!own) {
    if (auto c = copies_.find({id.dev, id.ino}); c != copies_.end()) {
      // A copy that grew: what it gained is new.
      start = std::min(c->second, size);
      copies_.erase(c);
      held_.erase(path);
      return add_reader(path, fd, id, start, start, 0);
    }
    uint32_t held_by = 0;
    if (Followed* copy = take_as_copy(path, fd, id, size, &held_by)) {
      ::close(fd);
      return copy;
    }
    if (held_by != 0) {
      if (!held_.count(path) && size > 0)
        host_->internal_log(6, path + " holds what the beginning of " + files_[held_by].reader->path() +
                                   " holds (a copy?): not read unless it turns out to differ");
      held_[path] = Held{id.dev, id.ino, held_by};
      ::close(fd);
      return nullptr;
    }
  }
  held_.erase(path);
  uint64_t life = 0;
  if (PositionEntry* e = own) {
    if (e->id.same_inode(id) && e->id.content_matches_fd(fd) && size >= e->position) {
      start = e->position;  // where the last run stopped
      life = e->life;
    } else {
      // Truncated or replaced while logferry was down: unread lines may
      // be in a copy beside it.
      find_rotated_copy(path, e->id, e->position, e->position, false, e->life);
    }
  }
  return add_reader(path, fd, id, start, start, life);
}

// Whether the new file `path` (open as `fd`, `size` bytes, no saved
// position) is a copy of an older followed file named like its rotation
// (copytruncate, with copies that match the pattern).  A copy of a file
// that has been truncated since is taken through that file's check (it
// gives what was not read: find_rotated_copy()), and that reader is
// returned.  A file whose bytes so far are that file's beginning (the
// same first 4 KiB and last 4 KiB) is held: *held_by is set to the
// original's reader id.  Otherwise nullptr and 0: a new file.  Files whose
// birth time is not known are never taken for copies (a line read twice
// rather than a file never read).
FileSource::Followed* FileSource::take_as_copy(const std::string& path, int fd, const FileIdentity& id,
                                               uint64_t size, uint32_t* held_by) {
  *held_by = 0;
  if (id.btime_ns == 0) return nullptr;
  char head[FileIdentity::kFingerprintBytes];
  ssize_t head_len = pread(fd, head, sizeof(head), 0);
  if (head_len < 0) return nullptr;
  std::vector<uint32_t> candidates;
  for (const auto& [rid, f] : files_) {
    const FileIdentity& o = f.reader->identity();
    if (f.closed || f.retiring || o.btime_ns == 0 || o.btime_ns >= id.btime_ns || (o.dev == id.dev && o.ino == id.ino))
      continue;
    if (copy_name_of(path, f.reader->path())) candidates.push_back(rid);
  }
  constexpr size_t kProbe = 4096;
  static char mine[kProbe], theirs[kProbe];
  for (uint32_t rid : candidates) {
    auto it = files_.find(rid);
    if (it == files_.end() || it->second.closed) continue;
    Followed& f = it->second;
    const FileIdentity o = f.reader->identity();
    int ofd = f.reader->fd();
    // Its bytes so far against the original's bytes now...
    struct stat ost;
    bool same_now = fstat(ofd, &ost) == 0 && static_cast<uint64_t>(ost.st_size) >= size;
    for (uint64_t at : {uint64_t{0}, size > kProbe ? size - kProbe : 0}) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kProbe, size - at));
      if (same_now && (pread(fd, mine, n, static_cast<off_t>(at)) != static_cast<ssize_t>(n) ||
                       pread(ofd, theirs, n, static_cast<off_t>(at)) != static_cast<ssize_t>(n) ||
                       memcmp(mine, theirs, n) != 0))
        same_now = false;
    }
    // ... and whether the original changed since it was fingerprinted,
    // asked after: a truncation at any moment before is seen here.
    bool changed = !o.content_matches_fd(ofd);
    bool starts_as_was = o.fp_len == FileIdentity::kFingerprintBytes && head_len == o.fp_len &&
                         fnv1a64(head, o.fp_len) == o.fp_hash;
    if (changed && starts_as_was) {
      check(&f);  // notices the truncation and takes this copy
      for (auto& [cid, c] : files_)
        if (!c.closed && c.reader->identity().dev == id.dev && c.reader->identity().ino == id.ino) return &c;
      *held_by = rid;  // it gives nothing the original did not (read past its end)
      return nullptr;
    }
    if (same_now && !changed) {
      *held_by = rid;
      return nullptr;
    }
  }
  return nullptr;
}

// Held files whose original was let go are copies for good; the ones that
// are gone are forgotten.
void FileSource::release_held() {
  for (auto it = held_.begin(); it != held_.end();) {
    struct stat st;
    auto orig = files_.find(it->second.original);
    if (stat(it->first.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_ino) != it->second.ino ||
        static_cast<uint64_t>(st.st_dev) != it->second.dev) {
      it = held_.erase(it);
    } else if (orig == files_.end() || orig->second.closed) {
      if (copies_.size() < 10000) copies_[{it->second.dev, it->second.ino}] = static_cast<uint64_t>(st.st_size);
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
}

// A followed path that is a symlink: writes to its target are reported in
// the target's directory, which is watched too.
void FileSource::watch_link_target(const std::string& path, uint32_t rid) {
  struct stat lst;
  if (lstat(path.c_str(), &lst) != 0 || !S_ISLNK(lst.st_mode)) return;
  char* real = realpath(path.c_str(), nullptr);
  if (!real) return;
  std::string target = real;
  free(real);
  by_target_[target] = rid;
  std::string dir = dir_of(target);
  link_dirs_.insert(dir);
  watch_dir(dir);
}

// `life`: the content's life when it continues one known before (a saved
// position, a rotated copy of it); 0 for new content, which gets a new one.
FileSource::Followed* FileSource::add_reader(const std::string& path, int fd, const FileIdentity& id, uint64_t start,
                                             uint64_t acked, uint64_t life) {
  uint32_t rid = next_id_++;
  Followed& f = files_[rid];
  f.life = life != 0 ? life : new_file_life();
  f.reader = std::make_unique<FileReader>(rid, path, fd, id, start, cfg_.receive.log_msg_size);
  if (cfg_.multi_line.mode != MultiLineOptions::Mode::kNone) {
    f.multi = std::make_unique<MultiLineAssembler>(cfg_.multi_line, cfg_.receive.log_msg_size);
    f.multi->reset(start);
  }
  f.acked = f.marked = acked;
  if (start > acked) mark(&f, start);  // lines before `start` are on their way (a copy read on)
  f.last_change_ms = now_ms();
  f.size_seen = start;
  by_path_[path] = rid;
  held_.erase(path);
  ++active_;
  watch_link_target(path, rid);
  store_->put(key_of(id), PositionEntry{path, id, acked, f.life});
  schedule(&f);
  return &f;
}

// Looks beside `path` for the file that holds lines not yet read: the same
// inode under a new name (`by_inode`, renamed while logferry was down) or a
// copy with the same first bytes (copytruncate).  Reads it from `position`
// as a retiring file; until its first acknowledgement its saved position
// is `acked` (lines before `position` may still be on their way).  Returns
// whether one was found.
bool FileSource::find_rotated_copy(const std::string& path, const FileIdentity& id, uint64_t position, uint64_t acked,
                                   bool by_inode, uint64_t life) {
  std::string dir = dir_of(path), base = base_of(path);
  std::string stem = base.substr(0, base.find('.'));
  DIR* d = opendir(dir.c_str());
  if (!d) return false;
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    // By inode, the entry's own name counts too: a copy or renamed file
    // that was still being read at shutdown is read on from its position.
    if ((by_inode || name != base) && name.starts_with(stem) && names.size() < kRotatedCandidates)
      names.push_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());  // app.log.1 before app.log.2: the newest rotation first
  for (const auto& name : names) {
    std::string cand = dir + "/" + name;
    // Followed under that name, unless the name is stale: a followed file
    // renamed on (app.log.1 -> app.log.2) keeps its old name until its
    // check notices, and the name may already be the new copy's.
    if (auto bp = by_path_.find(cand); bp != by_path_.end()) {
      auto fit = files_.find(bp->second);
      struct stat cst;
      if (fit == files_.end() || stat(cand.c_str(), &cst) != 0 ||
          (fit->second.reader->identity().ino == static_cast<uint64_t>(cst.st_ino) &&
           fit->second.reader->identity().dev == static_cast<uint64_t>(cst.st_dev)))
        continue;
    }
    int fd = ::open(cand.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) continue;
    struct stat st;
    bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) >= position;
    if (ok) ok = by_inode ? id.matches_fd(fd) : id.content_matches_fd(fd);
    if (ok && !by_inode && static_cast<uint64_t>(st.st_ino) == id.ino && static_cast<uint64_t>(st.st_dev) == id.dev)
      ok = false;  // that is the truncated file itself, not a copy
    if (!ok) {
      ::close(fd);
      continue;
    }
    FileIdentity cid;
    FileIdentity::of_fd(fd, &cid);
    for (const auto& [rid, f] : files_)
      if (f.reader->identity().dev == cid.dev && f.reader->identity().ino == cid.ino) ok = false;
    if (!ok) {
      ::close(fd);
      continue;
    }
    host_->internal_log(5, "reading the rest of " + path + " from its rotated copy " + cand + " at offset " +
                               std::to_string(position));
    // The copy holds the same lines at the same offsets: the same life.
    Followed* f = add_reader(cand, fd, cid, position, std::min(acked, position), life);
    by_path_.erase(cand);
    f->retiring = true;
    --active_;
    return true;
  }
  return false;
}

// Saved positions no followed path claimed at startup: the file was renamed
// (rotated) while logferry was down; its unread rest is read from the new
// name.  Otherwise the entry is stale and removed.
void FileSource::adopt_unclaimed_entries() {
  for (const auto& [key, e] : store_->entries_of(cfg_.persist_name)) {
    bool claimed = false;
    for (const auto& [rid, f] : files_)
      if (f.reader->identity().same_inode(e.id)) claimed = true;
    if (claimed) continue;
    store_->erase(key);
    find_rotated_copy(e.path, e.id, e.position, e.position, true, e.life);
  }
}

// ---- rotation, truncation, deletion ----

void FileSource::check(Followed* f) {
  if (f->closed) return;
  FileReader& r = *f->reader;
  struct stat fst;
  if (fstat(r.fd(), &fst) != 0) return;
  uint64_t size = static_cast<uint64_t>(fst.st_size);
  if (f->retiring) {
    // Renamed away or deleted: only its growth matters now.
    if (size != f->size_seen) {
      f->size_seen = size;
      f->last_change_ms = now_ms();
    }
    if (size > r.read_offset()) schedule(f);
    return;
  }
  if (size < r.line_start() || (r.identity().fp_len > 0 && size >= r.identity().fp_len && !r.identity().content_matches_fd(r.fd()))) {
    truncated(f);
    return;
  }
  if (size != f->size_seen) {
    f->size_seen = size;
    f->last_change_ms = now_ms();
  }
  if (size > r.read_offset()) schedule(f);
  struct stat pst;
  if (stat(r.path().c_str(), &pst) != 0 || pst.st_ino != fst.st_ino || pst.st_dev != fst.st_dev) {
    // Renamed away or deleted: read the old file to its end; the path, if it
    // names a new file, is followed from that file's start.
    std::string path = r.path();
    retire(f);
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) follow(path);
  }
}

void FileSource::truncated(Followed* f) {
  FileReader& r = *f->reader;
  host_->internal_log(5, "file " + r.path() + " was truncated at offset " + std::to_string(r.line_start()) +
                             "; reading it again from its start");
  FileIdentity old = r.identity();
  uint64_t old_pos = r.line_start();
  // Lines between the position and the end of the copy were never read.
  find_rotated_copy(r.path(), old, old_pos, f->acked, false, f->life);
  store_->erase(key_of(old));
  // A new stream: acknowledgements still on their way for the old content
  // must not move the new content's position.
  std::string path = r.path();
  int fd = ::dup(r.fd());
  by_path_.erase(path);
  --active_;
  forget(r.id());  // f and r are gone from here on
  if (fd < 0) return;
  FileIdentity id;
  FileIdentity::of_fd(fd, &id);
  add_reader(path, fd, id, 0, 0, 0);  // new content: a new life
}

void FileSource::retire(Followed* f) {
  if (f->retiring) return;
  f->retiring = true;
  // Its name may already belong to another reader (a copy taken under it).
  if (auto bp = by_path_.find(f->reader->path()); bp != by_path_.end() && bp->second == f->reader->id())
    by_path_.erase(bp);
  --active_;
  f->last_change_ms = now_ms();
  schedule(f);
}

// Lets a retiring file go: whatever is left is read, a last line without a
// newline is sent, and the file is closed.  Its saved position goes once
// its last lines are acknowledged.
void FileSource::let_go(Followed* f) {
  while (read_file(f)) {
    if (paused_ || unacked_ >= kMaxUnacknowledged) {
      schedule(f);  // not all read: the next turn goes on, the next tick lets go
      return;
    }
  }
  if (!at_eof(f)) {
    schedule(f);
    return;
  }
  auto sink = [&](std::string_view line, bool trunc, uint64_t settled) { emit(f, line, trunc, settled); };
  f->reader->flush_partial(sink);
  if (f->multi) {
    f->multi->flush([&](std::string_view m, uint64_t end, bool trunc) { emit_message(f, m, trunc, end); });
    mark(f, f->reader->read_offset());
  }
  host_->commit();
  f->closed = true;
  if (f->acked >= f->reader->read_offset()) {
    drop_entry(f);
    forget(f->reader->id());
  }
}

// Drops the saved position of a file that was let go, unless another
// reader follows the same inode (the entry is then that reader's).
void FileSource::drop_entry(Followed* f) {
  const FileIdentity& id = f->reader->identity();
  for (const auto& [rid, o] : files_)
    if (&o != f && !o.closed && o.reader->identity().dev == id.dev && o.reader->identity().ino == id.ino) return;
  store_->erase(key_of(id));
}

// ---- reading ----

void FileSource::schedule(Followed* f) {
  if (f->queued || f->closed) return;
  f->queued = true;
  ready_.push_back(f->reader->id());
  wake();
}

// Runs the next turn soon, unless reading must wait (paused, throttled).
void FileSource::wake() {
  if (!started_ || stopped_ || paused_ || throttled_) return;
  if (!ready_.empty()) uv_idle_start(&idle_, on_idle);
}

void FileSource::request_discovery() {
  if (!started_ || stopped_) return;
  uv_idle_start(&discover_idle_, on_discover);
}

// Rescans and the checks events asked for.  Neither emits lines, so they
// run while reading is paused too: new files are followed, renamed ones
// retired, truncated ones restarted, and their lines read on resume.
void FileSource::discover() {
  uv_idle_stop(&discover_idle_);
  if (rescan_pending_) scan();
  std::vector<uint32_t> due;
  due.swap(check_list_);
  for (uint32_t rid : due) {
    auto it = files_.find(rid);
    if (it == files_.end() || it->second.closed || !it->second.check_due) continue;
    it->second.check_due = false;
    check(&it->second);
  }
}

// Whether everything the file holds has been read.
bool FileSource::at_eof(Followed* f) const {
  struct stat st;
  return fstat(f->reader->fd(), &st) != 0 || static_cast<uint64_t>(st.st_size) <= f->reader->read_offset();
}

// Every position a file source marks goes through here, so that the bytes
// on their way are known.
void FileSource::mark(Followed* f, uint64_t position) {
  uint64_t before = f->marked > f->acked ? f->marked - f->acked : 0;
  f->marked = position;
  uint64_t after = f->marked > f->acked ? f->marked - f->acked : 0;
  unacked_ = unacked_ + after - before;
  host_->mark_position(f->reader->id(), position);
}

void FileSource::set_acked(Followed* f, uint64_t position) {
  uint64_t before = f->marked > f->acked ? f->marked - f->acked : 0;
  f->acked = position;
  uint64_t after = f->marked > f->acked ? f->marked - f->acked : 0;
  unacked_ = unacked_ - before + after;
  if (throttled_ && unacked_ < kMaxUnacknowledged / 2) {
    throttled_ = false;
    wake();
  }
}

// Drops a reader (its acknowledgements still on their way are ignored).
void FileSource::forget(uint32_t rid) {
  auto it = files_.find(rid);
  if (it == files_.end()) return;
  Followed& f = it->second;
  uint64_t out = f.marked > f.acked ? f.marked - f.acked : 0;
  unacked_ -= std::min(unacked_, out);
  files_.erase(it);
  if (throttled_ && unacked_ < kMaxUnacknowledged / 2) {
    throttled_ = false;
    wake();
  }
}

// One turn of reading: every ready file gets up to kReadBudget bytes; a
// file with more goes to the back of the line.
void FileSource::run_ready() {
  if (rescan_pending_) scan();  // before reading: a rescan may retire what is read next
  size_t n = ready_.size();
  for (size_t i = 0; i < n && !ready_.empty() && !paused_; ++i) {
    if (unacked_ >= kMaxUnacknowledged) {
      throttled_ = true;  // acknowledged() wakes the reading again
      break;
    }
    uint32_t rid = ready_.front();
    ready_.pop_front();
    auto it = files_.find(rid);
    if (it == files_.end() || it->second.closed) continue;
    Followed* f = &it->second;
    f->queued = false;
    if (f->check_due) {
      f->check_due = false;
      check(f);
      it = files_.find(rid);
      if (it == files_.end() || it->second.closed) continue;
      f = &it->second;
      if (f->queued) continue;  // check() scheduled it again
    }
    if (read_file(f)) schedule(f);  // also when paused: it goes on from there on resume()
  }
  if (ready_.empty() || paused_ || throttled_) uv_idle_stop(&idle_);
}

// Reads one budget of a file.  Returns true when there is more to read.
bool FileSource::read_file(Followed* f) {
  if (!f->life_saved) {
    // The state file names a content's life before any of its lines go
    // out: after a crash, the receiver's record of what it stored is
    // matched against it (one write covers every reader added since).
    save_positions(true);
    for (auto& [rid, o] : files_) o.life_saved = true;
  }
  FileReader& r = *f->reader;
  uint64_t before = r.read_offset();
  auto status = r.read(kReadBudget, buf_.data(), buf_.size(),
                       [&](std::string_view line, bool trunc, uint64_t settled) { emit(f, line, trunc, settled); });
  host_->commit();
  if (status == FileReader::Status::kError) {
    Counters::add(counters.errors);
    host_->internal_log(3, "cannot read " + r.path() + ": " + strerror(errno));
    return false;
  }
  if (r.read_offset() != before) {
    f->last_change_ms = now_ms();
    f->size_seen = std::max(f->size_seen, r.read_offset());
    if (r.identity().fp_len < FileIdentity::kFingerprintBytes) {
      FileIdentity old = r.identity();
      r.grow_fingerprint();
      if (r.identity().fp_len != old.fp_len) {
        PositionEntry* e = store_->find(key_of(old));
        if (e) {
          e->id = r.identity();
          store_->mark_dirty();
        }
      }
    }
  }
  if (r.has_partial()) {
    // The timeout counts from the last growth: a writer still writing the
    // line (or lines after lines) restarts it.
    if (f->partial_since_ms == 0 || r.read_offset() != before) f->partial_since_ms = now_ms();
  } else {
    f->partial_since_ms = 0;
  }
  return status == FileReader::Status::kMore;
}

void FileSource::emit(Followed* f, std::string_view line, bool truncated, uint64_t settled) {
  if (f->multi) {
    // A cut line goes in with its flag: its message is marked truncated and
    // the assembler drops the rest of that message.
    f->multi->push(line, settled, [&](std::string_view m, uint64_t end, bool t) {
      if (!m.empty() || t) emit_message(f, m, t, end);
    }, truncated);
    mark(f, f->multi->settled_position());
    return;
  }
  if (!line.empty() || truncated) emit_message(f, line, truncated, settled);
  mark(f, settled);
}

void FileSource::emit_message(Followed* f, std::string_view text, bool truncated, uint64_t end) {
  LogMessage& m = receive_frame(host_, counters, cfg_.receive, local_host(), text, truncated);
  m.set_value("FILE_NAME", f->reader->path());
  m.file_life = f->life;
  m.file_end = end;
}

// ---- acknowledgements and state ----

void FileSource::acknowledged(uint32_t stream, uint64_t position) {
  auto it = files_.find(stream);
  if (it == files_.end()) return;
  Followed& f = it->second;
  if (position <= f.acked) return;
  set_acked(&f, position);
  auto key = key_of(f.reader->identity());
  if (f.closed && f.acked >= f.reader->read_offset()) {
    drop_entry(&f);
    forget(stream);
    return;
  }
  if (PositionEntry* e = store_->find(key)) {
    e->position = position;
    e->path = f.reader->path();
    store_->mark_dirty();
  }
}

void FileSource::save_positions(bool force) {
  if (!store_) return;
  // The ticks that call this come every follow-freq() (1 s by default) and
  // may come a few ms early: a tenth of slack, or every other tick would be
  // skipped and the state saved every 2 s.
  if (!force && now_ms() - last_save_ms_ < kSaveIntervalMs * 9 / 10) return;
  last_save_ms_ = now_ms();
  std::string err;
  if (!store_->save(&err)) {
    Counters::add(counters.errors);
    host_->internal_log(3, "cannot save file positions: " + err);
  }
}

void FileSource::tick() {
  ++ticks_;
  uint64_t now = now_ms();
  bool full = !all_watched_ || cfg_.monitor == FileSourceConfig::Monitor::kPoll || ticks_ % kFullCheckEvery == 0;
  if (!held_.empty()) release_held();
  if (full) scan();
  // The bytes on their way, counted again from the files (a reading that
  // waits for acknowledgements must never wait on a miscount).
  uint64_t unacked = 0;
  for (const auto& [rid, f] : files_) unacked += f.marked > f.acked ? f.marked - f.acked : 0;
  unacked_ = unacked;
  if (throttled_ && unacked_ < kMaxUnacknowledged / 2) {
    throttled_ = false;
    wake();
  }
  std::vector<uint32_t> ids;
  ids.reserve(files_.size());
  for (const auto& [rid, f] : files_) ids.push_back(rid);
  for (uint32_t rid : ids) {
    auto it = files_.find(rid);
    if (it == files_.end()) continue;
    Followed* f = &it->second;
    if (f->closed) continue;
    if (full || f->retiring) check(f);
    it = files_.find(rid);
    if (it == files_.end() || it->second.closed) continue;
    f = &it->second;
    if (f->retiring && !f->queued && !paused_ && !throttled_ &&
        now - f->last_change_ms >= static_cast<uint64_t>(cfg_.rotate_wait_ms)) {
      let_go(f);
      continue;
    }
    // A last line without a newline, or a multi-line message, waiting too
    // long (only at the end of the file: elsewhere the line is just not
    // read to its end yet).
    if (!paused_ && f->partial_since_ms && now - f->partial_since_ms >= static_cast<uint64_t>(cfg_.partial_line_timeout_ms) &&
        !f->queued && at_eof(f)) {
      f->reader->flush_partial([&](std::string_view line, bool t, uint64_t settled) { emit(f, line, t, settled); });
      f->partial_since_ms = 0;
    }
    if (!paused_ && f->multi && f->multi->pending() && cfg_.multi_line.timeout_ms > 0 &&
        now - f->last_change_ms >= static_cast<uint64_t>(cfg_.multi_line.timeout_ms)) {
      f->multi->flush([&](std::string_view m, uint64_t end, bool t) { emit_message(f, m, t, end); });
      mark(f, f->multi->settled_position());
    }
  }
  host_->commit();
  save_positions(false);
}

// ---- config ----

class FileSourceDriver : public SourceDriver {
 public:
  explicit FileSourceDriver(FileSourceConfig c) : cfg_(std::move(c)) {}
  std::string describe() const override {
    if (cfg_.driver == "wildcard-file")
      return "wildcard-file() " + cfg_.base_dir + " " + cfg_.pattern + (cfg_.recursive ? " recursive" : "");
    return "file() " + cfg_.base_dir + "/" + cfg_.pattern;
  }
  std::unique_ptr<Source> create() const override { return std::make_unique<FileSource>(cfg_); }

 private:
  FileSourceConfig cfg_;
};

std::unique_ptr<SourceDriver> build_file(OptionReader& r, const BuildContext& ctx, bool wildcard) {
  FileSourceConfig c;
  c.driver = wildcard ? "wildcard-file" : "file";
  // A line of a file is a message, unless format() asks for syslog parsing.
  std::string fmt;
  bool parse = r.choice("format", {"auto", "rfc3164", "rfc5424", "syslog", "bsd"}, &fmt);
  read_receive_options(r, ctx.options, &c.receive, /*persist_name_handled=*/true);
  if (!parse && c.receive.parse.format != SyslogFormat::kRfc5424) c.receive.parse.no_parse = true;
  c.receive.keep_hostname = false;
  c.receive.framing = Framing::kLines;
  read_multi_line_options(r, &c.multi_line);

  std::string s;
  if (wildcard) {
    bool has_dir = r.string("base-dir", &c.base_dir);
    bool has_pattern = r.string("filename-pattern", &c.pattern);
    if (!has_dir) {
      r.diag()->error(r.last_location(), "wildcard-file() needs base-dir()", "e.g. wildcard-file(base-dir(\"/var/log/app\") filename-pattern(\"*.log\"))");
      return nullptr;
    }
    if (!has_pattern) {
      r.diag()->error(r.last_location(), "wildcard-file() needs filename-pattern()", "e.g. filename-pattern(\"*.log\")");
      return nullptr;
    }
    r.yesno("recursive", &c.recursive);
    while (c.base_dir.size() > 1 && c.base_dir.back() == '/') c.base_dir.pop_back();
  } else {
    if (r.positional().empty()) {
      r.diag()->error(r.last_location(), "file() source needs a path", "e.g. file(\"/var/log/app.log\")");
      return nullptr;
    }
    r.take_positional();
    std::string path = r.positional()[0]->value;
    std::string dir = dir_of(path);
    if (has_glob(dir)) {
      r.diag()->error(r.positional()[0]->loc, "file(\"" + path + "\"): a glob is allowed in the file name only",
                      "for several directories use wildcard-file(base-dir(...) filename-pattern(...) recursive(yes))");
      return nullptr;
    }
    c.base_dir = dir;
    c.pattern = base_of(path);
    c.literal = !has_glob(c.pattern);
    if (c.pattern.empty()) {
      r.diag()->error(r.positional()[0]->loc, "file(\"" + path + "\") names a directory", "name a file, or use wildcard-file()");
      return nullptr;
    }
  }
  if (!c.base_dir.starts_with("/")) {
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd))) c.base_dir = std::string(cwd) + (c.base_dir == "." ? "" : "/" + c.base_dir);
  }
  r.string("exclude-pattern", &c.exclude);
  int64_t n;
  if (r.integer("max-files", &n, 1, 1000000)) c.max_files = n;
  if (r.integer("follow-freq", &n, 1, 3600)) c.follow_freq_ms = n * 1000;
  if (r.integer("rotate-wait", &n, 0, 86400)) c.rotate_wait_ms = n * 1000;
  if (r.integer("partial-line-timeout", &n, 0, 86400)) c.partial_line_timeout_ms = n * 1000;
  std::string monitor;
  if (r.choice("monitor-method", {"auto", "inotify", "poll"}, &monitor))
    c.monitor = monitor == "poll" ? FileSourceConfig::Monitor::kPoll
                : monitor == "inotify" ? FileSourceConfig::Monitor::kInotify
                                       : FileSourceConfig::Monitor::kAuto;
  if (!r.string("persist-name", &c.persist_name))
    c.persist_name = wildcard ? "wildcard-file(" + c.base_dir + "/" + (c.recursive ? "**/" : "") + c.pattern + ")"
                              : "file(" + c.base_dir + "/" + c.pattern + ")";
  for (const char* name : {"pad-size", "multi-line-garbage-ignored", "follow-symlinks", "read-old-records"})
    r.accepted_not_implemented(name);
  return std::make_unique<FileSourceDriver>(std::move(c));
}

}  // namespace

void register_file_sources(DriverRegistry& registry) {
  registry.add_source("file", [](OptionReader& r, const BuildContext& ctx) { return build_file(r, ctx, false); });
  registry.add_source("wildcard-file", [](OptionReader& r, const BuildContext& ctx) { return build_file(r, ctx, true); });
}

}  // namespace logferry
