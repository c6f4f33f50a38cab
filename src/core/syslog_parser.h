// Parsing of RFC 3164 (BSD) and RFC 5424 syslog messages into LogMessage.
#pragma once

#include <memory>
#include <string_view>

#include "core/message.h"
#include "core/timestamp.h"

namespace logferry {

enum class SyslogFormat { kAuto, kRfc3164, kRfc5424 };

// How a source reads the header of its messages.  Mirrors syslog-ng's
// flags() and the parse-related source options.
struct ParseOptions {
  SyslogFormat format = SyslogFormat::kAuto;
  bool no_parse = false;         // flags(no-parse): the whole line is MESSAGE
  bool expect_hostname = true;   // off for local sources such as /dev/log
  bool check_hostname = false;   // check-hostname(yes): stop the host at a bad character
  bool no_multi_line = false;    // flags(no-multi-line): CR and LF become spaces
  bool local = false;            // local source: a stamp-less kern message is "kernel"
  uint16_t default_pri = 13;     // user.notice, for messages without a PRI
  // Zone for stamps that carry no offset; null means the local zone.
  std::shared_ptr<const TimeZone> time_zone;
};

// Parses `raw` into `msg`.  The caller has cleared `msg` and set `received`
// and, for network peers, HOST_FROM/SOURCEIP (used as HOST when the header
// has none).  Never fails: a message whose header is malformed keeps its
// bytes as MESSAGE and gets kFlagParseError, the tag "syslog.parse_error"
// and a PARSE_ERROR value that says what was wrong and where.
void parse_syslog(std::string_view raw, const ParseOptions& options, LogMessage& msg);

}  // namespace logferry
