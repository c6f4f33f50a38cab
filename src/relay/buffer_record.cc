#include "relay/buffer_record.h"

#include <algorithm>
#include <cstring>

namespace logferry::buffer_record {

namespace {

constexpr uint16_t kMarker = 0xFFFF;
constexpr size_t kFixedBytes = 2 + 1 + 2 + 1 + 4 + 8;  // marker .. file life

template <typename T>
void put(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof v);  // little-endian hosts only, as the queue
}

void put_str16(std::string* out, const std::string& s) {
  uint16_t n = static_cast<uint16_t>(std::min<size_t>(s.size(), 0xFFFF));
  put(out, n);
  out->append(s.data(), n);
}

// Reads fixed fields off the front of a payload; any read past its end
// sets bad() and gives zeros.
class Cursor {
 public:
  explicit Cursor(std::string_view p) : p_(p) {}
  template <typename T>
  T get() {
    T v{};
    if (p_.size() < sizeof v) {
      bad_ = true;
      return v;
    }
    memcpy(&v, p_.data(), sizeof v);
    p_.remove_prefix(sizeof v);
    return v;
  }
  void raw(uint8_t* to, size_t n) {
    if (p_.size() < n) {
      bad_ = true;
      return;
    }
    memcpy(to, p_.data(), n);
    p_.remove_prefix(n);
  }
  void str16(std::string* to) {
    uint16_t n = get<uint16_t>();
    if (bad_ || p_.size() < n) {
      bad_ = true;
      return;
    }
    to->assign(p_.data(), n);
    p_.remove_prefix(n);
  }
  bool bad() const { return bad_; }
  std::string_view rest() const { return p_; }

 private:
  std::string_view p_;
  bool bad_ = false;
};

}  // namespace

size_t begin_run(std::string* out, const RunHeader& h) {
  put(out, kMarker);
  put(out, kVersion);
  put(out, h.source_id);
  put(out, h.flags);
  size_t count_at = out->size();
  put(out, h.count);
  put(out, h.file_life);
  if (h.from_origin()) {
    out->append(reinterpret_cast<const char*>(h.origin.node.data()), h.origin.node.size());
    put_str16(out, h.origin.source);
    put_str16(out, h.origin.host);
    put(out, h.origin_seq);
  }
  return count_at;
}

void set_count(std::string* out, size_t count_at, uint32_t count) { memcpy(out->data() + count_at, &count, 4); }

void append_message(std::string* out, ferry::MessageEncoder& encoder, const LogMessage& m) {
  ferry::put_varint(out, m.file_end);
  encoder.append(m, out);
}

uint64_t messages_in(std::string_view payload) {
  Cursor c(payload);
  if (c.get<uint16_t>() != kMarker) return payload.size() >= 2 ? 1 : 0;
  if (payload.size() < kFixedBytes) return 0;
  c.get<uint8_t>();
  c.get<uint16_t>();
  c.get<uint8_t>();
  return c.get<uint32_t>();
}

bool RecordReader::open(std::string_view payload) {
  error_.clear();
  left_ = 0;
  Cursor c(payload);
  uint16_t first = c.get<uint16_t>();
  if (c.bad()) {
    error_ = "a record of " + std::to_string(payload.size()) + " bytes";
    return false;
  }
  if (first != kMarker) {  // version 1: one message
    h_ = RunHeader{};
    h_.version = 1;
    h_.source_id = first;
    h_.count = 1;
    rest_ = c.rest();
    left_ = 1;
    return true;
  }
  h_.version = c.get<uint8_t>();
  if (!c.bad() && h_.version != kVersion) {
    error_ = "record version " + std::to_string(h_.version) + " (this logferry reads 1 and 2)";
    return false;
  }
  h_.source_id = c.get<uint16_t>();
  h_.flags = c.get<uint8_t>();
  h_.count = c.get<uint32_t>();
  h_.file_life = c.get<uint64_t>();
  h_.origin_seq = 0;
  if (h_.from_origin()) {
    c.raw(h_.origin.node.data(), h_.origin.node.size());
    c.str16(&h_.origin.source);
    c.str16(&h_.origin.host);
    h_.origin_seq = c.get<uint64_t>();
  }
  if (c.bad()) {
    error_ = "the record's header runs past its end";
    return false;
  }
  rest_ = c.rest();
  left_ = h_.count;
  return true;
}

bool RecordReader::take(uint64_t* file_end, std::string_view* encoded) {
  if (left_ == 0) {
    if (!rest_.empty() && error_.empty())
      error_ = std::to_string(rest_.size()) + " bytes after the record's " + std::to_string(h_.count) + " messages";
    return false;
  }
  *file_end = 0;
  if (h_.version >= 2) {
    const uint8_t* p = reinterpret_cast<const uint8_t*>(rest_.data());
    const uint8_t* end = p + rest_.size();
    if (p == end || !ferry::get_varint(&p, end, file_end)) {
      error_ = "message " + std::to_string(h_.count - left_) + " runs past the record";
      left_ = 0;
      return false;
    }
    rest_.remove_prefix(static_cast<size_t>(p - reinterpret_cast<const uint8_t*>(rest_.data())));
  }
  // The message: its length (a varint), then its encoding.
  const uint8_t* start = reinterpret_cast<const uint8_t*>(rest_.data());
  const uint8_t* p = start;
  uint64_t len = 0;
  if (rest_.empty() || !ferry::get_varint(&p, start + rest_.size(), &len) ||
      len > rest_.size() - static_cast<size_t>(p - start)) {
    error_ = "message " + std::to_string(h_.count - left_) + " runs past the record";
    left_ = 0;
    return false;
  }
  size_t size = static_cast<size_t>(p - start) + static_cast<size_t>(len);
  *encoded = rest_.substr(0, size);
  rest_.remove_prefix(size);
  --left_;
  return true;
}

bool RecordReader::next(LogMessage* m) {
  uint64_t file_end = 0;
  std::string_view encoded;
  if (!take(&file_end, &encoded)) return false;
  std::string why;
  if (!ferry::decode_message(encoded, m, &why)) {
    error_ = "message " + std::to_string(h_.count - left_ - 1) + ": " + why;
    left_ = 0;
    return false;
  }
  m->source_id = h_.source_id;
  m->file_life = h_.file_life;
  m->file_end = file_end;
  return true;
}

bool RecordReader::skip(uint64_t* file_end) {
  std::string_view encoded;
  return take(file_end, &encoded);
}

bool file_reach(std::string_view payload, uint64_t* life, uint64_t* end) {
  RecordReader r;
  if (!r.open(payload) || r.header().from_origin() || r.header().file_life == 0) return false;
  uint64_t e = 0, most = 0;
  while (r.skip(&e)) most = std::max(most, e);
  if (!r.error().empty() || most == 0) return false;
  *life = r.header().file_life;
  *end = most;
  return true;
}

}  // namespace logferry::buffer_record
