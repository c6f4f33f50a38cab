// file() and wildcard-file() sources: follow log files as they grow, across
// rotation, truncation and restarts, sending every line once.
#pragma once

#include "core/config.h"

namespace logferry {

void register_file_sources(DriverRegistry& registry);

}  // namespace logferry
