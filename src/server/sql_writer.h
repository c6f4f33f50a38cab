// What the sql() destination's databases share: the running part on the
// output thread that renders rows into the backlog, names their tables,
// decides when a transaction starts and how many rows it takes, times the
// retries, tracks which engine flushes were committed, stops accepting
// (flow control) when the backlog is full, and gives up at shutdown.  A database backend
// (sql_sqlite.cc, sql_pgsql.cc) derives from it and moves rows from the
// front of the backlog into the database.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "relay/delivery_marks.h"
#include "relay/hold_reports.h"
#include "server/sql_backlog.h"
#include "server/sql_destination.h"
#include "server/sql_marks.h"

namespace logferry {

// "name" with every '"' doubled: an SQL identifier, whatever it holds.
std::string quote_identifier(std::string_view name);
// Makes a rendered table name safe: bytes other than [A-Za-z0-9_] become
// '_', at most 63 bytes (PostgreSQL's limit), "_" when empty; `lower`
// folds letters to lowercase (what PostgreSQL does to unquoted names).
void sanitize_table_name(std::string& name, bool lower);
// "TABLE_COLUMN_idx", shortened with a hash when longer than 63 bytes.
std::string index_name(const std::string& table, const std::string& column);

// A table rows go to, once its name is sanitized.
struct SqlTable {
  std::string name;
  std::string quoted;  // quote_identifier(name)
  bool ready = false;  // created (or checked) since logferry started
};

class SqlWriter : public Destination {
 public:
  explicit SqlWriter(const SqlDestinationConfig& c);
  ~SqlWriter() override;

  bool open(uv_loop_t* loop, std::string* error) override;
  void deliver(const LogMessage& msg) override;
  void flush() override;
  void tick() override;
  void close() override;
  uint64_t taken_through(uint64_t latest) const override;
  // Flow control: while log-fifo-size() rows wait, the batches of
  // flow-controlled sources wait in the engine's queue (their sources
  // pause); other sources' rows are dropped beyond drop_limit_.  With a
  // marks table, rows wait there too until the marks were read (a ferry()
  // batch is then checked against them as it arrives).
  bool accepting() const override {
    return backlog_.size() < cfg_.max_backlog && (!marks_on_ || db_marks_.known());
  }

 protected:
  // ---- what a backend implements ----

  // Called by open(): e.g. open the file or start connecting.  False with
  // *error for a problem that must stop logferry (a config mistake).
  virtual bool start(std::string* error) = 0;
  // Makes what progress it can without waiting: starts a transaction when
  // rows_for_transaction() says so, reconnects when retry_due().  Called
  // after every batch, from the timer, every second, and while shutting
  // down.
  virtual void pump() = 0;
  // True while the database works on rows (a query in flight).
  virtual bool busy() const = 0;
  // Closes the connection and every handle of the backend, now (never
  // from inside the backend's own callbacks).
  virtual void stop_backend() = 0;
  // Every table must be created or checked again (e.g. one was dropped).
  void forget_tables() {
    for (auto& t : tables_) t.ready = false;
  }
  // Drops what the backend keeps per table (tables_ is about to be
  // emptied: no row waits and no query is in flight).
  virtual void drop_table_state() {}

  // ---- what the backend uses ----

  // How many of the oldest rows the next transaction should take: 0 while
  // nothing waits, or while fewer than batch-lines() rows wait and the
  // oldest has waited less than batch-timeout() (a timer comes back then).
  // With a marks table, a transaction ends at the end of an origin batch.
  size_t rows_for_transaction();
  // The n oldest rows are done: committed, except `refused` of them, which
  // the database would not take (reported and counted as errors).
  void rows_done(size_t n, size_t refused);
  // Reports a row the database refused (rate-limited).
  void report_refused(const RowBacklog::Row& row, const std::string& why);
  void report(int severity, const std::string& text);

  // Retry timing.  after_failure() returns the next delay (1 s, 2 s, ...
  // up to time-reopen()); succeeded() starts that sequence again.
  uint64_t after_failure();
  void succeeded() { backoff_ms_ = 0; }
  // Comes back (pump()) in `ms`, and makes retry_due() false until then.
  void retry_in(uint64_t ms);
  bool retry_due() const { return now_ms() >= retry_at_ms_; }
  uint64_t retry_wait_ms() const { return retry_due() ? 0 : retry_at_ms_ - now_ms(); }
  // Comes back (pump()) in `ms` without delaying anything.
  void wake_in(uint64_t ms);
  static uint64_t now_ms();
  static std::string seconds_text(uint64_t ms);

  bool closing() const { return closing_; }
  bool stopped() const { return stopped_; }

  const SqlDestinationConfig cfg_;
  const std::string name_;   // for reports: "sql() pgsql localhost:5432/logs"
  std::vector<SqlTable> tables_;
  RowBacklog backlog_;
  uv_loop_t* loop_ = nullptr;
  std::vector<size_t> insert_columns_;  // the columns whose value is a template, in order
  bool reject_nul_ = false;             // pgsql: text cannot hold NUL bytes
  // ---- the marks table (sql_marks.h) ----

  // A backend that writes marks with its rows calls this in its
  // constructor: marks_on_ unless marks-table(""); open() sets db_marks_
  // up.  The backend reads the table after every connect (marks_loaded())
  // before any row, begins each transaction with db_marks_.begin(), writes
  // db_marks_.each_write() with its rows, and calls db_marks_.committed().
  void use_marks_table();
  // CREATE TABLE IF NOT EXISTS for it.
  std::string marks_table_ddl() const;
  // The commit of the transaction in flight (its n oldest rows, `refused`
  // of them refused) may or may not have happened (`what`, for the
  // report, e.g. "left unanswered when the connection broke"): the next
  // marks_loaded() tells from the commit count.  Without a commit count,
  // the rows are written again (they may be stored twice): false.
  bool commit_unanswered(size_t n, size_t refused, std::string what);
  // The table as read after a connect: first what became of a commit left
  // unanswered (its rows done when it happened: true), then the marks.
  bool marks_loaded(const std::unordered_map<std::string, uint64_t>& table);

  bool marks_on_ = false;
  std::string marks_table_;  // quoted
  SqlMarks db_marks_;

 private:
  uint32_t table_of(const LogMessage& msg);
  void limit_tables();
  void arm_timer(uint64_t ms);
  void check_hold();
  void shutdown_check();
  void finish_close();
  void close_handles();
  size_t whole_batches(size_t n, size_t waiting) const;
  void setup_marks();

  bool literal_table_;
  bool lower_names_;
  std::string name_buf_;
  // Table names seen; with a templated name, forgotten (limit_tables())
  // once more than kMaxTables are known, so that names made from message
  // fields cannot grow memory without bound.
  std::unordered_map<std::string, uint32_t> table_ids_;
  uint32_t last_table_ = UINT32_MAX;

  uv_timer_t timer_{};
  uv_timer_t shutdown_timer_{};  // while close() waits for the rows
  uint64_t timer_due_ms_ = 0;
  size_t outstanding_ = 0;  // our handles not closed yet
  uint64_t retry_at_ms_ = 0;
  uint64_t backoff_ms_ = 0;

  // Delivery tracking: rows are numbered in the order they were rendered;
  // the rows below rows_taken_ are committed or refused.
  DeliveryMarks marks_;
  uint64_t rows_total_ = 0;
  uint64_t rows_taken_ = 0;
  uint64_t rows_flushed_ = 0;  // rows_total_ at the last flush()
  uint64_t oldest_ms_ = 0;     // when the oldest row that may go waited from

  // Flow control: a full backlog holding the sources, dropping episodes.
  HoldReports holds_;
  // Rows of sources that do not wait are dropped while this many wait.
  size_t drop_limit_;

  bool closing_ = false;   // close() was called: commit what waits, then stop
  bool stopped_ = false;   // the backend is stopped, the handles closing
  uint64_t close_started_ms_ = 0;
  uint64_t last_progress_ms_ = 0;
  uint64_t last_progress_taken_ = 0;

  // A commit whose outcome marks_loaded() reads back: its rows (the
  // oldest), how many of them were refused, its marks, what happened.
  size_t unsure_rows_ = 0;
  size_t unsure_refused_ = 0;
  SqlMarks::Batches unsure_marks_;
  std::string unsure_what_;

  // Rows of origin batches the marks say are stored: not written again;
  // the count since tick() last reported it.
  uint64_t already_stored_ = 0;

  // Refused rows: 10 reports at once, then none for 10 s; the rest are
  // summed up by tick().
  ReportBudget refused_budget_{10, 10000};
};

// The backends.
std::unique_ptr<Destination> make_sqlite_writer(const SqlDestinationConfig& c);
std::unique_ptr<Destination> make_pgsql_writer(const SqlDestinationConfig& c);
std::unique_ptr<Destination> make_clickhouse_writer(const SqlDestinationConfig& c);

}  // namespace logferry
