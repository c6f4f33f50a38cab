// The ferry() source: the receiving side of the ferry protocol
// (docs/protocol.md).  It listens on TCP, answers the handshake, keeps a
// high-water mark per origin stream, drops (and acknowledges) batches it
// already has, hands the messages of new batches to the engine already
// parsed, and acknowledges a batch once the engine's delivery tracking says
// every destination took its messages durably; the marks are committed to
// the engine's delivery journal (core/delivery_journal.h), with the lengths
// of the files they cover, before the ACK goes out.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/config.h"

namespace logferry {

namespace ferry {
class Dictionary;
}

struct FerrySourceConfig {
  std::string ip = "0.0.0.0";
  int port = 5140;
  int max_connections = 100;
  uint32_t window = 16;                      // announced in WELCOME
  uint32_t max_frame_bytes = 8u << 20;
  uint32_t max_batch_bytes = 8u << 20;       // decompressed
  uint32_t max_batch_messages = 4096;
  uint32_t max_streams = 10000;              // origin streams remembered in all
  bool compress = true;                      // accept zstd
  // compression-dictionary(): accepted when a sender offers its id.
  std::shared_ptr<const ferry::Dictionary> dictionary;
  size_t log_msg_size = 65536;               // MESSAGE longer than this is cut (truncated, counted)
};

void register_ferry_source(DriverRegistry& registry);

}  // namespace logferry
