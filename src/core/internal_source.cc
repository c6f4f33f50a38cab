// internal(): logferry's own messages.  The engine feeds this source; the
// driver only marks where they go.
#include "core/config.h"

namespace logferry {

namespace {
class InternalSource : public Source {
 public:
  bool start(uv_loop_t*, SourceHost*, std::string*) override { return true; }
  void stop() override {}
};

class InternalSourceDriver : public SourceDriver {
 public:
  std::string describe() const override { return "internal()"; }
  std::unique_ptr<Source> create() const override { return std::make_unique<InternalSource>(); }
};
}  // namespace

void register_internal_source(DriverRegistry& registry) {
  registry.add_source("internal", [](OptionReader&, const BuildContext&) -> std::unique_ptr<SourceDriver> {
    return std::make_unique<InternalSourceDriver>();
  });
}

}  // namespace logferry
