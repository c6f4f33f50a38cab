// Timestamps with their own UTC offset, civil-time conversion and time zones.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace logferry {

// A point in time plus the UTC offset it was written in.  The offset is
// always known: stamps that carried none get one from the time-zone option.
struct Timestamp {
  int64_t sec = 0;        // seconds since the Unix epoch (UTC)
  uint32_t nsec = 0;      // sub-second part
  int32_t gmtoff = 0;     // offset of the wall clock from UTC, in seconds
  uint8_t precision = 0;  // fraction digits the source gave (0..9)

  bool operator==(const Timestamp&) const = default;
};

// Broken-down wall-clock time, as read from or written to a stamp.
struct CivilTime {
  int year = 1970;
  int month = 1;   // 1..12
  int day = 1;     // 1..31
  int hour = 0;
  int min = 0;
  int sec = 0;
  int weekday = 4;  // 0 = Sunday
  int yearday = 0;  // 0..365
};

int64_t days_from_civil(int y, int m, int d);
CivilTime civil_from_unix(int64_t local_seconds);
int64_t unix_from_civil(const CivilTime& c);  // treats c as UTC
CivilTime to_civil(const Timestamp& ts);       // wall clock in ts.gmtoff

extern const char* const kMonthAbbrevs[12];
extern const char* const kWeekdayAbbrevs[7];
extern const char* const kMonthNames[12];
extern const char* const kWeekdayNames[7];
int month_from_abbrev(std::string_view s);  // 1..12, 0 when unknown

// A time zone: a fixed offset, the process's local zone, or a named IANA zone
// read from the system's tzdata.  Immutable once built, so it is shared
// freely between threads.
class TimeZone {
 public:
  static const std::shared_ptr<const TimeZone>& utc();
  static const std::shared_ptr<const TimeZone>& local();
  // Accepts "+02:00", "-0530", "Z", "UTC", "local" or an IANA name such as
  // "Europe/Budapest".  Returns null and sets *error when it cannot.
  static std::shared_ptr<const TimeZone> parse(std::string_view spec, std::string* error);

  // Offset from UTC, in seconds, in force at the UTC instant t.
  int32_t offset_at_utc(int64_t t) const;
  // Offset for a wall-clock time in this zone (seconds as if UTC).
  int32_t offset_for_local(int64_t local_seconds) const;
  const std::string& name() const { return name_; }
  // Unique per zone object ever made (caches key on it, not on the address).
  uint64_t id() const { return id_; }

 private:
  enum class Kind { kFixed, kLocal, kTable };
  struct Transition {
    int64_t at;
    int32_t offset;
  };
  Kind kind_ = Kind::kFixed;
  uint64_t id_ = next_id();
  static uint64_t next_id();
  int32_t fixed_ = 0;
  std::string name_;
  std::vector<Transition> transitions_;
  int32_t first_offset_ = 0;
  bool load_tzif(const std::string& path, std::string* error);
};

// Current wall time as a Timestamp carrying the offset of `tz`.
Timestamp now_in(const TimeZone& tz);

}  // namespace logferry
