// Small text helpers shared by the formatters and templates.  They append to
// a caller's buffer, so rendering reuses memory instead of allocating.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace logferry {

// Appends `s` as the inside of a JSON string (no quotes).  Valid UTF-8 is
// copied; control characters are escaped; a byte that is not valid UTF-8 is
// written as the text \xNN (a JSON-escaped backslash), as syslog-ng's
// format-json does, so the output is always valid JSON.  With `raw_bytes`,
// every byte from 0x80 up is copied as it is, valid UTF-8 or not: for a
// reader that keeps bytes (ClickHouse's String), so that nothing is changed.
void append_json_escaped(std::string& out, std::string_view s, bool raw_bytes = false);
void append_json_string(std::string& out, std::string_view s);  // with quotes

// Appends v in decimal, left-padded with zeros to `width` digits.
void append_uint(std::string& out, uint64_t v, int width = 0);
void append_int(std::string& out, int64_t v);

// Two lowercase hex digits per byte of `bytes`.
std::string hex_bytes(std::string_view bytes);

// Appends an RFC 5424 SD-PARAM value with '"', '\' and ']' escaped.
void append_sd_escaped(std::string& out, std::string_view s);

bool parse_int64(std::string_view s, int64_t* out);

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
size_t utf8_sequence_length(std::string_view s, size_t i);

}  // namespace logferry
