#include "core/timestamp.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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

uint64_t TimeZone::next_id() {
  static std::atomic<uint64_t> counter{0};
  return ++counter;
}

const std::shared_ptr<const TimeZone>& TimeZone::utc() {
  static const std::shared_ptr<const TimeZone> zone = [] {
    auto z = std::make_shared<TimeZone>();
    z->name_ = "UTC";
    return z;
  }();
  return zone;
}

// The local zone is read once from $TZ or /etc/localtime into a transition
// table, so that converting a stamp never calls localtime_r (which takes a
// lock and re-checks the environment on every call).  A $TZ that names no
// zone file (a POSIX rule such as "EST5EDT") falls back to localtime_r.
const std::shared_ptr<const TimeZone>& TimeZone::local() {
  static const std::shared_ptr<const TimeZone> zone = [] {
    auto z = std::make_shared<TimeZone>();
    z->name_ = "local";
    const char* tz = getenv("TZ");
    std::string path = "/etc/localtime";
    if (tz) {
      std::string_view name = tz;
      if (!name.empty() && name.front() == ':') name.remove_prefix(1);
      if (name.empty() || name == "UTC" || name == "UTC0" || name == "GMT") return z;
      path = name.front() == '/' ? std::string(name) : "/usr/share/zoneinfo/" + std::string(name);
      if (name.find("..") != std::string_view::npos || !z->load_tzif(path, nullptr)) {
        z->kind_ = Kind::kLocal;
      }
      return z;
    }
    if (!z->load_tzif(path, nullptr)) z->kind_ = Kind::kFixed;  // no zone configured: UTC
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
  bool name_ok = spec.find("..") == std::string_view::npos && spec.front() != '/' &&
                 spec.size() <= 255;
  for (char ch : spec) {
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
          ch == '/' || ch == '_' || ch == '-' || ch == '+'))
      name_ok = false;
  }
  if (!name_ok) {
    if (error) *error = "invalid time zone name";
    return nullptr;
  }
  if (!z->load_tzif("/usr/share/zoneinfo/" + z->name_, error)) return nullptr;
  return z;
}

namespace {

// The POSIX TZ rule that a TZif v2+ file carries in its footer, e.g.
// "CET-1CEST,M3.5.0,M10.5.0/3".  It governs every instant after the last
// transition in the table: forever in "slim" files, after 2037 in "fat" ones.
struct PosixDate {
  char kind = 'M';      // 'M' month.week.day, 'J' Julian day 1..365, 'n' day 0..365
  int a = 0, b = 0, c = 0;
  int32_t time = 7200;  // local time of day of the change, seconds
};

struct PosixRule {
  int32_t std_off = 0;  // seconds east of UTC
  int32_t dst_off = 0;
  bool has_dst = false;
  PosixDate start, end;
};

bool is_ascii_digit(char ch) { return ch >= '0' && ch <= '9'; }
bool is_ascii_alpha(char ch) { return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z'); }

bool posix_name(std::string_view& s) {
  if (!s.empty() && s[0] == '<') {
    size_t close = s.find('>');
    if (close == std::string_view::npos || close < 4) return false;
    s.remove_prefix(close + 1);
    return true;
  }
  size_t n = 0;
  while (n < s.size() && is_ascii_alpha(s[n])) ++n;
  if (n < 3) return false;
  s.remove_prefix(n);
  return true;
}

int posix_number(std::string_view& s, int* v) {
  size_t n = 0;
  *v = 0;
  while (n < s.size() && n < 3 && is_ascii_digit(s[n])) *v = *v * 10 + (s[n++] - '0');
  s.remove_prefix(n);
  return static_cast<int>(n);
}

// [+-]hh[:mm[:ss]] in seconds; RFC 8536 allows hours up to 167 in rule times.
bool posix_time(std::string_view& s, int32_t* out) {
  int sign = 1;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    sign = s[0] == '-' ? -1 : 1;
    s.remove_prefix(1);
  }
  int parts[3] = {0, 0, 0};
  for (int i = 0; i < 3; ++i) {
    if (i > 0) {
      if (s.empty() || s[0] != ':') break;
      s.remove_prefix(1);
    }
    if (posix_number(s, &parts[i]) == 0) return false;
  }
  if (parts[0] > 167 || parts[1] > 59 || parts[2] > 59) return false;
  *out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
  return true;
}

bool posix_date(std::string_view& s, PosixDate* d) {
  auto expect = [&](char ch) {
    if (s.empty() || s[0] != ch) return false;
    s.remove_prefix(1);
    return true;
  };
  if (expect('M')) {
    d->kind = 'M';
    if (!posix_number(s, &d->a) || !expect('.') || !posix_number(s, &d->b) || !expect('.') ||
        !posix_number(s, &d->c))
      return false;
    if (d->a < 1 || d->a > 12 || d->b < 1 || d->b > 5 || d->c > 6) return false;
  } else if (expect('J')) {
    d->kind = 'J';
    if (!posix_number(s, &d->a) || d->a < 1 || d->a > 365) return false;
  } else {
    d->kind = 'n';
    if (!posix_number(s, &d->a) || d->a > 365) return false;
  }
  d->time = 7200;
  if (expect('/') && !posix_time(s, &d->time)) return false;
  return true;
}

bool parse_posix_tz(std::string_view s, PosixRule* r) {
  int32_t off = 0;
  if (!posix_name(s) || !posix_time(s, &off)) return false;
  r->std_off = -off;  // POSIX counts hours west of Greenwich
  if (s.empty()) return true;
  if (!posix_name(s)) return false;
  r->has_dst = true;
  r->dst_off = r->std_off + 3600;
  if (!s.empty() && s[0] != ',') {
    if (!posix_time(s, &off)) return false;
    r->dst_off = -off;
  }
  if (s.empty()) {  // POSIX default: the US rules
    r->start = PosixDate{'M', 3, 2, 0, 7200};
    r->end = PosixDate{'M', 11, 1, 0, 7200};
    return true;
  }
  if (s[0] != ',') return false;
  s.remove_prefix(1);
  if (!posix_date(s, &r->start) || s.empty() || s[0] != ',') return false;
  s.remove_prefix(1);
  return posix_date(s, &r->end) && s.empty();
}

bool is_leap_year(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// The wall-clock second (counted as if UTC) at which rule date d falls in year y.
int64_t posix_local_time(const PosixDate& d, int y) {
  int64_t day;
  if (d.kind == 'J') {
    day = days_from_civil(y, 1, 1) + d.a - 1 + (is_leap_year(y) && d.a >= 60 ? 1 : 0);
  } else if (d.kind == 'n') {
    day = days_from_civil(y, 1, 1) + d.a;
  } else {
    const int64_t first = days_from_civil(y, d.a, 1);
    const int64_t next = d.a == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, d.a + 1, 1);
    const int weekday = static_cast<int>((first % 7 + 11) % 7);  // of the 1st; 0 = Sunday
    day = first + (d.c - weekday + 7) % 7 + 7 * (d.b - 1);
    while (day >= next) day -= 7;  // week 5 means the last one
  }
  return day * 86400 + d.time;
}

constexpr int kLastRuleYear = 2200;

}  // namespace

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
  // Plain stdio: a directory (e.g. "Europe") or an unreadable path must
  // fail softly, where istreambuf_iterator would throw from underflow().
  // Real TZif files are a few KiB; anything past 1 MiB is not one.
  std::string data;
  if (FILE* f = fopen(path.c_str(), "rb")) {
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0 && data.size() < (1u << 20)) data.append(buf, n);
    fclose(f);
  }
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
  // Version 2+ files end with "\n<POSIX TZ rule>\n", which holds after the
  // table's last transition.  Unroll it into transitions up to kLastRuleYear.
  size_t footer = block + static_cast<size_t>(block_len(time_size));
  if (time_size == 8 && footer < size && data[footer] == '\n') {
    size_t end = data.find('\n', footer + 1);
    PosixRule rule;
    if (end != std::string::npos &&
        parse_posix_tz(std::string_view(data).substr(footer + 1, end - footer - 1), &rule)) {
      const int64_t last_at = transitions_.empty() ? INT64_MIN : transitions_.back().at;
      const int32_t last_offset = transitions_.empty() ? first_offset_ : transitions_.back().offset;
      if (rule.has_dst) {
        // Clamped: some files hold a single "big bang" transition at -2^59.
        const int64_t anchor = transitions_.empty() ? 0 : std::clamp<int64_t>(last_at, -2208988800, 7258118400);
        const int from = civil_from_unix(anchor).year;  // 1900..2200
        for (int y = from; y <= kLastRuleYear; ++y) {
          Transition a{posix_local_time(rule.start, y) - rule.std_off, rule.dst_off};
          Transition b{posix_local_time(rule.end, y) - rule.dst_off, rule.std_off};
          if (b.at < a.at) std::swap(a, b);
          if (a.at > last_at) transitions_.push_back(a);
          if (b.at > last_at) transitions_.push_back(b);
        }
        std::stable_sort(transitions_.begin(), transitions_.end(),
                         [](const Transition& x, const Transition& y) { return x.at < y.at; });
      } else if (rule.std_off != last_offset) {
        if (transitions_.empty()) {
          first_offset_ = rule.std_off;
        } else {
          transitions_.push_back({last_at + 1, rule.std_off});
        }
      }
    }
  }
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
  // Messages arrive in time order, so the last 15-minute slot of local time
  // answers almost every call; offsets only change on such slots.
  struct Cache {
    uint64_t zone = 0;
    int64_t slot = 0;
    int32_t offset = 0;
  };
  static thread_local Cache cache;
  int64_t slot = local_seconds >= 0 ? local_seconds / 900 : (local_seconds - 899) / 900;
  if (cache.zone == id_ && cache.slot == slot) return cache.offset;
  // Two rounds settle every case but the hour skipped or repeated by DST.
  int32_t off = offset_at_utc(local_seconds);
  off = offset_at_utc(local_seconds - off);
  if (kind_ == Kind::kTable) cache = Cache{id_, slot, off};
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
