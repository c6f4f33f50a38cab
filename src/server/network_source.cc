#include "server/network_source.h"

#include <uv.h>

#include <cstring>
#include <list>

namespace logferry {

void read_receive_options(OptionReader& r, const GlobalOptions& g, ReceiveOptions* o) {
  o->keep_hostname = g.keep_hostname;
  o->chain_hostnames = g.chain_hostnames;
  o->log_msg_size = static_cast<size_t>(g.log_msg_size);
  o->parse.check_hostname = g.check_hostname;
  o->parse.time_zone = g.recv_time_zone;
  std::vector<std::string> flags;
  if (r.flags("flags", {"no-parse", "syslog-protocol", "no-multi-line", "expect-hostname", "no-hostname",
                        "kernel", "assume-utf8", "validate-utf8", "sanitize-utf8", "store-raw-message",
                        "check-hostname", "no-header", "empty-lines", "threaded", "dont-store-legacy-msghdr"},
              &flags)) {
    for (const auto& f : flags) {
      if (f == "no-parse") o->parse.no_parse = true;
      else if (f == "syslog-protocol") o->parse.format = SyslogFormat::kRfc5424;
      else if (f == "no-multi-line") o->parse.no_multi_line = true;
      else if (f == "expect-hostname") o->parse.expect_hostname = true;
      else if (f == "no-hostname") o->parse.expect_hostname = false;
      else if (f == "check-hostname") o->parse.check_hostname = true;
      else if (f == "kernel") o->parse.local = true;
    }
  }
  bool b;
  if (r.yesno("keep-hostname", &b)) o->keep_hostname = b;
  if (r.yesno("chain-hostnames", &b)) o->chain_hostnames = b;
  if (r.yesno("check-hostname", &b)) o->parse.check_hostname = b;
  int64_t n;
  if (r.integer("log-msg-size", &n, 64, 256 * 1024 * 1024)) o->log_msg_size = static_cast<size_t>(n);
  std::string s;
  for (const char* tz : {"time-zone", "recv-time-zone"}) {
    if (!r.string(tz, &s)) continue;
    std::string err;
    o->parse.time_zone = TimeZone::parse(s, &err);
    if (!o->parse.time_zone)
      r.diag()->error(r.last_location(), "invalid " + std::string(tz) + "('" + s + "') in " + r.what() + ": " + err,
                      "use an offset such as +01:00, UTC, local, or a name from /usr/share/zoneinfo");
  }
  r.string("host-override", &o->host_override);
  r.string("program-override", &o->program_override);
  std::string fac, pri;
  if (r.string("default-facility", &fac)) {
    o->default_facility = facility_from_name(fac);
    if (o->default_facility < 0) r.diag()->error(r.last_location(), "unknown facility '" + fac + "'");
  }
  if (r.string("default-priority", &pri) || r.string("default-level", &pri) || r.string("default-severity", &pri)) {
    o->default_severity = severity_from_name(pri);
    if (o->default_severity < 0) r.diag()->error(r.last_location(), "unknown priority '" + pri + "'");
  }
  if (o->default_facility >= 0 || o->default_severity >= 0) {
    int f = o->default_facility >= 0 ? o->default_facility : 1;
    int sev = o->default_severity >= 0 ? o->default_severity : 5;
    o->parse.default_pri = static_cast<uint16_t>(f * 8 + sev);
  }
  std::string framing;
  if (r.choice("framing", {"auto", "lines", "octet-counted"}, &framing))
    o->framing = framing == "lines" ? Framing::kLines : framing == "octet-counted" ? Framing::kOctetCounted : Framing::kAuto;
  std::string format;
  if (r.choice("format", {"auto", "rfc3164", "rfc5424", "syslog", "bsd"}, &format))
    o->parse.format = format == "rfc3164" || format == "bsd" ? SyslogFormat::kRfc3164
                      : format == "auto"                      ? SyslogFormat::kAuto
                                                              : SyslogFormat::kRfc5424;
  for (const char* name : {"use-dns", "use-fqdn", "dns-cache", "normalize-hostnames", "tags", "encoding",
                           "log-iw-size", "log-fetch-limit", "log-prefix", "pad-size", "trim-large-messages",
                           "keep-timestamp", "use-syslogng-pid", "hook-commands", "optional", "persist-name"}) {
    r.accepted_not_implemented(name);
  }
}

void finish_received_message(const ReceiveOptions& o, LogMessage& m) {
  if (!o.keep_hostname || m.get(Field::kHost).empty()) {
    if (o.chain_hostnames && !m.get(Field::kHost).empty() && m.get(Field::kHost) != m.get(Field::kHostFrom)) {
      std::string chained(m.get(Field::kHostFrom));
      chained += '/';
      chained += m.get(Field::kHost);
      m.set(Field::kHost, chained);
    } else if (!m.get(Field::kHostFrom).empty()) {
      m.set_span(Field::kHost, m.span(Field::kHostFrom));
    }
  }
  if (!o.host_override.empty()) m.set(Field::kHost, o.host_override);
  if (!o.program_override.empty()) m.set(Field::kProgram, o.program_override);
}

namespace {

// Formats a peer address; remembers the last one so a busy peer costs one
// comparison per message instead of a formatting call.
class PeerName {
 public:
  const std::string& of(const sockaddr* sa) {
    size_t len = sa->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    if (len == last_len_ && memcmp(&last_, sa, len) == 0) return name_;
    memcpy(&last_, sa, len);
    last_len_ = len;
    char buf[INET6_ADDRSTRLEN] = {0};
    if (sa->sa_family == AF_INET6) {
      const auto* s6 = reinterpret_cast<const sockaddr_in6*>(sa);
      uv_ip6_name(s6, buf, sizeof(buf));
      // IPv4-mapped addresses read as plain IPv4.
      std::string_view v(buf);
      name_ = v.starts_with("::ffff:") && v.find('.') != std::string_view::npos ? std::string(v.substr(7)) : std::string(v);
    } else {
      uv_ip4_name(reinterpret_cast<const sockaddr_in*>(sa), buf, sizeof(buf));
      name_ = buf;
    }
    return name_;
  }

 private:
  sockaddr_storage last_{};
  size_t last_len_ = 0;
  std::string name_;
};

bool resolve_listen(const std::string& ip, int port, sockaddr_storage* out, std::string* error) {
  if (uv_ip4_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in*>(out)) == 0) return true;
  if (uv_ip6_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in6*>(out)) == 0) return true;
  *error = "invalid listen address '" + ip + "' (write an IPv4 or IPv6 address)";
  return false;
}

// Parses one frame into the host's next message.
void receive_frame(SourceHost* host, Counters& counters, const ReceiveOptions& o, const std::string& peer,
                   std::string_view frame, bool truncated) {
  LogMessage& m = host->next_message();
  if (!peer.empty()) {
    m.set(Field::kHostFrom, peer);
    m.set_span(Field::kSourceIp, m.span(Field::kHostFrom));
  }
  parse_syslog(frame, o.parse, m);
  if (truncated) {
    m.flags |= kFlagTruncated;
    Counters::add(counters.dropped_too_long);
  }
  if (m.has_flag(kFlagParseError)) Counters::add(counters.parse_errors);
  finish_received_message(o, m);
}

class UdpSource : public Source {
 public:
  explicit UdpSource(const NetworkSourceConfig& c) : cfg_(c) {}

  bool start(uv_loop_t* loop, SourceHost* host, std::string* error) override {
    host_ = host;
    sockaddr_storage addr;
    if (!resolve_listen(cfg_.ip, cfg_.port, &addr, error)) return false;
    // recvmmsg: one system call reads up to kDatagrams datagrams.
    int rc = uv_udp_init_ex(loop, &udp_, AF_UNSPEC | UV_UDP_RECVMMSG);
    if (rc == 0) rc = uv_udp_bind(&udp_, reinterpret_cast<sockaddr*>(&addr), UV_UDP_REUSEADDR);
    if (rc != 0) {
      *error = "cannot listen on udp " + cfg_.ip + ":" + std::to_string(cfg_.port) + ": " + uv_strerror(rc);
      uv_close(reinterpret_cast<uv_handle_t*>(&udp_), nullptr);
      return false;
    }
    open_ = true;
    if (cfg_.so_rcvbuf > 0) {
      int size = cfg_.so_rcvbuf;
      uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(&udp_), &size);
    }
    buf_.resize(kDatagramMax * kDatagrams);
    udp_.data = this;
    start_reading();
    return true;
  }

  void stop() override {
    if (!open_) return;
    open_ = false;
    uv_udp_recv_stop(&udp_);
    uv_close(reinterpret_cast<uv_handle_t*>(&udp_), nullptr);
  }

 private:
  static constexpr size_t kDatagramMax = 65536;
  static constexpr size_t kDatagrams = 32;

  void start_reading() {
    uv_udp_recv_start(
        &udp_,
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
          auto* self = static_cast<UdpSource*>(h->data);
          *b = uv_buf_init(self->buf_.data(), static_cast<unsigned>(self->buf_.size()));
        },
        [](uv_udp_t* u, ssize_t n, const uv_buf_t* b, const sockaddr* addr, unsigned flags) {
          static_cast<UdpSource*>(u->data)->on_datagram(n, b, addr, flags);
        });
  }

  void on_datagram(ssize_t n, const uv_buf_t* b, const sockaddr* addr, unsigned flags) {
    if (n < 0) {
      Counters::add(counters.errors);
      return;
    }
    if (n > 0 && addr) {
      std::string_view d(b->base, static_cast<size_t>(n));
      bool truncated = d.size() > cfg_.receive.log_msg_size;
      if (truncated) d = d.substr(0, cfg_.receive.log_msg_size);
      // A datagram is one message; trailing newlines are framing.
      while (!d.empty() && (d.back() == '\n' || d.back() == '\0')) d.remove_suffix(1);
      if (!d.empty()) receive_frame(host_, counters, cfg_.receive, peer_.of(addr), d, truncated);
    }
    // The last call of a recvmmsg round (or a plain datagram) ends the batch.
    if (!(flags & UV_UDP_MMSG_CHUNK)) host_->commit();
  }

  NetworkSourceConfig cfg_;
  SourceHost* host_ = nullptr;
  uv_udp_t udp_{};
  bool open_ = false;
  std::vector<char> buf_;
  PeerName peer_;
};

// Listens for stream connections (TCP or unix-stream) and frames and parses
// what they send.  Shared by network(), syslog(), unix-stream() and system().
class StreamSource : public Source {
 public:
  StreamSource(const ReceiveOptions& r, int max_connections) : recv_(r), max_connections_(max_connections) {}

  void stop() override {
    if (!listening_) return;
    listening_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(listener_), [](uv_handle_t* h) { free_listener(h); });
    listener_ = nullptr;
    for (auto& c : conns_) close_connection(&c, true);
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

  static void free_listener(uv_handle_t* h);

  bool listen_on(uv_stream_t* listener, std::string* error, const std::string& what) {
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

  void on_connection(int status) {
    if (status < 0 || !listening_) return;
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

void StreamSource::free_listener(uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); }

class TcpSource : public StreamSource {
 public:
  explicit TcpSource(const NetworkSourceConfig& c) : StreamSource(c.receive, c.max_connections), cfg_(c) {}

  bool start(uv_loop_t* loop, SourceHost* host, std::string* error) override {
    host_ = host;
    loop_ = loop;
    sockaddr_storage addr;
    if (!resolve_listen(cfg_.ip, cfg_.port, &addr, error)) return false;
    auto* tcp = new uv_tcp_t;
    uv_tcp_init(loop, tcp);
    int rc = uv_tcp_bind(tcp, reinterpret_cast<sockaddr*>(&addr), 0);
    std::string what = "tcp " + cfg_.ip + ":" + std::to_string(cfg_.port);
    if (rc != 0) {
      *error = "cannot listen on " + what + ": " + uv_strerror(rc);
      uv_close(reinterpret_cast<uv_handle_t*>(tcp), [](uv_handle_t* h) { free_listener(h); });
      return false;
    }
    if (!listen_on(reinterpret_cast<uv_stream_t*>(tcp), error, what)) {
      uv_close(reinterpret_cast<uv_handle_t*>(tcp), [](uv_handle_t* h) { free_listener(h); });
      listener_ = nullptr;
      return false;
    }
    return true;
  }

 protected:
  int init_connection(Connection* c) override {
    int rc = uv_tcp_init(loop_, &c->h.tcp);
    if (rc == 0 && cfg_.so_rcvbuf > 0) {
      int size = cfg_.so_rcvbuf;
      uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(&c->h.tcp), &size);
    }
    return rc;
  }

  std::string peer_of(Connection* c) override {
    sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getpeername(&c->h.tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
    PeerName p;
    return p.of(reinterpret_cast<sockaddr*>(&ss));
  }

 private:
  NetworkSourceConfig cfg_;
  uv_loop_t* loop_ = nullptr;
};

class NetworkSourceDriver : public SourceDriver {
 public:
  NetworkSourceDriver(NetworkSourceConfig c, std::string kind) : cfg_(std::move(c)), kind_(std::move(kind)) {}
  std::string describe() const override {
    return kind_ + "() " + (cfg_.tcp ? "tcp " : "udp ") + cfg_.ip + ":" + std::to_string(cfg_.port);
  }
  std::unique_ptr<Source> create() const override {
    if (cfg_.tcp) return std::make_unique<TcpSource>(cfg_);
    return std::make_unique<UdpSource>(cfg_);
  }

 private:
  NetworkSourceConfig cfg_;
  std::string kind_;
};

std::unique_ptr<SourceDriver> build_network(OptionReader& r, const BuildContext& ctx, bool syslog_driver) {
  NetworkSourceConfig c;
  if (syslog_driver) {
    c.port = 601;
    c.tcp = true;
    c.receive.parse.format = SyslogFormat::kRfc5424;
  }
  read_receive_options(r, ctx.options, &c.receive);
  std::string s;
  if (r.string("ip", &s) || r.string("localip", &s) || r.string("listen-ip", &s)) c.ip = s;
  int64_t n;
  if (r.integer("port", &n, 1, 65535) || r.integer("localport", &n, 1, 65535)) c.port = static_cast<int>(n);
  std::string transport;
  if (r.choice("transport", {"udp", "tcp", "tls", "udp6", "tcp6"}, &transport)) {
    if (transport == "tls") {
      r.diag()->error(r.last_location(), "transport(\"tls\") is not supported yet", "use tcp, or terminate TLS in front of logferry");
      return nullptr;
    }
    c.tcp = transport == "tcp" || transport == "tcp6";
    if (transport.ends_with("6") && c.ip == "0.0.0.0") c.ip = "::";
  }
  std::string proto;
  if (r.choice("ip-protocol", {"4", "6"}, &proto) && proto == "6" && c.ip == "0.0.0.0") c.ip = "::";
  if (r.integer("max-connections", &n, 1, 1000000)) c.max_connections = static_cast<int>(n);
  if (r.integer("so-rcvbuf", &n, 0, 1 << 30)) c.so_rcvbuf = static_cast<int>(n);
  for (const char* name : {"so-keepalive", "so-sndbuf", "so-broadcast", "so-reuseport", "tcp-keepalive-time",
                           "tcp-keepalive-intvl", "tcp-keepalive-probes", "listen-backlog", "ip-ttl", "ip-tos",
                           "interface", "dynamic-window-size"}) {
    r.accepted_not_implemented(name);
  }
  if (!r.positional().empty()) {
    r.take_positional();
    r.diag()->error(r.positional()[0]->loc, "unexpected value '" + r.positional()[0]->value + "' in " + r.what(),
                    "write the listen address as ip(\"" + r.positional()[0]->value + "\")");
  }
  return std::make_unique<NetworkSourceDriver>(std::move(c), syslog_driver ? "syslog" : "network");
}

}  // namespace

void register_network_sources(DriverRegistry& registry) {
  registry.add_source("network", [](OptionReader& r, const BuildContext& ctx) { return build_network(r, ctx, false); });
  registry.add_source("syslog", [](OptionReader& r, const BuildContext& ctx) { return build_network(r, ctx, true); });
}

}  // namespace logferry
