// network() and syslog() sources: syslog over UDP and TCP.
#pragma once

#include <string>

#include "core/config.h"
#include "core/receive.h"

namespace logferry {

struct NetworkSourceConfig {
  std::string ip = "0.0.0.0";
  int port = 514;
  bool tcp = false;
  int max_connections = 1000;
  int so_rcvbuf = 0;
  ReceiveOptions receive;
};

void register_network_sources(DriverRegistry& registry);

}  // namespace logferry
