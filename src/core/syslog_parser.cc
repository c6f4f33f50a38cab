#include "core/syslog_parser.h"

#include <cstdint>
#include <cstdio>

namespace logferry {
namespace {

bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_xdigit(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Byte classes for the scans of the header: which bytes end a word.
enum : uint8_t {
  kEndsProgram = 1,  // ' ', '[', ':' end PROGRAM (and a hostname, but for ':')
  kEndsPid = 2,      // ' ', ']', ':' end PID
  kEndsHost = 4,     // ' ', '[', ':' (the IPv6 rule then decides about ':')
  kNotSdName = 8,    // ends an SD-ID or PARAM-NAME: not printable ASCII, or '=', ']', '"'
  kSdValueMark = 16, // '"', '\\', ']': what a PARAM-VALUE scan stops at
};
struct ByteClasses {
  uint8_t of[256] = {};
  constexpr ByteClasses() {
    for (int ch = 0; ch < 256; ++ch)
      if (ch <= 32 || ch >= 127 || ch == '=' || ch == ']' || ch == '"') of[ch] = kNotSdName;
    of[static_cast<unsigned char>('"')] |= kSdValueMark;
    of[static_cast<unsigned char>('\\')] |= kSdValueMark;
    of[static_cast<unsigned char>(']')] |= kSdValueMark;
    of[static_cast<unsigned char>(' ')] |= kEndsProgram | kEndsPid | kEndsHost;
    of[static_cast<unsigned char>('[')] |= kEndsProgram | kEndsHost;
    of[static_cast<unsigned char>(':')] |= kEndsProgram | kEndsPid | kEndsHost;
    of[static_cast<unsigned char>(']')] |= kEndsPid;
  }
};
constexpr ByteClasses kBytes;

// Index of the first byte at or after `p` (before `end`) in class `cls`,
// or `end`.
inline uint32_t scan_to(const char* d, uint32_t p, uint32_t end, uint8_t cls) {
  while (p < end && !(kBytes.of[static_cast<unsigned char>(d[p])] & cls)) ++p;
  return p;
}

// A read position in the raw bytes.  `base` is the offset of `data` inside
// the message buffer, so that a slice becomes a Span without copying.
struct Cursor {
  const char* data;
  uint32_t size;
  uint32_t pos = 0;
  uint32_t base = 0;

  bool at_end() const { return pos >= size; }
  uint32_t left() const { return size - pos; }
  unsigned char peek(uint32_t ahead = 0) const {
    return pos + ahead < size ? static_cast<unsigned char>(data[pos + ahead]) : 0;
  }
  bool eat(char c) {
    if (!at_end() && data[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  void skip_spaces() {
    while (!at_end() && data[pos] == ' ') ++pos;
  }
  Span span(uint32_t from, uint32_t to) const { return Span{base + from, to - from}; }
  std::string_view view(uint32_t from, uint32_t to) const {
    return std::string_view(data + from, to - from);
  }
};

// Reads exactly `width` digits (leading spaces allowed where `pad`).
bool read_int(Cursor& c, int width, int* out, bool pad = false) {
  int v = 0;
  for (int i = 0; i < width; ++i) {
    unsigned char ch = c.peek(i);
    if (pad && ch == ' ' && i < width - 1 && v == 0) continue;
    if (!is_digit(ch)) return false;
    v = v * 10 + (ch - '0');
  }
  c.pos += width;
  *out = v;
  return true;
}

// ".123456789" after the seconds; keeps up to nanoseconds, skips the rest.
uint32_t read_fraction(Cursor& c, uint8_t* precision) {
  if (c.peek() != '.' || !is_digit(c.peek(1))) return 0;
  ++c.pos;
  uint32_t ns = 0;
  int digits = 0;
  while (is_digit(c.peek())) {
    if (digits < 9) {
      ns = ns * 10 + (c.peek() - '0');
      ++digits;
    }
    ++c.pos;
  }
  *precision = static_cast<uint8_t>(digits);
  for (; digits < 9; ++digits) ns *= 10;
  return ns;
}

bool valid_clock(const CivilTime& t) {
  return t.month >= 1 && t.month <= 12 && t.day >= 1 && t.day <= 31 && t.hour <= 23 &&
         t.min <= 59 && t.sec <= 60;
}

const TimeZone& zone_of(const ParseOptions& o) {
  if (o.time_zone) return *o.time_zone;
  static const TimeZone* const local = TimeZone::local().get();  // lives as long as the process
  return *local;
}

// Two digits at p (both must be there).
bool two_digits(const char* p, int* out) {
  if (!is_digit(static_cast<unsigned char>(p[0])) || !is_digit(static_cast<unsigned char>(p[1]))) return false;
  *out = (p[0] - '0') * 10 + (p[1] - '0');
  return true;
}

// Turns a wall-clock reading into a Timestamp: with its own offset when the
// stamp had one, else in the configured zone.
Timestamp make_stamp(CivilTime t, uint32_t nsec, uint8_t precision, bool has_offset,
                     int32_t offset, const ParseOptions& o) {
  if (t.sec == 60) t.sec = 59;  // leap second: keep the stamp in its minute
  // unix_from_civil, with the day number remembered per thread: the stamps
  // of a stream fall on one or two days.
  struct Day {
    int year = INT32_MIN, month = 0, day = 0;
    int64_t days = 0;
  };
  static thread_local Day last;
  if (last.year != t.year || last.month != t.month || last.day != t.day) {
    last.year = t.year;
    last.month = t.month;
    last.day = t.day;
    last.days = days_from_civil(t.year, t.month, t.day);
  }
  int64_t local = last.days * 86400 + t.hour * 3600 + t.min * 60 + t.sec;
  if (!has_offset) offset = zone_of(o).offset_for_local(local);
  return Timestamp{local - offset, nsec, offset, precision};
}

// "YYYY-MM-DDTHH:MM:SS[.frac][Z|+hh:mm]"
bool parse_iso_stamp(Cursor& c, const ParseOptions& o, Timestamp* out) {
  if (c.left() < 19 || c.peek(4) != '-' || c.peek(7) != '-' || (c.peek(10) != 'T' && c.peek(10) != 't') ||
      c.peek(13) != ':' || c.peek(16) != ':')
    return false;
  Cursor s = c;
  CivilTime t;
  // The 19 bytes are there (checked above): the digits are read in place.
  const char* d = c.data + c.pos;
  int y_hi, y_lo;
  if (!two_digits(d, &y_hi) || !two_digits(d + 2, &y_lo) || !two_digits(d + 5, &t.month) ||
      !two_digits(d + 8, &t.day) || !two_digits(d + 11, &t.hour) || !two_digits(d + 14, &t.min) ||
      !two_digits(d + 17, &t.sec))
    return false;
  t.year = y_hi * 100 + y_lo;
  s.pos += 19;
  if (!valid_clock(t)) return false;
  uint8_t precision = 0;
  uint32_t ns = read_fraction(s, &precision);
  bool has_offset = false;
  int32_t offset = 0;
  if (s.peek() == 'Z' || s.peek() == 'z') {
    ++s.pos;
    has_offset = true;
  } else if ((s.peek() == '+' || s.peek() == '-') && is_digit(s.peek(1)) && is_digit(s.peek(2)) &&
             s.peek(3) == ':' && is_digit(s.peek(4)) && is_digit(s.peek(5)) && !is_digit(s.peek(6))) {
    int sign = s.peek() == '-' ? -1 : 1;
    int h = (s.peek(1) - '0') * 10 + (s.peek(2) - '0');
    int m = (s.peek(4) - '0') * 10 + (s.peek(5) - '0');
    if (h > 23 || m > 59) return false;
    offset = sign * (h * 3600 + m * 60);
    has_offset = true;
    s.pos += 6;
  }
  *out = make_stamp(t, ns, precision, has_offset, offset, o);
  c = s;
  return true;
}

// month_from_abbrev for exactly three bytes, without a loop: each letter
// compares with its case bit set, as month_from_abbrev does.
int month_of(const char* p) {
  uint32_t k = static_cast<uint32_t>(static_cast<unsigned char>(p[0]) | 0x20) << 16 |
               static_cast<uint32_t>(static_cast<unsigned char>(p[1]) | 0x20) << 8 |
               static_cast<uint32_t>(static_cast<unsigned char>(p[2]) | 0x20);
  switch (k) {
    case 'j' << 16 | 'a' << 8 | 'n': return 1;
    case 'f' << 16 | 'e' << 8 | 'b': return 2;
    case 'm' << 16 | 'a' << 8 | 'r': return 3;
    case 'a' << 16 | 'p' << 8 | 'r': return 4;
    case 'm' << 16 | 'a' << 8 | 'y': return 5;
    case 'j' << 16 | 'u' << 8 | 'n': return 6;
    case 'j' << 16 | 'u' << 8 | 'l': return 7;
    case 'a' << 16 | 'u' << 8 | 'g': return 8;
    case 's' << 16 | 'e' << 8 | 'p': return 9;
    case 'o' << 16 | 'c' << 8 | 't': return 10;
    case 'n' << 16 | 'o' << 8 | 'v': return 11;
    case 'd' << 16 | 'e' << 8 | 'c': return 12;
    default: return 0;
  }
}

bool read_month(Cursor& c, int* month) {
  if (c.left() < 3) return false;
  *month = month_of(c.data + c.pos);
  if (*month == 0) return false;
  c.pos += 3;
  return true;
}

// syslog-ng's rule for stamps without a year: a December stamp received in
// January is last year's, a January stamp received in December next year's.
int guess_year(int month, const CivilTime& now) {
  if (month == 12 && now.month == 1) return now.year - 1;
  if (month == 1 && now.month == 12) return now.year + 1;
  return now.year;
}

// The year of a stamp that has none, from the wall clock at reception
// (remembered per thread for the second it was taken).
int year_for(int month, const ParseOptions& o, const LogMessage& msg) {
  struct Now {
    uint64_t zone = 0;
    int64_t sec = INT64_MIN;
    CivilTime civil;
  };
  static thread_local Now now;
  const TimeZone& tz = zone_of(o);
  if (now.zone != tz.id() || now.sec != msg.received.sec) {
    now.zone = tz.id();
    now.sec = msg.received.sec;
    now.civil = civil_from_unix(msg.received.sec + tz.offset_at_utc(msg.received.sec));
  }
  return guess_year(month, now.civil);
}

// The common "Mmm dd hh:mm:ss" (no year, no fraction), read straight from
// the bytes.  Returns false when the stamp is anything else (or invalid);
// the general path below then decides, exactly as before.
bool parse_plain_bsd_stamp(Cursor& c, const ParseOptions& o, const LogMessage& msg, Timestamp* out) {
  if (c.left() < 16) return false;
  const char* d = c.data + c.pos;
  // "Mmm dd hh:mm:ss" then a space: not Linksys ("... yyyy "), not a fraction.
  if (d[3] != ' ' || d[6] != ' ' || d[9] != ':' || d[12] != ':' || d[15] != ' ') return false;
  if (c.left() >= 21 && is_digit(static_cast<unsigned char>(d[16])) && is_digit(static_cast<unsigned char>(d[17])) &&
      is_digit(static_cast<unsigned char>(d[18])) && is_digit(static_cast<unsigned char>(d[19])) &&
      (d[20] == ' ' || d[20] == '\t'))
    return false;  // Linksys
  CivilTime t;
  t.month = month_of(d);
  if (t.month == 0) return false;
  if (d[4] == ' ') {
    if (!is_digit(static_cast<unsigned char>(d[5]))) return false;
    t.day = d[5] - '0';
  } else if (!two_digits(d + 4, &t.day)) {
    return false;
  }
  if (!two_digits(d + 7, &t.hour) || !two_digits(d + 10, &t.min) || !two_digits(d + 13, &t.sec)) return false;
  if (!valid_clock(t)) return false;
  t.year = year_for(t.month, o, msg);
  *out = make_stamp(t, 0, 0, false, 0, o);
  c.pos += 15;
  return true;
}

// The BSD forms: "Mmm dd hh:mm:ss[.frac]", Cisco PIX/ASA "Mmm dd yyyy
// hh:mm:ss" and Linksys "Mmm dd hh:mm:ss yyyy".
bool parse_bsd_stamp(Cursor& c, const ParseOptions& o, const LogMessage& msg, Timestamp* out) {
  if (parse_plain_bsd_stamp(c, o, msg, out)) return true;
  auto at = [&](uint32_t i) { return c.peek(i); };
  const uint32_t left = c.left();
  Cursor s = c;
  CivilTime t;
  bool have_year = false;
  uint32_t ns = 0;
  uint8_t precision = 0;
  bool pix = left >= 21 && at(3) == ' ' && at(6) == ' ' && at(11) == ' ' && at(14) == ':' &&
             at(17) == ':' && (at(20) == ':' || at(20) == ' ') && is_digit(at(7)) &&
             is_digit(at(8)) && is_digit(at(9)) && is_digit(at(10));
  bool bsd = left >= 15 && at(3) == ' ' && at(6) == ' ' && at(9) == ':' && at(12) == ':';
  bool linksys = bsd && left >= 21 && at(15) == ' ' && is_digit(at(16)) && is_digit(at(17)) &&
                 is_digit(at(18)) && is_digit(at(19)) && (at(20) == ' ' || at(20) == '\t');
  if (!pix && !bsd) return false;
  if (!read_month(s, &t.month) || !s.eat(' ') || !read_int(s, 2, &t.day, true) || !s.eat(' '))
    return false;
  if (pix) {
    if (!read_int(s, 4, &t.year) || !s.eat(' ')) return false;
    have_year = true;
  }
  if (!read_int(s, 2, &t.hour) || !s.eat(':') || !read_int(s, 2, &t.min) || !s.eat(':') ||
      !read_int(s, 2, &t.sec))
    return false;
  if (pix) {
    s.eat(':');
  } else if (linksys) {
    ++s.pos;
    if (!read_int(s, 4, &t.year)) return false;
    have_year = true;
  } else {
    ns = read_fraction(s, &precision);
  }
  if (!valid_clock(t)) return false;
  if (!have_year) t.year = year_for(t.month, o, msg);
  *out = make_stamp(t, ns, precision, false, 0, o);
  c = s;
  return true;
}

// RFC 3164 stamp in any form met in practice, then a Cisco-style ':'.
bool parse_3164_stamp(Cursor& c, const ParseOptions& o, const LogMessage& msg, Timestamp* out) {
  // An ISO stamp starts with the year's digits, a BSD one with a letter.
  bool iso = is_digit(c.peek()) && parse_iso_stamp(c, o, out);
  if (!iso && !parse_bsd_stamp(c, o, msg, out)) return false;
  c.eat(':');
  return true;
}

// "prog[pid]: " -- anything up to a space, '[' or ':' is the program, as
// syslog-ng reads it, so "postfix/smtpd", "sshd(pam_unix)" and
// "org.gnome.Shell.desktop" all come through whole.
void parse_program(Cursor& c, LogMessage& msg) {
  const char* d = c.data;
  uint32_t start = c.pos;
  uint32_t p = scan_to(d, start, c.size, kEndsProgram);
  msg.set_span(Field::kProgram, c.span(start, p));
  if (p < c.size && d[p] == '[') {
    uint32_t pid_start = p + 1;
    p = scan_to(d, pid_start, c.size, kEndsPid);
    if (p < c.size) msg.set_span(Field::kPid, c.span(pid_start, p));
    if (p < c.size && d[p] == ']') ++p;
  }
  if (p < c.size && d[p] == ':') ++p;
  if (p < c.size && d[p] == ' ') ++p;
  c.pos = p;
}

// Tracks whether a hostname still looks like an IPv6 address, whose colons
// must not end it (syslog-ng's heuristic).
struct Ipv6Heuristic {
  int segment = 0;
  int digits = 0;
  bool failed = false;
  void feed(unsigned char ch) {
    if (failed) return;
    if (ch != ':' && !is_xdigit(ch)) {
      failed = true;
    } else if (ch == ':') {
      digits = 0;
      if (++segment >= 8) failed = true;
    } else if (++digits > 4) {
      failed = true;
    }
  }
};

bool valid_hostname_char(unsigned char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || is_digit(ch) || ch == '-' ||
         ch == '_' || ch == '.' || ch == ':' || ch == '@' || ch == '/';
}

// A hostname is the next word when a space follows it.
bool parse_hostname(Cursor& c, const ParseOptions& o, Span* host) {
  uint32_t start = c.pos, p = c.pos;
  // Most names have no ':'; the IPv6 heuristic only matters at one.
  if (!o.check_hostname) {
    const uint32_t end = c.size - start > 255 ? start + 255 : c.size;
    p = scan_to(c.data, p, end, kEndsHost);
    if (p >= c.size || c.data[p] != ':') {
      if (p < c.size && c.data[p] == ' ' && p > start) {
        *host = c.span(start, p);
        c.pos = p;
        return true;
      }
      return false;
    }
    p = start;
  }
  Ipv6Heuristic v6;
  while (p < c.size && c.data[p] != ' ' && c.data[p] != '[' && p - start < 255) {
    unsigned char ch = static_cast<unsigned char>(c.data[p]);
    v6.feed(ch);
    if (ch == ':' && v6.failed) break;
    if (o.check_hostname && !valid_hostname_char(ch)) break;
    ++p;
  }
  if (p < c.size && c.data[p] == ' ' && p > start) {
    *host = c.span(start, p);
    c.pos = p;
    return true;
  }
  return false;
}

void set_message(Cursor& c, const ParseOptions& o, LogMessage& msg) {
  Span m = c.span(c.pos, c.size);
  if (o.no_multi_line && c.view(c.pos, c.size).find_first_of("\r\n") != std::string_view::npos) {
    std::string_view src = c.view(c.pos, c.size);
    m = msg.store(src);
    std::string_view dst = msg.view(m);
    char* w = const_cast<char*>(dst.data());
    for (size_t i = 0; i < dst.size(); ++i)
      if (w[i] == '\r' || w[i] == '\n') w[i] = ' ';
  }
  msg.set_span(Field::kMessage, m);
}

// "<PRI>" with 1-3 digits and a value up to 191.  Returns false when a '<'
// starts something that is not a valid PRI.
bool parse_pri(Cursor& c, const ParseOptions& o, LogMessage& msg, bool* had_pri) {
  *had_pri = false;
  if (c.at_end() || c.data[c.pos] != '<') {
    msg.pri = o.default_pri;
    return true;
  }
  const char* d = c.data;
  uint32_t p = c.pos + 1;
  const uint32_t digits_end = c.size - p > 4 ? p + 4 : c.size;  // a 4th digit makes it invalid
  int v = 0;
  uint32_t start = p;
  while (p < digits_end && is_digit(static_cast<unsigned char>(d[p]))) {
    v = v * 10 + (d[p] - '0');
    ++p;
  }
  uint32_t n = p - start;
  if (n == 0 || n > 3 || p >= c.size || d[p] != '>' || v > 191) return false;
  msg.pri = static_cast<uint16_t>(v);
  *had_pri = true;
  c.pos = p + 1;
  return true;
}

void mark_error(LogMessage& msg, const ParseOptions& o, const char* what, uint32_t at) {
  char buf[160];
  snprintf(buf, sizeof(buf), "%s at byte %u", what, at);
  msg.flags |= kFlagParseError;
  msg.add_tag("syslog.parse_error");
  msg.set_value("PARSE_ERROR", buf);
}

// Malformed header: the raw bytes become MESSAGE, nothing is lost.
void keep_raw(Cursor& c, const ParseOptions& o, LogMessage& msg, const char* what, uint32_t at) {
  msg.set_span(Field::kProgram, Span{});
  msg.set_span(Field::kPid, Span{});
  msg.set_span(Field::kMsgId, Span{});
  msg.set_span(Field::kHost, Span{});
  c.pos = 0;
  set_message(c, o, msg);
  msg.stamp = msg.received;
  mark_error(msg, o, what, at);
}

void parse_3164(Cursor& c, const ParseOptions& o, LogMessage& msg) {
  bool had_pri;
  if (!parse_pri(c, o, msg, &had_pri)) {
    msg.pri = o.default_pri;
    keep_raw(c, o, msg, "rfc3164: invalid PRI", 0);
    return;
  }
  // Cisco sequence number: "123: ".
  {
    uint32_t p = c.pos;
    while (p < c.size && is_digit(static_cast<unsigned char>(c.data[p]))) ++p;
    if (p > c.pos && p + 1 < c.size && c.data[p] == ':' && c.data[p + 1] == ' ') {
      msg.set_value(".SDATA.meta.sequenceId", c.view(c.pos, p));
      c.pos = p + 1;
    }
  }
  c.skip_spaces();
  // Cisco clock marks: '*' unsynchronised, '.' synchronised.
  if (c.peek() == '*' && !c.at_end()) {
    msg.set_value(".SDATA.timeQuality.isSynced", "0");
    ++c.pos;
  } else if (c.peek() == '.' && !c.at_end()) {
    msg.set_value(".SDATA.timeQuality.isSynced", "1");
    ++c.pos;
  }
  Timestamp stamp;
  if (parse_3164_stamp(c, o, msg, &stamp)) {
    msg.stamp = stamp;
    c.skip_spaces();
    Span host;
    bool have_host = false;
    static constexpr std::string_view kAixForward = "Message forwarded from ";
    static constexpr std::string_view kRepeated = "last message repeated";
    if (c.peek() == 'M' && c.view(c.pos, c.size).starts_with(kAixForward)) {
      c.pos += kAixForward.size();
      uint32_t start = c.pos;
      while (!c.at_end() && c.peek() != ':') ++c.pos;
      host = c.span(start, c.pos);
      have_host = true;
      while (!c.at_end() && (c.peek() == ':' || c.peek() == ' ')) ++c.pos;
    }
    if (c.peek() != 'l' || !c.view(c.pos, c.size).starts_with(kRepeated)) {
      if (!have_host && o.expect_hostname) {
        have_host = parse_hostname(c, o, &host);
        c.skip_spaces();
      }
      parse_program(c, msg);
    }
    if (have_host) msg.set_span(Field::kHost, host);
  } else {
    // No stamp: "program[pid]: message".
    msg.stamp = msg.received;
    if (msg.facility() == 0 && o.local) {
      msg.set(Field::kProgram, "kernel");
    } else {
      parse_program(c, msg);
    }
  }
  set_message(c, o, msg);
}

// "-" or a word of at most `max` bytes (longer ones are cut, as syslog-ng does).
bool parse_column(Cursor& c, uint32_t max, LogMessage& msg, Field f) {
  uint32_t start = c.pos;
  while (!c.at_end() && c.peek() != ' ') ++c.pos;
  if (c.at_end()) return false;
  uint32_t len = c.pos - start;
  if (len == 0) return false;
  if (!(len == 1 && c.data[start] == '-')) msg.set_span(f, c.span(start, start + (len > max ? max : len)));
  return true;
}

// STRUCTURED-DATA: "-" or one or more "[id name=\"value\" ...]".
bool parse_sd(Cursor& c, LogMessage& msg) {
  if (c.eat('-')) return true;
  if (c.peek() != '[' || c.at_end()) return false;
  while (c.eat('[')) {
    uint32_t id_start = c.pos;
    // Names are printable ASCII but for '=', ']' and '"'.
    c.pos = scan_to(c.data, c.pos, c.size, kNotSdName);
    uint32_t id_len = c.pos - id_start;
    // RFC 5424 caps names at 32 characters; syslog-ng 3.38 accepts longer
    // ones, and so does logferry (up to 255), rather than lose the header.
    if (id_len == 0 || id_len > 255) return false;
    msg.begin_sd_element(c.span(id_start, c.pos));
    while (c.eat(' ')) {
      uint32_t name_start = c.pos;
      c.pos = scan_to(c.data, c.pos, c.size, kNotSdName);
      uint32_t name_len = c.pos - name_start;
      if (name_len == 0 || name_len > 255) return false;
      Span name = c.span(name_start, c.pos);
      if (!c.eat('=') || !c.eat('"')) return false;
      uint32_t value_start = c.pos;
      bool escaped = false;
      for (;;) {
        c.pos = scan_to(c.data, c.pos, c.size, kSdValueMark);  // to '"', '\\' or ']'
        if (c.at_end() || c.peek() == '"') break;
        if (c.peek() == '\\') {
          escaped = true;
          c.pos += c.left() >= 2 ? 2 : 1;  // a final lone '\' must not step past the end
        } else if (c.peek() == ']') {
          return false;  // RFC 5424: ']' must be escaped in a value
        } else {
          ++c.pos;
        }
      }
      if (c.pos >= c.size) return false;
      Span value = c.span(value_start, c.pos);
      if (escaped) {
        // "\"", "\\" and "\]" lose their backslash; any other keeps it.
        std::string_view raw = c.view(value_start, c.pos);
        Span out = msg.store(raw);
        char* w = const_cast<char*>(msg.view(out).data());
        uint32_t n = 0;
        for (size_t i = 0; i < raw.size(); ++i) {
          if (raw[i] == '\\' && i + 1 < raw.size() &&
              (raw[i + 1] == '"' || raw[i + 1] == '\\' || raw[i + 1] == ']'))
            ++i;
          w[n++] = raw[i];
        }
        value = Span{out.off, n};
      }
      ++c.pos;  // closing quote
      msg.add_sd_param(name, value);
    }
    if (!c.eat(']')) return false;
  }
  return true;
}

// Returns false (and leaves msg for the caller to reset) when the bytes are
// not an RFC 5424 header; *where says how far it got and *what why.
bool parse_5424(Cursor& c, const ParseOptions& o, LogMessage& msg, const char** what) {
  bool had_pri;
  *what = "rfc5424: invalid PRI";
  if (!parse_pri(c, o, msg, &had_pri)) return false;
  *what = "rfc5424: expected VERSION 1";
  if (!c.eat('1') || !c.eat(' ')) return false;
  *what = "rfc5424: invalid TIMESTAMP";
  if (c.peek() == '-' && c.peek(1) == ' ') {
    msg.stamp = msg.received;
    ++c.pos;
  } else if (!parse_iso_stamp(c, o, &msg.stamp)) {
    return false;
  }
  *what = "rfc5424: expected SP after TIMESTAMP";
  if (!c.eat(' ')) return false;
  *what = "rfc5424: invalid HOSTNAME";
  if (!parse_column(c, 255, msg, Field::kHost) || !c.eat(' ')) return false;
  *what = "rfc5424: invalid APP-NAME";
  if (!parse_column(c, 48, msg, Field::kProgram) || !c.eat(' ')) return false;
  *what = "rfc5424: invalid PROCID";
  if (!parse_column(c, 128, msg, Field::kPid) || !c.eat(' ')) return false;
  *what = "rfc5424: invalid MSGID";
  if (!parse_column(c, 32, msg, Field::kMsgId) || !c.eat(' ')) return false;
  *what = "rfc5424: invalid STRUCTURED-DATA";
  if (!parse_sd(c, msg)) return false;
  if (!c.at_end()) {
    *what = "rfc5424: expected SP before MSG";
    if (!c.eat(' ')) return false;
    if (c.left() >= 3 && c.view(c.pos, c.pos + 3) == "\xEF\xBB\xBF") {
      c.pos += 3;
      msg.flags |= kFlagUtf8Bom;
    }
  }
  set_message(c, o, msg);
  msg.flags |= kFlagRfc5424;
  return true;
}

// "<PRI>1 " is the mark of RFC 5424.
bool looks_like_5424(const Cursor& c) {
  if (c.peek() != '<') return false;
  uint32_t i = 1;
  while (i < 5 && is_digit(c.peek(i))) ++i;
  return i > 1 && c.peek(i) == '>' && c.peek(i + 1) == '1' && c.peek(i + 2) == ' ';
}

}  // namespace

void parse_syslog(std::string_view raw, const ParseOptions& o, LogMessage& msg) {
  // Trailing newlines and NULs are framing, not content.
  while (!raw.empty() && (raw.back() == '\n' || raw.back() == '\0' || raw.back() == '\r'))
    raw.remove_suffix(1);
  Span r = msg.set_raw(raw);
  Cursor c{raw.data(), static_cast<uint32_t>(raw.size()), 0, r.off};
  msg.set_span(Field::kHost, Span{});
  if (o.no_parse) {
    msg.pri = o.default_pri;
    msg.stamp = msg.received;
    set_message(c, o, msg);
  } else if (o.format != SyslogFormat::kRfc3164 && looks_like_5424(c)) {
    // format(rfc5424) still reads a message without "<PRI>1 " as RFC 3164,
    // as syslog-ng's flags(syslog-protocol) does.
    const char* what = nullptr;
    msg.pri = o.default_pri;
    if (!parse_5424(c, o, msg, &what)) {
      uint32_t at = c.pos;
      msg.clear_structured_data();
      keep_raw(c, o, msg, what, at);
    }
  } else {
    parse_3164(c, o, msg);
  }
  if (msg.get(Field::kHost).empty()) msg.set_span(Field::kHost, msg.span(Field::kHostFrom));
}

}  // namespace logferry
