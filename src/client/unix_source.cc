// Local socket sources: unix-stream(), unix-dgram() and system() (the local
// syslog socket /dev/log plus the kernel log /dev/kmsg).
#include "client/unix_source.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/receive.h"
#include "core/text.h"

namespace logferry {

namespace {

struct UnixSourceConfig {
  std::string path;
  int perm = 0666;
  int uid = -1;
  int gid = -1;
  int max_connections = 256;
  ReceiveOptions receive;
};

bool prepare_path(const std::string& path, std::string* error) {
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    *error = "socket path too long: " + path;
    return false;
  }
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      *error = "'" + path + "' exists and is not a socket; logferry will not remove it";
      return false;
    }
    unlink(path.c_str());  // a stale socket from an earlier run
  }
  return true;
}

void set_owner(const UnixSourceConfig& c) {
  chmod(c.path.c_str(), static_cast<mode_t>(c.perm));
  if (c.uid >= 0 || c.gid >= 0)
    if (chown(c.path.c_str(), static_cast<uid_t>(c.uid), static_cast<gid_t>(c.gid)) != 0) { /* best effort */ }
}

class UnixStreamSource : public StreamSource {
 public:
  explicit UnixStreamSource(const UnixSourceConfig& c) : StreamSource(c.receive, c.max_connections), cfg_(c) {}

  bool start(uv_loop_t* loop, SourceHost* host, std::string* error) override {
    host_ = host;
    loop_ = loop;
    if (!prepare_path(cfg_.path, error)) return false;
    auto* pipe = &(new ListenerHandle)->pipe;
    uv_pipe_init(loop, pipe, 0);
    int rc = uv_pipe_bind(pipe, cfg_.path.c_str());
    if (rc != 0) {
      *error = "cannot listen on unix-stream " + cfg_.path + ": " + uv_strerror(rc);
      uv_close(reinterpret_cast<uv_handle_t*>(pipe), [](uv_handle_t* h) { free_listener(h); });
      return false;
    }
    set_owner(cfg_);
    if (!listen_on(reinterpret_cast<uv_stream_t*>(pipe), error, "unix-stream " + cfg_.path)) {
      uv_close(reinterpret_cast<uv_handle_t*>(pipe), [](uv_handle_t* h) { free_listener(h); });
      listener_ = nullptr;
      return false;
    }
    return true;
  }

  void stop() override {
    StreamSource::stop();
    unlink(cfg_.path.c_str());
  }

 protected:
  int init_connection(Connection* c) override { return uv_pipe_init(loop_, &c->h.pipe, 0); }
  std::string peer_of(Connection*) override { return local_host(); }

 private:
  UnixSourceConfig cfg_;
  uv_loop_t* loop_ = nullptr;
};

// A datagram socket read through uv_poll (libuv has no unix datagram
// handle); each readable event drains up to kBurst datagrams.
class DgramReader {
 public:
  // The datagram and its full size (larger than the view when it was cut).
  using OnDatagram = std::function<void(std::string_view, size_t)>;

  bool open_unix(uv_loop_t* loop, const UnixSourceConfig& c, std::string* error) {
    if (!prepare_path(c.path, error)) return false;
    socket_ = true;
    buf_.resize(std::max<size_t>(65536, c.receive.log_msg_size) + 1);
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      *error = std::string("socket: ") + strerror(errno);
      return false;
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, c.path.c_str(), c.path.size() + 1);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      *error = "cannot bind unix-dgram " + c.path + ": " + strerror(errno);
      ::close(fd_);
      fd_ = -1;
      return false;
    }
    set_owner(c);
    int size = 4 << 20;  // a burst from many local writers fits
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    return poll(loop, error);
  }

  bool open_fd(uv_loop_t* loop, int fd, std::string* error) {
    fd_ = fd;
    return poll(loop, error);
  }

  void start(OnDatagram on, std::function<void()> done) {
    on_ = std::move(on);
    done_ = std::move(done);
    uv_poll_start(&poll_, UV_READABLE, [](uv_poll_t* p, int status, int) {
      auto* self = static_cast<DgramReader*>(p->data);
      if (status == 0) self->drain();
    });
  }
  void pause() {
    if (open_) uv_poll_stop(&poll_);
  }
  void resume() {
    if (open_) start(on_, done_);
  }
  void close() {
    if (!open_) return;
    if (socket_) drain();  // what arrived before the stop is still read
    open_ = false;
    uv_poll_stop(&poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), nullptr);
    ::close(fd_);
    fd_ = -1;
  }
  uint64_t errors = 0;

 private:
  static constexpr int kBurst = 64;

  bool poll(uv_loop_t* loop, std::string* error) {
    int rc = uv_poll_init(loop, &poll_, fd_);
    if (rc != 0) {
      *error = std::string("uv_poll_init: ") + uv_strerror(rc);
      ::close(fd_);
      fd_ = -1;
      return false;
    }
    poll_.data = this;
    open_ = true;
    return true;
  }

  void drain() {
    for (int i = 0; i < kBurst; ++i) {
      // MSG_TRUNC: a datagram larger than the buffer reports its real size.
      ssize_t n = socket_ ? recv(fd_, buf_.data(), buf_.size(), MSG_DONTWAIT | MSG_TRUNC)
                          : read(fd_, buf_.data(), buf_.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) errors++;
        break;
      }
      size_t got = std::min(static_cast<size_t>(n), buf_.size());
      on_(std::string_view(buf_.data(), got), static_cast<size_t>(n));
    }
    if (done_) done_();
  }

  int fd_ = -1;
  bool open_ = false;
  bool socket_ = false;
  uv_poll_t poll_{};
  std::vector<char> buf_ = std::vector<char>(65536 + 1);
  OnDatagram on_;
  std::function<void()> done_;
};

class UnixDgramSource : public Source {
 public:
  explicit UnixDgramSource(const UnixSourceConfig& c) : cfg_(c) {}

  bool start(uv_loop_t* loop, SourceHost* host, std::string* error) override {
    host_ = host;
    if (!reader_.open_unix(loop, cfg_, error)) return false;
    reader_.start([this](std::string_view d, size_t full) { on_datagram(d, full); }, [this] { host_->commit(); });
    return true;
  }
  void stop() override {
    reader_.close();
    unlink(cfg_.path.c_str());
  }
  void pause() override { reader_.pause(); }
  void resume() override { reader_.resume(); }

 private:
  void on_datagram(std::string_view d, size_t full) {
    bool truncated = full > cfg_.receive.log_msg_size;
    if (truncated) d = d.substr(0, cfg_.receive.log_msg_size);
    while (!d.empty() && (d.back() == '\n' || d.back() == '\0')) d.remove_suffix(1);
    if (!d.empty()) receive_frame(host_, counters, cfg_.receive, local_host(), d, truncated);
  }

  UnixSourceConfig cfg_;
  SourceHost* host_ = nullptr;
  DgramReader reader_;
};

// /dev/kmsg: one record per read, "PRI,SEQ,USEC,FLAGS;text\n" followed by
// optional " KEY=VALUE" continuation lines.
class KmsgSource : public Source {
 public:
  explicit KmsgSource(std::string path) : path_(std::move(path)) {}

  bool start(uv_loop_t* loop, SourceHost* host, std::string* error) override {
    host_ = host;
    int fd = ::open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      *error = "cannot open " + path_ + ": " + strerror(errno);
      return false;
    }
    lseek(fd, 0, SEEK_END);  // only what the kernel logs from now on
    if (!reader_.open_fd(loop, fd, error)) return false;
    reader_.start([this](std::string_view d, size_t) { on_record(d); }, [this] { host_->commit(); });
    return true;
  }
  void stop() override { reader_.close(); }

 private:
  void on_record(std::string_view d) {
    size_t semi = d.find(';');
    if (semi == std::string_view::npos) return;
    std::string_view head = d.substr(0, semi);
    std::string_view text = d.substr(semi + 1);
    size_t nl = text.find('\n');
    if (nl != std::string_view::npos) text = text.substr(0, nl);
    int64_t pri = 6;
    size_t comma = head.find(',');
    parse_int64(head.substr(0, comma), &pri);
    LogMessage& m = host_->next_message();
    m.pri = static_cast<uint16_t>(pri & 0x3ff) > 191 ? 6 : static_cast<uint16_t>(pri);
    m.set_raw(d);
    m.set(Field::kProgram, "kernel");
    m.set(Field::kMessage, text);
    m.set(Field::kHost, local_host());
    m.set_span(Field::kHostFrom, m.span(Field::kHost));
    m.stamp = m.received;
    m.flags |= kFlagLocal;
  }

  std::string path_;
  SourceHost* host_ = nullptr;
  DgramReader reader_;
};

// system(): the sources a Linux host logs to.
class SystemSource : public Source {
 public:
  SystemSource(const UnixSourceConfig& c, bool kmsg) : dev_log_(c), kmsg_(kmsg ? new KmsgSource("/dev/kmsg") : nullptr) {}
  bool start(uv_loop_t* loop, SourceHost* host, std::string* error) override {
    if (!dev_log_.start(loop, host, error)) return false;
    if (kmsg_) {
      std::string kerr;
      if (!kmsg_->start(loop, host, &kerr)) {
        host->internal_log(4, "system(): " + kerr + "; kernel messages are not read");
        kmsg_.reset();
      }
    }
    return true;
  }
  void stop() override {
    dev_log_.stop();
    if (kmsg_) kmsg_->stop();
  }
  void pause() override { dev_log_.pause(); }
  void resume() override { dev_log_.resume(); }

 private:
  UnixDgramSource dev_log_;
  std::unique_ptr<KmsgSource> kmsg_;
};

class UnixSourceDriver : public SourceDriver {
 public:
  enum class Kind { kStream, kDgram, kSystem };
  UnixSourceDriver(UnixSourceConfig c, Kind k) : cfg_(std::move(c)), kind_(k) {}
  std::string describe() const override {
    switch (kind_) {
      case Kind::kStream: return "unix-stream() " + cfg_.path;
      case Kind::kDgram: return "unix-dgram() " + cfg_.path;
      case Kind::kSystem: return "system() " + cfg_.path + (access("/dev/kmsg", R_OK) == 0 ? " + /dev/kmsg" : "");
    }
    return "";
  }
  std::unique_ptr<Source> create() const override {
    switch (kind_) {
      case Kind::kStream: return std::make_unique<UnixStreamSource>(cfg_);
      case Kind::kDgram: return std::make_unique<UnixDgramSource>(cfg_);
      case Kind::kSystem: return std::make_unique<SystemSource>(cfg_, access("/dev/kmsg", R_OK) == 0);
    }
    return nullptr;
  }

 private:
  UnixSourceConfig cfg_;
  Kind kind_;
};

std::unique_ptr<SourceDriver> build_unix(OptionReader& r, const BuildContext& ctx, UnixSourceDriver::Kind kind) {
  UnixSourceConfig c;
  // Local senders write no hostname (syslog(3) does not), and HOST is this machine.
  c.receive.parse.expect_hostname = false;
  c.receive.parse.local = true;
  read_receive_options(r, ctx.options, &c.receive);
  c.receive.keep_hostname = true;
  if (kind == UnixSourceDriver::Kind::kSystem) {
    c.path = "/dev/log";
  } else {
    r.take_positional();
    const auto& pos = r.positional();
    if (pos.size() != 1) {
      r.diag()->error(pos.empty() ? r.last_location() : pos[1]->loc, "expected one socket path in " + r.what(),
                      "write e.g. unix-dgram(\"/dev/log\")");
      return nullptr;
    }
    c.path = pos[0]->value;
  }
  r.octal("perm", &c.perm);
  int64_t n;
  if (r.integer("max-connections", &n, 1, 1000000)) c.max_connections = static_cast<int>(n);
  r.owner_group("", "", &c.uid, &c.gid);
  for (const char* name : {"so-rcvbuf", "so-sndbuf", "so-keepalive", "optional", "create-dirs", "pass-unix-credentials",
                           "listen-backlog"}) {
    r.accepted_not_implemented(name);
  }
  return std::make_unique<UnixSourceDriver>(std::move(c), kind);
}

}  // namespace

void register_unix_sources(DriverRegistry& registry) {
  registry.add_source("unix-stream", [](OptionReader& r, const BuildContext& ctx) {
    return build_unix(r, ctx, UnixSourceDriver::Kind::kStream);
  });
  registry.add_source("unix-dgram", [](OptionReader& r, const BuildContext& ctx) {
    return build_unix(r, ctx, UnixSourceDriver::Kind::kDgram);
  });
  registry.add_source("system", [](OptionReader& r, const BuildContext& ctx) {
    return build_unix(r, ctx, UnixSourceDriver::Kind::kSystem);
  });
}

}  // namespace logferry
