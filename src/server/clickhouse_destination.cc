// clickhouse() destination: its options; the rows' options are sql()'s.
#include "server/clickhouse_destination.h"

#include <algorithm>

#include "server/sql_destination.h"

namespace logferry {

namespace {

// ClickHouse names are case-sensitive and written quoted; logferry takes
// plain names only, so that no quoting rule of any server version matters.
bool is_plain_name(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// Every option clickhouse() knows, read or not.
const char* const kClickhouseOptions[] = {
    "url", "user", "username", "password", "database", "table", "columns", "values", "null", "flush-lines",
    "batch-lines", "flush-timeout", "batch-timeout", "time-reopen", "log-fifo-size", "flags", "frac-digits",
    "time-zone", "send-time-zone", "disk-buffer", "persist-name", "throttle", "workers", "batch-bytes"};

std::unique_ptr<DestinationDriver> read_clickhouse(OptionReader& r, const BuildContext& ctx) {
  SqlDestinationConfig c;
  c.type = SqlDestinationConfig::Type::kClickhouse;
  size_t errors_before = r.diag()->errors().size();
  const Location driver_loc = r.last_location();  // nothing read yet: where clickhouse( is

  c.url = "http://127.0.0.1:8123";
  if (r.string("url", &c.url)) {
    bool scheme = c.url.starts_with("http://") || c.url.starts_with("https://");
    if (!scheme || c.url.find_first_of("?# \t\r\n") != std::string::npos || c.url.size() <= 8) {
      r.diag()->error(r.last_location(), "expected the address of ClickHouse's HTTP interface in url() of " +
                                             r.what() + ", found '" + c.url + "'",
                      "e.g. url(\"http://127.0.0.1:8123\"), without a query (the database goes into database())");
      return nullptr;
    }
  }
  while (c.url.size() > 8 && c.url.back() == '/') c.url.pop_back();
  // user() is ClickHouse's word; username() is sql()'s.
  r.string("username", &c.username);
  r.string("user", &c.username);
  r.string("password", &c.password);
  c.database = "default";
  if (r.string("database", &c.database) && !is_plain_name(c.database)) {
    r.diag()->error(r.last_location(), "invalid database name '" + c.database + "' in database() of " + r.what(),
                    "a name of letters, digits and '_', e.g. database(\"logs\")");
    return nullptr;
  }
  if (!read_sql_rows(r, ctx, driver_loc, false, "String", &c)) return nullptr;
  std::vector<std::string> flags;
  r.flags("flags", {"dont-create-tables"}, &flags);
  if (std::find(flags.begin(), flags.end(), "dont-create-tables") != flags.end()) c.create_tables = false;
  for (const char* name : {"persist-name", "throttle", "workers", "batch-bytes"})
    r.accepted_not_implemented(name);
  if (r.diag()->errors().size() != errors_before) return nullptr;
  return make_sql_driver(std::move(c));
}

// After the first error the options not read yet are not reported as
// unknown (only the error that stopped reading is).
std::unique_ptr<DestinationDriver> build_clickhouse(OptionReader& r, const BuildContext& ctx) {
  auto d = read_clickhouse(r, ctx);
  if (!d)
    for (const char* name : kClickhouseOptions) r.child(name);
  return d;
}

}  // namespace

void register_clickhouse_destination(DriverRegistry& registry) {
  registry.add_destination("clickhouse", build_clickhouse);
}

}  // namespace logferry
