// Output formats: RFC 3164, RFC 5424 and JSON lines.  Each appends one
// message to a caller's buffer.
#pragma once

#include <string>

#include "core/message.h"
#include "core/template.h"

namespace logferry {

enum class OutputFormat { kRfc3164, kRfc5424, kJson };

// "<PRI>Mmm dd hh:mm:ss HOST PROGRAM[PID]: MESSAGE\n"
void format_rfc3164(const LogMessage& msg, const RenderOptions& o, std::string& out);

// "<PRI>1 ISODATE HOST APP PROCID MSGID SD MSG\n"; with octet_counting the
// frame is "LEN <PRI>1 ..." without the newline (RFC 6587 on streams).
void format_rfc5424(const LogMessage& msg, const RenderOptions& o, bool octet_counting, std::string& out);

// One JSON object per line with HOST, PROGRAM, PID, MSGID, MESSAGE,
// FACILITY, LEVEL, PRI, ISODATE, SDATA, plus parse_error when set.
void format_json(const LogMessage& msg, const RenderOptions& o, std::string& out);

}  // namespace logferry
