// What an sql() destination knows of its marks table (marks-table(),
// docs/configuration.md): per origin stream of ferry() (by
// origin_stream_key()), the newest origin batch whose rows are all
// committed, and per destination a count of its commits.  Both are written
// in the same transaction as the rows, so after a crash of this receiver
// (the sender sends a batch again) or a commit whose answer was lost, the
// rows already stored are recognised and not written twice.
//
// The database backend reads the table after every connect (loaded()),
// begins each transaction with begin(), writes what each_write() gives with
// its rows, and calls committed() once the commit succeeded.  Checking a
// message (stored()) allocates nothing once its origin was seen.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/origin_table.h"
#include "server/sql_backlog.h"

namespace logferry {

class SqlMarks {
 public:
  // (origin number, batch): the marks one transaction sets.
  using Batches = std::vector<std::pair<uint32_t, uint64_t>>;

  // `commit_key`: the name of this destination's commit count ("" keeps
  // none); `receiver`: this node's id in hex, which every stream's key
  // starts with; `origins`: the engine's table of origin streams (may be
  // null).  A stream's marks belong to the receiver whose journal numbers
  // it: another receiver writing to the same database (a failover), or
  // this one after losing its persist directory, gives senders that
  // restart numbers from its own state, which may lie below these marks -
  // sharing them would drop those batches as stored (lines lost).
  void setup(std::string commit_key, std::string receiver, const OriginTable* origins) {
    commit_key_ = std::move(commit_key);
    receiver_ = std::move(receiver);
    origins_ = origins;
  }

  // The table as read (key -> value).  The first call makes known() true.
  void loaded(const std::unordered_map<std::string, uint64_t>& table);
  bool known() const { return known_; }

  // Whether the rows of origin batch `seq` of stream `origin` are stored
  // already (0: a local row, never).
  bool stored(uint32_t origin, uint64_t seq) {
    if (origin == 0) return false;
    if (origin >= by_origin_.size()) resolve(origin);
    return seq <= by_origin_[origin];
  }

  // The marks of a transaction of the first n rows of `rows`: per origin,
  // the newest batch whose last row lies among them (a batch cut by the
  // transaction's end is not marked: its rows are not all stored).
  void for_rows(const RowBacklog& rows, size_t n, Batches* out) const;
  // The key a mark of `origin` is written under.
  const std::string& key(uint32_t origin) {
    if (origin >= by_origin_.size()) resolve(origin);
    return keys_[origin];
  }

  // The commit count: what the table says (after loaded()), and what the
  // next commit writes.
  const std::string& commit_key() const { return commit_key_; }
  bool counts_commits() const { return !commit_key_.empty(); }
  uint64_t commits() const { return commits_; }
  uint64_t next_commit() const { return commits_ + 1; }
  // Whether `table` (as read) holds the next commit's count: a commit left
  // unanswered has happened.
  bool next_commit_in(const std::unordered_map<std::string, uint64_t>& table) const {
    auto it = table.find(commit_key_);
    return counts_commits() && it != table.end() && it->second == next_commit();
  }

  // A transaction with these marks (and the commit count next_commit())
  // is committed.
  void committed(const Batches& marks);

  // ---- the transaction in flight (one at a time) ----

  // It takes the n oldest rows of `rows`: its marks (for_rows()).
  void begin(const RowBacklog& rows, size_t n) { for_rows(rows, n, &pending_); }
  const Batches& pending() const { return pending_; }
  // Calls write(key, seq) for every row of the table the transaction
  // upserts: its streams' marks, then the commit count.  The keys are hex
  // digits, ':' and "commits" (origin_stream_key()): no quoting needed.
  template <class F>
  void each_write(F&& write) {
    for (const auto& [origin, seq] : pending_) {
      const std::string& k = key(origin);
      if (!k.empty()) write(k, seq);
    }
    if (counts_commits()) write(commit_key_, next_commit());
  }
  void committed() { committed(pending_); }

 private:
  void resolve(uint32_t origin);

  std::string commit_key_;
  std::string receiver_;
  const OriginTable* origins_ = nullptr;
  bool known_ = false;
  uint64_t commits_ = 0;
  std::unordered_map<std::string, uint64_t> table_;  // every mark, by key
  std::vector<uint64_t> by_origin_;   // by origin number: the mark (0: none)
  std::vector<std::string> keys_;     // by origin number: its key ("" unknown)
  Batches pending_;                   // reused: the marks of the transaction in flight
};

}  // namespace logferry
