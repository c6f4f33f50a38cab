// The origin streams of messages received from other logferry nodes
// (ferry()): the origin's node id, source name and HOST, numbered so that a
// message names its origin with a small number (LogMessage::origin).  A
// relay's ferry() source fills it; its ferry() destination forwards each
// origin stream upstream under that identity.  Entries are never removed:
// one per origin stream seen in this run (a few dozen bytes each).
// Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "core/text.h"

namespace logferry {

struct OriginStreamId {
  std::array<uint8_t, 16> node{};  // the origin's node id
  std::string source;               // the origin's source name
  std::string host;                 // the origin's HOST
};

// How a stream is named where its mark is kept (the ferry() source's
// journal, sql()'s marks table): hex(origin node) ":" hex(source).
inline std::string origin_stream_key(std::string_view node, std::string_view source) {
  return hex_bytes(node) + ":" + hex_bytes(source);
}
inline std::string origin_stream_key(const OriginStreamId& id) {
  return origin_stream_key(std::string_view(reinterpret_cast<const char*>(id.node.data()), id.node.size()), id.source);
}

class OriginTable {
 public:
  // The number (from 1) of the stream (node, source); the same stream
  // keeps its number, with the newest host.
  uint32_t intern(const OriginStreamId& id) {
    std::string key(reinterpret_cast<const char*>(id.node.data()), id.node.size());
    key += id.source;
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, added] = numbers_.emplace(std::move(key), static_cast<uint32_t>(entries_.size() + 1));
    if (added) entries_.push_back(id);
    else entries_[it->second - 1].host = id.host;
    return it->second;
  }

  // The stream numbered `n` (0 or unknown: false).
  bool get(uint32_t n, OriginStreamId* out) const {
    std::lock_guard<std::mutex> lock(mu_);
    if (n == 0 || n > entries_.size()) return false;
    *out = entries_[n - 1];
    return true;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, uint32_t> numbers_;
  std::deque<OriginStreamId> entries_;
};

}  // namespace logferry
