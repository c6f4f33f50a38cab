// The flow-control reports of a destination that holds messages while its
// peer (a database, Kafka) is slow or away.  A hold (accepting() false: the
// batches of flow-controlled sources wait in the engine's queue) is
// reported once it lasts kHoldReportMs, and its end; a dropping episode
// (messages of sources without flow control dropped while the destination
// is full) at its start, and at its end with how many were dropped.  The
// texts name what waits and for what (HoldWords).
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace logferry {

// "2 s", "1.5 s".
inline std::string seconds_text(uint64_t ms) {
  char buf[32];
  if (ms % 1000 == 0) snprintf(buf, sizeof(buf), "%llu s", static_cast<unsigned long long>(ms / 1000));
  else snprintf(buf, sizeof(buf), "%.1f s", static_cast<double>(ms) / 1000.0);
  return buf;
}

struct HoldWords {
  const char* unit;     // what waits: "rows"
  const char* waiting;  // after "N rows ": "wait for the database"
  const char* until;    // "until it takes them"
  const char* resumed;  // "the database takes rows again"
};

// Rate limit for one kind of report (refused rows, a library's errors):
// `burst` at once, then none until `every_ms` after the window began; the
// ones left out are summed up once that window ended (left_out(), from a
// tick), so a flood of one kind cannot flood logferry's own log.
class ReportBudget {
 public:
  ReportBudget(uint64_t burst, uint64_t every_ms) : burst_(burst), every_ms_(every_ms) {}

  // True when a report may go out now.
  bool take(uint64_t now_ms) {
    if (now_ms - window_start_ >= every_ms_) {
      window_start_ = now_ms;
      used_ = 0;
    }
    if (used_ < burst_) {
      ++used_;
      return true;
    }
    ++left_out_;
    return false;
  }

  // How many were left out, once their window ended (then 0 again).
  uint64_t left_out(uint64_t now_ms) {
    if (left_out_ == 0 || now_ms - window_start_ < every_ms_) return 0;
    uint64_t n = left_out_;
    left_out_ = 0;
    return n;
  }

 private:
  uint64_t burst_, every_ms_;
  uint64_t window_start_ = 0;
  uint64_t used_ = 0;
  uint64_t left_out_ = 0;
};

class HoldReports {
 public:
  using Report = std::function<void(int severity, const std::string& text)>;
  static constexpr uint64_t kHoldReportMs = 1000;

  HoldReports(HoldWords words, Report report) : w_(words), report_(std::move(report)) {}

  // One message dropped while `waiting` are held; the first of an episode
  // is reported unless `quiet` (e.g. shutting down).
  void dropped(uint64_t waiting, bool quiet) {
    ++dropped_episode_;
    if (dropping_ || quiet) return;
    dropping_ = true;
    report_(4, std::to_string(waiting) + " " + w_.unit + " " + w_.waiting + "; dropping the messages of sources "
                   "without flow control " + w_.until + " (counted as dropped_queue_full)");
  }

  // After progress, a batch or a tick: `full` is !accepting(); `room`
  // whether messages of any source are taken again (ends a dropping episode).
  void update(bool full, bool room, uint64_t waiting, uint64_t now_ms) {
    if (full && !holding_) {
      holding_ = true;
      hold_reported_ = false;
      hold_start_ms_ = now_ms;
    } else if (!full && holding_) {
      holding_ = false;
      if (hold_reported_)
        report_(5, std::string(w_.resumed) + " after " + seconds_text(now_ms - hold_start_ms_) + "; " +
                       std::to_string(waiting) + " " + w_.unit + " wait");
    }
    if (holding_ && !hold_reported_ && now_ms - hold_start_ms_ >= kHoldReportMs) {
      hold_reported_ = true;
      report_(4, std::to_string(waiting) + " " + w_.unit + " " + w_.waiting +
                     "; holding the sources with flow control " + w_.until);
    }
    if (dropping_ && room) {
      dropping_ = false;
      report_(5, std::string(w_.resumed) + "; " + std::to_string(dropped_episode_) +
                     " messages were dropped meanwhile");
      dropped_episode_ = 0;
    }
  }

  // A hold or a dropping episode is going on (update() after progress).
  bool active() const { return holding_ || dropping_; }

 private:
  HoldWords w_;
  Report report_;
  bool holding_ = false;
  bool hold_reported_ = false;
  uint64_t hold_start_ms_ = 0;
  bool dropping_ = false;
  uint64_t dropped_episode_ = 0;
};

}  // namespace logferry
