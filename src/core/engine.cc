#include "core/engine.h"

#include "core/delivery_journal.h"
#include "core/journal_writer.h"
#include "core/origin_table.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <uv.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <algorithm>

namespace logferry {

namespace {
constexpr size_t kBatchSize = 512;  // messages per hand-off
// At shutdown, how long batches may wait for a destination that takes
// nothing (e.g. its server is away) before they are given up.
constexpr uint64_t kShutdownWaitMs = 10000;
constexpr uint64_t kJournalRetryMs = 1000;  // a failed journal commit is tried again after this

// Messages from one source, on their way to the output thread.
struct Batch {
  int def = -1;  // index of the source block in Config::sources
  Counters* source_counters = nullptr;  // of the running source that filled it
  void* origin = nullptr;               // the SourceRuntime that filled it
  MessageBatch messages;
  std::vector<std::pair<uint32_t, uint64_t>> marks;  // SourceHost::mark_position()
};

// Position marks of a routed batch, waiting until every destination took it.
struct PendingAck {
  uint64_t seq;
  int def;  // the source block: its reachable destinations decide
  void* origin;
  std::vector<std::pair<uint32_t, uint64_t>> marks;
};

// Sources also print `unacknowledged` (only they count it).
std::string stats_line(const std::string& kind, const std::string& name, const Counters& c) {
  char buf[512];
  int n = snprintf(buf, sizeof(buf),
                   "%s %s in=%llu out=%llu dropped_queue_full=%llu truncated=%llu parse_errors=%llu filtered=%llu "
                   "errors=%llu",
                   kind.c_str(), name.c_str(), static_cast<unsigned long long>(Counters::get(c.in)),
                   static_cast<unsigned long long>(Counters::get(c.out)),
                   static_cast<unsigned long long>(Counters::get(c.dropped_queue_full)),
                   static_cast<unsigned long long>(Counters::get(c.dropped_too_long)),
                   static_cast<unsigned long long>(Counters::get(c.parse_errors)),
                   static_cast<unsigned long long>(Counters::get(c.filtered)),
                   static_cast<unsigned long long>(Counters::get(c.errors)));
  std::string line(buf, static_cast<size_t>(std::clamp(n, 0, static_cast<int>(sizeof(buf)) - 1)));
  if (kind == "source") line += " unacknowledged=" + std::to_string(Counters::get(c.unacknowledged));
  return line;
}
}  // namespace

class Engine::Impl {
 public:
  explicit Impl(std::unique_ptr<Config> cfg) : cfg_(std::move(cfg)) {}

  int run();
  void request_stop() { uv_async_send(&stop_async_); }
  void on_reload(Engine::ConfigLoader load) { reload_loader_ = std::move(load); }
  std::unique_ptr<Config> take_reloaded_config() { return std::move(reloaded_); }

 private:
  // The SourceHost of one running source driver: fills batches, commits
  // them to the queue, pauses the source when the queue is full.
  struct SourceRuntime : SourceHost {
    Impl* engine = nullptr;
    int def = 0;
    std::string name;
    std::unique_ptr<Source> source;
    bool flow_control = false;
    bool whole_batches = false;  // Source::keeps_batches_whole()
    bool paused = false;
    // Set once the source marked a position: what is not acknowledged, it
    // has again (see Impl::give_up_at_shutdown).  Read on the output thread.
    std::atomic<bool> marks_positions{false};
    Batch* batch = nullptr;
    Timestamp now;

    LogMessage& next_message() override {
      if (batch && batch->messages.size() >= kBatchSize && !whole_batches) commit();
      ensure_batch();
      if (batch->messages.empty()) now = now_in(*TimeZone::local());
      LogMessage& m = batch->messages.add();
      m.received = now;
      m.source_id = static_cast<uint16_t>(def);
      return m;
    }
    void discard_message() override {
      if (batch && !batch->messages.empty()) batch->messages.drop_last();
    }
    void ensure_batch() {
      if (batch) return;
      batch = engine->take_free_batch(def);
      batch->source_counters = &source->counters;
      batch->origin = this;
    }
    void mark_position(uint32_t stream, uint64_t position) override {
      if (!marks_positions.load(std::memory_order_relaxed)) marks_positions.store(true, std::memory_order_relaxed);
      ensure_batch();
      auto& marks = batch->marks;
      if (!marks.empty() && marks.back().first == stream) marks.back().second = position;
      else marks.emplace_back(stream, position);
    }
    void commit() override {
      if (!batch || (batch->messages.empty() && batch->marks.empty())) return;
      Counters::add(source->counters.in, batch->messages.size());
      engine->push(this, batch);
      batch = nullptr;
    }
    void internal_log(int severity, const std::string& text) override { engine->internal_log(severity, text); }
    const std::string& persist_dir() const override { return engine->cfg_->options.persist_dir; }
    DeliveryJournal* journal() override { return source->journals_outputs() ? engine->journal_.get() : nullptr; }
    OriginTable* origins() override { return &engine->origins_; }
  };

  Batch* take_free_batch(int def) {
    Batch* b;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        b = free_.back();
        free_.pop_back();
      } else {
        b = nullptr;
      }
    }
    if (!b) b = new Batch();
    b->def = def;
    b->messages.clear();
    b->marks.clear();
    return b;
  }

  // Input thread: hands a batch to the output thread.  A full queue pauses
  // a flow-controlled source (its batch is still taken: nothing it read is
  // lost) and drops, counted, the batch of any other.
  void push(SourceRuntime* src, Batch* b) {
    bool full;
    {
      std::lock_guard<std::mutex> lock(mu_);
      full = queued_msgs_ >= capacity_;
      if (!full || src->flow_control) {
        queued_msgs_ += b->messages.size();
        queue_.push_back(b);
        b = nullptr;
      }
      if (full && src->flow_control && !src->paused) {
        src->paused = true;
        any_paused_ = true;
      }
    }
    if (b) {
      Counters::add(src->source->counters.dropped_queue_full, b->messages.size());
      std::lock_guard<std::mutex> lock(mu_);
      free_.push_back(b);
    } else {
      uv_async_send(&out_async_);
    }
    if (src->paused) src->source->pause();
  }

  void internal_log(int severity, const std::string& text) {
    fprintf(stderr, "logferry: %s\n", text.c_str());
    if (internal_ < 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_internal_.size() < 1000) pending_internal_.emplace_back(severity, text);
    uv_async_send(&in_async_);
  }

  // Input thread: resumes paused sources once the queue has room, and
  // delivers logferry's own messages to the internal() source.
  void on_input_wakeup() {
    std::vector<std::pair<int, std::string>> internal;
    std::vector<PendingAck> acked;
    bool room;
    {
      std::lock_guard<std::mutex> lock(mu_);
      internal.swap(pending_internal_);
      acked.swap(acked_);
      room = queued_msgs_ < capacity_ / 2;
      if (room) any_paused_ = false;
    }
    if (room) {
      for (auto& s : sources_) {
        if (s->paused) {
          s->paused = false;
          s->source->resume();
        }
      }
    }
    dispatch_acks(acked);
    if (internal_ >= 0 && !internal.empty()) {
      SourceRuntime* rt = sources_[static_cast<size_t>(internal_)].get();
      for (const auto& [sev, text] : internal) {
        LogMessage& m = rt->next_message();
        m.set_pri(5, sev);  // syslog facility
        m.set(Field::kProgram, "logferry");
        char pid[16];
        snprintf(pid, sizeof(pid), "%d", static_cast<int>(getpid()));
        m.set(Field::kPid, pid);
        m.set(Field::kMessage, text);
        m.stamp = m.received;
        m.set(Field::kHost, hostname_);
      }
      rt->commit();
    }
  }

  // Input thread: tells sources which of their positions were taken by
  // every destination.  Marks that journaling sources set go into the
  // journal, with the output lengths of the newest flush acknowledged; the
  // journal is written on the thread pool (JournalWriter), one commit at a
  // time, and their sources hear journal_committed() when it is durable.
  // While a commit runs, their acknowledgements are held back, so that
  // every mark a journal_committed() answers for is in the commit that
  // preceded it; the next commit takes all of them at once.
  void dispatch_acks(std::vector<PendingAck>& acked) {
    bool journaled = false;
    for (auto& a : acked) {
      auto* rt = static_cast<SourceRuntime*>(a.origin);
      if (rt->source->journals_outputs()) {
        if (journal_writer_->running()) {
          held_acks_.push_back(std::move(a));
          continue;
        }
        journaled = true;
      }
      for (const auto& [stream, pos] : a.marks) rt->source->acknowledged(stream, pos);
      acked_flush_ = std::max(acked_flush_, a.seq);
    }
    acked.clear();
    if (!journaled) return;
    if (journal_->dirty() && !journal_->path().empty()) journal_writer_->start(acked_flush_);
    else tell_journal_committed();
  }

  // Input thread: a commit of the journal finished.  Not durable: nothing
  // is acknowledged to the peers until a later commit succeeds (they wait,
  // then resend).
  void journal_written(bool ok, const std::string& error) {
    if (!ok) {
      if (!journal_failed_) internal_log(3, "cannot commit the delivery journal: " + error);
      journal_failed_ = true;
      // Tried again in a while even if nothing new is acknowledged: the
      // senders wait for these ACKs (a full window sends nothing new).
      uv_timer_start(&journal_retry_, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->retry_journal(); },
                     kJournalRetryMs, 0);
    } else {
      if (journal_failed_) internal_log(5, "the delivery journal is written again");
      journal_failed_ = false;
      tell_journal_committed();
    }
    std::vector<PendingAck> held;
    held.swap(held_acks_);
    dispatch_acks(held);
  }

  void retry_journal() {
    if (!journal_writer_->running() && journal_->dirty()) journal_writer_->start(acked_flush_);
  }

  void tell_journal_committed() {
    for (auto& s : sources_)
      if (s->source->journals_outputs()) s->source->journal_committed();
  }

  // The batch sequence number through which every destination that
  // source block `def` reaches has taken what was routed to it.  Only
  // those count: a file source is not held back by a stuck destination
  // that its messages never go to.
  uint64_t taken_for(int def) const {
    uint64_t taken = batch_seq_;
    for (const Destination* d : reachable_[static_cast<size_t>(def)])
      taken = std::min(taken, d->taken_through(batch_seq_));
    return taken;
  }

  // Moves the pending marks whose batches are taken to acked_ (under mu_
  // while the output thread runs).  Marks of one source stay in order: its
  // later batches need the same destinations to take more.
  bool collect_taken_acks() {
    bool any = false;
    for (size_t i = 0; i < pending_acks_.size();) {
      if (pending_acks_[i].seq <= taken_for(pending_acks_[i].def)) {
        acked_.push_back(std::move(pending_acks_[i]));
        pending_acks_.erase(pending_acks_.begin() + static_cast<ptrdiff_t>(i));
        any = true;
      } else {
        ++i;
      }
    }
    return any;
  }

  // Output thread: moves the marks of batches their destinations have
  // taken to the input thread.  Destinations that write asynchronously
  // (network) take their data later; a short timer looks again while marks
  // wait.
  void check_acks() {
    if (pending_acks_.empty()) return;
    bool any;
    {
      std::lock_guard<std::mutex> lock(mu_);
      any = collect_taken_acks();
    }
    if (any) uv_async_send(&in_async_);
    if (!pending_acks_.empty() && !output_closed_ && !uv_is_active(reinterpret_cast<uv_handle_t*>(&ack_timer_)))
      uv_timer_start(&ack_timer_, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->check_acks(); }, 100, 0);
  }

  // Output thread: a destination took more or accepts again
  // (Destination::progressed).  Looked at in the loop's next turn, not
  // from within the destination's call: acknowledgements go on to the
  // input thread, and batches waiting for that destination are routed.
  void schedule_progress() {
    if (output_closed_ || uv_is_active(reinterpret_cast<uv_handle_t*>(&progress_timer_))) return;
    uv_timer_start(&progress_timer_, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->on_progress(); }, 0, 0);
  }

  void on_progress() {
    if (output_closed_) return;
    check_acks();
    if (uv_is_active(reinterpret_cast<uv_handle_t*>(&retry_timer_))) {
      uv_timer_stop(&retry_timer_);
      on_output_wakeup();
    }
  }

  // Output thread: routes every queued batch through the log paths.
  // Whether a batch must wait: its source is flow-controlled and a
  // destination it reaches is not accepting.
  bool must_wait(const Batch& b) const {
    const auto* rt = static_cast<const SourceRuntime*>(b.origin);
    if (!rt || !rt->flow_control) return false;
    for (const Destination* d : reachable_[static_cast<size_t>(b.def)])
      if (!d->accepting()) return true;
    return false;
  }

  void on_output_wakeup() {
    if (output_closed_) return;
    while (true) {
      Batch* b = nullptr;
      bool done, input_done;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!queue_.empty()) b = queue_.front();
        input_done = input_done_;
        done = input_done_ && queue_.empty();
      }
      if (!b) {
        if (done) shutdown_output();
        return;
      }
      if (must_wait(*b)) {
        // Look again shortly; at shutdown give up after a while.
        uint64_t now = uv_now(&out_loop_);
        if (blocked_since_ == 0) blocked_since_ = now;
        if (!(input_done && now - blocked_since_ >= kShutdownWaitMs)) {
          if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&retry_timer_)))
            uv_timer_start(&retry_timer_, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->on_output_wakeup(); }, 20, 0);
          return;
        }
        {
          std::lock_guard<std::mutex> lock(mu_);
          queue_.pop_front();
          queued_msgs_ -= b->messages.size();
        }
        give_up_at_shutdown(*b);
        std::lock_guard<std::mutex> lock(mu_);
        free_.push_back(b);
        continue;
      }
      blocked_since_ = 0;
      {
        std::lock_guard<std::mutex> lock(mu_);
        queue_.pop_front();
      }
      route_batch(*b);
      if (!b->marks.empty()) {
        pending_acks_.push_back(PendingAck{batch_seq_, b->def, b->origin, std::move(b->marks)});
        b->marks = {};
        check_acks();
      }
      bool wake_input;
      {
        std::lock_guard<std::mutex> lock(mu_);
        queued_msgs_ -= b->messages.size();
        free_.push_back(b);
        wake_input = any_paused_ && queued_msgs_ < capacity_ / 2;
      }
      if (wake_input) uv_async_send(&in_async_);
    }
  }

  // Output thread, at shutdown: a batch a destination would not take.  A
  // source that marks positions has its messages again, since their marks
  // are never acknowledged (a file source's saved position stays before
  // them, a ferry() sender sends them again): counted as unacknowledged.
  // Any other source's are lost: dropped_queue_full.  Reported once per
  // source by report_given_up().
  void give_up_at_shutdown(const Batch& b) {
    auto* rt = static_cast<SourceRuntime*>(b.origin);
    uint64_t n = b.messages.size();
    bool again = rt && rt->marks_positions.load(std::memory_order_relaxed);
    Counters::add(again ? b.source_counters->unacknowledged : b.source_counters->dropped_queue_full, n);
    if (rt) (again ? given_up_[rt].first : given_up_[rt].second) += n;
  }

  void report_given_up() {
    for (const auto& [rt, counts] : given_up_) {
      auto [again, lost] = counts;
      std::string what = "shutting down: messages of source " + rt->name +
                         " were not delivered (a destination took nothing more): ";
      if (again)
        internal_log(4, what + std::to_string(again) +
                            " stay unacknowledged, so the source has them again (counted as unacknowledged)");
      if (lost) internal_log(4, what + std::to_string(lost) + " are lost (counted as dropped_queue_full)");
    }
    given_up_.clear();
  }

  void route_batch(Batch& b) {
    ++batch_seq_;
    const auto& paths = paths_[static_cast<size_t>(b.def)];
    const auto& fallbacks = fallbacks_[static_cast<size_t>(b.def)];
    for (size_t i = 0; i < b.messages.size(); ++i) {
      LogMessage& m = b.messages[i];
      bool matched = false;
      for (const LogPath* p : paths) {
        if (run_path(*p, m)) {
          matched = true;
          if (p->final) break;
        }
      }
      if (!matched) {
        for (const LogPath* p : fallbacks) {
          if (run_path(*p, m)) {
            matched = true;
            if (p->final) break;
          }
        }
      }
      // "filtered" on a source: messages that no log path matched.
      if (!matched && b.source_counters) Counters::add(b.source_counters->filtered);
    }
    for (Destination* d : dirty_) {
      d->flush_seq = batch_seq_;
      d->flush();
      d->flush_pending = false;
    }
    dirty_.clear();
  }

  bool run_path(const LogPath& p, LogMessage& m) { return run_steps(p, 0, m); }

  // Runs steps [from, end) of a path.  Returns whether the message reached
  // its end (passed every filter): that is what "matched" means for final
  // and fallback.
  bool run_steps(const LogPath& p, size_t from, LogMessage& m) {
    for (size_t i = from; i < p.steps.size(); ++i) {
      const PathStep& step = p.steps[i];
      switch (step.kind) {
        case PathStep::Kind::kFilter:
          Counters::add(step.counters->in);
          if (!step.filter->eval_mut(m)) {
            Counters::add(step.counters->filtered);
            return false;
          }
          Counters::add(step.counters->out);
          break;
        case PathStep::Kind::kDestination:
          for (auto& d : dests_[static_cast<size_t>(step.destination)]) {
            Counters::add(d->counters.in);
            d->deliver(m);
            if (!d->flush_pending) {
              d->flush_pending = true;
              dirty_.push_back(d.get());
            }
          }
          break;
        case PathStep::Kind::kLogs:
          for (const auto& f : step.forks)
            if (run_path(*f, m) && f->final) break;
          break;
        case PathStep::Kind::kJunction: {
          bool any = false;
          for (const auto& ch : step.forks) {
            if (!run_path(*ch, m)) continue;
            any |= run_steps(p, i + 1, m);  // the rest, once per channel passed
            if (ch->final) break;
          }
          return any;
        }
        case PathStep::Kind::kIf:
          for (size_t b = 0; b < step.forks.size(); ++b) {
            const Filter* cond = step.conditions[b];
            if (cond && !cond->eval_mut(m)) continue;
            if (!run_path(*step.forks[b], m)) return false;
            break;
          }
          break;
      }
    }
    return true;
  }

  void shutdown_output() {
    if (output_closed_) return;
    output_closed_ = true;
    report_given_up();
    for (auto& ds : dests_)
      for (auto& d : ds) {
        d->flush();
        d->close();
      }
    uv_close(reinterpret_cast<uv_handle_t*>(&out_async_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&out_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&ack_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&retry_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&progress_timer_), nullptr);
  }

  // SIGHUP: the config is read again; a valid one replaces the running
  // one through a drain and a new start (Engine::on_reload).
  void reload() {
    if (stopping_) {
      internal_log(4, "SIGHUP while shutting down: ignored");
      return;
    }
    if (!reload_loader_) {
      internal_log(4, "SIGHUP: reloading the config is not supported here; restart to apply changes");
      return;
    }
    auto cfg = reload_loader_();
    if (!cfg) {
      internal_log(3, "SIGHUP: the config file has errors (reported above); the running config stays");
      return;
    }
    reloaded_ = std::move(cfg);
    internal_log(5, "SIGHUP: config read again; draining the queues, then starting the new config");
    stop_input();
  }

  void stop_input() {
    if (stopping_) return;
    stopping_ = true;
    internal_log(5, "logferry shutting down; draining queues");
    on_input_wakeup();  // deliver pending internal messages first
    for (auto& s : sources_) s->source->stop();
    for (auto& s : sources_) s->commit();
    {
      std::lock_guard<std::mutex> lock(mu_);
      input_done_ = true;
    }
    uv_async_send(&out_async_);
    for (uv_signal_t* sig : {&sigterm_, &sigint_, &sigusr1_})
      uv_close(reinterpret_cast<uv_handle_t*>(sig), nullptr);
    // SIGHUP stays handled (and ignored) while the queues drain, so that a
    // second one does not end the process; it no longer keeps the loop up.
    uv_unref(reinterpret_cast<uv_handle_t*>(&sighup_));
    uv_close(reinterpret_cast<uv_handle_t*>(&in_async_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&stop_async_), nullptr);
    if (stats_timer_started_) uv_close(reinterpret_cast<uv_handle_t*>(&stats_timer_), nullptr);
  }

  // The destinations a path (and its forks) can deliver to.
  void collect_destinations(const LogPath& p, std::vector<const Destination*>* out) {
    for (const auto& step : p.steps) {
      if (step.kind == PathStep::Kind::kDestination)
        for (const auto& d : dests_[static_cast<size_t>(step.destination)])
          if (std::find(out->begin(), out->end(), d.get()) == out->end()) out->push_back(d.get());
      for (const auto& f : step.forks) collect_destinations(*f, out);
    }
  }

  // Gives every filter step its counters and a name for the stats.
  void prepare_filters(LogPath& p) {
    for (auto& step : p.steps) {
      if (step.kind == PathStep::Kind::kFilter) {
        step.counters = std::make_unique<Counters>();
        std::string name = "inline#" + std::to_string(filter_stats_.size());
        for (const auto& f : cfg_->filters)
          if (f.second.get() == step.filter) name = f.first;
        filter_stats_.emplace_back(name, step.counters.get());
      }
      for (auto& f : step.forks) prepare_filters(*f);
    }
  }

  void print_stats() {
    for (const auto& s : sources_) fprintf(stderr, "logferry: %s\n", stats_line("source", s->name, s->source->counters).c_str());
    for (const auto& [name, c] : filter_stats_)
      fprintf(stderr, "logferry: filter %s in=%llu out=%llu filtered=%llu\n", name.c_str(),
              static_cast<unsigned long long>(Counters::get(c->in)), static_cast<unsigned long long>(Counters::get(c->out)),
              static_cast<unsigned long long>(Counters::get(c->filtered)));
    for (size_t i = 0; i < dests_.size(); ++i)
      for (size_t k = 0; k < dests_[i].size(); ++k)
        fprintf(stderr, "logferry: %s\n",
                stats_line("destination", cfg_->destinations[i].name + "#" + std::to_string(k), dests_[i][k]->counters).c_str());
  }

  bool start();

  std::unique_ptr<Config> cfg_;
  uv_loop_t in_loop_{};
  uv_loop_t out_loop_{};
  uv_async_t in_async_{}, out_async_{}, stop_async_{};
  uv_signal_t sigterm_{}, sigint_{}, sigusr1_{}, sighup_{};
  uv_timer_t out_timer_{}, stats_timer_{}, ack_timer_{}, retry_timer_{};
  uv_timer_t progress_timer_{};  // output thread: Destination::progressed() was called
  uv_timer_t journal_retry_{};  // input loop: a failed journal commit is tried again
  bool stats_timer_started_ = false;
  std::thread out_thread_;
  std::string hostname_;

  // Declared before the sources and destinations, so that it outlives
  // them: a destination may still report (internal_log) while destroyed.
  std::mutex mu_;
  std::vector<std::unique_ptr<SourceRuntime>> sources_;
  int internal_ = -1;  // index into sources_ of the internal() source
  std::vector<std::vector<const LogPath*>> paths_;      // per source block
  std::vector<std::vector<const LogPath*>> fallbacks_;  // per source block
  std::vector<std::vector<std::unique_ptr<Destination>>> dests_;
  std::vector<std::pair<std::string, Counters*>> filter_stats_;
  std::vector<Destination*> dirty_;
  uint64_t batch_seq_ = 0;                // output thread: batches routed so far
  // Output thread: per source, the messages give_up_at_shutdown() counted
  // (unacknowledged, lost).
  std::unordered_map<const SourceRuntime*, std::pair<uint64_t, uint64_t>> given_up_;
  uint64_t blocked_since_ = 0;            // output thread: when the front batch began to wait (0: not)
  std::vector<std::vector<const Destination*>> reachable_;  // per source block: destinations its paths reach
  std::deque<PendingAck> pending_acks_;   // output thread: routed, not yet taken by all
  std::unique_ptr<DeliveryJournal> journal_;  // see core/delivery_journal.h
  std::unique_ptr<JournalWriter> journal_writer_;  // input thread: commits journal_
  std::vector<PendingAck> held_acks_;  // input thread: of journaling sources, for the next commit
  uint64_t acked_flush_ = 0;           // input thread: the newest flush acknowledged
  OriginTable origins_;                       // see core/origin_table.h
  bool journal_failed_ = false;

  std::deque<Batch*> queue_;
  std::vector<Batch*> free_;
  std::vector<std::pair<int, std::string>> pending_internal_;
  std::vector<PendingAck> acked_;  // taken by every destination, for the input thread
  size_t queued_msgs_ = 0;
  size_t capacity_ = 10000;
  bool any_paused_ = false;
  bool input_done_ = false;
  bool stopping_ = false;
  Engine::ConfigLoader reload_loader_;   // reads the config again at SIGHUP
  std::unique_ptr<Config> reloaded_;      // what it read, to run next
  bool output_closed_ = false;

  friend class Engine;
};

bool Engine::Impl::start() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  hostname_ = host;
  capacity_ = static_cast<size_t>(std::max<int64_t>(cfg_->options.log_fifo_size, static_cast<int64_t>(kBatchSize)));

  for (auto& p : cfg_->paths) prepare_filters(*p);
  // Which paths each source block feeds, in config order.
  paths_.resize(cfg_->sources.size());
  fallbacks_.resize(cfg_->sources.size());
  std::vector<bool> flow(cfg_->sources.size(), false);
  for (const auto& p : cfg_->paths) {
    for (size_t s = 0; s < cfg_->sources.size(); ++s) {
      bool feeds = p->catchall || std::find(p->sources.begin(), p->sources.end(), static_cast<int>(s)) != p->sources.end();
      if (!feeds) continue;
      (p->fallback ? fallbacks_ : paths_)[s].push_back(p.get());
      if (p->flow_control) flow[s] = true;
    }
  }

  for (size_t s = 0; s < cfg_->sources.size(); ++s) {
    const auto& def = cfg_->sources[s];
    for (size_t k = 0; k < def.drivers.size(); ++k) {
      auto rt = std::make_unique<SourceRuntime>();
      rt->engine = this;
      rt->def = static_cast<int>(s);
      rt->name = def.name + "#" + std::to_string(k) + " " + def.drivers[k]->describe();
      rt->source = def.drivers[k]->create();
      rt->flow_control = flow[s] || rt->source->always_flow_controlled();
      rt->whole_batches = rt->source->keeps_batches_whole();
      if (def.drivers[k]->describe().starts_with("internal()")) internal_ = static_cast<int>(sources_.size());
      sources_.push_back(std::move(rt));
    }
  }
  // What the receiving sources acknowledged survives a crash; outputs
  // written after it are cut back (their senders send it again).
  journal_ = std::make_unique<DeliveryJournal>(cfg_->options.persist_dir);
  journal_writer_ = std::make_unique<JournalWriter>(
      &in_loop_, journal_.get(), [this](bool ok, const std::string& error) { journal_written(ok, error); });
  {
    std::string err;
    if (!journal_->load(&err)) {
      fprintf(stderr, "logferry: %s (move it away to start without it)\n", err.c_str());
      return false;
    }
    bool journaling = false;
    for (const auto& rt : sources_) journaling |= rt->source->journals_outputs();
    if (journaling) {
      journal_->cut_outputs([this](const std::string& what) { internal_log(4, what); });
    } else if (journal_->forget_lengths() && !journal_->commit(0, &err)) {
      // Lengths of a run with ferry() sources are stale once files grow
      // without them: never cut by a later run.
      fprintf(stderr, "logferry: %s\n", err.c_str());
      return false;
    }
  }

  for (const auto& def : cfg_->destinations) {
    std::vector<std::unique_ptr<Destination>> ds;
    for (const auto& drv : def.drivers) {
      auto d = drv->create();
      d->internal_log = [this](int severity, const std::string& text) { internal_log(severity, text); };
      d->persist_dir = cfg_->options.persist_dir;
      d->origins = &origins_;
      d->progressed = [this] { schedule_progress(); };
      for (const auto& s : cfg_->sources) d->source_names.push_back(s.name);
      std::string err;
      if (!d->open(&out_loop_, &err)) {
        fprintf(stderr, "logferry: destination %s: %s\n", def.name.c_str(), err.c_str());
        return false;
      }
      ds.push_back(std::move(d));
    }
    dests_.push_back(std::move(ds));
  }

  reachable_.resize(cfg_->sources.size());
  for (size_t s = 0; s < cfg_->sources.size(); ++s) {
    for (const auto* list : {&paths_[s], &fallbacks_[s]})
      for (const LogPath* p : *list) collect_destinations(*p, &reachable_[s]);
  }

  // Destinations that a journaling source reaches journal their outputs.
  for (const auto& rt : sources_) {
    if (!rt->source->journals_outputs()) continue;
    const auto& reached = reachable_[static_cast<size_t>(rt->def)];
    for (auto& ds : dests_)
      for (auto& d : ds)
        if (std::find(reached.begin(), reached.end(), d.get()) != reached.end()) d->journal = journal_.get();
  }
  for (auto& rt : sources_) {
    std::string err;
    if (!rt->source->start(&in_loop_, rt.get(), &err)) {
      fprintf(stderr, "logferry: source %s: %s\n", rt->name.c_str(), err.c_str());
      return false;
    }
  }
  return true;
}

int Engine::Impl::run() {
  uv_loop_init(&in_loop_);
  uv_loop_init(&out_loop_);
  signal(SIGPIPE, SIG_IGN);
  uv_async_init(&in_loop_, &in_async_, [](uv_async_t* a) { static_cast<Impl*>(a->data)->on_input_wakeup(); });
  uv_async_init(&in_loop_, &stop_async_, [](uv_async_t* a) { static_cast<Impl*>(a->data)->stop_input(); });
  uv_async_init(&out_loop_, &out_async_, [](uv_async_t* a) { static_cast<Impl*>(a->data)->on_output_wakeup(); });
  uv_timer_init(&out_loop_, &out_timer_);
  uv_timer_init(&out_loop_, &ack_timer_);
  uv_timer_init(&out_loop_, &retry_timer_);
  uv_timer_init(&out_loop_, &progress_timer_);
  uv_timer_init(&in_loop_, &journal_retry_);
  uv_unref(reinterpret_cast<uv_handle_t*>(&journal_retry_));  // never what keeps the loop running
  in_async_.data = stop_async_.data = out_async_.data = out_timer_.data = ack_timer_.data = retry_timer_.data = this;
  journal_retry_.data = progress_timer_.data = this;

  for (uv_signal_t* sig : {&sigterm_, &sigint_, &sigusr1_, &sighup_}) {
    uv_signal_init(&in_loop_, sig);
    sig->data = this;
  }
  auto on_stop = [](uv_signal_t* s, int) { static_cast<Impl*>(s->data)->stop_input(); };
  uv_signal_start(&sigterm_, on_stop, SIGTERM);
  uv_signal_start(&sigint_, on_stop, SIGINT);
  uv_signal_start(&sigusr1_, [](uv_signal_t* s, int) { static_cast<Impl*>(s->data)->print_stats(); }, SIGUSR1);
  uv_signal_start(&sighup_, [](uv_signal_t* s, int) { static_cast<Impl*>(s->data)->reload(); }, SIGHUP);

  bool ok = start();
  if (ok) internal_log(5, std::string("logferry starting up; version='") + LOGFERRY_VERSION + "'");
  if (cfg_->options.stats_freq > 0) {
    uv_timer_init(&in_loop_, &stats_timer_);
    stats_timer_.data = this;
    uint64_t ms = static_cast<uint64_t>(cfg_->options.stats_freq) * 1000;
    uv_timer_start(&stats_timer_, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->print_stats(); }, ms, ms);
    stats_timer_started_ = true;
  }
  // Destinations get a tick every second (idle files, reopen).
  uv_timer_start(&out_timer_, [](uv_timer_t* t) {
    auto* self = static_cast<Impl*>(t->data);
    for (auto& ds : self->dests_)
      for (auto& d : ds) d->tick();
  }, 1000, 1000);
  out_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "lf-output");  // tells the threads apart in top -H, perf
    uv_run(&out_loop_, UV_RUN_DEFAULT);
  });
  if (!ok) stop_input();
  uv_run(&in_loop_, UV_RUN_DEFAULT);
  out_thread_.join();
  // Let closed handles finish.  SIGHUP goes back to being ignored (libuv
  // restores the default, which ends the process) until the next engine
  // of a reload handles it.
  uv_close(reinterpret_cast<uv_handle_t*>(&sighup_), nullptr);
  uv_run(&in_loop_, UV_RUN_NOWAIT);
  signal(SIGHUP, SIG_IGN);
  // The last acknowledgements: destinations are closed now, so what they
  // took is final; the journal's last commit completes (the loop runs
  // until it is done); sources then save their state.
  {
    collect_taken_acks();
    dispatch_acks(acked_);
    uv_run(&in_loop_, UV_RUN_DEFAULT);
    for (auto& s : sources_) s->source->drained();
  }
  print_stats();
  uv_close(reinterpret_cast<uv_handle_t*>(&journal_retry_), nullptr);
  uv_run(&in_loop_, UV_RUN_NOWAIT);
  uv_loop_close(&in_loop_);
  uv_loop_close(&out_loop_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (Batch* b : free_) delete b;
    for (Batch* b : queue_) delete b;
    free_.clear();
    queue_.clear();
  }
  for (auto& s : sources_)
    if (s->batch) delete s->batch;
  return ok ? 0 : 1;
}

Engine::Engine(std::unique_ptr<Config> cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}
Engine::~Engine() = default;
int Engine::run() { return impl_->run(); }
void Engine::request_stop() { impl_->request_stop(); }
void Engine::on_reload(ConfigLoader load) { impl_->on_reload(std::move(load)); }
std::unique_ptr<Config> Engine::take_reloaded_config() { return impl_->take_reloaded_config(); }

}  // namespace logferry
