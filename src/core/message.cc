#include "core/message.h"

#include <strings.h>

#include <cstring>

namespace logferry {

void LogMessage::clear() {
  buf_.clear();
  raw_ = Span{};
  for (auto& f : fields_) f = Span{};
  values_.clear();
  sd_elements_.clear();
  sd_params_.clear();
  tags_.clear();
  pri = 13;
  source_id = 0;
  flags = 0;
  stamp = Timestamp{};
  received = Timestamp{};
  origin = 0;
  origin_seq = 0;
  file_life = 0;
  file_end = 0;
}

Span LogMessage::set_raw(std::string_view raw) {
  raw_ = store(raw);
  return raw_;
}

Span LogMessage::store(std::string_view bytes) {
  Span s{static_cast<uint32_t>(buf_.size()), static_cast<uint32_t>(bytes.size())};
  const char* b = buf_.data();
  if (bytes.data() >= b && bytes.data() < b + buf_.size()) {
    // The bytes live in our own buffer, which append may move: copy by offset.
    size_t from = static_cast<size_t>(bytes.data() - b);
    buf_.resize(buf_.size() + bytes.size());
    std::memmove(buf_.data() + s.off, buf_.data() + from, bytes.size());
    return s;
  }
  buf_.append(bytes);
  return s;
}

void LogMessage::set_value(std::string_view name, std::string_view value) {
  for (auto& nv : values_) {
    if (view(nv.name) == name) {
      nv.value = store(value);
      return;
    }
  }
  Span v = store(value);  // first: `value` may point into buf_, `name` never does
  Span n = store(name);
  values_.push_back({n, v});
}

bool LogMessage::get_value(std::string_view name, std::string_view* out) const {
  for (const auto& nv : values_) {
    if (view(nv.name) == name) {
      *out = view(nv.value);
      return true;
    }
  }
  return false;
}

void LogMessage::begin_sd_element(Span id) {
  sd_elements_.push_back({id, static_cast<uint32_t>(sd_params_.size()), 0});
}

void LogMessage::add_sd_param(Span name, Span value) {
  sd_params_.push_back({name, value});
  sd_elements_.back().count++;
}

bool LogMessage::get_sd(std::string_view id, std::string_view param, std::string_view* out) const {
  for (const auto& e : sd_elements_) {
    if (view(e.id) != id) continue;
    for (uint32_t i = e.first; i < e.first + e.count; ++i) {
      if (view(sd_params_[i].name) == param) {
        *out = view(sd_params_[i].value);
        return true;
      }
    }
  }
  return false;
}

void LogMessage::add_tag(std::string_view tag) {
  if (!has_tag(tag)) tags_.push_back(store(tag));
}

bool LogMessage::has_tag(std::string_view tag) const {
  for (const auto& t : tags_)
    if (view(t) == tag) return true;
  return false;
}

static const char* const kFacilityNames[24] = {
    "kern",   "user",   "mail",   "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "authpriv", "ftp",  "ntp",    "audit",  "alert",  "clock",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"};
static const char* const kSeverityNames[8] = {"emerg",   "alert",  "crit", "err",
                                              "warning", "notice", "info", "debug"};

std::string_view facility_name(int facility) {
  if (facility < 0 || facility >= 24) return "unknown";
  return kFacilityNames[facility];
}

std::string_view severity_name(int severity) {
  if (severity < 0 || severity >= 8) return "unknown";
  return kSeverityNames[severity];
}

static bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

int facility_from_name(std::string_view name) {
  for (int i = 0; i < 24; ++i)
    if (iequals(name, kFacilityNames[i])) return i;
  // Aliases syslog-ng and syslog.h accept.
  if (iequals(name, "security")) return 4;
  if (iequals(name, "cron2")) return 15;
  return -1;
}

int severity_from_name(std::string_view name) {
  for (int i = 0; i < 8; ++i)
    if (iequals(name, kSeverityNames[i])) return i;
  if (iequals(name, "panic")) return 0;
  if (iequals(name, "critical")) return 2;
  if (iequals(name, "error")) return 3;
  if (iequals(name, "warn")) return 4;
  if (iequals(name, "informational")) return 6;
  return -1;
}

}  // namespace logferry
