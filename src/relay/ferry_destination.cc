// The running ferry() destination.  Everything happens on the output
// thread's loop.
//
// deliver() encodes each message into the open batch of its stream (one
// stream per source block, and on a relay one per origin stream of the
// messages its ferry() sources received: those keep the origin's identity
// and batch numbers, see docs/protocol.md "Relays"); flush() closes every open batch, numbered with
// the engine's flush number, and sends what the window allows.  A batch
// stays in its stream's window until the receiver's ACK covers it; after a
// reconnect the streams are opened again and everything above the
// receiver's high-water mark is sent again.  taken_through() answers with
// the flush before the oldest unacknowledged batch, so the engine
// acknowledges a file source's lines only when the receiver made them
// durable.
#include "relay/ferry_destination.h"

#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <deque>
#include <map>

#include "core/origin_table.h"
#include "core/shutdown_give_up.h"
#include "relay/connection.h"
#include "relay/failback_probe.h"
#include "relay/ferry_codec.h"
#include "relay/ferry_dictionary.h"
#include "relay/node_id.h"
#include "relay/sent_log.h"
#include "relay/server_link.h"

namespace logferry {

namespace {

using namespace ferry;

constexpr uint64_t kGraceCheckMs = 250;
constexpr uint64_t kMaxShutdownMs = 60000;

// A message of a batch that a file source read (own streams only, while
// the stream waits to learn what the receiver has after a restart).
struct LineOfFile {
  uint32_t index;  // the message's place in the batch
  uint64_t life;   // LogMessage::file_life
  uint64_t end;    // LogMessage::file_end
};

// One batch of a stream, kept until acknowledged.
struct OutBatch {
  uint64_t seq = 0;        // 0: not numbered yet (the stream has not learned the receiver's mark)
  uint64_t flush_seq = 0;  // the engine's flush it belongs to
  uint32_t count = 0;
  std::string raw;         // the encoded messages, uncompressed
  std::vector<uint32_t> text_at;  // where each message's MESSAGE starts in raw (SplitLayout)
  StampBase stamps;        // what the next message's stamps are sent against
  std::vector<SentLog::Reach> reaches;  // how far its lines reach into each file content (own streams)
  std::vector<LineOfFile> lines;        // see LineOfFile; kept only while the stream resolves
  bool recorded = false;                // in the sent log under `seq`
};

// One origin stream: the messages of one source block of this node, or
// (on a relay) of one stream of another node, forwarded under its identity
// and with its numbers.
struct Stream {
  uint16_t source_id = 0;
  uint32_t origin = 0;         // LogMessage::origin of its messages (0: they started here)
  OriginStreamId id;           // what STREAM_OPEN names
  std::string name;
  uint64_t next_seq = 0;       // 0 until the first STREAM_STATE tells where the receiver is (own streams)
  std::deque<OutBatch> batches;  // unacknowledged, oldest first; the last may be open
  bool open_batch = false;     // batches.back() still takes messages
  size_t sent = 0;             // batches[0, sent) were sent on the current connection
  size_t session = 0;          // the connection it goes by (sessions_), for good
  bool opened = false;         // STREAM_OPEN sent on the current connection
  bool ready = false;          // STREAM_STATE received on the current connection
  // After a restart of this node: the sent log knows batches of the stream
  // from the last run, so its first STREAM_STATE decides which lines read
  // again the receiver already stored (`skip`: life -> end of those).
  bool resolving = false;
  SentLog::Stored skip;
  uint64_t skipped = 0;        // lines not sent again because the receiver had them
};

enum class Phase { kDown, kHello, kReady };

// One connection slot and its protocol state.  A destination has one (its
// link moves through the servers on failure) or, with load-balance(yes),
// one per server, each preferring its own server and failing over to the
// next; a stream goes by one session for good, so it sticks to one server
// while that is up, and with failback() returns to its own server (the
// primary, or server i) once that answers probes again.
struct Session {
  explicit Session(int level) : compressor(level), reader(kDefaultMaxFrameBytes) {}
  size_t index = 0;
  int home = 0;                // the server it prefers: the primary, or with load-balance(yes) server `index`
  std::unique_ptr<ServerLink> link;
  std::unique_ptr<FailbackProbe> probe;  // failback(): is `home` back?
  // It is: no new batches on this connection; the session moves home once
  // those sent are acknowledged (or after ack-timeout()).
  bool failing_back = false;
  uint64_t failing_back_ms = 0;  // since when
  Phase phase = Phase::kDown;
  Welcome welcome;
  bool zstd = false;
  bool split = false;  // the receiver takes the split layout (with zstd)
  Compressor compressor;
  FrameReader reader;
  std::string out;             // frames waiting for the connection's write
  uint64_t last_heard_ms = 0;  // the receiver's last frame (or when an answer became owed)
  bool ping_sent = false;      // a PING waits for its PONG
};

class FerryDestination : public Destination, private LinkEvents {
 public:
  explicit FerryDestination(const FerryDestinationConfig& c)
      : cfg_(c), name_(describe_ferry_destination(c)) {
    for (const auto& s : cfg_.link.servers) peers_.push_back(host_port(s, cfg_.link.port));
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    hostname_ = host;
  }

  ~FerryDestination() override {
    if (!started_ || outstanding_ == 0) return;
    internal_log = nullptr;
    closing_ = true;
    finish_close();
    while (outstanding_ > 0) uv_run(loop_, UV_RUN_ONCE);
  }

  bool open(uv_loop_t* loop, std::string* error) override {
    std::string err;
    if (!load_or_create_node_id(persist_dir, &node_id_, &err)) {
      *error = err + " (the ferry protocol names this node by it; set persist-dir() to a writable directory)";
      return false;
    }
    loop_ = loop;
    open_sent_log();
    start();
    return true;
  }

  void deliver(const LogMessage& msg) override {
    Stream& s = stream_for(msg);
    if (!s.skip.empty() && msg.file_life != 0 && already_stored(s, msg)) return;
    // Full: drop what sources that do not wait send, a whole engine batch
    // at a time.  Once a batch's first message is in, the rest of it
    // comes too: flow-controlled sources (files) are let through only
    // while the window has room, but one engine batch can make more
    // batches than that (a small batch-messages()), and none may go.
    bool in_this_flush = !s.batches.empty() && s.batches.back().flush_seq == 0;
    if (done_ || (!in_this_flush && s.batches.size() >= static_cast<size_t>(cfg_.window) * cfg_.queue_windows)) {
      Counters::add(counters.dropped_queue_full);
      if (!dropping_) {
        dropping_ = true;
        report(4, "stream " + s.name + " holds " + std::to_string(s.batches.size()) +
                      " unacknowledged batches; dropping new messages of sources that do not wait "
                      "(counted as dropped_queue_full)");
      }
      return;
    }
    // A forwarded stream's batch is the origin's batch: one batch per
    // origin number (the engine hands a ferry() batch over whole).
    if (s.open_batch && s.origin && s.batches.back().seq != msg.origin_seq) s.open_batch = false;
    if (!s.open_batch) {
      s.batches.emplace_back();
      s.open_batch = true;
      if (s.origin) s.batches.back().seq = msg.origin_seq;
      else if (s.next_seq) s.batches.back().seq = s.next_seq++;
    }
    OutBatch& b = s.batches.back();
    encoder_.append(msg, &b.stamps, &b.raw, &b.text_at);
    if (msg.file_life != 0 && !s.origin) note_line_of_file(s, b, msg);
    ++b.count;
    // A forwarded batch is never cut: its rest would go as a second batch
    // with the same number, which the receiver drops as a duplicate.
    if (!s.origin && (b.count >= cfg_.batch_messages || b.raw.size() >= cfg_.batch_bytes)) s.open_batch = false;
  }

  void flush() override {
    for (auto& s : streams_) {
      s.open_batch = false;
      // The batches filled since the last flush (0: not flushed yet; a
      // large one closes early) belong to this one.
      for (auto it = s.batches.rbegin(); it != s.batches.rend() && it->flush_seq == 0; ++it)
        it->flush_seq = flush_seq;
    }
    pump();
  }

  void tick() override { start(); }

  void close() override {
    if (!started_ || closing_) return;
    closing_ = true;
    for (auto& se : sessions_) stop_failback(se);
    flush();
    if (unacknowledged() == 0) {
      finish_close();
      return;
    }
    for (auto& se : sessions_) se.link->shut_down();
    grace_started_ms_ = last_progress_ms_ = uv_now(loop_);
    last_acked_ = acked_total_;
    uv_timer_start(&grace_timer_, [](uv_timer_t* t) { static_cast<FerryDestination*>(t->data)->grace_check(); },
                   kGraceCheckMs, kGraceCheckMs);
  }

  // Flow control: a stream whose window is full (its oldest batches wait
  // for the receiver) makes flow-controlled sources wait.
  bool accepting() const override {
    for (const auto& s : streams_)
      if (s.batches.size() >= window(sessions_[s.session])) return false;
    return true;
  }

  uint64_t taken_through(uint64_t latest) const override {
    uint64_t t = latest;
    for (const auto& s : streams_)
      if (!s.batches.empty() && s.batches.front().flush_seq > 0) t = std::min(t, s.batches.front().flush_seq - 1);
    return t;
  }

 private:
  size_t window(const Session& se) const {
    return std::max<size_t>(1, std::min<size_t>(cfg_.window, se.welcome.window));
  }

  // The stream of a message: its origin's (a forwarded message) or its
  // source block's.  Looked up by number; the origin's identity is copied
  // out of the shared table only when a stream is created, not per message.
  Stream& stream_for(const LogMessage& msg) {
    uint32_t number = origins ? msg.origin : 0;
    if (Stream* s = find_stream(number, msg.source_id)) return *s;
    OriginStreamId origin;
    if (number && !origins->get(number, &origin)) {
      number = 0;  // not in the table: sent as this node's own
      if (Stream* s = find_stream(0, msg.source_id)) return *s;
    }
    streams_.emplace_back();
    Stream& s = streams_.back();
    s.source_id = msg.source_id;
    s.origin = number;
    s.session = sessions_.empty() ? 0 : (streams_.size() - 1) % sessions_.size();
    if (number) {
      s.id = std::move(origin);
      s.name = s.id.source + " of " + (s.id.host.empty() ? "a peer" : s.id.host);
    } else {
      std::copy(node_id_.begin(), node_id_.end(), s.id.node.begin());
      s.name = msg.source_id < source_names.size() ? source_names[msg.source_id]
                                                    : "source" + std::to_string(msg.source_id);
      s.id.source = s.name;
      s.id.host = hostname_;
      s.resolving = sent_log_open_ && sent_log_.knows(s.name);
    }
    return *(last_stream_ = &s);
  }

  // ---- after a crash of this node: lines the receiver already stored ----
  // The file sources read again from their last saved position, which can
  // be behind what the receiver stored (positions are saved after the
  // ACK).  The sent log (relay/sent_log.h) says how far into each file
  // content the batches the receiver has reached; lines up to there are
  // not sent again.

  void open_sent_log() {
    std::string server = cfg_.link.servers.empty() ? std::string("none") : cfg_.link.servers[0];
    for (char& c : server)
      if (!isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') c = '_';
    std::string path = persist_dir + "/ferry-sent-" + server + "-" + std::to_string(cfg_.link.port);
    std::string err;
    sent_log_open_ = sent_log_.open(path, &err);
    if (!sent_log_open_)
      report(4, "cannot keep the sent log (" + err + "): after a crash, lines the receiver already stored are sent again");
    else if (sent_log_.skipped_lines() > 0)
      report(4, path + ": " + std::to_string(sent_log_.skipped_lines()) + " damaged lines ignored");
  }

  // Whether `msg` (read from a file) is at or before what the receiver
  // stored of its file content.  The first line past it ends the check for
  // that content: the lines after it are new.
  bool already_stored(Stream& s, const LogMessage& msg) {
    auto it = s.skip.find(msg.file_life);
    if (it == s.skip.end()) return false;
    if (msg.file_end <= it->second) {
      ++s.skipped;
      return true;
    }
    s.skip.erase(it);
    report_skipped_in_all(s);
    return false;
  }

  // Once no file content is left to check: how many lines were skipped.
  void report_skipped_in_all(const Stream& s) {
    if (s.skip.empty() && s.skipped > 0)
      report(5, "stream " + s.name + ": " + std::to_string(s.skipped) +
                    " lines read again after a restart were not sent again: the receiver had stored them");
  }

  // A batch's reach into file content `life` extends to `end` (a batch
  // holds lines of few files: mostly the last one named).
  static void extend_reach(std::vector<SentLog::Reach>* reaches, uint64_t life, uint64_t end) {
    auto it = !reaches->empty() && reaches->back().life == life
                  ? reaches->end() - 1
                  : std::find_if(reaches->begin(), reaches->end(), [&](const SentLog::Reach& r) { return r.life == life; });
    if (it == reaches->end()) reaches->push_back(SentLog::Reach{life, end});
    else it->end = std::max(it->end, end);
  }

  void note_line_of_file(Stream& s, OutBatch& b, const LogMessage& msg) {
    extend_reach(&b.reaches, msg.file_life, msg.file_end);
    if (s.resolving) b.lines.push_back(LineOfFile{b.count, msg.file_life, msg.file_end});
  }

  // The first STREAM_STATE after a restart: drops from the batches filled
  // meanwhile the lines the receiver has (their batches are rebuilt from
  // the encoded messages that stay), and keeps checking new ones.
  void resolve_restart(Stream& s, uint64_t hwm) {
    s.resolving = false;
    s.skip = sent_log_.resume(s.name, hwm);
    uint64_t before = s.skipped;
    for (auto& b : s.batches) {
      std::vector<LineOfFile> lines;
      lines.swap(b.lines);
      std::vector<bool> drop(b.count, false);
      bool any = false;
      for (const auto& l : lines) {
        auto it = s.skip.find(l.life);
        if (it != s.skip.end() && l.end <= it->second) drop[l.index] = any = true;
      }
      if (!any) continue;
      // Rebuilt from the messages that stay: encoded again, since each
      // message's stamps are sent against the one before it.
      std::string err;
      if (!decode_messages(b.raw, b.count, &rebuild_, &err)) {
        report(3, "stream " + s.name + ": cannot rebuild a batch (" + err + "); it is sent whole");  // not reached
        continue;
      }
      b.raw.clear();
      b.text_at.clear();
      b.stamps = StampBase{};
      uint32_t count = 0;
      for (uint32_t i = 0; i < b.count && i < rebuild_.size(); ++i) {
        if (drop[i]) {
          ++s.skipped;
          continue;
        }
        encoder_.append(rebuild_[i], &b.stamps, &b.raw, &b.text_at);
        ++count;
      }
      b.count = count;
      b.reaches.clear();
      for (const auto& l : lines)
        if (!drop[l.index]) extend_reach(&b.reaches, l.life, l.end);
    }
    // Batches left empty go (a still open one stays to be filled).
    for (size_t i = 0; i < s.batches.size();) {
      bool open = s.open_batch && i + 1 == s.batches.size();
      if (s.batches[i].count == 0 && !open) s.batches.erase(s.batches.begin() + static_cast<ptrdiff_t>(i));
      else ++i;
    }
    report(5, "stream " + s.name + ": resuming after a restart; the receiver has its batches through " +
                  std::to_string(hwm) + "; " + std::to_string(s.skipped - before) +
                  " lines read again so far were not sent again (it stored them)");
    report_skipped_in_all(s);
  }

  // Records the batches about to go out in the sent log (before they do).
  void write_sent_log() {
    if (!sent_log_open_) return;
    std::string err;
    if (!sent_log_.write_pending(&err)) {
      sent_log_open_ = false;
      report(3, err + "; the sent log is off: after a crash, lines the receiver already stored are sent again");
    }
  }

  Stream* find_stream(uint32_t number, uint32_t source_id) {
    auto same = [&](const Stream& s) { return s.origin == number && (number || s.source_id == source_id); };
    if (last_stream_ && same(*last_stream_)) return last_stream_;
    for (auto& s : streams_)
      if (same(s)) return last_stream_ = &s;
    return nullptr;
  }

  size_t unacknowledged() const {
    size_t n = 0;
    for (const auto& s : streams_) n += s.batches.size();
    return n;
  }

  void start() {
    if (started_ || !loop_) return;
    started_ = true;
    uv_timer_init(loop_, &grace_timer_);
    grace_timer_.data = this;
    ++outstanding_;
    uv_timer_init(loop_, &live_timer_);
    live_timer_.data = this;
    ++outstanding_;
    uint64_t every = std::max<uint64_t>(cfg_.ack_timeout_ms / 6, 100);
    uv_timer_start(&live_timer_, [](uv_timer_t* t) { static_cast<FerryDestination*>(t->data)->check_alive(); }, every,
                   every);
    LinkContext ctx;
    ctx.loop = loop_;
    ctx.cfg = &cfg_.link;
    ctx.peers = &peers_;
    ctx.counters = &link_counters_;
    ctx.outstanding = &outstanding_;
    ctx.reopen_ms = static_cast<uint64_t>(std::max<int64_t>(cfg_.link.time_reopen, 1)) * 1000;
    // Failover: one session trying the servers in order.  Load balancing:
    // session i tries server i first, then the ones after it.
    size_t n = cfg_.load_balance ? cfg_.link.servers.size() : 1;
    LinkEvents* events = this;
    for (size_t i = 0; i < n; ++i) {
      std::vector<int> order;
      for (size_t k = 0; k < cfg_.link.servers.size(); ++k)
        order.push_back(static_cast<int>((i + k) % cfg_.link.servers.size()));
      sessions_.emplace_back(cfg_.compress_level);
      Session& se = sessions_.back();
      se.index = i;
      se.home = order[0];
      se.link = std::make_unique<ServerLink>(ctx, order, events);
      if (cfg_.link.failback && cfg_.link.servers.size() > 1) {
        se.probe = std::make_unique<FailbackProbe>(
            cfg_.link, peers_, &link_counters_, &outstanding_, [this, i] { return away(sessions_[i]); },
            [this, i] { home_back(sessions_[i]); });
        se.probe->init(loop_);
      }
    }
    for (auto& se : sessions_) se.link->start();
  }

  Session& session_of(const ServerLink& l) {
    for (auto& se : sessions_)
      if (se.link.get() == &l) return se;
    return sessions_.front();  // not reached: every link is a session's
  }

  // ---- sending ---------------------------------------------------------------

  void pump() {
    for (auto& se : sessions_) pump(se);
  }

  // Opens new streams and sends what the windows allow, then writes.
  void pump(Session& se) {
    if (se.phase == Phase::kReady && !se.failing_back) {
      for (size_t i = 0; i < streams_.size(); ++i) {
        Stream& s = streams_[i];
        if (s.session != se.index) continue;
        if (!s.opened) {
          StreamOpen so;
          so.stream = static_cast<uint32_t>(i);
          std::copy(s.id.node.begin(), s.id.node.end(), so.origin);
          so.source = s.id.source;
          so.host = s.id.host;
          encode_stream_open(&se.out, so);
          s.opened = true;
        }
        if (!s.ready) continue;
        while (s.sent < s.batches.size() && s.sent < window(se)) {
          OutBatch& b = s.batches[s.sent];
          if (s.open_batch && s.sent + 1 == s.batches.size()) break;  // still filling
          if (!b.recorded && !s.origin && sent_log_open_) {
            sent_log_.record(s.name, b.seq, b.reaches);
            b.recorded = true;
          }
          if (!send_batch(se, static_cast<uint32_t>(i), b)) return;
          ++s.sent;
        }
      }
    }
    write_sent_log();
    write_out(se);
    go_home_when_settled(se);
  }

  bool send_batch(Session& se, uint32_t stream, const OutBatch& b) {
    if ((b.count > se.welcome.max_batch_messages || b.raw.size() > se.welcome.max_batch_bytes) && !warned_limits_) {
      warned_limits_ = true;
      report(3, "batch " + std::to_string(b.seq) + " of stream " + streams_[stream].name + " holds " +
                    std::to_string(b.count) + " messages, " + std::to_string(b.raw.size()) +
                    " bytes, above what " + se.link->peer() + " accepts (max-batch-messages(" +
                    std::to_string(se.welcome.max_batch_messages) + ") max-batch-bytes(" +
                    std::to_string(se.welcome.max_batch_bytes) + ")): a relay forwards its senders' batches whole; "
                    "raise those on the upstream ferry() source to at least this relay's");
    }
    BatchHeader h{stream, b.seq, b.count, static_cast<uint32_t>(b.raw.size())};
    if (!se.zstd) {
      encode_batch(&se.out, h, 0, b.raw);
      return true;
    }
    // In the split layout when the receiver takes it and the texts allow
    // (the window keeps the row layout: a batch may go again, to another
    // receiver; the split form is at most a few bytes longer, which must
    // not take it over the receiver's limit); compressed straight into the
    // frame.
    std::string_view body = b.raw, texts;
    uint8_t flags = kBatchFlagZstd;
    split_metas_.clear();
    if (se.split && split_.convert(b.raw, b.text_at, &split_metas_) &&
        split_metas_.size() + split_.texts().size() <= se.welcome.max_batch_bytes) {
      body = split_metas_;
      texts = split_.texts();
      h.raw_len = static_cast<uint32_t>(body.size() + texts.size());
      flags |= kBatchFlagSplit;
    }
    size_t at = begin_batch(&se.out, h, flags);
    std::string err;
    if (!se.compressor.compress(body, &se.out, &err, texts)) {
      se.out.resize(at);
      report(3, "compression failed: " + err + "; reconnecting");
      se.link->reconnect("compression failed");
      return false;
    }
    finish_frame(&se.out, at);
    return true;
  }

  void write_out(Session& se) {
    ServerLink* l = se.link.get();
    if (se.out.empty() || !l->up() || l->writing()) return;
    Connection* c = l->conn();
    if (!c->peer_alive()) return;
    c->write(se.out, 0, 0);
  }

  // ---- receiving -------------------------------------------------------------

  void link_data(ServerLink& l, std::string_view bytes) override {
    Session& se = session_of(l);
    se.last_heard_ms = uv_now(loop_);
    se.reader.feed(bytes);
    FrameHeader h;
    std::string_view p;
    int n;
    while ((n = se.reader.next(&h, &p)) == 1) {
      // False, or a write that found the connection broken: the rest of
      // what it sent is moot.
      if (!handle_frame(se, h, p) || se.phase == Phase::kDown) return;
    }
    if (n < 0) protocol_error(l, se.reader.error());
  }

  // Whether `n` names a stream this session opened.
  bool own_stream(const Session& se, uint32_t n) const {
    return n < streams_.size() && streams_[n].session == se.index && streams_[n].opened;
  }

  // False when the connection was dropped.
  bool handle_frame(Session& se, const FrameHeader& h, std::string_view p) {
    ServerLink& l = *se.link;
    switch (static_cast<FrameType>(h.type)) {
      case FrameType::kWelcome: {
        if (se.phase != Phase::kHello || !decode_welcome(p, &se.welcome))
          return protocol_error(l, "unexpected or malformed WELCOME");
        if (se.welcome.version != kVersion) return protocol_error(l, "receiver chose an unknown version");
        se.zstd = cfg_.compress && (se.welcome.features & kFeatureZstd);
        se.split = se.zstd && (se.welcome.features & kFeatureSplit);
        use_dictionary(se);
        se.phase = Phase::kReady;
        pump(se);
        return true;
      }
      case FrameType::kStreamState: {
        StreamState st;
        if (se.phase != Phase::kReady || !decode_stream_state(p, &st) || !own_stream(se, st.stream))
          return protocol_error(l, "unexpected or malformed STREAM_STATE");
        stream_state(streams_[st.stream], st);
        pump(se);
        return true;
      }
      case FrameType::kAck: {
        Ack a;
        if (se.phase != Phase::kReady || !decode_ack(p, &a) || !own_stream(se, a.stream))
          return protocol_error(l, "unexpected or malformed ACK");
        acknowledge(streams_[a.stream], a.seq);
        pump(se);
        return true;
      }
      case FrameType::kPing: {
        uint64_t token;
        if (!decode_ping(p, &token)) return protocol_error(l, "malformed PING");
        encode_ping(&se.out, FrameType::kPong, token);
        write_out(se);
        return true;
      }
      case FrameType::kPong:
        se.ping_sent = false;
        return true;
      case FrameType::kError: {
        ErrorFrame e;
        decode_error(p, &e);
        report(4, l.peer() + " closed the ferry session: error " + std::to_string(e.code) + ": " + e.text);
        l.reconnect("the receiver sent ERROR " + std::to_string(e.code));
        return false;
      }
      default:
        if (is_extension_type(h.type)) return true;
        return protocol_error(l, std::string("unexpected ") + type_name(h.type) + " frame");
    }
  }

  bool protocol_error(ServerLink& l, const std::string& what) {
    Counters::add(counters.errors);
    report(3, "protocol error from " + l.peer() + ": " + what + "; reconnecting");
    std::string bye;
    encode_error(&bye, kErrProtocol, what);
    if (l.up() && !l.writing()) l.conn()->write(bye, 0, 0);
    l.reconnect("protocol error");
    return false;
  }

  // The receiver's high-water mark of a stream: what is at or below it is
  // durable there; send the rest again.  `received`: the highest number it
  // accepted (maybe not durable yet); new numbers must be above it, or they
  // would collide with batches of an earlier run of this sender (a crash)
  // that the receiver still has in flight.
  void stream_state(Stream& s, const StreamState& st) {
    uint64_t hwm = st.hwm, received = st.received;
    s.ready = true;
    s.sent = 0;
    // A forwarded stream keeps the origin's numbers: the receiver drops
    // what it has, whichever path it came by.
    if (!s.origin && (s.next_seq == 0 || s.next_seq <= received)) {
      // First contact (or a receiver that knows more of this stream than we
      // numbered, e.g. failover to another receiver): number after it.
      if (s.next_seq != 0) {
        report(4, "stream " + s.name + ": the receiver has batches up to " + std::to_string(received) +
                      ", above what this sender numbered; unacknowledged batches are renumbered after it");
        if (sent_log_open_ && !s.batches.empty() && s.batches.front().seq > 0)
          sent_log_.void_above(s.name, s.batches.front().seq - 1);
        for (auto& b : s.batches) b.recorded = false;
      } else if (s.resolving) {
        resolve_restart(s, hwm);
      }
      // Afresh (this sender restarted): after fresh_after, which a relay
      // that restarted sets above what it may have forwarded before.
      s.next_seq = (s.next_seq == 0 ? st.fresh_after : received) + 1;
      for (auto& b : s.batches) b.seq = s.next_seq++;
      return;
    }
    acknowledge(s, hwm);
  }

  void acknowledge(Stream& s, uint64_t seq) {
    if (!s.origin && sent_log_open_) sent_log_.acknowledged(s.name, seq);
    bool popped = false;
    while (!s.batches.empty() && s.batches.front().seq != 0 && s.batches.front().seq <= seq &&
           !(s.open_batch && s.batches.size() == 1)) {
      Counters::add(counters.out, s.batches.front().count);
      acked_total_ += s.batches.front().count;
      s.batches.pop_front();
      if (s.sent > 0) --s.sent;
      popped = true;
    }
    if (popped) progressed();
    if (dropping_ && accepting()) {
      dropping_ = false;
      report(5, "the receiver acknowledges again; messages are queued again");
    }
    if (closing_ && unacknowledged() == 0) finish_close();
  }

  // ---- liveness --------------------------------------------------------------------
  // A receiver owes an answer while the handshake runs or batches wait for
  // their ACK.  It proves it is alive by any frame: ACKs, a PONG to the PING
  // sent after a third of ack-timeout() of silence, or - while its engine's
  // queue is full and it does not read (flow control) - the PINGs it sends
  // itself.  Silent for all of ack-timeout(): hung (or a half-open
  // connection keepalive has not noticed yet); reconnect, to the next
  // server when there are several.

  bool owed_answer(const Session& se) const {
    if (se.phase == Phase::kHello) return true;
    if (se.phase != Phase::kReady) return false;
    for (const auto& s : streams_)
      if (s.session == se.index && (s.sent > 0 || (s.opened && !s.ready))) return true;
    return false;
  }

  void check_alive() {
    for (auto& se : sessions_) {
      check_alive(se);
      go_home_when_settled(se);
    }
  }

  void check_alive(Session& se) {
    ServerLink* l = se.link.get();
    if (!l->up() || se.phase == Phase::kDown || !owed_answer(se)) {
      se.last_heard_ms = uv_now(loop_);  // the silence counts from when an answer is owed
      return;
    }
    uint64_t silent = uv_now(loop_) - se.last_heard_ms;
    if (silent >= cfg_.ack_timeout_ms) {
      Counters::add(counters.errors);
      report(4, l->peer() + " sent nothing for " + seconds_text(silent) + " while owing an answer (ack-timeout(" +
                    seconds_text(cfg_.ack_timeout_ms) + ")); reconnecting");
      l->reconnect("ack-timeout");
      return;
    }
    if (silent >= cfg_.ack_timeout_ms / 3 && se.phase == Phase::kReady && !se.ping_sent) {
      encode_ping(&se.out, FrameType::kPing, ++ping_token_);
      se.ping_sent = true;
      write_out(se);
    }
  }

  // ---- LinkEvents --------------------------------------------------------------

  // A new connection (or none): the session's streams start over on it.
  void start_over(Session& se, Phase phase) {
    se.phase = phase;
    se.out.clear();
    for (auto& s : streams_) {
      if (s.session != se.index) continue;
      s.opened = s.ready = false;
      s.sent = 0;
    }
  }

  void link_up(ServerLink& l) override {
    Session& se = session_of(l);
    start_over(se, Phase::kHello);
    se.last_heard_ms = uv_now(loop_);
    se.ping_sent = false;
    se.reader = FrameReader(kDefaultMaxFrameBytes);
    se.compressor.reset();
    Hello h;
    std::copy(node_id_.begin(), node_id_.end(), h.node_id);
    offer(&h, cfg_.compress, cfg_.dictionary.get());
    h.name = hostname_;
    encode_hello(&se.out, h);
    write_out(se);
    if (se.probe && l.server() != se.home && !closing_) se.probe->start(se.home);
  }

  // After WELCOME: the stream starts with the dictionary when the receiver
  // accepted it (it has one with the id offered), else without.
  void use_dictionary(Session& se) {
    const Dictionary* agreed = agreed_dictionary(se.welcome, cfg_.compress, cfg_.dictionary.get());
    se.compressor.use_dictionary(agreed);
    if (se.zstd && cfg_.dictionary && !agreed)
      report(5, "the receiver " + se.link->peer() + " has no compression-dictionary() with id " +
                    std::to_string(cfg_.dictionary->id()) + "; compressing without it");
  }

  void link_write_done(ServerLink& l) override {
    Session& se = session_of(l);
    write_out(se);
    go_home_when_settled(se);
  }

  void link_down(ServerLink& l, bool, uint64_t) override {
    Session& se = session_of(l);
    stop_failback(se);
    start_over(se, Phase::kDown);
  }

  bool link_should_retry(ServerLink&) override { return !(closing_ && unacknowledged() == 0); }

  void link_stopped(ServerLink&) override {
    if (done_ || ++stopped_links_ < sessions_.size()) return;
    if (unacknowledged() == 0) finish_close();
    else give_up("no server reachable");
  }

  size_t waiting_messages() const override {
    size_t n = 0;
    for (const auto& s : streams_)
      for (const auto& b : s.batches) n += b.count;
    return n;
  }

  void report(int severity, const std::string& text) override {
    std::string line = "destination " + name_ + ": " + text;
    if (internal_log) internal_log(severity, line);
    else fprintf(stderr, "logferry: %s\n", line.c_str());
  }

  // ---- failback ------------------------------------------------------------------
  // The receivers keep their marks per server, and the session's own server
  // knows less of its streams than the failover server did.  So it moves
  // only once the failover server acknowledged every batch sent to it:
  // nothing is then sent twice, and the own server's STREAM_STATE (its
  // older mark, below the numbers in use) lets the numbering go on; the
  // receiver notes the gap.  See docs/protocol.md "Failback".

  // On a failover server, connected: probing is wanted.
  bool away(const Session& se) const {
    return !done_ && !closing_ && se.link->up() && se.link->server() != se.home;
  }

  void stop_failback(Session& se) {
    if (se.probe) se.probe->stop();
    se.failing_back = false;
  }

  // Batches sent on the session's connection and not acknowledged yet.
  size_t sent_unacknowledged(const Session& se, size_t* messages) const {
    size_t n = 0;
    *messages = 0;
    for (const auto& s : streams_) {
      if (s.session != se.index) continue;
      n += s.sent;
      for (size_t k = 0; k < s.sent && k < s.batches.size(); ++k) *messages += s.batches[k].count;
    }
    return n;
  }

  // The probes say the own server is back: stop sending new batches here.
  void home_back(Session& se) {
    if (se.failing_back || !away(se)) return;
    se.failing_back = true;
    se.failing_back_ms = uv_now(loop_);
    size_t messages = 0;
    size_t batches = sent_unacknowledged(se, &messages);
    report(5, (cfg_.load_balance ? "server " : "primary server ") + se.probe->peer() + " accepted " +
                  std::to_string(se.probe->successes()) + " probe connections; switching back to it from " +
                  se.link->peer() +
                  (batches ? " once the " + std::to_string(batches) + " batches sent there are acknowledged" : ""));
    go_home_when_settled(se);
  }

  // Failing back and nothing sent is unacknowledged (or ack-timeout()
  // passed): close the connection and connect to the own server.
  void go_home_when_settled(Session& se) {
    if (!se.failing_back) return;
    ServerLink& l = *se.link;
    size_t messages = 0;
    size_t batches = sent_unacknowledged(se, &messages);
    if ((batches > 0 || l.writing()) && uv_now(loop_) - se.failing_back_ms < cfg_.ack_timeout_ms) return;
    if (batches > 0)
      report(4, std::to_string(batches) + " batches (" + std::to_string(messages) + " messages) sent to " + l.peer() +
                    " were not acknowledged within ack-timeout(" + seconds_text(cfg_.ack_timeout_ms) +
                    "); switching back to " + se.probe->peer() +
                    " anyway: they are sent again there, and may be stored by both (as after a failover)");
    int home = se.home;
    stop_failback(se);
    start_over(se, Phase::kDown);
    l.switch_to(home);
  }

  // ---- shutdown ------------------------------------------------------------------

  void grace_check() {
    uint64_t now = uv_now(loop_);
    if (acked_total_ != last_acked_) {
      last_acked_ = acked_total_;
      last_progress_ms_ = now;
    }
    if (now - last_progress_ms_ >= static_cast<uint64_t>(cfg_.link.shutdown_grace_ms))
      give_up("nothing acknowledged for " + seconds_text(static_cast<uint64_t>(cfg_.link.shutdown_grace_ms)));
    else if (now - grace_started_ms_ >= kMaxShutdownMs)
      give_up("still not done after " + seconds_text(kMaxShutdownMs));
  }

  // Shutdown could not get everything acknowledged: what is left was never
  // taken, so file sources read it again at the next start (a disk buffer
  // sends it again).
  void give_up(const std::string& reason) {
    if (done_) return;
    std::string kept = kept_in_disk_buffer_text(*this);
    report(4, "shutting down with " + std::to_string(waiting_messages()) + " messages not acknowledged (" + reason +
                  ")" + (kept.empty() ? "; they are not counted as delivered" : kept));
    finish_close();
  }

  void finish_close() {
    if (done_) return;
    done_ = true;
    for (auto& se : sessions_) {
      se.link->close();
      if (se.probe) se.probe->close();
    }
    for (uv_timer_t* t : {&grace_timer_, &live_timer_})
      uv_close(reinterpret_cast<uv_handle_t*>(t),
               [](uv_handle_t* h) { --static_cast<FerryDestination*>(h->data)->outstanding_; });
  }

  FerryDestinationConfig cfg_;
  std::string name_;
  std::vector<std::string> peers_;
  std::string hostname_;
  NodeId node_id_{};
  uv_loop_t* loop_ = nullptr;
  uv_timer_t grace_timer_{};
  uv_timer_t live_timer_{};      // check_alive()
  uint64_t ping_token_ = 0;
  bool started_ = false;
  bool closing_ = false;
  bool done_ = false;
  bool dropping_ = false;
  size_t outstanding_ = 0;
  std::deque<Session> sessions_;
  size_t stopped_links_ = 0;  // links that gave up (link_stopped)
  Counters link_counters_;  // the connection's own counts (bytes written are not messages delivered)

  std::deque<Stream> streams_;  // index = the stream's number on its session's connection
  Stream* last_stream_ = nullptr;  // the stream of the last message delivered
  MessageEncoder encoder_;
  SplitLayout split_;        // rewrites a batch into the split layout as it goes out
  std::string split_metas_;  // scratch: that batch's start, up to its texts
  SentLog sent_log_;  // own streams' batches: what their lines reached in each file
  bool sent_log_open_ = false;
  bool warned_limits_ = false;  // a batch above the receiver's limits was reported
  MessageBatch rebuild_;        // scratch: a batch decoded to be encoded again without some lines

  uint64_t acked_total_ = 0;
  uint64_t last_acked_ = 0;
  uint64_t grace_started_ms_ = 0;
  uint64_t last_progress_ms_ = 0;
};

}  // namespace

std::unique_ptr<Destination> make_ferry_destination(const FerryDestinationConfig& c) {
  return std::make_unique<FerryDestination>(c);
}

}  // namespace logferry
