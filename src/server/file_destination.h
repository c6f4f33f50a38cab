// file(), pipe() and stdout() destinations: templated lines into files whose
// paths may come from message fields.
#pragma once

#include <memory>
#include <string>

#include "core/config.h"

namespace logferry {

struct FileDestinationConfig {
  std::shared_ptr<const Template> path;
  std::shared_ptr<const Template> line;  // what is written per message
  RenderOptions render;
  std::shared_ptr<const TimeZone> zone;  // keeps render.time_zone alive
  bool create_dirs = false;
  int perm = 0600;
  int dir_perm = 0700;
  int uid = -1;
  int gid = -1;
  bool fsync = false;
  int64_t time_reap = 60;      // close a file idle this many seconds
  int64_t time_reopen = 60;    // wait before retrying a path that failed
  size_t max_open_files = 256; // LRU of open files
  enum class Kind { kFile, kPipe, kStdout } kind = Kind::kFile;
};

// Splits a rendered path into the fixed directory prefix of its template
// and the part built from message fields, and makes sure the latter can
// never climb out: "." and ".." components become "_" and "__".
// Returns false when the path is unusable (empty).
bool confine_path(std::string& path, size_t fixed_prefix_len);

// Length of the literal prefix of a path template up to its last '/'
// before the first macro ("/var/log/remote/" of "/var/log/remote/$HOST").
size_t fixed_prefix_length(const std::string& path_template);

void register_file_destinations(DriverRegistry& registry);

}  // namespace logferry
