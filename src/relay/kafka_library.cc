// Loading librdkafka; see kafka_library.h.
#include "relay/kafka_library.h"

#include <dlfcn.h>

namespace logferry {

const RdKafka* load_rdkafka(std::string* error) {
  static std::string failure;
  static const RdKafka* lib = []() -> const RdKafka* {
    void* h = dlopen("librdkafka.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = dlerror();
      failure = std::string("cannot load librdkafka (librdkafka.so.1, Debian package librdkafka1): ") +
                (e ? e : "unknown error");
      return nullptr;
    }
    static RdKafka l;
#define LF_RDKAFKA_LOAD(name)                                         \
    l.name = reinterpret_cast<decltype(&::name)>(dlsym(h, #name));    \
    if (!l.name) {                                                    \
      failure = "librdkafka.so.1 lacks " #name " (logferry needs librdkafka 1.6 or later)"; \
      return nullptr;                                                 \
    }
    LF_RDKAFKA_FUNCTIONS(LF_RDKAFKA_LOAD)
#undef LF_RDKAFKA_LOAD
    return &l;
  }();
  if (!lib && error) *error = failure;
  return lib;
}

}  // namespace logferry
