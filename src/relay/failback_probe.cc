#include "relay/failback_probe.h"

namespace logferry {

FailbackProbe::FailbackProbe(const NetworkDestinationConfig& cfg, const std::vector<std::string>& peers,
                             Counters* counters, size_t* outstanding, std::function<bool()> wanted,
                             std::function<void()> back)
    : cfg_(cfg), peers_(peers), counters_(counters), outstanding_(outstanding), wanted_(std::move(wanted)),
      back_(std::move(back)) {}

void FailbackProbe::init(uv_loop_t* loop) {
  if (loop_) return;
  loop_ = loop;
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  ++*outstanding_;
}

void FailbackProbe::start(int server) {
  if (!loop_ || closed_) return;
  stop();
  server_ = server;
  uint64_t ms = static_cast<uint64_t>(cfg_.probe_interval) * 1000;
  uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<FailbackProbe*>(t->data)->probe(); }, ms, ms);
}

void FailbackProbe::stop() {
  if (!loop_ || closed_) return;
  uv_timer_stop(&timer_);
  cancel_attempt();
  successes_ = 0;
}

void FailbackProbe::close() {
  if (!loop_ || closed_) return;
  stop();
  closed_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_),
           [](uv_handle_t* h) { --*static_cast<FailbackProbe*>(h->data)->outstanding_; });
}

void FailbackProbe::cancel_attempt() {
  if (conn_) conn_->close();
  conn_ = nullptr;
  Resolution::cancel(resolving_);
  resolving_ = nullptr;
}

// Every tcp-probe-interval(): a TCP connect to the server.
void FailbackProbe::probe() {
  if (!wanted_()) {
    stop();
    return;
  }
  if (conn_ || resolving_) {
    // The last probe did not finish within an interval: it failed.
    cancel_attempt();
    successes_ = 0;
  }
  std::string err;
  resolving_ = Resolution::start(
      loop_, cfg_.servers[static_cast<size_t>(server_)], cfg_.port, true, cfg_.ip_protocol,
      [this](const std::vector<sockaddr_storage>& addrs, const std::string& e) {
        resolving_ = nullptr;
        resolved(addrs, e);
      },
      outstanding_, &err);
  if (!resolving_) successes_ = 0;
}

void FailbackProbe::resolved(const std::vector<sockaddr_storage>& addrs, const std::string& err) {
  if (!err.empty() || addrs.empty()) {
    successes_ = 0;
    return;
  }
  Connection* c = Connection::open(loop_, true, this, counters_, outstanding_);
  if (!c) return;
  c->peer = peer();
  if (c->connect(reinterpret_cast<const sockaddr*>(&addrs[0])) != 0) {
    c->close();
    successes_ = 0;
    return;
  }
  conn_ = c;
}

void FailbackProbe::connect_done(Connection* c, int status) {
  if (c == conn_) conn_ = nullptr;
  c->close();
  if (status != 0) {
    successes_ = 0;
    return;
  }
  if (++successes_ >= cfg_.probes_required) back_();
}

}  // namespace logferry
