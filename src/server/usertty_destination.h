// usertty(): messages to the terminals of logged-in users.
#pragma once

#include "core/config.h"

namespace logferry {

void register_usertty_destination(DriverRegistry& registry);

}  // namespace logferry
