// The running parts every role plugs into: sources, destinations, their
// counters, and the host interface a source hands its messages to.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/message.h"

struct uv_loop_s;
typedef struct uv_loop_s uv_loop_t;

namespace logferry {

class DeliveryJournal;
class OriginTable;

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
  // Sources: messages given up at shutdown that stay unacknowledged, so the
  // source has them again (a file is read from before them at the next
  // start; a ferry() sender sends them again).  Not lost: not dropped.
  std::atomic<uint64_t> unacknowledged{0};

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
  // Delivery tracking: records that everything the source read on `stream`
  // up to `position` is in the messages filled so far.  Once every
  // destination has taken those messages, the engine calls
  // Source::acknowledged(stream, position) on the input loop.  File sources
  // use it to persist positions only for lines that left the process.
  virtual void mark_position(uint32_t stream, uint64_t position) = 0;
  // Where sources keep state across restarts (options { persist-dir(); }
  // or `logferry run --persist-dir`).
  virtual const std::string& persist_dir() const = 0;
  // The engine's delivery journal (core/delivery_journal.h), for sources
  // whose journals_outputs() is true; nullptr for others.  Marks set in it
  // from acknowledged() are committed, together with the lengths of the
  // output files holding those messages, before journal_committed().
  virtual DeliveryJournal* journal() { return nullptr; }
  // The engine's table of origin streams (LogMessage::origin).
  virtual OriginTable* origins() { return nullptr; }
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
  // Sources that must never lose what they read (files) are paused when the
  // queue is full whatever the log path's flags say.
  virtual bool always_flow_controlled() const { return false; }
  // See SourceHost::mark_position().  Called on the input loop, in order.
  virtual void acknowledged(uint32_t /*stream*/, uint64_t /*position*/) {}
  // A source whose acknowledgements promise durability to a peer (ferry()):
  // the file destinations it reaches fsync what they write and journal
  // their lengths, and SourceHost::journal() is there for its marks.
  virtual bool journals_outputs() const { return false; }
  // After a round of acknowledged() calls, once the marks set in the
  // journal (and the output lengths that go with them) are durable.
  virtual void journal_committed() {}
  // Whether what the source fills between two commits must reach the log
  // paths as one batch, however large (a ferry() batch: a relay forwards
  // it as one).  Others are cut into batches of a bounded size.
  virtual bool keeps_batches_whole() const { return false; }
  // Called once at shutdown, after every destination was flushed and closed
  // and the last acknowledgements were delivered (e.g. to save positions).
  virtual void drained() {}
  Counters counters;
};

// How a component reports to logferry's own log (the internal() source and
// stderr).  Safe to call from any thread.
using InternalLog = std::function<void(int severity, const std::string& text)>;

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
  // Delivery tracking.  The engine numbers its flushes (flush_seq is set
  // before each flush()); a destination returns the highest number whose
  // data it has taken (written to its file, handed to the kernel's socket,
  // or given up on and counted as lost).  `latest` is the newest number
  // handed to any destination; one that holds nothing unwritten returns it.
  // Synchronous writers have taken everything once flush() returns.
  virtual uint64_t taken_through(uint64_t latest) const { return latest; }
  // Flow control through a destination: false while it holds as much as
  // it should (e.g. a network destination whose server is away).  Batches
  // of flow-controlled sources that reach it then wait in the queue (and
  // their sources pause) instead of being dropped by the destination.
  virtual bool accepting() const { return true; }
  Counters counters;
  bool flush_pending = false;  // the engine's mark: delivered to since the last flush
  uint64_t flush_seq = 0;      // the number of the current or last flush
  InternalLog internal_log;    // set by the engine before open()
  // Also set before open(): where state is kept across restarts, and the
  // name of each source block (by LogMessage::source_id), for destinations
  // that keep per-origin state (ferry()).
  std::string persist_dir;
  std::vector<std::string> source_names;
  // Set before open() for destinations that a journals_outputs() source
  // reaches: a file destination then fsyncs every file it wrote in a flush
  // and notes its length (DeliveryJournal::note_length) after it.
  DeliveryJournal* journal = nullptr;
  // Also set before open(): the engine's table of origin streams, for
  // destinations that forward messages by origin (ferry()).
  OriginTable* origins = nullptr;
  // Set by a disk buffer that wraps this destination: what this one does
  // not take (e.g. gives up at shutdown) stays in the buffer, not lost.
  bool backed_by_disk_buffer = false;
  // Set by the engine before open(): a destination that takes data later
  // than flush() (network writes, acknowledgements, commits) calls it on
  // the output loop when taken_through() advanced or accepting() became
  // true, so that the engine passes acknowledgements on and routes waiting
  // batches at once rather than at its next look (a relay's round trip
  // would otherwise grow by up to 100 ms a hop).  Cheap; may be called
  // from within flush() and after close().
  std::function<void()> progressed = [] {};

  // A destination that wraps another (disk-buffer()) hands on everything
  // the engine set above, so that a field added here reaches both.
  void pass_engine_settings_to(Destination* inner) const {
    inner->internal_log = internal_log;
    inner->persist_dir = persist_dir;
    inner->source_names = source_names;
    inner->journal = journal;
    inner->origins = origins;
    inner->progressed = progressed;
  }
};

}  // namespace logferry
