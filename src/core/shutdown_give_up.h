// What a destination says and counts of the messages shutdown gives up
// (it waited long enough for its database, broker or server): lost, unless
// a disk buffer wraps it (Destination::backed_by_disk_buffer), which keeps
// every message the destination did not take and sends it after the next
// start.
#pragma once

#include <cstdint>
#include <string>

#include "core/pipeline.h"

namespace logferry {

// What the report of given-up messages adds: "; they stay in the disk
// buffer ..." behind a disk buffer, else "".
inline std::string kept_in_disk_buffer_text(const Destination& d) {
  return d.backed_by_disk_buffer ? "; they stay in the disk buffer and are sent after the next start" : "";
}

// Shutdown gives up n messages `d` holds undelivered: counted as
// dropped_queue_full unless a disk buffer keeps them.  Returns what the
// report adds (kept_in_disk_buffer_text()).
inline std::string give_up_at_shutdown(Destination& d, uint64_t n) {
  if (!d.backed_by_disk_buffer) Counters::add(d.counters.dropped_queue_full, n);
  return kept_in_disk_buffer_text(d);
}

}  // namespace logferry
