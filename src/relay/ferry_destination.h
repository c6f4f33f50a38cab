// The ferry() destination: the sending side of the ferry protocol
// (docs/protocol.md).  Messages go already parsed, in numbered batches, one
// stream per source block; a batch stays in the window until the receiver
// acknowledges it as durable, is resent after a reconnect, and only then
// counts as taken (so a tailed file's saved position moves past a line only
// once the receiver made it durable).
//
// The parts:
//   ferry_options.cc      the config: options, checks, describe()
//   ferry_destination.cc  the running destination: streams, window,
//                         handshake, ACKs, delivery tracking, shutdown
//   ferry_codec.{h,cc}    the wire format
//   server_link, connection (shared with network()): connect, reconnect
//                         with backoff, failover servers (one link per
//                         server with load-balance(yes))
//   failback_probe        (shared with network()): failback()'s probes
#pragma once

#include <memory>

#include "core/config.h"
#include "relay/network_destination.h"

namespace logferry {

namespace ferry {
class Dictionary;
}

struct FerryDestinationConfig {
  // servers (primary, then failover), port, time-reopen, keepalive,
  // connect timeout, shutdown grace, failback(): what the shared connection
  // and probe code reads.
  NetworkDestinationConfig link;
  bool compress = true;             // compression(yes): zstd when the receiver accepts it
  int compress_level = 1;           // compression-level(): 1 packs logs as well as 3 for less CPU (docs/performance.md)
  // compression-dictionary(): offered in HELLO, used when the receiver has it.
  std::shared_ptr<const ferry::Dictionary> dictionary;
  uint32_t window = 16;             // window(): unacknowledged batches per stream (the receiver may lower it)
  uint32_t batch_messages = 512;    // batch-messages(): the most messages in one batch
  uint32_t batch_bytes = 1u << 20;  // batch-bytes(): a batch is closed once its encoding is this large
  // Batches (sent or not) a stream may hold before messages of sources
  // that do not wait are dropped: window() times this.
  uint32_t queue_windows = 4;
  // ack-timeout(): a receiver from which nothing (no ACK, no PONG, no PING)
  // came for this long while it owes an answer is taken for hung: reconnect.
  uint64_t ack_timeout_ms = 30000;
  // load-balance(yes): one connection per server, the streams spread over
  // them (each sticks to its connection, which fails over to the next
  // server while its own is down, and with failback() returns to it); no:
  // one connection, failover in order.
  bool load_balance = false;
};

std::string describe_ferry_destination(const FerryDestinationConfig& c);
void register_ferry_destination(DriverRegistry& registry);
std::unique_ptr<Destination> make_ferry_destination(const FerryDestinationConfig& c);

}  // namespace logferry
