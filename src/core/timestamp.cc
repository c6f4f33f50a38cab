#include "core/timestamp.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>

namespace logferry {

const char* const kMonthAbbrevs[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
const char* const kWeekdayAbbrevs[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
const char* const kMonthNames[12] = {"January", "February", "March",     "April",
                                    "May",     "June",     "July",      "August",
                                    "September", "October", "November", "December"};
const char* const kWeekdayNames[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                     "Thursday", "Friday", "Saturday"};

// Howard Hinnant's days_from_civil / civil_from_days algorithms.
int64_t days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

CivilTime civil_from_unix(int64_t t) {
  int64_t days = t / 86400;
  int64_t rem = t % 86400;
  if (rem < 0) {
    rem += 86400;
    days -= 1;
  }
  CivilTime c;
  c.hour = static_cast<int>(rem / 3600);
  c.min = static_cast<int>(rem % 3600 / 60);
  c.sec = static_cast<int>(rem % 60);
  c.weekday = static_cast<int>((days % 7 + 11) % 7);  // 1970-01-01 was a Thursday
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  c.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  c.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  c.year = static_cast<int>(yoe + era * 400 + (c.month <= 2));
  c.yearday = static_cast<int>(days - days_from_civil(c.year, 1, 1));
  return c;
}

int64_t unix_from_civil(const CivilTime& c) {
  return days_from_civil(c.year, c.month, c.day) * 86400 + c.hour * 3600 + c.min * 60 + c.sec;
}

CivilTime to_civil(const Timestamp& ts) { return civil_from_unix(ts.sec + ts.gmtoff); }

int month_from_abbrev(std::string_view s) {
  if (s.size() != 3) return 0;
  for (int i = 0; i < 12; ++i) {
    const char* m = kMonthAbbrevs[i];
    if ((s[0] | 0x20) == (m[0] | 0x20) && (s[1] | 0x20) == m[1] && (s[2] | 0x20) == m[2])
      return i + 1;
  }
  return 0;
}

std::shared_ptr<const TimeZone> TimeZone::utc() {
  static const auto zone = [] {
    auto z = std::make_shared<TimeZone>();
    z->name_ = "UTC";
    return z;
  }();
  return zone;
}

std::shared_ptr<const TimeZone> TimeZone::local() {
  static const auto zone = [] {
    auto z = std::make_shared<TimeZone>();
    z->kind_ = Kind::kLocal;
    z->name_ = "local";
    return z;
  }();
  return zone;
}

static bool parse_fixed_offset(std::string_view s, int32_t* out) {
  if (s.size() < 3 || (s[0] != '+' && s[0] != '-')) return false;
  const int sign = s[0] == '-' ? -1 : 1;
  std::string digits;
  for (size_t i = 1; i < s.size(); ++i) {
    if (s[i] == ':' && i == 3) continue;
    if (s[i] < '0' || s[i] > '9') return false;
    digits.push_back(s[i]);
  }
  if (digits.size() != 2 && digits.size() != 4) return false;
  const int h = (digits[0] - '0') * 10 + (digits[1] - '0');
  const int m = digits.size() == 4 ? (digits[2] - '0') * 10 + (digits[3] - '0') : 0;
  if (h > 23 || m > 59) return false;
  *out = sign * (h * 3600 + m * 60);
  return true;
}

std::shared_ptr<const TimeZone> TimeZone::parse(std::string_view spec, std::string* error) {
  if (spec.empty() || spec == "local") return local();
  if (spec == "Z" || spec == "UTC" || spec == "utc" || spec == "GMT") return utc();
  auto z = std::make_shared<TimeZone>();
  z->name_ = std::string(spec);
  int32_t off = 0;
  if (parse_fixed_offset(spec, &off)) {
    z->fixed_ = off;
    return z;
  }
  // IANA names: letters, digits, '/', '_', '-', '+'; never a path escape.
  if (spec.find("..") != std::string_view::npos || spec.front() == '/') {
    if (error) *error = "invalid time zone name";
    return nullptr;
  }
  if (!z->load_tzif("/usr/share/zoneinfo/" + z->name_, error)) return nullptr;
  return z;
}

static int64_t read_be(const unsigned char* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  if (n == 4) return static_cast<int32_t>(static_cast<uint32_t>(v));
  return static_cast<int64_t>(v);
}

// Reads the transition table of a TZif file (RFC 8536), preferring the
// 64-bit (version 2+) block.  After the last transition the last offset
// holds; Debian ships "fat" files whose tables run to 2037.
bool TimeZone::load_tzif(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto fail = [&](const char* why) {
    if (error) *error = std::string(why) + ": " + path;
    return false;
  };
  if (data.size() < 44 || data.compare(0, 4, "TZif") != 0) return fail("unknown time zone");
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t size = data.size();
  auto counts = [&](const unsigned char* h, int64_t c[6]) {
    for (int i = 0; i < 6; ++i) c[i] = read_be(h + 20 + 4 * i, 4);
  };
  int64_t c[6];
  counts(p, c);
  int time_size = 4;
  size_t block = 44;
  auto block_len = [&](int ts) {
    return c[3] * ts + c[3] + c[4] * 6 + c[5] + c[2] * (ts + 4) + c[1] + c[0];
  };
  if (p[4] >= '2') {
    size_t v1 = 44 + static_cast<size_t>(block_len(4));
    if (v1 + 44 > size || std::memcmp(p + v1, "TZif", 4) != 0) return fail("corrupt time zone file");
    counts(p + v1, c);
    block = v1 + 44;
    time_size = 8;
  }
  for (int i = 0; i < 6; ++i)
    if (c[i] < 0 || c[i] > 100000) return fail("corrupt time zone file");
  if (block + static_cast<size_t>(block_len(time_size)) > size || c[4] == 0)
    return fail("corrupt time zone file");
  const unsigned char* times = p + block;
  const unsigned char* idx = times + c[3] * time_size;
  const unsigned char* types = idx + c[3];
  auto type_offset = [&](int64_t t) -> int32_t {
    if (t >= c[4]) t = 0;
    return static_cast<int32_t>(read_be(types + t * 6, 4));
  };
  first_offset_ = type_offset(0);
  transitions_.reserve(static_cast<size_t>(c[3]));
  for (int64_t i = 0; i < c[3]; ++i)
    transitions_.push_back({read_be(times + i * time_size, time_size), type_offset(idx[i])});
  kind_ = Kind::kTable;
  return true;
}

int32_t TimeZone::offset_at_utc(int64_t t) const {
  switch (kind_) {
    case Kind::kFixed:
      return fixed_;
    case Kind::kLocal: {
      time_t tt = static_cast<time_t>(t);
      struct tm tm;
      localtime_r(&tt, &tm);
      return static_cast<int32_t>(tm.tm_gmtoff);
    }
    case Kind::kTable: {
      auto it = std::upper_bound(transitions_.begin(), transitions_.end(), t,
                                 [](int64_t v, const Transition& tr) { return v < tr.at; });
      if (it == transitions_.begin()) return first_offset_;
      return std::prev(it)->offset;
    }
  }
  return 0;
}

int32_t TimeZone::offset_for_local(int64_t local_seconds) const {
  if (kind_ == Kind::kFixed) return fixed_;
  // Two rounds settle every case but the hour skipped or repeated by DST.
  int32_t off = offset_at_utc(local_seconds);
  off = offset_at_utc(local_seconds - off);
  return off;
}

Timestamp now_in(const TimeZone& tz) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  Timestamp t;
  t.sec = ts.tv_sec;
  t.nsec = static_cast<uint32_t>(ts.tv_nsec);
  t.gmtoff = tz.offset_at_utc(t.sec);
  return t;
}

}  // namespace logferry
