// The running parts every role plugs into: sources, destinations, their
// counters, and the host interface a source hands its messages to.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "core/message.h"

struct uv_loop_s;
typedef struct uv_loop_s uv_loop_t;

namespace logferry {

// Per-component counters.  Each is written by one thread (relaxed atomics:
// no lock, no contention) and read by the stats printer.
struct Counters {
  std::atomic<uint64_t> in{0};
  std::atomic<uint64_t> out{0};
  std::atomic<uint64_t> dropped_queue_full{0};
  std::atomic<uint64_t> dropped_too_long{0};  // cut at log-msg-size (kept, truncated)
  std::atomic<uint64_t> parse_errors{0};
  std::atomic<uint64_t> filtered{0};
  std::atomic<uint64_t> errors{0};

  static void add(std::atomic<uint64_t>& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
  static uint64_t get(const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); }
};

// What a running source talks to.  Sources run on the input loop; they fill
// messages into the current batch and commit it when a read is done.
class SourceHost {
 public:
  virtual ~SourceHost() = default;
  // A cleared message to fill; its `received` is set.  Valid until commit().
  virtual LogMessage& next_message() = 0;
  // Drops the message last returned by next_message() (e.g. an empty frame).
  virtual void discard_message() = 0;
  // Hands the filled messages to the log paths.
  virtual void commit() = 0;
  // Messages logferry itself reports (the internal() source).
  virtual void internal_log(int severity, const std::string& text) = 0;
};

// A running source.  Created from its config by the engine, it lives on the
// input loop thread.
class Source {
 public:
  virtual ~Source() = default;
  virtual bool start(uv_loop_t* loop, SourceHost* host, std::string* error) = 0;
  // Stop accepting and reading; close handles.  Buffered partial frames are
  // committed first.
  virtual void stop() = 0;
  // Flow control: stop and resume reading from peers that can wait.
  virtual void pause() {}
  virtual void resume() {}
  Counters counters;
};

// A running destination.  It lives on the output thread: deliver() renders
// and buffers one message; flush() writes what a batch buffered.  `loop` is
// the output thread's libuv loop, for destinations that do network I/O
// (they must not block it).
class Destination {
 public:
  virtual ~Destination() = default;
  virtual bool open(uv_loop_t* loop, std::string* error) = 0;
  virtual void deliver(const LogMessage& msg) = 0;
  virtual void flush() = 0;
  // Called about once a second on the output thread (idle files, reopen).
  virtual void tick() {}
  virtual void close() = 0;
  Counters counters;
  bool flush_pending = false;  // the engine's mark: delivered to since the last flush
};

}  // namespace logferry
