#include "relay/ferry_codec.h"

#include <zstd.h>

#include <algorithm>
#include <cstring>

#include "relay/ferry_dictionary.h"

namespace logferry::ferry {

namespace {

// ---- big-endian writers and a bounds-checked reader ----------------------

void put_u8(std::string* out, uint8_t v) { out->push_back(static_cast<char>(v)); }
void put_u16(std::string* out, uint16_t v) {
  char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
  out->append(b, 2);
}
void put_u32(std::string* out, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
  out->append(b, 4);
}
void put_u64(std::string* out, uint64_t v) {
  put_u32(out, static_cast<uint32_t>(v >> 32));
  put_u32(out, static_cast<uint32_t>(v));
}
// A u16 length, then the bytes (cut at 65535).
void put_str16(std::string* out, std::string_view s) {
  if (s.size() > 0xFFFF) s = s.substr(0, 0xFFFF);
  put_u16(out, static_cast<uint16_t>(s.size()));
  out->append(s);
}
void put_bytes_v(std::string* out, std::string_view s) {
  put_varint(out, s.size());
  out->append(s);
}

// Reads fixed-size fields from a payload; any read past the end sets `bad`
// and yields zeros, so decoders check once at the end.
class Reader {
 public:
  explicit Reader(std::string_view p)
      : p_(reinterpret_cast<const uint8_t*>(p.data())), end_(p_ + p.size()) {}
  bool bad() const { return bad_; }
  const uint8_t* pos() const { return p_; }
  size_t left() const { return static_cast<size_t>(end_ - p_); }

  uint64_t be(int n) {
    if (bad_ || left() < static_cast<size_t>(n)) {
      bad_ = true;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | *p_++;
    return v;
  }
  uint8_t u8() { return static_cast<uint8_t>(be(1)); }
  uint16_t u16() { return static_cast<uint16_t>(be(2)); }
  uint32_t u32() { return static_cast<uint32_t>(be(4)); }
  uint64_t u64() { return be(8); }
  std::string_view bytes(size_t n) {
    if (bad_ || left() < n) {
      bad_ = true;
      return {};
    }
    std::string_view s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }
  void raw(uint8_t* dst, size_t n) {
    std::string_view s = bytes(n);
    if (!bad_) std::memcpy(dst, s.data(), n);
  }
  std::string_view str16() { return bytes(u16()); }
  uint64_t varint() {
    uint64_t v = 0;
    if (bad_ || !get_varint(&p_, end_, &v)) bad_ = true;
    return bad_ ? 0 : v;
  }
  // A varint length, then that many bytes.
  std::string_view bytes_v() {
    uint64_t n = varint();
    if (n > left()) {
      bad_ = true;
      return {};
    }
    return bytes(static_cast<size_t>(n));
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  bool bad_ = false;
};

}  // namespace

// ---- varints ---------------------------------------------------------------

void put_varint_long(std::string* out, uint64_t v) {
  char b[10];
  int n = 0;
  while (v >= 0x80) {
    b[n++] = static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  b[n++] = static_cast<char>(v);
  out->append(b, static_cast<size_t>(n));
}

bool get_varint(const uint8_t** p, const uint8_t* end, uint64_t* v) {
  uint64_t r = 0;
  const uint8_t* q = *p;
  for (int i = 0; i < 10; ++i) {
    if (q >= end) return false;
    uint8_t b = *q++;
    if (i == 9 && b > 1) return false;  // above 2^64
    r |= static_cast<uint64_t>(b & 0x7F) << (7 * i);
    if (!(b & 0x80)) {
      *p = q;
      *v = r;
      return true;
    }
  }
  return false;
}

// ---- frames ----------------------------------------------------------------

bool is_known_type(uint8_t type) {
  return (type >= 0x01 && type <= 0x08) || type == 0x0F;
}

const char* type_name(uint8_t type) {
  switch (type) {
    case 0x01: return "HELLO";
    case 0x02: return "WELCOME";
    case 0x03: return "STREAM_OPEN";
    case 0x04: return "STREAM_STATE";
    case 0x05: return "BATCH";
    case 0x06: return "ACK";
    case 0x07: return "PING";
    case 0x08: return "PONG";
    case 0x0F: return "ERROR";
    default: return is_extension_type(type) ? "extension" : "unknown";
  }
}

size_t begin_frame(std::string* out, FrameType type, uint8_t flags) {
  size_t at = out->size();
  put_u8(out, static_cast<uint8_t>(type));
  put_u8(out, flags);
  put_u16(out, 0);
  put_u32(out, 0);
  return at;
}

void finish_frame(std::string* out, size_t at) {
  uint64_t len = out->size() - at - kHeaderSize;
  char* p = out->data() + at + 4;
  p[0] = static_cast<char>(len >> 24);
  p[1] = static_cast<char>(len >> 16);
  p[2] = static_cast<char>(len >> 8);
  p[3] = static_cast<char>(len);
}

void append_frame(std::string* out, FrameType type, uint8_t flags, std::string_view payload) {
  size_t at = begin_frame(out, type, flags);
  out->append(payload);
  finish_frame(out, at);
}

FrameHeader decode_header(const uint8_t* p) {
  FrameHeader h;
  h.type = p[0];
  h.flags = p[1];
  h.length = (static_cast<uint32_t>(p[4]) << 24) | (static_cast<uint32_t>(p[5]) << 16) |
             (static_cast<uint32_t>(p[6]) << 8) | p[7];
  return h;
}

int FrameReader::next(FrameHeader* h, std::string_view* payload) {
  if (!error_.empty()) return -1;
  // Drop what earlier calls consumed once it is most of the buffer (so the
  // payload handed out last time stays valid until this call).
  if (pos_ > 0 && (pos_ == buf_.size() || pos_ >= buf_.size() / 2)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  if (buffered() < kHeaderSize) return 0;
  FrameHeader fh = decode_header(reinterpret_cast<const uint8_t*>(buf_.data() + pos_));
  if (fh.length > max_frame_) {
    error_ = std::string(type_name(fh.type)) + " frame of " + std::to_string(fh.length) +
             " bytes is above max-frame-bytes (" + std::to_string(max_frame_) + ")";
    return -1;
  }
  if (buffered() - kHeaderSize < fh.length) return 0;
  *h = fh;
  *payload = std::string_view(buf_.data() + pos_ + kHeaderSize, fh.length);
  pos_ += kHeaderSize + fh.length;
  return 1;
}

// ---- payloads --------------------------------------------------------------

void encode_hello(std::string* out, const Hello& h) {
  size_t at = begin_frame(out, FrameType::kHello, 0);
  out->append("LFRY", 4);
  put_u16(out, h.min_version);
  put_u16(out, h.max_version);
  out->append(reinterpret_cast<const char*>(h.node_id), 16);
  put_u32(out, h.features);
  put_u32(out, h.dict_id);
  put_str16(out, h.name);
  finish_frame(out, at);
}

bool decode_hello(std::string_view p, Hello* h) {
  Reader r(p);
  if (r.bytes(4) != "LFRY") return false;
  h->min_version = r.u16();
  h->max_version = r.u16();
  r.raw(h->node_id, 16);
  h->features = r.u32();
  h->dict_id = r.u32();
  h->name = r.str16();
  return !r.bad() && h->min_version <= h->max_version;
}

void encode_welcome(std::string* out, const Welcome& w) {
  size_t at = begin_frame(out, FrameType::kWelcome, 0);
  put_u16(out, w.version);
  out->append(reinterpret_cast<const char*>(w.node_id), 16);
  put_u32(out, w.features);
  put_u32(out, w.window);
  put_u32(out, w.max_batch_messages);
  put_u32(out, w.max_batch_bytes);
  put_u32(out, w.max_frame_bytes);
  finish_frame(out, at);
}

bool decode_welcome(std::string_view p, Welcome* w) {
  Reader r(p);
  w->version = r.u16();
  r.raw(w->node_id, 16);
  w->features = r.u32();
  w->window = r.u32();
  w->max_batch_messages = r.u32();
  w->max_batch_bytes = r.u32();
  w->max_frame_bytes = r.u32();
  // A window or limit of 0 would stall the sender for good.
  return !r.bad() && w->window > 0 && w->max_batch_messages > 0 && w->max_batch_bytes > 0 &&
         w->max_frame_bytes > kHeaderSize;
}

void encode_stream_open(std::string* out, const StreamOpen& s) {
  size_t at = begin_frame(out, FrameType::kStreamOpen, 0);
  put_u32(out, s.stream);
  out->append(reinterpret_cast<const char*>(s.origin), 16);
  put_str16(out, s.source);
  put_str16(out, s.host);
  finish_frame(out, at);
}

bool decode_stream_open(std::string_view p, StreamOpen* s) {
  Reader r(p);
  s->stream = r.u32();
  r.raw(s->origin, 16);
  s->source = r.str16();
  s->host = r.str16();
  return !r.bad();
}

void encode_stream_state(std::string* out, const StreamState& s) {
  size_t at = begin_frame(out, FrameType::kStreamState, 0);
  put_u32(out, s.stream);
  put_u64(out, s.hwm);
  put_u64(out, std::max(s.received, s.hwm));
  put_u64(out, std::max({s.fresh_after, s.received, s.hwm}));
  finish_frame(out, at);
}

bool decode_stream_state(std::string_view p, StreamState* s) {
  Reader r(p);
  s->stream = r.u32();
  s->hwm = r.u64();
  s->received = r.left() >= 8 ? r.u64() : s->hwm;
  s->fresh_after = r.left() >= 8 ? r.u64() : s->received;
  return !r.bad() && s->received >= s->hwm && s->fresh_after >= s->received;
}

void encode_batch(std::string* out, const BatchHeader& b, uint8_t flags, std::string_view body) {
  size_t at = begin_batch(out, b, flags);
  out->append(body);
  finish_frame(out, at);
}

size_t begin_batch(std::string* out, const BatchHeader& b, uint8_t flags) {
  size_t at = begin_frame(out, FrameType::kBatch, flags);
  put_u32(out, b.stream);
  put_u64(out, b.seq);
  put_u32(out, b.count);
  put_u32(out, b.raw_len);
  return at;
}

bool decode_batch_header(std::string_view p, BatchHeader* b, std::string_view* body) {
  Reader r(p);
  b->stream = r.u32();
  b->seq = r.u64();
  b->count = r.u32();
  b->raw_len = r.u32();
  if (r.bad() || b->seq == 0) return false;  // sequence numbers start at 1
  *body = p.substr(p.size() - r.left());
  return true;
}

void encode_ack(std::string* out, const Ack& a) {
  size_t at = begin_frame(out, FrameType::kAck, 0);
  put_u32(out, a.stream);
  put_u64(out, a.seq);
  finish_frame(out, at);
}

bool decode_ack(std::string_view p, Ack* a) {
  Reader r(p);
  a->stream = r.u32();
  a->seq = r.u64();
  return !r.bad();
}

void encode_ping(std::string* out, FrameType type, uint64_t token) {
  size_t at = begin_frame(out, type, 0);
  put_u64(out, token);
  finish_frame(out, at);
}

bool decode_ping(std::string_view p, uint64_t* token) {
  Reader r(p);
  *token = r.u64();
  return !r.bad();
}

void encode_error(std::string* out, uint16_t code, std::string_view text) {
  size_t at = begin_frame(out, FrameType::kError, 0);
  put_u16(out, code);
  put_str16(out, text);
  finish_frame(out, at);
}

bool decode_error(std::string_view p, ErrorFrame* e) {
  Reader r(p);
  e->code = r.u16();
  e->text = r.str16();
  return !r.bad();
}

// ---- messages --------------------------------------------------------------

namespace {

struct FieldMap {
  WireField wire;
  Field field;
};
constexpr FieldMap kFields[] = {
    {kWireHost, Field::kHost},       {kWireProgram, Field::kProgram},   {kWirePid, Field::kPid},
    {kWireMsgId, Field::kMsgId},     {kWireMessage, Field::kMessage},   {kWireHostFrom, Field::kHostFrom},
    {kWireSourceIp, Field::kSourceIp},
};

// Timestamps a receiver accepts: years 1 to 9999, offsets within a day.
constexpr int64_t kMinSec = -62135596800;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxSec = 253402300799;  // 9999-12-31T23:59:59Z

// A time stamp's `form` byte: precision in the low nibble, the decimal
// digits of nsec that follow in the high one (docs/protocol.md).
// kSameAsStamp as `received`'s form: received equals stamp.
constexpr uint8_t kSameAsStamp = 0xFF;
constexpr uint32_t kPow10[10] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};

// Writes form, sec (minus base_sec), the nsec digits present and gmtoff.
// Only the digits nsec has are sent: a stamp read without a fraction sends
// none, a clock reading all nine.
void put_stamp(std::string* out, const Timestamp& t, int64_t base_sec) {
  uint32_t frac = t.nsec;
  int digits = frac ? 9 : 0;
  while (digits > 0 && frac % 10 == 0) {
    frac /= 10;
    --digits;
  }
  put_u8(out, static_cast<uint8_t>((t.precision & 0x0F) | (digits << 4)));
  // Wraps rather than overflows for absurd stamps; the receiver's range
  // check rejects what does not come back in range.
  put_varint(out, zigzag(static_cast<int64_t>(static_cast<uint64_t>(t.sec) - static_cast<uint64_t>(base_sec))));
  if (digits) put_varint(out, frac);
  put_varint(out, zigzag(t.gmtoff));
}

// Reads what put_stamp() wrote after the form byte (already read: `form`)
// and range-checks the result: years 1 to 9999, nsec < 10^9 sent with its
// digits and no trailing zero, offsets within a day, precision at most 9.
bool get_stamp(Reader& r, uint8_t form, int64_t base_sec, Timestamp* t) {
  uint8_t precision = form & 0x0F;
  int digits = form >> 4;
  uint64_t delta = r.varint();
  uint64_t frac = digits ? r.varint() : 0;
  int64_t gmtoff = unzigzag(r.varint());
  if (r.bad() || precision > 9 || digits > 9) return false;
  if (digits && (frac >= kPow10[digits] || frac % 10 == 0)) return false;
  int64_t sec;
  if (__builtin_add_overflow(base_sec, unzigzag(delta), &sec)) return false;
  if (sec < kMinSec || sec > kMaxSec || gmtoff < -86400 || gmtoff > 86400) return false;
  t->sec = sec;
  t->nsec = static_cast<uint32_t>(frac * kPow10[9 - digits]);
  t->gmtoff = static_cast<int32_t>(gmtoff);
  t->precision = precision;
  return true;
}

// Both stamps of a message: `stamp` against the previous message's stamp,
// `received` as "the same as stamp" or against the previous message's
// received (see StampBase).
void put_stamps(std::string* out, const LogMessage& m, StampBase* base) {
  put_stamp(out, m.stamp, base->stamp_sec);
  if (m.received == m.stamp) put_u8(out, kSameAsStamp);
  else put_stamp(out, m.received, base->received_sec);
  base->stamp_sec = m.stamp.sec;
  base->received_sec = m.received.sec;
}

bool get_stamps(Reader& r, LogMessage& m, StampBase* base) {
  if (!get_stamp(r, r.u8(), base->stamp_sec, &m.stamp)) return false;
  uint8_t form = r.u8();
  if (r.bad()) return false;
  if (form == kSameAsStamp) m.received = m.stamp;
  else if (!get_stamp(r, form, base->received_sec, &m.received)) return false;
  base->stamp_sec = m.stamp.sec;
  base->received_sec = m.received.sec;
  return true;
}

// Decodes a message's encoding up to MESSAGE (its metadata: pri to room)
// from r; MESSAGE is the caller's (it follows in the row layout, lies
// elsewhere in the split one).
bool decode_meta(Reader& r, LogMessage& m, StampBase* base, std::string* error) {
  auto fail = [&](const char* what) {
    *error = what;
    return false;
  };
  m.pri = r.u16();
  m.flags = r.u32();
  if (r.bad()) return fail("message shorter than its header");
  if (m.pri > 191) return fail("priority above 191");
  if (!get_stamps(r, m, base)) return fail("bad timestamp");

  uint64_t n = r.varint();
  for (uint64_t i = 0; i < n && !r.bad(); ++i) {
    uint8_t id = r.u8();
    std::string_view v = r.bytes_v();
    if (r.bad()) break;
    // MESSAGE travels at the end of the message, not in the list.
    if (id == kWireMessage) return fail("MESSAGE in the field list");
    bool known = false;
    for (const auto& f : kFields) {
      if (f.wire == id) {
        m.set(f.field, v);
        known = true;
      }
    }
    if (!known) return fail("unknown field id");
  }
  n = r.varint();
  for (uint64_t i = 0; i < n && !r.bad(); ++i) {
    std::string_view name = r.bytes_v();
    std::string_view value = r.bytes_v();
    if (!r.bad()) m.append_value(name, value);
  }
  n = r.varint();
  for (uint64_t i = 0; i < n && !r.bad(); ++i) {
    std::string_view id = r.bytes_v();
    uint64_t params = r.varint();
    if (r.bad()) break;
    m.begin_sd_element(m.store(id));
    for (uint64_t k = 0; k < params && !r.bad(); ++k) {
      std::string_view name = r.bytes_v();
      std::string_view value = r.bytes_v();
      if (r.bad()) break;
      Span ns = m.store(name);
      m.add_sd_param(ns, m.store(value));
    }
  }
  n = r.varint();
  for (uint64_t i = 0; i < n && !r.bad(); ++i) {
    std::string_view tag = r.bytes_v();
    if (!r.bad()) m.append_tag(tag);
  }
  // Room for what a later version adds: skipped.
  r.bytes_v();
  if (r.bad()) return fail("a length runs past the message");
  return true;
}

// Decodes one message's encoding in the row layout (without its length
// prefix): the metadata, then the rest is MESSAGE.
bool decode_one(std::string_view enc, LogMessage& m, StampBase* base, std::string* error) {
  Reader r(enc);
  if (!decode_meta(r, m, base, error)) return false;
  if (r.left()) m.set(Field::kMessage, r.bytes(r.left()));
  return true;
}

}  // namespace

void MessageEncoder::append(const LogMessage& m, std::string* out) {
  StampBase alone;
  append(m, &alone, out);
}

void MessageEncoder::append(const LogMessage& m, StampBase* base, std::string* out, std::vector<uint32_t>* text_at) {
  // Encoded in place after room for a length of 2 bytes (128 to 16383:
  // most messages), moved when the length needs another size.
  size_t at = out->size();
  out->append(2, '\0');
  std::string& s = *out;
  put_u16(&s, m.pri);
  put_u32(&s, m.flags);
  put_stamps(&s, m, base);
  uint64_t nfields = 0;
  for (const auto& f : kFields) nfields += f.wire != kWireMessage && !m.span(f.field).empty();
  put_varint(&s, nfields);
  for (const auto& f : kFields) {
    std::string_view v = m.get(f.field);
    if (v.empty() || f.wire == kWireMessage) continue;
    put_u8(&s, f.wire);
    put_bytes_v(&s, v);
  }
  put_varint(&s, m.values().size());
  for (const auto& nv : m.values()) {
    put_bytes_v(&s, m.view(nv.name));
    put_bytes_v(&s, m.view(nv.value));
  }
  put_varint(&s, m.sd_elements().size());
  for (const auto& e : m.sd_elements()) {
    put_bytes_v(&s, m.view(e.id));
    put_varint(&s, e.count);
    for (uint32_t i = 0; i < e.count; ++i) {
      const SdParam& p = m.sd_params()[e.first + i];
      put_bytes_v(&s, m.view(p.name));
      put_bytes_v(&s, m.view(p.value));
    }
  }
  put_varint(&s, m.tags().size());
  for (const auto& t : m.tags()) put_bytes_v(&s, m.view(t));
  put_varint(&s, 0);  // nothing in the room for later versions
  // MESSAGE last, its length implied by the message's: one varying length
  // a message instead of two, which zstd cannot predict (docs/performance.md).
  s.append(m.get(Field::kMessage));
  std::string& length = length_;
  length.clear();
  put_varint(&length, s.size() - at - 2);
  if (length.size() == 2) std::memcpy(s.data() + at, length.data(), 2);
  else s.replace(at, 2, length);
  if (text_at) text_at->push_back(static_cast<uint32_t>(s.size() - m.span(Field::kMessage).len));
}

bool decode_message(std::string_view encoded, LogMessage* m, std::string* error) {
  Reader r(encoded);
  std::string_view enc = r.bytes_v();
  if (r.bad() || r.left() != 0) {
    *error = r.bad() ? "the message runs past its record" : std::to_string(r.left()) + " bytes after the message";
    return false;
  }
  m->clear();
  StampBase alone;
  return decode_one(enc, *m, &alone, error);
}

bool SplitLayout::convert(std::string_view rows, const std::vector<uint32_t>& text_at, std::string* out) {
  // The metadata straight into *out behind its length (patched at the
  // end), the texts into texts_, compressed after it (Compressor's `more`).
  texts_.clear();
  size_t at = out->size();
  put_u32(out, 0);
  const uint8_t* base = reinterpret_cast<const uint8_t*>(rows.data());
  const uint8_t* p = base;
  const uint8_t* end = p + rows.size();
  size_t done = 0;
  for (uint32_t t : text_at) {
    uint64_t len = 0;
    if (!get_varint(&p, end, &len) || len > static_cast<uint64_t>(end - p)) break;  // not reached
    const uint8_t* text = base + t;
    if (text < p || text > p + len) break;  // not MessageEncoder's offsets; not reached
    size_t text_len = static_cast<size_t>(p + len - text);
    if (std::memchr(text, '\n', text_len)) break;
    out->append(reinterpret_cast<const char*>(p), static_cast<size_t>(text - p));
    texts_.append(reinterpret_cast<const char*>(text), text_len);
    texts_.push_back('\n');
    p += len;
    ++done;
  }
  if (done == text_at.size() && p == end) {
    uint32_t metas = static_cast<uint32_t>(out->size() - at - 4);
    char b[4] = {static_cast<char>(metas >> 24), static_cast<char>(metas >> 16), static_cast<char>(metas >> 8),
                 static_cast<char>(metas)};
    std::memcpy(out->data() + at, b, 4);
    return true;
  }
  out->resize(at);
  texts_.clear();
  return false;
}

namespace {

// decode_messages() of a body in the split layout.
bool decode_split(std::string_view body, uint32_t count, MessageBatch* out, std::string* error) {
  Reader head(body);
  uint32_t metas_len = head.u32();
  if (head.bad() || metas_len > head.left()) {
    *error = "the metadata of the split layout runs past the batch";
    return false;
  }
  Reader r(head.bytes(metas_len));
  std::string_view texts = body.substr(body.size() - head.left());
  StampBase base;
  for (uint32_t i = 0; i < count; ++i) {
    std::string why;
    LogMessage& m = out->add();
    size_t nl = texts.find('\n');
    if (nl == std::string_view::npos) {
      *error = "message " + std::to_string(i) + " of " + std::to_string(count) + ": no text left in the batch";
      return false;
    }
    if (!decode_meta(r, m, &base, &why)) {
      *error = "message " + std::to_string(i) + ": " + why;
      return false;
    }
    if (nl) m.set(Field::kMessage, texts.substr(0, nl));
    texts.remove_prefix(nl + 1);
  }
  if (r.left() != 0 || !texts.empty()) {
    *error = std::to_string(r.left() + texts.size()) + " bytes after the batch's " + std::to_string(count) + " messages";
    return false;
  }
  return true;
}

}  // namespace

bool decode_messages(std::string_view body, uint32_t count, MessageBatch* out, std::string* error, Layout layout) {
  out->clear();
  if (layout == Layout::kSplit) {
    if (decode_split(body, count, out, error)) return true;
    out->clear();
    return false;
  }
  Reader r(body);
  StampBase base;
  for (uint32_t i = 0; i < count; ++i) {
    std::string_view enc = r.bytes_v();
    if (r.bad()) {
      *error = "message " + std::to_string(i) + " of " + std::to_string(count) + " runs past the batch";
      out->clear();
      return false;
    }
    std::string why;
    if (!decode_one(enc, out->add(), &base, &why)) {
      *error = "message " + std::to_string(i) + ": " + why;
      out->clear();
      return false;
    }
  }
  if (r.left() != 0) {
    *error = std::to_string(r.left()) + " bytes after the batch's " + std::to_string(count) + " messages";
    out->clear();
    return false;
  }
  return true;
}

// ---- compression -----------------------------------------------------------

namespace {
// The largest window a stream may use (2^23 = 8 MiB): bounds the memory a
// peer's stream can make the receiver allocate.
constexpr int kWindowLogMax = 23;
constexpr int kWindowLog = 22;
}  // namespace

Compressor::Compressor(int level)
    : cctx_(ZSTD_createCCtx()), level_(level), chunk_size_(ZSTD_CStreamOutSize()), chunk_(new char[chunk_size_]) {
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_windowLog, kWindowLog);
}

Compressor::~Compressor() { ZSTD_freeCCtx(cctx_); }

void Compressor::reset() { ZSTD_CCtx_reset(cctx_, ZSTD_reset_session_only); }

void Compressor::use_dictionary(const Dictionary* dict) {
  // Null returns the context to no dictionary.
  ZSTD_CCtx_refCDict(cctx_, dict ? dict->for_compression(level_) : nullptr);
}

bool Compressor::compress(std::string_view in, std::string* out, std::string* error, std::string_view more) {
  // Through chunk_ and appended: cheaper than growing *out to the bound
  // first, which zeroes several times the bytes zstd then writes.
  size_t start = out->size();
  for (int part = 0; part < 2; ++part) {
    std::string_view piece = part == 0 ? in : more;
    ZSTD_EndDirective end = part == 0 ? ZSTD_e_continue : ZSTD_e_flush;
    ZSTD_inBuffer ib{piece.data(), piece.size(), 0};
    while (true) {
      ZSTD_outBuffer ob{chunk_.get(), chunk_size_, 0};
      size_t left = ZSTD_compressStream2(cctx_, &ob, &ib, end);
      if (ZSTD_isError(left)) {
        *error = std::string("zstd: ") + ZSTD_getErrorName(left);
        out->resize(start);
        return false;
      }
      out->append(chunk_.get(), ob.pos);
      // e_continue: done once zstd took all of the piece; e_flush: once
      // it has also written everything out.
      if (ib.pos == ib.size && (end == ZSTD_e_continue || left == 0)) break;
    }
  }
  return true;
}

Decompressor::Decompressor(uint32_t max_raw) : dctx_(ZSTD_createDCtx()), max_raw_(max_raw) {
  ZSTD_DCtx_setParameter(dctx_, ZSTD_d_windowLogMax, kWindowLogMax);
}

Decompressor::~Decompressor() { ZSTD_freeDCtx(dctx_); }

void Decompressor::reset() { ZSTD_DCtx_reset(dctx_, ZSTD_reset_session_only); }

void Decompressor::use_dictionary(const Dictionary* dict) {
  ZSTD_DCtx_refDDict(dctx_, dict ? dict->for_decompression() : nullptr);
}

bool Decompressor::decompress(std::string_view in, uint32_t raw_len, std::string* out, std::string* error) {
  if (raw_len > max_raw_) {
    *error = "raw_len " + std::to_string(raw_len) + " above max-batch-bytes (" + std::to_string(max_raw_) + ")";
    return false;
  }
  // One byte more than announced: output that fills it is too much.
  out->resize(static_cast<size_t>(raw_len) + 1);
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  ZSTD_outBuffer ob{out->data(), out->size(), 0};
  while (true) {
    size_t before_in = ib.pos, before_out = ob.pos;
    size_t r = ZSTD_decompressStream(dctx_, &ob, &ib);
    if (ZSTD_isError(r)) {
      *error = std::string("zstd: ") + ZSTD_getErrorName(r);
      return false;
    }
    if (ob.pos > raw_len) {
      *error = "batch decompresses to more than its raw_len (" + std::to_string(raw_len) + ")";
      return false;
    }
    // All input consumed and room left: zstd has flushed all it can.
    if (ib.pos == ib.size) break;
    if (ib.pos == before_in && ob.pos == before_out) {
      *error = "zstd made no progress";
      return false;
    }
  }
  if (ob.pos != raw_len) {
    *error = "batch decompresses to " + std::to_string(ob.pos) + " bytes, not its raw_len (" +
             std::to_string(raw_len) + ")";
    return false;
  }
  out->resize(raw_len);
  return true;
}

}  // namespace logferry::ferry
