// sql() destination: its options, as syslog-ng's sql() driver reads them,
// and the driver that creates the running part for the database type.
#include "server/sql_destination.h"

#include <algorithm>

#include "core/text.h"
#include "server/sql_writer.h"

namespace logferry {

// sql(type(sqlite3))'s default batch-lines(), when neither it nor
// flush-lines() is given (see read_sql_rows()).
constexpr size_t kSqliteBatchLines = 1000;

std::string describe_sql_destination(const SqlDestinationConfig& c) {
  if (c.type == SqlDestinationConfig::Type::kClickhouse)
    return "clickhouse() " + c.url + " database " + c.database + " table " + c.table->source();
  std::string s = "sql() ";
  if (c.type == SqlDestinationConfig::Type::kSqlite) {
    s += "sqlite3 " + c.database;
  } else {
    s += "pgsql ";
    if (!c.username.empty()) s += c.username + "@";
    s += (c.host.empty() ? std::string("local") : c.host.find(':') != std::string::npos ? "[" + c.host + "]" : c.host);
    if (!c.port.empty()) s += ":" + c.port;
    s += "/" + c.database;
  }
  s += " table " + c.table->source();
  return s;
}

namespace {

class SqlDestinationDriver : public DestinationDriver {
 public:
  explicit SqlDestinationDriver(SqlDestinationConfig c) : cfg_(std::move(c)) {}
  std::string describe() const override { return describe_sql_destination(cfg_) + describe_disk_buffer(cfg_.buffer); }
  std::unique_ptr<Destination> create() const override {
    return make_buffered_destination(cfg_.buffer, describe_sql_destination(cfg_), create_writer());
  }

 private:
  std::unique_ptr<Destination> create_writer() const {
    switch (cfg_.type) {
      case SqlDestinationConfig::Type::kSqlite:
        return make_sqlite_writer(cfg_);
      case SqlDestinationConfig::Type::kPgsql:
        return make_pgsql_writer(cfg_);
      case SqlDestinationConfig::Type::kClickhouse:
        break;
    }
    return make_clickhouse_writer(cfg_);
  }

  SqlDestinationConfig cfg_;
};

std::shared_ptr<const Template> compile_template(OptionReader& r, const std::string& text, const Location& loc,
                                                 const std::string& what) {
  std::string err;
  auto t = Template::compile(text, &err);
  if (!t) {
    r.diag()->error(loc, "invalid template in " + what + " of " + r.what() + ": " + err,
                    "a template such as \"${HOST}\" or \"messages_${R_YEAR}${R_MONTH}\"; see Templates in docs/configuration.md");
    return nullptr;
  }
  return std::shared_ptr<const Template>(std::move(t));
}

bool is_identifier(const std::string& s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// columns("datetime" "host varchar(32)" ...): a name, then optionally its
// SQL type (default text).
bool read_columns(OptionReader& r, const ConfNode* opt, bool pgsql, const std::string& default_type,
                  std::vector<SqlColumn>* out) {
  bool ok = true;
  for (const auto& a : opt->args) {
    if (!a.is_value()) {
      r.diag()->error(a.loc, "expected column names in columns() of " + r.what() + ", found option " + a.name + "()",
                      "write columns(\"date\" \"host varchar(64)\" ...)");
      ok = false;
      continue;
    }
    std::string spec = trim(a.value);
    size_t sp = spec.find_first_of(" \t");
    SqlColumn c;
    c.name = spec.substr(0, sp);
    c.type = sp != std::string::npos ? trim(spec.substr(sp)) : default_type;
    if (!is_identifier(c.name)) {
      r.diag()->error(a.loc, "invalid column name '" + c.name + "' in columns() of " + r.what(),
                      "a column is a name of letters, digits and '_', then optionally its type: \"host varchar(64)\"");
      ok = false;
      continue;
    }
    if (c.type.find(';') != std::string::npos || c.type.find('\0') != std::string::npos) {
      r.diag()->error(a.loc, "invalid column type '" + c.type + "' in columns() of " + r.what(),
                      "a type such as text, varchar(255) or \"timestamp with time zone\"");
      ok = false;
      continue;
    }
    if (pgsql) c.name = lower(c.name);
    for (const auto& prev : *out) {
      if (lower(prev.name) == lower(c.name)) {
        r.diag()->error(a.loc, "column '" + c.name + "' named twice in columns() of " + r.what(),
                        pgsql ? "name each column once (PostgreSQL folds names to lowercase)" : "name each column once");
        ok = false;
      }
    }
    out->push_back(std::move(c));
  }
  if (out->empty() && ok) {
    r.diag()->error(opt->loc, "columns() of " + r.what() + " is empty", "name at least one column");
    ok = false;
  }
  return ok;
}

}  // namespace

// The options of the rows, which sql() and clickhouse() share.
bool read_sql_rows(OptionReader& r, const BuildContext& ctx, const Location& driver_loc, bool lower_columns,
                   const std::string& default_type, SqlDestinationConfig* out) {
  SqlDestinationConfig& c = *out;
  const GlobalOptions& g = ctx.options;
  c.time_reopen = g.time_reopen;
  c.max_backlog = static_cast<size_t>(g.log_fifo_size);
  c.batch_lines = static_cast<size_t>(std::max<int64_t>(g.flush_lines, 1));
  c.render.frac_digits = g.frac_digits;
  c.zone = g.send_time_zone;
  c.render.time_zone = g.send_time_zone.get();
  size_t errors_before = r.diag()->errors().size();

  std::string table = "messages";
  Location table_loc = driver_loc;
  if (r.string("table", &table)) table_loc = r.last_location();
  c.table = compile_template(r, table, table_loc, "table()");
  if (!c.table) return false;

  // columns() and values(): syslog-ng's defaults when neither is given.
  const ConfNode* columns = r.child("columns");
  const ConfNode* values = r.child("values");
  if (!columns && !values) {
    const char* names[] = {"date", "facility", "level", "host", "program", "pid", "message"};
    const char* templates[] = {"${R_YEAR}-${R_MONTH}-${R_DAY} ${R_HOUR}:${R_MIN}:${R_SEC}", "$FACILITY", "$LEVEL",
                               "$HOST", "$PROGRAM", "$PID", "$MSGONLY"};
    for (size_t i = 0; i < 7; ++i) {
      SqlColumn col;
      col.name = names[i];
      col.type = default_type;
      std::string err;
      col.value = std::shared_ptr<const Template>(Template::compile(templates[i], &err));
      c.columns.push_back(std::move(col));
    }
  } else if (!columns || !values) {
    r.diag()->error((columns ? columns : values)->loc, r.what() + " needs both columns() and values()",
                    "one value per column: columns(\"host\" \"message\") values(\"${HOST}\" \"${MSGONLY}\")");
    return false;
  } else {
    if (!read_columns(r, columns, lower_columns, default_type, &c.columns)) return false;
    std::vector<const ConfNode*> vals;
    for (const auto& a : values->args) {
      if (!a.is_value()) {
        r.diag()->error(a.loc, "expected templates in values() of " + r.what() + ", found option " + a.name + "()",
                        "write values(\"${HOST}\" \"${MSGONLY}\" ...)");
        return false;
      }
      vals.push_back(&a);
    }
    if (vals.size() != c.columns.size()) {
      r.diag()->error(vals.size() > c.columns.size() ? vals[c.columns.size()]->loc : values->loc,
                      "values() of " + r.what() + " has " + std::to_string(vals.size()) + " values for " +
                          std::to_string(c.columns.size()) + " columns",
                      "give one value per column, in the order of columns()");
      return false;
    }
    for (size_t i = 0; i < vals.size(); ++i) {
      if (!vals[i]->quoted && vals[i]->value == "default") continue;  // the column's DEFAULT
      c.columns[i].value = compile_template(r, vals[i]->value, vals[i]->loc, "values()");
      if (!c.columns[i].value) return false;
    }
  }

  if (r.string("null", &c.null_value)) c.has_null = true;
  int64_t n;
  bool batch_given = false;
  for (const char* opt : {"flush-lines", "batch-lines"})
    if (r.integer(opt, &n, 1, 100000)) {
      c.batch_lines = static_cast<size_t>(n);
      batch_given = true;
    }
  for (const char* opt : {"flush-timeout", "batch-timeout"})
    if (r.integer(opt, &n, 0, 3600000)) c.batch_timeout_ms = n;
  r.integer("time-reopen", &c.time_reopen, 1, 86400);
  if (r.integer("log-fifo-size", &n, 1, 100000000)) c.max_backlog = static_cast<size_t>(n);
  // An SQLite commit waits for the disk (synchronous=FULL), so fewer, larger
  // transactions write more rows per second.  With batch-timeout(0) (the
  // default) a transaction takes the rows already waiting, so a larger limit
  // delays nothing; half the backlog at most, so that rows keep coming in
  // while one commits.
  if (c.type == SqlDestinationConfig::Type::kSqlite && !batch_given)
    c.batch_lines = std::max(c.batch_lines, std::min(kSqliteBatchLines, c.max_backlog / 2));
  // The backlog holds at least a transaction.
  c.max_backlog = std::max(c.max_backlog, c.batch_lines);
  read_render_options(r, &c.render, &c.zone);
  read_disk_buffer(r, &c.buffer);
  return r.diag()->errors().size() == errors_before;
}

namespace {

}  // namespace

std::unique_ptr<DestinationDriver> make_sql_driver(SqlDestinationConfig c) {
  return std::make_unique<SqlDestinationDriver>(std::move(c));
}

namespace {

// Every option sql() knows, read or not.
const char* const kSqlOptions[] = {
    "type", "host", "port", "username", "password", "database", "table", "columns", "values", "indexes", "null",
    "flush-lines", "batch-lines", "flush-timeout", "batch-timeout", "session-statements", "create-statement-append",
    "pgsql-copy", "marks-table", "time-reopen", "log-fifo-size", "flags", "frac-digits", "time-zone", "send-time-zone", "local-time-zone",
    "retries", "dbd-option", "dbi-driver-dir", "quote-char", "ignore-tns-config", "throttle", "disk-buffer",
    "persist-name", "template-escape", "ts-format", "on-error", "workers", "batch-bytes", "encoding"};

std::unique_ptr<DestinationDriver> read_sql(OptionReader& r, const BuildContext& ctx);

// After the first error the options not read yet are not reported as
// unknown (only the error that stopped reading is).
std::unique_ptr<DestinationDriver> build_sql(OptionReader& r, const BuildContext& ctx) {
  auto d = read_sql(r, ctx);
  if (!d)
    for (const char* name : kSqlOptions) r.child(name);
  return d;
}

std::unique_ptr<DestinationDriver> read_sql(OptionReader& r, const BuildContext& ctx) {
  SqlDestinationConfig c;
  size_t errors_before = r.diag()->errors().size();
  const Location driver_loc = r.last_location();  // nothing read yet: where sql( is

  std::string type;
  bool has_type = r.choice("type", {"sqlite3", "sqlite", "pgsql", "postgresql", "mysql", "oracle", "freetds", "mssql"}, &type);
  if (!has_type) {
    if (r.diag()->errors().size() == errors_before)
      r.diag()->error(driver_loc, "sql() needs type()", "write type(sqlite3) or type(pgsql)");
    return nullptr;
  }
  if (type == "sqlite3" || type == "sqlite") {
    c.type = SqlDestinationConfig::Type::kSqlite;
  } else if (type == "pgsql" || type == "postgresql") {
    c.type = SqlDestinationConfig::Type::kPgsql;
  } else {
    r.diag()->error(r.last_location(), "type(" + type + ") of " + r.what() + " is not supported",
                    "logferry writes to type(sqlite3) and type(pgsql)");
    return nullptr;
  }
  bool pgsql = c.type == SqlDestinationConfig::Type::kPgsql;

  r.string("host", &c.host);
  if (r.string("port", &c.port)) {
    int64_t port;
    if (!parse_int64(c.port, &port) || port < 1 || port > 65535) {
      r.diag()->error(r.last_location(), "expected a port from 1 to 65535 in port() of " + r.what() + ", found '" + c.port + "'",
                      "e.g. port(5432)");
      return nullptr;
    }
  }
  r.string("username", &c.username);
  r.string("password", &c.password);
  if (!r.string("database", &c.database)) {
    if (!pgsql) {
      r.diag()->error(driver_loc, "sql(type(sqlite3)) needs database(), the path of the database file",
                      "e.g. database(\"/var/log/logs.db\")");
      return nullptr;
    }
    c.database = "logs";  // syslog-ng's default
  }
  if (c.database.empty()) {
    r.diag()->error(r.last_location(), "database() of " + r.what() + " is empty",
                    pgsql ? "name the database, e.g. database(\"logs\")" : "give the file's path, e.g. database(\"/var/log/logs.db\")");
    return nullptr;
  }
  if (!pgsql) {
    for (const char* opt : {"host", "port", "username", "password"})
      if (const ConfNode* n = r.child(opt))
        r.diag()->warning(n->loc, std::string(opt) + "() has no meaning for type(sqlite3); database() is the file's path");
  }

  if (!read_sql_rows(r, ctx, driver_loc, pgsql, "text", &c)) return nullptr;

  if (const ConfNode* idx = r.child("indexes")) {
    for (const auto& a : idx->args) {
      std::string name = a.is_value() ? trim(a.value) : a.name;
      if (pgsql) name = lower(name);
      bool known = std::any_of(c.columns.begin(), c.columns.end(), [&](const SqlColumn& col) { return col.name == name; });
      if (!a.is_value() || !known) {
        std::vector<std::string> names;
        for (const auto& col : c.columns) names.push_back(col.name);
        std::string near = nearest_word(name, names);
        r.diag()->error(a.loc, "indexes() of " + r.what() + " names '" + name + "', which is not in columns()",
                        near.empty() ? "index columns of columns()" : "did you mean '" + near + "'?");
        return nullptr;
      }
      c.indexes.push_back(name);
    }
  }

  r.strings("session-statements", &c.session_statements);
  r.string("create-statement-append", &c.create_statement_append);
  r.string("marks-table", &c.marks_table);
  if (pgsql) {
    r.yesno("pgsql-copy", &c.pgsql_copy);
  } else if (const ConfNode* n = r.child("pgsql-copy")) {
    r.diag()->warning(n->loc, "pgsql-copy() has no meaning for type(sqlite3)");
  }
  std::vector<std::string> flags;
  r.flags("flags", {"explicit-commits", "dont-create-tables"}, &flags);
  if (std::find(flags.begin(), flags.end(), "dont-create-tables") != flags.end()) c.create_tables = false;
  for (const char* name : {"local-time-zone", "retries", "dbd-option", "dbi-driver-dir", "quote-char",
                           "ignore-tns-config", "throttle", "persist-name", "template-escape",
                           "ts-format", "on-error", "workers", "batch-bytes", "encoding"}) {
    r.accepted_not_implemented(name);
  }
  if (r.diag()->errors().size() != errors_before) return nullptr;
  return make_sql_driver(std::move(c));
}

}  // namespace

void register_sql_destination(DriverRegistry& registry) { registry.add_destination("sql", build_sql); }

}  // namespace logferry
