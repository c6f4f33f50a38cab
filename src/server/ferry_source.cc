// The running ferry() source and its options.
//
// Streams: an origin stream is (origin node id, source name).  For each
// the receiver keeps `hwm` (acknowledged: every destination took it; kept
// in the engine's delivery journal with the output lengths it covers) and `received` (handed to the engine).  A batch
// at or below `received` is a resend of something the engine already has:
// dropped (and acknowledged at once when at or below `hwm`).  The batch's
// last message carries a delivery mark (SourceHost::mark_position with the
// stream's index and the batch's seq); when the engine acknowledges it, the
// mark goes into the journal, and once that is committed an ACK goes to the
// connection that currently carries the stream.
#include "server/ferry_source.h"

#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <sstream>

#include "core/delivery_journal.h"
#include "core/origin_table.h"
#include "core/receive.h"
#include "relay/ferry_codec.h"
#include "relay/ferry_dictionary.h"
#include "relay/node_id.h"

namespace logferry {

namespace {

using namespace ferry;

constexpr uint64_t kHelloTimeoutMs = 10000;
// How long a STREAM_OPEN waits for the stream's accepted batches to become
// durable before it is answered anyway (see OriginStream::state_owed_since_ms).
constexpr uint64_t kStateWaitMs = 60000;
constexpr const char* kMarkPrefix = "ferry:";  // of the streams' marks in the journal
// window() of a ferry() source is at most this (a sender never has more
// batches of a stream outstanding).
constexpr uint64_t kMaxWindow = 100000;

class FerrySource;

// One accepted connection: its frame reader, zstd stream, the streams it
// opened (connection-local number -> index of the source's streams) and
// what waits to be written.
struct FerryConn {
  uv_tcp_t tcp{};
  uv_write_t write_req{};
  FerrySource* owner = nullptr;
  std::list<FerryConn>::iterator self;
  std::string peer;
  FrameReader reader;
  Decompressor decompressor;
  bool welcomed = false;
  bool zstd = false;
  bool split = false;  // agreed: BATCH bodies may come in the split layout
  bool closing = false;
  bool writing = false;
  uint64_t accepted_ms = 0;
  std::map<uint32_t, size_t> streams;  // connection-local number -> stream index
  std::string out;    // frames waiting
  std::string wbuf;   // the write in flight
  FerryConn(uint32_t max_frame, uint32_t max_batch) : reader(max_frame), decompressor(max_batch) {}
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp); }
};

// One origin stream.
struct OriginStream {
  std::string key;      // hex(origin) ":" hex(source): its name in the journal
  std::string source;   // for reports
  uint64_t hwm = 0;     // every destination took up to here, and the journal says so (durable)
  uint64_t received = 0;  // handed to the engine up to here
  FerryConn* conn = nullptr;  // the connection carrying it now
  uint32_t conn_stream = 0;   // its number on that connection
  bool ack_due = false;       // in acks_due_
  uint32_t origin = 0;        // its number in the engine's OriginTable (LogMessage::origin)
  uint64_t used_ms = 0;       // last opened or sent to (0: not in this run)
  // For a stream known from the journal (an earlier run): its mark plus
  // the most batches a sender can have had outstanding.  What this node
  // handed on in its earlier run (a relay: forwarded upstream, maybe
  // acknowledged there) is at or below it, so a sender that numbers the
  // stream afresh after its own restart numbers above it: its new batches
  // never collide upstream with different old ones.
  uint64_t fresh_after = 0;
  uint64_t marked = 0;  // every destination took up to here; in the journal's next commit when above hwm
  // STREAM_OPEN came while batches of the stream were accepted and not yet
  // durable (its sender restarted, or reconnected, meanwhile): the answer
  // waits until they are (or kStateWaitMs passed), so that its high-water
  // mark covers everything this receiver will store of the earlier run -
  // a restarted sender skips exactly the lines below it.  0: not waiting.
  uint64_t state_owed_since_ms = 0;
};

class FerrySource : public Source {
 public:
  explicit FerrySource(const FerrySourceConfig& c) : cfg_(c) {}

  bool start(uv_loop_t* loop, SourceHost* host, std::string* error) override {
    loop_ = loop;
    host_ = host;
    std::string err;
    if (!load_or_create_node_id(host->persist_dir(), &node_id_, &err)) {
      *error = err + " (set persist-dir() to a writable directory)";
      return false;
    }
    load_marks();
    sockaddr_storage addr;
    if (uv_ip4_addr(cfg_.ip.c_str(), cfg_.port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
        uv_ip6_addr(cfg_.ip.c_str(), cfg_.port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0) {
      *error = "invalid listen address '" + cfg_.ip + "' (write an IPv4 or IPv6 address)";
      return false;
    }
    listener_ = new uv_tcp_t;
    uv_tcp_init(loop, listener_);
    listener_->data = this;
    std::string what = "tcp " + cfg_.ip + ":" + std::to_string(cfg_.port);
    int rc = uv_tcp_bind(listener_, reinterpret_cast<sockaddr*>(&addr), 0);
    if (rc == 0)
      rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 1024,
                     [](uv_stream_t* s, int status) { static_cast<FerrySource*>(s->data)->on_connection(status); });
    if (rc != 0) {
      *error = "cannot listen on " + what + ": " + uv_strerror(rc);
      uv_close(reinterpret_cast<uv_handle_t*>(listener_), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
      listener_ = nullptr;
      return false;
    }
    uv_timer_init(loop, &timer_);
    timer_.data = this;
    uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<FerrySource*>(t->data)->on_timer(); }, 1000, 1000);
    listening_ = true;
    return true;
  }

  void stop() override {
    if (!listening_) return;
    listening_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(listener_), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    listener_ = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
    // Batches not read yet are not acknowledged: the senders resend them.
    for (auto& c : conns_) close_conn(&c, kErrShuttingDown, "shutting down");
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

  // Acknowledged batches must never be dropped at a full queue.
  bool always_flow_controlled() const override { return true; }

  // The journal holds the marks and the output lengths that go with them.
  bool journals_outputs() const override { return true; }

  // A batch reaches the log paths whole: a relay's ferry() destination
  // forwards it as one batch with the origin's number.
  bool keeps_batches_whole() const override { return true; }

  // Every destination took the stream's messages up to batch `seq`: its
  // mark goes into the journal; the ACK (and hwm) waits for the journal's
  // commit, which runs while further batches are read.
  void acknowledged(uint32_t stream, uint64_t seq) override {
    if (stream >= streams_.size()) return;
    OriginStream& s = streams_[stream];
    if (seq <= std::max(s.hwm, s.marked)) return;
    s.marked = seq;
    host_->journal()->set_mark(kMarkPrefix + s.key, seq);
    if (!s.ack_due) {
      s.ack_due = true;
      acks_due_.push_back(stream);
    }
  }

  // The marks are durable (with the outputs they cover): tell the senders.
  void journal_committed() override {
    for (uint32_t i : acks_due_) {
      OriginStream& s = streams_[i];
      s.ack_due = false;
      s.hwm = std::max(s.hwm, s.marked);
      if (!s.conn || s.conn->closing) continue;
      if (s.state_owed_since_ms != 0) {
        if (s.hwm >= s.received) send_owed_state(s);  // all of it durable now
        continue;
      }
      encode_ack(&s.conn->out, Ack{s.conn_stream, s.hwm});
      flush_out(s.conn);
    }
    acks_due_.clear();
  }

 private:
  // ---- connections -------------------------------------------------------------

  void on_connection(int status) {
    if (!listening_) return;
    if (status < 0) {
      Counters::add(counters.errors);
      return;
    }
    conns_.emplace_back(cfg_.max_frame_bytes, cfg_.max_batch_bytes);
    FerryConn* c = &conns_.back();
    c->self = std::prev(conns_.end());
    c->owner = this;
    uv_tcp_init(loop_, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(reinterpret_cast<uv_stream_t*>(listener_), c->stream()) != 0) {
      close_conn(c, 0, "");
      return;
    }
    c->accepted_ms = uv_now(loop_);
    sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getpeername(&c->tcp, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      PeerName p;
      c->peer = p.of(reinterpret_cast<sockaddr*>(&ss));
    }
    if (static_cast<int>(conns_.size()) > cfg_.max_connections) {
      Counters::add(counters.errors);
      ++refused_;
      if (!warned_limit_) {
        host_->internal_log(4, "ferry(): max-connections(" + std::to_string(cfg_.max_connections) +
                                   ") reached; new connections are refused until others close");
        warned_limit_ = true;
      }
      close_conn(c, kErrOverloaded, "max-connections reached");
      return;
    }
    if (!paused_) start_read(c);
  }

  void start_read(FerryConn* c) {
    uv_read_start(
        c->stream(),
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
          auto* conn = static_cast<FerryConn*>(h->data);
          auto& buf = conn->owner->read_buf_;
          *b = uv_buf_init(buf.data(), static_cast<unsigned>(buf.size()));
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
          auto* conn = static_cast<FerryConn*>(s->data);
          conn->owner->on_read(conn, n, b);
        });
  }

  void on_read(FerryConn* c, ssize_t n, const uv_buf_t* b) {
    if (c->closing) return;
    if (n < 0) {
      close_conn(c, 0, "");
      return;
    }
    c->reader.feed(std::string_view(b->base, static_cast<size_t>(n)));
    FrameHeader h;
    std::string_view p;
    int r;
    while (!c->closing && (r = c->reader.next(&h, &p)) == 1) handle_frame(c, h, p);
    if (!c->closing && r < 0) garbage(c, kErrLimit, c->reader.error());
    if (!c->closing) flush_out(c);
  }

  void handle_frame(FerryConn* c, const FrameHeader& h, std::string_view p) {
    if (!c->welcomed && h.type != static_cast<uint8_t>(FrameType::kHello)) {
      garbage(c, kErrProtocol, std::string("expected HELLO, got ") + type_name(h.type));
      return;
    }
    switch (static_cast<FrameType>(h.type)) {
      case FrameType::kHello: {
        Hello hello;
        if (c->welcomed || !decode_hello(p, &hello)) return garbage(c, kErrProtocol, "malformed HELLO");
        if (hello.min_version > kVersion || hello.max_version < kVersion)
          return garbage(c, kErrVersion, "no common protocol version (this receiver speaks 1)");
        Welcome w;
        std::copy(node_id_.begin(), node_id_.end(), w.node_id);
        w.features = welcome_features(hello, cfg_.compress, cfg_.dictionary.get());
        c->decompressor.use_dictionary(w.features & kFeatureZstdDict ? cfg_.dictionary.get() : nullptr);
        w.window = cfg_.window;
        w.max_batch_messages = cfg_.max_batch_messages;
        w.max_batch_bytes = cfg_.max_batch_bytes;
        w.max_frame_bytes = cfg_.max_frame_bytes;
        c->zstd = w.features & kFeatureZstd;
        c->split = w.features & kFeatureSplit;
        c->welcomed = true;
        encode_welcome(&c->out, w);
        return;
      }
      case FrameType::kStreamOpen: {
        StreamOpen so;
        if (!decode_stream_open(p, &so)) return garbage(c, kErrProtocol, "malformed STREAM_OPEN");
        std::string key = origin_stream_key(std::string_view(reinterpret_cast<const char*>(so.origin), 16), so.source);
        size_t idx = find_stream(key);
        if (idx == streams_.size()) {
          if (streams_.size() < cfg_.max_streams) {
            streams_.push_back(OriginStream{key, so.source, 0, 0, nullptr, 0, false, 0, 0, 0});
          } else {
            idx = least_recently_used_idle_stream();
            if (idx == streams_.size())
              return garbage(c, kErrLimit, "too many streams (every one of max-streams() is in use)");
            forget_stream(idx);
            streams_[idx] = OriginStream{key, so.source, 0, 0, nullptr, 0, false, 0, 0, 0};
          }
        }
        OriginStream& s = streams_[idx];
        s.used_ms = uv_now(loop_);
        s.source = so.source;
        OriginStreamId id;
        std::copy(so.origin, so.origin + 16, id.node.begin());
        id.source = so.source;
        id.host = so.host;
        s.origin = host_->origins()->intern(id);
        s.conn = c;
        s.conn_stream = so.stream;
        c->streams[so.stream] = idx;
        if (c->streams.size() > cfg_.max_streams) return garbage(c, kErrLimit, "too many streams");
        if (s.received > s.hwm) {
          if (s.state_owed_since_ms == 0) s.state_owed_since_ms = uv_now(loop_);
          return;  // answered by journal_committed() or on_timer()
        }
        encode_stream_state(&c->out, StreamState{so.stream, s.hwm, s.received, s.fresh_after});
        return;
      }
      case FrameType::kBatch:
        return batch(c, h, p);
      case FrameType::kPing: {
        uint64_t token;
        if (!decode_ping(p, &token)) return garbage(c, kErrProtocol, "malformed PING");
        encode_ping(&c->out, FrameType::kPong, token);
        return;
      }
      case FrameType::kPong:
        return;
      case FrameType::kError: {
        ErrorFrame e;
        decode_error(p, &e);
        host_->internal_log(4, "ferry(): " + c->peer + " ended the session: error " + std::to_string(e.code) + ": " +
                                   e.text);
        close_conn(c, 0, "");
        return;
      }
      default:
        if (is_extension_type(h.type)) return;
        return garbage(c, kErrProtocol, std::string("unexpected ") + type_name(h.type) + " frame");
    }
  }

  void batch(FerryConn* c, const FrameHeader& h, std::string_view p) {
    BatchHeader b;
    std::string_view body;
    if (!decode_batch_header(p, &b, &body)) return garbage(c, kErrProtocol, "malformed BATCH");
    auto it = c->streams.find(b.stream);
    if (it == c->streams.end()) return garbage(c, kErrProtocol, "BATCH of a stream that was not opened");
    if (b.count > cfg_.max_batch_messages || b.raw_len > cfg_.max_batch_bytes)
      return garbage(c, kErrLimit, "BATCH above the announced limits");
    if ((h.flags & kBatchFlagSplit) && !c->split) return garbage(c, kErrProtocol, "split BATCH without it agreed");
    OriginStream& s = streams_[it->second];
    std::string err;
    std::string_view raw = body;
    // Decompress even a duplicate: the zstd stream must see every body.
    if (h.flags & kBatchFlagZstd) {
      if (!c->zstd) return garbage(c, kErrProtocol, "compressed BATCH without zstd agreed");
      if (!c->decompressor.decompress(body, b.raw_len, &raw_, &err)) return garbage(c, kErrProtocol, err);
      raw = raw_;
    } else if (body.size() != b.raw_len) {
      return garbage(c, kErrProtocol, "BATCH body is not raw_len bytes");
    }
    if (s.conn != c) {
      // Another connection opened the stream since: this one is stale (its
      // sender reconnected, or crashed and started again); what it still
      // sends could collide with the new connection's numbers.  Dropped,
      // not acknowledged: the sender resends what matters.
      ++superseded_;
      return;
    }
    if (b.seq <= s.received) {
      // Already here: drop it; acknowledge at once what is durable.
      ++duplicates_;
      if (b.seq <= s.hwm) encode_ack(&c->out, Ack{b.stream, s.hwm});
      return;
    }
    Layout layout = h.flags & kBatchFlagSplit ? Layout::kSplit : Layout::kRows;
    if (!decode_messages(raw, b.count, &decoded_, &err, layout)) return garbage(c, kErrProtocol, err);
    if (b.seq > s.received + 1 && s.received > 0) {
      ++gaps_;
      host_->internal_log(4, "ferry(): stream " + s.source + " from " + c->peer + " skipped from " +
                                 std::to_string(s.received) + " to " + std::to_string(b.seq) +
                                 " (the batches between went to another server while this one was away, or the"
                                 " sender lost batches or numbered afresh after a restart)");
    }
    for (size_t i = 0; i < decoded_.size(); ++i) {
      LogMessage& m = host_->next_message();
      uint16_t source_id = m.source_id;
      m = decoded_[i];
      m.source_id = source_id;
      m.origin = s.origin;
      m.origin_seq = b.seq;
      cut_to_size(m);
      if (m.get(Field::kHostFrom).empty()) m.set(Field::kHostFrom, c->peer);
    }
    s.received = b.seq;
    s.used_ms = uv_now(loop_);
    host_->mark_position(static_cast<uint32_t>(it->second), b.seq);
    host_->commit();
  }

  // log-msg-size() holds for messages that arrive parsed too: a longer
  // MESSAGE is cut, marked truncated and counted (the sender's limit may
  // be larger than this receiver's).
  void cut_to_size(LogMessage& m) {
    std::string_view text = m.get(Field::kMessage);
    if (text.size() <= cfg_.log_msg_size) return;
    cut_.assign(text.substr(0, cfg_.log_msg_size));  // a copy: set() may move the buffer text points into
    m.set(Field::kMessage, cut_);
    m.flags |= kFlagTruncated;
    Counters::add(counters.dropped_too_long);
  }

  // The STREAM_STATE a STREAM_OPEN waited for.
  void send_owed_state(OriginStream& s) {
    s.state_owed_since_ms = 0;
    if (!s.conn || s.conn->closing) return;
    encode_stream_state(&s.conn->out, StreamState{s.conn_stream, s.hwm, s.received, s.fresh_after});
    flush_out(s.conn);
  }

  // A peer that breaks the protocol: ERROR, close, count.
  void garbage(FerryConn* c, uint16_t code, const std::string& what) {
    Counters::add(counters.errors);
    ++garbage_;
    host_->internal_log(4, "ferry(): dropping " + (c->peer.empty() ? std::string("a peer") : c->peer) + ": " + what +
                               " (" + std::to_string(garbage_) + " dropped so far)");
    close_conn(c, code, what);
  }

  void flush_out(FerryConn* c) {
    if (c->writing || c->out.empty() || c->closing) return;
    c->wbuf.swap(c->out);
    c->out.clear();
    c->writing = true;
    uv_buf_t b = uv_buf_init(c->wbuf.data(), static_cast<unsigned>(c->wbuf.size()));
    c->write_req.data = c;
    int rc = uv_write(&c->write_req, c->stream(), &b, 1, [](uv_write_t* req, int status) {
      auto* conn = static_cast<FerryConn*>(req->data);
      conn->writing = false;
      conn->wbuf.clear();
      if (conn->closing) return;
      if (status != 0) conn->owner->close_conn(conn, 0, "");
      else conn->owner->flush_out(conn);
    });
    if (rc != 0) {
      c->writing = false;
      close_conn(c, 0, "");
    }
  }

  // Closes a connection, first sending ERROR `code` when it is not 0 (best
  // effort: a write that does not finish at once is not waited for).
  void close_conn(FerryConn* c, uint16_t code, const std::string& text) {
    if (c->closing) return;
    if (code != 0) {
      std::string bye;
      encode_error(&bye, code, text);
      uv_buf_t b = uv_buf_init(bye.data(), static_cast<unsigned>(bye.size()));
      uv_try_write(c->stream(), &b, 1);
    }
    c->closing = true;
    for (auto& s : streams_) {
      if (s.conn != c) continue;
      s.conn = nullptr;
      s.state_owed_since_ms = 0;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) {
      auto* conn = static_cast<FerryConn*>(h->data);
      conn->owner->conns_.erase(conn->self);
    });
  }

  // Peers that never said HELLO are dropped after kHelloTimeoutMs.  While
  // paused (the engine's queue is full: nothing is read, so PINGs are not
  // answered) a PING a second tells the senders this receiver is alive, so
  // that their ack-timeout() does not take it for hung.
  void on_timer() {
    uint64_t now = uv_now(loop_);
    for (auto& s : streams_) {
      if (s.state_owed_since_ms == 0 || now - s.state_owed_since_ms < kStateWaitMs) continue;
      host_->internal_log(4, "ferry(): stream " + s.source + ": batches " + std::to_string(s.hwm + 1) + " to " +
                                 std::to_string(s.received) + " still not durable after " +
                                 std::to_string(kStateWaitMs / 1000) + " s; answering its sender's STREAM_OPEN now "
                                 "(if it restarted, it may send some of their lines again)");
      send_owed_state(s);
    }
    for (auto& c : conns_) {
      if (!c.closing && !c.welcomed && now - c.accepted_ms >= kHelloTimeoutMs)
        garbage(&c, kErrProtocol, "no HELLO within 10 s");
      else if (paused_ && !c.closing && c.welcomed) {
        encode_ping(&c.out, FrameType::kPing, now);
        flush_out(&c);
      }
    }
  }

  // At max-streams(), a new stream takes the place of the one used least
  // recently among those no connection carries and with nothing in flight
  // (everything accepted acknowledged, so no delivery mark can still name
  // its index).  Its mark is forgotten: should that origin come back, its
  // stream starts anew.
  size_t least_recently_used_idle_stream() const {
    size_t best = streams_.size();
    for (size_t i = 0; i < streams_.size(); ++i) {
      const OriginStream& s = streams_[i];
      if (s.conn || s.received != s.hwm || s.ack_due) continue;
      if (best == streams_.size() || s.used_ms < streams_[best].used_ms) best = i;
    }
    return best;
  }

  void forget_stream(size_t idx) {
    host_->journal()->forget_mark(kMarkPrefix + streams_[idx].key);
    if (forgotten_++ == 0)
      host_->internal_log(5, "ferry(): max-streams(" + std::to_string(cfg_.max_streams) +
                                 ") reached; the marks of the streams used least recently are forgotten to make room");
  }

  size_t find_stream(const std::string& key) const {
    for (size_t i = 0; i < streams_.size(); ++i)
      if (streams_[i].key == key) return i;
    return streams_.size();
  }

  // ---- marks ---------------------------------------------------------------------
  // In the engine's delivery journal, "ferry:KEY HWM" per stream.

  void load_marks() {
    for (const auto& [name, hwm] : host_->journal()->marks()) {
      if (!name.starts_with(kMarkPrefix)) continue;
      std::string key = name.substr(std::strlen(kMarkPrefix));
      if (find_stream(key) != streams_.size()) continue;
      streams_.push_back(OriginStream{key, key, hwm, hwm, nullptr, 0, false, 0, 0, hwm + kMaxWindow});
    }
  }

  FerrySourceConfig cfg_;
  uv_loop_t* loop_ = nullptr;
  SourceHost* host_ = nullptr;
  uv_tcp_t* listener_ = nullptr;
  uv_timer_t timer_{};
  bool listening_ = false;
  bool paused_ = false;
  bool warned_limit_ = false;
  NodeId node_id_{};
  std::vector<uint32_t> acks_due_;  // streams whose ACK waits for the journal's commit
  std::list<FerryConn> conns_;
  std::vector<OriginStream> streams_;  // index = the stream of mark_position()
  MessageBatch decoded_;
  std::string raw_;
  std::string cut_;  // scratch: a MESSAGE cut at log-msg-size()
  std::vector<char> read_buf_ = std::vector<char>(65536);
  uint64_t garbage_ = 0, refused_ = 0, duplicates_ = 0, gaps_ = 0, superseded_ = 0, forgotten_ = 0;
};

class FerrySourceDriver : public SourceDriver {
 public:
  explicit FerrySourceDriver(FerrySourceConfig c) : cfg_(std::move(c)) {}
  std::string describe() const override {
    std::string s = "ferry() tcp " + cfg_.ip + ":" + std::to_string(cfg_.port);
    if (cfg_.compress && cfg_.dictionary) s += " dictionary " + std::to_string(cfg_.dictionary->id());
    return s;
  }
  std::unique_ptr<Source> create() const override { return std::make_unique<FerrySource>(cfg_); }

 private:
  FerrySourceConfig cfg_;
};

std::unique_ptr<SourceDriver> build_ferry_source(OptionReader& r, const BuildContext& ctx) {
  FerrySourceConfig c;
  c.log_msg_size = static_cast<size_t>(ctx.options.log_msg_size);
  std::string s;
  if (r.string("ip", &s)) c.ip = s;
  int64_t n;
  if (r.integer("port", &n, 1, 65535)) c.port = static_cast<int>(n);
  if (r.integer("max-connections", &n, 1, 100000)) c.max_connections = static_cast<int>(n);
  if (r.integer("window", &n, 1, static_cast<int64_t>(kMaxWindow))) c.window = static_cast<uint32_t>(n);
  if (r.integer("max-frame-bytes", &n, 4096, 1 << 30)) c.max_frame_bytes = static_cast<uint32_t>(n);
  if (r.integer("max-batch-bytes", &n, 4096, 1 << 30)) c.max_batch_bytes = static_cast<uint32_t>(n);
  if (r.integer("max-batch-messages", &n, 1, 1000000)) c.max_batch_messages = static_cast<uint32_t>(n);
  if (r.integer("max-streams", &n, 1, 10000000)) c.max_streams = static_cast<uint32_t>(n);
  r.yesno("compression", &c.compress);
  if (!ferry::read_compression_dictionary(r, &c.dictionary)) return nullptr;
  if (r.integer("log-msg-size", &n, 64, 256 * 1024 * 1024)) c.log_msg_size = static_cast<size_t>(n);
  if (!r.positional().empty()) {
    r.take_positional();
    r.diag()->error(r.positional()[0]->loc, "unexpected value '" + r.positional()[0]->value + "' in " + r.what(),
                    "write the listen address as ip(\"" + r.positional()[0]->value + "\")");
    return nullptr;
  }
  return std::make_unique<FerrySourceDriver>(std::move(c));
}

}  // namespace

void register_ferry_source(DriverRegistry& registry) { registry.add_source("ferry", build_ferry_source); }

}  // namespace logferry
