// sql() destination: every message becomes a row of a database table, as
// syslog-ng's sql() driver does, into SQLite (type(sqlite3)) or PostgreSQL
// (type(pgsql)).
//
// The parts, each in its own file:
//   sql_destination.{h,cc}  the config: options, checks, describe(), the driver
//   sql_backlog.h           rows rendered and waiting for their commit
//   sql_writer.{h,cc}       what both databases share: rendering rows, table
//                           names, transactions of batch-lines() rows, retry
//                           timing, delivery tracking, flow control, shutdown
//   sql_sqlite.cc           SQLite: synchronous on the output thread, WAL
//   sql_pgsql.cc            PostgreSQL: libpq's non-blocking API on libuv
//   clickhouse_*.{h,cc}     clickhouse(): the same rows into ClickHouse over
//                           HTTP (its own options, the same writer)
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "relay/disk_buffer.h"

namespace logferry {

struct SqlColumn {
  std::string name;  // an identifier; written quoted
  std::string type = "text";
  std::shared_ptr<const Template> value;  // null: the column's DEFAULT (values(default))
};

struct SqlDestinationConfig {
  enum class Type { kSqlite, kPgsql, kClickhouse } type = Type::kSqlite;
  std::string url;       // clickhouse: the HTTP interface, e.g. "http://127.0.0.1:8123"
  std::string host;      // pgsql; empty: libpq's default (the local socket)
  std::string port;      // pgsql; empty: libpq's default (5432)
  std::string username;  // pgsql: empty is libpq's default (the system user); clickhouse: empty sends none
  std::string password;
  std::string database;  // sqlite3: the file's path; pgsql, clickhouse: the database name
  std::shared_ptr<const Template> table;  // rendered per message, then sanitized
  std::vector<SqlColumn> columns;
  std::vector<std::string> indexes;             // column names
  std::vector<std::string> session_statements;  // run after every connect
  std::string create_statement_append;          // appended to CREATE TABLE
  bool has_null = false;                        // null() given
  std::string null_value;                       // a value rendering to this is NULL
  bool create_tables = true;                    // flags(dont-create-tables) clears it
  bool pgsql_copy = true;                       // pgsql: rows by COPY FROM STDIN, else by INSERT
  std::string marks_table = "logferry_marks";   // marks written with the rows (sql_marks.h); "": none
  size_t batch_lines = 100;          // rows per transaction at most
  int64_t batch_timeout_ms = 0;      // 0: commit at the end of every batch
  int64_t time_reopen = 60;          // the longest wait between attempts, seconds
  size_t max_backlog = 10000;        // log-fifo-size(): rows held before the sources wait
  RenderOptions render;
  std::shared_ptr<const TimeZone> zone;  // keeps render.time_zone alive
  int64_t shutdown_grace_ms = 5000;  // at shutdown, how long the rows waiting may take
  DiskBufferConfig buffer;           // disk-buffer(): rows kept on disk on their way to the database
};

// One line for `logferry check`, e.g. "sql() sqlite3 var/logs.db table messages".
std::string describe_sql_destination(const SqlDestinationConfig& c);

void register_sql_destination(DriverRegistry& registry);

// Reads what sql() and clickhouse() share: table(), columns() (a column
// without a type gets `default_type`), values(), null(), batch-lines(),
// batch-timeout(), time-reopen(), log-fifo-size(), disk-buffer() and the time options;
// `lower_columns` folds column names to lowercase.  False after an error.
bool read_sql_rows(OptionReader& r, const BuildContext& ctx, const Location& driver_loc, bool lower_columns,
                   const std::string& default_type, SqlDestinationConfig* c);
// The driver of a checked config; its type picks the writer.
std::unique_ptr<DestinationDriver> make_sql_driver(SqlDestinationConfig c);

}  // namespace logferry
