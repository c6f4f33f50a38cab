#include "relay/network_destination.h"

#include <linux/sockios.h>
#include <netdb.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>

#include "core/format.h"

namespace logferry {

namespace {

std::string host_port(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

}  // namespace

std::string describe_network_destination(const NetworkDestinationConfig& c) {
  std::string s = c.driver + "() " + (c.tcp ? "tcp" : "udp") + (c.ip_protocol == 6 ? "6" : "") + " " +
                  host_port(c.servers.empty() ? std::string("?") : c.servers[0], c.port);
  if (c.servers.size() > 1) {
    s += " failover(";
    for (size_t i = 1; i < c.servers.size(); ++i) s += (i > 1 ? " " : "") + host_port(c.servers[i], c.port);
    s += ")";
    if (c.failback)
      s += " failback(probe every " + std::to_string(c.probe_interval) + "s, " + std::to_string(c.probes_required) +
           " probes)";
  }
  return s;
}

namespace {

// A connection that lived this long was "stable": its loss restarts the
// backoff at 1 s.
constexpr uint64_t kStableMs = 5000;
// Bytes the peer's TCP acknowledged less than this long ago still count as
// possibly lost when the connection is reset (the peer may have acked them
// without its application reading them).
constexpr uint64_t kHoldMs = 2000;
// A pending buffer this large is written without waiting for the end of the
// batch.
constexpr size_t kEarlyWrite = 1 << 20;
// Shutdown: how often progress is checked, and the longest wait in all.
constexpr uint64_t kGraceCheckMs = 250;
constexpr uint64_t kMaxShutdownMs = 60000;

class NetworkDestination;

// One write handed to the kernel on a TCP connection: the stream offset it
// ended at, its messages, and when it was written.
struct SentChunk {
  uint64_t end;
  uint64_t msgs;
  uint64_t at_ms;
};

// One TCP connection or connected UDP socket (or a failback probe).  It is
// heap-allocated because closing is asynchronous: libuv calls the callbacks
// of its pending requests (with UV_ECANCELED) and then its close callback,
// which deletes it.  `dead` tells those late callbacks to do nothing.
struct Conn {
  Conn() { memset(&h, 0, sizeof(h)); }

  NetworkDestination* owner = nullptr;
  union {
    uv_tcp_t tcp;
    uv_udp_t udp;
  } h;
  uv_connect_t connect_req{};
  uv_write_t write_req{};
  bool tcp = true;
  bool probe = false;
  bool dead = false;
  bool connected = false;
  bool writing = false;   // a uv_write (TCP) or a batch of uv_udp_send (UDP) is in flight
  bool refused = false;   // UDP: the peer answered "port unreachable"
  int server = 0;
  std::string peer;       // "host:port" as configured
  std::string addr;       // the address it connected to
  uint64_t connected_ms = 0;

  // The write in flight: its bytes and messages (UDP: end offset of each datagram).
  std::string wbuf;
  uint64_t wmsgs = 0;
  std::vector<size_t> wends;
  std::unique_ptr<uv_udp_send_t[]> sends;
  size_t sends_left = 0;

  // TCP: bytes handed to the kernel so far, and the writes that may not be
  // acknowledged yet (trimmed by sampling SIOCOUTQ).
  uint64_t sent_bytes = 0;
  std::deque<SentChunk> sent;

  uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(&h); }
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&h.tcp); }
  int fd() {
    uv_os_fd_t fd = -1;
    if (uv_fileno(handle(), &fd) != 0) return -1;
    return fd;
  }
};

struct Resolve {
  NetworkDestination* owner = nullptr;
  uv_getaddrinfo_t req{};
  bool probe = false;
  bool cancelled = false;
};

std::string address_text(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN + 8] = {0};
  if (sa->sa_family == AF_INET6) {
    uv_ip6_name(reinterpret_cast<const sockaddr_in6*>(sa), buf, sizeof(buf));
    return std::string("[") + buf + "]:" + std::to_string(ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port));
  }
  uv_ip4_name(reinterpret_cast<const sockaddr_in*>(sa), buf, sizeof(buf));
  return std::string(buf) + ":" + std::to_string(ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port));
}

std::string seconds_text(uint64_t ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  char buf[32];
  snprintf(buf, sizeof(buf), "%.1f s", static_cast<double>(ms) / 1000.0);
  return buf;
}

// The running destination.  Everything happens on the output thread's loop:
// deliver() renders into `pending_`; flush() hands all of it to one write
// (uv_try_write first, uv_write for what the kernel did not take at once),
// so there is at most one write in flight plus the pending buffer.  The
// connection is made (and re-made) asynchronously: uv_getaddrinfo at every
// attempt, uv_tcp_connect, and a uv_timer for the backoff between rounds.
class NetworkDestination : public Destination {
 public:
  explicit NetworkDestination(const NetworkDestinationConfig& c)
      : cfg_(c), name_(describe_network_destination(c)),
        reopen_ms_(static_cast<uint64_t>(std::max<int64_t>(c.time_reopen, 1)) * 1000) {
    for (const auto& s : cfg_.servers) peers_.push_back(host_port(s, cfg_.port));
  }

  // Destroyed without close(): the engine gave up starting after open()
  // (another driver failed) and its loop has not run yet.  Close the
  // handles now, on this thread, so that none outlives this object.
  ~NetworkDestination() override {
    if (!started_ || outstanding_ == 0) return;
    pending_.clear();
    ends_.clear();
    pending_msgs_ = 0;
    closing_ = true;
    finish_close();
    while (outstanding_ > 0) uv_run(loop_, UV_RUN_ONCE);
  }

  bool open(uv_loop_t* loop, std::string*) override {
    // Connect now, so that the connection is up when the first messages
    // come (the output loop does not run while the engine routes a burst).
    loop_ = loop;
    start();
    return true;
  }

  void deliver(const LogMessage& msg) override {
    start();
    if (done_ || over_cap()) {
      Counters::add(counters.dropped_queue_full);
      if (!dropping_) {
        dropping_ = true;
        report(std::to_string(pending_msgs_) + " messages (" + std::to_string(pending_.size()) + " bytes) wait for " +
               current_peer() + (conn_ && conn_->connected ? "" : " (not connected)") +
               "; dropping new messages until it takes them (counted as dropped_queue_full)");
      }
      ++dropped_episode_;
      return;
    }
    size_t start = pending_.size();
    render(msg, pending_);
    if (cfg_.no_multi_line) {
      size_t end = pending_.size();
      if (end > start && pending_[end - 1] == '\n' && !cfg_.octet_counting) --end;
      for (size_t i = start; i < end; ++i)
        if (pending_[i] == '\n' || pending_[i] == '\r') pending_[i] = ' ';
    }
    if (!cfg_.tcp) {
      if (pending_.size() - start > kMaxDatagram) {
        pending_.resize(start + kMaxDatagram);
        Counters::add(counters.dropped_too_long);
      }
      ends_.push_back(pending_.size());
    }
    ++pending_msgs_;
    if (pending_.size() >= kEarlyWrite) flush();
  }

  void flush() override {
    Conn* c = conn_;
    if (!c || !c->connected || c->writing || pending_msgs_ == 0) return;
    if (cfg_.tcp) {
      write_tcp(c);
    } else {
      send_udp(c);
    }
  }

  void tick() override {
    start();
    if (conn_ && conn_->connected) trim_acknowledged(conn_);
  }

  void close() override {
    if (!started_ || closing_) return;
    closing_ = true;
    stop_probing();
    flush();
    if (done_) return;
    if (nothing_left()) {
      finish_close();
      return;
    }
    if (state_ == State::kWaiting) {
      // Shutting down while waiting to reconnect: one more round now.
      uv_timer_stop(&timer_);
      failed_in_round_ = 0;
      start_connect();
      if (done_) return;
    }
    // Pending messages may take as long as the server keeps taking them;
    // shutdown_grace_ms without progress (or kMaxShutdownMs in all) ends it.
    grace_started_ms_ = last_progress_ms_ = uv_now(loop_);
    last_progress_ = progress();
    uv_timer_start(&grace_timer_, [](uv_timer_t* t) { static_cast<NetworkDestination*>(t->data)->grace_check(); },
                   kGraceCheckMs, kGraceCheckMs);
  }

 private:
  enum class State { kIdle, kResolving, kConnecting, kConnected, kWaiting, kDone };

  // The pending buffer is full: log-fifo-size() messages while no
  // connection is up (they may wait long), and max_pending_bytes always
  // (a connected but slower server: the engine's flow control does not
  // reach past deliver(), so this is what bounds memory then).
  bool over_cap() const {
    if (pending_.size() >= cfg_.max_pending_bytes) return true;
    bool link = state_ == State::kResolving || state_ == State::kConnecting || state_ == State::kConnected;
    return pending_msgs_ >= cfg_.max_pending_messages && !link;
  }

  // ---- rendering -------------------------------------------------------

  void render(const LogMessage& msg, std::string& out) {
    switch (cfg_.format) {
      case NetworkDestinationConfig::Format::kRfc3164:
        format_rfc3164(msg, cfg_.render, out);
        break;
      case NetworkDestinationConfig::Format::kTemplate:
        cfg_.templ->render(msg, cfg_.render, out);
        break;
      case NetworkDestinationConfig::Format::kRfc5424: {
        const LogMessage* m = &msg;
        if (cfg_.templ) {
          // The template renders the MSG part, as in syslog-ng.
          scratch_ = msg;
          body_.clear();
          cfg_.templ->render(msg, cfg_.render, body_);
          scratch_.set(Field::kMessage, body_);
          scratch_.flags &= ~static_cast<uint32_t>(kFlagUtf8Bom);
          m = &scratch_;
        }
        format_rfc5424(*m, cfg_.render, cfg_.octet_counting, out);
        // One datagram per message: no line end (RFC 5426).
        if (!cfg_.tcp && !out.empty() && out.back() == '\n') out.pop_back();
        break;
      }
    }
  }

  // ---- connecting ------------------------------------------------------

  void start() {
    if (started_ || !loop_) return;
    started_ = true;
    for (uv_timer_t* t : {&timer_, &probe_timer_, &grace_timer_}) {
      uv_timer_init(loop_, t);
      t->data = this;
      ++outstanding_;
    }
    start_connect();
  }

  const std::string& current_peer() const { return peers_[static_cast<size_t>(server_)]; }

  Conn* new_conn(int server, bool probe) {
    auto* c = new Conn();
    c->owner = this;
    c->tcp = cfg_.tcp;
    c->probe = probe;
    c->server = server;
    c->peer = peers_[static_cast<size_t>(server)];
    int rc = cfg_.tcp ? uv_tcp_init(loop_, &c->h.tcp) : uv_udp_init(loop_, &c->h.udp);
    if (rc != 0) {
      delete c;
      return nullptr;
    }
    ++outstanding_;
    c->handle()->data = c;
    c->connect_req.data = c;
    c->write_req.data = c;
    return c;
  }

  static void close_conn(Conn* c) {
    if (c->dead) return;
    c->dead = true;
    if (c->tcp && c->connected) uv_read_stop(c->stream());
    uv_close(c->handle(), [](uv_handle_t* h) {
      auto* hc = static_cast<Conn*>(h->data);
      --hc->owner->outstanding_;
      delete hc;
    });
  }

  bool resolve(int server, bool probe) {
    auto* r = new Resolve();
    r->owner = this;
    r->probe = probe;
    r->req.data = r;
    addrinfo hints{};
    hints.ai_family = cfg_.ip_protocol == 6 ? AF_INET6 : AF_INET;
    hints.ai_socktype = cfg_.tcp ? SOCK_STREAM : SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV;
    std::string port = std::to_string(cfg_.port);
    int rc = uv_getaddrinfo(loop_, &r->req, on_resolved, cfg_.servers[static_cast<size_t>(server)].c_str(),
                            port.c_str(), &hints);
    if (rc != 0) {
      delete r;
      resolve_error_ = uv_strerror(rc);
      return false;
    }
    ++outstanding_;
    (probe ? probe_resolving_ : resolving_) = r;
    return true;
  }

  static void cancel_resolve(Resolve* r) {
    if (!r) return;
    r->cancelled = true;
    uv_cancel(reinterpret_cast<uv_req_t*>(&r->req));  // the callback still runs (and frees r)
  }

  static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
    auto* r = static_cast<Resolve*>(req->data);
    NetworkDestination* self = r->owner;
    bool cancelled = r->cancelled, probe = r->probe;
    std::vector<sockaddr_storage> addrs;
    if (status == 0) {
      for (addrinfo* ai = res; ai; ai = ai->ai_next) {
        if (!ai->ai_addr || ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
        sockaddr_storage ss{};
        memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
        addrs.push_back(ss);
      }
    }
    if (res) uv_freeaddrinfo(res);
    delete r;
    --self->outstanding_;
    if (cancelled) return;
    std::string err = status == 0 ? (addrs.empty() ? std::string("no address") : std::string())
                                   : std::string(uv_strerror(status));
    if (probe) {
      self->probe_resolving_ = nullptr;
      self->probe_resolved(addrs, err);
    } else {
      self->resolving_ = nullptr;
      self->resolved(addrs, err);
    }
  }

  void start_connect() {
    if (done_) return;
    state_ = State::kResolving;
    if (!resolve(server_, false)) connect_failed("cannot resolve " + cfg_.servers[static_cast<size_t>(server_)] + ": " + resolve_error_);
  }

  void resolved(const std::vector<sockaddr_storage>& addrs, const std::string& err) {
    if (done_) return;
    if (!err.empty()) {
      connect_failed("cannot resolve " + cfg_.servers[static_cast<size_t>(server_)] + ": " + err);
      return;
    }
    addrs_ = addrs;
    addr_idx_ = 0;
    connect_next_address("");
  }

  // Tries the resolved addresses in order.
  void connect_next_address(std::string last_error) {
    while (addr_idx_ < addrs_.size()) {
      const sockaddr* sa = reinterpret_cast<const sockaddr*>(&addrs_[addr_idx_++]);
      Conn* c = new_conn(server_, false);
      if (!c) {
        last_error = "cannot create a socket";
        continue;
      }
      c->addr = address_text(sa);
      if (cfg_.tcp) {
        int rc = uv_tcp_connect(&c->connect_req, &c->h.tcp, sa, on_connect);
        if (rc != 0) {
          last_error = uv_strerror(rc);
          close_conn(c);
          continue;
        }
        conn_ = c;
        state_ = State::kConnecting;
        uv_timer_start(&timer_, on_timer, static_cast<uint64_t>(cfg_.connect_timeout_ms), 0);
        return;
      }
      int rc = uv_udp_connect(&c->h.udp, sa);
      if (rc != 0) {
        last_error = uv_strerror(rc);
        close_conn(c);
        continue;
      }
      conn_ = c;
      connected(c);
      return;
    }
    connect_failed(last_error.empty() ? "no address to connect to" : last_error);
  }

  static void on_connect(uv_connect_t* req, int status) {
    auto* c = static_cast<Conn*>(req->data);
    if (c->dead) return;
    NetworkDestination* self = c->owner;
    if (c->probe) {
      self->probe_done(c, status);
      return;
    }
    uv_timer_stop(&self->timer_);
    if (status != 0) {
      self->conn_ = nullptr;
      close_conn(c);
      self->connect_next_address(uv_strerror(status));
      return;
    }
    self->connected(c);
  }

  static void on_timer(uv_timer_t* t) {
    auto* self = static_cast<NetworkDestination*>(t->data);
    if (self->state_ == State::kWaiting) {
      self->start_connect();
    } else if (self->state_ == State::kConnecting && self->conn_) {
      Conn* c = self->conn_;
      self->conn_ = nullptr;
      close_conn(c);
      self->connect_next_address("connection timed out after " +
                                 seconds_text(static_cast<uint64_t>(self->cfg_.connect_timeout_ms)));
    }
  }

  void connected(Conn* c) {
    c->connected = true;
    c->connected_ms = uv_now(loop_);
    state_ = State::kConnected;
    failed_in_round_ = 0;
    if (c->tcp) {
      uv_tcp_nodelay(&c->h.tcp, 1);
      if (cfg_.so_keepalive) uv_tcp_keepalive(&c->h.tcp, 1, 60);
      // Nothing is expected from the server; reading makes its close (FIN or
      // RST) known at once instead of at the next write.
      uv_read_start(c->stream(),
                    [](uv_handle_t*, size_t, uv_buf_t* buf) {
                      static thread_local char discard[16384];
                      *buf = uv_buf_init(discard, sizeof(discard));
                    },
                    on_read);
    }
    if (cfg_.so_sndbuf > 0) {
      int v = cfg_.so_sndbuf;
      uv_send_buffer_size(c->handle(), &v);
    }
    if (trouble_) {
      report((c->tcp ? "connected to " : "sending to ") + c->peer + " (" + c->addr + ")" +
             (pending_msgs_ ? "; " + std::to_string(pending_msgs_) + " messages waiting are sent now" : ""));
      trouble_ = false;
    }
    if (cfg_.failback && server_ != 0 && !closing_) start_probing();
    flush();
  }

  // A connection attempt to server_ failed: try the next server at once,
  // or after a full round of failures wait (1 s, doubling up to
  // time-reopen()).  While shutting down, a failed round ends the wait.
  void connect_failed(const std::string& reason) {
    state_ = State::kIdle;
    trouble_ = true;
    std::string who = current_peer();
    int64_t delay = plan_next();
    report("cannot connect to " + who + ": " + reason + "; " + plan_text(delay));
    execute(delay);
  }

  int64_t plan_next() {
    size_t n = cfg_.servers.size();
    ++failed_in_round_;
    if (n > 1) server_ = (server_ + 1) % static_cast<int>(n);
    if (failed_in_round_ < n) return 0;
    failed_in_round_ = 0;
    if (closing_) return -1;
    uint64_t d = backoff_ms_;
    backoff_ms_ = std::min(backoff_ms_ * 2, reopen_ms_);
    return static_cast<int64_t>(d);
  }

  std::string plan_text(int64_t delay) const {
    if (delay < 0) return "giving up (shutting down)";
    if (delay == 0) return "trying " + current_peer() + " now";
    return "retrying " + current_peer() + " in " + seconds_text(static_cast<uint64_t>(delay));
  }

  void execute(int64_t delay) {
    if (delay < 0) {
      give_up("no server reachable");
    } else if (delay == 0) {
      start_connect();
    } else {
      state_ = State::kWaiting;
      uv_timer_start(&timer_, on_timer, static_cast<uint64_t>(delay), 0);
    }
  }

  // ---- TCP writing -----------------------------------------------------

  // True when the peer has closed (or reset) the connection: checked right
  // before a write, so that messages are not written into a dead socket when
  // its FIN arrived in the same loop iteration as they did.
  bool peer_gone(Conn* c, std::string* reason, bool* fresh) {
    int fd = c->fd();
    if (fd < 0) return false;
    char b;
    ssize_t r = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r == 0) {
      *reason = "closed by the peer";
      *fresh = true;
      return true;
    }
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      *reason = strerror(errno);
      *fresh = false;
      return true;
    }
    return false;
  }

  void write_tcp(Conn* c) {
    std::string reason;
    bool fresh = false;
    if (peer_gone(c, &reason, &fresh)) {
      connection_lost(c, reason, fresh);
      return;
    }
    c->wbuf.swap(pending_);
    pending_.clear();
    c->wmsgs = pending_msgs_;
    pending_msgs_ = 0;
    c->writing = true;
    uv_buf_t b = uv_buf_init(c->wbuf.data(), static_cast<unsigned>(c->wbuf.size()));
    int n = uv_try_write(c->stream(), &b, 1);
    if (n >= 0 && static_cast<size_t>(n) == c->wbuf.size()) {
      write_done(c);
      return;
    }
    if (n < 0 && n != UV_EAGAIN) {
      connection_lost(c, uv_strerror(n), false);
      return;
    }
    size_t off = n > 0 ? static_cast<size_t>(n) : 0;
    b = uv_buf_init(c->wbuf.data() + off, static_cast<unsigned>(c->wbuf.size() - off));
    int rc = uv_write(&c->write_req, c->stream(), &b, 1, [](uv_write_t* req, int status) {
      auto* wc = static_cast<Conn*>(req->data);
      if (wc->dead) return;  // accounted for when it was closed
      if (status != 0) {
        wc->owner->connection_lost(wc, uv_strerror(status), false);
      } else {
        wc->owner->write_done(wc);
      }
    });
    if (rc != 0) connection_lost(c, uv_strerror(rc), false);
  }

  void write_done(Conn* c) {
    c->sent_bytes += c->wbuf.size();
    c->sent.push_back(SentChunk{c->sent_bytes, c->wmsgs, uv_now(loop_)});
    Counters::add(counters.out, c->wmsgs);
    c->wbuf.clear();
    c->wmsgs = 0;
    c->writing = false;
    after_write(c);
  }

  // The write in flight is done: report the end of a dropping episode,
  // switch back to the primary if that is due, write what is pending, or
  // finish shutting down.
  void after_write(Conn* c) {
    if (dropping_ && !over_cap()) {
      report(current_peer() + " takes messages again; " + std::to_string(dropped_episode_) +
             " were dropped meanwhile");
      dropping_ = false;
      dropped_episode_ = 0;
    }
    if (switch_back_ && !closing_) {
      switch_back();
      return;
    }
    if (pending_msgs_ > 0) {
      flush();
      return;
    }
    if (closing_ && c == conn_) finish_close();
  }

  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
    auto* c = static_cast<Conn*>(s->data);
    if (c->dead || nread >= 0) return;  // bytes from the server are discarded
    c->owner->connection_lost(c, nread == UV_EOF ? "closed by the peer" : uv_strerror(static_cast<int>(nread)),
                              nread == UV_EOF);
  }

  // Drops the records of writes the peer acknowledged a while ago.
  void trim_acknowledged(Conn* c) {
    if (!c->tcp || c->writing || c->sent.empty()) return;
    int outq = 0;
    int fd = c->fd();
    if (fd < 0 || ioctl(fd, SIOCOUTQ, &outq) != 0 || outq < 0) return;
    uint64_t acked = c->sent_bytes >= static_cast<uint64_t>(outq) ? c->sent_bytes - static_cast<uint64_t>(outq) : 0;
    uint64_t now = uv_now(loop_);
    while (!c->sent.empty() && c->sent.front().end <= acked && now - c->sent.front().at_ms >= kHoldMs)
      c->sent.pop_front();
  }

  // Messages that may not have reached the peer when connection c broke:
  // those of the write that failed, and those of earlier writes that the
  // peer's TCP had not acknowledged (fresh: asked the kernel now, which is
  // possible after a FIN; else as of the last check, once a second, keeping
  // the last kHoldMs of writes).
  uint64_t possibly_lost(Conn* c, bool fresh) {
    if (!c->tcp) return 0;
    uint64_t n = c->writing ? c->wmsgs : 0;
    bool have = false;
    uint64_t acked = 0;
    int outq = 0;
    int fd = c->fd();
    if (fresh && fd >= 0 && ioctl(fd, SIOCOUTQ, &outq) == 0 && outq >= 0) {
      have = true;
      acked = c->sent_bytes >= static_cast<uint64_t>(outq) ? c->sent_bytes - static_cast<uint64_t>(outq) : 0;
    }
    for (const auto& s : c->sent)
      if (!have || s.end > acked) n += s.msgs;
    return n;
  }

  // The TCP connection broke (EOF, reset, a write error).  Reports what may
  // have been lost, then reconnects (the next server first, with failover).
  void connection_lost(Conn* c, const std::string& reason, bool fresh) {
    if (c->dead) return;
    uint64_t lost = possibly_lost(c, fresh);
    if (c->writing) Counters::add(counters.errors, c->wmsgs);  // the write that failed
    lost_total_ += lost;
    ++breaks_;
    uint64_t up = uv_now(loop_) - c->connected_ms;
    std::string text = "connection to " + c->peer + " lost (" + reason + "); up to " + std::to_string(lost) +
                       " messages may be lost";
    if (c == conn_) conn_ = nullptr;
    close_conn(c);
    state_ = State::kIdle;
    trouble_ = true;
    stop_probing();
    if (up >= kStableMs) backoff_ms_ = 1000;
    if (closing_ && pending_msgs_ == 0) {
      report(text);
      finish_close();
      return;
    }
    int64_t delay = plan_next();
    report(text + "; " + plan_text(delay));
    execute(delay);
  }

  // ---- UDP -------------------------------------------------------------

  // One datagram per message with uv_udp_try_send; what the kernel does not
  // take at once (EAGAIN) goes out with uv_udp_send as one batch in flight.
  void send_udp(Conn* c) {
    size_t start = 0, i = 0;
    bool refused = false;
    for (; i < ends_.size(); ++i) {
      size_t end = ends_[i];
      uv_buf_t b = uv_buf_init(pending_.data() + start, static_cast<unsigned>(end - start));
      int rc = uv_udp_try_send(&c->h.udp, &b, 1, nullptr);
      if (rc == UV_EAGAIN) break;
      if (rc == UV_ECONNREFUSED) {
        // The ICMP answer to an earlier datagram; this one was not sent.
        refused = true;
        break;
      }
      if (rc < 0) {
        Counters::add(counters.errors);
      } else {
        Counters::add(counters.out);
      }
      start = end;
    }
    pending_.erase(0, start);
    ends_.erase(ends_.begin(), ends_.begin() + static_cast<ptrdiff_t>(i));
    for (size_t& e : ends_) e -= start;
    pending_msgs_ = ends_.size();
    if (refused) {
      udp_refused(c);
      return;
    }
    if (ends_.empty()) {
      after_write(c);
      return;
    }
    c->wbuf.swap(pending_);
    c->wends.swap(ends_);
    pending_.clear();
    ends_.clear();
    pending_msgs_ = 0;
    size_t k = c->wends.size();
    c->sends.reset(new uv_udp_send_t[k]);
    c->sends_left = 0;
    c->writing = true;
    start = 0;
    for (size_t j = 0; j < k; ++j) {
      uv_buf_t b = uv_buf_init(c->wbuf.data() + start, static_cast<unsigned>(c->wends[j] - start));
      start = c->wends[j];
      c->sends[j].data = c;
      int rc = uv_udp_send(&c->sends[j], &c->h.udp, &b, 1, nullptr, [](uv_udp_send_t* req, int status) {
        auto* sc = static_cast<Conn*>(req->data);
        if (status < 0) {
          Counters::add(sc->owner->counters.errors);
          if (status == UV_ECONNREFUSED) sc->refused = true;
        } else {
          Counters::add(sc->owner->counters.out);
        }
        if (--sc->sends_left == 0) sc->owner->udp_batch_done(sc);
      });
      if (rc < 0) {
        Counters::add(counters.errors);
      } else {
        ++c->sends_left;
      }
    }
    if (c->sends_left == 0) udp_batch_done(c);
  }

  void udp_batch_done(Conn* c) {
    c->writing = false;
    c->wbuf.clear();
    c->wends.clear();
    if (c->dead) return;
    if (c->refused) {
      udp_refused(c);
      return;
    }
    after_write(c);
  }

  void udp_refused(Conn* c) {
    Counters::add(counters.errors);
    std::string peer = c->peer;
    if (c == conn_) conn_ = nullptr;
    close_conn(c);
    state_ = State::kIdle;
    trouble_ = true;
    stop_probing();
    int64_t delay = plan_next();
    report(peer + " answered port unreachable (nothing listens there): datagrams sent to it just before are lost; " +
           std::to_string(pending_msgs_) + " messages wait; " + plan_text(delay));
    execute(delay);
  }

  // ---- failback --------------------------------------------------------

  void start_probing() {
    probe_successes_ = 0;
    uint64_t ms = static_cast<uint64_t>(cfg_.probe_interval) * 1000;
    uv_timer_start(&probe_timer_, [](uv_timer_t* t) { static_cast<NetworkDestination*>(t->data)->probe(); }, ms, ms);
  }

  void stop_probing() {
    if (!started_ || done_) return;
    uv_timer_stop(&probe_timer_);
    if (probe_) {
      close_conn(probe_);
      probe_ = nullptr;
    }
    cancel_resolve(probe_resolving_);
    probe_resolving_ = nullptr;
    probe_successes_ = 0;
    switch_back_ = false;
  }

  // Every tcp-probe-interval(): a TCP connect to the primary.
  void probe() {
    if (done_ || closing_ || server_ == 0 || !conn_ || !conn_->connected) {
      stop_probing();
      return;
    }
    if (probe_ || probe_resolving_) {
      // The last probe did not finish within an interval: it failed.
      if (probe_) close_conn(probe_);
      probe_ = nullptr;
      cancel_resolve(probe_resolving_);
      probe_resolving_ = nullptr;
      probe_successes_ = 0;
    }
    if (!resolve(0, true)) probe_successes_ = 0;
  }

  void probe_resolved(const std::vector<sockaddr_storage>& addrs, const std::string& err) {
    if (!err.empty() || addrs.empty()) {
      probe_successes_ = 0;
      return;
    }
    Conn* c = new_conn(0, true);
    if (!c) return;
    if (uv_tcp_connect(&c->connect_req, &c->h.tcp, reinterpret_cast<const sockaddr*>(&addrs[0]), on_connect) != 0) {
      close_conn(c);
      probe_successes_ = 0;
      return;
    }
    probe_ = c;
  }

  void probe_done(Conn* c, int status) {
    if (c == probe_) probe_ = nullptr;
    close_conn(c);
    if (status != 0) {
      probe_successes_ = 0;
      return;
    }
    if (++probe_successes_ < cfg_.probes_required) return;
    switch_back_ = true;
    if (conn_ && !conn_->writing) switch_back();
  }

  // The primary answered enough probes: leave the failover server (nothing
  // is in flight; the kernel still delivers what it holds) and connect to
  // the primary.
  void switch_back() {
    int64_t probes = probe_successes_;
    stop_probing();
    report("primary server " + peers_[0] + " accepted " + std::to_string(probes) +
           " probe connections; switching back to it from " + current_peer());
    if (conn_) {
      close_conn(conn_);
      conn_ = nullptr;
    }
    server_ = 0;
    failed_in_round_ = 0;
    backoff_ms_ = 1000;
    trouble_ = true;
    start_connect();
  }

  // ---- shutdown --------------------------------------------------------

  bool nothing_left() const { return pending_msgs_ == 0 && !(conn_ && conn_->writing); }

  // Changes whenever a write completes or libuv writes part of one.
  uint64_t progress() {
    uint64_t p = Counters::get(counters.out) * 1000003;
    if (conn_ && conn_->tcp && conn_->connected) p += uv_stream_get_write_queue_size(conn_->stream());
    return p;
  }

  void grace_check() {
    uint64_t now = uv_now(loop_);
    uint64_t p = progress();
    if (p != last_progress_) {
      last_progress_ = p;
      last_progress_ms_ = now;
    }
    if (now - last_progress_ms_ >= static_cast<uint64_t>(cfg_.shutdown_grace_ms)) {
      give_up(current_peer() + " took nothing for " + seconds_text(static_cast<uint64_t>(cfg_.shutdown_grace_ms)));
    } else if (now - grace_started_ms_ >= kMaxShutdownMs) {
      give_up("still not done after " + seconds_text(kMaxShutdownMs));
    }
  }

  // Shutdown could not send everything: count what is left and stop.
  void give_up(const std::string& reason) {
    if (done_) return;
    uint64_t pending = pending_msgs_;
    uint64_t inflight = conn_ && conn_->tcp && conn_->writing ? conn_->wmsgs : 0;
    if (pending) Counters::add(counters.dropped_queue_full, pending);
    if (inflight) {
      Counters::add(counters.errors, inflight);
      lost_total_ += inflight;
    }
    pending_.clear();
    ends_.clear();
    pending_msgs_ = 0;
    std::string text = "shutting down with " + std::to_string(pending) + " messages not sent";
    if (inflight) text += " and " + std::to_string(inflight) + " partly written";
    report(text + " (" + reason + ")");
    finish_close();
  }

  void finish_close() {
    if (done_) return;
    stop_probing();
    done_ = true;
    state_ = State::kDone;
    if (conn_) {
      close_conn(conn_);
      conn_ = nullptr;
    }
    cancel_resolve(resolving_);
    resolving_ = nullptr;
    for (uv_timer_t* t : {&timer_, &probe_timer_, &grace_timer_})
      uv_close(reinterpret_cast<uv_handle_t*>(t),
               [](uv_handle_t* h) { --static_cast<NetworkDestination*>(h->data)->outstanding_; });
    if (breaks_ > 0)
      report(std::to_string(breaks_) + " connection(s) broke while running; up to " + std::to_string(lost_total_) +
             " messages may have been lost in them");
  }

  void report(const std::string& text) const {
    fprintf(stderr, "logferry: destination %s: %s\n", name_.c_str(), text.c_str());
  }

  NetworkDestinationConfig cfg_;
  std::string name_;
  std::vector<std::string> peers_;  // "host:port" of each server
  uint64_t reopen_ms_;
  uv_loop_t* loop_ = nullptr;
  uv_timer_t timer_{};        // backoff wait, connect timeout
  uv_timer_t probe_timer_{};  // failback probes
  uv_timer_t grace_timer_{};  // shutdown: how long pending messages may take
  bool started_ = false;
  bool closing_ = false;
  bool done_ = false;
  State state_ = State::kIdle;

  Conn* conn_ = nullptr;
  Conn* probe_ = nullptr;
  Resolve* resolving_ = nullptr;
  Resolve* probe_resolving_ = nullptr;
  std::string resolve_error_;
  std::vector<sockaddr_storage> addrs_;
  size_t addr_idx_ = 0;
  int server_ = 0;
  size_t failed_in_round_ = 0;
  uint64_t backoff_ms_ = 1000;
  bool trouble_ = false;  // a failure was reported: report the next connect
  int64_t probe_successes_ = 0;
  bool switch_back_ = false;

  std::string pending_;
  size_t pending_msgs_ = 0;
  std::vector<size_t> ends_;  // UDP: end offset of each datagram in pending_
  bool dropping_ = false;
  uint64_t dropped_episode_ = 0;
  uint64_t grace_started_ms_ = 0;
  uint64_t last_progress_ms_ = 0;
  uint64_t last_progress_ = 0;

  uint64_t lost_total_ = 0;
  uint64_t breaks_ = 0;
  size_t outstanding_ = 0;  // our handles not yet closed, and resolutions running

  LogMessage scratch_;  // syslog() with template(): the message with MSG replaced
  std::string body_;
};

class NetworkDestinationDriver : public DestinationDriver {
 public:
  explicit NetworkDestinationDriver(NetworkDestinationConfig c) : cfg_(std::move(c)) {}
  std::string describe() const override { return describe_network_destination(cfg_); }
  std::unique_ptr<Destination> create() const override { return std::make_unique<NetworkDestination>(cfg_); }

 private:
  NetworkDestinationConfig cfg_;
};

std::shared_ptr<const Template> compile_template(OptionReader& r, const BuildContext& ctx, const std::string& text,
                                                 const Location& loc) {
  std::string err;
  if (const Template* named = ctx.find_template(text)) {
    return std::shared_ptr<const Template>(Template::compile(named->source(), &err));
  }
  auto t = Template::compile(text, &err);
  if (!t) {
    r.diag()->error(loc, "invalid template in " + r.what() + ": " + err);
    return nullptr;
  }
  return std::shared_ptr<const Template>(std::move(t));
}

// failover(servers("b" "c") failback(tcp-probe-interval(N) successful-probes-required(M)))
void read_failover(OptionReader& r, const ConfNode& node, NetworkDestinationConfig* c) {
  OptionReader fr(node, "failover() of " + r.what(), r.diag());
  std::vector<std::string> servers;
  if (fr.strings("servers", &servers)) {
    if (servers.empty()) r.diag()->error(fr.last_location(), "servers() of failover() lists no server",
                                         "write failover(servers(\"backup1.example.com\" \"backup2.example.com\"))");
    for (auto& s : servers) c->servers.push_back(s);
  } else {
    r.diag()->error(node.loc, "failover() of " + r.what() + " needs servers()",
                    "write failover(servers(\"backup1.example.com\" \"backup2.example.com\"))");
  }
  if (const ConfNode* fb = fr.child("failback")) {
    Location loc = fr.last_location();
    c->failback = true;
    OptionReader br(*fb, "failback() of " + r.what(), r.diag());
    br.integer("tcp-probe-interval", &c->probe_interval, 1, 86400);
    br.integer("successful-probes-required", &c->probes_required, 1, 1000);
    br.finish();
    if (!c->tcp) {
      r.diag()->warning(loc, "failback() probes the primary with TCP connections; with transport(\"udp\") it is not acted on");
      c->failback = false;
    }
  }
  fr.finish();
}

std::unique_ptr<DestinationDriver> build_network(OptionReader& r, const BuildContext& ctx, bool syslog_driver) {
  const GlobalOptions& g = ctx.options;
  NetworkDestinationConfig c;
  c.driver = syslog_driver ? "syslog" : "network";
  c.time_reopen = g.time_reopen;
  c.max_pending_messages = static_cast<size_t>(std::max<int64_t>(g.log_fifo_size, 1));
  c.render.frac_digits = g.frac_digits;
  c.zone = g.send_time_zone;
  c.render.time_zone = g.send_time_zone.get();
  bool ok = true;

  r.take_positional();
  const auto& pos = r.positional();
  if (pos.size() != 1 || pos[0]->value.empty()) {
    r.diag()->error(pos.size() > 1 ? pos[1]->loc : r.last_location(),
                    pos.size() > 1 ? "expected one host in " + r.what() : "expected the host to send to in " + r.what(),
                    "write " + c.driver + "(\"logs.example.com\" port(" + (syslog_driver ? "601" : "514") +
                        ")); for more servers use failover(servers(...))");
    ok = false;
  } else {
    c.servers.push_back(pos[0]->value);
  }

  int64_t n;
  bool port_set = false;
  if (r.integer("port", &n, 1, 65535)) {
    c.port = static_cast<int>(n);
    port_set = true;
  }
  std::string transport = "tcp";
  if (r.choice("transport", {"tcp", "udp", "tls", "tcp6", "udp6"}, &transport) && transport == "tls") {
    r.diag()->error(r.last_location(), "transport(\"tls\") is not supported yet in " + r.what(),
                    "use tcp, or a TLS tunnel (stunnel, spiped) in front of the server");
    ok = false;
  }
  c.tcp = transport.starts_with("tcp") || transport == "tls";
  if (transport.ends_with("6")) c.ip_protocol = 6;
  if (syslog_driver && !port_set) c.port = c.tcp ? 601 : 514;
  std::string proto;
  if (r.choice("ip-protocol", {"4", "6"}, &proto)) c.ip_protocol = proto == "6" ? 6 : 4;

  std::vector<std::string> flags;
  r.flags("flags", {"syslog-protocol", "no-multi-line", "threaded"}, &flags);
  bool rfc5424 = syslog_driver || std::find(flags.begin(), flags.end(), "syslog-protocol") != flags.end();
  c.no_multi_line = std::find(flags.begin(), flags.end(), "no-multi-line") != flags.end();
  std::string t;
  if (r.string("template", &t)) {
    c.templ = compile_template(r, ctx, t, r.last_location());
    if (!c.templ) ok = false;
  }
  if (rfc5424) {
    c.format = NetworkDestinationConfig::Format::kRfc5424;
    c.octet_counting = syslog_driver && c.tcp;
  } else if (c.templ) {
    c.format = NetworkDestinationConfig::Format::kTemplate;
  } else {
    c.format = NetworkDestinationConfig::Format::kRfc3164;
  }

  r.integer("time-reopen", &c.time_reopen, 1, 86400);
  if (r.integer("log-fifo-size", &n, 1, 100000000)) c.max_pending_messages = static_cast<size_t>(n);
  if (r.integer("frac-digits", &n, 0, 9)) c.render.frac_digits = static_cast<int>(n);
  std::string tz;
  for (const char* opt : {"time-zone", "send-time-zone"}) {
    if (!r.string(opt, &tz)) continue;
    std::string err;
    auto zone = TimeZone::parse(tz, &err);
    if (!zone) {
      r.diag()->error(r.last_location(), "invalid " + std::string(opt) + "('" + tz + "'): " + err);
      ok = false;
    } else {
      c.zone = zone;
      c.render.time_zone = zone.get();
    }
  }
  if (r.integer("so-sndbuf", &n, 0, 1 << 30)) c.so_sndbuf = static_cast<int>(n);
  r.yesno("so-keepalive", &c.so_keepalive);

  if (const ConfNode* fo = r.child("failover")) read_failover(r, *fo, &c);
  std::vector<std::string> more;
  if (r.strings("failover-servers", &more))  // syslog-ng 3.x's older spelling
    for (auto& s : more) c.servers.push_back(s);

  r.integer("flush-lines", &n, 0, 1000000);  // logferry writes at the end of every batch
  for (const char* name : {"disk-buffer", "tls", "spoof-source", "spoof-source-max-msglen", "localip", "localport",
                           "close-on-input", "keep-alive", "throttle", "flush-timeout", "ip-ttl", "ip-tos",
                           "so-broadcast", "so-rcvbuf", "tcp-keepalive-time", "tcp-keepalive-intvl",
                           "tcp-keepalive-probes", "mark-mode", "mark-freq", "persist-name", "suppress", "ts-format",
                           "template-escape", "local-time-zone", "interface", "dynamic-window-size",
                           "truncate-size", "truncate-size-ratio"}) {
    r.accepted_not_implemented(name);
  }
  if (!ok) return nullptr;
  return std::make_unique<NetworkDestinationDriver>(std::move(c));
}

}  // namespace

void register_network_destinations(DriverRegistry& registry) {
  registry.add_destination("network", [](OptionReader& r, const BuildContext& ctx) { return build_network(r, ctx, false); });
  registry.add_destination("syslog", [](OptionReader& r, const BuildContext& ctx) { return build_network(r, ctx, true); });
}

}  // namespace logferry
