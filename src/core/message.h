// LogMessage: one log record as every part of logferry sees it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/timestamp.h"

namespace logferry {

// A range of bytes inside a message's own buffer.  Fields are spans, not
// strings, so parsing a message allocates nothing per field and a message
// that is cleared and reused allocates nothing at all once warm.
struct Span {
  uint32_t off = 0;
  uint32_t len = 0;
  bool empty() const { return len == 0; }
};

// The well-known fields that have a slot of their own.
enum class Field : uint8_t {
  kHost,      // HOST: the originating host, from the header or the peer
  kHostFrom,  // HOST_FROM: name of the peer that sent it to us
  kSourceIp,  // SOURCEIP: address of that peer
  kProgram,
  kPid,
  kMsgId,
  kMessage,
  kCount
};

struct SdParam {
  Span name;
  Span value;
};

// One RFC 5424 SD-ELEMENT; its params are params_[first, first + count).
struct SdElement {
  Span id;
  uint32_t first = 0;
  uint32_t count = 0;
};

struct NameValue {
  Span name;
  Span value;
};

// Marks set on a message by the parsers and the pipeline.
enum MessageFlag : uint32_t {
  kFlagParseError = 1u << 0,    // header could not be parsed; MESSAGE holds the raw bytes
  kFlagRfc5424 = 1u << 1,       // arrived as RFC 5424
  kFlagTruncated = 1u << 2,     // cut at the size limit
  kFlagUtf8Bom = 1u << 3,       // RFC 5424 MSG started with a BOM (stripped)
  kFlagLocal = 1u << 4,         // came from a local source
};

class LogMessage {
 public:
  LogMessage() = default;

  // Forgets all content but keeps the memory for reuse.
  void clear();

  // Copies `raw` into the message buffer; parsers then point spans into it.
  Span set_raw(std::string_view raw);
  std::string_view raw() const { return view(raw_); }

  // Appends bytes to the buffer and returns their span (for values that are
  // not a plain slice of the raw input, e.g. unescaped SD values).
  Span store(std::string_view bytes);
  std::string_view view(Span s) const { return std::string_view(buf_.data() + s.off, s.len); }

  std::string_view get(Field f) const { return view(fields_[static_cast<int>(f)]); }
  Span span(Field f) const { return fields_[static_cast<int>(f)]; }
  void set_span(Field f, Span s) { fields_[static_cast<int>(f)] = s; }
  void set(Field f, std::string_view value) { set_span(f, store(value)); }

  // Name-value pairs added by parsers ($1..$9 of a match, .SDATA.meta.*, ...).
  // Setting an existing name replaces its value.
  void set_value(std::string_view name, std::string_view value);
  bool get_value(std::string_view name, std::string_view* out) const;
  // Adds a pair without looking for the name first: for decoders of input
  // that was already a message (the ferry protocol), where a per-value
  // search would make a hostile peer's long lists quadratic.  A repeated
  // name is then hidden behind the first.  Neither may point into this
  // message's own buffer.
  void append_value(std::string_view name, std::string_view value) {
    Span n = store(name);
    values_.push_back({n, store(value)});
  }
  const std::vector<NameValue>& values() const { return values_; }

  // RFC 5424 structured data, in arrival order.
  void begin_sd_element(Span id);
  void add_sd_param(Span name, Span value);
  void clear_structured_data() {
    sd_elements_.clear();
    sd_params_.clear();
  }
  const std::vector<SdElement>& sd_elements() const { return sd_elements_; }
  const std::vector<SdParam>& sd_params() const { return sd_params_; }
  // Looks up ".SDATA.<id>.<param>"-style values: the param of element id.
  bool get_sd(std::string_view id, std::string_view param, std::string_view* out) const;

  void add_tag(std::string_view tag);
  bool has_tag(std::string_view tag) const;
  // Adds a tag without the has_tag() check (see append_value()).
  void append_tag(std::string_view tag) { tags_.push_back(store(tag)); }
  const std::vector<Span>& tags() const { return tags_; }

  uint8_t facility() const { return static_cast<uint8_t>(pri >> 3); }
  uint8_t severity() const { return static_cast<uint8_t>(pri & 7); }
  void set_pri(int facility, int severity) { pri = static_cast<uint16_t>(facility * 8 + severity); }

  bool has_flag(MessageFlag f) const { return (flags & f) != 0; }

  // Ask the CPU to bring this message's object, or the first 256 bytes of
  // its buffer, into the cache (hints: no effect on the contents).
  void prefetch_object() const {
    const char* self = reinterpret_cast<const char*>(this);
    for (size_t off = 0; off < sizeof(LogMessage); off += 64) __builtin_prefetch(self + off, 1);
  }
  void prefetch_buffer() const {
    const char* b = buf_.data();
    for (size_t off = 0; off < 256; off += 64) __builtin_prefetch(b + off, 1);
  }

  uint16_t pri = 13;      // facility * 8 + severity; user.notice by default
  uint16_t source_id = 0; // which source block it came from (set by the engine)
  uint32_t flags = 0;
  Timestamp stamp;        // when the event happened (from the header)
  Timestamp received;     // when logferry received it
  // Messages a ferry() source received: their origin stream (a number of
  // the engine's OriginTable; 0: none, the message started here) and the
  // sequence number of the origin's batch that carried them.  A relay's
  // ferry() destination forwards them as that stream's batch.
  uint32_t origin = 0;
  uint64_t origin_seq = 0;
  // Lines a file source read: the life of the file content they came from
  // (a random id the source gives each file's content and saves with its
  // position; 0: not from a file) and the byte offset just after them.  A
  // ferry() destination records them per batch, so that after a crash of
  // this node the lines the receiver already stored are not sent again.
  uint64_t file_life = 0;
  uint64_t file_end = 0;

 private:
  std::string buf_;
  Span raw_;
  Span fields_[static_cast<int>(Field::kCount)];
  std::vector<NameValue> values_;
  std::vector<SdElement> sd_elements_;
  std::vector<SdParam> sd_params_;
  std::vector<Span> tags_;
};

// Messages cross threads in batches; a batch is reused, so its messages
// keep their buffers from one round to the next.
class MessageBatch {
 public:
  LogMessage& add() {
    if (used_ == messages_.size()) messages_.emplace_back();
    LogMessage& m = messages_[used_++];
    // The next messages were last used by another thread, long ago: start
    // fetching them now, while this one is filled (the object two ahead,
    // and the buffer of the next, whose object was asked for last time, so
    // that reading its buffer pointer does not wait).
    if (used_ + 1 < messages_.size()) messages_[used_ + 1].prefetch_object();
    if (used_ < messages_.size()) messages_[used_].prefetch_buffer();
    m.clear();
    return m;
  }
  void clear() { used_ = 0; }
  void drop_last() {
    if (used_ > 0) --used_;
  }
  size_t size() const { return used_; }
  bool empty() const { return used_ == 0; }
  LogMessage& operator[](size_t i) { return messages_[i]; }
  const LogMessage& operator[](size_t i) const { return messages_[i]; }

 private:
  std::vector<LogMessage> messages_;
  size_t used_ = 0;
};

// Facility and severity names as syslog-ng spells them.
std::string_view facility_name(int facility);
std::string_view severity_name(int severity);
int facility_from_name(std::string_view name);  // -1 when unknown
int severity_from_name(std::string_view name);  // -1 when unknown

}  // namespace logferry

namespace logferry {

// Calls f(id, name, value, first) for every structured-data parameter,
// grouped by SD-ID: the message's own SD elements first, then name-value
// pairs named ".SDATA.<id>.<name>" (e.g. Cisco's meta.sequenceId) grouped by
// id.  `first` is true for the first parameter of each element.
template <class F>
void for_each_sd_param(const LogMessage& m, F&& f) {
  for (const auto& e : m.sd_elements()) {
    std::string_view id = m.view(e.id);
    if (e.count == 0) f(id, std::string_view(), std::string_view(), true);
    for (uint32_t i = 0; i < e.count; ++i) {
      const SdParam& p = m.sd_params()[e.first + i];
      f(id, m.view(p.name), m.view(p.value), i == 0);
    }
  }
  constexpr std::string_view kPrefix = ".SDATA.";
  auto split = [&](const NameValue& nv, std::string_view* id, std::string_view* name) {
    std::string_view n = m.view(nv.name);
    if (!n.starts_with(kPrefix)) return false;
    n.remove_prefix(kPrefix.size());
    size_t dot = n.rfind('.');
    if (dot == std::string_view::npos || dot == 0) return false;
    *id = n.substr(0, dot);
    *name = n.substr(dot + 1);
    return true;
  };
  const auto& values = m.values();
  for (size_t i = 0; i < values.size(); ++i) {
    std::string_view id, name;
    if (!split(values[i], &id, &name)) continue;
    bool seen = false;
    for (size_t j = 0; j < i && !seen; ++j) {
      std::string_view id2, name2;
      seen = split(values[j], &id2, &name2) && id2 == id;
    }
    if (seen) continue;
    bool first = true;
    for (size_t j = i; j < values.size(); ++j) {
      std::string_view id2, name2;
      if (split(values[j], &id2, &name2) && id2 == id) {
        f(id, name2, m.view(values[j].value), first);
        first = false;
      }
    }
  }
}

}  // namespace logferry
