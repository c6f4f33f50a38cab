// The rows an sql() destination rendered and has not committed yet, oldest
// first.  Rows live in chunks of kRowsPerChunk rows: each chunk keeps the
// rendered text of its rows in one buffer (every value followed by a NUL, so
// that a value can be handed to a C API as a string) and, per row, its
// table, its origin batch (ferry()) and one (offset, length) per column.  Chunks that were committed are
// kept for reuse, so in steady state adding a row allocates nothing.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace logferry {

class RowBacklog {
 public:
  static constexpr uint32_t kNull = UINT32_MAX;  // Value::len of a NULL
  static constexpr size_t kRowsPerChunk = 256;

  struct Value {
    uint32_t off = 0;
    uint32_t len = 0;
    bool null() const { return len == kNull; }
  };
  struct Row {
    uint32_t table = 0;
    uint32_t flags = 0;  // kRowHasNul
    uint32_t origin = 0;      // LogMessage::origin: 0 for rows of local sources
    uint64_t origin_seq = 0;  // LogMessage::origin_seq: the origin's batch
    // Whether `next` is another row of the same origin batch.
    bool same_batch(const Row& next) const { return origin != 0 && next.origin == origin && next.origin_seq == origin_seq; }
    const Value* values = nullptr;  // one per column
    const char* text = nullptr;     // the chunk's text; values point into it
    std::string_view value(size_t col) const {
      const Value& v = values[col];
      return v.null() ? std::string_view() : std::string_view(text + v.off, v.len);
    }
    // NUL-terminated (for C APIs); null for a NULL.
    const char* c_str(size_t col) const { return values[col].null() ? nullptr : text + values[col].off; }
  };
  static constexpr uint32_t kRowHasNul = 1;  // a value contains a NUL byte

  explicit RowBacklog(size_t columns) : ncols_(columns) {}

  // Adding a row: begin_row(), then per column the rendered text appended to
  // text() followed by end_value(start) (start: text().size() before it),
  // then end_row().
  void begin_row(uint32_t table, uint32_t origin = 0, uint64_t origin_seq = 0) {
    if (chunks_.empty() || chunks_.back()->rows == kRowsPerChunk) add_chunk();
    Chunk& c = *chunks_.back();
    c.meta.push_back(Meta{table, 0, origin, origin_seq});
    row_text_start_ = c.text.size();
  }
  std::string& text() { return chunks_.back()->text; }
  // The text from `start` on is the value; it is NULL when it equals
  // *null_value (if given).
  void end_value(size_t start, const std::string* null_value) {
    Chunk& c = *chunks_.back();
    size_t len = c.text.size() - start;
    if (null_value && len == null_value->size() && c.text.compare(start, len, *null_value) == 0) {
      c.text.resize(start);
      c.values.push_back(Value{0, kNull});
      return;
    }
    if (std::char_traits<char>::find(c.text.data() + start, len, '\0')) c.meta.back().flags |= kRowHasNul;
    c.text.push_back('\0');
    c.values.push_back(Value{static_cast<uint32_t>(start), static_cast<uint32_t>(len)});
  }
  void end_row() {
    ++chunks_.back()->rows;
    ++size_;
  }
  // Takes back a row begun but not ended (a value too large).
  void cancel_row() {
    Chunk& c = *chunks_.back();
    c.meta.pop_back();
    c.values.resize(c.rows * ncols_);
    c.text.resize(row_text_start_);
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Row i counted from the oldest (0 <= i < size()).
  Row row(size_t i) const {
    size_t k = head_ + i;
    const Chunk& c = *chunks_[k / kRowsPerChunk];
    size_t r = k % kRowsPerChunk;
    const Meta& m = c.meta[r];
    return Row{m.table, m.flags, m.origin, m.origin_seq, c.values.data() + r * ncols_, c.text.data()};
  }

  // Forgets the n oldest rows.
  void pop_front(size_t n) {
    size_ -= n;
    head_ += n;
    while (head_ >= kRowsPerChunk || (size_ == 0 && !chunks_.empty())) {
      recycle(std::move(chunks_.front()));
      chunks_.pop_front();
      head_ = head_ >= kRowsPerChunk ? head_ - kRowsPerChunk : 0;
      if (chunks_.empty()) head_ = 0;
    }
  }

 private:
  struct Meta {
    uint32_t table;
    uint32_t flags;
    uint32_t origin;
    uint64_t origin_seq;
  };
  struct Chunk {
    std::string text;
    std::vector<Value> values;
    std::vector<Meta> meta;
    size_t rows = 0;
  };
  static constexpr size_t kKeepFree = 4;                 // chunks kept for reuse
  static constexpr size_t kKeepCapacity = size_t{4} << 20;  // a chunk's text kept at most this large

  void add_chunk() {
    std::unique_ptr<Chunk> c;
    if (!free_.empty()) {
      c = std::move(free_.back());
      free_.pop_back();
    } else {
      c = std::make_unique<Chunk>();
      c->values.reserve(kRowsPerChunk * ncols_);
      c->meta.reserve(kRowsPerChunk);
    }
    chunks_.push_back(std::move(c));
  }
  void recycle(std::unique_ptr<Chunk> c) {
    if (free_.size() >= kKeepFree) return;
    c->text.clear();
    if (c->text.capacity() > kKeepCapacity) c->text.shrink_to_fit();
    c->values.clear();
    c->meta.clear();
    c->rows = 0;
    free_.push_back(std::move(c));
  }

  size_t ncols_;
  std::deque<std::unique_ptr<Chunk>> chunks_;
  std::vector<std::unique_ptr<Chunk>> free_;
  size_t head_ = 0;  // rows of chunks_[0] already gone
  size_t size_ = 0;
  size_t row_text_start_ = 0;
};

}  // namespace logferry
