// The part of the sql() destination both databases share; see sql_writer.h.
#include "server/sql_writer.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "core/shutdown_give_up.h"
#include "core/text.h"
#include "relay/node_id.h"

namespace logferry {

namespace {

// Shutdown: the longest wait in all for the rows waiting, and how often
// it looks.
constexpr uint64_t kMaxShutdownMs = 60000;
constexpr uint64_t kShutdownCheckMs = 100;
// Templated table names: how many are kept (with their prepared statements)
// before they are forgotten and checked again on their next row.
constexpr size_t kMaxTables = 1000;

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// Appends at most `max` bytes of `s` for a report: printable ASCII and
// valid UTF-8 as they are, anything else as \xNN.
void append_printable(std::string& out, std::string_view s, size_t max) {
  size_t i = 0;
  for (; i < s.size() && i < max;) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    size_t n = c >= 0x80 ? utf8_sequence_length(s, i) : 0;
    if (n > 0) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    char hex[8];
    snprintf(hex, sizeof(hex), "\\x%02x", c);
    out += hex;
    ++i;
  }
  if (i < s.size()) out += "...";
}

size_t count_template_columns(const SqlDestinationConfig& c) {
  size_t n = 0;
  for (const auto& col : c.columns) n += col.value ? 1 : 0;
  return n;
}

}  // namespace

std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

void sanitize_table_name(std::string& name, bool lower) {
  for (char& c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) c = '_';
    else if (lower && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (name.size() > 63) name.resize(63);
  if (name.empty()) name = "_";
}

std::string index_name(const std::string& table, const std::string& column) {
  std::string n = table + "_" + column + "_idx";
  if (n.size() <= 63) return n;
  char hash[20];
  snprintf(hash, sizeof(hash), "_%016llx", static_cast<unsigned long long>(fnv1a(n)));
  return n.substr(0, 63 - strlen(hash)) + hash;
}

SqlWriter::SqlWriter(const SqlDestinationConfig& c)
    : cfg_(c), name_(describe_sql_destination(c)), backlog_(count_template_columns(c)),
      literal_table_(c.table->is_literal()), lower_names_(c.type == SqlDestinationConfig::Type::kPgsql),
      holds_({"rows", "wait for the database", "until it takes them", "the database takes rows again"},
             [this](int severity, const std::string& text) { report(severity, text); }),
      drop_limit_(c.max_backlog + std::max<size_t>(c.max_backlog, 1024)) {
  for (size_t i = 0; i < cfg_.columns.size(); ++i)
    if (cfg_.columns[i].value) insert_columns_.push_back(i);
  if (literal_table_) {
    LogMessage empty;
    std::string name = cfg_.table->render(empty, cfg_.render);
    sanitize_table_name(name, lower_names_);
    table_ids_[name] = 0;
    tables_.push_back(SqlTable{name, quote_identifier(name), false});
    last_table_ = 0;
  }
}

SqlWriter::~SqlWriter() {
  // Destroyed without close(): the engine gave up starting after open()
  // and the loop does not run; close the timers here.  (The backend was
  // stopped by its own destructor.)
  if (loop_ && !stopped_) {
    stopped_ = true;
    close_handles();
  }
  while (loop_ && outstanding_ > 0) uv_run(loop_, UV_RUN_NOWAIT);
}

bool SqlWriter::open(uv_loop_t* loop, std::string* error) {
  loop_ = loop;
  if (marks_on_) setup_marks();
  for (uv_timer_t* t : {&timer_, &shutdown_timer_}) {
    uv_timer_init(loop_, t);
    t->data = this;
    ++outstanding_;
  }
  return start(error);
}

// The keys of the marks table: this destination's commit count, named by
// this node's id (PERSIST-DIR/node-id) and a hash of what the destination
// writes, so that every logferry and every sql() has its own; and the
// streams' marks, named by this node's id and the origin stream (see
// SqlMarks::setup()).
void SqlWriter::setup_marks() {
  NodeId id;
  std::string err;
  if (!load_or_create_node_id(persist_dir, &id, &err)) {
    report(4, "no marks table (" + err + "); a commit unanswered when the connection breaks is written again, "
              "so its rows may be stored twice");
    marks_on_ = false;
    return;
  }
  char hash[20];
  snprintf(hash, sizeof(hash), "%016llx", static_cast<unsigned long long>(fnv1a(name_)));
  db_marks_.setup("commits:" + node_id_hex(id) + ":" + hash, node_id_hex(id), origins);
}

void SqlWriter::use_marks_table() {
  marks_on_ = !cfg_.marks_table.empty();
  if (!marks_on_) return;
  std::string name = cfg_.marks_table;
  sanitize_table_name(name, lower_names_);
  marks_table_ = quote_identifier(name);
}

std::string SqlWriter::marks_table_ddl() const {
  return "CREATE TABLE IF NOT EXISTS " + marks_table_ + " (stream text PRIMARY KEY, seq bigint NOT NULL)";
}

bool SqlWriter::commit_unanswered(size_t n, size_t refused, std::string what) {
  if (!marks_on_ || !db_marks_.counts_commits()) return false;
  unsure_rows_ = n;
  unsure_refused_ = refused;
  unsure_marks_ = db_marks_.pending();
  unsure_what_ = std::move(what);
  return true;
}

bool SqlWriter::marks_loaded(const std::unordered_map<std::string, uint64_t>& table) {
  bool happened = false;
  if (unsure_rows_ > 0) {
    happened = db_marks_.next_commit_in(table);
    size_t n = unsure_rows_;
    unsure_rows_ = 0;
    if (happened) {
      db_marks_.committed(unsure_marks_);
      rows_done(n, unsure_refused_);
    }
    report(5, "the commit of " + std::to_string(n) + " rows " + unsure_what_ + " " +
                  (happened ? "had happened (the marks table says so); they are not written again"
                            : "had not happened; they are written again"));
  }
  db_marks_.loaded(table);
  return happened;
}

void SqlWriter::close_handles() {
  for (uv_timer_t* t : {&timer_, &shutdown_timer_})
    uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) { --static_cast<SqlWriter*>(h->data)->outstanding_; });
}

uint32_t SqlWriter::table_of(const LogMessage& msg) {
  if (literal_table_) return 0;
  name_buf_.clear();
  cfg_.table->render(msg, cfg_.render, name_buf_);
  sanitize_table_name(name_buf_, lower_names_);
  if (last_table_ != UINT32_MAX && tables_[last_table_].name == name_buf_) return last_table_;
  auto it = table_ids_.find(name_buf_);
  if (it != table_ids_.end()) {
    last_table_ = it->second;
    return last_table_;
  }
  // A new table: once per table name, not per message.
  auto id = static_cast<uint32_t>(tables_.size());
  tables_.push_back(SqlTable{name_buf_, quote_identifier(name_buf_), false});
  table_ids_.emplace(name_buf_, id);
  last_table_ = id;
  return id;
}

// Rows name their table by its index in tables_, so the names are
// forgotten only while no row waits and no query is in flight (after a
// flush that committed everything, or at a tick while idle).
void SqlWriter::limit_tables() {
  if (literal_table_ || tables_.size() <= kMaxTables || !backlog_.empty() || busy()) return;
  report(5, "more than " + std::to_string(kMaxTables) + " table names seen; they are forgotten, and each is checked "
            "again on its next row");
  drop_table_state();
  tables_.clear();
  table_ids_.clear();
  last_table_ = UINT32_MAX;
}

void SqlWriter::deliver(const LogMessage& msg) {
  if (stopped_ || backlog_.size() >= drop_limit_) {
    // Only sources that do not wait get here with the backlog full.
    Counters::add(counters.dropped_queue_full);
    holds_.dropped(backlog_.size(), stopped_);
    return;
  }
  if (marks_on_ && db_marks_.stored(msg.origin, msg.origin_seq)) {
    // Sent again by ferry() (this receiver crashed after the commit, before
    // its journal said so): in the database already.
    ++already_stored_;
    Counters::add(counters.out);
    return;
  }
  backlog_.begin_row(table_of(msg), msg.origin, msg.origin_seq);
  const std::string* null_value = cfg_.has_null ? &cfg_.null_value : nullptr;
  for (size_t col : insert_columns_) {
    std::string& text = backlog_.text();
    size_t start = text.size();
    cfg_.columns[col].value->render(msg, cfg_.render, text);
    backlog_.end_value(start, null_value);
  }
  backlog_.end_row();
  ++rows_total_;
}

void SqlWriter::flush() {
  if (stopped_) return;
  marks_.flushed(flush_seq, rows_total_);
  if (rows_flushed_ == rows_taken_ && rows_total_ > rows_taken_) oldest_ms_ = now_ms();
  rows_flushed_ = rows_total_;
  pump();
  check_hold();
  limit_tables();
}

void SqlWriter::tick() {
  if (stopped_) return;
  pump();
  check_hold();
  limit_tables();
  if (already_stored_) {
    report(5, std::to_string(already_stored_) + " rows of batches that ferry() received again were in the database "
              "already (the marks table says so); not written again");
    already_stored_ = 0;
  }
  if (uint64_t n = refused_budget_.left_out(now_ms()))
    report(4, std::to_string(n) + " more rows were refused by the database (not reported one by one)");
}

// Flow control: while the backlog is full, accepting() is false and the
// engine holds the batches of flow-controlled sources (their sources
// pause); reported when it lasts, and its end.  The rows of other sources
// are dropped beyond drop_limit_ (deliver()); that episode ends here too.
void SqlWriter::check_hold() {
  holds_.update(!accepting(), backlog_.size() < cfg_.max_backlog, backlog_.size(), now_ms());
}

size_t SqlWriter::rows_for_transaction() {
  uint64_t waiting = rows_flushed_ - rows_taken_;
  if (waiting == 0 || stopped_) return 0;
  size_t n = static_cast<size_t>(std::min<uint64_t>(waiting, cfg_.batch_lines));
  if (waiting >= cfg_.batch_lines || closing_ || cfg_.batch_timeout_ms <= 0) return whole_batches(n, waiting);
  uint64_t waited = now_ms() - oldest_ms_;
  uint64_t timeout = static_cast<uint64_t>(cfg_.batch_timeout_ms);
  if (waited >= timeout) return whole_batches(n, waiting);
  wake_in(timeout - waited);
  return 0;
}

// A mark says "every row of this origin batch is stored", so with marks a
// transaction does not end inside a batch: it ends before the batch, or -
// when the batch is all it would hold - after it (more than batch-lines()
// rows then; a ferry() batch is bounded by max-batch-messages()).
size_t SqlWriter::whole_batches(size_t n, size_t waiting) const {
  if (!marks_on_ || n == 0 || n >= waiting) return n;
  RowBacklog::Row last = backlog_.row(n - 1);
  if (!last.same_batch(backlog_.row(n))) return n;
  size_t start = n - 1;
  while (start > 0 && backlog_.row(start - 1).same_batch(last)) --start;
  if (start > 0) return start;
  size_t end = n;
  while (end < waiting && last.same_batch(backlog_.row(end))) ++end;
  return end;
}

void SqlWriter::rows_done(size_t n, size_t refused) {
  backlog_.pop_front(n);
  rows_taken_ += n;
  marks_.release(rows_taken_);
  progressed();
  Counters::add(counters.out, n - refused);
  if (refused) Counters::add(counters.errors, refused);
  if (holds_.active()) check_hold();
}

void SqlWriter::report_refused(const RowBacklog::Row& row, const std::string& why) {
  if (!refused_budget_.take(now_ms())) return;
  std::string text = "the database refused a row of table " + tables_[row.table].name + " (" + why + "); it is dropped:";
  for (size_t k = 0; k < insert_columns_.size(); ++k) {
    text += " " + cfg_.columns[insert_columns_[k]].name + "=";
    if (row.values[k].null()) {
      text += "NULL";
      continue;
    }
    text += "'";
    append_printable(text, row.value(k), 80);
    text += "'";
  }
  report(4, text);
}

void SqlWriter::report(int severity, const std::string& text) {
  std::string line = "destination " + name_ + ": " + text;
  if (internal_log) {
    internal_log(severity, line);
  } else {
    fprintf(stderr, "logferry: %s\n", line.c_str());
  }
}

uint64_t SqlWriter::after_failure() {
  uint64_t max = static_cast<uint64_t>(std::max<int64_t>(cfg_.time_reopen, 1)) * 1000;
  backoff_ms_ = backoff_ms_ == 0 ? std::min<uint64_t>(1000, max) : std::min(backoff_ms_ * 2, max);
  return backoff_ms_;
}

void SqlWriter::retry_in(uint64_t ms) {
  retry_at_ms_ = now_ms() + ms;
  arm_timer(ms);
}

void SqlWriter::wake_in(uint64_t ms) { arm_timer(ms); }

void SqlWriter::arm_timer(uint64_t ms) {
  if (stopped_ || !loop_) return;
  uint64_t due = now_ms() + ms;
  if (timer_due_ms_ != 0 && timer_due_ms_ <= due && uv_is_active(reinterpret_cast<uv_handle_t*>(&timer_))) return;
  timer_due_ms_ = due;
  uv_update_time(loop_);  // the thread may have blocked since the loop last looked at the clock
  uv_timer_start(&timer_, [](uv_timer_t* t) {
    auto* self = static_cast<SqlWriter*>(t->data);
    self->timer_due_ms_ = 0;
    if (!self->stopped_) self->pump();
  }, ms, 0);
}

uint64_t SqlWriter::now_ms() { return uv_hrtime() / 1000000; }

std::string SqlWriter::seconds_text(uint64_t ms) { return logferry::seconds_text(ms); }

// Shutdown: the rows waiting may take as long as the database keeps taking
// them; shutdown_grace_ms without a commit (or kMaxShutdownMs in all) ends
// it.  The loop keeps running meanwhile (the engine waits for our handles).
void SqlWriter::close() {
  if (closing_ || stopped_) return;
  closing_ = true;
  rows_flushed_ = rows_total_;
  retry_at_ms_ = 0;  // one more attempt at once
  close_started_ms_ = last_progress_ms_ = now_ms();
  last_progress_taken_ = rows_taken_;
  pump();
  if (backlog_.empty() && !busy()) {
    finish_close();
    return;
  }
  uv_timer_start(&shutdown_timer_, [](uv_timer_t* t) { static_cast<SqlWriter*>(t->data)->shutdown_check(); },
                 kShutdownCheckMs, kShutdownCheckMs);
}

void SqlWriter::shutdown_check() {
  if (stopped_) return;
  if (backlog_.empty() && !busy()) {
    finish_close();
    return;
  }
  uint64_t now = now_ms();
  if (rows_taken_ != last_progress_taken_) {
    last_progress_taken_ = rows_taken_;
    last_progress_ms_ = now;
  }
  std::string reason;
  if (now - last_progress_ms_ >= static_cast<uint64_t>(cfg_.shutdown_grace_ms))
    reason = "the database took nothing for " + seconds_text(static_cast<uint64_t>(cfg_.shutdown_grace_ms));
  else if (now - close_started_ms_ >= kMaxShutdownMs)
    reason = "still not done after " + seconds_text(kMaxShutdownMs);
  if (reason.empty()) {
    pump();
    return;
  }
  // What shutdown could not commit is counted (unless a disk buffer keeps
  // it) and never taken: a file source's saved position stays before it,
  // so the next start sends it.
  size_t left = backlog_.size();
  std::string kept = give_up_at_shutdown(*this, left);
  report(4, "shutting down with " + std::to_string(left) + " rows not committed (" + reason + ")" + kept);
  finish_close();
}

void SqlWriter::finish_close() {
  stopped_ = true;
  stop_backend();
  close_handles();
}

uint64_t SqlWriter::taken_through(uint64_t latest) const {
  return marks_.taken_through(latest, rows_taken_, rows_total_);
}

}  // namespace logferry
