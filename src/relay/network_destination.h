// network(), syslog() and network-load-balancer() destinations: sending
// messages onward over TCP or UDP, BSD syslog (RFC 3164) or RFC 5424, with
// reconnection, failover to other servers and failback to the primary, or
// batches spread round-robin over several servers.
//
// The parts, each in its own file:
//   network_options.cc      the config: options, checks, describe()
//   network_destination.cc  the running destination: pending buffer,
//                           delivery tracking, which server gets a batch
//                           (failover, failback, round-robin), shutdown
//   server_link.{h,cc}      one connection slot: connect, reconnect, backoff
//   connection.{h,cc}       one socket: writes, loss estimate, resolution
//   wire_format.{h,cc}      what one message becomes on the wire
//   delivery_marks.h        which engine flushes have been taken
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"

namespace logferry {

struct NetworkDestinationConfig {
  // What one message becomes on the wire.
  //   kRfc3164:  format_rfc3164 ("<PRI>Mmm dd hh:mm:ss HOST PROGRAM[PID]: MSG\n")
  //   kRfc5424:  format_rfc5424; `octet_counting` frames it "LEN MSG" (syslog()
  //              over TCP), else one line (network() flags(syslog-protocol));
  //              on UDP one datagram without the newline.  With `templ` set,
  //              the template renders the MSG part (as in syslog-ng).
  //   kTemplate: the template's text, sent as given (network() template()).
  enum class Format { kRfc3164, kRfc5424, kTemplate };

  std::string driver = "network";    // "network", "syslog" or "network-load-balancer": for describe()
  std::vector<std::string> servers;  // [0] the primary, then failover servers (round-robin: every target)
  bool round_robin = false;          // network-load-balancer(): a connection per server, batches in turn
  int port = 514;
  bool tcp = true;
  int ip_protocol = 4;  // 4 or 6: which addresses of a name are used
  Format format = Format::kRfc3164;
  bool octet_counting = false;
  std::shared_ptr<const Template> templ;
  RenderOptions render;
  std::shared_ptr<const TimeZone> zone;  // keeps render.time_zone alive
  bool no_multi_line = false;            // CR and LF in a message become spaces

  int64_t time_reopen = 60;              // longest wait between connection attempts, seconds
  size_t max_pending_messages = 10000;   // log-fifo-size(): messages waiting to be sent
  size_t max_pending_bytes = size_t{64} << 20;
  int so_sndbuf = 0;                     // 0: the system's
  bool so_keepalive = false;

  bool failback = false;                 // failover(... failback(...)) given
  int64_t probe_interval = 60;           // tcp-probe-interval(), seconds
  int64_t probes_required = 3;           // successful-probes-required()

  int64_t connect_timeout_ms = 10000;    // a TCP connect that takes longer has failed
  int64_t shutdown_grace_ms = 5000;      // at shutdown, how long pending messages may take
};

// One line for `logferry check`, e.g. "network() tcp logs.example.com:514".
std::string describe_network_destination(const NetworkDestinationConfig& c);

// " failback(probe every Ns, M probes)" when failback() applies, else "".
std::string describe_failback(const NetworkDestinationConfig& c);

// Reads failover(servers(...) failback(...)) into c->servers and the
// failback fields; errors and warnings go to r's diagnostics.
void read_failover(OptionReader& r, const ConfNode& node, NetworkDestinationConfig* c);

// "host:port", or "[v6addr]:port".
std::string host_port(const std::string& host, int port);

// The largest UDP payload over IPv4; longer datagrams are cut (counted as
// truncated).
constexpr size_t kMaxDatagram = 65507;

void register_network_destinations(DriverRegistry& registry);

// The running destination for a validated config (the drivers create it;
// tests may too).
std::unique_ptr<Destination> make_network_destination(const NetworkDestinationConfig& c);

}  // namespace logferry
