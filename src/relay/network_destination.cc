// The running network(), syslog() and network-load-balancer() destination:
// the pending buffer messages are rendered into, which server link gets the
// next write (failover with failback probes, or round-robin), delivery
// tracking (taken_through), the dropping and loss reports, and shutdown.
#include "relay/network_destination.h"

#include <uv.h>

#include <algorithm>
#include <cstdio>

#include "core/shutdown_give_up.h"
#include "relay/connection.h"
#include "relay/delivery_marks.h"
#include "relay/failback_probe.h"
#include "relay/server_link.h"
#include "relay/wire_format.h"

namespace logferry {

namespace {

// A pending buffer this large is written without waiting for the end of the
// batch.
constexpr size_t kEarlyWrite = 1 << 20;
// Shutdown: how often progress is checked, and the longest wait in all.
constexpr uint64_t kGraceCheckMs = 250;
constexpr uint64_t kMaxShutdownMs = 60000;

// Everything happens on the output thread's loop: deliver() renders into
// `pending_`; at the end of a batch flush() hands all of it to one write on
// one link (uv_try_write first, uv_write for what the kernel did not take
// at once), so each link has at most one write in flight, plus the pending
// buffer.  With failover there is one link, which moves from server to
// server; with round-robin one link per server, and each write goes to the
// next link that is connected and has no write in flight.
//
// Delivery tracking: every rendered byte has a stream offset; pending_
// holds [base_, base_ + pending_.size()), each write in flight a range
// below base_.  Every byte below the lowest of those starts has been handed
// to the kernel or given up on (a broken connection's write, counted as
// possibly lost); what shutdown could not send is never taken.
// DeliveryMarks turns that offset into the engine's flush numbers.
class NetworkDestination : public Destination, private LinkEvents {
 public:
  explicit NetworkDestination(const NetworkDestinationConfig& c)
      : cfg_(c), name_(describe_network_destination(c)), wire_(cfg_),
        reopen_ms_(static_cast<uint64_t>(std::max<int64_t>(c.time_reopen, 1)) * 1000),
        probe_(cfg_, peers_, &counters, &outstanding_,
               [this] { return !done_ && !closing_ && !links_.empty() && links_[0]->server() != 0 && links_[0]->up(); },
               [this] { primary_back(); }) {
    for (const auto& s : cfg_.servers) peers_.push_back(host_port(s, cfg_.port));
  }

  // Destroyed without close(): the engine gave up starting after open()
  // (another driver failed) and its loop has not run yet.  Close the
  // handles now, on this thread, so that none outlives this object.
  ~NetworkDestination() override {
    if (!started_ || outstanding_ == 0) return;
    internal_log = nullptr;  // the engine may be half torn down: reports go to stderr
    base_ += pending_.size();
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
        report(4, std::to_string(pending_msgs_) + " messages (" + std::to_string(pending_.size()) +
                      " bytes) wait for " + where() + (any_up() ? "" : " (not connected)") +
                      "; dropping new messages until it takes them (counted as dropped_queue_full)");
      }
      ++dropped_episode_;
      return;
    }
    if (!wire_.append(msg, pending_)) Counters::add(counters.dropped_too_long);
    if (!cfg_.tcp) ends_.push_back(pending_.size());
    ++pending_msgs_;
    if (pending_.size() >= kEarlyWrite) write_pending();
  }

  void flush() override {
    marks_.flushed(flush_seq, base_ + pending_.size());
    write_pending();
    marks_.release(taken_offset());
  }

  void tick() override {
    start();
    for (auto& l : links_) l->tick();
  }

  void close() override {
    if (!started_ || closing_) return;
    closing_ = true;
    stop_probing();
    write_pending();
    if (done_) return;
    if (nothing_left()) {
      finish_close();
      return;
    }
    // Links waiting to reconnect make one more round now; a failed round
    // ends their attempts.
    for (auto& l : links_) {
      l->shut_down();
      if (done_) return;
    }
    // Pending messages may take as long as the servers keep taking them;
    // shutdown_grace_ms without progress (or kMaxShutdownMs in all) ends it.
    grace_started_ms_ = last_progress_ms_ = uv_now(loop_);
    last_progress_ = progress();
    uv_timer_start(&grace_timer_, [](uv_timer_t* t) { static_cast<NetworkDestination*>(t->data)->grace_check(); },
                   kGraceCheckMs, kGraceCheckMs);
  }

  // Flow-controlled sources wait while half the pending cap is used, so
  // that the cap (and its drops) is reached only by sources that do not
  // wait (e.g. UDP).
  bool accepting() const override {
    return pending_.size() < cfg_.max_pending_bytes / 2 && pending_msgs_ < cfg_.max_pending_messages / 2;
  }

  uint64_t taken_through(uint64_t latest) const override {
    return marks_.taken_through(latest, taken_offset(), base_ + pending_.size());
  }

 private:
  // ---- the pending buffer and the links ------------------------------------

  void start() {
    if (started_ || !loop_) return;
    started_ = true;
    uv_timer_init(loop_, &grace_timer_);
    grace_timer_.data = this;
    ++outstanding_;
    probe_.init(loop_);
    LinkContext ctx;
    ctx.loop = loop_;
    ctx.cfg = &cfg_;
    ctx.peers = &peers_;
    ctx.counters = &counters;
    ctx.outstanding = &outstanding_;
    ctx.reopen_ms = reopen_ms_;
    LinkEvents* events = this;
    if (cfg_.round_robin) {
      for (size_t i = 0; i < cfg_.servers.size(); ++i)
        links_.push_back(std::make_unique<ServerLink>(ctx, std::vector<int>{static_cast<int>(i)}, events));
    } else {
      std::vector<int> all;
      for (size_t i = 0; i < cfg_.servers.size(); ++i) all.push_back(static_cast<int>(i));
      links_.push_back(std::make_unique<ServerLink>(ctx, all, events));
    }
    for (auto& l : links_) l->start();
  }

  // The pending buffer is full: log-fifo-size() messages while no
  // connection is up or being made for the first time since a failure
  // (the server is away: they may wait long; a retry does not count, or
  // the cap would depend on when a message comes), and max_pending_bytes
  // always (a connected but slower server: the engine's flow control does
  // not reach past deliver(), so this is what bounds memory then).
  bool over_cap() const {
    if (pending_.size() >= cfg_.max_pending_bytes) return true;
    bool link = std::any_of(links_.begin(), links_.end(),
                            [](const auto& l) { return l->up() || (l->trying() && !l->in_trouble()); });
    return pending_msgs_ >= cfg_.max_pending_messages && !link;
  }

  bool any_up() const {
    return std::any_of(links_.begin(), links_.end(), [](const auto& l) { return l->up(); });
  }

  // Where messages go, for reports: the current server, or every target.
  std::string where() const {
    if (!cfg_.round_robin) return links_.empty() ? peers_[0] : links_[0]->peer();
    std::string s;
    for (size_t i = 0; i < peers_.size(); ++i) s += (i ? " or " : "") + peers_[i];
    return s;
  }

  // The next link to write to: connected, no write in flight, in turn.
  ServerLink* pick_link() {
    size_t n = links_.size();
    for (size_t k = 0; k < n; ++k) {
      size_t i = (next_link_ + k) % n;
      if (links_[i]->up() && !links_[i]->writing()) {
        next_link_ = (i + 1) % n;
        return links_[i].get();
      }
    }
    return nullptr;
  }

  // Hands the pending buffer to a link that can take it now.
  void write_pending() {
    if (done_ || pending_msgs_ == 0) return;
    ServerLink* l = pick_link();
    if (!l) return;
    Connection* c = l->conn();
    if (cfg_.tcp) {
      uint64_t start = base_, msgs = pending_msgs_;
      size_t bytes = pending_.size();
      // The bytes leave pending_ only if the peer is still there; the
      // bookkeeping is done before write() because it may finish (and call
      // back into this object) before it returns.
      if (!c->peer_alive()) return;  // broken(): the link reconnects, the bytes wait
      base_ += bytes;
      pending_msgs_ = 0;
      c->write(pending_, msgs, start);
      return;
    }
    // UDP: one datagram per message, at once while the kernel takes them.
    bool refused = false;
    size_t k = c->try_send(pending_, ends_, &refused);
    size_t done_bytes = k ? ends_[k - 1] : 0;
    pending_.erase(0, done_bytes);
    ends_.erase(ends_.begin(), ends_.begin() + static_cast<ptrdiff_t>(k));
    for (size_t& e : ends_) e -= done_bytes;
    base_ += done_bytes;
    pending_msgs_ = ends_.size();
    if (refused) {
      l->conn_refused();  // the datagram that met it waits
      return;
    }
    if (ends_.empty()) {
      after_write(*l);
      return;
    }
    uint64_t start = base_;
    base_ += pending_.size();
    pending_msgs_ = 0;
    c->send(pending_, ends_, start);
  }

  // The stream offset below which every byte is taken.
  uint64_t taken_offset() const {
    uint64_t p = std::min(base_, abandoned_from_);
    for (const auto& l : links_)
      if (l->writing()) p = std::min(p, l->conn()->write_start());
    return p;
  }

  bool nothing_left() const {
    return pending_msgs_ == 0 && std::none_of(links_.begin(), links_.end(), [](const auto& l) { return l->writing(); });
  }

  // A write is done: report the end of a dropping episode, switch back to
  // the primary if that is due, write what is pending, or finish shutting
  // down.
  void after_write(ServerLink& l) {
    marks_.release(taken_offset());
    progressed();
    if (dropping_ && !over_cap()) {
      report(5, l.peer() + " takes messages again; " + std::to_string(dropped_episode_) + " were dropped meanwhile");
      dropping_ = false;
      dropped_episode_ = 0;
    }
    if (switch_back_ && !closing_) {
      switch_back();
      return;
    }
    write_pending();
    if (closing_ && nothing_left()) finish_close();
  }

  // ---- LinkEvents ----------------------------------------------------------

  void link_up(ServerLink& l) override {
    if (cfg_.failback && !cfg_.round_robin && l.server() != 0 && !closing_) start_probing();
    write_pending();
    if (closing_ && nothing_left()) finish_close();
  }

  void link_write_done(ServerLink& l) override { after_write(l); }

  void link_down(ServerLink&, bool broke, uint64_t lost) override {
    if (broke) {
      lost_total_ += lost;
      ++breaks_;
    }
    stop_probing();
    marks_.release(taken_offset());
  }

  bool link_should_retry(ServerLink&) override { return !(closing_ && pending_msgs_ == 0); }

  // A link stopped trying (only while shutting down): finish, or give up
  // when no other link can take what waits.
  void link_stopped(ServerLink&) override {
    if (done_) return;
    if (nothing_left()) {
      finish_close();
      return;
    }
    for (const auto& l : links_)
      if (l->trying() || l->writing() || l->state() == ServerLink::State::kWaiting) return;
    give_up("no server reachable");
  }

  size_t waiting_messages() const override { return pending_msgs_; }

  void report(int severity, const std::string& text) override {
    std::string line = "destination " + name_ + ": " + text;
    if (internal_log) {
      internal_log(severity, line);
    } else {
      fprintf(stderr, "logferry: %s\n", line.c_str());
    }
  }

  // ---- failback ------------------------------------------------------------

  void start_probing() { probe_.start(0); }

  void stop_probing() {
    if (!started_ || done_) return;
    probe_.stop();
    switch_back_ = false;
  }

  void primary_back() {
    switch_back_ = true;
    if (links_[0]->up() && !links_[0]->writing()) switch_back();
  }

  // The primary answered enough probes: leave the failover server (nothing
  // is in flight; the kernel still delivers what it holds) and connect to
  // the primary.
  void switch_back() {
    int64_t probes = probe_.successes();
    stop_probing();
    report(5, "primary server " + peers_[0] + " accepted " + std::to_string(probes) +
                  " probe connections; switching back to it from " + links_[0]->peer());
    links_[0]->switch_to(0);
  }

  // ---- shutdown --------------------------------------------------------

  // Changes whenever a write completes or libuv writes part of one.
  uint64_t progress() {
    uint64_t p = Counters::get(counters.out) * 1000003;
    for (auto& l : links_)
      if (l->conn()) p += l->conn()->write_queue_size();
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
      give_up(where() + " took nothing for " + seconds_text(static_cast<uint64_t>(cfg_.shutdown_grace_ms)));
    } else if (now - grace_started_ms_ >= kMaxShutdownMs) {
      give_up("still not done after " + seconds_text(kMaxShutdownMs));
    }
  }

  // Shutdown could not send everything: count what is left and stop.
  // Behind a disk buffer none of it is lost (it is not taken, so it stays
  // in the buffer): not counted as dropped, and said so.
  void give_up(const std::string& reason) {
    if (done_) return;
    uint64_t pending = pending_msgs_;
    uint64_t inflight = 0;
    for (const auto& l : links_)
      if (l->writing() && l->conn()->tcp()) inflight += l->conn()->write_msgs();
    std::string kept = give_up_at_shutdown(*this, pending);
    if (inflight) {
      Counters::add(counters.errors, inflight);
      if (!backed_by_disk_buffer) lost_total_ += inflight;
    }
    // What shutdown could not send never left: it is not taken, so a file
    // source's saved position stays before it and the next start sends it.
    abandoned_from_ = taken_offset();
    base_ += pending_.size();
    pending_.clear();
    ends_.clear();
    pending_msgs_ = 0;
    std::string text = "shutting down with " + std::to_string(pending) + " messages not sent";
    if (inflight) text += " and " + std::to_string(inflight) + " partly written";
    report(4, text + " (" + reason + ")" + kept);
    finish_close();
  }

  void finish_close() {
    if (done_) return;
    stop_probing();
    done_ = true;
    for (auto& l : links_) l->close();
    probe_.close();
    uv_close(reinterpret_cast<uv_handle_t*>(&grace_timer_),
             [](uv_handle_t* h) { --static_cast<NetworkDestination*>(h->data)->outstanding_; });
    marks_.release(taken_offset());
    if (breaks_ > 0)
      report(4, std::to_string(breaks_) + " connection(s) broke while running; up to " + std::to_string(lost_total_) +
                    " messages may have been lost in them");
  }

  NetworkDestinationConfig cfg_;
  uint64_t abandoned_from_ = UINT64_MAX;  // shutdown gave up on the bytes from here on
  std::string name_;
  WireFormat wire_;  // renders with cfg_
  std::vector<std::string> peers_;  // "host:port" of each server
  uint64_t reopen_ms_;
  uv_loop_t* loop_ = nullptr;
  uv_timer_t grace_timer_{};  // shutdown: how long pending messages may take
  bool started_ = false;
  bool closing_ = false;
  bool done_ = false;

  std::vector<std::unique_ptr<ServerLink>> links_;
  size_t next_link_ = 0;  // round-robin: where the search for the next link starts

  FailbackProbe probe_;       // failback(): is the primary back?
  bool switch_back_ = false;  // it is: switch once the write in flight is done

  std::string pending_;
  size_t pending_msgs_ = 0;
  std::vector<size_t> ends_;  // UDP: end offset of each datagram in pending_
  uint64_t base_ = 0;         // stream offset of pending_[0]
  DeliveryMarks marks_;

  bool dropping_ = false;
  uint64_t dropped_episode_ = 0;
  uint64_t grace_started_ms_ = 0;
  uint64_t last_progress_ms_ = 0;
  uint64_t last_progress_ = 0;

  uint64_t lost_total_ = 0;
  uint64_t breaks_ = 0;
  size_t outstanding_ = 0;  // our handles not yet closed, and resolutions running
};

}  // namespace

std::unique_ptr<Destination> make_network_destination(const NetworkDestinationConfig& c) {
  return std::make_unique<NetworkDestination>(c);
}

}  // namespace logferry
