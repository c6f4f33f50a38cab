// A library loaded when a destination that needs it starts (dlopen), not
// linked: libpq and SQLite for sql(), libcurl for clickhouse().  Their
// dependencies (TLS, Kerberos, LDAP, ...) would otherwise slow down every
// start of logferry, `logferry check` and `logferry parse` included.
#pragma once

#include <dlfcn.h>

#include <string>

namespace logferry {

class SharedLibrary {
 public:
  // Opens `soname` (e.g. "libpq.so.5"); false with failure() naming the
  // Debian `package` that has it.
  bool open(const char* soname, const char* package) {
    soname_ = soname;
    handle_ = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (handle_) return true;
    const char* e = dlerror();
    failure_ = std::string("cannot load ") + soname + " (Debian package " + package + "): " + (e ? e : "unknown error");
    return false;
  }

  // Sets *fn to the library's function `name`; false with failure() when
  // the library lacks it.
  template <typename F>
  bool function(const char* name, F* fn) {
    void* p = handle_ ? dlsym(handle_, name) : nullptr;
    if (!p) {
      failure_ = soname_ + " lacks " + name;
      return false;
    }
    *fn = reinterpret_cast<F>(p);
    return true;
  }

  const std::string& failure() const { return failure_; }

 private:
  void* handle_ = nullptr;  // never closed: the functions stay in use
  std::string soname_;
  std::string failure_;
};

}  // namespace logferry
