// Templates in syslog-ng syntax ("$HOST ${PROGRAM}[$PID]: $(uppercase $MSG)"),
// compiled once into parts so that rendering never re-parses.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/message.h"
#include "core/timestamp.h"

namespace logferry {

// How dates are written; shared by templates and formatters.
struct RenderOptions {
  int frac_digits = 0;              // -1: as many as the stamp carried
  const TimeZone* time_zone = nullptr;  // null: each stamp in its own offset
  // Values from the message are made safe as parts of a file path: '/',
  // NUL and control characters become '_' (literal template text is kept).
  bool path_safe = false;
};

// A macro: a named value computed from the message.
enum class Macro : uint8_t {
  kHost, kHostFrom, kFullHost, kFullHostFrom, kSourceIp, kProgram, kPid, kMsgId, kMessage,
  kMsgHdr, kPri, kFacility, kFacilityNum, kLevel, kLevelNum, kTags, kSdata, kRawMsg, kLogHost,
  // Dates; each exists for the stamp and, with R_, for the time received.
  kIsoDate, kDate, kFullDate, kStamp, kBsdDate, kYear, kMonth, kMonthAbbrev, kMonthName, kDay,
  kHour, kHour12, kAmPm, kMin, kSec, kMsec, kUsec, kTzOffset, kTz, kUnixTime, kWeekDayAbbrev,
  kWeekDayName, kWeekDay, kWeek, kYearDay,
};

// Looks a macro name up (without '$').  *received says whether it names the
// receive time (R_ prefix).  False for names that are not macros.
bool lookup_macro(std::string_view name, Macro* macro, bool* received);

// Appends the value of one macro.
void render_macro(Macro m, bool received, const LogMessage& msg, const RenderOptions& o,
                  std::string& out);

// Appends the value of any name: a macro, ".SDATA.id.param", $1..$9 of a
// match, or a name-value pair.
void render_name(std::string_view name, const LogMessage& msg, const RenderOptions& o,
                 std::string& out);

class TemplateFunction;

class Template {
 public:
  // Compiles `text`; on error returns null and sets *error to a message
  // naming the column (1-based) within `text`.
  static std::unique_ptr<Template> compile(std::string_view text, std::string* error);
  ~Template();

  // Appends the rendered text to `out`.
  void render(const LogMessage& msg, const RenderOptions& o, std::string& out) const;
  std::string render(const LogMessage& msg, const RenderOptions& o = {}) const;

  const std::string& source() const { return source_; }
  // True when the template has no macros (renders the same for every message).
  bool is_literal() const;

 private:
  struct Part;
  Template();
  bool parse(std::string_view text, std::string* error);
  void render_part(const Part& p, const LogMessage& msg, const RenderOptions& o, std::string& out) const;

  std::string source_;
  std::string literals_;  // all literal text, parts point into it
  std::vector<Part> parts_;
};

}  // namespace logferry
