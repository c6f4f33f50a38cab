// kafka-c(): the running producer.  It lives on the output thread and never
// blocks its libuv loop: rd_kafka_produce() only queues a copy of the
// record (librdkafka's own threads talk to the brokers), and what
// librdkafka has to tell (delivery reports, errors, its log) waits on its
// main queue, which signals an eventfd watched by a uv_poll_t when it gets
// something; rd_kafka_poll(rk, 0) then serves it on this thread.
//
// Delivery tracking: records are numbered as they are produced; a delivery
// report marks its record done in a CompletionWindow (reports come out of
// order across partitions), and DeliveryMarks turns the count of records
// done in order into the engine's flush numbers.  A record is done when
// Kafka confirmed it (counted as out) or refused it for good (counted as an
// error and reported: too large, a topic that does not exist, ...).  Broker
// outages only delay: message.timeout.ms is 0 (no limit) unless config()
// sets it, so librdkafka retries until the broker is back, and the
// idempotent producer keeps those retries from writing a record twice.
//
// Flow control: while log-fifo-size() records wait for their report,
// accepting() is false and the batches of flow-controlled sources wait in
// the engine's queue; other sources' messages are dropped (counted) beyond
// the window's capacity.
#include <sys/eventfd.h>
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "core/shutdown_give_up.h"
#include "relay/completion_window.h"
#include "relay/delivery_marks.h"
#include "relay/hold_reports.h"
#include "relay/kafka_destination.h"
#include "relay/kafka_library.h"

namespace logferry {

namespace {

// Templated topic names: how many topic handles are kept before they are
// all released (names made from message fields cannot grow memory without
// bound).
constexpr size_t kMaxTopics = 1000;
// Reports of one kind: this many at once, then none until the interval
// ends; the ones left out are summed up then.
constexpr uint64_t kReportBurst = 10;
constexpr uint64_t kReportEveryMs = 10000;
constexpr uint64_t kShutdownCheckMs = 100;

uint64_t now_ms() { return uv_hrtime() / 1000000; }

class KafkaDestination : public Destination {
 public:
  explicit KafkaDestination(const KafkaDestinationConfig& c)
      : cfg_(c), name_(describe_kafka_destination(c)),
        window_(c.max_in_flight + std::max<size_t>(c.max_in_flight, 1024)),
        holds_({"records", "wait for Kafka to confirm them", "until it does", "Kafka confirms records again"},
               [this](int severity, const std::string& text) { report(severity, text); }) {}

  ~KafkaDestination() override {
    // Destroyed without close(): the engine gave up starting after open().
    if (!stopped_) finish();
    while (loop_ && outstanding_handles_ > 0) uv_run(loop_, UV_RUN_NOWAIT);
    if (event_fd_ >= 0) ::close(event_fd_);
  }

  bool open(uv_loop_t* loop, std::string* error) override {
    loop_ = loop;
    lib_ = load_rdkafka(error);
    if (!lib_) return false;
    char errstr[512];
    rd_kafka_conf_t* conf = lib_->rd_kafka_conf_new();
    for (const auto& [key, value] : kafka_properties(cfg_)) {
      if (lib_->rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        *error = name_ + ": " + errstr;
        lib_->rd_kafka_conf_destroy(conf);
        return false;
      }
    }
    lib_->rd_kafka_conf_set_opaque(conf, this);
    lib_->rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* self) {
      static_cast<KafkaDestination*>(self)->on_delivery(m);
    });
    lib_->rd_kafka_conf_set_error_cb(conf, [](rd_kafka_t*, int err, const char* reason, void* self) {
      static_cast<KafkaDestination*>(self)->on_error(static_cast<rd_kafka_resp_err_t>(err), reason);
    });
    lib_->rd_kafka_conf_set_log_cb(conf, [](const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
      // With log.queue=true this runs in rd_kafka_poll(), on our thread.
      auto* self = static_cast<KafkaDestination*>(load_rdkafka(nullptr)->rd_kafka_opaque(rk));
      if (self) self->on_log(level, fac, buf);
    });
    rk_ = lib_->rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk_) {
      lib_->rd_kafka_conf_destroy(conf);
      *error = name_ + ": cannot create the Kafka producer: " + errstr;
      return false;
    }
    lib_->rd_kafka_set_log_queue(rk_, nullptr);  // the main queue, served by rd_kafka_poll()
    main_queue_ = lib_->rd_kafka_queue_get_main(rk_);

    event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (event_fd_ < 0) {
      *error = name_ + ": eventfd: " + strerror(errno);
      return false;
    }
    static const uint64_t kOne = 1;  // what an eventfd takes: 8 bytes
    lib_->rd_kafka_queue_io_event_enable(main_queue_, event_fd_, &kOne, sizeof(kOne));
    uv_poll_init(loop_, &event_poll_, event_fd_);
    uv_timer_init(loop_, &shutdown_timer_);
    event_poll_.data = shutdown_timer_.data = this;
    outstanding_handles_ = 2;
    uv_poll_start(&event_poll_, UV_READABLE, [](uv_poll_t* p, int, int) {
      auto* self = static_cast<KafkaDestination*>(p->data);
      uint64_t n;
      while (read(self->event_fd_, &n, sizeof(n)) > 0) {
      }
      self->serve();
    });
    if (cfg_.topic->is_literal()) {
      LogMessage empty;
      topic_buf_.clear();
      cfg_.topic->render(empty, cfg_.render, topic_buf_);
      if (!topic_handle(topic_buf_)) {
        *error = name_ + ": cannot use topic '" + topic_buf_ + "'";
        return false;
      }
    }
    return true;
  }

  void deliver(const LogMessage& msg) override {
    if (stopped_ || closing_ || window_.full()) {
      drop_for_queue();
      return;
    }
    if (fatal_) {
      // Never taken (see on_error()): held until logferry restarts.
      window_.add();
      drop_for_queue();
      return;
    }
    rd_kafka_topic_t* rkt = topic_of(msg);
    if (!rkt) return;  // reported and counted
    value_buf_.clear();
    cfg_.message->render(msg, cfg_.render, value_buf_);
    const char* key = nullptr;
    size_t key_len = 0;
    if (cfg_.key) {
      key_buf_.clear();
      cfg_.key->render(msg, cfg_.render, key_buf_);
      key = key_buf_.data();
      key_len = key_buf_.size();
    }
    uint64_t seq = window_.add();
    void* opaque = reinterpret_cast<void*>(static_cast<uintptr_t>(seq));
    for (int attempt = 0;; ++attempt) {
      if (lib_->rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, value_buf_.data(), value_buf_.size(),
                                 key, key_len, opaque) == 0)
        return;
      rd_kafka_resp_err_t err = lib_->rd_kafka_last_error();
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && attempt == 0) {
        serve();  // delivery reports may make room
        continue;
      }
      if (err == RD_KAFKA_RESP_ERR__FATAL) {
        fatal_ = true;  // never taken, as in on_delivery()
        drop_for_queue();
        return;
      }
      window_.done(seq);
      marks_.release(window_.taken());
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        drop_for_queue();
      } else {
        Counters::add(counters.errors);
        report_refused(lib_->rd_kafka_topic_name(rkt), err);
      }
      return;
    }
  }

  void flush() override {
    if (stopped_) return;
    marks_.flushed(flush_seq, window_.total());
    serve();
    check_hold();
  }

  void tick() override {
    if (stopped_) return;
    serve();
    check_hold();
    uint64_t now = now_ms();
    if (uint64_t n = refused_budget_.left_out(now))
      report(4, std::to_string(n) + " more records were refused by Kafka (not reported one by one)");
    if (uint64_t n = error_budget_.left_out(now))
      report(4, std::to_string(n) + " more errors from librdkafka were not reported one by one");
  }

  uint64_t taken_through(uint64_t latest) const override {
    return marks_.taken_through(latest, window_.taken(), window_.total());
  }

  bool accepting() const override { return window_.outstanding() < cfg_.max_in_flight; }

  // Shutdown: the records waiting for their report may take up to
  // flush-timeout-on-shutdown(); the loop keeps running meanwhile (the
  // engine waits for our handles).
  void close() override {
    if (closing_ || stopped_) return;
    closing_ = true;
    close_started_ms_ = now_ms();
    serve();
    if (window_.outstanding() == 0 || fatal_) {  // after a fatal error nothing more is confirmed
      finish();
      return;
    }
    report(5, "waiting up to " + std::to_string(cfg_.flush_timeout_on_shutdown_ms) + " ms for Kafka to confirm " +
                  std::to_string(window_.outstanding()) + " records");
    uv_timer_start(&shutdown_timer_, [](uv_timer_t* t) { static_cast<KafkaDestination*>(t->data)->shutdown_check(); },
                   kShutdownCheckMs, kShutdownCheckMs);
  }

 private:
  void serve() {
    if (rk_ && !stopped_) lib_->rd_kafka_poll(rk_, 0);
  }

  void drop_for_queue() {
    Counters::add(counters.dropped_queue_full);
    holds_.dropped(window_.outstanding(), stopped_ || closing_);
  }

  // The topic handle for a message; null when the message is refused (an
  // invalid rendered name and no fallback-topic()).
  rd_kafka_topic_t* topic_of(const LogMessage& msg) {
    if (cfg_.topic->is_literal()) return last_topic_;
    topic_buf_.clear();
    cfg_.topic->render(msg, cfg_.render, topic_buf_);
    if (last_topic_ && topic_buf_ == last_topic_name_) return last_topic_;
    if (!valid_kafka_topic(topic_buf_)) {
      if (cfg_.fallback_topic.empty()) {
        Counters::add(counters.errors);
        if (refused_budget_.take(now_ms()))
          report(4, "topic() rendered '" + printable(topic_buf_) + "', which is not a valid Kafka topic name, and no "
                    "fallback-topic() is set; the message is dropped");
        return nullptr;
      }
      topic_buf_ = cfg_.fallback_topic;
    }
    return topic_handle(topic_buf_);
  }

  rd_kafka_topic_t* topic_handle(const std::string& name) {
    auto it = topics_.find(name);
    if (it == topics_.end()) {
      if (topics_.size() >= kMaxTopics) release_topics();
      rd_kafka_topic_t* rkt = lib_->rd_kafka_topic_new(rk_, name.c_str(), nullptr);
      if (!rkt) {
        Counters::add(counters.errors);
        if (refused_budget_.take(now_ms()))
          report(4, "cannot use topic '" + printable(name) + "': " + lib_->rd_kafka_err2str(lib_->rd_kafka_last_error()));
        return nullptr;
      }
      it = topics_.emplace(name, rkt).first;
    }
    last_topic_ = it->second;
    last_topic_name_ = name;
    return last_topic_;
  }

  // Records in flight keep librdkafka's own reference to their topic.
  void release_topics() {
    for (auto& [name, rkt] : topics_) lib_->rd_kafka_topic_destroy(rkt);
    topics_.clear();
    last_topic_ = nullptr;
    last_topic_name_.clear();
  }

  void on_delivery(const rd_kafka_message_t* m) {
    uint64_t seq = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(m->_private));
    if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT ||
        m->err == RD_KAFKA_RESP_ERR__DESTROY) {
      // Given up at shutdown (counted there); never taken, so a file
      // source's saved position stays before it.
      return;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && (fatal_ || lib_->rd_kafka_fatal_error(rk_, nullptr, 0))) {
      // Failed by a fatal error of the producer: not Kafka's verdict on
      // this record, so it is never taken (see on_error()).
      Counters::add(counters.dropped_queue_full);
      return;
    }
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      Counters::add(counters.out);
    } else {
      Counters::add(counters.errors);
      report_refused(m->rkt ? lib_->rd_kafka_topic_name(m->rkt) : "?", m->err);
    }
    window_.done(seq);
    marks_.release(window_.taken());
    progressed();
    if (holds_.active()) check_hold();
  }

  void report_refused(const char* topic, rd_kafka_resp_err_t err) {
    if (!refused_budget_.take(now_ms())) return;
    report(4, std::string("Kafka refused a record for topic ") + topic + " (" + lib_->rd_kafka_err2str(err) +
                  "); it is dropped");
  }

  void on_error(rd_kafka_resp_err_t err, const char* reason) {
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      // The idempotent producer cannot go on (e.g. the cluster lost records
      // it had confirmed).  The records not confirmed, and every message
      // from now on, are counted as dropped and never taken: a file
      // source's saved position stays before them, and the window fills
      // until the flow-controlled sources are held.  A restart produces
      // them again.
      char why[512];
      lib_->rd_kafka_fatal_error(rk_, why, sizeof(why));
      if (!fatal_)
        report(2, std::string("fatal error of the Kafka producer: ") + why +
                      "; nothing more is produced and the records not confirmed wait; restart logferry");
      fatal_ = true;
      return;
    }
    if (error_budget_.take(now_ms())) report(4, std::string("librdkafka: ") + (reason ? reason : "?"));
  }

  void on_log(int level, const char* fac, const char* buf) {
    if (level > 4 && level != 5) return;  // warnings and notices; errors come through on_error() too
    if (!error_budget_.take(now_ms())) return;
    report(level <= 3 ? 4 : level, std::string("librdkafka ") + (fac ? fac : "") + ": " + (buf ? buf : ""));
  }

  void check_hold() {
    holds_.update(!accepting(), window_.outstanding() < cfg_.max_in_flight, window_.outstanding(), now_ms());
  }

  void shutdown_check() {
    if (stopped_) return;
    serve();
    if (window_.outstanding() == 0) {
      finish();
      return;
    }
    if (now_ms() - close_started_ms_ < static_cast<uint64_t>(cfg_.flush_timeout_on_shutdown_ms)) return;
    // What Kafka did not confirm is counted (unless a disk buffer keeps
    // it) and never taken: a file source's saved position stays before it,
    // so the next start sends it (possibly a second time, if Kafka did
    // store it).
    uint64_t left = window_.outstanding();
    std::string kept = give_up_at_shutdown(*this, left);
    report(4, "shutting down with " + std::to_string(left) + " records not confirmed by Kafka (flush-timeout-on-shutdown(" +
                  std::to_string(cfg_.flush_timeout_on_shutdown_ms) + ") passed)" + kept);
    finish();
  }

  void finish() {
    if (stopped_) return;
    if (rk_) {
      lib_->rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT | RD_KAFKA_PURGE_F_NON_BLOCKING);
      lib_->rd_kafka_poll(rk_, 0);
    }
    stopped_ = true;
    if (rk_) {
      release_topics();
      if (main_queue_) {
        lib_->rd_kafka_queue_io_event_enable(main_queue_, -1, nullptr, 0);
        lib_->rd_kafka_queue_destroy(main_queue_);
        main_queue_ = nullptr;
      }
      lib_->rd_kafka_destroy(rk_);
      rk_ = nullptr;
    }
    if (outstanding_handles_ > 0) {
      for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&event_poll_), reinterpret_cast<uv_handle_t*>(&shutdown_timer_)})
        uv_close(h, [](uv_handle_t* closed) { --static_cast<KafkaDestination*>(closed->data)->outstanding_handles_; });
    }
  }

  void report(int severity, const std::string& text) {
    std::string line = "destination " + name_ + ": " + text;
    if (internal_log) {
      internal_log(severity, line);
    } else {
      fprintf(stderr, "logferry: %s\n", line.c_str());
    }
  }

  // At most 200 bytes, control bytes as \xNN: rendered names come from messages.
  static std::string printable(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size() && i < 200; ++i) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      if (c >= 0x20 && c < 0x7f) {
        out.push_back(static_cast<char>(c));
      } else {
        char hex[8];
        snprintf(hex, sizeof(hex), "\\x%02x", c);
        out += hex;
      }
    }
    if (s.size() > 200) out += "...";
    return out;
  }

  const KafkaDestinationConfig cfg_;
  const std::string name_;  // for reports: "kafka-c() localhost:9092 topic logs"
  const RdKafka* lib_ = nullptr;
  uv_loop_t* loop_ = nullptr;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_queue_t* main_queue_ = nullptr;
  int event_fd_ = -1;
  uv_poll_t event_poll_{};
  uv_timer_t shutdown_timer_{};
  int outstanding_handles_ = 0;

  // Rendering buffers, reused: no allocation per message once grown.
  std::string topic_buf_, key_buf_, value_buf_;
  std::unordered_map<std::string, rd_kafka_topic_t*> topics_;
  rd_kafka_topic_t* last_topic_ = nullptr;
  std::string last_topic_name_;

  CompletionWindow window_;
  DeliveryMarks marks_;

  HoldReports holds_;  // flow control: sources held, dropping episodes
  ReportBudget refused_budget_{kReportBurst, kReportEveryMs}, error_budget_{kReportBurst, kReportEveryMs};

  bool fatal_ = false;  // the producer had a fatal error
  bool closing_ = false;
  bool stopped_ = false;
  uint64_t close_started_ms_ = 0;
};

}  // namespace

std::unique_ptr<Destination> make_kafka_destination(const KafkaDestinationConfig& c) {
  return std::make_unique<KafkaDestination>(c);
}

}  // namespace logferry
