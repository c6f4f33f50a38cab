#include "server/network_source.h"

#include <uv.h>

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace logferry {

namespace {

bool resolve_listen(const std::string& ip, int port, sockaddr_storage* out, std::string* error) {
  if (uv_ip4_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in*>(out)) == 0) return true;
  if (uv_ip6_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in6*>(out)) == 0) return true;
  *error = "invalid listen address '" + ip + "' (write an IPv4 or IPv6 address)";
  return false;
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
    drain();
    uv_close(reinterpret_cast<uv_handle_t*>(&udp_), nullptr);
  }

 private:
  static constexpr size_t kDatagramMax = 65536;
  static constexpr size_t kDatagrams = 32;

  // Reads the datagrams the kernel still holds (at most kDrainLimit), so a
  // SIGTERM loses nothing that had arrived.
  void drain() {
    static constexpr int kDrainLimit = 100000;
    uv_os_fd_t fd;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&udp_), &fd) != 0) return;
    for (int i = 0; i < kDrainLimit; ++i) {
      sockaddr_storage from;
      socklen_t len = sizeof(from);
      ssize_t n = ::recvfrom(fd, buf_.data(), kDatagramMax, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      uv_buf_t b = uv_buf_init(buf_.data(), static_cast<unsigned>(n));
      on_datagram(n, &b, reinterpret_cast<sockaddr*>(&from), UV_UDP_MMSG_CHUNK);
    }
    host_->commit();
  }

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


class TcpSource : public StreamSource {
 public:
  explicit TcpSource(const NetworkSourceConfig& c) : StreamSource(c.receive, c.max_connections), cfg_(c) {}

  bool start(uv_loop_t* loop, SourceHost* host, std::string* error) override {
    host_ = host;
    loop_ = loop;
    sockaddr_storage addr;
    if (!resolve_listen(cfg_.ip, cfg_.port, &addr, error)) return false;
    auto* tcp = &(new ListenerHandle)->tcp;
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
