// JSON validation for the fuzz targets, kept in a TU of its own that is
// built without coverage instrumentation or sanitizers: nlohmann::json is
// trusted code, and instrumenting it would slow the targets down and fill
// the coverage map with the JSON parser's branches instead of logferry's.
#include <nlohmann/json.hpp>

#include <string_view>

namespace logferry::fuzz {

bool is_valid_json(std::string_view text) { return nlohmann::json::accept(text); }

}  // namespace logferry::fuzz
