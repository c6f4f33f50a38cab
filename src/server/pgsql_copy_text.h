// The data of `COPY ... FROM STDIN` in PostgreSQL's text format: one line
// per row, values separated by tabs, NULL written as \N.  In a value a
// backslash, tab, newline and carriage return are written as \\, \t, \n
// and \r; every other byte stands for itself (the server checks the
// encoding, as it does for a parameter), so no value can end a row, add a
// column or the end-of-data marker \. early.
#pragma once

#include <cstring>
#include <string>
#include <string_view>

namespace logferry {

// Appends `value` (nullptr: NULL) as one COPY text field.
inline void append_copy_field(std::string* out, const char* value, size_t len) {
  if (!value) {
    out->append("\\N", 2);
    return;
  }
  const char* p = value;
  const char* end = value + len;
  while (p < end) {
    // Runs of plain bytes are copied at once.
    const char* q = p;
    while (q < end && *q != '\\' && *q != '\t' && *q != '\n' && *q != '\r') ++q;
    out->append(p, static_cast<size_t>(q - p));
    if (q == end) break;
    char esc = *q == '\\' ? '\\' : *q == '\t' ? 't' : *q == '\n' ? 'n' : 'r';
    out->push_back('\\');
    out->push_back(esc);
    p = q + 1;
  }
}

inline void append_copy_field(std::string* out, std::string_view value) {
  append_copy_field(out, value.data(), value.size());
}

}  // namespace logferry

