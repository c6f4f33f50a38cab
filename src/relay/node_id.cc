#include "relay/node_id.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/text.h"

namespace logferry {

std::string node_id_hex(const NodeId& id) {
  return hex_bytes(std::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
}

bool load_or_create_node_id(const std::string& persist_dir, NodeId* id, std::string* error) {
  const std::string path = persist_dir + "/node-id";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = ::read(fd, id->data(), id->size());
    ::close(fd);
    if (n == static_cast<ssize_t>(id->size())) return true;
    // A short file is not a valid id: make a new one below.
  } else if (errno != ENOENT) {
    *error = "cannot read " + path + ": " + strerror(errno);
    return false;
  }
  if (getrandom(id->data(), id->size(), 0) != static_cast<ssize_t>(id->size())) {
    *error = std::string("cannot make a node id: getrandom: ") + strerror(errno);
    return false;
  }
  ::mkdir(persist_dir.c_str(), 0700);
  const std::string tmp = path + ".tmp";
  fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = "cannot write " + tmp + ": " + strerror(errno);
    return false;
  }
  bool ok = ::write(fd, id->data(), id->size()) == static_cast<ssize_t>(id->size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = "cannot write " + path + ": " + strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  int dfd = ::open(persist_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

}  // namespace logferry
