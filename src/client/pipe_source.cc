// Local stream sources: pipe() reads a named pipe (FIFO) that local programs
// write lines into; stdin() reads logferry's own standard input.  Both split
// the bytes into lines and parse each line as syslog, like the other sources.
#include "client/pipe_source.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <uv.h>

#include "core/receive.h"

namespace logferry {

namespace {

// What pipe("/path" ...) or stdin(...) was configured with.
struct PipeSourceConfig {
  std::string path;  // the FIFO; empty for stdin()
  bool create_dirs = false;
  int perm = 0600;   // -1: as mkfifo and the umask make it
  int dir_perm = 0700;
  int uid = -1;
  int gid = -1;
  ReceiveOptions receive;
};

const char* kind_of(mode_t m) {
  if (S_ISREG(m)) return "a regular file";
  if (S_ISDIR(m)) return "a directory";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  return "not a named pipe";
}

std::string errno_text() { return strerror(errno); }

// Creates the missing directories above `path`: mode `perm` exactly (set
// after mkdir, which the umask narrows) and the given owner.
bool make_parent_dirs(const std::string& path, int perm, int uid, int gid, std::string* error) {
  for (size_t i = path.find('/', 1); i != std::string::npos; i = path.find('/', i + 1)) {
    std::string dir = path.substr(0, i);
    if (mkdir(dir.c_str(), 0700) == 0) {
      if (perm >= 0) chmod(dir.c_str(), static_cast<mode_t>(perm));
      if (uid >= 0 || gid >= 0)
        if (chown(dir.c_str(), static_cast<uid_t>(uid), static_cast<gid_t>(gid)) != 0) { /* best effort */ }
    } else if (errno != EEXIST) {
      *error = "cannot create directory '" + dir + "': " + errno_text();
      return false;
    }
  }
  return true;
}

// Reads one file descriptor through libuv and turns its bytes into
// messages: a FrameDecoder splits the lines (never buffering more than
// log-msg-size), receive_frame() parses each, and every read is committed
// as one batch.  Pipes, FIFOs, terminals and stream sockets are read as
// libuv streams; a regular file or device (stdin redirected from a file or
// /dev/null), which epoll cannot watch, with uv_fs_read on libuv's thread
// pool.  The read buffer and the decoder's sink are made once, so reading
// allocates nothing per message.
class FdSource : public Source {
 public:
  explicit FdSource(const ReceiveOptions& r)
      : recv_(r),
        decoder_(r.framing, r.log_msg_size),
        sink_([this](std::string_view f, bool t) { receive_frame(host_, counters, recv_, local_host(), f, t); }) {}

  void pause() override {
    paused_ = true;
    if (mode_ == Mode::kStream) uv_read_stop(stream());
  }

  void resume() override {
    paused_ = false;
    if (mode_ == Mode::kStream) start_stream();
    else if (mode_ == Mode::kFile && !reading_) submit_file_read();
  }

  // What the kernel already holds for a stream is read first, so that a
  // writer that finished just before SIGTERM loses nothing; then the partial
  // last line is committed and the input closed.
  void stop() override {
    if (mode_ == Mode::kStream) drain_stream();
    close_input();
  }

 protected:
  // Starts reading `fd`, which this source owns from now on (also on failure).
  bool read_fd(uv_loop_t* loop, SourceHost* host, int fd, std::string* error) {
    loop_ = loop;
    host_ = host;
    int rc = 0;
    switch (uv_guess_handle(fd)) {
      case UV_NAMED_PIPE:  // a pipe, a FIFO or a unix stream socket
        uv_pipe_init(loop, &h_.pipe, 0);
        rc = uv_pipe_open(&h_.pipe, fd);
        break;
      case UV_TTY:
        rc = uv_tty_init(loop, &h_.tty, fd, 0);
        if (rc != 0) {  // the handle was not initialised: nothing to close but the fd
          ::close(fd);
          *error = "cannot read " + what() + " (a terminal): " + uv_strerror(rc);
          return false;
        }
        break;
      case UV_TCP:
        uv_tcp_init(loop, &h_.tcp);
        rc = uv_tcp_open(&h_.tcp, fd);
        break;
      case UV_FILE:  // a regular file or a character device
        fd_ = fd;
        mode_ = Mode::kFile;
        submit_file_read();
        return true;
      default:
        ::close(fd);
        *error = "cannot read " + what() +
                 ": it is of a kind logferry cannot read (such as a datagram socket or a block device); "
                 "expected a pipe, FIFO, terminal, stream socket or file";
        return false;
    }
    if (rc != 0) {
      ::close(fd);
      uv_close(handle(), nullptr);
      *error = "cannot read " + what() + ": " + uv_strerror(rc);
      return false;
    }
    handle()->data = this;
    mode_ = Mode::kStream;
    if (!paused_) start_stream();
    return true;
  }

  // Names the input in messages ("pipe /run/app.pipe", "stdin").
  virtual std::string what() const = 0;
  // The input ended (after its last line was committed).
  virtual void on_eof() {}

  SourceHost* host_ = nullptr;

 private:
  enum class Mode { kClosed, kStream, kFile };

  union Handle {
    uv_pipe_t pipe;
    uv_tty_t tty;
    uv_tcp_t tcp;
  };

  uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(&h_); }
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&h_); }

  void start_stream() {
    int rc = uv_read_start(
        stream(),
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
          auto& buf = static_cast<FdSource*>(h->data)->read_buf_;
          *b = uv_buf_init(buf.data(), static_cast<unsigned>(buf.size()));
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t*) { static_cast<FdSource*>(s->data)->on_read(n); });
    if (rc != 0 && rc != UV_EALREADY) end(rc);
  }

  void on_read(ssize_t n) {
    if (n > 0) {
      decoder_.feed(std::string_view(read_buf_.data(), static_cast<size_t>(n)), sink_);
      host_->commit();
    } else if (n < 0) {
      end(static_cast<int>(n));
    }
  }

  // Reads, without waiting, the bytes the kernel held when stop() was
  // called (FIONREAD: at most a pipe's capacity, so a writer that keeps
  // writing cannot stall the shutdown).
  void drain_stream() {
    uv_os_fd_t fd;
    int avail = 0;
    if (uv_fileno(handle(), &fd) != 0 || ioctl(fd, FIONREAD, &avail) != 0) return;
    size_t left = avail > 0 ? static_cast<size_t>(avail) : 0;
    while (left > 0) {
      ssize_t n = ::read(fd, read_buf_.data(), std::min(left, read_buf_.size()));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      left -= std::min(left, static_cast<size_t>(n));
      decoder_.feed(std::string_view(read_buf_.data(), static_cast<size_t>(n)), sink_);
      host_->commit();
    }
  }

  void submit_file_read() {
    uv_buf_t b = uv_buf_init(read_buf_.data(), static_cast<unsigned>(read_buf_.size()));
    req_.data = this;
    int rc = uv_fs_read(loop_, &req_, fd_, &b, 1, -1, [](uv_fs_t* req) {
      auto* self = static_cast<FdSource*>(req->data);
      ssize_t n = req->result;
      uv_fs_req_cleanup(req);
      self->reading_ = false;
      self->on_file_read(n);
    });
    if (rc != 0) {
      uv_fs_req_cleanup(&req_);
      end(rc);
      return;
    }
    reading_ = true;
  }

  void on_file_read(ssize_t n) {
    if (mode_ != Mode::kFile) {
      // stop() came while this read was under way: the input is closed and
      // what the read returned is not used.
      close_file();
      return;
    }
    if (n > 0) {
      decoder_.feed(std::string_view(read_buf_.data(), static_cast<size_t>(n)), sink_);
      host_->commit();
      if (!paused_ && mode_ == Mode::kFile) submit_file_read();
      return;
    }
    end(n == 0 ? UV_EOF : static_cast<int>(n));
  }

  // End of input (UV_EOF) or a read error.
  void end(int status) {
    close_input();
    if (status == UV_EOF) {
      on_eof();
    } else {
      Counters::add(counters.errors);
      host_->internal_log(3, what() + ": read failed: " + uv_strerror(status) + "; it is no longer read");
    }
  }

  // Commits the partial last line and closes the input.
  void close_input() {
    decoder_.finish(sink_);
    if (host_) host_->commit();
    if (mode_ == Mode::kStream) {
      uv_close(handle(), nullptr);  // closes the fd too
    } else if (mode_ == Mode::kFile) {
      if (reading_) uv_cancel(reinterpret_cast<uv_req_t*>(&req_));  // its callback closes the fd
      else close_file();
    }
    mode_ = Mode::kClosed;
  }

  void close_file() {
    if (fd_ < 0) return;
    uv_fs_t req;
    uv_fs_close(loop_, &req, fd_, nullptr);  // synchronous
    uv_fs_req_cleanup(&req);
    fd_ = -1;
  }

  ReceiveOptions recv_;
  FrameDecoder decoder_;
  FrameDecoder::Sink sink_;
  uv_loop_t* loop_ = nullptr;
  Mode mode_ = Mode::kClosed;
  bool paused_ = false;
  Handle h_{};
  uv_fs_t req_{};       // kFile: the read under way
  bool reading_ = false;
  int fd_ = -1;         // kFile: the fd (a stream's fd belongs to its handle)
  std::vector<char> read_buf_ = std::vector<char>(65536);
};

// pipe("/path"): a named pipe that local programs write lines into.  It is
// created when missing and read for as long as logferry runs, whoever
// writes.
//
// Writers come and go: when the last one closes a FIFO, its reader gets
// EOF, and on Linux keeps getting it (an endless readable event) until it
// reopens.  Instead of reopening, logferry keeps a write end of the FIFO
// open itself, so the writer count never drops to zero and EOF never
// happens.  There is then no moment without a reader (a writer opening with
// O_NONBLOCK never gets ENXIO while logferry runs) and no EOF/reopen loop.
// The cost: a line ends only at its newline, so a writer that exits in the
// middle of a line has that tail joined to the next line written (syslog-ng,
// which opens its FIFO read-write, behaves the same); stop() commits it.
// (One O_RDWR open would do the same on Linux, but POSIX leaves O_RDWR on a
// FIFO undefined; two opens are portable.)
class PipeSource : public FdSource {
 public:
  explicit PipeSource(const PipeSourceConfig& c) : FdSource(c.receive), cfg_(c) {}
  ~PipeSource() override { close_write_end(); }

  bool start(uv_loop_t* loop, SourceHost* host, std::string* error) override {
    host_ = host;
    int rfd = open_fifo(error);
    if (rfd < 0) return false;
    if (!read_fd(loop, host, rfd, error)) {
      close_write_end();
      return false;
    }
    return true;
  }

  void stop() override {
    FdSource::stop();
    close_write_end();
  }

 private:
  std::string what() const override { return "pipe " + cfg_.path; }

  void on_eof() override {
    // Cannot happen while the write end is held; say so if it does.
    host_->internal_log(4, what() + ": unexpected end of input; it is no longer read");
  }

  // Creates the FIFO if needed and opens its read end (returned) and the
  // write end logferry keeps (write_fd_).  Returns -1 with *error set.
  int open_fifo(std::string* error) {
    const std::string& path = cfg_.path;
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
      if (errno != ENOENT) {
        *error = "cannot use named pipe '" + path + "': " + errno_text();
        return -1;
      }
      if (cfg_.create_dirs && !make_parent_dirs(path, cfg_.dir_perm, cfg_.uid, cfg_.gid, error)) return -1;
      mode_t mode = static_cast<mode_t>(cfg_.perm >= 0 ? cfg_.perm : 0666);
      if (mkfifo(path.c_str(), mode) != 0 && errno != EEXIST) {
        bool no_dir = errno == ENOENT && !cfg_.create_dirs;
        *error = "cannot create named pipe '" + path + "': " + errno_text() +
                 (no_dir ? "; add create-dirs(yes) to create its directory" : "");
        return -1;
      }
    } else if (!S_ISFIFO(st.st_mode)) {
      *error = "'" + path + "' exists and is " + kind_of(st.st_mode) +
               ", not a named pipe; pipe() reads FIFOs only (remove it and logferry creates the FIFO, "
               "or read a file with file())";
      return -1;
    }
    // Non-blocking: opening the read end does not wait for a writer.
    int rfd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (rfd < 0) {
      *error = "cannot open named pipe '" + path + "' for reading: " + errno_text();
      return -1;
    }
    // Checked on the open fd: the path may have been replaced since stat().
    struct stat rst;
    if (fstat(rfd, &rst) != 0 || !S_ISFIFO(rst.st_mode)) {
      *error = "'" + path + "' is " + kind_of(rst.st_mode) + ", not a named pipe; pipe() reads FIFOs only";
      ::close(rfd);
      return -1;
    }
    // Succeeds at once: the FIFO has a reader now (rfd).
    write_fd_ = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    struct stat wst;
    if (write_fd_ < 0 || fstat(write_fd_, &wst) != 0 || wst.st_ino != rst.st_ino || wst.st_dev != rst.st_dev) {
      *error = "cannot open named pipe '" + path + "' for writing (logferry keeps a write end open so that "
               "writers may come and go): " + (write_fd_ < 0 ? errno_text() : "it was replaced meanwhile");
      ::close(rfd);
      close_write_end();
      return -1;
    }
    apply_owner(rfd, rst);
    return rfd;
  }

  // perm(), owner() and group() are applied every start, also to a FIFO that
  // existed (as syslog-ng does).
  void apply_owner(int fd, const struct stat& st) {
    if (cfg_.perm >= 0 && (st.st_mode & 07777) != static_cast<mode_t>(cfg_.perm) &&
        fchmod(fd, static_cast<mode_t>(cfg_.perm)) != 0) {
      char mode[8];
      snprintf(mode, sizeof(mode), "%04o", cfg_.perm);
      host_->internal_log(4, what() + ": cannot set its mode to perm(" + mode + "): " + errno_text());
    }
    bool uid_differs = cfg_.uid >= 0 && st.st_uid != static_cast<uid_t>(cfg_.uid);
    bool gid_differs = cfg_.gid >= 0 && st.st_gid != static_cast<gid_t>(cfg_.gid);
    if ((uid_differs || gid_differs) &&
        fchown(fd, static_cast<uid_t>(cfg_.uid), static_cast<gid_t>(cfg_.gid)) != 0) {
      host_->internal_log(4, what() + ": cannot set its owner()/group(): " + errno_text());
    }
  }

  void close_write_end() {
    if (write_fd_ >= 0) ::close(write_fd_);
    write_fd_ = -1;
  }

  PipeSourceConfig cfg_;
  int write_fd_ = -1;
};

// stdin(): logferry's standard input, read until it ends.  At the end the
// partial last line is committed and the source stops reading; logferry
// keeps running (syslog-ng exits instead; see docs/configuration.md).
// Always flow-controlled: whatever feeds stdin (`app |`, `< file`) can wait,
// and a file read at disk speed would otherwise overrun the queue and lose
// lines.
class StdinSource : public FdSource {
 public:
  explicit StdinSource(const ReceiveOptions& r) : FdSource(r) {}
  bool always_flow_controlled() const override { return true; }

  bool start(uv_loop_t* loop, SourceHost* host, std::string* error) override {
    host_ = host;
    // A copy of fd 0, so that closing it at the end leaves fd 0 taken.
    int fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) {
      *error = "cannot read standard input: " + errno_text() + " (is it closed? start logferry with input, e.g. "
               "`app | logferry run -f CONF`)";
      return false;
    }
    return read_fd(loop, host, fd, error);
  }

 private:
  std::string what() const override { return "stdin"; }
  void on_eof() override {
    host_->internal_log(5, "stdin(): end of standard input; logferry keeps running until stopped");
  }
};

class PipeSourceDriver : public SourceDriver {
 public:
  explicit PipeSourceDriver(PipeSourceConfig c) : cfg_(std::move(c)) {}
  std::string describe() const override { return cfg_.path.empty() ? "stdin()" : "pipe() " + cfg_.path; }
  std::unique_ptr<Source> create() const override {
    if (cfg_.path.empty()) return std::make_unique<StdinSource>(cfg_.receive);
    return std::make_unique<PipeSource>(cfg_);
  }

 private:
  PipeSourceConfig cfg_;
};

// syslog-ng's file-reader options that logferry takes without acting on them
// (read_receive_options() covers pad-size()).
void accept_reader_options(OptionReader& r) {
  for (const char* name : {"multi-line-mode", "multi-line-prefix", "multi-line-garbage", "multi-line-suffix"}) {
    r.accepted_not_implemented(name);
  }
}

std::unique_ptr<SourceDriver> build_pipe(OptionReader& r, const BuildContext& ctx) {
  const GlobalOptions& g = ctx.options;
  PipeSourceConfig c;
  c.receive.framing = Framing::kLines;
  // syslog-ng's defaults for pipes: local senders write no hostname
  // (flags(no-hostname); flags(expect-hostname) turns it back on).
  c.receive.parse.expect_hostname = false;
  c.receive.parse.local = true;
  read_receive_options(r, g, &c.receive);
  c.receive.keep_hostname = true;  // as every local source: HOST is this machine unless the line names one
  r.take_positional();
  const auto& pos = r.positional();
  if (pos.size() != 1 || pos[0]->value.empty()) {
    r.diag()->error(pos.size() > 1 ? pos[1]->loc : pos.empty() ? r.last_location() : pos[0]->loc,
                    "expected one named pipe path in " + r.what(), "write e.g. pipe(\"/run/app.pipe\")");
    return nullptr;
  }
  c.path = pos[0]->value;
  c.create_dirs = g.create_dirs;
  c.perm = g.perm;
  c.dir_perm = g.dir_perm;
  r.yesno("create-dirs", &c.create_dirs);
  r.octal("perm", &c.perm);
  r.octal("dir-perm", &c.dir_perm);
  r.owner_group(g.owner, g.group, &c.uid, &c.gid);
  r.accepted_not_implemented("dir-owner");
  r.accepted_not_implemented("dir-group");
  accept_reader_options(r);
  return std::make_unique<PipeSourceDriver>(std::move(c));
}

std::unique_ptr<SourceDriver> build_stdin(OptionReader& r, const BuildContext& ctx) {
  PipeSourceConfig c;
  c.receive.framing = Framing::kLines;
  // syslog-ng's stdin() is its file() reader: lines carry a hostname, and
  // keep-hostname() decides whether HOST keeps it.
  c.receive.parse.local = true;
  read_receive_options(r, ctx.options, &c.receive);
  accept_reader_options(r);
  r.accepted_not_implemented("follow-freq");
  return std::make_unique<PipeSourceDriver>(std::move(c));
}

}  // namespace

void register_pipe_sources(DriverRegistry& registry) {
  registry.add_source("pipe", build_pipe);
  registry.add_source("stdin", build_stdin);
}

}  // namespace logferry
