// Loads an optional driver's library at run time (dlopen) instead of linking
// it: a process that does not use the driver (every client, `logferry
// check`) then pays nothing for it, neither resident memory nor the start-up
// time of the library and its dependencies.
#pragma once

#include <dlfcn.h>

#include <string>

namespace logferry {

class SharedLibrary {
 public:
  // Opens `soname` (e.g. "libpq.so.5"); null with *error naming the Debian
  // package that provides it.
  static void* open(const char* soname, const char* package, std::string* error) {
    void* h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = dlerror();
      *error = std::string("cannot load ") + soname + " (Debian package " + package + "): " + (e ? e : "unknown error");
    }
    return h;
  }

  // Looks `name` up into *fn; false with *error if the library lacks it.
  template <typename F>
  static bool find(void* handle, const char* soname, const char* name, F* fn, std::string* error) {
    *fn = reinterpret_cast<F>(dlsym(handle, name));
    if (!*fn) *error = std::string(soname) + " lacks " + name;
    return *fn != nullptr;
  }
};

}  // namespace logferry
