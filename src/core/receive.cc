#include "core/receive.h"

#include <unistd.h>

#include <cstring>

namespace logferry {

void read_receive_options(OptionReader& r, const GlobalOptions& g, ReceiveOptions* o, bool persist_name_handled) {
  o->keep_hostname = g.keep_hostname;
  o->chain_hostnames = g.chain_hostnames;
  o->log_msg_size = static_cast<size_t>(g.log_msg_size);
  o->parse.check_hostname = g.check_hostname;
  o->parse.time_zone = g.recv_time_zone;
  std::vector<std::string> flags;
  if (r.flags("flags", {"no-parse", "syslog-protocol", "no-multi-line", "expect-hostname", "no-hostname",
                        "kernel", "assume-utf8", "validate-utf8", "sanitize-utf8", "store-raw-message",
                        "check-hostname", "no-header", "empty-lines", "threaded", "dont-store-legacy-msghdr"},
              &flags)) {
    for (const auto& f : flags) {
      if (f == "no-parse") o->parse.no_parse = true;
      else if (f == "syslog-protocol") o->parse.format = SyslogFormat::kRfc5424;
      else if (f == "no-multi-line") o->parse.no_multi_line = true;
      else if (f == "expect-hostname") o->parse.expect_hostname = true;
      else if (f == "no-hostname") o->parse.expect_hostname = false;
      else if (f == "check-hostname") o->parse.check_hostname = true;
      else if (f == "kernel") o->parse.local = true;
    }
  }
  bool b;
  if (r.yesno("keep-hostname", &b)) o->keep_hostname = b;
  if (r.yesno("chain-hostnames", &b)) o->chain_hostnames = b;
  if (r.yesno("check-hostname", &b)) o->parse.check_hostname = b;
  int64_t n;
  if (r.integer("log-msg-size", &n, 64, 256 * 1024 * 1024)) o->log_msg_size = static_cast<size_t>(n);
  std::string s;
  for (const char* tz : {"time-zone", "recv-time-zone"}) {
    if (!r.string(tz, &s)) continue;
    std::string err;
    o->parse.time_zone = TimeZone::parse(s, &err);
    if (!o->parse.time_zone)
      r.diag()->error(r.last_location(), "invalid " + std::string(tz) + "('" + s + "') in " + r.what() + ": " + err,
                      "use an offset such as +01:00, UTC, local, or a name from /usr/share/zoneinfo");
  }
  r.string("host-override", &o->host_override);
  r.string("program-override", &o->program_override);
  std::string fac, pri;
  if (r.string("default-facility", &fac)) {
    o->default_facility = facility_from_name(fac);
    if (o->default_facility < 0) r.diag()->error(r.last_location(), "unknown facility '" + fac + "'");
  }
  if (r.string("default-priority", &pri) || r.string("default-level", &pri) || r.string("default-severity", &pri)) {
    o->default_severity = severity_from_name(pri);
    if (o->default_severity < 0) r.diag()->error(r.last_location(), "unknown priority '" + pri + "'");
  }
  if (o->default_facility >= 0 || o->default_severity >= 0) {
    int f = o->default_facility >= 0 ? o->default_facility : 1;
    int sev = o->default_severity >= 0 ? o->default_severity : 5;
    o->parse.default_pri = static_cast<uint16_t>(f * 8 + sev);
  }
  std::string framing;
  if (r.choice("framing", {"auto", "lines", "octet-counted"}, &framing))
    o->framing = framing == "lines" ? Framing::kLines : framing == "octet-counted" ? Framing::kOctetCounted : Framing::kAuto;
  std::string format;
  if (r.choice("format", {"auto", "rfc3164", "rfc5424", "syslog", "bsd"}, &format))
    o->parse.format = format == "rfc3164" || format == "bsd" ? SyslogFormat::kRfc3164
                      : format == "auto"                      ? SyslogFormat::kAuto
                                                              : SyslogFormat::kRfc5424;
  for (const char* name : {"use-dns", "use-fqdn", "dns-cache", "normalize-hostnames", "tags", "encoding",
                           "log-iw-size", "log-fetch-limit", "log-prefix", "pad-size", "trim-large-messages",
                           "keep-timestamp", "use-syslogng-pid", "hook-commands", "optional"}) {
    r.accepted_not_implemented(name);
  }
  if (!persist_name_handled) r.accepted_not_implemented("persist-name");
}

const std::string& local_host() {
  static const std::string name = [] {
    char buf[256] = {0};
    gethostname(buf, sizeof(buf) - 1);
    return std::string(buf);
  }();
  return name;
}

void finish_received_message(const ReceiveOptions& o, LogMessage& m) {
  if (!o.keep_hostname || m.get(Field::kHost).empty()) {
    if (o.chain_hostnames && !m.get(Field::kHost).empty() && m.get(Field::kHost) != m.get(Field::kHostFrom)) {
      std::string chained(m.get(Field::kHostFrom));
      chained += '/';
      chained += m.get(Field::kHost);
      m.set(Field::kHost, chained);
    } else if (!m.get(Field::kHostFrom).empty()) {
      m.set_span(Field::kHost, m.span(Field::kHostFrom));
    }
  }
  if (!o.host_override.empty()) m.set(Field::kHost, o.host_override);
  if (!o.program_override.empty()) m.set(Field::kProgram, o.program_override);
}

const std::string& PeerName::of(const sockaddr* sa) {
  size_t len = sa->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (len == last_len_ && memcmp(&last_, sa, len) == 0) return name_;
  memcpy(&last_, sa, len);
  last_len_ = len;
  char buf[INET6_ADDRSTRLEN] = {0};
  if (sa->sa_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(sa);
    uv_ip6_name(s6, buf, sizeof(buf));
    // IPv4-mapped addresses read as plain IPv4.
    std::string_view v(buf);
    name_ = v.starts_with("::ffff:") && v.find('.') != std::string_view::npos ? std::string(v.substr(7)) : std::string(v);
  } else {
    uv_ip4_name(reinterpret_cast<const sockaddr_in*>(sa), buf, sizeof(buf));
    name_ = buf;
  }
  return name_;
}

LogMessage& receive_frame(SourceHost* host, Counters& counters, const ReceiveOptions& o, const std::string& peer,
                          std::string_view frame, bool truncated) {
  LogMessage& m = host->next_message();
  if (!peer.empty()) {
    m.set(Field::kHostFrom, peer);
    m.set_span(Field::kSourceIp, m.span(Field::kHostFrom));
  }
  parse_syslog(frame, o.parse, m);
  if (truncated) {
    m.flags |= kFlagTruncated;
    Counters::add(counters.dropped_too_long);
  }
  if (m.has_flag(kFlagParseError)) Counters::add(counters.parse_errors);
  finish_received_message(o, m);
  return m;
}

void StreamSource::free_listener(uv_handle_t* h) { delete reinterpret_cast<ListenerHandle*>(h); }

}  // namespace logferry
