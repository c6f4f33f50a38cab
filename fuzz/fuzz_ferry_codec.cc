// Fuzzes the ferry protocol's decoders (src/relay/ferry_codec.*): what a
// receiver or sender reads from a hostile peer.
//
// The first byte chooses the mode; the rest is either a peer's byte stream
// (split into frames by FrameReader with a small max-frame-bytes, every
// frame decoded by its type's decoder, BATCH bodies decompressed with a
// bound and decoded into messages in the layout the BATCH flags say) or a
// bare BATCH body (mode bit 1: in the split layout).  Checked: no crash,
// hang or unbounded allocation (ASan, the rss limit); decompressed bodies
// never exceed the bound; every decoded message's spans lie inside its
// buffer; a decoded batch encodes and decodes again to the same bytes (the
// encoding is canonical once through the decoder); and its split form,
// when it has one, decodes to the same messages.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "relay/ferry_codec.h"

using namespace logferry;
using namespace logferry::ferry;

namespace {

constexpr uint32_t kMaxFrame = 4096;
constexpr uint32_t kMaxRaw = 16384;

MessageBatch g_batch, g_again;
std::string g_raw, g_reencoded, g_reencoded2, g_split;
std::vector<uint32_t> g_text_at;
SplitLayout g_splitter;

// A decoded batch re-encodes to bytes that decode to the same encoding.
void check_batch(uint32_t count) {
  FUZZ_CHECK(g_batch.size() == count);
  MessageEncoder enc;
  StampBase base;
  g_reencoded.clear();
  g_text_at.clear();
  for (size_t i = 0; i < g_batch.size(); ++i) {
    fuzz::check_spans(g_batch[i]);
    enc.append(g_batch[i], &base, &g_reencoded, &g_text_at);
  }
  std::string err;
  FUZZ_CHECK(decode_messages(g_reencoded, count, &g_again, &err));
  g_reencoded2.clear();
  base = StampBase{};
  for (size_t i = 0; i < g_again.size(); ++i) enc.append(g_again[i], &base, &g_reencoded2);
  FUZZ_CHECK(g_reencoded == g_reencoded2);
  // The split layout carries the same messages (no text with a newline).
  g_split.clear();
  if (!g_splitter.convert(g_reencoded, g_text_at, &g_split)) return;
  g_split.append(g_splitter.texts());
  FUZZ_CHECK(decode_messages(g_split, count, &g_again, &err, Layout::kSplit));
  g_reencoded2.clear();
  base = StampBase{};
  for (size_t i = 0; i < g_again.size(); ++i) enc.append(g_again[i], &base, &g_reencoded2);
  FUZZ_CHECK(g_reencoded == g_reencoded2);
}

Layout layout_of(bool split) { return split ? Layout::kSplit : Layout::kRows; }

void decode_frame(const FrameHeader& h, std::string_view p, Decompressor& dec) {
  switch (h.type) {
    case 0x01: {
      Hello x;
      if (decode_hello(p, &x)) FUZZ_CHECK(x.min_version <= x.max_version && x.name.size() <= 0xFFFF);
      break;
    }
    case 0x02: {
      Welcome x;
      if (decode_welcome(p, &x)) FUZZ_CHECK(x.window > 0);
      break;
    }
    case 0x03: {
      StreamOpen x;
      (void)decode_stream_open(p, &x);
      break;
    }
    case 0x04: {
      StreamState x;
      (void)decode_stream_state(p, &x);
      break;
    }
    case 0x05: {
      BatchHeader b;
      std::string_view body;
      if (!decode_batch_header(p, &b, &body)) break;
      FUZZ_CHECK(b.seq > 0 && body.size() <= p.size());
      std::string err;
      std::string_view raw = body;
      if (h.flags & kBatchFlagZstd) {
        if (!dec.decompress(body, b.raw_len, &g_raw, &err)) {
          dec.reset();
          break;
        }
        FUZZ_CHECK(g_raw.size() == b.raw_len && b.raw_len <= kMaxRaw);
        raw = g_raw;
      } else if (raw.size() != b.raw_len) {
        break;
      }
      if (decode_messages(raw, b.count, &g_batch, &err, layout_of(h.flags & kBatchFlagSplit))) check_batch(b.count);
      else FUZZ_CHECK(g_batch.empty() && !err.empty());
      break;
    }
    case 0x06: {
      Ack x;
      (void)decode_ack(p, &x);
      break;
    }
    case 0x07:
    case 0x08: {
      uint64_t t;
      (void)decode_ping(p, &t);
      break;
    }
    case 0x0F: {
      ErrorFrame x;
      (void)decode_error(p, &x);
      break;
    }
    default:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);

  if (mode & 1) {
    // A bare BATCH body; the next byte is the message count.
    if (rest.empty()) return 0;
    uint32_t count = static_cast<uint8_t>(rest[0]);
    rest.remove_prefix(1);
    std::string err;
    if (decode_messages(rest, count, &g_batch, &err, layout_of(mode & 2))) check_batch(count);
    else FUZZ_CHECK(g_batch.empty() && !err.empty());
    return 0;
  }

  // A peer's stream, read in chunks of a size the mode byte chooses.
  FrameReader reader(kMaxFrame);
  Decompressor dec(kMaxRaw);
  size_t chunk = 1 + (mode >> 1) * 7;
  for (size_t off = 0; off < rest.size(); off += chunk) {
    reader.feed(rest.substr(off, chunk));
    FUZZ_CHECK(reader.buffered() <= kHeaderSize + kMaxFrame + chunk);
    FrameHeader h;
    std::string_view p;
    int n;
    while ((n = reader.next(&h, &p)) == 1) {
      FUZZ_CHECK(h.length == p.size() && p.size() <= kMaxFrame);
      decode_frame(h, p, dec);
    }
    if (n < 0) {
      FUZZ_CHECK(!reader.error().empty());
      return 0;
    }
  }
  return 0;
}
