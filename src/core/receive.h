// Receiving syslog from peers: the options every receiving driver shares,
// and StreamSource, the listener for stream sockets (TCP and unix-stream).
#pragma once

#include <sys/resource.h>
#include <sys/socket.h>

#include <cerrno>
#include <list>
#include <string>
#include <vector>

#include <uv.h>

#include "core/config.h"
#include "core/framing.h"
#include "core/syslog_parser.h"

namespace logferry {

// What a listener does with the messages it reads; shared by the network,
// unix-socket and system() sources.
struct ReceiveOptions {
  ParseOptions parse;
  Framing framing = Framing::kAuto;
  size_t log_msg_size = 65536;
  bool keep_hostname = false;    // syslog-ng's default: HOST becomes the peer
  bool chain_hostnames = false;
  std::string host_override;
  std::string program_override;
  int default_facility = -1;     // -1: as parsed
  int default_severity = -1;
};

// Reads the options every receiving driver shares (flags(), log-msg-size(),
// keep-hostname(), time-zone(), host-override(), ...).
// `persist_name_handled`: the driver reads persist-name() itself.
void read_receive_options(OptionReader& r, const GlobalOptions& g, ReceiveOptions* o, bool persist_name_handled = false);

// This machine's host name (read once): HOST of messages from local sources.
const std::string& local_host();

// Applies keep-hostname, chain-hostnames and the overrides after parsing.
void finish_received_message(const ReceiveOptions& o, LogMessage& m);

// Parses one frame into the host's next message, counting cuts and parse
// errors on `counters`.  `peer` becomes HOST_FROM and SOURCEIP.  Returns the
// message, for the caller to add to.
LogMessage& receive_frame(SourceHost* host, Counters& counters, const ReceiveOptions& o, const std::string& peer,
                   std::string_view frame, bool truncated);

// Formats a peer address; remembers the last one so a busy peer costs one
// comparison per message instead of a formatting call.
class PeerName {
 public:
  const std::string& of(const sockaddr* sa);

 private:
  sockaddr_storage last_{};
  size_t last_len_ = 0;
  std::string name_;
};

// Listens for stream connections (TCP or unix-stream) and frames and parses
// what they send.  Shared by network(), syslog(), unix-stream() and system().
class StreamSource : public Source {
 public:
  StreamSource(const ReceiveOptions& r, int max_connections) : recv_(r), max_connections_(max_connections) {}

  // Stops listening and ends every connection.  What peers sent before the
  // stop and the kernel still holds is read first, so that a SIGTERM right
  // after a client finished loses nothing.
  void stop() override {
    if (!listening_) return;
    listening_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(listener_), [](uv_handle_t* h) { free_listener(h); });
    listener_ = nullptr;
    for (auto& c : conns_) {
      if (c.closing) continue;
      drain_connection(&c);
      close_connection(&c, true);
    }
  }

  void pause() override {
    paused_ = true;
    for (auto& c : conns_)
      if (!c.closing) uv_read_stop(c.stream());
  }

  void resume() override {
    paused_ = false;
    for (auto& c : conns_)
      if (!c.closing) start_read(&c);
  }

 protected:
  struct Connection {
    union {
      uv_tcp_t tcp;
      uv_pipe_t pipe;
    } h;
    StreamSource* owner;
    FrameDecoder decoder;
    std::string peer;
    bool closing = false;
    std::list<Connection>::iterator self;
    uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&h); }
    Connection(StreamSource* o, Framing f, size_t max) : owner(o), decoder(f, max) {}
  };

  // Listener handles are allocated as this union (TCP or unix-stream) and
  // freed as it.
  union ListenerHandle {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  };
  static void free_listener(uv_handle_t* h);

  // Reads what the kernel holds for a connection, without waiting
  // (at most kDrainLimit bytes, so a peer that keeps sending cannot stall
  // the shutdown).
  void drain_connection(Connection* c) {
    static constexpr size_t kDrainLimit = 64 << 20;
    uv_os_fd_t fd;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c->h), &fd) != 0) return;
    size_t total = 0;
    while (total < kDrainLimit) {
      ssize_t n = ::recv(fd, read_buf_.data(), read_buf_.size(), MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      total += static_cast<size_t>(n);
      c->decoder.feed(std::string_view(read_buf_.data(), static_cast<size_t>(n)), [&](std::string_view f, bool t) {
        receive_frame(host_, counters, recv_, c->peer, f, t);
      });
      host_->commit();
    }
  }

  bool listen_on(uv_stream_t* listener, std::string* error, const std::string& what) {
    reserve_descriptors();
    listener_ = listener;
    listener->data = this;
    int rc = uv_listen(listener, 1024, [](uv_stream_t* s, int status) {
      static_cast<StreamSource*>(s->data)->on_connection(status);
    });
    if (rc != 0) {
      *error = "cannot listen on " + what + ": " + uv_strerror(rc);
      return false;
    }
    listening_ = true;
    return true;
  }

  // Creates the handle for a new connection (tcp or pipe).
  virtual int init_connection(Connection* c) = 0;
  virtual std::string peer_of(Connection* c) = 0;

  // Makes room for max-connections() file descriptors (raising the soft
  // limit up to the hard one) and keeps a reserve for files and other
  // sockets.  Connections beyond what the limit allows are refused and
  // counted like those beyond max-connections(): reaching EMFILE would make
  // libuv accept and close waiting peers itself, uncounted.
  void reserve_descriptors() {
    constexpr rlim_t kReserve = 256;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rlim_t want = static_cast<rlim_t>(max_connections_) + kReserve;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
      rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? want : std::min(want, rl.rlim_max);
      setrlimit(RLIMIT_NOFILE, &rl);
      getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
      int allowed = rl.rlim_cur > kReserve ? static_cast<int>(rl.rlim_cur - kReserve) : static_cast<int>(rl.rlim_cur / 2);
      if (allowed < max_connections_) {
        host_->internal_log(4, "max-connections(" + std::to_string(max_connections_) + ") is more than the open-file limit (" +
                                   std::to_string(rl.rlim_cur) + ") allows; at most " + std::to_string(allowed) +
                                   " connections are accepted (raise LimitNOFILE / ulimit -n)");
        max_connections_ = std::max(1, allowed);
      }
    }
  }

  void on_connection(int status) {
    if (!listening_) return;
    if (status < 0) {
      Counters::add(counters.errors);
      return;
    }
    conns_.emplace_back(this, recv_.framing, recv_.log_msg_size);
    Connection* c = &conns_.back();
    c->self = std::prev(conns_.end());
    init_connection(c);
    c->h.tcp.data = c;
    if (uv_accept(listener_, c->stream()) != 0) {
      close_connection(c, false);
      return;
    }
    if (static_cast<int>(conns_.size()) > max_connections_) {
      Counters::add(counters.errors);
      if (!warned_limit_) {
        host_->internal_log(4, "max-connections(" + std::to_string(max_connections_) +
                                   ") reached; new connections are refused until others close");
        warned_limit_ = true;
      }
      close_connection(c, false);
      return;
    }
    c->peer = peer_of(c);
    if (!paused_) start_read(c);
  }

  void start_read(Connection* c) {
    uv_read_start(
        c->stream(),
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
          auto* conn = static_cast<Connection*>(h->data);
          auto& buf = conn->owner->read_buf_;
          *b = uv_buf_init(buf.data(), static_cast<unsigned>(buf.size()));
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
          auto* conn = static_cast<Connection*>(s->data);
          conn->owner->on_read(conn, n, b);
        });
  }

  void on_read(Connection* c, ssize_t n, const uv_buf_t* b) {
    if (n > 0) {
      c->decoder.feed(std::string_view(b->base, static_cast<size_t>(n)), [&](std::string_view f, bool t) {
        receive_frame(host_, counters, recv_, c->peer, f, t);
      });
      host_->commit();
      return;
    }
    if (n < 0) {
      if (n != UV_EOF) Counters::add(counters.errors);
      close_connection(c, true);
    }
  }

  // Ends a connection; with `flush`, a partial last frame still counts.
  void close_connection(Connection* c, bool flush) {
    if (c->closing) return;
    c->closing = true;
    if (flush) {
      c->decoder.finish([&](std::string_view f, bool t) { receive_frame(host_, counters, recv_, c->peer, f, t); });
      host_->commit();
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&c->h), [](uv_handle_t* h) {
      auto* conn = static_cast<Connection*>(h->data);
      conn->owner->conns_.erase(conn->self);
    });
  }

  ReceiveOptions recv_;
  int max_connections_;
  SourceHost* host_ = nullptr;
  uv_stream_t* listener_ = nullptr;
  bool listening_ = false;
  bool paused_ = false;
  bool warned_limit_ = false;
  std::list<Connection> conns_;
  std::vector<char> read_buf_ = std::vector<char>(65536);
};


}  // namespace logferry
