// sql(type(sqlite3)): rows into an SQLite file.  The file is in WAL mode, so
// readers never wait for logferry nor logferry for them; each transaction
// (BEGIN IMMEDIATE ... COMMIT) takes up to batch-lines() rows through one
// prepared INSERT per table.  The INSERTs run on the output thread; the
// COMMIT, which with synchronous=FULL waits for the WAL's fsync (and now and
// then runs a checkpoint), runs on libuv's thread pool while the output
// thread goes on rendering the next rows into the backlog.  Rows count as
// done (taken_through) only once their COMMIT returned; the output thread
// does not touch the connection meanwhile (busy()).
//
// A database locked by another writer (SQLITE_BUSY) is waited out: SQLite
// retries for at most kBusyTimeoutMs inside a call, then the transaction is
// rolled back and tried again kBusyRetryMs later from a timer, so the
// output loop never blocks for long; the rows wait and none is counted as
// refused.  A row SQLite refuses (a constraint, a value too big) is dropped,
// counted as an error and reported; the rest of its transaction goes on.
// Any other failure closes the file and opens it again after a backoff
// (1 s, 2 s, ... up to time-reopen()).
//
// The marks table (marks-table(), sql_marks.h) is upserted by each
// transaction before its COMMIT, so it is committed with the rows or not at
// all; it is read after every open, before any row is written.  A COMMIT
// that failed after SQLite had ended the transaction (an I/O error while the
// WAL was written or synced) may have stored the rows: the commit count,
// read after the reopen, tells.
#include <sqlite3.h>
#include <strings.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "core/shared_library.h"
#include "server/sql_writer.h"

namespace logferry {

namespace {

constexpr int kBusyTimeoutMs = 10;
constexpr uint64_t kBusyRetryMs = 100;

// libsqlite3 is loaded when an sqlite3 destination starts (dlopen), not
// linked: a client that writes no database does not carry it in memory.
#define LF_SQLITE_FUNCTIONS(X) \
  X(sqlite3_bind_int64) \
  X(sqlite3_bind_null) \
  X(sqlite3_bind_text) \
  X(sqlite3_busy_timeout) \
  X(sqlite3_close_v2) \
  X(sqlite3_column_int64) \
  X(sqlite3_column_text) \
  X(sqlite3_errmsg) \
  X(sqlite3_errstr) \
  X(sqlite3_exec) \
  X(sqlite3_extended_result_codes) \
  X(sqlite3_finalize) \
  X(sqlite3_free) \
  X(sqlite3_get_autocommit) \
  X(sqlite3_open_v2) \
  X(sqlite3_prepare_v2) \
  X(sqlite3_reset) \
  X(sqlite3_step)

struct LibSqlite {
#define LF_SQLITE_POINTER(name) decltype(&::name) name = nullptr;
  LF_SQLITE_FUNCTIONS(LF_SQLITE_POINTER)
#undef LF_SQLITE_POINTER
};

// The loaded library, or null with *error set (once per process).
const LibSqlite* load_libsqlite(std::string* error) {
  static SharedLibrary so;
  static const LibSqlite* lib = []() -> const LibSqlite* {
    static LibSqlite l;
    if (!so.open("libsqlite3.so.0", "libsqlite3-0")) return nullptr;
#define LF_SQLITE_LOAD(name) \
    if (!so.function(#name, &l.name)) return nullptr;
    LF_SQLITE_FUNCTIONS(LF_SQLITE_LOAD)
#undef LF_SQLITE_LOAD
    return &l;
  }();
  if (!lib) *error = so.failure();
  return lib;
}

class SqliteWriter : public SqlWriter {
 public:
  explicit SqliteWriter(const SqlDestinationConfig& c) : SqlWriter(c) { use_marks_table(); }
  ~SqliteWriter() override { close_db(); }

 protected:
  // Opens the file now, so that a wrong path stops logferry with a clear
  // error.  A locked file is not an error: it is retried.
  bool start(std::string* error) override {
    sq_ = load_libsqlite(error);
    if (!sq_) return false;
    Outcome o = connect();
    if (o == Outcome::kFailed && !configured_) {
      *error = "cannot open SQLite database '" + cfg_.database + "': " + last_error_;
      if (last_code_ == SQLITE_CANTOPEN) *error += " (does its directory exist, and may logferry write there?)";
      return false;
    }
    if (o != Outcome::kOk) handle(o);
    return true;
  }

  void pump() override {
    if (stopped()) return;
    if (!retry_due()) {
      wake_in(retry_wait_ms());
      return;
    }
    if (!db_ || !configured_ || (marks_on_ && !upsert_)) {
      Outcome o = connect();
      if (o != Outcome::kOk) {
        handle(o);
        return;
      }
    }
    if (committing_) return;  // after_commit() comes back
    if (size_t n = rows_for_transaction()) {
      Outcome o = write_rows(n);
      if (o != Outcome::kOk) handle(o);
    }
  }

  bool busy() const override { return committing_; }
  // At a shutdown that gives up while a COMMIT runs, the connection is
  // closed once it returned (after_commit()).
  void stop_backend() override {
    if (!committing_) close_db();
  }
  void drop_table_state() override { finalize_inserts(); }

 private:
  enum class Outcome { kOk, kBusy, kFailed };

  // ---- the connection ----

  Outcome connect() {
    if (!db_) {
      int rc = sq_->sqlite3_open_v2(cfg_.database.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                               nullptr);
      if (rc != SQLITE_OK) {
        last_code_ = rc & 0xff;
        last_error_ = db_ ? sq_->sqlite3_errmsg(db_) : sq_->sqlite3_errstr(rc);
        close_db();
        return Outcome::kFailed;
      }
      sq_->sqlite3_extended_result_codes(db_, 1);
      sq_->sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    }
    if (!configured_) {
      // WAL: readers and this writer do not block each other.
      std::string mode;
      int rc = query("PRAGMA journal_mode=WAL", [&](sqlite3_stmt* st) { mode = column_text(st, 0); });
      if (rc != SQLITE_OK) return classify(rc);
      if (mode != "wal" && !warned_mode_) {
        warned_mode_ = true;
        report(4, "the database cannot use WAL mode (journal mode '" + mode + "')");
      }
      for (const auto& s : cfg_.session_statements) {
        rc = exec(s.c_str());
        if (rc != SQLITE_OK) {
          last_error_ = "session statement '" + s + "' failed: " + last_error_;
          return classify(rc);
        }
      }
      configured_ = true;
    }
    if (marks_on_ && !upsert_) return read_marks();
    return Outcome::kOk;
  }

  // The marks table: created when missing, read (marks_loaded()), its
  // upsert prepared.
  Outcome read_marks() {
    int rc = SQLITE_OK;
    if (cfg_.create_tables && (rc = exec(marks_table_ddl().c_str())) != SQLITE_OK)
      return marks_failed(rc, "cannot create the marks table ");
    std::unordered_map<std::string, uint64_t> table;
    rc = query("SELECT stream, seq FROM " + marks_table_, [&](sqlite3_stmt* st) {
      table[column_text(st, 0)] = static_cast<uint64_t>(sq_->sqlite3_column_int64(st, 1));
    });
    if (rc != SQLITE_OK) return marks_failed(rc, "cannot read the marks table ");
    std::string sql = "INSERT INTO " + marks_table_ +
                      " (stream, seq) VALUES (?, ?) ON CONFLICT (stream) DO UPDATE SET seq = max(seq, excluded.seq)";
    rc = sq_->sqlite3_prepare_v2(db_, sql.c_str(), -1, &upsert_, nullptr);
    if (rc != SQLITE_OK) {
      sq_->sqlite3_finalize(upsert_);
      upsert_ = nullptr;
      failed(rc);
      return marks_failed(rc, "cannot write the marks table ");
    }
    marks_loaded(table);
    return Outcome::kOk;
  }

  Outcome marks_failed(int rc, const char* what) {
    last_error_ = what + marks_table_ + ": " + last_error_;
    if (!cfg_.create_tables && last_error_.find("no such table") != std::string::npos)
      last_error_ += " (create it: " + marks_table_ddl() + "; or set marks-table(\"\"))";
    return classify(rc);
  }

  void finalize_inserts() {
    for (auto* st : insert_)
      if (st) sq_->sqlite3_finalize(st);
    insert_.clear();
  }

  void close_db() {
    finalize_inserts();
    if (upsert_) sq_->sqlite3_finalize(upsert_);
    upsert_ = nullptr;
    if (db_) sq_->sqlite3_close_v2(db_);
    db_ = nullptr;
    configured_ = false;
    forget_tables();
  }

  // ---- outcomes ----

  Outcome failed(int rc) {
    last_code_ = rc & 0xff;
    last_error_ = db_ ? sq_->sqlite3_errmsg(db_) : sq_->sqlite3_errstr(rc);
    return classify(rc);
  }

  Outcome classify(int rc) {
    int primary = rc & 0xff;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return Outcome::kBusy;
    return Outcome::kFailed;
  }

  // A row the database refuses for what it holds (not for its state).
  static bool refuses_row(int rc) {
    int primary = rc & 0xff;
    return primary == SQLITE_CONSTRAINT || primary == SQLITE_TOOBIG || primary == SQLITE_MISMATCH ||
           primary == SQLITE_RANGE;
  }

  void handle(Outcome o) {
    if (o == Outcome::kBusy) {
      if (!locked_) {
        locked_ = true;
        locked_since_ms_ = now_ms();
        report(5, "the database is locked by another connection; " + std::to_string(backlog_.size()) +
                      " rows wait until it is free");
      }
      retry_in(kBusyRetryMs);
      return;
    }
    close_db();
    uint64_t delay = after_failure();
    failing_ = true;
    report(3, "SQLite error: " + last_error_ + "; " + std::to_string(backlog_.size()) + " rows wait; retrying in " +
                  seconds_text(delay));
    retry_in(delay);
  }

  void recovered() {
    succeeded();
    if (locked_) {
      locked_ = false;
      report(5, "the database lock was released after " + seconds_text(now_ms() - locked_since_ms_));
    }
    if (failing_) {
      failing_ = false;
      report(5, "writing to the database again");
    }
  }

  // Runs a query, calling row(statement) for each row it gives; an SQLite
  // result code (last_error_ set when it failed).
  template <class F>
  int query(const std::string& sql, F&& row) {
    sqlite3_stmt* st = nullptr;
    int rc = sq_->sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr);
    while (rc == SQLITE_OK && (rc = sq_->sqlite3_step(st)) == SQLITE_ROW) {
      row(st);
      rc = SQLITE_OK;
    }
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
    if (rc != SQLITE_OK) failed(rc);
    sq_->sqlite3_finalize(st);
    return rc;
  }

  std::string column_text(sqlite3_stmt* st, int col) {
    const unsigned char* text = sq_->sqlite3_column_text(st, col);
    return text ? reinterpret_cast<const char*>(text) : "";
  }

  int exec(const char* sql) {
    char* msg = nullptr;
    int rc = sq_->sqlite3_exec(db_, sql, nullptr, nullptr, &msg);
    if (rc != SQLITE_OK) {
      last_code_ = rc & 0xff;
      last_error_ = msg ? msg : sq_->sqlite3_errstr(rc);
    }
    sq_->sqlite3_free(msg);
    return rc;
  }

  void rollback() {
    if (db_ && !sq_->sqlite3_get_autocommit(db_)) {
      std::string keep = last_error_;
      exec("ROLLBACK");
      last_error_ = keep;
    }
  }

  // ---- tables ----

  // Creates the table (or adds the columns it lacks, and the indexes) and
  // prepares its INSERT.
  Outcome prepare_table(uint32_t t) {
    if (insert_.size() <= t) insert_.resize(tables_.size(), nullptr);
    SqlTable& table = tables_[t];
    if (!table.ready && cfg_.create_tables) {
      Outcome o = create_table(table);
      if (o != Outcome::kOk) return o;
    }
    table.ready = true;
    if (insert_[t]) return Outcome::kOk;
    std::string sql = "INSERT INTO " + table.quoted;
    if (insert_columns_.empty()) {
      sql += " DEFAULT VALUES";
    } else {
      sql += " (";
      for (size_t k = 0; k < insert_columns_.size(); ++k)
        sql += (k ? ", " : "") + quote_identifier(cfg_.columns[insert_columns_[k]].name);
      sql += ") VALUES (";
      for (size_t k = 0; k < insert_columns_.size(); ++k) sql += k ? ", ?" : "?";
      sql += ")";
    }
    int rc = sq_->sqlite3_prepare_v2(db_, sql.c_str(), -1, &insert_[t], nullptr);
    if (rc != SQLITE_OK) {
      insert_[t] = nullptr;
      table.ready = false;
      return failed(rc);
    }
    return Outcome::kOk;
  }

  Outcome create_table(SqlTable& table) {
    // Which columns exist (none: no table).
    std::vector<std::string> have;
    int rc = query("PRAGMA table_info(" + table.quoted + ")", [&](sqlite3_stmt* st) {
      have.push_back(column_text(st, 1));
    });
    if (rc != SQLITE_OK) return classify(rc);
    std::string sql;
    auto has = [&](const std::string& col) {
      return std::any_of(have.begin(), have.end(), [&](const std::string& h) { return strcasecmp(h.c_str(), col.c_str()) == 0; });
    };
    if (have.empty()) {
      sql = "CREATE TABLE IF NOT EXISTS " + table.quoted + " (";
      for (size_t i = 0; i < cfg_.columns.size(); ++i)
        sql += (i ? ", " : "") + quote_identifier(cfg_.columns[i].name) + " " + cfg_.columns[i].type;
      sql += ")";
      if (!cfg_.create_statement_append.empty()) sql += " " + cfg_.create_statement_append;
      if ((rc = exec(sql.c_str())) != SQLITE_OK) return classify(rc);
    } else {
      for (const auto& c : cfg_.columns) {
        if (has(c.name)) continue;
        sql = "ALTER TABLE " + table.quoted + " ADD COLUMN " + quote_identifier(c.name) + " " + c.type;
        if ((rc = exec(sql.c_str())) != SQLITE_OK) return classify(rc);
      }
    }
    for (const auto& idx : cfg_.indexes) {
      sql = "CREATE INDEX IF NOT EXISTS " + quote_identifier(index_name(table.name, idx)) + " ON " + table.quoted + " (" +
            quote_identifier(idx) + ")";
      if ((rc = exec(sql.c_str())) != SQLITE_OK) return classify(rc);
    }
    return Outcome::kOk;
  }

  // ---- rows ----

  // Begins one transaction of the n oldest rows; its COMMIT goes to the
  // thread pool (after_commit() finishes it).
  Outcome write_rows(size_t n) {
    for (size_t i = 0; i < n; ++i) {
      uint32_t t = backlog_.row(i).table;
      if (t < insert_.size() && insert_[t] && tables_[t].ready) continue;
      Outcome o = prepare_table(t);
      if (o != Outcome::kOk) return o;
    }
    int rc = exec("BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) return classify(rc);
    refused_.clear();
    for (size_t i = 0; i < n; ++i) {
      RowBacklog::Row row = backlog_.row(i);
      sqlite3_stmt* st = insert_[row.table];
      for (size_t k = 0; k < insert_columns_.size(); ++k) {
        const RowBacklog::Value& v = row.values[k];
        int idx = static_cast<int>(k + 1);
        if (v.null()) sq_->sqlite3_bind_null(st, idx);
        else sq_->sqlite3_bind_text(st, idx, row.text + v.off, static_cast<int>(v.len), SQLITE_STATIC);
      }
      rc = sq_->sqlite3_step(st);
      sq_->sqlite3_reset(st);
      if (rc == SQLITE_DONE) continue;
      if (refuses_row(rc)) {
        refused_.emplace_back(i, sq_->sqlite3_errmsg(db_));
        continue;
      }
      Outcome o = failed(rc);
      rollback();
      return o;
    }
    if (marks_on_) {
      Outcome o = write_marks(n);
      if (o != Outcome::kOk) return o;
    }
    commit_rows_ = n;
    committing_ = true;
    commit_work_.data = this;
    uv_queue_work(loop_, &commit_work_, [](uv_work_t* w) { static_cast<SqliteWriter*>(w->data)->commit(); },
                  [](uv_work_t* w, int) { static_cast<SqliteWriter*>(w->data)->after_commit(); });
    return Outcome::kOk;
  }

  // Upserts the marks of the transaction of the n oldest rows, in it.
  Outcome write_marks(size_t n) {
    db_marks_.begin(backlog_, n);
    int rc = SQLITE_DONE;
    db_marks_.each_write([&](const std::string& key, uint64_t seq) {
      if (rc != SQLITE_DONE) return;
      sq_->sqlite3_bind_text(upsert_, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
      sq_->sqlite3_bind_int64(upsert_, 2, static_cast<sqlite3_int64>(seq));
      rc = sq_->sqlite3_step(upsert_);
      sq_->sqlite3_reset(upsert_);
    });
    if (rc == SQLITE_DONE) return Outcome::kOk;
    Outcome o = failed(rc);
    rollback();
    return o;
  }

  // On a thread of the pool: only this touches the connection meanwhile.
  void commit() {
    char* msg = nullptr;
    commit_rc_ = sq_->sqlite3_exec(db_, "COMMIT", nullptr, nullptr, &msg);
    commit_error_ = commit_rc_ == SQLITE_OK ? "" : msg ? msg : sq_->sqlite3_errstr(commit_rc_);
    sq_->sqlite3_free(msg);
  }

  // Back on the output thread.
  void after_commit() {
    committing_ = false;
    if (stopped()) {  // a shutdown gave these rows up (counted) while they committed
      close_db();
      return;
    }
    if (commit_rc_ != SQLITE_OK) {
      last_code_ = commit_rc_ & 0xff;
      last_error_ = commit_error_;
      Outcome o = classify(commit_rc_);
      // With the transaction still open nothing was stored (it is rolled
      // back); one SQLite ended itself may have been.
      if (o == Outcome::kFailed && sq_->sqlite3_get_autocommit(db_))
        commit_unanswered(commit_rows_, refused_.size(), "whose COMMIT failed (" + commit_error_ + ")");
      rollback();
      handle(o);
      return;
    }
    if (marks_on_) db_marks_.committed();
    for (const auto& [i, why] : refused_) report_refused(backlog_.row(i), why);
    rows_done(commit_rows_, refused_.size());
    recovered();
    pump();
  }

  sqlite3* db_ = nullptr;
  bool configured_ = false;  // WAL and the session statements done
  const LibSqlite* sq_ = nullptr;
  std::vector<sqlite3_stmt*> insert_;  // by table
  sqlite3_stmt* upsert_ = nullptr;     // of the marks table; null until the marks were read on this connection
  std::vector<std::pair<size_t, std::string>> refused_;  // of the current transaction
  // The COMMIT on the thread pool.
  uv_work_t commit_work_{};
  bool committing_ = false;
  size_t commit_rows_ = 0;
  int commit_rc_ = SQLITE_OK;   // written by commit(), read after it
  std::string commit_error_;    // likewise
  std::string last_error_;
  int last_code_ = SQLITE_OK;
  bool locked_ = false;
  uint64_t locked_since_ms_ = 0;
  bool failing_ = false;
  bool warned_mode_ = false;
};

}  // namespace

std::unique_ptr<Destination> make_sqlite_writer(const SqlDestinationConfig& c) { return std::make_unique<SqliteWriter>(c); }

}  // namespace logferry
