// sql(type(pgsql)): rows into PostgreSQL through libpq's non-blocking API,
// on the output thread's libuv loop: the host name is resolved with
// uv_getaddrinfo, PQconnectStartParams/PQconnectPoll connect, and every
// query is sent with PQsendQuery/PQsendQueryParams and read with
// PQconsumeInput/PQgetResult, driven by a uv_poll_t on PQsocket().  The
// loop never waits for the server.
//
// A transaction is BEGIN, one COPY ... FROM STDIN (pgsql-copy(yes), the
// default: the rows in COPY's text format, pgsql_copy_text.h) or one
// multi-row INSERT (every value a parameter) per run of rows bound for the
// same table, COMMIT; when all its rows go to one table it is that COPY or
// INSERT alone (a statement is atomic).  Rows are taken from the backlog
// only when the commit succeeded.  When a COPY or INSERT fails for what a
// row holds (SQLSTATE classes 22 data exception, 23 integrity constraint, 54
// program limit), the transaction is rolled back and its rows are written
// again one by one (each INSERT its own transaction), so that only the rows
// the server refuses are dropped (reported, counted as errors).  Any other
// error is retried after a backoff (1 s, 2 s, ... up to time-reopen()); a
// broken connection is made again after the same backoff, the rows waiting.
//
// The marks table (marks-table(), sql_marks.h): every transaction also
// upserts, per origin stream of ferry(), the newest batch whose rows it
// completes, and this destination's commit count - by COPY ...; INSERT ...
// in one query (a simple query is one transaction), by a data-modifying WITH
// in front of an INSERT, or in front of COMMIT.  After every connect the
// table is read before any row is sent: when the connection broke after a
// COMMIT was sent and before its answer came, the commit count says whether
// it happened (its rows are then done, else written again); the marks drop
// the rows of batches a ferry() sender sends again after this receiver
// crashed between the commit and its journal.  Without a marks table
// (marks-table("")), the rows of an unanswered commit are written again and
// may be stored twice (reported).  Nothing is lost either way.
#include <arpa/inet.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "core/text.h"
#include "core/shared_library.h"
#include "server/pgsql_copy_text.h"
#include "server/sql_writer.h"

namespace logferry {

namespace {

constexpr uint64_t kConnectTimeoutMs = 10000;
constexpr size_t kMaxParams = 65535;  // PostgreSQL's limit per statement
constexpr size_t kMaxAddresses = 8;
constexpr size_t kCopyChunk = 64 * 1024;  // COPY data handed to libpq at once

bool is_numeric_address(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// Errors that belong to a row's values, not to the connection or the table.
bool row_error(const std::string& sqlstate) {
  return sqlstate.starts_with("22") || sqlstate.starts_with("23") || sqlstate.starts_with("54");
}

// The table or a column is missing: create or check the tables again.
bool schema_error(const std::string& sqlstate) { return sqlstate == "42P01" || sqlstate == "42703"; }

std::string one_line(const char* text) {
  std::string s = text ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s)
    if (c == '\n' || c == '\t') c = ' ';
  return s;
}

// libpq is loaded when a pgsql destination starts (shared_library.h).
#define LF_LIBPQ_FUNCTIONS(X) \
  X(PQclear) \
  X(PQconnectPoll) \
  X(PQconnectStartParams) \
  X(PQconsumeInput) \
  X(PQerrorMessage) \
  X(PQfinish) \
  X(PQflush) \
  X(PQgetResult) \
  X(PQgetvalue) \
  X(PQisBusy) \
  X(PQntuples) \
  X(PQputCopyData) \
  X(PQputCopyEnd) \
  X(PQresStatus) \
  X(PQresultErrorField) \
  X(PQresultErrorMessage) \
  X(PQresultStatus) \
  X(PQsendQuery) \
  X(PQsendQueryParams) \
  X(PQsetNoticeProcessor) \
  X(PQsetnonblocking) \
  X(PQsocket) \
  X(PQstatus)

struct LibPq {
#define LF_LIBPQ_POINTER(name) decltype(&::name) name = nullptr;
  LF_LIBPQ_FUNCTIONS(LF_LIBPQ_POINTER)
#undef LF_LIBPQ_POINTER
};

// The loaded library, or null with *error set (once per process).
const LibPq* load_libpq(std::string* error) {
  static SharedLibrary so;
  static const LibPq* lib = []() -> const LibPq* {
    static LibPq l;
    if (!so.open("libpq.so.5", "libpq5")) return nullptr;
#define LF_LIBPQ_LOAD(name) \
    if (!so.function(#name, &l.name)) return nullptr;
    LF_LIBPQ_FUNCTIONS(LF_LIBPQ_LOAD)
#undef LF_LIBPQ_LOAD
    return &l;
  }();
  if (!lib) *error = so.failure();
  return lib;
}

class PgsqlWriter : public SqlWriter {
 public:
  explicit PgsqlWriter(const SqlDestinationConfig& c) : SqlWriter(c) {
    reject_nul_ = true;
    where_ = (cfg_.host.empty() ? std::string("the local socket") : cfg_.host) + (cfg_.port.empty() ? "" : ":" + cfg_.port);
    use_marks_table();
  }

  ~PgsqlWriter() override {
    dead_ = true;
    drop_connection();
    if (resolving_) uv_cancel(reinterpret_cast<uv_req_t*>(resolving_));
    while (loop_ && (handles_ > 0 || resolving_)) uv_run(loop_, UV_RUN_NOWAIT);
  }

 protected:
  // Connects now, so that the connection is up when the first rows come.
  bool start(std::string* error) override {
    pq_ = load_libpq(error);
    if (!pq_) return false;
    pump();
    return true;
  }

  void pump() override {
    if (dead_ || stopped()) return;
    switch (state_) {
      case State::kDisconnected:
        if (!retry_due()) {
          wake_in(retry_wait_ms());
          return;
        }
        connect();
        return;
      case State::kResolving:
        return;
      case State::kConnecting:
        if (now_ms() - connect_started_ms_ >= kConnectTimeoutMs) {
          connection_failed("no answer within " + seconds_text(kConnectTimeoutMs));
          return;
        }
        wake_in(kConnectTimeoutMs - (now_ms() - connect_started_ms_));
        return;
      case State::kReady:
        if (query_ != Query::kNone) return;
        if (!retry_due()) {
          wake_in(retry_wait_ms());
          return;
        }
        next_query();
        return;
    }
  }

  bool busy() const override { return state_ == State::kReady && query_ != Query::kNone; }

  void stop_backend() override {
    dead_ = true;
    if (state_ == State::kReady && outcome_unknown())
      report(4, "shutting down while a COMMIT of " + std::to_string(txn_rows_) +
                    " rows was unanswered; they count as not written and may be stored twice");
    drop_connection();
    if (resolving_) uv_cancel(reinterpret_cast<uv_req_t*>(resolving_));
  }

 private:
  enum class State { kDisconnected, kResolving, kConnecting, kReady };
  // kAutocommit: a transaction that is one INSERT (one table) is sent
  // without BEGIN and COMMIT: one round trip.  kSingle: one row alone.
  // kCheck: which columns and indexes a table has (catalog reads, no
  // privilege needed); kSetup: what it lacks is created.
  // kMarksRead: the marks table read after connecting; kMarksSetup: it
  // is created.
  enum class Query { kNone, kSession, kMarksRead, kMarksSetup, kCheck, kSetup, kAutocommit, kBegin, kInsert, kCommit,
                     kRollback, kSingle };
  // Where a COPY (sent as kAutocommit or kInsert) is: the statement sent
  // (kStarting), its data going out (kSending), ended and its answer
  // awaited (kEnded).
  enum class Copy { kNone, kStarting, kSending, kEnded };

  // ---- connecting ----

  void connect() {
    if (!cfg_.host.empty() && cfg_.host[0] != '/' && !is_numeric_address(cfg_.host)) {
      // Resolve on the loop's thread pool; libpq would block in getaddrinfo.
      auto* req = new uv_getaddrinfo_t;
      req->data = this;
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      int rc = uv_getaddrinfo(loop_, req, [](uv_getaddrinfo_t* r, int status, addrinfo* res) {
        auto* self = static_cast<PgsqlWriter*>(r->data);
        delete r;
        self->resolving_ = nullptr;
        if (status == UV_ECANCELED || self->dead_) {
          uv_freeaddrinfo(res);
          return;
        }
        self->resolved(status, res);
        uv_freeaddrinfo(res);
      }, cfg_.host.c_str(), nullptr, &hints);
      if (rc != 0) {
        delete req;
        connection_failed(std::string("cannot resolve ") + cfg_.host + ": " + uv_strerror(rc));
        return;
      }
      resolving_ = req;
      state_ = State::kResolving;
      return;
    }
    addresses_.clear();
    start_connect();
  }

  void resolved(int status, addrinfo* res) {
    if (status != 0 || !res) {
      state_ = State::kDisconnected;
      connection_failed("cannot resolve " + cfg_.host + ": " + (status ? uv_strerror(status) : "no address"));
      return;
    }
    addresses_.clear();
    for (addrinfo* a = res; a && addresses_.size() < kMaxAddresses; a = a->ai_next) {
      char buf[INET6_ADDRSTRLEN] = {0};
      const void* src = a->ai_family == AF_INET6 ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr)
                                                 : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr);
      if (!inet_ntop(a->ai_family, src, buf, sizeof(buf))) continue;
      if (std::find(addresses_.begin(), addresses_.end(), buf) == addresses_.end()) addresses_.push_back(buf);
    }
    state_ = State::kDisconnected;
    start_connect();
  }

  void start_connect() {
    std::vector<const char*> keys, values;
    std::string hosts, hostaddrs;
    auto add = [&](const char* k, const std::string& v) {
      if (v.empty()) return;
      keys.push_back(k);
      values.push_back(v.c_str());
    };
    if (!addresses_.empty()) {
      // One host entry per address: libpq tries them in turn.
      for (size_t i = 0; i < addresses_.size(); ++i) {
        hosts += (i ? "," : "") + cfg_.host;
        hostaddrs += (i ? "," : "") + addresses_[i];
      }
      add("host", hosts);
      add("hostaddr", hostaddrs);
    } else {
      add("host", cfg_.host);
    }
    add("port", cfg_.port);
    add("user", cfg_.username);
    add("password", cfg_.password);
    add("dbname", cfg_.database);
    std::string app = "logferry", encoding = "UTF8";
    add("application_name", app);
    add("client_encoding", encoding);
    keys.push_back(nullptr);
    values.push_back(nullptr);
    conn_ = pq_->PQconnectStartParams(keys.data(), values.data(), 0);
    if (!conn_ || pq_->PQstatus(conn_) == CONNECTION_BAD) {
      connection_failed(conn_ ? one_line(pq_->PQerrorMessage(conn_)) : "out of memory");
      return;
    }
    pq_->PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);  // "already exists, skipping"
    state_ = State::kConnecting;
    connect_started_ms_ = now_ms();
    wake_in(kConnectTimeoutMs);
    want_write_ = true;  // as if PQconnectPoll had said PGRES_POLLING_WRITING
    watch_socket();
  }

  // One step of the connection handshake.
  void connect_step() {
    PostgresPollingStatusType st = pq_->PQconnectPoll(conn_);
    switch (st) {
      case PGRES_POLLING_READING:
        want_write_ = false;
        break;
      case PGRES_POLLING_WRITING:
        want_write_ = true;
        break;
      case PGRES_POLLING_OK:
        connected();
        return;
      default:
        connection_failed(one_line(pq_->PQerrorMessage(conn_)));
        return;
    }
    // libpq may have moved to another socket (the next address): watch
    // the one it has now.
    watch_socket(true);
  }

  void connected() {
    pq_->PQsetnonblocking(conn_, 1);
    state_ = State::kReady;
    session_next_ = 0;
    want_write_ = false;
    watch_socket();
    if (failing_) report(5, "connected to " + where_ + " again; " + std::to_string(backlog_.size()) + " rows wait");
    next_query();
  }

  void connection_failed(const std::string& why) {
    drop_connection();
    uint64_t delay = after_failure();
    failing_ = true;
    report(4, "cannot connect to PostgreSQL at " + where_ + " (" + why + "); " + std::to_string(backlog_.size()) +
                  " rows wait; retrying in " + seconds_text(delay));
    retry_in(delay);
  }

  // Whether the statement in flight may have stored its rows: a COMMIT, or
  // a statement that is a transaction alone, once sent whole (a COPY whose
  // data has not all gone cannot have stored anything).
  bool outcome_unknown() const {
    return (query_ == Query::kCommit || query_ == Query::kSingle || query_ == Query::kAutocommit) &&
           copy_ != Copy::kStarting && copy_ != Copy::kSending;
  }

  // The connection broke (or the server ended it) while it was up.
  void connection_lost(const std::string& why) {
    bool unknown = outcome_unknown();
    size_t unsure = unknown ? txn_rows_ : 0;
    // Read back from the commit count on reconnect (marks_read()).
    bool resolvable = unknown && commit_unanswered(unsure, 0, "left unanswered when the connection broke");
    if (resolvable) unsure_single_ = query_ == Query::kSingle;
    drop_connection();
    uint64_t delay = after_failure();
    failing_ = true;
    std::string text = "connection to PostgreSQL at " + where_ + " lost (" + why + "); " +
                       std::to_string(backlog_.size()) + " rows wait";
    if (resolvable)
      text += "; the server did not answer the commit of the last " + std::to_string(unsure) +
              " rows: whether it happened is read from the marks table on reconnect";
    else if (unknown)
      text += "; the server did not answer the commit of the last " + std::to_string(unsure) +
              " rows, which are written again and may be stored twice";
    report(4, text + "; reconnecting in " + seconds_text(delay));
    retry_in(delay);
  }

  void drop_connection() {
    unwatch_socket();
    if (conn_) pq_->PQfinish(conn_);
    conn_ = nullptr;
    if (state_ != State::kResolving) state_ = State::kDisconnected;
    query_ = Query::kNone;
    copy_ = Copy::kNone;
    txn_rows_ = 0;
    txn_done_ = 0;
    run_rows_ = 0;
    session_next_ = 0;
    marks_read_ = false;
    error_state_.clear();
    error_text_.clear();
  }

  // ---- the socket ----

  // Watches PQsocket() for reading, and for writing while libpq has output
  // waiting; `renew` takes a fresh handle (the socket may be a new one with
  // the old number).
  void watch_socket(bool renew = false) {
    int fd = conn_ ? pq_->PQsocket(conn_) : -1;
    if (poll_ && (renew || fd != poll_fd_)) unwatch_socket();
    if (fd < 0) return;
    if (!poll_) {
      poll_ = new uv_poll_t;
      if (uv_poll_init(loop_, poll_, fd) != 0) {
        delete poll_;
        poll_ = nullptr;
        connection_lost("cannot watch its socket");
        return;
      }
      poll_->data = this;
      poll_fd_ = fd;
      ++handles_;
      poll_events_ = 0;
    }
    int events = UV_READABLE | (want_write_ ? UV_WRITABLE : 0);
    if (events == poll_events_) return;
    poll_events_ = events;
    uv_poll_start(poll_, events, [](uv_poll_t* h, int status, int ev) {
      auto* self = static_cast<PgsqlWriter*>(h->data);
      if (status < 0) ev = UV_READABLE;  // an error: reading tells what it is
      self->on_socket((ev & UV_READABLE) != 0, (ev & UV_WRITABLE) != 0);
    });
  }

  void unwatch_socket() {
    if (!poll_) return;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) {
      --static_cast<PgsqlWriter*>(h->data)->handles_;
      delete reinterpret_cast<uv_poll_t*>(h);
    });
    poll_ = nullptr;
    poll_fd_ = -1;
    poll_events_ = 0;
  }

  void on_socket(bool readable, bool writable) {
    if (dead_ || !conn_) return;
    if (state_ == State::kConnecting) {
      connect_step();
      return;
    }
    if (state_ != State::kReady) return;
    if (writable && want_write_) {
      if (copy_ == Copy::kSending) {
        send_copy_data();
        if (!conn_) return;  // the connection broke
      } else if (!flush_output()) {
        return;
      }
    }
    if (readable) {
      if (!pq_->PQconsumeInput(conn_)) {
        // The connection broke; what the server said last (e.g. a FATAL
        // error for the query in flight) may still be read: it tells
        // whether the query's outcome is known (query_done()).
        if (query_ != Query::kNone) read_results();
        if (conn_) libpq_failed();
        return;
      }
      read_results();
    }
  }

  // Sends what libpq buffered; false when the connection broke.
  bool flush_output() {
    int rc = pq_->PQflush(conn_);
    if (rc < 0) {
      libpq_failed();
      return false;
    }
    want_write(rc == 1);
    return true;
  }

  void read_results() {
    // While COPY data goes out, libpq keeps what the server says (e.g. an
    // error) until PQputCopyEnd; then it is read.
    if (copy_ == Copy::kSending) return;
    while (conn_ && query_ != Query::kNone && !pq_->PQisBusy(conn_)) {
      PGresult* res = pq_->PQgetResult(conn_);
      if (!res) {
        query_done();
        return;
      }
      ExecStatusType st = pq_->PQresultStatus(res);
      if (st == PGRES_COPY_IN) {
        pq_->PQclear(res);
        if (copy_ != Copy::kStarting) {
          connection_lost("the server asked for COPY data unasked");
          return;
        }
        copy_ = Copy::kSending;
        send_copy_data();
        return;
      }
      got_result_ = true;
      if (query_ == Query::kCheck && st == PGRES_TUPLES_OK) {
        for (int i = 0, n = pq_->PQntuples(res); i < n; ++i)
          check_rows_.emplace_back(pq_->PQgetvalue(res, i, 0)[0], pq_->PQgetvalue(res, i, 1));
      }
      if (query_ == Query::kMarksRead && st == PGRES_TUPLES_OK) {
        for (int i = 0, n = pq_->PQntuples(res); i < n; ++i)
          read_marks_[pq_->PQgetvalue(res, i, 0)] = std::strtoull(pq_->PQgetvalue(res, i, 1), nullptr, 10);
      }
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY && error_state_.empty() &&
          error_text_.empty()) {
        const char* code = pq_->PQresultErrorField(res, PG_DIAG_SQLSTATE);
        error_state_ = code ? code : "";
        error_text_ = one_line(pq_->PQresultErrorMessage(res));
        if (error_text_.empty()) error_text_ = pq_->PQresStatus(st);
      }
      pq_->PQclear(res);
    }
    if (conn_ && query_ == Query::kNone) {
      // Idle: a result nobody asked for means the server is ending the
      // session (e.g. shutting down); the read that follows tells.
      if (pq_->PQstatus(conn_) == CONNECTION_BAD) libpq_failed();
    }
  }

  // ---- queries ----

  void send(Query q, bool params_query) {
    int ok = params_query
                 ? pq_->PQsendQueryParams(conn_, sql_.c_str(), static_cast<int>(params_.size()), nullptr, params_.data(),
                                     nullptr, nullptr, 0)
                 : pq_->PQsendQuery(conn_, sql_.c_str());
    if (!ok) {
      libpq_failed();
      return;
    }
    query_ = q;
    got_result_ = false;
    error_state_.clear();
    error_text_.clear();
    flush_output();
  }

  void send_simple(Query q, const char* sql) {
    sql_.assign(sql);
    send(q, false);
  }

  // What comes next on an idle connection.
  void next_query() {
    if (state_ != State::kReady || query_ != Query::kNone || dead_) return;
    if (session_next_ < cfg_.session_statements.size()) {
      sql_ = cfg_.session_statements[session_next_];
      send(Query::kSession, false);
      return;
    }
    if (marks_on_ && !marks_read_) {
      send_marks_read();
      return;
    }
    while (isolate_left_ > 0 && (backlog_.row(0).flags & RowBacklog::kRowHasNul)) {
      refuse_nul_row();
      --isolate_left_;
    }
    if (isolate_left_ > 0) {
      txn_rows_ = 1;
      txn_done_ = 0;
      prepare_marks(1);
      send_insert(Query::kSingle);
      return;
    }
    size_t n = rows_for_transaction();
    if (n == 0) return;
    // PostgreSQL text cannot hold NUL bytes: such a row is refused here.
    while (n > 0 && (backlog_.row(0).flags & RowBacklog::kRowHasNul)) {
      refuse_nul_row();
      n = rows_for_transaction();
    }
    if (n == 0) return;
    for (size_t i = 1; i < n; ++i) {
      if (backlog_.row(i).flags & RowBacklog::kRowHasNul) {
        n = i;  // this transaction ends before it
        break;
      }
    }
    for (size_t i = 0; i < n; ++i) {
      SqlTable& t = tables_[backlog_.row(i).table];
      if (t.ready) continue;
      if (!cfg_.create_tables) {
        t.ready = true;
        continue;
      }
      setup_table_ = backlog_.row(i).table;
      send_check(t);
      return;
    }
    txn_rows_ = n;
    txn_done_ = 0;
    prepare_marks(n);
    if (run_length(0) == n) {
      send_rows(Query::kAutocommit);
      return;
    }
    send_simple(Query::kBegin, "BEGIN");
  }

  // COPY takes the rows unless every column is left to its DEFAULT (COPY
  // needs a column).
  bool use_copy() const { return cfg_.pgsql_copy && !insert_columns_.empty(); }

  // How many rows from `from` on one COPY or INSERT takes: those of the
  // transaction bound for the same table; for an INSERT at most kMaxParams
  // values.
  size_t run_length(size_t from) const {
    size_t ncols = insert_columns_.size();
    size_t max_rows = use_copy() ? txn_rows_ : ncols == 0 ? 1 : std::max<size_t>(1, kMaxParams / ncols);
    uint32_t table = backlog_.row(from).table;
    size_t end = from + 1;
    while (end < txn_rows_ && end - from < max_rows && backlog_.row(end).table == table) ++end;
    return end - from;
  }

  void refuse_nul_row() {
    report_refused(backlog_.row(0), "a value holds a NUL byte, which PostgreSQL text cannot store");
    rows_done(1, 1);
  }

  // A table is checked before anything is created: a role that may only
  // INSERT into a table made for it may neither CREATE TABLE IF NOT EXISTS
  // (it needs CREATE on the schema) nor ALTER TABLE ... ADD COLUMN IF NOT
  // EXISTS (it needs to own the table), even when nothing would change.
  // One query lists the table's columns ('c') and indexes ('i'); no rows:
  // no table (to_regclass() follows the search_path, as INSERT does).
  void send_check(const SqlTable& t) {
    sql_ =
        "SELECT 'c', attname FROM pg_catalog.pg_attribute WHERE attrelid = pg_catalog.to_regclass($1) "
        "AND attnum > 0 AND NOT attisdropped "
        "UNION ALL SELECT 'i', c.relname FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class c ON c.oid = x.indexrelid "
        "WHERE x.indrelid = pg_catalog.to_regclass($1)";
    params_.assign(1, t.quoted.c_str());
    check_rows_.clear();
    send(Query::kCheck, true);
  }

  // What the table lacks, from the answer to send_check(): CREATE TABLE,
  // ADD COLUMN for each missing column, CREATE INDEX for each missing
  // index; "" when it has everything.
  void build_setup(const SqlTable& t) {
    sql_.clear();
    auto has = [&](char kind, const std::string& name) {
      return std::any_of(check_rows_.begin(), check_rows_.end(),
                         [&](const auto& r) { return r.first == kind && r.second == name; });
    };
    bool exists = std::any_of(check_rows_.begin(), check_rows_.end(), [](const auto& r) { return r.first == 'c'; });
    if (!exists) {
      sql_ = "CREATE TABLE IF NOT EXISTS " + t.quoted + " (";
      for (size_t i = 0; i < cfg_.columns.size(); ++i)
        sql_ += (i ? ", " : "") + quote_identifier(cfg_.columns[i].name) + " " + cfg_.columns[i].type;
      sql_ += ")";
      if (!cfg_.create_statement_append.empty()) sql_ += " " + cfg_.create_statement_append;
    } else {
      std::string add;
      for (const auto& c : cfg_.columns)
        if (!has('c', c.name)) add += (add.empty() ? " ADD COLUMN IF NOT EXISTS " : ", ADD COLUMN IF NOT EXISTS ") +
                                      quote_identifier(c.name) + " " + c.type;
      if (!add.empty()) sql_ = "ALTER TABLE " + t.quoted + add;
    }
    for (const auto& idx : cfg_.indexes) {
      std::string name = index_name(t.name, idx);
      if (exists && has('i', name)) continue;
      if (!sql_.empty()) sql_ += "; ";
      sql_ += "CREATE INDEX IF NOT EXISTS " + quote_identifier(name) + " ON " + t.quoted + " (" + quote_identifier(idx) + ")";
    }
  }

  // The rows from txn_done_ on that go to the same table, by COPY or INSERT.
  void send_rows(Query q) {
    if (use_copy()) {
      send_copy(q);
    } else {
      send_insert(q);
    }
  }

  // COPY t (cols) FROM STDIN: the rows from txn_done_ on that go to the
  // same table.  The data is made now and sent once the server asks for it.
  void send_copy(Query q) {
    size_t ncols = insert_columns_.size();
    const SqlTable& t = tables_[backlog_.row(txn_done_).table];
    run_rows_ = run_length(txn_done_);
    sql_ = "COPY ";
    sql_ += t.quoted;
    sql_ += " (";
    for (size_t k = 0; k < ncols; ++k) {
      if (k) sql_ += ", ";
      sql_ += quote_identifier(cfg_.columns[insert_columns_[k]].name);
    }
    sql_ += ") FROM STDIN";
    if (q == Query::kAutocommit && !marks_sql_.empty()) {
      // One query of two statements: one transaction.
      sql_ += "; ";
      sql_ += marks_sql_;
    }
    copy_data_.clear();
    for (size_t i = txn_done_, end = txn_done_ + run_rows_; i < end; ++i) {
      RowBacklog::Row row = backlog_.row(i);
      for (size_t k = 0; k < ncols; ++k) {
        if (k) copy_data_.push_back('\t');
        const char* v = row.c_str(k);
        append_copy_field(&copy_data_, v, v ? row.value(k).size() : 0);
      }
      copy_data_.push_back('\n');
    }
    copy_sent_ = 0;
    copy_ = Copy::kStarting;  // before send(): a break there knows nothing was stored
    send(q, false);
  }

  // Hands the COPY data to libpq, a chunk at a time and only while libpq
  // sent what it had (so its buffer stays small), then ends the COPY; waits
  // for the socket to take more when it is full.
  void send_copy_data() {
    int rc = 0;  // as PQflush says: 0 go on, 1 wait until the socket takes more, -1 broken
    while (rc == 0 && copy_ == Copy::kSending) {
      rc = pq_->PQflush(conn_);
      if (rc != 0) break;
      int put;  // as PQputCopyData and PQputCopyEnd say: 1 taken, 0 no room now, -1 broken
      if (copy_sent_ < copy_data_.size()) {
        size_t n = std::min(kCopyChunk, copy_data_.size() - copy_sent_);
        put = pq_->PQputCopyData(conn_, copy_data_.data() + copy_sent_, static_cast<int>(n));
        if (put == 1) copy_sent_ += n;
      } else {
        put = pq_->PQputCopyEnd(conn_, nullptr);
        if (put == 1) copy_ = Copy::kEnded;
      }
      rc = put == 1 ? 0 : put == 0 ? 1 : -1;
    }
    if (rc < 0) {
      libpq_failed();
    } else if (rc == 1) {
      want_write(true);
    } else if (flush_output()) {
      read_results();  // the answer may be in libpq's buffer already
    }
  }

  // libpq says the connection broke.
  void libpq_failed() { connection_lost(one_line(pq_->PQerrorMessage(conn_))); }

  void want_write(bool on) {
    if (on == want_write_) return;
    want_write_ = on;
    watch_socket();
  }

  // INSERT INTO t (cols) VALUES ($1, $2), ($3, $4), ...: the rows from
  // txn_done_ on that go to the same table, at most kMaxParams values.
  void send_insert(Query q) {
    size_t ncols = insert_columns_.size();
    const SqlTable& t = tables_[backlog_.row(txn_done_).table];
    run_rows_ = run_length(txn_done_);
    size_t end = txn_done_ + run_rows_;
    sql_.clear();
    if (q != Query::kInsert && !marks_sql_.empty()) {
      // A statement alone is a transaction: the marks go in a WITH.
      sql_ = "WITH logferry_marked AS (";
      sql_ += marks_sql_;
      sql_ += ") ";
    }
    sql_ += "INSERT INTO ";
    sql_ += t.quoted;
    params_.clear();
    if (ncols == 0) {
      sql_ += " DEFAULT VALUES";
    } else {
      sql_ += " (";
      for (size_t k = 0; k < ncols; ++k) {
        if (k) sql_ += ", ";
        sql_ += quote_identifier(cfg_.columns[insert_columns_[k]].name);
      }
      sql_ += ") VALUES ";
      size_t n = 0;
      for (size_t i = txn_done_; i < end; ++i) {
        RowBacklog::Row row = backlog_.row(i);
        sql_ += i == txn_done_ ? "(" : ", (";
        for (size_t k = 0; k < ncols; ++k) {
          sql_ += k ? ", $" : "$";
          append_uint(sql_, ++n);
          params_.push_back(row.c_str(k));
        }
        sql_ += ")";
      }
    }
    send(q, true);
  }

  // The answer to the query in flight is complete.
  void query_done() {
    Query q = query_;
    query_ = Query::kNone;
    copy_ = Copy::kNone;
    bool ok = error_state_.empty() && error_text_.empty();
    if (pq_->PQstatus(conn_) == CONNECTION_BAD && !(got_result_ && ok)) {
      // The connection broke.  When the server answered with an error (it
      // has an SQLSTATE; libpq's own errors have none), nothing was stored;
      // without an answer, whether a commit happened is unknown.  A
      // success is acted on below and the broken connection noticed next.
      // With a commit count, the outcome is read back in any case: a
      // server that ends the session (57P01) while a commit waits for a
      // synchronous standby has committed it locally all the same.
      bool answered = got_result_ && !error_state_.empty() && !(marks_on_ && db_marks_.counts_commits());
      query_ = answered ? Query::kNone : q;
      connection_lost(error_text_.empty() ? one_line(pq_->PQerrorMessage(conn_)) : error_text_);
      return;
    }
    switch (q) {
      case Query::kNone:
        return;
      case Query::kSession:
        if (!ok) {
          failed("session statement '" + cfg_.session_statements[session_next_] + "' failed: " + error_text_);
          return;
        }
        ++session_next_;
        break;
      case Query::kMarksRead:
        if (!ok) {
          if (error_state_ == "42P01" && cfg_.create_tables) {
            sql_ = marks_table_ddl();
            send(Query::kMarksSetup, false);
            return;
          }
          failed("cannot read the marks table " + marks_table_ + ": " + error_text_ +
                 (error_state_ == "42P01" ? " (create it: " + marks_table_ddl() + ", and grant SELECT, "
                                                "INSERT, UPDATE on it; or set marks-table(\"\"))"
                                          : ""));
          return;
        }
        marks_read();
        break;
      case Query::kMarksSetup:
        if (!ok) {
          failed("cannot create the marks table " + marks_table_ + ": " + error_text_);
          return;
        }
        send_marks_read();
        return;
      case Query::kCheck:
        if (!ok) {
          failed("cannot check table " + tables_[setup_table_].name + ": " + error_text_);
          return;
        }
        build_setup(tables_[setup_table_]);
        if (!sql_.empty()) {
          send(Query::kSetup, false);
          return;
        }
        tables_[setup_table_].ready = true;
        break;
      case Query::kSetup:
        if (!ok) {
          failed("cannot create or check table " + tables_[setup_table_].name + ": " + error_text_);
          return;
        }
        tables_[setup_table_].ready = true;
        break;
      case Query::kAutocommit:
        if (!ok) {
          if (schema_error(error_state_)) schema_changed();
          if (!row_error(error_state_)) {
            failed(error_text_);
            return;
          }
          isolate_left_ = txn_rows_;  // nothing was stored: each row alone
          break;
        }
        txn_committed();
        rows_done(txn_rows_, 0);
        recovered();
        break;
      case Query::kBegin:
        if (!ok) {
          failed(error_text_);
          return;
        }
        send_rows(Query::kInsert);
        return;
      case Query::kInsert:
        if (!ok) {
          // Roll back; then each row alone (a row's values were refused) or
          // the whole transaction later.
          isolate_next_ = row_error(error_state_);
          if (schema_error(error_state_)) schema_changed();
          last_error_ = error_text_;
          send_simple(Query::kRollback, "ROLLBACK");
          return;
        }
        txn_done_ += run_rows_;
        if (txn_done_ < txn_rows_) {
          send_rows(Query::kInsert);
          return;
        }
        sql_ = marks_sql_;
        if (!sql_.empty()) sql_ += "; ";
        sql_ += "COMMIT";
        send(Query::kCommit, false);
        return;
      case Query::kCommit:
        if (!ok) {
          // The server rolled back (e.g. a deferred constraint), or the
          // marks' upsert failed and COMMIT was not run: roll back (a
          // warning when nothing is open), then as a failed INSERT.
          isolate_next_ = row_error(error_state_);
          if (schema_error(error_state_)) schema_changed();
          last_error_ = error_text_;
          send_simple(Query::kRollback, "ROLLBACK");
          return;
        }
        txn_committed();
        rows_done(txn_rows_, 0);
        recovered();
        break;
      case Query::kRollback:
        if (isolate_next_) {
          isolate_left_ = txn_rows_;
        } else {
          failed(last_error_);
          return;
        }
        break;
      case Query::kSingle:
        if (ok) {
          txn_committed();
          rows_done(1, 0);
          recovered();
        } else if (row_error(error_state_)) {
          report_refused(backlog_.row(0), error_text_);
          rows_done(1, 1);
        } else {
          if (schema_error(error_state_)) schema_changed();
          failed(error_text_);
          return;
        }
        --isolate_left_;
        break;
    }
    next_query();
  }

  // ---- the marks table ----

  void send_marks_read() {
    sql_ = "SELECT stream, seq FROM " + marks_table_;
    read_marks_.clear();
    send(Query::kMarksRead, false);
  }

  // The marks table was read on a new connection (a row alone whose
  // commit went unanswered and happened is no longer to be isolated).
  void marks_read() {
    if (marks_loaded(read_marks_) && unsure_single_ && isolate_left_ > 0) --isolate_left_;
    marks_read_ = true;
  }

  // What a transaction of the n oldest rows writes to the marks table
  // (marks_sql_, "" for nothing): INSERT INTO marks (stream, seq) VALUES
  // ... ON CONFLICT ... DO UPDATE, with the marks of its rows and the next
  // commit count.  The keys need no escaping (SqlMarks::each_write()).
  void prepare_marks(size_t n) {
    marks_sql_.clear();
    if (!marks_on_) return;
    db_marks_.begin(backlog_, n);
    bool first = true;
    db_marks_.each_write([&](const std::string& key, uint64_t seq) {
      marks_sql_ += first ? "INSERT INTO " + marks_table_ + " AS m (stream, seq) VALUES ('" : ", ('";
      first = false;
      marks_sql_ += key;
      marks_sql_ += "', ";
      append_uint(marks_sql_, seq);
      marks_sql_ += ")";
    });
    if (!first) marks_sql_ += " ON CONFLICT (stream) DO UPDATE SET seq = GREATEST(m.seq, EXCLUDED.seq)";
  }

  void txn_committed() {
    if (marks_on_) db_marks_.committed();
  }

  // A table or column is missing (e.g. dropped): every table, and the
  // marks table, is checked again.
  void schema_changed() {
    forget_tables();
    marks_read_ = false;
  }

  // An error that is not a row's: the rows wait, tried again after a backoff.
  void failed(const std::string& why) {
    uint64_t delay = after_failure();
    failing_ = true;
    report(4, "PostgreSQL error: " + why + "; " + std::to_string(backlog_.size()) + " rows wait; retrying in " +
                  seconds_text(delay));
    retry_in(delay);
  }

  void recovered() {
    succeeded();
    if (failing_) {
      failing_ = false;
      report(5, "writing to PostgreSQL at " + where_ + " again");
    }
  }

  const LibPq* pq_ = nullptr;
  State state_ = State::kDisconnected;
  Query query_ = Query::kNone;
  PGconn* conn_ = nullptr;
  std::string where_;  // "host:port" for reports
  uv_poll_t* poll_ = nullptr;
  int poll_fd_ = -1;
  int poll_events_ = 0;
  size_t handles_ = 0;  // poll handles not closed yet
  bool want_write_ = false;
  uv_getaddrinfo_t* resolving_ = nullptr;
  std::vector<std::string> addresses_;
  uint64_t connect_started_ms_ = 0;
  bool dead_ = false;
  bool failing_ = false;

  size_t session_next_ = 0;  // session statements run on this connection
  uint32_t setup_table_ = 0;
  std::vector<std::pair<char, std::string>> check_rows_;  // kCheck's answer: ('c'|'i', name)
  size_t txn_rows_ = 0;  // rows of the transaction, from the oldest
  size_t txn_done_ = 0;  // of them, inserted
  size_t run_rows_ = 0;  // of the INSERT in flight
  size_t isolate_left_ = 0;  // rows to write one by one
  bool isolate_next_ = false;
  bool got_result_ = false;  // the server answered the query in flight
  std::string error_state_, error_text_, last_error_;

  Copy copy_ = Copy::kNone;
  std::string copy_data_;  // reused: the COPY's rows in text format
  size_t copy_sent_ = 0;   // of copy_data_, handed to libpq
  std::string sql_;                  // reused: the statement being sent
  bool marks_read_ = false;          // on this connection
  std::unordered_map<std::string, uint64_t> read_marks_;  // kMarksRead's answer
  std::string marks_sql_;            // reused: the transaction's upsert of the marks table (prepare_marks())
  // A commit left unanswered when the connection broke was of a row alone.
  bool unsure_single_ = false;
  std::vector<const char*> params_;  // reused: its parameter values
};

}  // namespace

std::unique_ptr<Destination> make_pgsql_writer(const SqlDestinationConfig& c) { return std::make_unique<PgsqlWriter>(c); }

}  // namespace logferry
