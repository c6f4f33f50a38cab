// sql() destination: the backlog of rendered rows and the helpers that make
// table, column and index names safe.
#include <doctest/doctest.h>

#include <string>

#include "server/pgsql_copy_text.h"
#include "server/sql_backlog.h"
#include "server/sql_marks.h"
#include "server/sql_writer.h"

using namespace logferry;

namespace {

void add_row(RowBacklog& b, uint32_t table, std::initializer_list<std::string> values, const std::string* null_value) {
  b.begin_row(table);
  for (const auto& v : values) {
    size_t start = b.text().size();
    b.text() += v;
    b.end_value(start, null_value);
  }
  b.end_row();
}

}  // namespace

TEST_CASE("RowBacklog keeps rows in order across chunks and reuses them") {
  RowBacklog b(2);
  const size_t n = RowBacklog::kRowsPerChunk * 3 + 7;
  for (size_t i = 0; i < n; ++i) add_row(b, static_cast<uint32_t>(i % 3), {"h" + std::to_string(i), "m" + std::to_string(i)}, nullptr);
  CHECK(b.size() == n);
  CHECK(b.row(0).value(0) == "h0");
  CHECK(b.row(n - 1).value(1) == "m" + std::to_string(n - 1));
  CHECK(b.row(n - 1).table == (n - 1) % 3);
  // Values are NUL-terminated for C APIs.
  CHECK(std::string(b.row(5).c_str(1)) == "m5");

  // Take rows off in uneven steps, crossing chunk boundaries.
  size_t front = 0;
  for (size_t step : {1, 254, 2, 300, 100}) {
    b.pop_front(step);
    front += step;
    REQUIRE(b.size() == n - front);
    CHECK(b.row(0).value(0) == "h" + std::to_string(front));
    CHECK(b.row(b.size() - 1).value(0) == "h" + std::to_string(n - 1));
  }
  b.pop_front(b.size());
  CHECK(b.empty());
  // Empty, then filled again: rows start over.
  add_row(b, 1, {"again", "x"}, nullptr);
  CHECK(b.size() == 1);
  CHECK(b.row(0).value(0) == "again");
  CHECK(b.row(0).table == 1);
}

TEST_CASE("RowBacklog: null() values and NUL bytes") {
  RowBacklog b(3);
  std::string null_value;  // null("")
  add_row(b, 0, {"", "x", ""}, &null_value);
  add_row(b, 0, {std::string("a\0b", 3), "", "y"}, nullptr);
  RowBacklog::Row r0 = b.row(0);
  CHECK(r0.values[0].null());
  CHECK(r0.c_str(0) == nullptr);
  CHECK(r0.value(1) == "x");
  CHECK(r0.values[2].null());
  CHECK((r0.flags & RowBacklog::kRowHasNul) == 0);
  RowBacklog::Row r1 = b.row(1);
  CHECK(r1.value(0) == std::string("a\0b", 3));
  CHECK((r1.flags & RowBacklog::kRowHasNul) != 0);
  CHECK_FALSE(r1.values[1].null());  // no null(): empty stays empty
  CHECK(r1.value(1).empty());
}

TEST_CASE("sql() names: quoted identifiers, sanitized table names, index names") {
  CHECK(quote_identifier("messages") == "\"messages\"");
  CHECK(quote_identifier("a\"b; DROP TABLE x") == "\"a\"\"b; DROP TABLE x\"");

  std::string t = "logs_beta.x-y";
  sanitize_table_name(t, false);
  CHECK(t == "logs_beta_x_y");
  t = "Logs_ABC";
  sanitize_table_name(t, true);
  CHECK(t == "logs_abc");
  t = "x');DROP TABLE t;--";
  sanitize_table_name(t, false);
  CHECK(t == "x___DROP_TABLE_t___");
  t = "";
  sanitize_table_name(t, false);
  CHECK(t == "_");
  t = std::string(100, 'a');
  sanitize_table_name(t, false);
  CHECK(t.size() == 63);
  t = "caf\xc3\xa9";
  sanitize_table_name(t, false);
  CHECK(t == "caf__");

  CHECK(index_name("messages", "host") == "messages_host_idx");
  std::string long_table(60, 't');
  std::string a = index_name(long_table, "host"), b = index_name(long_table, "hostname");
  CHECK(a.size() == 63);
  CHECK(b.size() == 63);
  CHECK(a != b);  // the hash tells them apart
}

TEST_CASE("COPY text fields: backslash, tab, newline and CR escaped, NULL as \\N, other bytes as they are") {
  auto field = [](const char* v, size_t len) {
    std::string out = "<";
    append_copy_field(&out, v, len);
    return out + ">";
  };
  auto f = [&](std::string_view v) { return field(v.data(), v.size()); };
  CHECK(field(nullptr, 0) == "<\\N>");
  CHECK(f("") == "<>");
  CHECK(f("plain text") == "<plain text>");
  CHECK(f("a\\b") == "<a\\\\b>");
  CHECK(f("\\N") == "<\\\\N>");  // the text \N is not NULL
  CHECK(f("\\.") == "<\\\\.>");  // nor the end-of-data marker
  CHECK(f("tab\there") == "<tab\\there>");
  CHECK(f("line\nbreak\r\n") == "<line\\nbreak\\r\\n>");
  CHECK(f("\\\t\n\r") == "<\\\\\\t\\n\\r>");
  CHECK(f("'); DROP TABLE t; --") == "<'); DROP TABLE t; -->");
  CHECK(f("\xc3\xa9t\xc3\xa9 \xff\xfe \x01\x1b") == "<\xc3\xa9t\xc3\xa9 \xff\xfe \x01\x1b>");  // the server checks UTF-8
  std::string many(100000, 'x');
  many[50000] = '\t';
  std::string out;
  append_copy_field(&out, many);
  CHECK(out.size() == many.size() + 1);
  CHECK(out.substr(49999, 4) == "x\\tx");
  // Appends: a row is fields joined by tabs.
  std::string row;
  append_copy_field(&row, "a\tb");
  row.push_back('\t');
  append_copy_field(&row, nullptr, 0);
  CHECK(row == "a\\tb\t\\N");
}

TEST_CASE("SqlMarks: a transaction marks the origin batches it completes; stored() checks against the marks") {
  OriginTable origins;
  OriginStreamId a, b;
  a.node[0] = 0xab;
  a.source = "s_a";
  b.node[0] = 0xcd;
  b.source = "s_b";
  uint32_t oa = origins.intern(a), ob = origins.intern(b);
  RowBacklog rows(1);
  auto add = [&](uint32_t origin, uint64_t seq) {
    rows.begin_row(0, origin, seq);
    size_t start = rows.text().size();
    rows.text() += "x";
    rows.end_value(start, nullptr);
    rows.end_row();
  };
  add(oa, 7);
  add(oa, 7);
  add(0, 0);  // a local row
  add(ob, 3);
  add(oa, 8);
  add(oa, 8);

  SqlMarks marks;
  marks.setup("commits:k", "r1", &origins);
  CHECK(!marks.known());
  // Marks another receiver wrote (its own numbering) do not count here.
  marks.loaded({{"r1:" + origin_stream_key(a), 5}, {"r2:" + origin_stream_key(b), 9}, {"commits:k", 41}});
  CHECK(marks.known());
  CHECK(marks.commits() == 41);
  CHECK(marks.key(oa) == "r1:" + std::string("ab") + std::string(30, '0') + ":" + "735f61");
  CHECK(marks.stored(oa, 5));
  CHECK(!marks.stored(oa, 6));
  CHECK(!marks.stored(ob, 1));
  CHECK(!marks.stored(0, 0));

  SqlMarks::Batches txn;
  // Five rows: batch 8 of stream a is cut (its second row is not among them).
  marks.for_rows(rows, 5, &txn);
  CHECK(txn == SqlMarks::Batches{{oa, 7}, {ob, 3}});
  marks.for_rows(rows, 6, &txn);
  CHECK(txn == SqlMarks::Batches{{oa, 8}, {ob, 3}});
  marks.committed(txn);
  CHECK(marks.commits() == 42);
  CHECK(marks.next_commit() == 43);
  CHECK(marks.stored(oa, 8));
  CHECK(marks.stored(ob, 3));
  CHECK(!marks.stored(ob, 4));
  // Read again after a reconnect: a mark never goes back.
  marks.loaded({{"r1:" + origin_stream_key(a), 6}, {"commits:k", 42}});
  CHECK(marks.stored(oa, 8));

  // A transaction of all six rows: the rows of the marks table it upserts
  // (the streams' marks, then the next commit count).
  marks.begin(rows, 6);
  CHECK(marks.pending() == SqlMarks::Batches{{oa, 8}, {ob, 3}});
  std::vector<std::pair<std::string, uint64_t>> writes;
  marks.each_write([&](const std::string& key, uint64_t seq) { writes.emplace_back(key, seq); });
  CHECK(writes == std::vector<std::pair<std::string, uint64_t>>{
                      {marks.key(oa), 8}, {marks.key(ob), 3}, {"commits:k", 43}});
  // Its commit unanswered: the table read back tells whether it happened.
  CHECK(!marks.next_commit_in({{"commits:k", 42}}));
  CHECK(!marks.next_commit_in({}));
  CHECK(marks.next_commit_in({{"commits:k", 43}}));
  marks.committed();
  CHECK(marks.commits() == 43);
}
