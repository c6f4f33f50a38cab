// Unit tests for the multi-line message assembler of file sources
// (src/client/multi_line.{h,cc}) and its options.
#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "client/multi_line.h"
#include "core/config_tree.h"
#include "core/option_reader.h"

using namespace logferry;
using Mode = MultiLineOptions::Mode;

namespace {

struct Msg {
  std::string text;
  uint64_t end = 0;
  bool truncated = false;
  bool operator==(const Msg&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Msg& m) {
  os << "{\"";
  for (char c : m.text) {
    if (c == '\n') os << "\\n";
    else os << c;
  }
  return os << "\", " << m.end << (m.truncated ? ", truncated}" : "}");
}

std::ostream& operator<<(std::ostream& os, const std::vector<Msg>& ms) {
  os << "[";
  for (size_t i = 0; i < ms.size(); ++i) os << (i ? ", " : "") << ms[i];
  return os << "]";
}

std::shared_ptr<const RE2> re(const char* pattern) {
  auto r = std::make_shared<const RE2>(pattern);
  REQUIRE(r->ok());
  return r;
}

// Feeds lines as a file would hold them ("line\n" each), tracking the
// position past each newline.
struct Feeder {
  MultiLineAssembler a;
  std::vector<Msg> out;
  uint64_t pos = 0;
  MultiLineAssembler::Sink sink = [this](std::string_view m, uint64_t end, bool t) {
    out.push_back({std::string(m), end, t});
  };

  Feeder(const MultiLineOptions& o, size_t max = 1024) : a(o, max) {}
  Feeder& operator()(std::string_view line, bool truncated = false) {
    pos += line.size() + 1;
    a.push(line, pos, sink, truncated);
    return *this;
  }
  Feeder& lines(std::initializer_list<std::string_view> ls) {
    for (auto l : ls) (*this)(l);
    return *this;
  }
  std::vector<std::string> texts() const {
    std::vector<std::string> t;
    for (const auto& m : out) t.push_back(m.text);
    return t;
  }
  void flush() { a.flush(sink); }
};

MultiLineOptions opts(Mode mode, const char* prefix = nullptr, const char* end = nullptr) {
  MultiLineOptions o;
  o.mode = mode;
  if (prefix) o.prefix = re(prefix);
  if (end) (mode == Mode::kPrefixSuffix ? o.suffix : o.garbage) = re(end);
  return o;
}

using Texts = std::vector<std::string>;

}  // namespace

TEST_CASE("multi-line none: every line is a message at once, empty ones too") {
  Feeder f(opts(Mode::kNone), 8);
  f.lines({"one", "", "  indented", "a line that is too long"});
  CHECK(f.out == std::vector<Msg>{{"one", 4, false}, {"", 5, false}, {"  indent", 16, true},
                                  {"a line t", 40, true}});
  CHECK_FALSE(f.a.pending());
  CHECK(f.a.settled_position() == 40);
  f("cut by the reader", true);
  CHECK(f.out.back().truncated);
}

TEST_CASE("multi-line indented: indented lines continue the message before them") {
  Feeder f(opts(Mode::kIndented));
  f.lines({"Exception in thread main", "\tat a.b(C.java:1)", "  at d.e(F.java:2)", "next message"});
  REQUIRE(f.out.size() == 1);
  CHECK(f.out[0] == Msg{"Exception in thread main\n\tat a.b(C.java:1)\n  at d.e(F.java:2)", 25 + 18 + 19, false});
  CHECK(f.a.pending());
  CHECK(f.a.settled_position() == 62);  // "next message" is still pending
  f("another");
  CHECK(f.texts() == Texts{"Exception in thread main\n\tat a.b(C.java:1)\n  at d.e(F.java:2)", "next message"});
  CHECK(f.a.settled_position() == 75);
  f.flush();
  CHECK(f.texts().back() == "another");
  CHECK(f.out.back().end == 83);
  CHECK(f.a.settled_position() == 83);
  CHECK_FALSE(f.a.pending());
}

TEST_CASE("multi-line indented: empty lines inside a message stay, at its end they go") {
  Feeder f(opts(Mode::kIndented));
  f.lines({"first", "", "  after a blank", "", "", "second"});
  f.flush();
  CHECK(f.texts() == Texts{"first\n\n  after a blank", "second"});
  CHECK(f.out[0].end == 6 + 1 + 16 + 1 + 1);  // through the blank lines
}

TEST_CASE("multi-line indented: an empty line between messages is its own, empty message") {
  Feeder f(opts(Mode::kIndented));
  f.lines({"", "a"});
  CHECK(f.out == std::vector<Msg>{{"", 1, false}});
  CHECK(f.a.settled_position() == 1);
}

TEST_CASE("multi-line indented: an indented first line starts a message") {
  Feeder f(opts(Mode::kIndented));
  f.lines({"  orphan", "  more", "new"});
  CHECK(f.texts() == Texts{"  orphan\n  more"});
}

TEST_CASE("multi-line prefix-garbage: the prefix starts a message (syslog-ng's own cases)") {
  SUBCASE("prefix only") {
    Feeder f(opts(Mode::kPrefixGarbage, "^Foo"));
    f.lines({"Foo First Line", "Foo Second Line", "Foo Third Line", "Foo Multiline", "multi", "Foo final"});
    CHECK(f.texts() == Texts{"Foo First Line", "Foo Second Line", "Foo Third Line", "Foo Multiline\nmulti"});
    CHECK(f.a.pending());
  }
  SUBCASE("a first line without the prefix is a message of its own") {
    Feeder f(opts(Mode::kPrefixGarbage, "^Foo"));
    f.lines({"First Line", "Foo Second Line", "Foo Multiline", "multi", "Foo final"});
    CHECK(f.texts() == Texts{"First Line", "Foo Second Line", "Foo Multiline\nmulti"});
  }
  SUBCASE("prefix and garbage: the garbage and the rest of its line are dropped") {
    Feeder f(opts(Mode::kPrefixGarbage, "^Foo", " Bar$"));
    f.lines({"Foo First Line Bar", "Foo Second Line Bar", "Foo Third Line Bar", "Foo Multiline", "multi Bar",
             "Foo final"});
    CHECK(f.texts() == Texts{"Foo First Line", "Foo Second Line", "Foo Third Line", "Foo Multiline\nmulti"});
  }
  SUBCASE("garbage only: messages end at the garbage") {
    Feeder f(opts(Mode::kPrefixGarbage, nullptr, " Bar"));
    f.lines({"Foo First Line Bar and more", "Foo Multiline", "multi Bar", "Foo final"});
    CHECK(f.texts() == Texts{"Foo First Line", "Foo Multiline\nmulti"});
    CHECK(f.a.pending());
  }
}

TEST_CASE("multi-line prefix-garbage: end positions and the settled position") {
  Feeder f(opts(Mode::kPrefixGarbage, "^Foo", "^--$"));
  f("Foo one");  // ends at 8
  CHECK(f.a.pending());
  CHECK(f.a.settled_position() == 0);
  f("  two");  // 14
  CHECK(f.a.settled_position() == 0);
  f("--");  // 17: ends the message; the garbage line itself is dropped
  REQUIRE(f.out.size() == 1);
  CHECK(f.out[0] == Msg{"Foo one\n  two", 17, false});
  CHECK_FALSE(f.a.pending());
  CHECK(f.a.settled_position() == 17);
  f("--");  // 20: a garbage line with nothing pending is dropped
  CHECK(f.out.size() == 1);
  CHECK(f.a.settled_position() == 20);
  f("Foo three");  // 30
  f("Foo four");   // 39: the prefix ends "Foo three" at 30
  REQUIRE(f.out.size() == 2);
  CHECK(f.out[1] == Msg{"Foo three", 30, false});
  CHECK(f.a.settled_position() == 30);
  f.flush();
  CHECK(f.out[2] == Msg{"Foo four", 39, false});
  CHECK(f.a.settled_position() == 39);
}

TEST_CASE("multi-line regexp with an empty-line garbage separates paragraphs") {
  Feeder f(opts(Mode::kPrefixGarbage, nullptr, "^$"));
  f.lines({"a", "b", "", "", "c", "d", ""});
  CHECK(f.texts() == Texts{"a\nb", "", "c\nd"});
  CHECK_FALSE(f.a.pending());
}

TEST_CASE("multi-line prefix-suffix: the suffix ends the message and stays in it") {
  Feeder f(opts(Mode::kPrefixSuffix, "^prefix", "suffix"));
  f.lines({"prefix first suffix garbage", "prefix multi", "suffix garbage", "prefix final"});
  CHECK(f.texts() == Texts{"prefix first suffix", "prefix multi\nsuffix"});
  CHECK(f.out[1].end == 28 + 13 + 15);
  CHECK(f.a.pending());
  f.lines({"prefix interrupted", "prefix again", "end suffix"});
  CHECK(f.texts() ==
        Texts{"prefix first suffix", "prefix multi\nsuffix", "prefix final", "prefix interrupted",
              "prefix again\nend suffix"});
}

TEST_CASE("multi-line: a message longer than max_size is cut, the rest dropped until the next one") {
  SUBCASE("indented") {
    Feeder f(opts(Mode::kIndented), 10);
    f.lines({"start", " 1234567890", " dropped", "  dropped too", "next"});
    REQUIRE(f.out.size() == 1);
    CHECK(f.out[0] == Msg{"start\n 123", 18, true});  // emitted when cut
    CHECK(f.a.settled_position() == 18 + 9 + 14);  // the dropped lines are settled
    f.flush();
    CHECK(f.out[1] == Msg{"next", 46, false});
  }
  SUBCASE("a first line longer than the limit") {
    Feeder f(opts(Mode::kIndented), 4);
    f.lines({"abcdefgh", " x", "ok"});
    f.flush();
    CHECK(f.out == std::vector<Msg>{{"abcd", 9, true}, {"ok", 15, false}});
  }
  SUBCASE("prefix-garbage: the garbage ends the message that was cut") {
    Feeder f(opts(Mode::kPrefixGarbage, "^P", "^G"), 8);
    f.lines({"P 12345", "6789", "dropped", "G", "orphan", "P next"});
    f.flush();
    CHECK(f.out == std::vector<Msg>{{"P 12345", 13, true}, {"orphan", 30, false}, {"P next", 37, false}});
  }
  SUBCASE("prefix-garbage: the prefix starts the next message") {
    Feeder f(opts(Mode::kPrefixGarbage, "^P"), 8);
    f.lines({"P 123456789", "dropped", "P next"});
    f.flush();
    CHECK(f.texts() == Texts{"P 123456", "P next"});
    CHECK(f.out[0].truncated);
    CHECK_FALSE(f.out[1].truncated);
  }
  SUBCASE("exactly max_size fits") {
    Feeder f(opts(Mode::kIndented), 7);
    f.lines({"abc", " de"});
    f.flush();
    CHECK(f.out == std::vector<Msg>{{"abc\n de", 8, false}});
  }
  SUBCASE("a line the reader cut marks its message truncated") {
    Feeder f(opts(Mode::kIndented));
    f("head")(" cut", true)(" tail");
    f.flush();
    CHECK(f.out == std::vector<Msg>{{"head\n cut\n tail", 5 + 5 + 6, true}});
  }
}

TEST_CASE("multi-line: flush after a cut starts afresh; reset forgets what is pending") {
  Feeder f(opts(Mode::kIndented), 4);
  f.lines({"abcdef", " more"});
  f.flush();
  f(" new start");
  f.flush();
  CHECK(f.texts() == Texts{"abcd", " new"});
  f("p");
  CHECK(f.a.pending());
  f.a.reset(1000);
  CHECK_FALSE(f.a.pending());
  CHECK(f.a.settled_position() == 1000);
  f.flush();
  CHECK(f.out.size() == 2);

  // Reading that resumes at a saved position settles nothing before it.
  MultiLineAssembler resumed(opts(Mode::kIndented), 100, 500);
  CHECK(resumed.settled_position() == 500);
  resumed.push("first", 506, f.sink);
  CHECK(resumed.settled_position() == 500);
  resumed.push("second", 513, f.sink);
  CHECK(resumed.settled_position() == 506);
}

TEST_CASE("multi-line: the pending buffer is reused, not reallocated per line") {
  Feeder f(opts(Mode::kIndented), 1 << 20);
  std::string big(2000, 'x');
  f(big)(" y");
  f("z");
  // Messages of the same size from now on: the sink's view must come from
  // the same storage every time.
  const char* first = nullptr;
  bool same = true;
  MultiLineAssembler::Sink sink = [&](std::string_view m, uint64_t, bool) {
    if (!first) first = m.data();
    same = same && m.data() == first;
  };
  for (int i = 0; i < 100; ++i) {
    f.a.push("line", 0, sink);
    f.a.push(" continued", 0, sink);
  }
  CHECK(first != nullptr);
  CHECK(same);
}

// --- options ---------------------------------------------------------------

namespace {

struct Parsed {
  MultiLineOptions o;
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
};

Parsed parse(const std::string& driver_options) {
  ConfigTree tree;
  ConfigError err;
  std::string text = "@version: 4.0\nsource s { file(\"/var/log/app.log\"\n  " + driver_options + "); };\n";
  REQUIRE_MESSAGE(parse_config_text(text, "ml.conf", &tree, &err), err.message);
  REQUIRE(tree.objects.size() == 1);
  REQUIRE(tree.objects[0].drivers.size() == 1);
  Diagnostics diag(&tree);
  OptionReader r(tree.objects[0].drivers[0], "file() source", &diag);
  r.take_positional();
  Parsed p;
  read_multi_line_options(r, &p.o);
  r.finish();
  p.errors = diag.errors();
  p.warnings = diag.warnings();
  return p;
}

bool has(const std::vector<std::string>& v, const std::string& part) {
  for (const auto& s : v)
    if (s.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("multi-line options: modes, patterns and timeout") {
  auto p = parse("");
  CHECK(p.errors.empty());
  CHECK(p.o.mode == Mode::kNone);
  CHECK(p.o.timeout_ms == 10000);

  p = parse("multi-line-mode(indented) multi-line-timeout(3)");
  CHECK(p.errors.empty());
  CHECK(p.o.mode == Mode::kIndented);
  CHECK(p.o.timeout_ms == 3000);

  p = parse("multi_line_mode(\"regexp\") multi-line-prefix(\"^[0-9]{4}\") multi-line-garbage(\"^--\")");
  CHECK(p.errors.empty());
  CHECK(p.o.mode == Mode::kPrefixGarbage);
  REQUIRE(p.o.prefix);
  REQUIRE(p.o.garbage);
  CHECK(RE2::PartialMatch("2024-01-01 x", *p.o.prefix));
  CHECK_FALSE(p.o.suffix);

  p = parse("multi-line-mode(prefix-suffix) multi-line-prefix('^<') multi-line-suffix('>$')");
  CHECK(p.errors.empty());
  CHECK(p.o.mode == Mode::kPrefixSuffix);
  CHECK(p.o.suffix);

  p = parse("multi-line-mode(none) multi-line-timeout(0)");
  CHECK(p.errors.empty());
  CHECK(p.o.timeout_ms == 0);
}

TEST_CASE("multi-line options: errors name the place and the problem") {
  auto p = parse("multi-line-mode(prefix-garbage) multi-line-prefix(\"(unclosed\")");
  REQUIRE(p.errors.size() == 1);
  CHECK(has(p.errors, "ml.conf:3:"));
  CHECK(has(p.errors, "invalid regular expression '(unclosed' in multi-line-prefix() of file() source"));
  CHECK(has(p.errors, "hint: logferry uses RE2"));

  p = parse("multi-line-mode(regexp) multi-line-garbage(\"(?<=x)y\")");
  CHECK(has(p.errors, "invalid regular expression '(?<=x)y' in multi-line-garbage()"));

  p = parse("multi-line-mode(smart)");
  CHECK(has(p.errors, "unknown value 'smart' in multi-line-mode() of file() source"));

  p = parse("multi-line-mode(prefixgarbage) multi-line-prefix(\"^x\")");
  REQUIRE(p.errors.size() == 1);  // the bad mode only, not also "prefix needs a regexp mode"
  CHECK(has(p.errors, "did you mean 'prefix-garbage'"));

  p = parse("multi-line-prefix(\"^x\")");
  REQUIRE(p.errors.size() == 1);
  CHECK(has(p.errors, "ml.conf:3:3: error: multi-line-prefix() in file() source needs a regexp multi-line-mode()"));
  CHECK(has(p.errors, "hint: add multi-line-mode(prefix-garbage)"));

  p = parse("multi-line-mode(indented) multi-line-suffix(\"x\")");
  CHECK(has(p.errors, "multi-line-suffix() in file() source needs a regexp multi-line-mode(), not 'indented'"));

  p = parse("multi-line-mode(prefix-garbage)");
  REQUIRE(p.errors.size() == 1);
  CHECK(has(p.errors, "ml.conf:3:3: error: multi-line-mode(prefix-garbage) in file() source needs multi-line-prefix() "
                      "or multi-line-garbage()"));

  p = parse("multi-line-mode(prefix-suffix) multi-line-garbage(\"a\") multi-line-suffix(\"b\")");
  CHECK(has(p.errors, "multi-line-garbage() and multi-line-suffix() both given"));

  p = parse("multi-line-timeout(-1)");
  CHECK(has(p.errors, "in multi-line-timeout() of file() source"));

  p = parse("multi-line-prefx(\"^x\")");
  CHECK(has(p.errors, "did you mean 'multi-line-prefix'?"));
}

TEST_CASE("multi-line options: garbage and suffix stand in for each other, as in syslog-ng") {
  auto p = parse("multi-line-mode(prefix-suffix) multi-line-garbage(\"END\")");
  CHECK(p.errors.empty());
  CHECK(has(p.warnings, "multi-line-garbage() in file() source with multi-line-mode(prefix-suffix) is taken as "
                        "multi-line-suffix()"));
  CHECK(p.o.suffix);
  CHECK_FALSE(p.o.garbage);

  p = parse("multi-line-mode(prefix-garbage) multi-line-suffix(\"END\")");
  CHECK(p.errors.empty());
  CHECK(p.o.garbage);
  CHECK_FALSE(p.o.suffix);
}
