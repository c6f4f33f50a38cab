// pipe() and stdin() sources: lines from a named pipe (FIFO) or from
// standard input.
#pragma once

#include "core/config.h"

namespace logferry {

void register_pipe_sources(DriverRegistry& registry);

}  // namespace logferry
