#include "core/template.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <cstring>
#include <fnmatch.h>

#include "core/filter.h"
#include "core/text.h"

namespace logferry {

// ---------------------------------------------------------------------------
// Scratch buffers: nested rendering (a function whose argument is a
// template) needs a buffer per depth.  They live per thread and keep their
// capacity, so steady-state rendering allocates nothing.
namespace {
class Scratch {
 public:
  Scratch() {
    if (depth_ == pool_.size()) pool_.emplace_back();
    buf_ = &pool_[depth_++];
    buf_->clear();
  }
  ~Scratch() { --depth_; }
  std::string& str() { return *buf_; }

 private:
  static thread_local std::deque<std::string> pool_;  // deque: stable references
  static thread_local size_t depth_;
  std::string* buf_;
};
thread_local std::deque<std::string> Scratch::pool_;
thread_local size_t Scratch::depth_ = 0;
}  // namespace

// ---------------------------------------------------------------------------
// Macros

namespace {
struct MacroName {
  const char* name;
  Macro macro;
};
constexpr MacroName kPlainMacros[] = {
    {"HOST", Macro::kHost},         {"HOST_FROM", Macro::kHostFrom},
    {"FULLHOST", Macro::kFullHost}, {"FULLHOST_FROM", Macro::kFullHostFrom},
    {"SOURCEIP", Macro::kSourceIp}, {"PROGRAM", Macro::kProgram},
    {"PID", Macro::kPid},           {"MSGID", Macro::kMsgId},
    {"MSG", Macro::kMessage},       {"MESSAGE", Macro::kMessage},
    {"MSGONLY", Macro::kMessage},   {"MSGHDR", Macro::kMsgHdr},
    {"PRI", Macro::kPri},           {"FACILITY", Macro::kFacility},
    {"FACILITY_NUM", Macro::kFacilityNum}, {"LEVEL", Macro::kLevel},
    {"PRIORITY", Macro::kLevel},    {"SEVERITY", Macro::kLevel},
    {"LEVEL_NUM", Macro::kLevelNum}, {"SEVERITY_NUM", Macro::kLevelNum},
    {"TAGS", Macro::kTags},         {"SDATA", Macro::kSdata},
    {"RAWMSG", Macro::kRawMsg},     {"LOGHOST", Macro::kLogHost},
};
constexpr MacroName kDateMacros[] = {
    {"ISODATE", Macro::kIsoDate},     {"DATE", Macro::kDate},
    {"FULLDATE", Macro::kFullDate},   {"STAMP", Macro::kStamp},
    {"BSDDATE", Macro::kBsdDate},     {"YEAR", Macro::kYear},
    {"MONTH", Macro::kMonth},         {"MONTH_ABBREV", Macro::kMonthAbbrev},
    {"MONTH_NAME", Macro::kMonthName}, {"DAY", Macro::kDay},
    {"HOUR", Macro::kHour},           {"HOUR12", Macro::kHour12},
    {"AMPM", Macro::kAmPm},           {"MIN", Macro::kMin},
    {"SEC", Macro::kSec},             {"MSEC", Macro::kMsec},
    {"USEC", Macro::kUsec},           {"TZOFFSET", Macro::kTzOffset},
    {"TZ", Macro::kTz},               {"UNIXTIME", Macro::kUnixTime},
    {"WEEK_DAY_ABBREV", Macro::kWeekDayAbbrev}, {"WEEKDAY", Macro::kWeekDayAbbrev},
    {"WEEK_DAY_NAME", Macro::kWeekDayName}, {"WEEK_DAY", Macro::kWeekDay},
    {"WEEK", Macro::kWeek},           {"YEAR_DAY", Macro::kYearDay},
};

const std::string& local_hostname() {
  static const std::string name = [] {
    char buf[256] = {0};
    gethostname(buf, sizeof(buf) - 1);
    return std::string(buf);
  }();
  return name;
}

void append_offset(std::string& out, int32_t off) {
  out += off < 0 ? '-' : '+';
  if (off < 0) off = -off;
  append_uint(out, static_cast<uint64_t>(off / 3600), 2);
  out += ':';
  append_uint(out, static_cast<uint64_t>(off % 3600 / 60), 2);
}

void append_fraction(std::string& out, const Timestamp& ts, int digits) {
  if (digits < 0) digits = ts.precision;
  if (digits <= 0) return;
  if (digits > 9) digits = 9;
  uint32_t v = ts.nsec;
  for (int i = digits; i < 9; ++i) v /= 10;
  out += '.';
  append_uint(out, v, digits);
}

void append_hms(std::string& out, const CivilTime& c) {
  append_uint(out, static_cast<uint64_t>(c.hour), 2);
  out += ':';
  append_uint(out, static_cast<uint64_t>(c.min), 2);
  out += ':';
  append_uint(out, static_cast<uint64_t>(c.sec), 2);
}

// "Oct  1 22:14:15": the BSD form, day padded with a space.
void append_bsd_date(std::string& out, const CivilTime& c) {
  out += kMonthAbbrevs[c.month - 1];
  out += ' ';
  if (c.day < 10) out += ' ';
  append_uint(out, static_cast<uint64_t>(c.day));
  out += ' ';
  append_hms(out, c);
}

void render_date_uncached(Macro m, const Timestamp& ts, const RenderOptions& o, std::string& out);

// Two decimal digits, "00".."99".
constexpr char kDigitPairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

inline char* put2(char* p, unsigned v) {
  std::memcpy(p, kDigitPairs + 2 * v, 2);
  return p + 2;
}

// The date part of the usual stamps ("Mmm dd ", "YYYY-MM-DD", "YYYY Mmm dd "),
// kept per thread for the last local day rendered: the time of day is then
// written with a few divisions, whatever order the stamps come in (the
// messages of many hosts interleave, and a one-second cache misses on them).
struct DayText {
  int64_t day = INT64_MIN;  // local days since the epoch
  bool ok = false;          // year 0..9999: the fast path applies
  char bsd[7];              // "Mmm dd " (day padded with a space)
  char iso[11];             // "YYYY-MM-DDT"
  char year[5];             // "YYYY "
};

bool is_common_date(Macro m) {
  return m == Macro::kDate || m == Macro::kStamp || m == Macro::kBsdDate || m == Macro::kIsoDate ||
         m == Macro::kFullDate;
}

// Writes $DATE/$STAMP/$BSDDATE, $ISODATE or $FULLDATE of `ts` (already in
// the zone to write) into buf (at least kDateBufSize bytes) and returns its
// length; -1 for other macros and for years outside 0..9999 or odd values,
// which the general path handles.
constexpr size_t kDateBufSize = 48;
int format_common_date(Macro m, const Timestamp& ts, const RenderOptions& o, char* buf) {
  if (!is_common_date(m)) return -1;
  int64_t local = ts.sec + ts.gmtoff;
  int64_t day = local / 86400;
  int64_t rem = local % 86400;
  if (rem < 0) {
    rem += 86400;
    day -= 1;
  }
  static thread_local DayText d;
  if (d.day != day) {
    CivilTime c = civil_from_unix(day * 86400);
    d.day = day;
    d.ok = c.year >= 0 && c.year <= 9999;
    if (d.ok) {
      std::memcpy(d.bsd, kMonthAbbrevs[c.month - 1], 3);
      d.bsd[3] = ' ';
      if (c.day < 10) {
        d.bsd[4] = ' ';
        d.bsd[5] = static_cast<char>('0' + c.day);
      } else {
        put2(d.bsd + 4, static_cast<unsigned>(c.day));
      }
      d.bsd[6] = ' ';
      unsigned y = static_cast<unsigned>(c.year);
      put2(put2(d.year, y / 100), y % 100);
      d.year[4] = ' ';
      std::memcpy(d.iso, d.year, 4);
      d.iso[4] = '-';
      put2(d.iso + 5, static_cast<unsigned>(c.month));
      d.iso[7] = '-';
      put2(d.iso + 8, static_cast<unsigned>(c.day));
      d.iso[10] = 'T';
    }
  }
  if (!d.ok) return -1;
  char* p = buf;
  if (m == Macro::kIsoDate) {
    std::memcpy(p, d.iso, 11);
    p += 11;
  } else {
    if (m == Macro::kFullDate) {
      std::memcpy(p, d.year, 5);
      p += 5;
    }
    std::memcpy(p, d.bsd, 7);
    p += 7;
  }
  unsigned r = static_cast<unsigned>(rem);
  p = put2(p, r / 3600);
  *p++ = ':';
  p = put2(p, r % 3600 / 60);
  *p++ = ':';
  p = put2(p, r % 60);
  int digits = o.frac_digits < 0 ? ts.precision : o.frac_digits;
  if (digits > 0) {
    if (digits > 9) digits = 9;
    if (ts.nsec >= 1000000000) return -1;
    uint32_t v = ts.nsec;
    for (int i = digits; i < 9; ++i) v /= 10;
    *p++ = '.';
    for (int i = digits - 1; i >= 0; --i) {
      p[i] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
    p += digits;
  }
  if (m == Macro::kIsoDate) {
    int32_t off = ts.gmtoff;
    uint32_t a = static_cast<uint32_t>(off < 0 ? -static_cast<int64_t>(off) : off);
    if (a / 3600 >= 100) return -1;  // not a real offset; the general path writes it
    *p++ = off < 0 ? '-' : '+';
    p = put2(p, a / 3600);
    *p++ = ':';
    p = put2(p, a % 3600 / 60);
  }
  return static_cast<int>(p - buf);
}

bool render_common_date(Macro m, const Timestamp& ts, const RenderOptions& o, std::string& out) {
  char buf[kDateBufSize];
  int n = format_common_date(m, ts, o, buf);
  if (n < 0) return false;
  out.append(buf, static_cast<size_t>(n));
  return true;
}

// Dates change once a second while messages come by the thousand: the usual
// stamps are written from a per-day cache (render_common_date), and the text
// of any other date macro without fraction digits is kept per thread for the
// last second it was asked for.
void render_date(Macro m, const Timestamp& stamp, const RenderOptions& o, std::string& out) {
  Timestamp ts = stamp;
  if (o.time_zone) ts.gmtoff = o.time_zone->offset_at_utc(ts.sec);
  if (render_common_date(m, ts, o, out)) return;
  int digits = o.frac_digits < 0 ? ts.precision : o.frac_digits;
  bool has_fraction = digits > 0 && (m == Macro::kIsoDate || m == Macro::kDate || m == Macro::kStamp ||
                                     m == Macro::kBsdDate || m == Macro::kFullDate || m == Macro::kUnixTime);
  if (has_fraction || m == Macro::kMsec || m == Macro::kUsec) {
    render_date_uncached(m, ts, o, out);
    return;
  }
  struct Entry {
    int64_t sec = INT64_MIN;
    int32_t gmtoff = 0;
    std::string text;
  };
  static thread_local Entry cache[static_cast<int>(Macro::kYearDay) + 1];
  Entry& e = cache[static_cast<int>(m)];
  if (e.sec != ts.sec || e.gmtoff != ts.gmtoff) {
    e.text.clear();
    render_date_uncached(m, ts, o, e.text);
    e.sec = ts.sec;
    e.gmtoff = ts.gmtoff;
  }
  out += e.text;
}

void render_date_uncached(Macro m, const Timestamp& ts, const RenderOptions& o, std::string& out) {
  CivilTime c = to_civil(ts);
  switch (m) {
    case Macro::kIsoDate:
      append_uint(out, static_cast<uint64_t>(c.year), 4);
      out += '-';
      append_uint(out, static_cast<uint64_t>(c.month), 2);
      out += '-';
      append_uint(out, static_cast<uint64_t>(c.day), 2);
      out += 'T';
      append_hms(out, c);
      append_fraction(out, ts, o.frac_digits);
      append_offset(out, ts.gmtoff);
      break;
    case Macro::kDate:
    case Macro::kStamp:
    case Macro::kBsdDate:
      append_bsd_date(out, c);
      append_fraction(out, ts, o.frac_digits);
      break;
    case Macro::kFullDate:
      append_uint(out, static_cast<uint64_t>(c.year), 4);
      out += ' ';
      append_bsd_date(out, c);
      append_fraction(out, ts, o.frac_digits);
      break;
    case Macro::kYear: append_uint(out, static_cast<uint64_t>(c.year), 4); break;
    case Macro::kMonth: append_uint(out, static_cast<uint64_t>(c.month), 2); break;
    case Macro::kMonthAbbrev: out += kMonthAbbrevs[c.month - 1]; break;
    case Macro::kMonthName: out += kMonthNames[c.month - 1]; break;
    case Macro::kDay: append_uint(out, static_cast<uint64_t>(c.day), 2); break;
    case Macro::kHour: append_uint(out, static_cast<uint64_t>(c.hour), 2); break;
    case Macro::kHour12: {
      int h = c.hour % 12;
      append_uint(out, static_cast<uint64_t>(h == 0 ? 12 : h), 2);
      break;
    }
    case Macro::kAmPm: out += c.hour < 12 ? "AM" : "PM"; break;
    case Macro::kMin: append_uint(out, static_cast<uint64_t>(c.min), 2); break;
    case Macro::kSec: append_uint(out, static_cast<uint64_t>(c.sec), 2); break;
    case Macro::kMsec: append_uint(out, ts.nsec / 1000000, 3); break;
    case Macro::kUsec: append_uint(out, ts.nsec / 1000, 6); break;
    case Macro::kTzOffset:
    case Macro::kTz: append_offset(out, ts.gmtoff); break;
    case Macro::kUnixTime:
      append_int(out, ts.sec);
      append_fraction(out, ts, o.frac_digits);
      break;
    case Macro::kWeekDayAbbrev: out += kWeekdayAbbrevs[c.weekday]; break;
    case Macro::kWeekDayName: out += kWeekdayNames[c.weekday]; break;
    case Macro::kWeekDay: append_uint(out, static_cast<uint64_t>(c.weekday + 1)); break;
    case Macro::kWeek: {
      // Week of the year with Monday as its first day, as strftime's %W.
      int monday_based = (c.weekday + 6) % 7;
      append_uint(out, static_cast<uint64_t>((c.yearday + 7 - monday_based) / 7), 2);
      break;
    }
    case Macro::kYearDay: append_uint(out, static_cast<uint64_t>(c.yearday + 1), 3); break;
    default: break;
  }
}

void append_sdata(const LogMessage& msg, std::string& out) {
  bool open = false;
  for_each_sd_param(msg, [&](std::string_view id, std::string_view name, std::string_view value, bool first) {
    if (first) {
      if (open) out += ']';
      out += '[';
      out.append(id);
      open = true;
    }
    if (!name.empty()) {
      out += ' ';
      out.append(name);
      out += "=\"";
      append_sd_escaped(out, value);
      out += '"';
    }
  });
  if (open) out += ']';
}
}  // namespace

bool lookup_macro(std::string_view name, Macro* macro, bool* received) {
  for (const auto& m : kPlainMacros) {
    if (name == m.name) {
      *macro = m.macro;
      *received = false;
      return true;
    }
  }
  bool recvd = false;
  if (name.starts_with("R_")) {
    recvd = true;
    name.remove_prefix(2);
  } else if (name.starts_with("S_")) {
    name.remove_prefix(2);
  }
  for (const auto& m : kDateMacros) {
    if (name == m.name) {
      *macro = m.macro;
      *received = recvd;
      return true;
    }
  }
  return false;
}

void render_macro(Macro m, bool received, const LogMessage& msg, const RenderOptions& o,
                  std::string& out) {
  switch (m) {
    case Macro::kHost:
    case Macro::kFullHost: out.append(msg.get(Field::kHost)); break;
    case Macro::kHostFrom:
    case Macro::kFullHostFrom: out.append(msg.get(Field::kHostFrom)); break;
    case Macro::kSourceIp: out.append(msg.get(Field::kSourceIp)); break;
    case Macro::kProgram: out.append(msg.get(Field::kProgram)); break;
    case Macro::kPid: out.append(msg.get(Field::kPid)); break;
    case Macro::kMsgId: out.append(msg.get(Field::kMsgId)); break;
    case Macro::kMessage: out.append(msg.get(Field::kMessage)); break;
    case Macro::kMsgHdr: {
      std::string_view prog = msg.get(Field::kProgram);
      if (prog.empty()) break;
      out.append(prog);
      std::string_view pid = msg.get(Field::kPid);
      if (!pid.empty()) {
        out += '[';
        out.append(pid);
        out += ']';
      }
      out += ": ";
      break;
    }
    case Macro::kPri: append_uint(out, msg.pri); break;
    case Macro::kFacility: out.append(facility_name(msg.facility())); break;
    case Macro::kFacilityNum: append_uint(out, msg.facility()); break;
    case Macro::kLevel: out.append(severity_name(msg.severity())); break;
    case Macro::kLevelNum: append_uint(out, msg.severity()); break;
    case Macro::kTags: {
      bool first = true;
      for (const auto& t : msg.tags()) {
        if (!first) out += ',';
        out.append(msg.view(t));
        first = false;
      }
      break;
    }
    case Macro::kSdata: append_sdata(msg, out); break;
    case Macro::kRawMsg: out.append(msg.raw()); break;
    case Macro::kLogHost: out.append(local_hostname()); break;
    default: render_date(m, received ? msg.received : msg.stamp, o, out); break;
  }
}

void render_name(std::string_view name, const LogMessage& msg, const RenderOptions& o,
                 std::string& out) {
  Macro m;
  bool received;
  if (lookup_macro(name, &m, &received)) {
    render_macro(m, received, msg, o, out);
    return;
  }
  std::string_view v;
  if (msg.get_value(name, &v)) {
    out.append(v);
    return;
  }
  constexpr std::string_view kPrefix = ".SDATA.";
  if (name.starts_with(kPrefix)) {
    std::string_view rest = name.substr(kPrefix.size());
    // SD-IDs may contain dots ("meta.x"): try every split point.
    for (size_t dot = rest.find('.'); dot != std::string_view::npos; dot = rest.find('.', dot + 1)) {
      if (msg.get_sd(rest.substr(0, dot), rest.substr(dot + 1), &v)) {
        out.append(v);
        return;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Template functions

class TemplateFunction {
 public:
  virtual ~TemplateFunction() = default;
  virtual void call(const LogMessage& msg, const RenderOptions& o, std::string& out) const = 0;
};

namespace {

// An argument of $(name arg arg ...) as written.
struct RawArg {
  std::string text;
  bool quoted = false;
  bool parens = false;  // "(...)": the condition of $(if)
  int col = 0;          // column within the template
};

using TemplatePtr = std::unique_ptr<Template>;

bool compile_args(const std::vector<RawArg>& args, size_t from, std::vector<TemplatePtr>* out,
                  std::string* error) {
  for (size_t i = from; i < args.size(); ++i) {
    auto t = Template::compile(args[i].text, error);
    if (!t) return false;
    out->push_back(std::move(t));
  }
  return true;
}

void render_joined(const std::vector<TemplatePtr>& args, const LogMessage& msg,
                   const RenderOptions& o, char sep, std::string& out) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (i) out += sep;
    args[i]->render(msg, o, out);
  }
}

// echo, lowercase, uppercase: render the arguments joined by a space, then
// transform.  strip and length work on each argument on its own, as
// syslog-ng's do: strip joins the stripped non-empty arguments by a space,
// length writes one length per argument.
class SimpleFunction : public TemplateFunction {
 public:
  enum class Kind { kEcho, kLower, kUpper, kStrip, kLength };
  SimpleFunction(Kind k, std::vector<TemplatePtr> args) : kind_(k), args_(std::move(args)) {}
  void call(const LogMessage& msg, const RenderOptions& o, std::string& out) const override {
    if (kind_ == Kind::kEcho) {
      render_joined(args_, msg, o, ' ', out);
      return;
    }
    Scratch s;
    std::string& v = s.str();
    if (kind_ == Kind::kStrip || kind_ == Kind::kLength) {
      auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
      bool wrote = false;
      for (size_t i = 0; i < args_.size(); ++i) {
        v.clear();
        args_[i]->render(msg, o, v);
        if (kind_ == Kind::kLength) {
          if (i) out += ' ';
          append_uint(out, v.size());
          continue;
        }
        size_t b = 0, e = v.size();
        while (b < e && ws(v[b])) ++b;
        while (e > b && ws(v[e - 1])) --e;
        if (b == e) continue;
        if (wrote) out += ' ';
        out.append(v, b, e - b);
        wrote = true;
      }
      return;
    }
    render_joined(args_, msg, o, ' ', v);
    switch (kind_) {
      case Kind::kLower:
        for (char& c : v)
          if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
        out += v;
        break;
      case Kind::kUpper:
        for (char& c : v)
          if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
        out += v;
        break;
      default:
        break;
    }
  }

 private:
  Kind kind_;
  std::vector<TemplatePtr> args_;
};

// $(substr "$MSG" START [LEN]): START < 0 counts from the end (a START
// before the beginning gives nothing); LEN < 0 leaves that many bytes off
// the end.
class SubstrFunction : public TemplateFunction {
 public:
  SubstrFunction(TemplatePtr value, int64_t start, bool has_len, int64_t len)
      : value_(std::move(value)), start_(start), has_len_(has_len), len_(len) {}
  void call(const LogMessage& msg, const RenderOptions& o, std::string& out) const override {
    Scratch s;
    std::string& v = s.str();
    value_->render(msg, o, v);
    int64_t n = static_cast<int64_t>(v.size());
    if (start_ < 0 && -start_ > n) return;  // before the beginning: nothing (syslog-ng)
    int64_t start = start_ < 0 ? n + start_ : std::min(start_, n);
    int64_t end = n;
    if (has_len_) end = len_ < 0 ? n + len_ : start + len_;
    end = std::min(end, n);
    if (end > start) out.append(v, static_cast<size_t>(start), static_cast<size_t>(end - start));
  }

 private:
  TemplatePtr value_;
  int64_t start_;
  bool has_len_;
  int64_t len_;
};

// $(sanitize [-c|--ctrl-chars] [--no-ctrl-chars] [-i|--invalid-chars C]
// [-r|--replacement R] args...): makes values safe as path parts; the
// arguments are joined by '/'.
class SanitizeFunction : public TemplateFunction {
 public:
  SanitizeFunction(std::vector<TemplatePtr> args, bool ctrl, std::string invalid, char repl)
      : args_(std::move(args)), ctrl_(ctrl), invalid_(std::move(invalid)), repl_(repl) {}
  void call(const LogMessage& msg, const RenderOptions& o, std::string& out) const override {
    for (size_t i = 0; i < args_.size(); ++i) {
      if (i) out += '/';
      size_t from = out.size();
      args_[i]->render(msg, o, out);
      for (size_t k = from; k < out.size(); ++k) {
        unsigned char c = static_cast<unsigned char>(out[k]);
        if ((ctrl_ && (c < 32 || c == 127)) || invalid_.find(static_cast<char>(c)) != std::string::npos)
          out[k] = repl_;
      }
    }
  }

 private:
  std::vector<TemplatePtr> args_;
  bool ctrl_;
  std::string invalid_;
  char repl_;
};

class IfFunction : public TemplateFunction {
 public:
  IfFunction(std::unique_ptr<Filter> cond, TemplatePtr a, TemplatePtr b)
      : cond_(std::move(cond)), then_(std::move(a)), else_(std::move(b)) {}
  void call(const LogMessage& msg, const RenderOptions& o, std::string& out) const override {
    (cond_->eval(msg) ? then_ : else_)->render(msg, o, out);
  }

 private:
  std::unique_ptr<Filter> cond_;
  TemplatePtr then_, else_;
};

// $(format-json [--scope S[,S]] [--key GLOB[,GLOB]] [--exclude GLOB[,GLOB]]
// [--omit-empty-values] [--pair] name=template ...): a JSON object of the
// selected values, keys sorted, dotted keys nested ("a.b" -> {"a":{"b":..}}),
// a leading dot written as '_' (".SDATA.x.y" -> "_SDATA").  As in syslog-ng,
// nothing is selected by default: without --scope or --key only the
// name=value pairs are written.
class FormatJsonFunction : public TemplateFunction {
 public:
  enum Scope : uint32_t {
    kRfc3164 = 1, kRfc5424 = 2, kSelectedMacros = 4, kNvPairs = 8, kDotNvPairs = 16,
    kSdata = 32, kEverything = 64,
  };
  struct Pair {
    std::string name;
    TemplatePtr value;
  };
  uint32_t scopes = 0;
  bool scope_given = false;
  bool omit_empty = false;
  std::vector<std::string> keys, excludes;
  std::vector<Pair> pairs;

  void call(const LogMessage& msg, const RenderOptions& o, std::string& out) const override {
    // Entries are reused across calls on this thread (capacity kept).
    thread_local std::vector<std::pair<std::string, std::string>> store;
    thread_local size_t depth = 0;
    if (depth > 0) {  // format-json inside format-json: rare, use a fresh vector
      std::vector<std::pair<std::string, std::string>> local;
      size_t n = 0;
      collect(msg, o, local, n);
      emit(local, n, out);
      return;
    }
    ++depth;
    size_t n = 0;
    collect(msg, o, store, n);
    emit(store, n, out);
    --depth;
  }

 private:
  static void put(std::vector<std::pair<std::string, std::string>>& v, size_t& n, std::string_view key,
                  std::string_view value) {
    if (n == v.size()) v.emplace_back();
    v[n].first.assign(key);
    v[n].second.assign(value);
    ++n;
  }

  bool selected(std::string_view key, bool by_scope) const {
    thread_local std::string k;
    k.assign(key);
    for (const auto& e : excludes)
      if (fnmatch(e.c_str(), k.c_str(), 0) == 0) return false;
    if (by_scope) return true;
    for (const auto& g : keys)
      if (fnmatch(g.c_str(), k.c_str(), 0) == 0) return true;
    return false;
  }

  void add(std::vector<std::pair<std::string, std::string>>& v, size_t& n, std::string_view key,
           std::string_view value, bool by_scope) const {
    if (omit_empty && value.empty()) return;
    if (!selected(key, by_scope)) return;
    for (size_t i = 0; i < n; ++i)
      if (v[i].first == key) return;  // explicit pairs win; no duplicates
    put(v, n, key, value);
  }

  void collect(const LogMessage& msg, const RenderOptions& o,
               std::vector<std::pair<std::string, std::string>>& v, size_t& n) const {
    Scratch s;
    std::string& tmp = s.str();
    for (const auto& p : pairs) {
      tmp.clear();
      p.value->render(msg, o, tmp);
      if (omit_empty && tmp.empty()) continue;
      put(v, n, p.name, tmp);
    }
    uint32_t sc = scopes;
    if (sc & kEverything) sc |= kRfc5424 | kSelectedMacros | kNvPairs | kDotNvPairs | kSdata;
    if (sc & kRfc5424) sc |= kRfc3164 | kSdata;
    if (sc & kSelectedMacros) sc |= kRfc3164;
    auto macro = [&](const char* name, bool on) {
      bool explicit_key = !keys.empty() && selected(name, false);
      if (!on && !explicit_key) return;
      tmp.clear();
      render_name(name, msg, o, tmp);
      add(v, n, name, tmp, true);
    };
    static const char* const k3164[] = {"FACILITY", "PRIORITY", "DATE", "HOST", "PROGRAM", "PID", "MESSAGE"};
    for (const char* m : k3164) macro(m, sc & kRfc3164);
    macro("MSGID", sc & kRfc5424);
    macro("TAGS", sc & kSelectedMacros);
    macro("SOURCEIP", sc & kSelectedMacros);
    if (!keys.empty()) {
      // --key may name any macro, e.g. --key ISODATE.
      for (const auto& g : keys) {
        Macro m;
        bool r;
        if (g.find_first_of("*?[") == std::string::npos && lookup_macro(g, &m, &r)) {
          tmp.clear();
          render_macro(m, r, msg, o, tmp);
          add(v, n, g, tmp, true);
        }
      }
    }
    for (const auto& nv : msg.values()) {
      std::string_view name = msg.view(nv.name);
      bool dot = !name.empty() && name[0] == '.';
      bool is_sd = name.starts_with(".SDATA.");
      bool on = (dot ? (sc & kDotNvPairs) || (is_sd && (sc & kSdata)) : (sc & kNvPairs));
      add(v, n, name, msg.view(nv.value), on || (!keys.empty() && selected(name, false)));
    }
    for (const auto& e : msg.sd_elements()) {
      for (uint32_t i = 0; i < e.count; ++i) {
        const SdParam& p = msg.sd_params()[e.first + i];
        tmp.assign(".SDATA.");
        tmp.append(msg.view(e.id));
        tmp += '.';
        tmp.append(msg.view(p.name));
        // SD parameters are ".SDATA.*" name-value pairs, so dot-nv-pairs has them too.
        add(v, n, tmp, msg.view(p.value),
            (sc & (kSdata | kDotNvPairs)) || (!keys.empty() && selected(tmp, false)));
      }
    }
  }

  // Compares keys segment by segment so that "a.b" and "a.c" stay together.
  static bool key_less(const std::string& a, const std::string& b) {
    size_t n = std::min(a.size(), b.size());
    for (size_t i = 0; i < n; ++i) {
      if (a[i] == b[i]) continue;
      if (a[i] == '.') return true;
      if (b[i] == '.') return false;
      return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]);
    }
    return a.size() < b.size();
  }

  static void emit(std::vector<std::pair<std::string, std::string>>& v, size_t n, std::string& out) {
    for (size_t i = 0; i < n; ++i)
      if (!v[i].first.empty() && v[i].first[0] == '.') v[i].first[0] = '_';
    std::sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n),
              [](const auto& a, const auto& b) { return key_less(a.first, b.first); });
    out += '{';
    // Open path segments of the previous key.
    std::vector<std::string_view> open;
    bool need_comma = false;
    for (size_t i = 0; i < n; ++i) {
      std::string_view key = v[i].first;
      std::vector<std::string_view> segs;
      size_t start = 0;
      for (size_t dot = key.find('.'); dot != std::string_view::npos; dot = key.find('.', start)) {
        segs.push_back(key.substr(start, dot - start));
        start = dot + 1;
      }
      std::string_view leaf = key.substr(start);
      size_t common = 0;
      while (common < open.size() && common < segs.size() && open[common] == segs[common]) ++common;
      while (open.size() > common) {
        out += '}';
        open.pop_back();
        need_comma = true;
      }
      for (size_t k = common; k < segs.size(); ++k) {
        if (need_comma) out += ',';
        append_json_string(out, segs[k]);
        out += ":{";
        open.push_back(segs[k]);
        need_comma = false;
      }
      if (need_comma) out += ',';
      append_json_string(out, leaf);
      out += ':';
      append_json_string(out, v[i].second);
      need_comma = true;
    }
    while (!open.empty()) {
      out += '}';
      open.pop_back();
    }
    out += '}';
  }
};

// "a,b*" -> "a", "b*": --key and --exclude take comma-separated lists.
void split_globs(const std::string& v, std::vector<std::string>* out) {
  size_t start = 0;
  while (start <= v.size()) {
    size_t comma = v.find(',', start);
    if (comma == std::string::npos) comma = v.size();
    if (comma > start) out->push_back(v.substr(start, comma - start));
    start = comma + 1;
  }
}

std::unique_ptr<TemplateFunction> make_format_json(const std::vector<RawArg>& args, std::string* error) {
  auto f = std::make_unique<FormatJsonFunction>();
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i].text;
    auto value_of = [&](const char* opt) -> const std::string* {
      if (i + 1 >= args.size()) {
        *error = std::string("format-json: ") + opt + " needs a value";
        return nullptr;
      }
      return &args[++i].text;
    };
    if (!args[i].quoted && (a == "--scope" || a == "-s")) {
      const std::string* v = value_of("--scope");
      if (!v) return nullptr;
      f->scope_given = true;
      size_t start = 0;
      while (start <= v->size()) {
        size_t comma = v->find(',', start);
        std::string s = v->substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        for (auto& ch : s)
          if (ch == '_') ch = '-';
        if (s == "rfc3164" || s == "core" || s == "base") f->scopes |= FormatJsonFunction::kRfc3164;
        else if (s == "rfc5424" || s == "syslog-proto") f->scopes |= FormatJsonFunction::kRfc5424;
        else if (s == "selected-macros") f->scopes |= FormatJsonFunction::kSelectedMacros;
        else if (s == "nv-pairs") f->scopes |= FormatJsonFunction::kNvPairs;
        else if (s == "dot-nv-pairs") f->scopes |= FormatJsonFunction::kDotNvPairs;
        else if (s == "all-nv-pairs") f->scopes |= FormatJsonFunction::kNvPairs | FormatJsonFunction::kDotNvPairs;
        else if (s == "sdata") f->scopes |= FormatJsonFunction::kSdata;
        else if (s == "everything" || s == "all-macros") f->scopes |= FormatJsonFunction::kEverything;
        else if (s == "none") {
        } else {
          *error = "format-json: unknown scope '" + s +
                   "'; expected rfc3164, rfc5424, selected-macros, nv-pairs, dot-nv-pairs, "
                   "all-nv-pairs, sdata, everything or none";
          return nullptr;
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    } else if (!args[i].quoted && (a == "--key" || a == "-k")) {
      const std::string* v = value_of("--key");
      if (!v) return nullptr;
      split_globs(*v, &f->keys);
    } else if (!args[i].quoted && (a == "--exclude" || a == "-x")) {
      const std::string* v = value_of("--exclude");
      if (!v) return nullptr;
      split_globs(*v, &f->excludes);
    } else if (!args[i].quoted && a == "--omit-empty-values") {
      f->omit_empty = true;
    } else if (!args[i].quoted && (a == "--pair" || a == "-p")) {
      continue;  // the name=value that follows is read as usual
    } else if (!args[i].quoted && a.starts_with("-")) {
      *error = "format-json: unknown option '" + a + "'; expected --scope, --key, --exclude, --pair or --omit-empty-values";
      return nullptr;
    } else {
      size_t eq = a.find('=');
      if (eq == std::string::npos || eq == 0) {
        *error = "format-json: expected name=value, found '" + a + "'";
        return nullptr;
      }
      auto t = Template::compile(a.substr(eq + 1), error);
      if (!t) return nullptr;
      f->pairs.push_back({a.substr(0, eq), std::move(t)});
    }
  }
  return f;
}

std::unique_ptr<TemplateFunction> make_function(std::string_view name, const std::vector<RawArg>& args,
                                                std::string* error) {
  std::string n(name);
  for (auto& ch : n)
    if (ch == '_') ch = '-';
  std::vector<TemplatePtr> compiled;
  auto simple = [&](SimpleFunction::Kind k) -> std::unique_ptr<TemplateFunction> {
    if (!compile_args(args, 0, &compiled, error)) return nullptr;
    return std::make_unique<SimpleFunction>(k, std::move(compiled));
  };
  if (n == "echo") return simple(SimpleFunction::Kind::kEcho);
  if (n == "lowercase") return simple(SimpleFunction::Kind::kLower);
  if (n == "uppercase") return simple(SimpleFunction::Kind::kUpper);
  if (n == "strip") return simple(SimpleFunction::Kind::kStrip);
  if (n == "length") return simple(SimpleFunction::Kind::kLength);
  if (n == "substr") {
    int64_t start = 0, len = 0;
    if (args.size() < 2 || args.size() > 3 || !parse_int64(args[1].text, &start) ||
        (args.size() == 3 && !parse_int64(args[2].text, &len))) {
      *error = "substr: expected $(substr TEMPLATE START [LENGTH]) with whole numbers";
      return nullptr;
    }
    auto v = Template::compile(args[0].text, error);
    if (!v) return nullptr;
    return std::make_unique<SubstrFunction>(std::move(v), start, args.size() == 3, len);
  }
  if (n == "sanitize") {
    bool ctrl = true;
    std::string invalid = "/";
    char repl = '_';
    size_t i = 0;
    for (; i < args.size() && !args[i].quoted && args[i].text.starts_with("-"); ++i) {
      const std::string& a = args[i].text;
      if (a == "--ctrl-chars" || a == "-c") {
        ctrl = true;
      } else if (a == "--no-ctrl-chars" || a == "-C") {
        ctrl = false;
      } else if ((a == "--invalid-chars" || a == "-i") && i + 1 < args.size()) {
        invalid = args[++i].text;
      } else if ((a == "--replacement" || a == "-r") && i + 1 < args.size() && !args[i + 1].text.empty()) {
        repl = args[++i].text[0];
      } else {
        *error = "sanitize: unknown option '" + a + "'; expected --ctrl-chars, --no-ctrl-chars (-C), "
                 "--invalid-chars CHARS or --replacement CHAR";
        return nullptr;
      }
    }
    if (!compile_args(args, i, &compiled, error)) return nullptr;
    return std::make_unique<SanitizeFunction>(std::move(compiled), ctrl, invalid, repl);
  }
  if (n == "if") {
    if (args.size() != 3 || !args[0].parens) {
      *error = "if: expected $(if (FILTER) \"then\" \"else\")";
      return nullptr;
    }
    FilterError ferr;
    std::string_view cond = args[0].text;
    auto f = parse_filter_text(cond.substr(1, cond.size() - 2), &ferr);
    if (!f) {
      *error = "if: " + ferr.message + " (column " + std::to_string(args[0].col + ferr.col) + ")";
      return nullptr;
    }
    auto a = Template::compile(args[1].text, error);
    if (!a) return nullptr;
    auto b = Template::compile(args[2].text, error);
    if (!b) return nullptr;
    return std::make_unique<IfFunction>(std::move(f), std::move(a), std::move(b));
  }
  if (n == "format-json") return make_format_json(args, error);
  *error = "unknown template function '" + std::string(name) +
           "'; expected echo, lowercase, uppercase, strip, length, substr, sanitize, if or format-json";
  return nullptr;
}

// Index just past the ')' or '}' that closes the group opened at text[open].
size_t find_close(std::string_view text, size_t open) {
  char o = text[open];
  char c = o == '(' ? ')' : '}';
  int depth = 0;
  char quote = 0;
  for (size_t i = open; i < text.size(); ++i) {
    char ch = text[i];
    if (quote) {
      if (ch == '\\' && quote == '"') {
        ++i;
      } else if (ch == quote) {
        quote = 0;
      }
      continue;
    }
    if ((ch == '"' || ch == '\'') && o == '(') {
      quote = ch;
    } else if (ch == o) {
      ++depth;
    } else if (ch == c && --depth == 0) {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

// Splits the inside of $( ... ) into the function name and its arguments.
bool split_args(std::string_view body, int base_col, std::string* name, std::vector<RawArg>* args,
                std::string* error) {
  size_t i = 0;
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (i < body.size() && ws(body[i])) ++i;
  size_t start = i;
  while (i < body.size() && !ws(body[i])) ++i;
  *name = std::string(body.substr(start, i - start));
  if (name->empty()) {
    *error = "empty template function call at column " + std::to_string(base_col);
    return false;
  }
  while (true) {
    while (i < body.size() && ws(body[i])) ++i;
    if (i >= body.size()) return true;
    RawArg a;
    a.col = base_col + static_cast<int>(i);
    char c = body[i];
    if (c == '"' || c == '\'') {
      a.quoted = true;
      ++i;
      while (i < body.size() && body[i] != c) {
        if (c == '"' && body[i] == '\\' && i + 1 < body.size()) {
          char e = body[i + 1];
          a.text += e == 'n' ? '\n' : e == 't' ? '\t' : e;
          i += 2;
          continue;
        }
        a.text += body[i++];
      }
      if (i >= body.size()) {
        *error = "unterminated string in template function argument at column " + std::to_string(a.col);
        return false;
      }
      ++i;
    } else if (c == '(') {
      size_t end = find_close(body, i);
      if (end == std::string_view::npos) {
        *error = "unbalanced '(' in template function argument at column " + std::to_string(a.col);
        return false;
      }
      a.parens = true;
      a.text = std::string(body.substr(i, end - i));
      i = end;
    } else {
      size_t s = i;
      while (i < body.size() && !ws(body[i])) {
        if (body[i] == '$' && i + 1 < body.size() && (body[i + 1] == '(' || body[i + 1] == '{')) {
          size_t end = find_close(body, i + 1);
          if (end == std::string_view::npos) {
            *error = "unbalanced group in template function argument at column " + std::to_string(a.col);
            return false;
          }
          i = end;
        } else {
          ++i;
        }
      }
      a.text = std::string(body.substr(s, i - s));
    }
    args->push_back(std::move(a));
  }
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

}  // namespace

// ---------------------------------------------------------------------------
// Template

struct Template::Part {
  enum class Kind { kLiteral, kMacro, kName, kFunction } kind = Kind::kLiteral;
  uint32_t off = 0, len = 0;  // literal: range of literals_
  Macro macro = Macro::kHost;
  bool received = false;
  bool has_default = false;
  std::string name;           // kName: value name; default value in `fallback`
  std::string fallback;
  std::unique_ptr<TemplateFunction> fn;
};

Template::Template() = default;
Template::~Template() = default;

std::unique_ptr<Template> Template::compile(std::string_view text, std::string* error) {
  // Functions nest templates in templates; the depth is bounded so that
  // hostile text cannot exhaust the stack.
  static constexpr int kMaxDepth = 64;
  static thread_local int depth = 0;
  if (depth >= kMaxDepth) {
    *error = "template functions nested more than " + std::to_string(kMaxDepth) + " levels deep";
    return nullptr;
  }
  struct DepthGuard {
    DepthGuard() { ++depth; }
    ~DepthGuard() { --depth; }
  } guard;
  std::unique_ptr<Template> t(new Template());
  if (!t->parse(text, error)) return nullptr;
  return t;
}

bool Template::parse(std::string_view text, std::string* error) {
  source_ = std::string(text);
  auto add_literal = [&](std::string_view s) {
    if (s.empty()) return;
    if (!parts_.empty() && parts_.back().kind == Part::Kind::kLiteral &&
        parts_.back().off + parts_.back().len == literals_.size()) {
      parts_.back().len += static_cast<uint32_t>(s.size());
    } else {
      Part p;
      p.off = static_cast<uint32_t>(literals_.size());
      p.len = static_cast<uint32_t>(s.size());
      parts_.push_back(std::move(p));
    }
    literals_.append(s);
  };
  auto add_name = [&](std::string_view name, bool has_default, std::string_view fallback) {
    Part p;
    if (!has_default && lookup_macro(name, &p.macro, &p.received)) {
      p.kind = Part::Kind::kMacro;
    } else {
      p.kind = Part::Kind::kName;
      p.name = std::string(name);
      p.has_default = has_default;
      p.fallback = std::string(fallback);
    }
    parts_.push_back(std::move(p));
  };
  size_t i = 0;
  while (i < text.size()) {
    size_t dollar = text.find('$', i);
    if (dollar == std::string_view::npos) {
      add_literal(text.substr(i));
      break;
    }
    add_literal(text.substr(i, dollar - i));
    i = dollar + 1;
    if (i >= text.size()) {
      add_literal("$");
      break;
    }
    char c = text[i];
    if (c == '$') {
      add_literal("$");
      ++i;
    } else if (c == '{') {
      size_t end = find_close(text, i);
      if (end == std::string_view::npos) {
        *error = "unterminated '${' at column " + std::to_string(dollar + 1) + "; expected '}'";
        return false;
      }
      std::string_view inner = text.substr(i + 1, end - i - 2);
      size_t dflt = inner.find(":-");
      if (inner.empty()) {
        *error = "empty '${}' at column " + std::to_string(dollar + 1);
        return false;
      }
      if (dflt == std::string_view::npos) {
        add_name(inner, false, {});
      } else {
        add_name(inner.substr(0, dflt), true, inner.substr(dflt + 2));
      }
      i = end;
    } else if (c == '(') {
      size_t end = find_close(text, i);
      if (end == std::string_view::npos) {
        *error = "unterminated '$(' at column " + std::to_string(dollar + 1) + "; expected ')'";
        return false;
      }
      std::string name;
      std::vector<RawArg> args;
      if (!split_args(text.substr(i + 1, end - i - 2), static_cast<int>(i + 2), &name, &args, error))
        return false;
      Part p;
      p.kind = Part::Kind::kFunction;
      p.fn = make_function(name, args, error);
      if (!p.fn) {
        if (error->find(" (at column ") == std::string::npos) *error += " (at column " + std::to_string(dollar + 1) + ")";
        return false;
      }
      parts_.push_back(std::move(p));
      i = end;
    } else if (is_name_char(c)) {
      size_t s = i;
      while (i < text.size() && is_name_char(text[i])) ++i;
      add_name(text.substr(s, i - s), false, {});
    } else {
      add_literal("$");
    }
  }
  return true;
}

namespace {
void make_path_safe(std::string& out, size_t from) {
  for (size_t k = from; k < out.size(); ++k) {
    unsigned char c = static_cast<unsigned char>(out[k]);
    if (c == '/' || c < 32 || c == 127) out[k] = '_';
  }
}
}  // namespace

namespace {
// Copies n bytes; short ones (most fields) without a call to memcpy.
inline void copy_bytes(char* w, const char* s, size_t n) {
  if (n > 16) {
    std::memcpy(w, s, n);
  } else if (n >= 8) {
    uint64_t a, b;
    std::memcpy(&a, s, 8);
    std::memcpy(&b, s + n - 8, 8);
    std::memcpy(w, &a, 8);
    std::memcpy(w + n - 8, &b, 8);
  } else if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, s, 4);
    std::memcpy(&b, s + n - 4, 4);
    std::memcpy(w, &a, 4);
    std::memcpy(w + n - 4, &b, 4);
  } else if (n > 0) {
    w[0] = s[0];
    w[n / 2] = s[n / 2];
    w[n - 1] = s[n - 1];
  }
}
}  // namespace

void Template::render(const LogMessage& msg, const RenderOptions& o, std::string& out) const {
  // The common case, a line of literals, message fields and stamps (the
  // file destinations' default "$DATE $HOST $MSGHDR$MSG\n" and the like):
  // the pieces are collected first, then copied with one resize of `out`.
  // Any other part (or an unusual stamp) takes the general path below,
  // before anything was written.
  if (!o.path_safe && parts_.size() <= 16) {
    struct Piece {
      const char* p;
      size_t n;
    };
    // At most 5 pieces per part ($MSGHDR: program, '[', pid, ']', ": ").
    Piece pieces[16 * 5];
    char dates[2][kDateBufSize];
    size_t np = 0, nd = 0, total = 0;
    bool plain = true;
    auto add = [&](const char* p, size_t n) {
      pieces[np++] = Piece{p, n};
      total += n;
    };
    for (const auto& p : parts_) {
      if (p.kind == Part::Kind::kLiteral) {
        add(literals_.data() + p.off, p.len);
        continue;
      }
      if (p.kind != Part::Kind::kMacro) {
        plain = false;
        break;
      }
      std::string_view v;
      switch (p.macro) {
        case Macro::kHost:
        case Macro::kFullHost: v = msg.get(Field::kHost); break;
        case Macro::kHostFrom:
        case Macro::kFullHostFrom: v = msg.get(Field::kHostFrom); break;
        case Macro::kSourceIp: v = msg.get(Field::kSourceIp); break;
        case Macro::kProgram: v = msg.get(Field::kProgram); break;
        case Macro::kPid: v = msg.get(Field::kPid); break;
        case Macro::kMsgId: v = msg.get(Field::kMsgId); break;
        case Macro::kMessage: v = msg.get(Field::kMessage); break;
        case Macro::kRawMsg: v = msg.raw(); break;
        case Macro::kMsgHdr: {
          std::string_view prog = msg.get(Field::kProgram);
          if (prog.empty()) break;
          std::string_view pid = msg.get(Field::kPid);
          // "prog[pid]: " as it stands in the raw message is one piece.
          std::string_view raw = msg.raw();
          const char* raw_end = raw.data() + raw.size();
          if (!pid.empty() && prog.data() >= raw.data() && pid.data() == prog.data() + prog.size() + 1 &&
              pid.data() + pid.size() + 3 <= raw_end && prog.data()[prog.size()] == '[' &&
              pid.data()[pid.size()] == ']' && pid.data()[pid.size() + 1] == ':' &&
              pid.data()[pid.size() + 2] == ' ') {
            add(prog.data(), prog.size() + pid.size() + 4);
            break;
          }
          add(prog.data(), prog.size());
          if (!pid.empty()) {
            add("[", 1);
            add(pid.data(), pid.size());
            add("]", 1);
          }
          add(": ", 2);
          break;
        }
        default: {
          if (!is_common_date(p.macro) || nd == 2) {
            plain = false;
            break;
          }
          Timestamp ts = p.received ? msg.received : msg.stamp;
          if (o.time_zone) ts.gmtoff = o.time_zone->offset_at_utc(ts.sec);
          int n = format_common_date(p.macro, ts, o, dates[nd]);
          if (n < 0) {
            plain = false;
            break;
          }
          v = std::string_view(dates[nd++], static_cast<size_t>(n));
          break;
        }
      }
      if (!plain) break;
      if (!v.empty()) add(v.data(), v.size());
    }
    if (plain) {
      size_t at = out.size();
      out.resize(at + total);
      char* w = out.data() + at;
      for (size_t i = 0; i < np; ++i) {
        copy_bytes(w, pieces[i].p, pieces[i].n);
        w += pieces[i].n;
      }
      return;
    }
  }
  for (const auto& p : parts_) {
    size_t before = out.size();
    render_part(p, msg, o, out);
    if (o.path_safe && p.kind != Part::Kind::kLiteral) make_path_safe(out, before);
  }
}

void Template::render_part(const Part& p, const LogMessage& msg, const RenderOptions& o, std::string& out) const {
  {
    switch (p.kind) {
      case Part::Kind::kLiteral:
        out.append(literals_, p.off, p.len);
        break;
      case Part::Kind::kMacro:
        render_macro(p.macro, p.received, msg, o, out);
        break;
      case Part::Kind::kName: {
        size_t before = out.size();
        render_name(p.name, msg, o, out);
        if (p.has_default && out.size() == before) out += p.fallback;
        break;
      }
      case Part::Kind::kFunction:
        p.fn->call(msg, o, out);
        break;
    }
  }
}

std::string Template::render(const LogMessage& msg, const RenderOptions& o) const {
  std::string out;
  render(msg, o, out);
  return out;
}

bool Template::is_literal() const {
  for (const auto& p : parts_)
    if (p.kind != Part::Kind::kLiteral) return false;
  return true;
}

}  // namespace logferry
