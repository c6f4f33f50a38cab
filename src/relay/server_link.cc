#include "relay/server_link.h"

#include <algorithm>
#include <cstdio>

namespace logferry {

namespace {
// A connection that lived this long was "stable": its loss restarts the
// backoff at 1 s.
constexpr uint64_t kStableMs = 5000;
}  // namespace

std::string seconds_text(uint64_t ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  char buf[32];
  snprintf(buf, sizeof(buf), "%.1f s", static_cast<double>(ms) / 1000.0);
  return buf;
}

ServerLink::ServerLink(const LinkContext& ctx, std::vector<int> servers, LinkEvents* events)
    : ctx_(ctx), servers_(std::move(servers)), events_(events) {}

const std::string& ServerLink::peer() const { return (*ctx_.peers)[static_cast<size_t>(server())]; }

void ServerLink::start() {
  if (started_) return;
  started_ = true;
  uv_timer_init(ctx_.loop, &timer_);
  timer_.data = this;
  ++*ctx_.outstanding;
  start_connect();
}

void ServerLink::shut_down() {
  shutting_down_ = true;
  if (state_ == State::kWaiting) {
    // Shutting down while waiting to reconnect: one more round now.
    uv_timer_stop(&timer_);
    failed_in_round_ = 0;
    start_connect();
  }
}

void ServerLink::close() {
  if (!started_ || closed_) return;
  closed_ = true;
  state_ = State::kStopped;
  drop_conn();
  Resolution::cancel(resolving_);
  resolving_ = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_),
           [](uv_handle_t* h) { --*static_cast<ServerLink*>(h->data)->ctx_.outstanding; });
}

void ServerLink::drop_conn() {
  if (!conn_) return;
  conn_->close();
  conn_ = nullptr;
}

void ServerLink::switch_to(int server) {
  drop_conn();
  auto it = std::find(servers_.begin(), servers_.end(), server);
  pos_ = it == servers_.end() ? 0 : static_cast<size_t>(it - servers_.begin());
  failed_in_round_ = 0;
  backoff_ms_ = 1000;
  trouble_ = true;
  start_connect();
}

void ServerLink::tick() {
  if (up()) conn_->trim_acknowledged(uv_now(ctx_.loop));
}

// ---- connecting ------------------------------------------------------------

void ServerLink::start_connect() {
  if (state_ == State::kStopped) return;
  state_ = State::kResolving;
  const std::string& host = ctx_.cfg->servers[static_cast<size_t>(server())];
  std::string err;
  resolving_ = Resolution::start(
      ctx_.loop, host, ctx_.cfg->port, ctx_.cfg->tcp, ctx_.cfg->ip_protocol,
      [this](const std::vector<sockaddr_storage>& addrs, const std::string& e) {
        resolving_ = nullptr;
        resolved(addrs, e);
      },
      ctx_.outstanding, &err);
  if (!resolving_) connect_failed("cannot resolve " + host + ": " + err);
}

void ServerLink::resolved(const std::vector<sockaddr_storage>& addrs, const std::string& err) {
  if (state_ == State::kStopped) return;
  if (!err.empty()) {
    connect_failed("cannot resolve " + ctx_.cfg->servers[static_cast<size_t>(server())] + ": " + err);
    return;
  }
  addrs_ = addrs;
  addr_idx_ = 0;
  connect_next_address("");
}

// Tries the resolved addresses in order.
void ServerLink::connect_next_address(std::string last_error) {
  while (addr_idx_ < addrs_.size()) {
    const sockaddr* sa = reinterpret_cast<const sockaddr*>(&addrs_[addr_idx_++]);
    Connection* c = Connection::open(ctx_.loop, ctx_.cfg->tcp, this, ctx_.counters, ctx_.outstanding);
    if (!c) {
      last_error = "cannot create a socket";
      continue;
    }
    c->server = server();
    c->peer = peer();
    int rc = c->connect(sa);
    if (rc != 0) {
      last_error = uv_strerror(rc);
      c->close();
      continue;
    }
    conn_ = c;
    if (ctx_.cfg->tcp) {
      state_ = State::kConnecting;
      uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<ServerLink*>(t->data)->on_timer(); },
                     static_cast<uint64_t>(ctx_.cfg->connect_timeout_ms), 0);
    } else {
      connected();
    }
    return;
  }
  connect_failed(last_error.empty() ? "no address to connect to" : last_error);
}

void ServerLink::connect_done(Connection* c, int status) {
  if (c != conn_) return;
  uv_timer_stop(&timer_);
  if (status != 0) {
    drop_conn();
    connect_next_address(uv_strerror(status));
    return;
  }
  connected();
}

void ServerLink::on_timer() {
  if (state_ == State::kWaiting) {
    start_connect();
  } else if (state_ == State::kConnecting && conn_) {
    drop_conn();
    connect_next_address("connection timed out after " +
                         seconds_text(static_cast<uint64_t>(ctx_.cfg->connect_timeout_ms)));
  }
}

void ServerLink::connected() {
  conn_->start(ctx_.cfg->so_keepalive, ctx_.cfg->so_sndbuf, uv_now(ctx_.loop));
  state_ = State::kConnected;
  failed_in_round_ = 0;
  if (trouble_) {
    size_t waiting = events_->waiting_messages();
    events_->report(5, (conn_->tcp() ? "connected to " : "sending to ") + conn_->peer + " (" + conn_->addr + ")" +
                           (waiting ? "; " + std::to_string(waiting) + " messages waiting are sent now" : ""));
    trouble_ = false;
  }
  events_->link_up(*this);
}

// A connection attempt failed: the next server at once, or after a round
// of failures a wait.
void ServerLink::connect_failed(const std::string& reason) {
  state_ = State::kIdle;
  trouble_ = true;
  std::string who = peer();
  int64_t delay = plan_next();
  events_->report(4, "cannot connect to " + who + ": " + reason + "; " + plan_text(delay));
  execute(delay);
}

// Moves to the next server; returns how long to wait before trying it (0
// at once; -1 never: shutting down and a whole round failed).
int64_t ServerLink::plan_next() {
  size_t n = servers_.size();
  ++failed_in_round_;
  if (n > 1) pos_ = (pos_ + 1) % n;
  if (failed_in_round_ < n) return 0;
  failed_in_round_ = 0;
  if (shutting_down_) return -1;
  uint64_t d = backoff_ms_;
  backoff_ms_ = std::min(backoff_ms_ * 2, ctx_.reopen_ms);
  return static_cast<int64_t>(d);
}

std::string ServerLink::plan_text(int64_t delay) const {
  if (delay < 0) return "giving up (shutting down)";
  if (delay == 0) return "trying " + peer() + " now";
  return "retrying " + peer() + " in " + seconds_text(static_cast<uint64_t>(delay));
}

void ServerLink::execute(int64_t delay) {
  if (delay < 0) {
    state_ = State::kStopped;
    events_->link_stopped(*this);
  } else if (delay == 0) {
    start_connect();
  } else {
    state_ = State::kWaiting;
    uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<ServerLink*>(t->data)->on_timer(); },
                   static_cast<uint64_t>(delay), 0);
  }
}

// ---- connection events -----------------------------------------------------

void ServerLink::write_done(Connection* c) {
  if (c == conn_) events_->link_write_done(*this);
}

// The TCP connection broke (EOF, reset, a write error).  Reports what may
// have been lost, then reconnects (the next server first, with failover).
void ServerLink::broken(Connection* c, const std::string& reason, bool fresh) {
  if (c != conn_) return;
  uint64_t lost = c->possibly_lost(fresh);
  if (c->writing()) Counters::add(ctx_.counters->errors, c->write_msgs());  // the write that failed
  uint64_t up = uv_now(ctx_.loop) - c->connected_ms();
  std::string text = "connection to " + c->peer + " lost (" + reason + "); up to " + std::to_string(lost) +
                     " messages may be lost";
  drop_conn();
  state_ = State::kIdle;
  trouble_ = true;
  if (up >= kStableMs) backoff_ms_ = 1000;
  events_->link_down(*this, true, lost);
  if (state_ == State::kStopped) return;  // closed meanwhile
  if (!events_->link_should_retry(*this)) {
    events_->report(4, text);
    state_ = State::kStopped;
    events_->link_stopped(*this);
    return;
  }
  int64_t delay = plan_next();
  events_->report(4, text + "; " + plan_text(delay));
  execute(delay);
}

void ServerLink::refused(Connection* c) {
  if (c != conn_) return;
  Counters::add(ctx_.counters->errors);
  std::string who = c->peer;
  drop_conn();
  state_ = State::kIdle;
  trouble_ = true;
  events_->link_down(*this, false, 0);
  if (state_ == State::kStopped) return;
  int64_t delay = plan_next();
  events_->report(4, who + " answered port unreachable (nothing listens there): datagrams sent to it just before are "
                         "lost; " + std::to_string(events_->waiting_messages()) + " messages wait; " + plan_text(delay));
  execute(delay);
}

}  // namespace logferry
