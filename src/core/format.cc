#include "core/format.h"

#include <cstdio>
#include <cstring>

#include "core/text.h"

namespace logferry {

void format_rfc3164(const LogMessage& msg, const RenderOptions& o, std::string& out) {
  out += '<';
  append_uint(out, msg.pri);
  out += '>';
  render_macro(Macro::kBsdDate, false, msg, RenderOptions{0, o.time_zone}, out);
  out += ' ';
  std::string_view host = msg.get(Field::kHost);
  out.append(host.empty() ? std::string_view("-") : host);
  out += ' ';
  render_macro(Macro::kMsgHdr, false, msg, o, out);
  out.append(msg.get(Field::kMessage));
  out += '\n';
}

namespace {
// RFC 5424 header fields are printable ASCII without spaces, with a length
// limit; anything else would break the frame for the reader.
void append_header_field(std::string& out, std::string_view v, size_t max) {
  if (v.empty()) {
    out += '-';
    return;
  }
  if (v.size() > max) v = v.substr(0, max);
  for (char c : v) out += (c > 32 && c < 127) ? c : '_';
}

// SD-ID and PARAM-NAME: at most 32 printable ASCII characters without '=',
// ']', '"' or space.  Names that come from name-value pairs
// (".SDATA.<id>.<name>") may hold anything, so they are made safe here.
void append_sd_name(std::string& out, std::string_view v) {
  if (v.size() > 32) v = v.substr(0, 32);
  for (char c : v) out += (c > 32 && c < 127 && c != '=' && c != ']' && c != '"') ? c : '_';
}

void append_structured_data(const LogMessage& msg, std::string& out) {
  bool open = false;
  for_each_sd_param(msg, [&](std::string_view id, std::string_view name, std::string_view value, bool first) {
    if (first) {
      if (open) out += ']';
      out += '[';
      append_sd_name(out, id);
      open = true;
    }
    if (!name.empty()) {
      out += ' ';
      append_sd_name(out, name);
      out += "=\"";
      append_sd_escaped(out, value);
      out += '"';
    }
  });
  out += open ? ']' : '-';
}
}  // namespace

void format_rfc5424(const LogMessage& msg, const RenderOptions& o, bool octet_counting, std::string& out) {
  size_t frame_start = out.size();
  out += '<';
  append_uint(out, msg.pri);
  out += ">1 ";
  RenderOptions ro = o;
  // 0 (the default) or -1 keep the precision the stamp had; either way
  // TIME-SECFRAC is at most 6 digits.
  if (ro.frac_digits <= 0) ro.frac_digits = msg.stamp.precision;
  if (ro.frac_digits > 6) ro.frac_digits = 6;
  render_macro(Macro::kIsoDate, false, msg, ro, out);
  out += ' ';
  append_header_field(out, msg.get(Field::kHost), 255);
  out += ' ';
  append_header_field(out, msg.get(Field::kProgram), 48);
  out += ' ';
  append_header_field(out, msg.get(Field::kPid), 128);
  out += ' ';
  append_header_field(out, msg.get(Field::kMsgId), 32);
  out += ' ';
  append_structured_data(msg, out);
  std::string_view m = msg.get(Field::kMessage);
  if (!m.empty()) {
    out += ' ';
    if (msg.has_flag(kFlagUtf8Bom)) out += "\xEF\xBB\xBF";
    out.append(m);
  }
  if (octet_counting) {
    // Prefix "LEN " in place: shift the frame right by the prefix's width
    // (no temporary string per message).
    size_t frame_len = out.size() - frame_start;
    char prefix[24];
    int n = snprintf(prefix, sizeof(prefix), "%zu ", frame_len);
    out.resize(out.size() + static_cast<size_t>(n));
    std::memmove(&out[frame_start + static_cast<size_t>(n)], &out[frame_start], frame_len);
    std::memcpy(&out[frame_start], prefix, static_cast<size_t>(n));
  } else {
    out += '\n';
  }
}

void format_json(const LogMessage& msg, const RenderOptions& o, std::string& out) {
  auto field = [&](const char* key, std::string_view v, bool first = false) {
    if (!first) out += ',';
    out += '"';
    out += key;
    out += "\":";
    append_json_string(out, v);
  };
  auto number = [&](const char* key, uint64_t v) {
    out += ",\"";
    out += key;
    out += "\":";
    append_uint(out, v);
  };
  out += '{';
  field("HOST", msg.get(Field::kHost), true);
  field("PROGRAM", msg.get(Field::kProgram));
  field("PID", msg.get(Field::kPid));
  field("MSGID", msg.get(Field::kMsgId));
  field("MESSAGE", msg.get(Field::kMessage));
  number("FACILITY", msg.facility());
  number("LEVEL", msg.severity());
  number("PRI", msg.pri);
  out += ",\"ISODATE\":\"";
  RenderOptions ro = o;
  if (ro.frac_digits == 0) ro.frac_digits = -1;
  render_macro(Macro::kIsoDate, false, msg, ro, out);
  out += "\",\"SDATA\":{";
  bool any = false;
  for_each_sd_param(msg, [&](std::string_view id, std::string_view name, std::string_view value, bool first) {
    if (first) {
      if (any) out += "},";
      append_json_string(out, id);
      out += ":{";
      any = true;
    } else {
      out += ',';
    }
    if (!name.empty()) {
      append_json_string(out, name);
      out += ':';
      append_json_string(out, value);
    }
  });
  if (any) out += '}';
  out += '}';
  std::string_view err;
  if (msg.has_flag(kFlagParseError) && msg.get_value("PARSE_ERROR", &err)) field("parse_error", err);
  out += "}\n";
}

}  // namespace logferry
