#include "relay/connection.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

namespace logferry {

namespace {
// Bytes the peer's TCP acknowledged less than this long ago still count as
// possibly lost when the connection is reset (the peer may have acked them
// without its application reading them).
constexpr uint64_t kHoldMs = 2000;
}  // namespace

std::string address_text(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN + 8] = {0};
  if (sa->sa_family == AF_INET6) {
    uv_ip6_name(reinterpret_cast<const sockaddr_in6*>(sa), buf, sizeof(buf));
    return std::string("[") + buf + "]:" + std::to_string(ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port));
  }
  uv_ip4_name(reinterpret_cast<const sockaddr_in*>(sa), buf, sizeof(buf));
  return std::string(buf) + ":" + std::to_string(ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port));
}

// ---- Connection ----------------------------------------------------------

Connection* Connection::open(uv_loop_t* loop, bool tcp, ConnectionEvents* events, Counters* counters,
                             size_t* outstanding) {
  auto* c = new Connection();
  memset(&c->h_, 0, sizeof(c->h_));
  c->loop_ = loop;
  c->tcp_ = tcp;
  c->events_ = events;
  c->counters_ = counters;
  c->outstanding_ = outstanding;
  int rc = tcp ? uv_tcp_init(loop, &c->h_.tcp) : uv_udp_init(loop, &c->h_.udp);
  if (rc != 0) {
    delete c;
    return nullptr;
  }
  ++*outstanding;
  c->handle()->data = c;
  c->connect_req_.data = c;
  c->write_req_.data = c;
  return c;
}

int Connection::connect(const sockaddr* sa) {
  addr = address_text(sa);
  if (!tcp_) {
    int rc = uv_udp_connect(&h_.udp, sa);
    if (rc == 0) connected_ = true;
    return rc;
  }
  return uv_tcp_connect(&connect_req_, &h_.tcp, sa, [](uv_connect_t* req, int status) {
    auto* c = static_cast<Connection*>(req->data);
    if (c->dead_) return;
    if (status == 0) c->connected_ = true;
    c->events_->connect_done(c, status);
  });
}

void Connection::start(bool keepalive, int sndbuf, uint64_t now_ms) {
  connected_ms_ = now_ms;
  if (tcp_) {
    uv_tcp_nodelay(&h_.tcp, 1);
    if (keepalive) uv_tcp_keepalive(&h_.tcp, 1, 60);
    // Reading makes the server's close (FIN or RST) known at once instead
    // of at the next write; what it sends goes to received() (the ferry
    // protocol's answers; network() ignores them).
    uv_read_start(stream(),
                  [](uv_handle_t*, size_t, uv_buf_t* buf) {
                    static thread_local char discard[16384];
                    *buf = uv_buf_init(discard, sizeof(discard));
                  },
                  on_read);
  }
  if (sndbuf > 0) {
    int v = sndbuf;
    uv_send_buffer_size(handle(), &v);
  }
}

void Connection::close() {
  if (dead_) return;
  dead_ = true;
  if (tcp_ && connected_) uv_read_stop(stream());
  uv_close(handle(), [](uv_handle_t* h) {
    auto* c = static_cast<Connection*>(h->data);
    --*c->outstanding_;
    delete c;
  });
}

int Connection::fd() {
  uv_os_fd_t fd = -1;
  if (uv_fileno(handle(), &fd) != 0) return -1;
  return fd;
}

size_t Connection::write_queue_size() {
  return tcp_ && connected_ && !dead_ ? uv_stream_get_write_queue_size(stream()) : 0;
}

void Connection::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(s->data);
  if (c->dead_) return;
  if (nread > 0) c->events_->received(c, std::string_view(buf->base, static_cast<size_t>(nread)));
  if (nread >= 0) return;
  c->events_->broken(c, nread == UV_EOF ? "closed by the peer" : uv_strerror(static_cast<int>(nread)),
                     nread == UV_EOF);
}

bool Connection::peer_alive() {
  int f = fd();
  if (f < 0) return true;
  char b;
  ssize_t r = recv(f, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  if (r == 0) {
    events_->broken(this, "closed by the peer", true);
    return false;
  }
  if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    events_->broken(this, strerror(errno), false);
    return false;
  }
  return true;
}

void Connection::write(std::string& buf, uint64_t msgs, uint64_t start) {
  wbuf_.swap(buf);
  buf.clear();
  wmsgs_ = msgs;
  wstart_ = start;
  writing_ = true;
  uv_buf_t b = uv_buf_init(wbuf_.data(), static_cast<unsigned>(wbuf_.size()));
  int n = uv_try_write(stream(), &b, 1);
  if (n >= 0 && static_cast<size_t>(n) == wbuf_.size()) {
    stream_written();
    return;
  }
  if (n < 0 && n != UV_EAGAIN) {
    events_->broken(this, uv_strerror(n), false);
    return;
  }
  size_t off = n > 0 ? static_cast<size_t>(n) : 0;
  b = uv_buf_init(wbuf_.data() + off, static_cast<unsigned>(wbuf_.size() - off));
  int rc = uv_write(&write_req_, stream(), &b, 1, [](uv_write_t* req, int status) {
    auto* c = static_cast<Connection*>(req->data);
    if (c->dead_) return;  // accounted for when it was closed
    if (status != 0) {
      c->events_->broken(c, uv_strerror(status), false);
    } else {
      c->stream_written();
    }
  });
  if (rc != 0) events_->broken(this, uv_strerror(rc), false);
}

void Connection::stream_written() {
  sent_bytes_ += wbuf_.size();
  sent_.push_back(SentChunk{sent_bytes_, wmsgs_, uv_now(loop_)});
  Counters::add(counters_->out, wmsgs_);
  wbuf_.clear();
  wmsgs_ = 0;
  writing_ = false;
  events_->write_done(this);
}

size_t Connection::try_send(const std::string& buf, const std::vector<size_t>& ends, bool* refused) {
  *refused = false;
  size_t start = 0, i = 0;
  for (; i < ends.size(); ++i) {
    size_t end = ends[i];
    uv_buf_t b = uv_buf_init(const_cast<char*>(buf.data()) + start, static_cast<unsigned>(end - start));
    int rc = uv_udp_try_send(&h_.udp, &b, 1, nullptr);
    if (rc == UV_EAGAIN) break;
    if (rc == UV_ECONNREFUSED) {
      // The ICMP answer to an earlier datagram; this one was not sent.
      *refused = true;
      break;
    }
    Counters::add(rc < 0 ? counters_->errors : counters_->out);
    start = end;
  }
  return i;
}

void Connection::send(std::string& buf, std::vector<size_t>& ends, uint64_t start) {
  wbuf_.swap(buf);
  wends_.swap(ends);
  buf.clear();
  ends.clear();
  wstart_ = start;
  wmsgs_ = wends_.size();
  size_t k = wends_.size();
  sends_.reset(new uv_udp_send_t[k]);
  sends_left_ = 0;
  writing_ = true;
  size_t from = 0;
  for (size_t j = 0; j < k; ++j) {
    uv_buf_t b = uv_buf_init(wbuf_.data() + from, static_cast<unsigned>(wends_[j] - from));
    from = wends_[j];
    sends_[j].data = this;
    int rc = uv_udp_send(&sends_[j], &h_.udp, &b, 1, nullptr, [](uv_udp_send_t* req, int status) {
      auto* c = static_cast<Connection*>(req->data);
      if (status < 0) {
        Counters::add(c->counters_->errors);
        if (status == UV_ECONNREFUSED) c->refused_ = true;
      } else {
        Counters::add(c->counters_->out);
      }
      if (--c->sends_left_ == 0) c->udp_batch_done();
    });
    if (rc < 0) {
      Counters::add(counters_->errors);
    } else {
      ++sends_left_;
    }
  }
  if (sends_left_ == 0) udp_batch_done();
}

void Connection::udp_batch_done() {
  writing_ = false;
  wbuf_.clear();
  wends_.clear();
  wmsgs_ = 0;
  if (dead_) return;
  if (refused_) {
    events_->refused(this);
  } else {
    events_->write_done(this);
  }
}

void Connection::trim_acknowledged(uint64_t now_ms) {
  if (!tcp_ || dead_ || writing_ || sent_.empty()) return;
  int outq = 0;
  int f = fd();
  if (f < 0 || ioctl(f, SIOCOUTQ, &outq) != 0 || outq < 0) return;
  uint64_t acked = sent_bytes_ >= static_cast<uint64_t>(outq) ? sent_bytes_ - static_cast<uint64_t>(outq) : 0;
  while (!sent_.empty() && sent_.front().end <= acked && now_ms - sent_.front().at_ms >= kHoldMs) sent_.pop_front();
}

uint64_t Connection::possibly_lost(bool fresh) {
  if (!tcp_) return 0;
  uint64_t n = writing_ ? wmsgs_ : 0;
  bool have = false;
  uint64_t acked = 0;
  int outq = 0;
  int f = fd();
  if (fresh && f >= 0 && ioctl(f, SIOCOUTQ, &outq) == 0 && outq >= 0) {
    have = true;
    acked = sent_bytes_ >= static_cast<uint64_t>(outq) ? sent_bytes_ - static_cast<uint64_t>(outq) : 0;
  }
  // Acknowledged by the peer's kernel is not read by its application: a
  // peer that closes with unread data (a server shutting down) loses what
  // its TCP acknowledged, and a reset purges our send queue, which then
  // looks acknowledged too.  So recent writes count whatever the queue says.
  uint64_t now = uv_now(loop_);
  for (const auto& s : sent_)
    if (!have || s.end > acked || now - s.at_ms < kHoldMs) n += s.msgs;
  return n;
}

// ---- Resolution ----------------------------------------------------------

Resolution* Resolution::start(uv_loop_t* loop, const std::string& host, int port, bool tcp, int ip_protocol,
                              Done done, size_t* outstanding, std::string* error) {
  auto* r = new Resolution();
  r->done_ = std::move(done);
  r->outstanding_ = outstanding;
  r->req_.data = r;
  addrinfo hints{};
  hints.ai_family = ip_protocol == 6 ? AF_INET6 : AF_INET;
  hints.ai_socktype = tcp ? SOCK_STREAM : SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  std::string port_text = std::to_string(port);
  int rc = uv_getaddrinfo(loop, &r->req_, on_resolved, host.c_str(), port_text.c_str(), &hints);
  if (rc != 0) {
    delete r;
    *error = uv_strerror(rc);
    return nullptr;
  }
  ++*outstanding;
  return r;
}

void Resolution::cancel(Resolution* r) {
  if (!r) return;
  r->cancelled_ = true;
  uv_cancel(reinterpret_cast<uv_req_t*>(&r->req_));  // the callback still runs (and frees r)
}

void Resolution::on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
  auto* r = static_cast<Resolution*>(req->data);
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
  Done done = std::move(r->done_);
  bool cancelled = r->cancelled_;
  --*r->outstanding_;
  delete r;
  if (cancelled) return;
  done(addrs, status == 0 ? (addrs.empty() ? std::string("no address") : std::string())
                          : std::string(uv_strerror(status)));
}

}  // namespace logferry
