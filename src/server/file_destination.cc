#include "server/file_destination.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <list>
#include <unordered_map>

#include "core/delivery_journal.h"

namespace logferry {

size_t fixed_prefix_length(const std::string& t) {
  size_t macro = t.find('$');
  std::string_view lit = std::string_view(t).substr(0, macro);
  size_t slash = lit.rfind('/');
  return slash == std::string_view::npos ? 0 : slash + 1;
}

bool confine_path(std::string& path, size_t prefix) {
  if (path.empty() || path.back() == '/') return false;
  if (prefix > path.size()) prefix = 0;
  // Walk the components after the fixed prefix.
  size_t start = prefix;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string_view comp(path.data() + start, end - start);
    if (comp == ".") {
      path[start] = '_';
    } else if (comp == "..") {
      path[start] = '_';
      path[start + 1] = '_';
    }
    start = end + 1;
  }
  return true;
}

namespace {

int64_t monotonic_seconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}

// Creates the missing directories of `path` (not its last component).
bool make_parent_dirs(const std::string& path, int mode, int uid, int gid) {
  for (size_t i = 1; i < path.size(); ++i) {
    if (path[i] != '/') continue;
    std::string dir = path.substr(0, i);
    if (mkdir(dir.c_str(), static_cast<mode_t>(mode)) == 0) {
      // dir-perm() as given, whatever the umask (as syslog-ng does).
      if (chmod(dir.c_str(), static_cast<mode_t>(mode)) != 0) { /* best effort */ }
      if (uid >= 0 || gid >= 0)
        if (chown(dir.c_str(), static_cast<uid_t>(uid), static_cast<gid_t>(gid)) != 0) { /* best effort */ }
    } else if (errno != EEXIST) {
      return false;
    }
  }
  return true;
}

class FileDestination : public Destination {
 public:
  explicit FileDestination(const FileDestinationConfig& c)
      : cfg_(c), prefix_len_(c.path ? fixed_prefix_length(c.path->source()) : 0),
        literal_path_(!c.path || c.path->is_literal()) {
    path_opts_.path_safe = true;
  }

  bool open(uv_loop_t* loop, std::string* error) override {
    loop_ = loop;
    if (cfg_.kind == FileDestinationConfig::Kind::kStdout) return true;
    if (literal_path_) {
      // A fixed path is opened at start, so that a bad path is reported now.
      LogMessage empty;
      std::string path = cfg_.path->render(empty);
      if (!open_file(path)) {
        *error = "cannot open '" + path + "': " + strerror(errno) +
                 (errno == ENOENT && !cfg_.create_dirs ? " (add create-dirs(yes) to create its directory)" : "");
        return false;
      }
    }
    return true;
  }

  void deliver(const LogMessage& msg) override {
    OpenFile* f;
    if (cfg_.kind == FileDestinationConfig::Kind::kStdout) {
      f = &stdout_;
    } else if (literal_path_) {
      f = last_;
    } else {
      path_buf_.clear();
      cfg_.path->render(msg, path_opts_, path_buf_);
      if (!confine_path(path_buf_, prefix_len_)) {
        Counters::add(counters.errors);
        return;
      }
      f = last_ && last_->path == path_buf_ ? last_ : find_or_open(path_buf_);
      if (f) touch(f);
    }
    if (!f) {
      Counters::add(counters.errors);
      return;
    }
    cfg_.line->render(msg, cfg_.render, f->buf);
    f->lines++;
    if (!f->dirty) {
      f->dirty = true;
      dirty_.push_back(f);
    }
    if (f->buf.size() >= kWriteThreshold) write_out(f);
  }

  void flush() override {
    now_ = monotonic_seconds();  // once per batch, not once per message
    in_flush_ = true;
    for (OpenFile* f : dirty_) {
      write_out(f);
      if ((cfg_.fsync || journaled()) && f->fd >= 0 && fsync(f->fd) != 0) sync_failed(f);
      if (journaled()) note_length(f, flush_seq);
      f->dirty = false;
    }
    in_flush_ = false;
    dirty_.clear();
  }

  void tick() override {
    now_ = monotonic_seconds();
    if (backlogged_ > 0) give_up_stuck_pipes();
    if (literal_path_ || cfg_.time_reap <= 0) return;
    // Oldest last: close from the back until a file was used recently.
    while (!lru_.empty() && now_ - lru_.back()->last_used >= cfg_.time_reap) close_file(lru_.back());
  }

  void close() override {
    flush();
    closing_ = true;  // what a FIFO still holds is written now, waiting for room
    while (!lru_.empty()) close_file(lru_.front());
  }

  // Lines a FIFO could not take yet wait in its backlog; past kPipeHold
  // bytes the flow-controlled sources wait too.
  bool accepting() const override { return backlog_bytes_ < kPipeHold; }

  uint64_t taken_through(uint64_t latest) const override {
    if (backlogged_ == 0) return latest;
    uint64_t t = latest;
    for (const auto& [path, f] : files_)
      if (!f->backlog.empty()) t = std::min(t, f->backlog_seq - 1);
    return t;
  }

 private:
  static constexpr size_t kWriteThreshold = 256 * 1024;
  // pipe(): a FIFO whose reader is slow is written to when it has room (a
  // libuv poll), never by blocking the output thread, which serves every
  // other destination too.  Flow-controlled sources wait past kPipeHold
  // bytes of backlog; other sources' lines are dropped (counted) past
  // kPipeMax.
  static constexpr size_t kPipeHold = 1 << 20;
  static constexpr size_t kPipeMax = 8 << 20;

  struct OpenFile {
    int fd = -1;
    std::string path;
    std::string buf;
    size_t lines = 0;
    bool dirty = false;
    int64_t last_used = 0;
    std::list<OpenFile*>::iterator lru;
    uint64_t length_at_open = 0;  // journaled outputs: see note_length()
    bool noted = false;
    bool sync_reported = false;
    // pipe() only: bytes the FIFO has not taken yet, their lines, the
    // oldest flush number they belong to, the last time the FIFO took
    // something, and the poll that waits for room.
    // The backlog's first backlog_off bytes are written already: consumed
    // from the front without moving the rest at every write.
    std::string backlog;
    size_t backlog_off = 0;
    size_t backlog_lines = 0;
    uint64_t backlog_seq = 0;
    int64_t progress_at = 0;
    uv_poll_t* poll = nullptr;
    FileDestination* owner = nullptr;
  };

  // Journaled outputs (Destination::journal): the file's length after flush
  // `seq`, and first, once per open, the length it had before this run
  // wrote to it (after the flush before), so that a crash before the
  // acknowledgement cuts it back to there.
  // fsync() failed (EIO, ENOSPC on some file systems): what the page
  // cache holds may never reach the disk.  Counted and reported once per
  // file; a crash of the machine can then lose acknowledged lines.
  void sync_failed(OpenFile* f) {
    Counters::add(counters.errors);
    if (f->sync_reported) return;
    f->sync_reported = true;
    if (internal_log) internal_log(3, "cannot fsync " + f->path + ": " + strerror(errno));
  }

  bool journaled() const { return journal && cfg_.kind == FileDestinationConfig::Kind::kFile; }

  void note_length(OpenFile* f, uint64_t seq) {
    if (f->fd < 0) return;
    if (!f->noted) {
      journal->note_length(f->path, seq - 1, f->length_at_open);
      f->noted = true;
    }
    struct stat st;
    if (fstat(f->fd, &st) == 0) journal->note_length(f->path, seq, static_cast<uint64_t>(st.st_size));
  }

  // Marks a file as just used: most recent in the LRU, safe from reaping.
  void touch(OpenFile* f) {
    f->last_used = now_;
    if (lru_.front() != f) lru_.splice(lru_.begin(), lru_, f->lru);
  }

  OpenFile* find_or_open(const std::string& path) {
    auto it = files_.find(path);
    if (it != files_.end()) {
      last_ = it->second.get();
      return last_;
    }
    auto failed = failed_until_.find(path);
    if (failed != failed_until_.end()) {
      if (now_ < failed->second) return nullptr;
      failed_until_.erase(failed);
    }
    return open_file(path);
  }

  // Opens a file for appending; one it creates gets perm() as given,
  // whatever the umask (as syslog-ng does).
  int open_for_append(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, cfg_.perm);
    if (fd >= 0) {
      if (fchmod(fd, static_cast<mode_t>(cfg_.perm)) != 0) { /* best effort */ }
      return fd;
    }
    if (errno != EEXIST) return -1;
    return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, cfg_.perm);
  }

  int open_path(const std::string& path) {
    if (cfg_.kind == FileDestinationConfig::Kind::kPipe) return ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    return open_for_append(path);
  }

  OpenFile* open_file(const std::string& path) {
    int fd = open_path(path);
    if (fd < 0 && errno == ENOENT && cfg_.create_dirs) {
      if (make_parent_dirs(path, cfg_.dir_perm, cfg_.uid, cfg_.gid)) fd = open_path(path);
    }
    if (fd < 0) {
      int err = errno;
      if (failed_until_.size() < 10000) failed_until_[path] = now_ + cfg_.time_reopen;
      Counters::add(counters.errors);
      errno = err;
      return nullptr;
    }
    if (cfg_.uid >= 0 || cfg_.gid >= 0)
      if (fchown(fd, static_cast<uid_t>(cfg_.uid), static_cast<gid_t>(cfg_.gid)) != 0) { /* best effort */ }
    if (files_.size() >= cfg_.max_open_files && !lru_.empty()) close_file(lru_.back());
    auto f = std::make_unique<OpenFile>();
    struct stat st;
    if (fstat(fd, &st) == 0) f->length_at_open = static_cast<uint64_t>(st.st_size);
    f->fd = fd;
    f->path = path;
    f->last_used = now_;
    lru_.push_front(f.get());
    f->lru = lru_.begin();
    OpenFile* raw = f.get();
    files_[path] = std::move(f);
    last_ = raw;
    return raw;
  }

  void close_file(OpenFile* f) {
    write_out(f);
    if (!f->backlog.empty()) drain_blocking(f);
    stop_poll(f);
    if (journaled()) {
      // Lines delivered since the last flush belong to the next one.
      if (f->fd >= 0 && fsync(f->fd) != 0) sync_failed(f);
      note_length(f, f->dirty ? flush_seq + 1 : flush_seq);
    }
    if (f->dirty) {
      dirty_.erase(std::find(dirty_.begin(), dirty_.end(), f));
      f->dirty = false;
    }
    if (f->fd >= 0) ::close(f->fd);
    lru_.erase(f->lru);
    if (last_ == f) last_ = nullptr;
    files_.erase(f->path);  // frees f
  }

  // A FIFO whose reader is slow: wait for room, so that the output thread
  // (and with flow-control, the sources) slow down with it.  A reader gone
  // for time-reopen() seconds costs the lines, counted.
  bool wait_writable(int fd) {
    int64_t deadline = monotonic_seconds() + cfg_.time_reopen;
    while (monotonic_seconds() < deadline) {
      pollfd p{fd, POLLOUT, 0};
      int rc = poll(&p, 1, 1000);
      if (rc > 0) return true;
      if (rc < 0 && errno != EINTR) return false;
    }
    return false;
  }

  // Writes as much of `data` as the FIFO takes now (with `wait`, waiting
  // for room up to time-reopen()).  Returns the bytes written; `failed`:
  // an error other than a full FIFO.
  size_t write_fifo(int fd, std::string_view data, bool wait, bool* failed) {
    size_t off = 0;
    *failed = false;
    while (off < data.size()) {
      ssize_t n = ::write(fd, data.data() + off, data.size() - off);
      if (n > 0) {
        off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      bool full = n < 0 && errno == EAGAIN;
      if (full && wait && wait_writable(fd)) continue;
      *failed = !full;
      break;
    }
    return off;
  }

  // pipe(): appends a batch's lines to the FIFO without waiting; what it
  // cannot take now goes to the backlog, written when the poll says there
  // is room.
  void write_pipe(OpenFile* f) {
    if (f->buf.empty()) return;
    if (f->backlog.empty()) {
      bool failed;
      size_t off = write_fifo(f->fd, f->buf, false, &failed);
      if (failed) {
        Counters::add(counters.errors);  // not a FIFO any more, or it broke
        Counters::add(counters.dropped_queue_full, f->lines);
        f->buf.clear();
        f->lines = 0;
        return;
      }
      if (off == f->buf.size()) {
        Counters::add(counters.out, f->lines);
        f->buf.clear();
        f->lines = 0;
        return;
      }
      f->buf.erase(0, off);
      f->progress_at = now_;
      // The lines of this buffer belong to the batch being flushed, or (a
      // write from deliver()) to one after the last flush.
      f->backlog_seq = in_flush_ ? flush_seq : flush_seq + 1;
      ++backlogged_;
      start_poll(f);
    } else if (unwritten(*f).size() + f->buf.size() > kPipeMax) {
      Counters::add(counters.dropped_queue_full, f->lines);
      f->buf.clear();
      f->lines = 0;
      return;
    }
    f->backlog += f->buf;
    f->backlog_lines += f->lines;
    backlog_bytes_ += f->buf.size();
    f->buf.clear();
    f->lines = 0;
  }

  void start_poll(OpenFile* f) {
    if (!f->poll) {
      f->poll = new uv_poll_t;
      if (uv_poll_init(loop_, f->poll, f->fd) != 0) {
        delete f->poll;
        f->poll = nullptr;
        return;  // tick() gives the backlog up after time-reopen()
      }
      f->poll->data = f;
      f->owner = this;
    }
    uv_poll_start(f->poll, UV_WRITABLE, [](uv_poll_t* p, int, int) {
      auto* of = static_cast<OpenFile*>(p->data);
      of->owner->write_backlog(of);
    });
  }

  void stop_poll(OpenFile* f) {
    if (!f->poll) return;
    uv_close(reinterpret_cast<uv_handle_t*>(f->poll), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    f->poll = nullptr;
  }

  // The FIFO has room: writes as much of the backlog as it takes.
  void write_backlog(OpenFile* f) {
    bool failed;  // then nothing is written, and tick() gives the backlog up
    size_t off = write_fifo(f->fd, unwritten(*f), false, &failed);
    if (off > 0) f->progress_at = monotonic_seconds();
    consume_backlog(f, off);
    if (f->backlog.empty()) backlog_done(f, true);
  }

  static std::string_view unwritten(const OpenFile& f) {
    return std::string_view(f.backlog).substr(f.backlog_off);
  }

  // The FIFO took `n` more bytes of the backlog.  The written front is
  // dropped once it is most of the string (amortized: no full move per write).
  void consume_backlog(OpenFile* f, size_t n) {
    f->backlog_off += n;
    backlog_bytes_ -= n;
    if (f->backlog_off == f->backlog.size()) {
      f->backlog.clear();
      f->backlog_off = 0;
    } else if (f->backlog_off > f->backlog.size() / 2) {
      f->backlog.erase(0, f->backlog_off);
      f->backlog_off = 0;
    }
  }

  // The backlog is written (or given up on): counted, the poll stopped.
  void backlog_done(OpenFile* f, bool written) {
    Counters::add(written ? counters.out : counters.dropped_queue_full, f->backlog_lines);
    backlog_bytes_ -= unwritten(*f).size();
    f->backlog.clear();
    f->backlog_off = 0;
    f->backlog_lines = 0;
    --backlogged_;
    if (f->poll) uv_poll_stop(f->poll);
    progressed();
  }

  // A FIFO that took nothing for time-reopen() seconds: its reader is gone;
  // the lines waiting for it are given up on, counted and reported.
  void give_up_stuck_pipes() {
    for (auto& [path, f] : files_) {
      if (f->backlog.empty() || now_ - f->progress_at < cfg_.time_reopen) continue;
      size_t lines = f->backlog_lines;
      Counters::add(counters.errors);
      backlog_done(f.get(), false);
      if (internal_log)
        internal_log(4, "pipe() " + path + ": nothing read it for " + std::to_string(cfg_.time_reopen) + " s; " +
                            std::to_string(lines) + " lines waiting for it were dropped");
    }
  }

  // Closing: the backlog is written, waiting for room up to time-reopen().
  void drain_blocking(OpenFile* f) {
    bool failed;
    size_t off = write_fifo(f->fd, unwritten(*f), true, &failed);
    consume_backlog(f, off);
    if (!f->backlog.empty()) Counters::add(counters.errors);
    backlog_done(f, f->backlog.empty());
  }

  void write_out(OpenFile* f) {
    if (cfg_.kind == FileDestinationConfig::Kind::kPipe && !closing_) {
      write_pipe(f);
      return;
    }
    if (cfg_.kind == FileDestinationConfig::Kind::kPipe && !f->backlog.empty()) {
      // Closing: after what waits already, in order.
      f->backlog += f->buf;
      f->backlog_lines += f->lines;
      backlog_bytes_ += f->buf.size();
      f->buf.clear();
      f->lines = 0;
      return;
    }
    size_t off = 0;
    int fd = cfg_.kind == FileDestinationConfig::Kind::kStdout ? STDOUT_FILENO : f->fd;
    while (off < f->buf.size()) {
      ssize_t n = ::write(fd, f->buf.data() + off, f->buf.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN && wait_writable(fd)) continue;
        Counters::add(counters.errors);
        Counters::add(counters.dropped_queue_full, f->lines);
        f->buf.clear();
        f->lines = 0;
        return;
      }
      off += static_cast<size_t>(n);
    }
    Counters::add(counters.out, f->lines);
    f->buf.clear();
    f->lines = 0;
  }

  FileDestinationConfig cfg_;
  size_t prefix_len_;
  bool literal_path_;
  RenderOptions path_opts_;
  std::string path_buf_;
  std::unordered_map<std::string, std::unique_ptr<OpenFile>> files_;
  std::list<OpenFile*> lru_;
  std::vector<OpenFile*> dirty_;
  std::unordered_map<std::string, int64_t> failed_until_;
  OpenFile* last_ = nullptr;
  OpenFile stdout_;
  uv_loop_t* loop_ = nullptr;
  bool in_flush_ = false;
  bool closing_ = false;
  size_t backlogged_ = 0;     // pipes with a backlog
  size_t backlog_bytes_ = 0;  // their bytes
  int64_t now_ = monotonic_seconds();  // coarse clock: refreshed per batch and per tick
};

class FileDestinationDriver : public DestinationDriver {
 public:
  FileDestinationDriver(FileDestinationConfig c, std::string kind) : cfg_(std::move(c)), kind_(std::move(kind)) {}
  std::string describe() const override {
    std::string s = kind_ + "()";
    if (cfg_.path) s += " \"" + cfg_.path->source() + "\"";
    return s;
  }
  std::unique_ptr<Destination> create() const override { return std::make_unique<FileDestination>(cfg_); }

 private:
  FileDestinationConfig cfg_;
  std::string kind_;
};

std::shared_ptr<const Template> compile_or_fail(OptionReader& r, const std::string& text, const Location& loc) {
  std::string err;
  auto t = Template::compile(text, &err);
  if (!t) {
    r.diag()->error(loc, "invalid template in " + r.what() + ": " + err);
    return nullptr;
  }
  return std::shared_ptr<const Template>(std::move(t));
}

std::unique_ptr<DestinationDriver> build_file(OptionReader& r, const BuildContext& ctx, FileDestinationConfig::Kind kind) {
  const GlobalOptions& g = ctx.options;
  FileDestinationConfig c;
  c.kind = kind;
  c.create_dirs = g.create_dirs;
  c.perm = g.perm;
  c.dir_perm = g.dir_perm;
  c.time_reap = g.time_reap;
  c.time_reopen = g.time_reopen;
  c.render.frac_digits = g.frac_digits;
  c.zone = g.send_time_zone;
  c.render.time_zone = g.send_time_zone.get();
  std::string kind_name = kind == FileDestinationConfig::Kind::kFile ? "file" : kind == FileDestinationConfig::Kind::kPipe ? "pipe" : "stdout";

  if (kind != FileDestinationConfig::Kind::kStdout) {
    r.take_positional();
    const auto& pos = r.positional();
    if (pos.size() != 1) {
      r.diag()->error(pos.empty() ? r.last_location() : pos[1]->loc,
                      "expected one path in " + kind_name + "()", "write " + kind_name + "(\"/var/log/messages\")");
      return nullptr;
    }
    c.path = compile_or_fail(r, pos[0]->value, pos[0]->loc);
    if (!c.path) return nullptr;
  }
  std::string t;
  if (r.string("template", &t)) {
    Location loc = r.last_location();
    const Template* named = ctx.find_template(t);
    if (named) {
      std::string err;
      c.line = std::shared_ptr<const Template>(Template::compile(named->source(), &err));
    } else {
      c.line = compile_or_fail(r, t, loc);
      if (!c.line) return nullptr;
    }
  }
  std::vector<std::string> flags;
  r.flags("flags", {"syslog-protocol", "no-multi-line", "threaded"}, &flags);
  bool rfc5424 = std::find(flags.begin(), flags.end(), "syslog-protocol") != flags.end();
  if (!c.line) {
    std::string err;
    // syslog-ng's default line for files: the BSD date, host and header.
    c.line = std::shared_ptr<const Template>(Template::compile(
        rfc5424 ? "<$PRI>1 $ISODATE $HOST ${PROGRAM:--} ${PID:--} ${MSGID:--} ${SDATA:--} $MSG\n"
                : "$DATE $HOST $MSGHDR$MSG\n",
        &err));
  }
  r.yesno("create-dirs", &c.create_dirs);
  r.octal("perm", &c.perm);
  r.octal("dir-perm", &c.dir_perm);
  r.yesno("fsync", &c.fsync);
  r.integer("time-reap", &c.time_reap, 0, 86400 * 365);
  r.integer("time-reopen", &c.time_reopen, 1, 86400);
  int64_t n;
  if (r.integer("max-open-files", &n, 1, 100000)) c.max_open_files = static_cast<size_t>(n);
  read_render_options(r, &c.render, &c.zone);
  r.owner_group(g.owner, g.group, &c.uid, &c.gid);
  r.accepted_not_implemented("dir-owner");
  r.accepted_not_implemented("dir-group");
  int64_t ignored;
  r.integer("flush-lines", &ignored, 0, 1000000);  // logferry writes at the end of every batch
  r.integer("log-fifo-size", &ignored, 1, 100000000);
  for (const char* name : {"template-escape", "overwrite-if-older", "ts-format", "local-time-zone", "suppress",
                           "mark-mode", "mark-freq", "persist-name", "flush-timeout", "pad-size", "throttle",
                           "file-template", "logrotate", "disk-buffer", "create-dirs-name", "dir-owner-name",
                           "symlink-as", "hook-commands", "optional"}) {
    r.accepted_not_implemented(name);
  }
  return std::make_unique<FileDestinationDriver>(std::move(c), kind_name);
}

}  // namespace

void register_file_destinations(DriverRegistry& registry) {
  registry.add_destination("file", [](OptionReader& r, const BuildContext& ctx) {
    return build_file(r, ctx, FileDestinationConfig::Kind::kFile);
  });
  registry.add_destination("pipe", [](OptionReader& r, const BuildContext& ctx) {
    return build_file(r, ctx, FileDestinationConfig::Kind::kPipe);
  });
  registry.add_destination("stdout", [](OptionReader& r, const BuildContext& ctx) {
    return build_file(r, ctx, FileDestinationConfig::Kind::kStdout);
  });
}

}  // namespace logferry
