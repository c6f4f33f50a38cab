// Unit tests for the delivery journal (src/core/delivery_journal.*): marks
// and output lengths committed together, lengths taken as of the flush
// committed, files cut back at start, damaged journals refused; commits
// on libuv's thread pool (core/journal_writer.*).
#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/delivery_journal.h"
#include "core/journal_writer.h"

using namespace logferry;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/lf-journal-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::string cmd = "rm -rf '" + path + "'";
    if (system(cmd.c_str()) != 0) { /* best effort */ }
  }
};

void write_bytes(const std::string& path, size_t n) {
  std::ofstream(path, std::ios::binary) << std::string(n, 'x');
}

size_t size_of(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  return static_cast<size_t>(f.tellg());
}

std::vector<std::string> cut_all(DeliveryJournal& j) {
  std::vector<std::string> said;
  j.cut_outputs([&](const std::string& s) { said.push_back(s); });
  return said;
}

}  // namespace

TEST_CASE("marks and the lengths of the committed flush survive; later writes are cut back") {
  TempDir d;
  std::string out = d.path + "/out.log";
  {
    DeliveryJournal j(d.path);
    std::string err;
    REQUIRE(j.load(&err));
    j.note_length(out, 0, 0);
    j.note_length(out, 1, 100);
    j.note_length(out, 2, 250);  // flush 2: not acknowledged yet
    j.set_mark("ferry:aa:bb", 7);
    CHECK(j.dirty());
    REQUIRE(j.commit(1, &err));
    CHECK_FALSE(j.dirty());
  }
  write_bytes(out, 250);
  DeliveryJournal again(d.path);
  std::string err;
  REQUIRE(again.load(&err));
  CHECK(again.marks().at("ferry:aa:bb") == 7);
  auto said = cut_all(again);
  REQUIRE(said.size() == 1);
  CHECK(said[0].find("from 250 to 100") != std::string::npos);
  CHECK(size_of(out) == 100);
  CHECK(cut_all(again).empty());  // nothing longer now
}

TEST_CASE("a commit takes the newest length at or before its flush; later ones wait for theirs") {
  TempDir d;
  std::string out = d.path + "/a b.log";  // a space in the path
  DeliveryJournal j(d.path);
  std::string err;
  j.note_length(out, 3, 10);
  j.note_length(out, 4, 20);
  j.note_length(out, 6, 60);
  j.set_mark("k", 1);
  REQUIRE(j.commit(5, &err));
  j.set_mark("k", 2);
  REQUIRE(j.commit(2, &err));  // an older flush never moves a length back
  write_bytes(out, 60);
  DeliveryJournal again(d.path);
  REQUIRE(again.load(&err));
  cut_all(again);
  CHECK(size_of(out) == 20);
}

TEST_CASE("without journaling sources the lengths are forgotten") {
  TempDir d;
  std::string out = d.path + "/out.log";
  std::string err;
  {
    DeliveryJournal j(d.path);
    j.note_length(out, 1, 5);
    j.set_mark("k", 1);
    REQUIRE(j.commit(1, &err));
  }
  {
    DeliveryJournal j(d.path);
    REQUIRE(j.load(&err));
    CHECK(j.forget_lengths());
    REQUIRE(j.commit(0, &err));
  }
  write_bytes(out, 50);
  DeliveryJournal j(d.path);
  REQUIRE(j.load(&err));
  CHECK(cut_all(j).empty());
  CHECK(size_of(out) == 50);
  CHECK(j.marks().at("k") == 1);
}

TEST_CASE("a damaged journal is refused with its path and line") {
  TempDir d;
  std::string err;
  std::ofstream(d.path + "/journal") << "logferry-journal 1\nmark 5 k\nlength notanumber /x\n";
  DeliveryJournal j(d.path);
  CHECK_FALSE(j.load(&err));
  CHECK(err.find("journal:3") != std::string::npos);
  std::ofstream(d.path + "/journal") << "something else\n";
  DeliveryJournal k(d.path);
  CHECK_FALSE(k.load(&err));
  CHECK(err.find("not a logferry journal") != std::string::npos);
}

namespace {

// A JournalWriter on a loop of its own, and what its done() said.
struct WriterOnLoop {
  uv_loop_t loop;
  int calls = 0;
  bool ok = false;
  std::string error;
  JournalWriter writer;
  explicit WriterOnLoop(DeliveryJournal* j)
      : writer(initialized(&loop), j, [this](bool done_ok, const std::string& done_error) {
          ++calls;
          ok = done_ok;
          error = done_error;
        }) {}
  ~WriterOnLoop() { uv_loop_close(&loop); }
  static uv_loop_t* initialized(uv_loop_t* l) {
    uv_loop_init(l);
    return l;
  }
  // Starts a commit and runs the loop, which returns once it is done.
  void commit() {
    writer.start(0);
    uv_run(&loop, UV_RUN_DEFAULT);
  }
};

std::string read_all(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("the journal is committed on the thread pool; a mark set meanwhile waits for the next commit") {
  TempDir d;
  DeliveryJournal j(d.path);
  std::string err;
  REQUIRE(j.load(&err));
  WriterOnLoop w(&j);
  j.set_mark("ferry:aa:bb", 5);
  w.writer.start(0);
  CHECK(w.writer.running());
  CHECK_FALSE(j.dirty());
  j.set_mark("ferry:aa:bb", 6);  // after the commit took its text
  uv_run(&w.loop, UV_RUN_DEFAULT);  // returns once the commit is done
  CHECK(w.calls == 1);
  CHECK(w.ok);
  CHECK_FALSE(w.writer.running());
  CHECK(read_all(d.path + "/journal") == "logferry-journal 1\nmark 5 ferry:aa:bb\n");
  CHECK(j.dirty());
  w.commit();
  CHECK(w.calls == 2);
  CHECK(read_all(d.path + "/journal") == "logferry-journal 1\nmark 6 ferry:aa:bb\n");
  CHECK_FALSE(j.dirty());
}

TEST_CASE("a journal commit that fails says why and leaves the marks dirty") {
  TempDir d;
  DeliveryJournal j(d.path + "/missing");  // its directory does not exist
  WriterOnLoop w(&j);
  j.set_mark("k", 1);
  w.commit();
  CHECK(w.calls == 1);
  CHECK_FALSE(w.ok);
  CHECK(w.error.find("missing/journal.tmp") != std::string::npos);
  CHECK(j.dirty());
}
