#include "server/sql_marks.h"

#include <algorithm>

namespace logferry {

void SqlMarks::loaded(const std::unordered_map<std::string, uint64_t>& table) {
  // What this run committed is in the table too; max() keeps a mark from
  // going back should the table have been changed meanwhile.
  for (const auto& [key, value] : table) {
    uint64_t& v = table_[key];
    v = std::max(v, value);
  }
  for (size_t o = 1; o < keys_.size(); ++o) {
    auto it = table_.find(keys_[o]);
    if (it != table_.end()) by_origin_[o] = std::max(by_origin_[o], it->second);
  }
  if (!commit_key_.empty()) {
    auto it = table.find(commit_key_);
    commits_ = it == table.end() ? 0 : it->second;
  }
  known_ = true;
}

// Once per origin number: its key, and its mark from the table.
void SqlMarks::resolve(uint32_t origin) {
  size_t from = by_origin_.size();
  by_origin_.resize(origin + 1, 0);
  keys_.resize(origin + 1);
  for (size_t o = std::max<size_t>(from, 1); o <= origin; ++o) {
    OriginStreamId id;
    if (!origins_ || !origins_->get(static_cast<uint32_t>(o), &id)) continue;
    keys_[o] = receiver_ + ":" + origin_stream_key(id);
    auto it = table_.find(keys_[o]);
    if (it != table_.end()) by_origin_[o] = it->second;
  }
}

void SqlMarks::for_rows(const RowBacklog& rows, size_t n, Batches* out) const {
  out->clear();
  for (size_t i = 0; i < n; ++i) {
    RowBacklog::Row row = rows.row(i);
    if (row.origin == 0) continue;
    if (i + 1 < rows.size() && row.same_batch(rows.row(i + 1))) continue;  // not its batch's last row
    auto it = std::find_if(out->begin(), out->end(), [&](const auto& m) { return m.first == row.origin; });
    if (it == out->end()) out->emplace_back(row.origin, row.origin_seq);
    else it->second = std::max(it->second, row.origin_seq);
  }
}

void SqlMarks::committed(const Batches& marks) {
  for (const auto& [origin, seq] : marks) {
    if (origin >= by_origin_.size()) resolve(origin);
    by_origin_[origin] = std::max(by_origin_[origin], seq);
    if (!keys_[origin].empty()) {
      uint64_t& v = table_[keys_[origin]];
      v = std::max(v, seq);
    }
  }
  if (!commit_key_.empty()) ++commits_;
}

}  // namespace logferry
