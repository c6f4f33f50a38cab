// Loading librdkafka; see kafka_library.h.
#include "relay/kafka_library.h"

#include "core/shared_library.h"

namespace logferry {

const RdKafka* load_rdkafka(std::string* error) {
  static SharedLibrary so;
  static std::string failure;
  static const RdKafka* lib = []() -> const RdKafka* {
    static RdKafka l;
    if (!so.open("librdkafka.so.1", "librdkafka1")) {
      failure = so.failure();
      return nullptr;
    }
#define LF_RDKAFKA_LOAD(name)                                                  \
    if (!so.function(#name, &l.name)) {                                        \
      failure = so.failure() + " (logferry needs librdkafka 1.6 or later)";    \
      return nullptr;                                                          \
    }
    LF_RDKAFKA_FUNCTIONS(LF_RDKAFKA_LOAD)
#undef LF_RDKAFKA_LOAD
    return &l;
  }();
  if (!lib && error) *error = failure;
  return lib;
}

}  // namespace logferry
