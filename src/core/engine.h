// Engine: runs a Config.  Sources run on the input loop (the calling
// thread), log paths and destinations on an output thread; batches of
// messages cross between them through a bounded queue.
#pragma once

#include <functional>
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

  // SIGHUP: `load` reads the config file again (reporting its problems).
  // A valid config makes run() stop as at SIGTERM - sources stop, queues
  // drain into the destinations, state is saved - and return; the caller
  // then runs take_reloaded_config() in a new Engine.  An invalid one is
  // reported and the running config stays.  Without a loader SIGHUP is
  // only reported.
  using ConfigLoader = std::function<std::unique_ptr<Config>()>;
  void on_reload(ConfigLoader load);
  // After run(): the config SIGHUP read, or nullptr (a plain stop).
  std::unique_ptr<Config> take_reloaded_config();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace logferry
