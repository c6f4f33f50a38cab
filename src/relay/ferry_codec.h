// The ferry protocol's wire format (docs/protocol.md): frame headers, the
// payload of every frame type, the message encoding, and the per-connection
// zstd streams.  Pure functions and small stateful codecs, no I/O: the
// ferry() destination and source drive them, the unit tests and the fuzz
// target check them.  Every decoder treats its input as hostile: malformed
// bytes give false and an error text, never a crash, a hang or an
// allocation larger than the input (or the announced limits) allows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/message.h"

typedef struct ZSTD_CCtx_s ZSTD_CCtx;
typedef struct ZSTD_DCtx_s ZSTD_DCtx;

namespace logferry::ferry {

class Dictionary;  // ferry_dictionary.h

constexpr uint16_t kVersion = 1;
constexpr size_t kHeaderSize = 8;
constexpr uint32_t kFeatureZstd = 1u << 0;
constexpr uint32_t kFeatureZstdDict = 1u << 1;
constexpr uint32_t kFeatureSplit = 1u << 2;
constexpr uint16_t kBatchFlagZstd = 1u << 0;
constexpr uint16_t kBatchFlagSplit = 1u << 1;

// Defaults of the receiver's limits (announced in WELCOME).
constexpr uint32_t kDefaultMaxFrameBytes = 8u << 20;
constexpr uint32_t kDefaultMaxBatchBytes = 8u << 20;
constexpr uint32_t kDefaultMaxBatchMessages = 4096;
constexpr uint32_t kDefaultWindow = 16;

enum class FrameType : uint8_t {
  kHello = 0x01,
  kWelcome = 0x02,
  kStreamOpen = 0x03,
  kStreamState = 0x04,
  kBatch = 0x05,
  kAck = 0x06,
  kPing = 0x07,
  kPong = 0x08,
  kError = 0x0F,
};

// 0x40-0x7F: optional extensions a peer ignores when it does not know them.
inline bool is_extension_type(uint8_t type) { return type >= 0x40 && type <= 0x7F; }
bool is_known_type(uint8_t type);
const char* type_name(uint8_t type);

enum ErrorCode : uint16_t {
  kErrVersion = 1,
  kErrProtocol = 2,
  kErrLimit = 3,
  kErrOverloaded = 4,
  kErrShuttingDown = 5,
};

struct FrameHeader {
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t length = 0;  // payload bytes
};

// Appends a whole frame: header, then `payload`.
void append_frame(std::string* out, FrameType type, uint8_t flags, std::string_view payload);
// Appends a header for a payload the caller appends next (length patched by
// finish_frame(out, at) once the payload is written; `at` is the header's
// offset in *out).
size_t begin_frame(std::string* out, FrameType type, uint8_t flags);
void finish_frame(std::string* out, size_t at);
FrameHeader decode_header(const uint8_t* p);

// Splits a peer's byte stream into frames.  A header announcing more than
// max_frame_bytes is an error before any of its payload is buffered, so the
// buffer never holds more than one frame plus one read.
class FrameReader {
 public:
  explicit FrameReader(uint32_t max_frame_bytes) : max_frame_(max_frame_bytes) {}
  // Appends bytes read from the peer.
  void feed(std::string_view bytes) { buf_.append(bytes); }
  // The next complete frame: 1 (header and payload set; the payload is valid
  // until the next call), 0 (needs more bytes), -1 (error(): too long).
  int next(FrameHeader* h, std::string_view* payload);
  const std::string& error() const { return error_; }
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  uint32_t max_frame_;
  std::string buf_;
  size_t pos_ = 0;  // start of the unread bytes in buf_
  std::string error_;
};

// ---- payloads ------------------------------------------------------------
// Each encode_* appends a whole frame to *out; each decode_* reads a
// payload (trailing bytes it does not know are ignored, as the protocol's
// evolution rules require) and returns false when it is too short or
// inconsistent.

struct Hello {
  uint16_t min_version = kVersion;
  uint16_t max_version = kVersion;
  uint8_t node_id[16] = {};
  uint32_t features = 0;
  uint32_t dict_id = 0;
  std::string name;
};
struct Welcome {
  uint16_t version = kVersion;
  uint8_t node_id[16] = {};
  uint32_t features = 0;
  uint32_t window = kDefaultWindow;
  uint32_t max_batch_messages = kDefaultMaxBatchMessages;
  uint32_t max_batch_bytes = kDefaultMaxBatchBytes;
  uint32_t max_frame_bytes = kDefaultMaxFrameBytes;
};
struct StreamOpen {
  uint32_t stream = 0;
  uint8_t origin[16] = {};
  std::string source;
  std::string host;
};
struct StreamState {
  uint32_t stream = 0;
  uint64_t hwm = 0;
  // Appended to version 1's payload: the highest seq the receiver has
  // accepted (handed on, maybe not durable yet); hwm when absent.
  uint64_t received = 0;
  // Appended after `received`: a sender that numbers the stream afresh (it
  // restarted) numbers after this; `received` when absent.  A relay that
  // restarted sets it above what it may have forwarded in its earlier run.
  uint64_t fresh_after = 0;
};
// BATCH without its body: decode_batch_header() points *body at it.
struct BatchHeader {
  uint32_t stream = 0;
  uint64_t seq = 0;
  uint32_t count = 0;
  uint32_t raw_len = 0;
};
struct Ack {
  uint32_t stream = 0;
  uint64_t seq = 0;
};
struct ErrorFrame {
  uint16_t code = 0;
  std::string text;
};

void encode_hello(std::string* out, const Hello& h);
bool decode_hello(std::string_view p, Hello* h);
void encode_welcome(std::string* out, const Welcome& w);
bool decode_welcome(std::string_view p, Welcome* w);
void encode_stream_open(std::string* out, const StreamOpen& s);
bool decode_stream_open(std::string_view p, StreamOpen* s);
void encode_stream_state(std::string* out, const StreamState& s);
bool decode_stream_state(std::string_view p, StreamState* s);
// The body (already compressed when flags has kBatchFlagZstd) follows the
// fixed fields.
void encode_batch(std::string* out, const BatchHeader& b, uint8_t flags, std::string_view body);
// encode_batch() for a body the caller appends next (e.g. compressed in
// place), then finish_frame(out, returned offset).
size_t begin_batch(std::string* out, const BatchHeader& b, uint8_t flags);
bool decode_batch_header(std::string_view p, BatchHeader* b, std::string_view* body);
void encode_ack(std::string* out, const Ack& a);
bool decode_ack(std::string_view p, Ack* a);
// PING and PONG: 8 opaque bytes.
void encode_ping(std::string* out, FrameType type, uint64_t token);
bool decode_ping(std::string_view p, uint64_t* token);
void encode_error(std::string* out, uint16_t code, std::string_view text);
bool decode_error(std::string_view p, ErrorFrame* e);

// ---- messages ------------------------------------------------------------

// The field ids of the message encoding, frozen by docs/protocol.md.  They
// differ from the order of `Field` in message.h, which is free to change.
enum WireField : uint8_t {
  kWireHost = 1,
  kWireProgram = 2,
  kWirePid = 3,
  kWireMsgId = 4,
  kWireMessage = 5,
  kWireHostFrom = 6,
  kWireSourceIp = 7,
};

// What a message's time stamps are sent against: the previous message's in
// the same batch (zero for the first one, and for a message encoded alone).
// Consecutive messages mostly share their stamps or differ by a few
// seconds, which then costs a byte instead of five (docs/protocol.md).
struct StampBase {
  int64_t stamp_sec = 0;
  int64_t received_sec = 0;
};

// Appends messages in the encoding of a BATCH body, in place: once *out
// has grown, encoding allocates nothing.
class MessageEncoder {
 public:
  // A message on its own (a disk buffer's record).
  void append(const LogMessage& m, std::string* out);
  // The next message of a batch whose messages so far left `base` behind
  // (start each batch with a fresh StampBase).  With `text_at`, notes
  // there where the message's MESSAGE starts in *out (for SplitLayout).
  void append(const LogMessage& m, StampBase* base, std::string* out, std::vector<uint32_t>* text_at = nullptr);

 private:
  std::string length_;  // scratch: a message's length prefix when it is not 2 bytes
};

// How a BATCH body lays its messages out (docs/protocol.md): kRows, each
// message whole behind its length (what MessageEncoder writes); kSplit
// (BATCH flag bit 1), the messages' metadata first, then their MESSAGE
// texts, each ended by a newline.
enum class Layout : uint8_t { kRows, kSplit };

// Rewrites a batch from the row layout into the split one.  zstd packs
// the texts better when the metadata does not interrupt them, and a
// newline after each costs nothing where a varying length costs 1.4-2.8
// bytes a message (docs/performance.md).  Its buffers are reused: once
// they have grown, converting allocates nothing.
class SplitLayout {
 public:
  // Appends the start of the split form of `rows` (messages as
  // MessageEncoder wrote them, `text_at` the offsets of their texts it
  // noted: one per message) to *out: metas_len and the metadata; the rest
  // of it, the texts, is texts() (separate, so that the compressor reads
  // them where they are).  False, *out untouched, when a MESSAGE holds a
  // newline: such a batch goes in the row layout.
  bool convert(std::string_view rows, const std::vector<uint32_t>& text_at, std::string* out);
  // The texts of the last convert() that returned true, each with its newline.
  std::string_view texts() const { return texts_; }

 private:
  std::string texts_;
};

// Decodes a BATCH body of `count` messages in `layout` into `out` (cleared
// first; its messages and their buffers are reused).  False and *error
// when the body is malformed: a length running past its message or the
// body, an unknown field id, a value out of range, too few or too many
// bytes or texts.
bool decode_messages(std::string_view body, uint32_t count, MessageBatch* out, std::string* error,
                     Layout layout = Layout::kRows);
// Decodes exactly one message as MessageEncoder::append() wrote it (its
// length, then the encoding) into *m; false and *error as above.
bool decode_message(std::string_view encoded, LogMessage* m, std::string* error);

// ---- compression -----------------------------------------------------------

// One direction's zstd compression stream of a connection: every batch is
// flushed (ZSTD_e_flush), so the receiver can decode it on arrival, while
// it still compresses against what the connection sent before.
class Compressor {
 public:
  explicit Compressor(int level = 3);
  ~Compressor();
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;
  // Appends the compressed form of `in` followed by `more` (one batch in
  // two pieces: no copy to join them) to *out.  False (and *error) only
  // when zstd fails; the stream is then unusable (reconnect).
  bool compress(std::string_view in, std::string* out, std::string* error, std::string_view more = {});
  // Starts a fresh stream (a new connection).
  void reset();
  // The dictionary the stream starts with (null: none); set after reset(),
  // before the first compress().  `dict` must outlive the stream.
  void use_dictionary(const Dictionary* dict);

 private:
  ZSTD_CCtx* cctx_;
  int level_;
  size_t chunk_size_;
  std::unique_ptr<char[]> chunk_;  // ZSTD_CStreamOutSize() bytes of output at a time
};

// The other end: decompresses each BATCH body with a bound.  More output
// than raw_len, or a raw_len above max_raw, is an error (no zip bombs); the
// window the stream may ask for is bounded too.
class Decompressor {
 public:
  explicit Decompressor(uint32_t max_raw);
  ~Decompressor();
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;
  // Replaces *out with the `raw_len` bytes `in` decompresses to.  False
  // and *error when it gives more or fewer, or the stream is corrupt; the
  // stream is then unusable (close the connection).
  bool decompress(std::string_view in, uint32_t raw_len, std::string* out, std::string* error);
  void reset();
  // As Compressor::use_dictionary(): the dictionary both ends agreed on.
  void use_dictionary(const Dictionary* dict);

 private:
  ZSTD_DCtx* dctx_;
  uint32_t max_raw_;
};

// Varints (unsigned LEB128, at most 10 bytes) and zigzag, for the message
// encoding; exposed for the tests.
void put_varint_long(std::string* out, uint64_t v);
// Inline for the one-byte case, most lengths and counts (an encoder calls
// it about twenty times a message).
inline void put_varint(std::string* out, uint64_t v) {
  if (v < 0x80) out->push_back(static_cast<char>(v));
  else put_varint_long(out, v);
}
// Reads a varint at *p (< end); false when truncated or longer than 10 bytes
// or above 2^64.
bool get_varint(const uint8_t** p, const uint8_t* end, uint64_t* v);
inline uint64_t zigzag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline int64_t unzigzag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

}  // namespace logferry::ferry
