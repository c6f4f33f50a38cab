// Engine: runs a Config.  Sources run on the input loop (the calling
// thread), log paths and destinations on an output thread; batches of
// messages cross between them through a bounded queue.
#pragma once

#include <memory>
#include <string>

#include "core/config.h"

namespace logferry {

class Engine {
 public:
  explicit Engine(std::unique_ptr<Config> cfg);
  ~Engine();

  // Starts every source and destination and runs until SIGTERM or SIGINT,
  // then stops accepting, drains every queue into its destination and
  // returns 0.  Returns 1 when something could not start.
  int run();

  // Asks a running engine to stop, as SIGTERM does (from any thread).
  void request_stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace logferry
