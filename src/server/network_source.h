// network() and syslog() sources: syslog over UDP and TCP.
#pragma once

#include <string>

#include "core/config.h"
#include "core/framing.h"
#include "core/syslog_parser.h"

namespace logferry {

// What a network listener does with the messages it reads; shared by the
// network, unix-socket and system() sources.
struct ReceiveOptions {
  ParseOptions parse;
  Framing framing = Framing::kAuto;
  size_t log_msg_size = 65536;
  bool keep_hostname = false;    // syslog-ng's default: HOST becomes the peer
  bool chain_hostnames = false;
  std::string host_override;
  std::string program_override;
  int default_facility = -1;     // -1: as parsed
  int default_severity = -1;
};

// Reads the options every receiving driver shares (flags(), log-msg-size(),
// keep-hostname(), time-zone(), host-override(), ...).
void read_receive_options(OptionReader& r, const GlobalOptions& g, ReceiveOptions* o);

// Applies keep-hostname, chain-hostnames and the overrides after parsing.
void finish_received_message(const ReceiveOptions& o, LogMessage& m);

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
