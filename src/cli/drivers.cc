// Every driver this binary knows, for config loading.
#include "cli/commands.h"
#include "client/file_source.h"
#include "client/pipe_source.h"
#include "client/unix_source.h"
#include "core/config.h"
#include "relay/ferry_destination.h"
#include "relay/kafka_destination.h"
#include "relay/network_destination.h"
#include "server/ferry_source.h"
#include "server/file_destination.h"
#include "server/network_source.h"
#include "server/clickhouse_destination.h"
#include "server/sql_destination.h"
#include "server/usertty_destination.h"

namespace logferry::cli {

const DriverRegistry& all_drivers() {
  static const DriverRegistry registry = [] {
    DriverRegistry r;
    register_internal_source(r);
    register_network_sources(r);
    register_ferry_source(r);
    register_unix_sources(r);
    register_pipe_sources(r);
    register_file_sources(r);
    register_file_destinations(r);
    register_usertty_destination(r);
    register_network_destinations(r);
    register_sql_destination(r);
    register_clickhouse_destination(r);
    register_ferry_destination(r);
    register_kafka_destination(r);
    return r;
  }();
  return registry;
}

}  // namespace logferry::cli
