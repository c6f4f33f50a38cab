// Unit tests for a ferry() destination's sent log (src/relay/sent_log.*):
// what the receiver stored after a crash of the sender, across a reopen,
// folding of acknowledged batches, void records, rewrites and damage.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "relay/sent_log.h"

using namespace logferry;

namespace {

struct TempLog {
  std::string dir, path;
  TempLog() {
    char tmpl[] = "/tmp/lf-sentlog-XXXXXX";
    dir = mkdtemp(tmpl);
    path = dir + "/ferry-sent-test";
  }
  ~TempLog() {
    std::string cmd = "rm -rf '" + dir + "'";
    if (system(cmd.c_str()) != 0) { /* best effort */ }
  }
  std::string text() const {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
};

using Reaches = std::vector<SentLog::Reach>;

}  // namespace

TEST_CASE("sent log: after a restart, the receiver's mark tells how far each file content is stored") {
  TempLog t;
  std::string err;
  {
    SentLog log;
    REQUIRE(log.open(t.path, &err));
    CHECK_FALSE(log.knows("s_app"));
    log.record("s_app", 1, Reaches{{0xa1, 100}});
    log.record("s_app", 2, Reaches{{0xa1, 250}, {0xb2, 40}});
    log.record("s_app", 3, Reaches{{0xb2, 90}});
    REQUIRE(log.write_pending(&err));
    // Killed here: nothing else is written.
  }
  SentLog log;
  REQUIRE(log.open(t.path, &err));
  CHECK(log.knows("s_app"));
  CHECK_FALSE(log.knows("s_other"));
  auto stored = log.resume("s_app", 2);  // the receiver has batches 1 and 2
  CHECK(stored.size() == 2);
  CHECK(stored[0xa1] == 250);
  CHECK(stored[0xb2] == 40);  // batch 3 (up to 90) is not stored: sent again
  REQUIRE(log.write_pending(&err));

  // Batch 3 is void now: a later restart that finds the receiver at a
  // higher mark (the new run's batches) does not take it for stored.
  {
    SentLog again;
    REQUIRE(again.open(t.path, &err));
    auto s2 = again.resume("s_app", 100005);
    CHECK(s2[0xb2] == 40);
  }
}

TEST_CASE("sent log: acknowledged batches fold; a rewrite keeps what matters") {
  TempLog t;
  std::string err;
  {
    SentLog log;
    REQUIRE(log.open(t.path, &err));
    for (uint64_t seq = 1; seq <= 60000; ++seq) {
      log.record("s", seq, Reaches{{0x10 + seq % 3, seq * 10}});
      REQUIRE(log.write_pending(&err));
      if (seq % 16 == 0) log.acknowledged("s", seq - 8);
    }
  }
  // The file was rewritten on the way (about 23 bytes a batch: 1.4 MB
  // without): it holds the folded form plus what came after.
  CHECK(t.text().size() < (1u << 20));
  SentLog log;
  REQUIRE(log.open(t.path, &err));
  auto stored = log.resume("s", 60000);
  CHECK(stored.size() == 3);
  CHECK(stored[0x10 + 60000 % 3] == 600000);
  CHECK(stored[0x10 + 59999 % 3] == 599990);
  CHECK(stored[0x10 + 59998 % 3] == 599980);
}

TEST_CASE("sent log: void_above drops renumbered batches") {
  TempLog t;
  std::string err;
  SentLog log;
  REQUIRE(log.open(t.path, &err));
  log.record("s", 5, Reaches{{0x1, 500}});
  log.record("s", 6, Reaches{{0x1, 600}});
  log.void_above("s", 5);  // 6 is renumbered (sent again as 9)
  log.record("s", 9, Reaches{{0x1, 600}});
  REQUIRE(log.write_pending(&err));
  SentLog reread;
  REQUIRE(reread.open(t.path, &err));
  CHECK(reread.resume("s", 8)[0x1] == 500);
}

TEST_CASE("sent log: damaged lines and a torn tail are skipped, never trusted") {
  TempLog t;
  {
    std::ofstream f(t.path);
    f << "logferry-sent 1\n"
      << "b 73 1 a1:100\n"
      << "b zz 2 a1:200\n"          // not hex
      << "b 73 3 0:300\n"           // life 0 is no life
      << "q 73 4\n"                 // unknown record
      << "b 73 4 a1:400 b2\n"       // a reach without an offset
      << "b 73 5 a1:500";           // torn: no newline
  }
  std::string err;
  SentLog log;
  REQUIRE(log.open(t.path, &err));
  CHECK(log.skipped_lines() == 4);
  auto stored = log.resume("s", 10);
  CHECK(stored.size() == 1);
  CHECK(stored[0xa1] == 100);
}

TEST_CASE("sent log: a stream with very many file contents forgets the oldest") {
  TempLog t;
  std::string err;
  SentLog log;
  REQUIRE(log.open(t.path, &err));
  for (uint64_t i = 1; i <= SentLog::kMaxLives + 10; ++i) log.record("s", i, Reaches{{i, 1}});
  log.acknowledged("s", SentLog::kMaxLives + 10);
  auto stored = log.resume("s", SentLog::kMaxLives + 10);
  CHECK(stored.size() == SentLog::kMaxLives);
  CHECK(stored.count(1) == 0);                      // the oldest went
  CHECK(stored.count(SentLog::kMaxLives + 10) == 1);  // the newest stays
}
