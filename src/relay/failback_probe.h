// failback(tcp-probe-interval() successful-probes-required()): while a
// connection slot sends to a failover server, a TCP connection to the
// server it prefers every tcp-probe-interval(), closed again at once; after
// successful-probes-required() successes in a row, the owner is told that
// the server is back.  One per connection slot of network() (its one link)
// and ferry() (each session); the owner decides when and how to switch.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "relay/connection.h"
#include "relay/network_destination.h"

namespace logferry {

class FailbackProbe : private ConnectionEvents {
 public:
  // `wanted`: asked before each probe; false stops probing (the slot left
  // the failover server meanwhile).  `back`: enough probes succeeded.
  // `counters` and `outstanding` as for a Connection.
  FailbackProbe(const NetworkDestinationConfig& cfg, const std::vector<std::string>& peers, Counters* counters,
                size_t* outstanding, std::function<bool()> wanted, std::function<void()> back);
  FailbackProbe(const FailbackProbe&) = delete;
  FailbackProbe& operator=(const FailbackProbe&) = delete;

  // First use of the loop: the timer (one more in *outstanding until close()).
  void init(uv_loop_t* loop);
  // Probes `server` (an index into cfg.servers) from zero successes.
  void start(int server);
  // No probe in flight, none planned, successes forgotten.
  void stop();
  // For good (the destination closes).
  void close();

  int64_t successes() const { return successes_; }
  // "host:port" of the server probed.
  const std::string& peer() const { return peers_[static_cast<size_t>(server_)]; }

 private:
  void probe();
  void cancel_attempt();
  void resolved(const std::vector<sockaddr_storage>& addrs, const std::string& err);
  void connect_done(Connection* c, int status) override;

  const NetworkDestinationConfig& cfg_;
  const std::vector<std::string>& peers_;
  Counters* counters_;
  size_t* outstanding_;
  std::function<bool()> wanted_;
  std::function<void()> back_;
  uv_loop_t* loop_ = nullptr;
  uv_timer_t timer_{};
  bool closed_ = false;
  int server_ = 0;
  Connection* conn_ = nullptr;
  Resolution* resolving_ = nullptr;
  int64_t successes_ = 0;
};

}  // namespace logferry
