// unix-stream(), unix-dgram() and system() sources.
#pragma once

#include "core/config.h"

namespace logferry {

void register_unix_sources(DriverRegistry& registry);

}  // namespace logferry
