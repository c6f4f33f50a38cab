// Unit tests for the stream framing decoder (src/core/framing.{h,cc}).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/framing.h"

using logferry::FrameDecoder;
using logferry::Framing;

namespace {

struct Frame {
  std::string data;
  bool truncated = false;
  bool operator==(const Frame&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Frame& f) {
  os << "{\"";
  for (unsigned char ch : f.data) {
    if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
      os << ch;
    } else {
      static const char kHex[] = "0123456789abcdef";
      os << "\\x" << kHex[ch >> 4] << kHex[ch & 15];
    }
  }
  return os << "\"" << (f.truncated ? ", truncated}" : "}");
}

using Frames = std::vector<Frame>;
using namespace std::string_literals;

std::ostream& operator<<(std::ostream& os, const Frames& fs) {
  os << "[";
  for (size_t i = 0; i < fs.size(); ++i) os << (i ? ", " : "") << fs[i];
  return os << "]";
}

// Collects frames from a decoder; the sink copies, as the views die with the call.
struct Collector {
  Frames frames;
  FrameDecoder::Sink sink() {
    return [this](std::string_view f, bool t) { frames.push_back({std::string(f), t}); };
  }
};

// Feeds `in` in pieces of `chunk` bytes (0: all at once), then finishes.
Frames decode(std::string_view in, Framing mode = Framing::kAuto, size_t max = 65536,
              size_t chunk = 0, bool finish = true) {
  FrameDecoder d(mode, max);
  Collector c;
  auto sink = c.sink();
  if (chunk == 0) {
    d.feed(in, sink);
  } else {
    for (size_t i = 0; i < in.size(); i += chunk) d.feed(in.substr(i, chunk), sink);
  }
  if (finish) d.finish(sink);
  return c.frames;
}

std::string octet(std::string_view body) { return std::to_string(body.size()) + " " + std::string(body); }

Frame F(std::string_view s, bool truncated = false) { return Frame{std::string(s), truncated}; }

}  // namespace

TEST_CASE("lines: newline-terminated frames, in order") {
  FrameDecoder d;
  Collector c;
  d.feed("<38>Jan 15 10:00:00 host sshd[1]: a\n<13>second line\n", c.sink());
  CHECK(c.frames == Frames{F("<38>Jan 15 10:00:00 host sshd[1]: a"), F("<13>second line")});
  CHECK(d.mode() == Framing::kLines);
  CHECK(d.counters().frames == 2);
  CHECK(d.counters().truncated == 0);
  CHECK(d.counters().bad_octet_count == 0);
  CHECK(d.buffered() == 0);
}

TEST_CASE("lines: CRLF loses its CR; a CR elsewhere stays") {
  CHECK(decode("one\r\ntwo\r\n") == Frames{F("one"), F("two")});
  CHECK(decode("a\rb\n") == Frames{F("a\rb")});
  CHECK(decode("a\r\r\n") == Frames{F("a\r")});  // only the one before the newline
  CHECK(decode("one\r\ntwo\r\n", Framing::kLines, 65536, 1) == Frames{F("one"), F("two")});
}

TEST_CASE("lines: a NUL ends a frame, as in syslog-ng") {
  CHECK(decode(std::string_view("first\0second\n", 13)) == Frames{F("first"), F("second")});
  CHECK(decode(std::string_view("a\0\0b\0", 6)) == Frames{F("a"), F("b")});
  CHECK(decode(std::string_view("crlf\r\0x\n", 8)) == Frames{F("crlf"), F("x")});
}

TEST_CASE("lines: empty lines yield nothing") {
  FrameDecoder d(Framing::kLines);
  Collector c;
  d.feed("\n\n\r\nhello\n\n\r\n", c.sink());
  d.finish(c.sink());
  CHECK(c.frames == Frames{F("hello")});
  CHECK(d.counters().frames == 1);
}

TEST_CASE("lines: a frame split over feeds is reassembled; a partial frame waits") {
  FrameDecoder d(Framing::kLines);
  Collector c;
  d.feed("<30>Jan 15 10:00:00 host systemd[1]: Sta", c.sink());
  CHECK(c.frames.empty());
  CHECK(d.buffered() == 40);
  d.feed("rted Session 4", c.sink());
  CHECK(c.frames.empty());
  d.feed("2.\n<13>x", c.sink());
  CHECK(c.frames == Frames{F("<30>Jan 15 10:00:00 host systemd[1]: Started Session 42.")});
  CHECK(d.buffered() == 5);
  d.finish(c.sink());
  CHECK(c.frames.size() == 2);
  CHECK(c.frames[1] == F("<13>x"));
  CHECK(d.buffered() == 0);
}

TEST_CASE("finish: a last line without newline is the frame it would have been with one") {
  for (std::string_view last : {"tail", "tail ", "tail\r", "  spaced  ", "x"}) {
    CAPTURE(last);
    Frames with = decode(std::string(last) + "\n");
    Frames without = decode(last);
    CHECK(with == without);
    CHECK(with.size() == 1);
  }
  CHECK(decode("tail\r") == Frames{F("tail")});
  CHECK(decode("tail ") == Frames{F("tail ")});
  CHECK(decode("\r").empty());
  CHECK(decode("").empty());
  // Without finish() nothing partial comes out.
  CHECK(decode("tail", Framing::kAuto, 65536, 0, false).empty());
}

TEST_CASE("finish resets the decoder for a new stream") {
  FrameDecoder d(Framing::kLines);
  Collector c;
  d.feed("a", c.sink());
  d.finish(c.sink());
  d.finish(c.sink());  // twice is harmless
  d.feed("b\n", c.sink());
  CHECK(c.frames == Frames{F("a"), F("b")});
}

TEST_CASE("auto: a line that merely starts with digits stays a line") {
  CHECK(decode("123 abc\n") == Frames{F("123 abc")});
  CHECK(decode("12\n") == Frames{F("12")});
  CHECK(decode("2024-01-15T10:00:00Z host app: x\n") == Frames{F("2024-01-15T10:00:00Z host app: x")});
  CHECK(decode("42: *Mar  1 00:00:05.123: %SYS-5-CONFIG_I: Configured\n") ==
        Frames{F("42: *Mar  1 00:00:05.123: %SYS-5-CONFIG_I: Configured")});
  CHECK(decode("12 ") == Frames{F("12 ")});
  FrameDecoder d;
  Collector c;
  d.feed("007 <13>x\n", c.sink());
  CHECK(c.frames == Frames{F("007 <13>x")});  // a leading zero is no length
  CHECK(d.mode() == Framing::kLines);
  CHECK(d.counters().bad_octet_count == 0);  // not an error while auto-detecting
}

TEST_CASE("auto: leading blanks of the first line are content, as in lines mode") {
  CHECK(decode(" indented\n") == Frames{F(" indented")});
  CHECK(decode(" indented\n", Framing::kLines) == Frames{F(" indented")});
  CHECK(decode("\rx\n") == decode("\rx\n", Framing::kLines));
  CHECK(decode("\n\nfirst\n") == Frames{F("first")});
}

TEST_CASE("auto: the first frame decides for the whole connection") {
  FrameDecoder d;
  Collector c;
  d.feed("plain line\n12 <13>x\n", c.sink());
  CHECK(c.frames == Frames{F("plain line"), F("12 <13>x")});
  CHECK(d.mode() == Framing::kLines);
}

TEST_CASE("auto: octet counting is detected from \"LEN <\"") {
  const std::string a = "<13>Jan 15 10:00:00 host app: multi\nline\nmessage";
  const std::string b = "<165>1 2024-01-15T22:14:15.003Z mymachine evntslog - ID47 - hello";
  FrameDecoder d;
  Collector c;
  d.feed(octet(a) + octet(b), c.sink());
  CHECK(c.frames == Frames{F(a), F(b)});
  CHECK(d.mode() == Framing::kOctetCounted);
  CHECK(d.counters().frames == 2);
  // The body may contain newlines and NULs: the count rules.
  CHECK(decode(octet(std::string("<13>a\0b\n", 8))) == Frames{F(std::string("<13>a\0b\n", 8))});
  CHECK(decode("9 <13>hello") == Frames{F("<13>hello")});
}

TEST_CASE("octet: separators between frames are skipped") {
  const std::string in = octet("<13>one") + "\n" + octet("<13>two") + "\r\n" + octet("<13>three") + " " +
                         octet("<13>four");
  const Frames want{F("<13>one"), F("<13>two"), F("<13>three"), F("<13>four")};
  CHECK(decode(in) == want);
  CHECK(decode(in, Framing::kOctetCounted) == want);
}

TEST_CASE("octet: fixed mode takes any body, '<' or not") {
  FrameDecoder d(Framing::kOctetCounted);
  Collector c;
  d.feed("5 hello11 hello world", c.sink());
  CHECK(c.frames == Frames{F("hello"), F("hello world")});
  CHECK(d.counters().bad_octet_count == 0);
}

TEST_CASE("octet: a count larger than the data: finish() keeps what came, marked truncated") {
  FrameDecoder d(Framing::kOctetCounted);
  Collector c;
  d.feed("100 <13>short", c.sink());
  CHECK(c.frames.empty());
  CHECK(d.buffered() == 9);
  d.finish(c.sink());
  CHECK(c.frames == Frames{F("<13>short", true)});
  CHECK(d.counters().truncated == 1);
  // Auto-detected streams behave the same.
  CHECK(decode("100 <13>short") == Frames{F("<13>short", true)});
  // A count whose body never started yields nothing.
  CHECK(decode("100 ", Framing::kOctetCounted).empty());
  // A length cut off by the end of the stream is a cut frame.
  CHECK(decode("9 <13>hello12", Framing::kOctetCounted) == Frames{F("<13>hello"), F("12", true)});
}

TEST_CASE("octet: a malformed length is counted and the decoder resyncs on the newline") {
  SUBCASE("letters where the length belongs") {
    FrameDecoder d(Framing::kOctetCounted);
    Collector c;
    d.feed("garbage here\n" + octet("<13>ok"), c.sink());
    CHECK(c.frames == Frames{F("garbage here"), F("<13>ok")});
    CHECK(d.counters().bad_octet_count == 1);
    CHECK(d.mode() == Framing::kOctetCounted);
  }
  SUBCASE("a leading zero") {
    FrameDecoder d(Framing::kOctetCounted);
    Collector c;
    d.feed("05 hello\n" + octet("<13>ok"), c.sink());
    CHECK(c.frames == Frames{F("05 hello"), F("<13>ok")});
    CHECK(d.counters().bad_octet_count == 1);
  }
  SUBCASE("digits without the space") {
    FrameDecoder d(Framing::kOctetCounted);
    Collector c;
    d.feed("12<13>x\n" + octet("<13>ok"), c.sink());
    CHECK(c.frames == Frames{F("12<13>x"), F("<13>ok")});
    CHECK(d.counters().bad_octet_count == 1);
  }
  SUBCASE("more digits than any sane length") {
    FrameDecoder d(Framing::kOctetCounted);
    Collector c;
    d.feed("123456789012 <13>x\n" + octet("<13>ok"), c.sink());
    CHECK(c.frames == Frames{F("123456789012 <13>x"), F("<13>ok")});
    CHECK(d.counters().bad_octet_count == 1);
  }
  SUBCASE("several bad ones in a row, byte by byte") {
    const std::string in = "bad1\nbad2\n" + octet("<13>ok") + "\nbad3\n";
    FrameDecoder d(Framing::kOctetCounted);
    Collector c;
    for (char ch : in) d.feed(std::string_view(&ch, 1), c.sink());
    d.finish(c.sink());
    CHECK(c.frames == Frames{F("bad1"), F("bad2"), F("<13>ok"), F("bad3")});
    CHECK(d.counters().bad_octet_count == 3);
  }
}

TEST_CASE("lines: a frame over max_size is cut, counted, and the stream stays in sync") {
  FrameDecoder d(Framing::kLines, 8);
  Collector c;
  d.feed("0123456789abcdef\nshort\n01234567\n012345678\n", c.sink());
  CHECK(c.frames == Frames{F("01234567", true), F("short"), F("01234567"), F("01234567", true)});
  CHECK(d.counters().truncated == 2);
  CHECK(d.counters().frames == 4);
  // The same, byte by byte.
  CHECK(decode("0123456789abcdef\nshort\n01234567\n012345678\n", Framing::kLines, 8, 1) == c.frames);
  // Cut in the middle of a long line whose end arrives much later.
  CHECK(decode("0123456789" + std::string(100, 'x') + "\nnext\n", Framing::kLines, 8, 7) ==
        Frames{F("01234567", true), F("next")});
  // A long last line without newline is cut once and not repeated by finish().
  CHECK(decode("0123456789", Framing::kLines, 8, 3) == Frames{F("01234567", true)});
}

TEST_CASE("octet: a frame over max_size is cut and the next frame still parses") {
  FrameDecoder d(Framing::kOctetCounted, 8);
  Collector c;
  d.feed(octet("<13>abcdefghij") + octet("<13>x") + octet("<13>abcd"), c.sink());
  CHECK(c.frames == Frames{F("<13>abcd", true), F("<13>x"), F("<13>abcd")});
  CHECK(d.counters().truncated == 1);
  CHECK(decode(octet("<13>abcdefghij") + octet("<13>x"), Framing::kAuto, 8, 1) ==
        Frames{F("<13>abcd", true), F("<13>x")});
}

TEST_CASE("max_size 0 is taken as 1") {
  CHECK(decode("ab\nc\n", Framing::kLines, 0) == Frames{F("a", true), F("c")});
}

TEST_CASE("tiny max_size with an auto-detect prefix never yields a frame over the limit") {
  CHECK(decode("12 abc\n", Framing::kAuto, 2) == Frames{F("12", true)});
  CHECK(decode("123\n", Framing::kAuto, 2) == Frames{F("12", true)});
  CHECK(decode("123", Framing::kAuto, 2) == Frames{F("12", true)});
  CHECK(decode("12\n", Framing::kAuto, 2) == Frames{F("12")});
}

TEST_CASE("1 MB without a newline, max 64 KiB: memory stays bounded, one cut frame") {
  constexpr size_t kMax = 64 * 1024;
  const std::string big(1 << 20, 'A');
  for (size_t chunk : {size_t{4096}, size_t{65536}, size_t{1} << 20, size_t{1000}}) {
    CAPTURE(chunk);
    FrameDecoder d(Framing::kLines, kMax);
    Collector c;
    size_t max_buffered = 0;
    for (size_t i = 0; i < big.size(); i += chunk) {
      d.feed(std::string_view(big).substr(i, chunk), c.sink());
      max_buffered = std::max(max_buffered, d.buffered());
    }
    CHECK(max_buffered <= kMax);
    REQUIRE(c.frames.size() == 1);
    CHECK(c.frames[0].truncated);
    CHECK(c.frames[0].data.size() == kMax);
    CHECK(c.frames[0].data == std::string(kMax, 'A'));
    // The rest of the giant line is skipped, then the stream is in sync.
    d.feed("AAAA\n<13>next\n", c.sink());
    d.finish(c.sink());
    CHECK(c.frames.size() == 2);
    CHECK(c.frames[1] == F("<13>next"));
    CHECK(d.counters().truncated == 1);
    CHECK(d.buffered() == 0);
  }
}

TEST_CASE("1 MB octet-counted body, max 64 KiB: memory stays bounded, one cut frame") {
  constexpr size_t kMax = 64 * 1024;
  const std::string body = "<13>" + std::string((1 << 20) - 4, 'B');
  const std::string in = octet(body) + octet("<13>after");
  for (size_t chunk : {size_t{4096}, size_t{0}}) {
    CAPTURE(chunk);
    FrameDecoder d(Framing::kAuto, kMax);
    Collector c;
    size_t max_buffered = 0;
    if (chunk == 0) {
      d.feed(in, c.sink());
    } else {
      for (size_t i = 0; i < in.size(); i += chunk) {
        d.feed(std::string_view(in).substr(i, chunk), c.sink());
        max_buffered = std::max(max_buffered, d.buffered());
      }
    }
    CHECK(max_buffered <= kMax);
    REQUIRE(c.frames.size() == 2);
    CHECK(c.frames[0].truncated);
    CHECK(c.frames[0].data == body.substr(0, kMax));
    CHECK(c.frames[1] == F("<13>after"));
  }
}

TEST_CASE("feeding byte by byte gives the same frames as one big feed") {
  const std::string lines =
      "<38>Jan 15 10:00:00 myhost sshd[2345]: Accepted publickey for alice from 192.0.2.10 port 52144 ssh2\r\n"
      "<78>Jan 15 10:17:01 myhost CRON[12345]: (root) CMD (   cd / && run-parts --report /etc/cron.hourly)\n"
      "\n"
      "<22>Jan 15 10:00:00 mail postfix/smtpd[4242]: connect from unknown[192.0.2.1]\0"
      "<189>123: *Mar  1 00:00:05.123: %SYS-5-CONFIG_I: Configured from console by vty0\n"
      "no newline at the end"s;
  const std::string octets = octet("<165>1 2024-01-15T22:14:15.003Z host app - ID47 [a b=\"c\"] x") + "\n" +
                             octet("<13>multi\nline") + octet("<13>last");
  struct Case {
    const char* name;
    std::string in;
    Framing mode;
  };
  const Case cases[] = {
      {"auto lines", lines, Framing::kAuto},
      {"fixed lines", lines, Framing::kLines},
      {"auto octets", octets, Framing::kAuto},
      {"fixed octets", octets, Framing::kOctetCounted},
      {"fixed octets fed lines", lines, Framing::kOctetCounted},
  };
  for (const Case& c : cases) {
    const std::string name = c.name;
    CAPTURE(name);
    const Frames whole = decode(c.in, c.mode);
    CHECK(whole.size() >= 3);
    for (size_t chunk : {1, 2, 3, 5, 7, 64}) {
      CAPTURE(chunk);
      CHECK(decode(c.in, c.mode, 65536, chunk) == whole);
    }
  }
  CHECK(decode(octets).size() == 3);
  CHECK(decode(lines).size() == 5);
}

namespace {

// The reference model of lines mode: split on '\n' and NUL, drop one CR
// before the terminator, skip empty lines, cut at max.
Frames model_lines(std::string_view in, size_t max) {
  Frames out;
  size_t start = 0;
  for (size_t i = 0; i <= in.size(); ++i) {
    if (i < in.size() && in[i] != '\n' && in[i] != '\0') continue;
    std::string_view line = in.substr(start, i - start);
    start = i + 1;
    if (line.size() > max) {
      out.push_back(F(line.substr(0, max), true));
      continue;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) out.push_back(F(line));
  }
  return out;
}

// Random bytes biased towards the ones framing cares about.
std::string random_bytes(std::mt19937& rng, size_t n) {
  static const char kInteresting[] = {'\n', '\0', '\r', ' ', '<', '>', '0', '1', '2', '9', 'a'};
  std::uniform_int_distribution<int> pick(0, 3);
  std::uniform_int_distribution<int> any(0, 255);
  std::uniform_int_distribution<size_t> which(0, sizeof(kInteresting) - 1);
  std::string s;
  s.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    s.push_back(pick(rng) == 0 ? static_cast<char>(any(rng)) : kInteresting[which(rng)]);
  }
  return s;
}

// Feeds in random-sized pieces and checks the bounds the header promises.
Frames decode_randomly(std::string_view in, Framing mode, size_t max, std::mt19937& rng) {
  FrameDecoder d(mode, max);
  Collector c;
  auto sink = c.sink();
  std::uniform_int_distribution<size_t> chunk(1, 40);
  for (size_t i = 0; i < in.size();) {
    size_t n = std::min(chunk(rng), in.size() - i);
    d.feed(in.substr(i, n), sink);
    // The only state allowed past max is a pending length prefix (<= 11 bytes).
    REQUIRE(d.buffered() <= std::max<size_t>(max, 11));
    i += n;
  }
  d.finish(sink);
  REQUIRE(d.buffered() == 0);
  REQUIRE(d.counters().frames == c.frames.size());
  uint64_t truncated = 0;
  for (const Frame& f : c.frames) {
    REQUIRE_FALSE(f.data.empty());
    REQUIRE(f.data.size() <= max);
    truncated += f.truncated;
  }
  REQUIRE(d.counters().truncated == truncated);
  return c.frames;
}

}  // namespace

TEST_CASE("property: random bytes, random chunking: never crash, frames do not depend on chunking") {
  std::mt19937 rng(0x5eed);
  std::uniform_int_distribution<size_t> len(0, 400);
  const size_t maxes[] = {1, 5, 16, 64, 65536};
  for (int iter = 0; iter < 200; ++iter) {
    const std::string in = random_bytes(rng, len(rng));
    for (Framing mode : {Framing::kAuto, Framing::kLines, Framing::kOctetCounted}) {
      for (size_t max : maxes) {
        const Frames whole = decode(in, mode, max);
        const Frames pieces = decode_randomly(in, mode, max, rng);
        if (whole != pieces) {
          FAIL("chunking changed the frames; mode ", static_cast<int>(mode), " max ", max, "\n whole:  ",
               whole, "\n pieces: ", pieces);
        }
        if (mode == Framing::kLines) {
          const Frames model = model_lines(in, max);
          if (whole != model) FAIL("lines mode differs from the model, max ", max, "\n got:  ", whole,
                                   "\n want: ", model);
        }
      }
    }
  }
}

TEST_CASE("property: valid octet-counted streams decode to exactly their frames") {
  std::mt19937 rng(42);
  std::uniform_int_distribution<size_t> nframes(1, 12);
  std::uniform_int_distribution<size_t> blen(1, 120);
  std::uniform_int_distribution<int> sep(0, 3);
  const char* const kSeps[] = {"", "\n", "\r\n", " "};
  for (int iter = 0; iter < 300; ++iter) {
    const size_t max = iter % 3 == 0 ? 32 : 65536;
    std::string in;
    Frames want;
    const size_t n = nframes(rng);
    for (size_t i = 0; i < n; ++i) {
      std::string body = "<" + std::to_string(iter % 192) + ">" + random_bytes(rng, blen(rng));
      in += octet(body);
      if (i + 1 < n) in += kSeps[sep(rng)];
      want.push_back(body.size() > max ? F(body.substr(0, max), true) : F(body));
    }
    for (Framing mode : {Framing::kAuto, Framing::kOctetCounted}) {
      const Frames got = decode_randomly(in, mode, max, rng);
      if (got != want) FAIL("octet stream misdecoded\n got:  ", got, "\n want: ", want);
    }
  }
}
