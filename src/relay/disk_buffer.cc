// The disk-buffer() options and the buffered destination.
//
// Records (buffer_record.h): a run of messages of one source block, and of
// one origin batch for messages a relay received with ferry(), each as the
// ferry protocol encodes it (ferry::MessageEncoder), so a replayed message
// is the parsed message that went in, whichever sending destination (and
// template) takes it.  A replayed origin batch gets its origin stream (the
// identity interned in the engine's OriginTable) and number back and
// reaches the inner destination whole, in one of its flushes: ferry()
// forwards it as that batch, and the upstream receiver drops it when it has
// it already (a crash of this relay repeats nothing upstream).
//
// Delivery tracking: a batch counts as taken (taken_through) once it is in
// the queue: written (reliable(no)) or written and fdatasync()ed
// (reliable(yes)).  The sync runs on libuv's thread pool while the output
// thread goes on: batches written meanwhile are covered by the next sync
// (group commit), so a slow disk bounds how soon sources are acknowledged,
// not how many messages per second the buffer takes.  The pump numbers its own flushes of the inner
// destination; the queue's head moves past records only when the inner
// destination's taken_through() covers them, and the head is saved at
// most every kSaveHeadMs: a crash repeats at most that much (never loses).
#include "relay/disk_buffer.h"

#include <errno.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <utility>
#include <vector>

#include "relay/buffer_record.h"
#include "relay/disk_queue.h"
#include "relay/ferry_codec.h"

namespace logferry {

uint64_t DiskBufferConfig::segment_bytes() const {
  return std::clamp<uint64_t>(capacity_bytes / 8, 16u << 10, 64u << 20);
}

std::string disk_buffer_id(const std::string& describe) {
  std::string id;
  for (char c : describe) {
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                c == '_';
    id += keep ? c : '_';
  }
  return id;
}

bool read_disk_buffer(OptionReader& r, DiskBufferConfig* c) {
  const ConfNode* node = r.child("disk-buffer");
  if (!node) return true;
  c->enabled = true;
  OptionReader br(*node, "disk-buffer() of " + r.what(), r.diag());
  br.yesno("reliable", &c->reliable);
  int64_t n;
  for (const char* name : {"capacity-bytes", "disk-buf-size"})
    if (br.integer(name, &n, 64 << 10, int64_t{1} << 50)) c->capacity_bytes = static_cast<uint64_t>(n);
  br.string("dir", &c->dir);
  if (br.integer("mem-buf-length", &n, 1, 10000000)) c->mem_buf_length = static_cast<uint64_t>(n);
  if (br.integer("mem-buf-size", &n, 4096, int64_t{1} << 40)) c->mem_buf_size = static_cast<uint64_t>(n);
  std::string full;
  if (br.choice("when-full", {"block", "drop-oldest"}, &full))
    c->when_full = full == "drop-oldest" ? DiskBufferConfig::WhenFull::kDropOldest : DiskBufferConfig::WhenFull::kBlock;
  for (const char* name : {"qout-size", "truncate-size-ratio", "prealloc", "compaction"}) br.accepted_not_implemented(name);
  return br.finish();
}

std::string describe_disk_buffer(const DiskBufferConfig& c) {
  if (!c.enabled) return "";
  return std::string(" disk-buffer(") + (c.reliable ? "reliable" : "non-reliable") + " " +
         std::to_string(c.capacity_bytes) + " bytes" +
         (c.when_full == DiskBufferConfig::WhenFull::kDropOldest ? " drop-oldest" : "") + ")";
}

namespace {

constexpr size_t kEarlyWrite = 1u << 20;        // buffered bytes that are written before the flush
constexpr size_t kMaxUnwritten = 64u << 20;     // buffered bytes kept while writes fail
constexpr size_t kPumpBatch = 512;              // messages per flush of the inner destination
constexpr uint64_t kBusyMs = 10;                // pump interval while records wait
constexpr uint64_t kIdleMs = 200;
constexpr uint64_t kSaveHeadMs = 100;

// A flush of the inner destination: its number, and the queue position
// after its records.
struct PumpMark {
  uint64_t seq;
  QueuePosition after;
  uint64_t messages;
  uint64_t bytes;
};

class BufferedDestination : public Destination {
 public:
  BufferedDestination(const DiskBufferConfig& c, std::string name, std::unique_ptr<Destination> inner)
      : cfg_(c), name_(std::move(name)), id_(disk_buffer_id(name_)), inner_(std::move(inner)) {}

  ~BufferedDestination() override {
    while (sync_running_) uv_run(loop_, UV_RUN_ONCE);
    if (timer_open_) {  // never closed: the engine gave up starting
      uv_close(reinterpret_cast<uv_handle_t*>(&timer_), [](uv_handle_t* h) {
        static_cast<BufferedDestination*>(h->data)->timer_open_ = false;
      });
      while (timer_open_) uv_run(loop_, UV_RUN_ONCE);
    }
    if (opened_) {
      // What the inner destination took while it shut down is final now.
      collect_taken();
      save_progress(true);
    }
    internal_log = nullptr;
  }

  bool open(uv_loop_t* loop, std::string* error) override {
    std::string dir = (cfg_.dir.empty() ? persist_dir + "/buffers" : cfg_.dir) + "/" + id_;
    DiskQueue::Options o;
    o.dir = dir;
    o.sync = cfg_.reliable;
    o.caller_syncs_data = cfg_.reliable;
    o.segment_bytes = cfg_.segment_bytes();
    o.messages_in = buffer_record::messages_in;
    o.on_record = [this](std::string_view payload) { note_reach(payload); };
    if (!queue_.open(o, [this](int sev, const std::string& text) { report(sev, text); }, error)) return false;
    pass_engine_settings_to(inner_.get());
    // The inner destination's progress is the buffer's cue to pump again
    // (in the loop's next turn: not from within the inner's own call).
    inner_->progressed = [this] {
      if (timer_open_ && !closing_)
        uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<BufferedDestination*>(t->data)->on_timer(); }, 0,
                       uv_timer_get_repeat(&timer_));
    };
    if (!inner_->open(loop, error)) return false;
    loop_ = loop;
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
    timer_open_ = true;
    uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<BufferedDestination*>(t->data)->on_timer(); }, kBusyMs,
                   kBusyMs);
    opened_ = true;
    if (queue_.unread_messages() > 0)
      report(5, "disk buffer " + dir + " holds " + std::to_string(queue_.unread_messages()) +
                    " messages from before; they are sent first");
    return true;
  }

  void deliver(const LogMessage& msg) override {
    if (!reach_.empty() && msg.file_life != 0 && taken_before(msg)) return;
    if (!make_room()) {
      Counters::add(counters.dropped_queue_full);
      if (!dropping_) {
        dropping_ = true;
        report(4, "disk buffer " + queue_.dir() + " is full (" + std::to_string(queue_.disk_bytes()) +
                      " bytes); dropping new messages of sources that do not wait (counted as dropped_queue_full)");
      }
      return;
    }
    size_t before = queue_.buffered_bytes();
    if (!run_open_ || !same_run(msg)) begin_run(msg);
    buffer_record::append_message(run_buf_, encoder_, msg);
    ++run_.count;
    batch_bytes_ += queue_.buffered_bytes() - before;
    if (run_.count >= run_most()) end_run();
    if (queue_.buffered_bytes() >= kEarlyWrite) write_out();
  }

  void flush() override {
    largest_batch_ = std::max(largest_batch_, batch_bytes_);
    batch_bytes_ = 0;
    write_out();
    last_run_.origin = 0;  // an origin batch is not continued across engine flushes
    if (!first_unwritten_) written_seq_ = flush_seq;
    start_sync();
    pump();
  }

  void tick() override {
    if (!closing_) inner_->tick();
    forward_inner_counters();
  }

  void close() override {
    if (closing_ || !opened_) return;
    closing_ = true;
    write_out();
    if (!first_unwritten_) written_seq_ = std::max(written_seq_, flush_seq);
    sync_now();
    collect_taken();
    save_progress(true);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_),
             [](uv_handle_t* h) { static_cast<BufferedDestination*>(h->data)->timer_open_ = false; });
    inner_->close();
  }

  // Taken once written to the queue (reliable: and synced); a batch whose
  // write failed (and all after it) is not.
  uint64_t taken_through(uint64_t latest) const override {
    uint64_t t = latest;
    if (first_unwritten_) t = std::min(t, first_unwritten_ - 1);
    if (cfg_.reliable && synced_seq_ < written_seq_) t = std::min(t, synced_seq_);
    return t;
  }

  bool accepting() const override {
    if (first_unwritten_) return false;
    if (cfg_.when_full == DiskBufferConfig::WhenFull::kDropOldest) return true;
    // Sources that wait stop while a batch as large as the largest seen
    // (at least an eighth of the capacity, at most half) might not fit, so
    // a batch already on its way still fits; only sources that do not wait
    // reach the capacity (and drop).
    uint64_t headroom = std::min(cfg_.capacity_bytes / 2, std::max(cfg_.capacity_bytes / 8, largest_batch_));
    return used() + headroom < cfg_.capacity_bytes;
  }

 private:
  uint64_t used() const { return queue_.disk_bytes() + queue_.buffered_bytes(); }

  // Whether another message fits; drop-oldest deletes the oldest segments
  // to make room (their unread records counted as dropped).
  bool make_room() {
    if (used() < cfg_.capacity_bytes) {
      dropping_ = false;
      return true;
    }
    if (cfg_.when_full != DiskBufferConfig::WhenFull::kDropOldest) return false;
    write_out();  // what is buffered goes to disk first, so that the oldest can go
    uint64_t lost = 0;
    while (used() >= cfg_.capacity_bytes) {
      uint64_t before = queue_.disk_bytes();
      lost += queue_.drop_oldest();
      if (queue_.disk_bytes() == before) break;
    }
    if (lost > 0) {
      Counters::add(counters.dropped_queue_full, lost);
      report(4, "disk buffer " + queue_.dir() + " is full: dropped its oldest " + std::to_string(lost) +
                    " messages (counted as dropped_queue_full)");
    }
    return used() < cfg_.capacity_bytes;
  }

  // ---- after a crash: lines a file source reads again ----
  // A file source's saved position moves once the buffer took a line, and
  // is saved at most once a second, so after a kill -9 it reads again lines
  // the buffer holds or already passed on.  Taken a second time they would
  // be sent twice (the sending destination cannot tell them from new ones:
  // ferry()'s sent log covers only what it sent, and the copies come after
  // lines it had not sent).  What an earlier run wrote says how far into
  // each file content the buffer reached; lines up to there are not taken
  // again (docs/configuration.md, "Disk buffers").

  // At open: a record of an earlier run (DiskQueue::Options::on_record).
  void note_reach(std::string_view payload) {
    uint64_t life = 0, end = 0;
    if (!buffer_record::file_reach(payload, &life, &end)) return;
    uint64_t& reach = reach_[life];
    reach = std::max(reach, end);
  }

  // Whether `msg`, read from a file, is at or before what the buffer took
  // of its file content in an earlier run.  The first line past it ends
  // the check for that content (a file's lines come in order).
  bool taken_before(const LogMessage& msg) {
    auto it = reach_.find(msg.file_life);
    if (it == reach_.end()) return false;
    if (msg.file_end <= it->second) {
      ++read_again_;
      return true;
    }
    reach_.erase(it);
    if (read_again_ > 0)
      report(5, "disk buffer " + queue_.dir() + ": " + std::to_string(read_again_) +
                    " lines read again after a restart were taken before; not taken twice");
    read_again_ = 0;
    return false;
  }

  // ---- runs: the record deliver() appends to ----

  // What the messages of one record share.
  struct RunKey {
    uint16_t source_id = 0;
    uint32_t origin = 0;  // 0: none (a message that started here)
    uint64_t origin_seq = 0;
    uint64_t file_life = 0;
    bool operator==(const RunKey&) const = default;
  };

  RunKey key_of(const LogMessage& msg) const {
    uint32_t origin = origins ? msg.origin : 0;
    return RunKey{msg.source_id, origin, origin ? msg.origin_seq : 0, msg.file_life};
  }

  bool same_run(const LogMessage& msg) const { return key_of(msg) == run_key_; }

  // A run holds at most what one pump flush hands on (an origin batch cut
  // here goes on in a kContinues record that the pump keeps with it).
  uint64_t run_most() const { return std::min<uint64_t>(kPumpBatch, cfg_.mem_buf_length); }

  void begin_run(const LogMessage& msg) {
    end_run();
    run_key_ = key_of(msg);
    run_.source_id = msg.source_id;
    run_.file_life = msg.file_life;
    run_.count = 0;
    run_.flags = 0;
    run_.origin_seq = 0;
    // The identity is copied out of the shared table once per run, not per
    // message; a number not in the table is sent as this node's own.
    if (run_key_.origin && origins->get(run_key_.origin, &run_.origin)) {
      run_.flags = buffer_record::kFromOrigin;
      run_.origin_seq = msg.origin_seq;
      if (last_run_.origin == run_key_.origin && last_run_.origin_seq == run_key_.origin_seq)
        run_.flags |= buffer_record::kContinues;
    }
    run_buf_ = queue_.begin_record();
    run_count_at_ = buffer_record::begin_run(run_buf_, run_);
    run_open_ = true;
  }

  void end_run() {
    if (!run_open_) return;
    buffer_record::set_count(run_buf_, run_count_at_, run_.count);
    queue_.end_record(run_.count);
    run_open_ = false;
    last_run_ = run_key_;
  }

  void write_out() {
    end_run();  // the queue writes sealed records only
    std::string err;
    if (queue_.write_out(&err)) {
      if (first_unwritten_) report(5, "disk buffer " + queue_.dir() + " writes again");
      first_unwritten_ = 0;
      return;
    }
    Counters::add(counters.errors);
    if (!first_unwritten_) {
      first_unwritten_ = std::max<uint64_t>(flush_seq, 1);
      report(3, "disk buffer: " + err + "; sources that wait are paused until it writes again");
    }
    if (queue_.buffered_bytes() > kMaxUnwritten) {
      // Cannot keep more in memory: what is buffered is lost, counted.
      report(3, "disk buffer " + queue_.dir() + ": giving up " + std::to_string(queue_.buffered_bytes()) +
                    " bytes that could not be written");
      Counters::add(counters.dropped_queue_full, queue_.discard_buffered());
      first_unwritten_ = 0;
    }
  }

  // Reliable mode: syncs what was written, on the thread pool, unless a
  // sync runs (its callback starts the next one).
  void start_sync() {
    if (!cfg_.reliable || sync_running_ || synced_seq_ >= written_seq_) return;
    sync_fd_ = queue_.sync_fd();
    if (sync_fd_ < 0) {
      sync_failed("cannot sync " + queue_.dir() + ": " + strerror(errno));
      return;
    }
    sync_target_ = written_seq_;
    sync_running_ = true;
    sync_req_.data = this;
    uv_fs_fdatasync(loop_, &sync_req_, sync_fd_,
                    [](uv_fs_t* r) { static_cast<BufferedDestination*>(r->data)->sync_done(); });
  }

  void sync_done() {
    ssize_t result = sync_req_.result;
    uv_fs_req_cleanup(&sync_req_);
    ::close(sync_fd_);
    sync_running_ = false;
    if (result < 0) {
      sync_failed("cannot sync the disk buffer " + queue_.dir() + ": " + uv_strerror(static_cast<int>(result)));
      return;
    }
    synced_seq_ = std::max(synced_seq_, sync_target_);
    sync_errors_reported_ = false;
    progressed();
    if (!closing_) start_sync();
  }

  // At shutdown: the last sync, on this thread.
  void sync_now() {
    if (!cfg_.reliable || synced_seq_ >= written_seq_) return;
    int fd = queue_.sync_fd();
    if (fd >= 0 && fdatasync(fd) == 0) synced_seq_ = written_seq_;
    else sync_failed("cannot sync the disk buffer " + queue_.dir() + ": " + strerror(errno));
    if (fd >= 0) ::close(fd);
  }

  // The batches stay untaken (sources that wait pause); the timer tries again.
  void sync_failed(const std::string& text) {
    Counters::add(counters.errors);
    if (!sync_errors_reported_) report(3, text);
    sync_errors_reported_ = true;
  }

  // Feeds queued records to the inner destination while it takes them
  // and the messages in its hands stay within mem-buf-length/-size.  A
  // record goes whole, and an origin batch too (its kContinues records go
  // in the same flush): ferry() makes one upstream batch of it.  A record
  // that starts an origin batch already begun in this flush (a copy the
  // origin sent again, e.g. after this relay crashed before its ACK)
  // starts the next flush, so that it stays a batch of its own, which the
  // upstream receiver drops.  A flush also ends before a record once the
  // inner destination stops accepting, as the engine's batches would.
  void pump() {
    if (closing_) return;
    collect_taken();
    while (inner_->accepting() && in_flight_msgs_ < cfg_.mem_buf_length && in_flight_bytes_ < cfg_.mem_buf_size) {
      QueuePosition before = queue_.read_position();
      uint64_t n = 0, bytes = 0;
      uint64_t most = std::min<uint64_t>(kPumpBatch, cfg_.mem_buf_length - in_flight_msgs_);
      begun_.clear();
      std::string_view rec;
      while (queue_.read(&rec)) {
        if (!reader_.open(rec)) {
          decode_failed();
          bytes += rec.size();
          continue;
        }
        const buffer_record::RunHeader& h = reader_.header();
        uint32_t origin = h.from_origin() ? origin_number(h.origin) : 0;
        bool joins = (h.flags & buffer_record::kContinues) && origin && !begun_.empty() &&
                     begun_.back() == std::make_pair(origin, h.origin_seq);
        bool again = origin && !joins &&
                     std::find(begun_.begin(), begun_.end(), std::make_pair(origin, h.origin_seq)) != begun_.end();
        // Between records the inner destination may say it holds enough:
        // ferry() counts each origin batch against its window, and a
        // flush of many small ones would overrun it (and drop).
        bool enough = n >= most || bytes >= cfg_.mem_buf_size || again || !inner_->accepting();
        if (n > 0 && !joins && enough) {
          queue_.unread();
          break;
        }
        if (origin && !joins) begun_.emplace_back(origin, h.origin_seq);
        while (reader_.next(&msg_)) {
          msg_.origin = origin;
          msg_.origin_seq = origin ? h.origin_seq : 0;
          inner_->deliver(msg_);
          ++n;
        }
        if (!reader_.error().empty()) decode_failed();
        bytes += rec.size();
      }
      if (queue_.read_position() == before) break;
      inner_->flush_seq = ++inner_seq_;
      inner_->flush();
      marks_.push_back(PumpMark{inner_seq_, queue_.read_position(), n, bytes});
      in_flight_msgs_ += n;
      in_flight_bytes_ += bytes;
    }
    collect_taken();
  }

  // The engine's number of a replayed record's origin stream (interned:
  // the same identity as the last record's reuses its number).
  uint32_t origin_number(const OriginStreamId& id) {
    if (!origins) return 0;
    if (!last_origin_number_ || id.node != last_origin_.node || id.source != last_origin_.source ||
        id.host != last_origin_.host) {
      last_origin_ = id;
      last_origin_number_ = origins->intern(id);
    }
    return last_origin_number_;
  }

  // A record whose checksum holds but which does not decode (written by
  // another version): what does not decode is skipped, counted.
  void decode_failed() {
    Counters::add(counters.errors);
    if (!decode_error_reported_) {
      decode_error_reported_ = true;
      report(3, "disk buffer " + queue_.dir() + ": a record does not decode (" + reader_.error() +
                    "); skipped, counted as errors");
    }
  }

  // Moves the marks of the flushes the inner destination took.
  void collect_taken() {
    uint64_t t = inner_->taken_through(inner_seq_);
    while (!marks_.empty() && marks_.front().seq <= t) {
      const PumpMark& m = marks_.front();
      consumed_ = m.after;
      Counters::add(counters.out, m.messages);
      in_flight_msgs_ -= m.messages;
      in_flight_bytes_ -= m.bytes;
      marks_.pop_front();
    }
  }

  void save_progress(bool now) {
    if (!(consumed_ > queue_.head())) return;
    uint64_t ms = loop_ ? uv_now(loop_) : 0;
    if (!now && ms - last_save_ms_ < kSaveHeadMs) return;
    last_save_ms_ = ms;
    std::string err;
    if (!queue_.consume(consumed_, &err)) report(3, "disk buffer: " + err);
  }

  void on_timer() {
    if (first_unwritten_) write_out();
    start_sync();
    bool was_accepting = accepting();
    pump();
    save_progress(false);
    if (!was_accepting && accepting()) progressed();
    forward_inner_counters();
    bool busy = queue_.unread_messages() > 0 || !marks_.empty();
    uint64_t want = busy ? kBusyMs : kIdleMs;
    if (uv_timer_get_repeat(&timer_) != want) uv_timer_set_repeat(&timer_, want);
  }

  // The inner destination's losses show in this destination's counters.
  void forward_inner_counters() {
    auto delta = [](const std::atomic<uint64_t>& from, uint64_t* seen, std::atomic<uint64_t>& to) {
      uint64_t now = Counters::get(from);
      if (now > *seen) Counters::add(to, now - *seen);
      *seen = now;
    };
    delta(inner_->counters.errors, &seen_errors_, counters.errors);
    delta(inner_->counters.dropped_too_long, &seen_truncated_, counters.dropped_too_long);
    delta(inner_->counters.dropped_queue_full, &seen_dropped_, counters.dropped_queue_full);
  }

  void report(int severity, const std::string& text) {
    std::string line = "destination " + name_ + ": " + text;
    if (internal_log) internal_log(severity, line);
    else fprintf(stderr, "logferry: %s\n", line.c_str());
  }

  DiskBufferConfig cfg_;
  std::string name_;
  std::string id_;
  std::unique_ptr<Destination> inner_;
  DiskQueue queue_;
  ferry::MessageEncoder encoder_;
  bool run_open_ = false;          // a record is begun in the queue's write buffer
  RunKey run_key_;                 // its messages'
  buffer_record::RunHeader run_;   // its header (count: its messages so far)
  std::string* run_buf_ = nullptr;
  size_t run_count_at_ = 0;        // where its count field is in *run_buf_
  RunKey last_run_;                // the run ended last in this engine flush (origin 0: none)

  std::unordered_map<uint64_t, uint64_t> reach_;  // file life -> end of what an earlier run took (see note_reach)
  uint64_t read_again_ = 0;        // lines not taken again since the last report

  buffer_record::RecordReader reader_;
  LogMessage msg_;  // scratch: the replayed message
  std::vector<std::pair<uint32_t, uint64_t>> begun_;  // the origin batches (origin, seq) of the pump's flush
  OriginStreamId last_origin_;     // the replayed identity interned last
  uint32_t last_origin_number_ = 0;
  uv_loop_t* loop_ = nullptr;
  uv_timer_t timer_{};
  bool timer_open_ = false;
  bool opened_ = false;
  bool closing_ = false;
  bool dropping_ = false;
  uint64_t batch_bytes_ = 0;    // appended since the last flush
  uint64_t largest_batch_ = 0;  // the most bytes one flush appended
  bool decode_error_reported_ = false;
  uint64_t first_unwritten_ = 0;  // the engine flush whose write failed first (0: none)
  uint64_t written_seq_ = 0;      // the last engine flush written to the queue
  uint64_t synced_seq_ = 0;       // reliable: the last one synced
  uint64_t sync_target_ = 0;      // what the running sync covers
  uv_fs_t sync_req_{};
  int sync_fd_ = -1;
  bool sync_running_ = false;
  bool sync_errors_reported_ = false;

  uint64_t inner_seq_ = 0;         // the pump's flushes of the inner destination
  std::deque<PumpMark> marks_;     // not yet taken by it
  uint64_t in_flight_msgs_ = 0;
  uint64_t in_flight_bytes_ = 0;
  QueuePosition consumed_;         // everything before it was taken
  uint64_t last_save_ms_ = 0;
  uint64_t seen_errors_ = 0, seen_truncated_ = 0, seen_dropped_ = 0;
};

}  // namespace

std::unique_ptr<Destination> make_buffered_destination(const DiskBufferConfig& c, const std::string& name,
                                                       std::unique_ptr<Destination> inner) {
  if (!c.enabled) return inner;
  inner->backed_by_disk_buffer = true;
  return std::make_unique<BufferedDestination>(c, name, std::move(inner));
}

}  // namespace logferry
