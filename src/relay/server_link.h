// One connection slot of a network destination: it connects to a server of
// its list (resolving the name at every attempt, trying each address, with
// a connect timeout), notices when the connection breaks, reports each
// step, and reconnects: to the next server of its list at once, and after a
// round in which every server failed, after a wait of 1 s doubling up to
// time-reopen().  With failover() the destination has one link listing every
// server; for round-robin it has one link per server.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "relay/connection.h"
#include "relay/network_destination.h"

namespace logferry {

class ServerLink;

// What a link tells its destination.
class LinkEvents {
 public:
  virtual ~LinkEvents() = default;
  // Connected: write what waits.
  virtual void link_up(ServerLink& link) = 0;
  // The write in flight finished.
  virtual void link_write_done(ServerLink& link) = 0;
  // The connection was closed: it broke (`broke`; `lost` messages may have
  // been lost with it), or UDP: the peer answered "port unreachable".
  virtual void link_down(ServerLink& link, bool broke, uint64_t lost) = 0;
  // After a break: reconnect?  (Not when shutting down with nothing left.)
  virtual bool link_should_retry(ServerLink& link) = 0;
  // It stopped trying: shutting down and its last round failed, or
  // link_should_retry() said no.
  virtual void link_stopped(ServerLink& link) = 0;
  // Messages waiting to be written (for reports).
  virtual size_t waiting_messages() const = 0;
  // A line for logferry's own log; severity as syslog's (4 warning, 5 notice).
  virtual void report(int severity, const std::string& text) = 0;
  // Bytes the server sent on the connection (the ferry protocol).
  virtual void link_data(ServerLink&, std::string_view) {}
};

// What every link of a destination shares.
struct LinkContext {
  uv_loop_t* loop = nullptr;
  const NetworkDestinationConfig* cfg = nullptr;
  const std::vector<std::string>* peers = nullptr;  // "host:port" of each server
  Counters* counters = nullptr;
  size_t* outstanding = nullptr;  // handles and resolutions not yet finished
  uint64_t reopen_ms = 60000;     // the longest wait between rounds
};

class ServerLink : private ConnectionEvents {
 public:
  enum class State { kIdle, kResolving, kConnecting, kConnected, kWaiting, kStopped };

  // `servers`: indexes into the destination's server list, in the order
  // they are tried.
  ServerLink(const LinkContext& ctx, std::vector<int> servers, LinkEvents* events);
  ServerLink(const ServerLink&) = delete;
  ServerLink& operator=(const ServerLink&) = delete;

  // Starts connecting (first use of the loop).
  void start();
  // Shutting down: a failed round ends the attempts instead of waiting, and
  // a link waiting for its next round makes it now.
  void shut_down();
  // Closes the connection, the resolution and the timer for good.
  void close();
  // Leaves the current server (nothing may be in flight) for `server`.
  void switch_to(int server);

  State state() const { return state_; }
  // Connected, or a connection being made.
  bool trying() const {
    return state_ == State::kResolving || state_ == State::kConnecting || state_ == State::kConnected;
  }
  bool up() const { return state_ == State::kConnected && conn_ && conn_->connected(); }
  // A failure was reported and no connection succeeded since: the server
  // is away, whatever the current attempt will bring.
  bool in_trouble() const { return trouble_; }
  bool writing() const { return conn_ && conn_->writing(); }
  Connection* conn() const { return conn_; }
  int server() const { return servers_[pos_]; }
  const std::string& peer() const;
  // Once a second: forget writes acknowledged a while ago.
  void tick();
  // UDP: the connection's try_send() met "port unreachable".
  void conn_refused() { refused(conn_); }
  // Drops the connection as if it broke (a protocol error, a peer that
  // stopped answering) and reconnects as after a break.
  void reconnect(const std::string& reason) {
    if (conn_) broken(conn_, reason, false);
  }

 private:
  void start_connect();
  void resolved(const std::vector<sockaddr_storage>& addrs, const std::string& err);
  void connect_next_address(std::string last_error);
  void connected();
  void connect_failed(const std::string& reason);
  int64_t plan_next();
  std::string plan_text(int64_t delay) const;
  void execute(int64_t delay);
  void drop_conn();
  void on_timer();

  // ConnectionEvents
  void connect_done(Connection* c, int status) override;
  void write_done(Connection* c) override;
  void broken(Connection* c, const std::string& reason, bool fresh) override;
  void refused(Connection* c) override;
  void received(Connection* c, std::string_view bytes) override {
    if (c == conn_) events_->link_data(*this, bytes);
  }

  LinkContext ctx_;
  std::vector<int> servers_;
  LinkEvents* events_;
  uv_timer_t timer_{};  // backoff wait, connect timeout
  bool started_ = false;
  bool closed_ = false;
  bool shutting_down_ = false;
  State state_ = State::kIdle;
  Connection* conn_ = nullptr;
  Resolution* resolving_ = nullptr;
  std::vector<sockaddr_storage> addrs_;
  size_t addr_idx_ = 0;
  size_t pos_ = 0;  // index into servers_ of the current server
  size_t failed_in_round_ = 0;
  uint64_t backoff_ms_ = 1000;
  bool trouble_ = false;  // a failure was reported: report the next connect
};

std::string seconds_text(uint64_t ms);

}  // namespace logferry
