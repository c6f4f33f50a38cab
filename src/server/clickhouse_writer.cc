// clickhouse(): rows into ClickHouse through its HTTP interface, with
// libcurl's multi interface on the output thread's libuv loop: libcurl
// tells which sockets to watch (CURLMOPT_SOCKETFUNCTION, one uv_poll_t per
// socket) and when to come back (CURLMOPT_TIMERFUNCTION, a uv_timer_t), and
// every event is handed back with curl_multi_socket_action.  The loop never
// waits for the server.  One request is in flight at a time, on a
// connection libcurl keeps open between requests.
//
// A batch is one POST of `INSERT INTO db.table (cols) FORMAT JSONEachRow`
// whose body has one JSON object per row, every value a JSON string (the
// server converts it to the column's type).  Values are written byte for
// byte: '"', '\' and control bytes are escaped, every other byte (invalid
// UTF-8 included) is passed as it is, and ClickHouse's String keeps it
// as it is.  A NULL value (null()) leaves its column out of the row: the
// column's DEFAULT.  HTTP 200 means the rows are stored: then, and only
// then, they count as taken.  A batch's rows go into one table (a run of
// rows for the same table), so that an insert is all or nothing.
//
// An answer that says a row could not be read (a parse error "at row N")
// makes logferry split the batch: the rows before the bad one, then the bad
// one alone, which is dropped (reported, counted as an error) when it fails
// alone; batches grow again (doubling) as they succeed.  Any other error, or
// no answer, is retried after a backoff (1 s, 2 s, ... up to time-reopen()),
// the rows waiting and the sources held by flow control once the backlog
// is full.  When the connection breaks after the whole insert was sent
// and before the answer came, logferry cannot know whether the server
// stored it: those rows are sent again and may be stored twice (reported).
//
// Tables are made on first use (CREATE DATABASE IF NOT EXISTS, then
// CREATE TABLE IF NOT EXISTS ... ENGINE = MergeTree() ORDER BY the first
// column), and again after the server said the table or database is
// missing.
//
// libcurl is loaded when a clickhouse destination starts (shared_library.h).
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include <algorithm>
#include <cstring>

#include "core/text.h"
#include "server/clickhouse_answer.h"
#include "core/shared_library.h"
#include "server/sql_writer.h"

namespace logferry {

namespace {

constexpr long kConnectTimeoutMs = 10000;
// A request taking longer than this is given up (and retried): the server
// hangs or the network dropped packets without a reset.
constexpr long kRequestTimeoutMs = 120000;
// An error's answer is kept up to this size for the report.
constexpr size_t kMaxAnswer = 4096;

#define LF_LIBCURL_FUNCTIONS(X) \
  X(curl_global_init) \
  X(curl_easy_init) \
  X(curl_easy_cleanup) \
  X(curl_easy_setopt) \
  X(curl_easy_getinfo) \
  X(curl_easy_strerror) \
  X(curl_easy_escape) \
  X(curl_free) \
  X(curl_slist_append) \
  X(curl_slist_free_all) \
  X(curl_multi_init) \
  X(curl_multi_cleanup) \
  X(curl_multi_setopt) \
  X(curl_multi_add_handle) \
  X(curl_multi_remove_handle) \
  X(curl_multi_socket_action) \
  X(curl_multi_info_read) \
  X(curl_multi_assign)

struct LibCurl {
#define LF_LIBCURL_POINTER(name) decltype(&::name) name = nullptr;
  LF_LIBCURL_FUNCTIONS(LF_LIBCURL_POINTER)
#undef LF_LIBCURL_POINTER
};

// The loaded and initialized library, or null with *error set (once per
// process).
const LibCurl* load_libcurl(std::string* error) {
  static SharedLibrary so;
  static std::string failure;
  static const LibCurl* lib = []() -> const LibCurl* {
    static LibCurl l;
    if (!so.open("libcurl.so.4", "libcurl4")) return nullptr;
#define LF_LIBCURL_LOAD(name) \
    if (!so.function(#name, &l.name)) return nullptr;
    LF_LIBCURL_FUNCTIONS(LF_LIBCURL_LOAD)
#undef LF_LIBCURL_LOAD
    if (l.curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      failure = "libcurl's global initialization failed";
      return nullptr;
    }
    return &l;
  }();
  if (!lib) *error = failure.empty() ? so.failure() : failure;
  return lib;
}

class ClickhouseWriter : public SqlWriter {
 public:
  explicit ClickhouseWriter(const SqlDestinationConfig& c) : SqlWriter(c) {}

  ~ClickhouseWriter() override {
    dead_ = true;
    stop_curl();
    while (loop_ && handles_ > 0) uv_run(loop_, UV_RUN_NOWAIT);
  }

 protected:
  bool start(std::string* error) override {
    curl_ = load_libcurl(error);
    if (!curl_) return false;
    multi_ = curl_->curl_multi_init();
    easy_ = curl_->curl_easy_init();
    if (!multi_ || !easy_) {
      *error = "cannot set up libcurl (out of memory)";
      return false;
    }
    uv_timer_init(loop_, &curl_timer_);
    curl_timer_.data = this;
    ++handles_;
    timer_open_ = true;
    curl_->curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &ClickhouseWriter::on_curl_socket);
    curl_->curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_->curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &ClickhouseWriter::on_curl_timer);
    curl_->curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    // No "Expect: 100-continue" round trip before a large body.
    headers_ = curl_->curl_slist_append(nullptr, "Expect:");
    CURL* e = easy_;
    curl_->curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers_);
    curl_->curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_->curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_->curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, kConnectTimeoutMs);
    curl_->curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, kRequestTimeoutMs);
    curl_->curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &ClickhouseWriter::on_answer);
    curl_->curl_easy_setopt(e, CURLOPT_WRITEDATA, this);
    curl_->curl_easy_setopt(e, CURLOPT_POST, 1L);
    if (!cfg_.username.empty()) {
      // HTTP basic authentication: every ClickHouse version takes it.
      curl_->curl_easy_setopt(e, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
      curl_->curl_easy_setopt(e, CURLOPT_USERNAME, cfg_.username.c_str());
      curl_->curl_easy_setopt(e, CURLOPT_PASSWORD, cfg_.password.c_str());
    }
    database_ = quote_identifier(cfg_.database);
    pump();
    return true;
  }

  void pump() override {
    if (dead_ || stopped() || request_ != Request::kNone) return;
    if (!retry_due()) {
      wake_in(retry_wait_ms());
      return;
    }
    next_request();
  }

  bool busy() const override { return request_ != Request::kNone; }

  void stop_backend() override {
    dead_ = true;
    if (request_ == Request::kInsert)
      report(4, "shutting down while an insert of " + std::to_string(batch_rows_) +
                    " rows was unanswered; they count as not written and may be stored twice");
    stop_curl();
  }

  void drop_table_state() override { database_ready_ = false; }

 private:
  enum class Request { kNone, kCreateDatabase, kCreateTable, kInsert };

  // A socket libcurl asked to be watched.
  struct SocketWatch {
    uv_poll_t poll;
    curl_socket_t fd;
    ClickhouseWriter* self;
  };

  // ---- libcurl on libuv ----

  static int on_curl_socket(CURL*, curl_socket_t fd, int what, void* userp, void* socketp) {
    auto* self = static_cast<ClickhouseWriter*>(userp);
    auto* w = static_cast<SocketWatch*>(socketp);
    if (what == CURL_POLL_REMOVE) {
      if (w) self->unwatch(w);
      self->curl_->curl_multi_assign(self->multi_, fd, nullptr);
      return 0;
    }
    if (!w) {
      w = new SocketWatch{};
      if (uv_poll_init_socket(self->loop_, &w->poll, fd) != 0) {
        delete w;
        return -1;  // libcurl fails the transfer
      }
      w->fd = fd;
      w->self = self;
      w->poll.data = w;
      ++self->handles_;
      self->watches_.push_back(w);
      self->curl_->curl_multi_assign(self->multi_, fd, w);
    }
    int events = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
    uv_poll_start(&w->poll, events, [](uv_poll_t* p, int status, int ev) {
      auto* sw = static_cast<SocketWatch*>(p->data);
      int flags = status < 0 ? CURL_CSELECT_ERR
                             : (ev & UV_READABLE ? CURL_CSELECT_IN : 0) | (ev & UV_WRITABLE ? CURL_CSELECT_OUT : 0);
      sw->self->socket_action(sw->fd, flags);
    });
    return 0;
  }

  static int on_curl_timer(CURLM*, long timeout_ms, void* userp) {
    auto* self = static_cast<ClickhouseWriter*>(userp);
    if (timeout_ms < 0) {
      uv_timer_stop(&self->curl_timer_);
      return 0;
    }
    // Never from inside this callback: libcurl is in the middle of a call.
    uv_timer_start(&self->curl_timer_, [](uv_timer_t* t) {
      static_cast<ClickhouseWriter*>(t->data)->socket_action(CURL_SOCKET_TIMEOUT, 0);
    }, static_cast<uint64_t>(timeout_ms), 0);
    return 0;
  }

  void socket_action(curl_socket_t fd, int flags) {
    if (!multi_) return;
    int running = 0;
    curl_->curl_multi_socket_action(multi_, fd, flags, &running);
    int left = 0;
    while (CURLMsg* m = multi_ ? curl_->curl_multi_info_read(multi_, &left) : nullptr) {
      if (m->msg != CURLMSG_DONE) continue;
      CURLcode result = m->data.result;
      curl_->curl_multi_remove_handle(multi_, m->easy_handle);
      request_done(result);
    }
  }

  void unwatch(SocketWatch* w) {
    uv_poll_stop(&w->poll);
    watches_.erase(std::find(watches_.begin(), watches_.end(), w));
    uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), [](uv_handle_t* h) {
      auto* sw = static_cast<SocketWatch*>(h->data);
      --sw->self->handles_;
      delete sw;
    });
  }

  // Ends libcurl and closes every handle (they finish closing on the loop).
  void stop_curl() {
    if (multi_ && easy_ && request_ != Request::kNone) curl_->curl_multi_remove_handle(multi_, easy_);
    request_ = Request::kNone;
    if (easy_) curl_->curl_easy_cleanup(easy_);
    easy_ = nullptr;
    if (multi_) curl_->curl_multi_cleanup(multi_);  // may still ask to unwatch sockets
    multi_ = nullptr;
    if (headers_) curl_->curl_slist_free_all(headers_);
    headers_ = nullptr;
    while (!watches_.empty()) unwatch(watches_.back());
    if (timer_open_) {
      timer_open_ = false;
      uv_close(reinterpret_cast<uv_handle_t*>(&curl_timer_),
               [](uv_handle_t* h) { --static_cast<ClickhouseWriter*>(h->data)->handles_; });
    }
  }

  static size_t on_answer(char* data, size_t size, size_t n, void* userp) {
    auto* self = static_cast<ClickhouseWriter*>(userp);
    size_t len = size * n;
    if (self->answer_.size() < kMaxAnswer)
      self->answer_.append(data, std::min(len, kMaxAnswer - self->answer_.size()));
    return len;
  }

  // ---- requests ----

  // POSTs `query` with body_ (empty for a statement without data).
  void send(Request r, const std::string& query) {
    char* q = curl_->curl_easy_escape(easy_, query.data(), static_cast<int>(query.size()));
    if (!q) {
      failed("cannot build the request (out of memory)");
      return;
    }
    // wait_end_of_query: the answer (its status above all) is sent once the
    // query ended, so that an error can never follow a "200 OK" already sent.
    url_ = cfg_.url;
    url_ += "/?wait_end_of_query=1&query=";
    url_ += q;
    curl_->curl_free(q);
    answer_.clear();
    curl_->curl_easy_setopt(easy_, CURLOPT_URL, url_.c_str());
    curl_->curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body_.size()));
    curl_->curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, body_.data());
    if (curl_->curl_multi_add_handle(multi_, easy_) != CURLM_OK) {
      failed("cannot start a request");
      return;
    }
    request_ = r;
  }

  void next_request() {
    if (dead_ || request_ != Request::kNone) return;
    size_t n = isolate_left_ > 0 ? std::min(isolate_left_, isolate_limit_) : rows_for_transaction();
    if (n == 0) return;
    // One table per insert: the run of rows for the first row's table.
    uint32_t table = backlog_.row(0).table;
    size_t run = 1;
    while (run < n && backlog_.row(run).table == table) ++run;
    SqlTable& t = tables_[table];
    if (!t.ready && !cfg_.create_tables) t.ready = true;
    body_.clear();
    if (!t.ready) {
      if (!database_ready_) {
        send(Request::kCreateDatabase, "CREATE DATABASE IF NOT EXISTS " + database_);
        return;
      }
      setup_table_ = table;
      std::string q = "CREATE TABLE IF NOT EXISTS " + database_ + "." + t.quoted + " (";
      for (size_t i = 0; i < cfg_.columns.size(); ++i)
        q += (i ? ", " : "") + quote_identifier(cfg_.columns[i].name) + " " + cfg_.columns[i].type;
      q += ") ENGINE = MergeTree() ORDER BY " + quote_identifier(cfg_.columns[0].name);
      send(Request::kCreateTable, q);
      return;
    }
    batch_rows_ = run;
    build_body(run);
    query_.assign("INSERT INTO ").append(database_).append(".").append(t.quoted).append(" (");
    for (size_t k = 0; k < insert_columns_.size(); ++k)
      query_.append(k ? ", " : "").append(quote_identifier(cfg_.columns[insert_columns_[k]].name));
    query_ += ") FORMAT JSONEachRow";
    send(Request::kInsert, query_);
  }

  // body_: the n oldest rows, one JSON object a line.
  void build_body(size_t n) {
    for (size_t i = 0; i < n; ++i) {
      RowBacklog::Row row = backlog_.row(i);
      body_.push_back('{');
      bool first = true;
      for (size_t k = 0; k < insert_columns_.size(); ++k) {
        if (row.values[k].null()) continue;  // the column's DEFAULT
        if (!first) body_.push_back(',');
        first = false;
        body_.push_back('"');
        body_ += cfg_.columns[insert_columns_[k]].name;  // a plain name (checked)
        body_ += "\":\"";
        append_json_escaped(body_, row.value(k), true);  // byte for byte
        body_.push_back('"');
      }
      body_ += "}\n";
    }
  }

  void request_done(CURLcode result) {
    Request r = request_;
    request_ = Request::kNone;
    if (dead_) return;
    // libcurl keeps the connection after an answer; a request on a kept
    // connection that dies is sent again on a new one, silently, and what
    // is reported is that attempt's (e.g. "Couldn't connect", 0 bytes
    // sent) although the first may have delivered the whole insert.
    bool on_kept_connection = connection_kept_;
    connection_kept_ = result == CURLE_OK;
    if (result != CURLE_OK) {
      curl_off_t sent = 0;
      curl_->curl_easy_getinfo(easy_, CURLINFO_SIZE_UPLOAD_T, &sent);
      bool unknown = r == Request::kInsert && (static_cast<size_t>(sent) == body_.size() || on_kept_connection);
      std::string why = curl_->curl_easy_strerror(result);
      if (unknown)
        why += "; the server did not answer the insert of the last " + std::to_string(batch_rows_) +
               " rows, which are written again and may be stored twice";
      failed(why);
      return;
    }
    long status = 0;
    curl_->curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
    int code = clickhouse_error_code(answer_);
    if (status == 200 && code < 0) {
      succeeded_request(r);
    } else {
      std::string why = clickhouse_answer_text(answer_, status);
      if (clickhouse_schema_error(code)) {
        forget_tables();
        database_ready_ = false;
      }
      if (r == Request::kInsert && clickhouse_row_error(code, answer_)) {
        split_batch(why);
      } else {
        failed(why);
        return;
      }
    }
    next_request();
  }

  void succeeded_request(Request r) {
    switch (r) {
      case Request::kNone:
        return;
      case Request::kCreateDatabase:
        database_ready_ = true;
        return;
      case Request::kCreateTable:
        tables_[setup_table_].ready = true;
        return;
      case Request::kInsert:
        if (isolate_left_ > 0) {
          isolate_left_ -= std::min(isolate_left_, batch_rows_);
          isolate_limit_ = std::min(isolate_limit_ * 2, cfg_.batch_lines);
        }
        rows_done(batch_rows_, 0);
        recovered();
        return;
    }
  }

  // The server could not read a row of the insert (nothing of it was
  // stored): a row alone is dropped; otherwise the rows before the bad one
  // (or half of them, when the answer does not say which) go first.
  void split_batch(const std::string& why) {
    size_t n = batch_rows_;
    if (n == 1) {
      report_refused(backlog_.row(0), why);
      rows_done(1, 1);
      if (isolate_left_ > 0) --isolate_left_;
      return;
    }
    if (isolate_left_ == 0) isolate_left_ = n;
    size_t at = clickhouse_bad_row(answer_);
    isolate_limit_ = at > 1 && at <= n ? at - 1 : at == 1 ? 1 : (n + 1) / 2;
  }

  // An error that is not a row's: the rows wait, tried again after a backoff.
  void failed(const std::string& why) {
    uint64_t delay = after_failure();
    failing_ = true;
    report(4, "ClickHouse at " + cfg_.url + ": " + why + "; " + std::to_string(backlog_.size()) +
                  " rows wait; retrying in " + seconds_text(delay));
    retry_in(delay);
  }

  void recovered() {
    succeeded();
    if (failing_) {
      failing_ = false;
      report(5, "writing to ClickHouse at " + cfg_.url + " again");
    }
  }

  const LibCurl* curl_ = nullptr;
  CURLM* multi_ = nullptr;
  CURL* easy_ = nullptr;
  curl_slist* headers_ = nullptr;
  uv_timer_t curl_timer_{};
  bool timer_open_ = false;
  std::vector<SocketWatch*> watches_;
  size_t handles_ = 0;  // our uv handles not closed yet
  bool dead_ = false;
  bool connection_kept_ = false;  // the last request was answered: libcurl kept its connection
  bool failing_ = false;

  Request request_ = Request::kNone;
  std::string database_;  // quoted
  bool database_ready_ = false;
  uint32_t setup_table_ = 0;
  size_t batch_rows_ = 0;     // rows of the insert in flight, from the oldest
  size_t isolate_left_ = 0;   // rows to write in smaller inserts, after a row error
  size_t isolate_limit_ = 1;  // the largest of those inserts
  std::string query_, url_, body_, answer_;  // reused
};

}  // namespace

int clickhouse_error_code(const std::string& answer) {
  size_t p = answer.find("Code: ");
  if (p == std::string::npos || p > 64) return -1;
  int code = 0;
  size_t i = p + 6, digits = 0;
  for (; i < answer.size() && answer[i] >= '0' && answer[i] <= '9' && digits < 6; ++i, ++digits)
    code = code * 10 + (answer[i] - '0');
  return digits ? code : -1;
}

size_t clickhouse_bad_row(const std::string& answer) {
  size_t p = answer.rfind("(at row ");
  if (p == std::string::npos) return 0;
  size_t n = 0;
  for (size_t i = p + 8; i < answer.size() && answer[i] >= '0' && answer[i] <= '9' && n < 100000000; ++i)
    n = n * 10 + static_cast<size_t>(answer[i] - '0');
  return n;
}

bool clickhouse_row_error(int code, const std::string& answer) {
  // CANNOT_PARSE_TEXT, _ESCAPE_SEQUENCE, _QUOTED_STRING, _INPUT_ASSERTION_FAILED,
  // ATTEMPT_TO_READ_AFTER_EOF, CANNOT_READ_ALL_DATA, CANNOT_PARSE_DATE, _DATETIME,
  // ARGUMENT_OUT_OF_BOUND, CANNOT_CONVERT_TYPE, CANNOT_PARSE_NUMBER,
  // INCORRECT_DATA, TOO_LARGE_ARRAY_SIZE, CANNOT_READ_ARRAY_FROM_TEXT,
  // TOO_LARGE_STRING_SIZE, VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE,
  // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN, CANNOT_PARSE_UUID, DECIMAL_OVERFLOW,
  // CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING, CANNOT_PARSE_BOOL,
  // UNEXPECTED_DATA_AFTER_PARSED_VALUE, CANNOT_PARSE_IPV4, _IPV6.
  // (TYPE_MISMATCH is left out: it may be the table's, not a row's.)
  static const int kRowCodes[] = {6,   25,  26,  27,  32,  33,  38,  41,  69,  70,  72,  117, 128,
                                  130, 131, 321, 349, 376, 407, 441, 467, 632, 675, 676};
  if (std::find(std::begin(kRowCodes), std::end(kRowCodes), code) != std::end(kRowCodes)) return true;
  return clickhouse_bad_row(answer) > 0;
}

bool clickhouse_schema_error(int code) { return code == 60 || code == 81 || code == 16; }

std::string clickhouse_answer_text(const std::string& answer, long status) {
  std::string s = answer.substr(0, answer.find('\n'));
  size_t what = s.find(", e.what() = ");
  if (what != std::string::npos) s.resize(what);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r' || s.back() == ',')) s.pop_back();
  if (s.size() > 300) s = s.substr(0, 300) + "...";
  // It may quote a row's bytes: only printable ASCII goes into the report.
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  std::string out = "HTTP " + std::to_string(status);
  if (!s.empty()) out += ": " + s;
  return out;
}

std::unique_ptr<Destination> make_clickhouse_writer(const SqlDestinationConfig& c) {
  return std::make_unique<ClickhouseWriter>(c);
}

}  // namespace logferry
