#include "relay/wire_format.h"

#include "core/format.h"

namespace logferry {

bool WireFormat::append(const LogMessage& msg, std::string& out) {
  size_t start = out.size();
  render(msg, out);
  if (cfg_.no_multi_line) {
    size_t end = out.size();
    if (end > start && out[end - 1] == '\n' && !cfg_.octet_counting) --end;
    for (size_t i = start; i < end; ++i)
      if (out[i] == '\n' || out[i] == '\r') out[i] = ' ';
  }
  if (!cfg_.tcp && out.size() - start > kMaxDatagram) {
    out.resize(start + kMaxDatagram);
    return false;
  }
  return true;
}

void WireFormat::render(const LogMessage& msg, std::string& out) {
  switch (cfg_.format) {
    case NetworkDestinationConfig::Format::kRfc3164:
      format_rfc3164(msg, cfg_.render, out);
      break;
    case NetworkDestinationConfig::Format::kTemplate:
      cfg_.templ->render(msg, cfg_.render, out);
      break;
    case NetworkDestinationConfig::Format::kRfc5424: {
      const LogMessage* m = &msg;
      if (cfg_.templ) {
        // The template renders the MSG part, as in syslog-ng.
        scratch_ = msg;
        body_.clear();
        cfg_.templ->render(msg, cfg_.render, body_);
        scratch_.set(Field::kMessage, body_);
        scratch_.flags &= ~static_cast<uint32_t>(kFlagUtf8Bom);
        m = &scratch_;
      }
      size_t start = out.size();
      format_rfc5424(*m, cfg_.render, cfg_.octet_counting, out);
      // One datagram per message: no line end (RFC 5426).
      if (!cfg_.tcp && out.size() > start && out.back() == '\n') out.pop_back();
      break;
    }
  }
}

}  // namespace logferry
