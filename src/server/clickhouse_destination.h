// clickhouse() destination: every message becomes a row of a ClickHouse
// table, written over ClickHouse's HTTP interface as JSONEachRow inserts.
// Its rows, batches, retries, flow control and delivery tracking are sql()'s
// (sql_destination.h, sql_writer.h); what differs is here:
//   clickhouse_destination.{h,cc}  the options and their checks
//   clickhouse_writer.cc           the HTTP client: libcurl's multi interface
//                                  on the output thread's libuv loop
//   clickhouse_answer.h            reading the server's answer to a failure
#pragma once

#include "core/config.h"

namespace logferry {

void register_clickhouse_destination(DriverRegistry& registry);

}  // namespace logferry
