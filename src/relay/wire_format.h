// What one message becomes on the wire for the network() and syslog()
// destinations: an RFC 3164 line, RFC 5424 (octet-counted, one line, or one
// datagram), or a template's text.  Rendering appends to the caller's
// buffer and allocates nothing per message in steady state.
#pragma once

#include <string>

#include "core/message.h"
#include "relay/network_destination.h"

namespace logferry {

class WireFormat {
 public:
  // `c` must outlive this object.
  explicit WireFormat(const NetworkDestinationConfig& c) : cfg_(c) {}

  // Appends what `msg` becomes on the wire to `out`.  Returns false when it
  // was cut at kMaxDatagram (UDP: one datagram per message); the caller
  // counts that as truncated.
  bool append(const LogMessage& msg, std::string& out);

 private:
  void render(const LogMessage& msg, std::string& out);

  const NetworkDestinationConfig& cfg_;
  LogMessage scratch_;  // syslog() with template(): the message with MSG replaced
  std::string body_;
};

}  // namespace logferry
