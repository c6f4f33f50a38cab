// Fuzzes FrameDecoder, which splits a peer's byte stream into frames.
//
// The input chooses the mode (auto, lines, octet-counted), a small size
// limit and how the stream is cut into reads; the rest is the stream.
// Checked: memory stays within the limit, no frame exceeds it, lines-mode
// frames never contain a line end, the counters agree with the sink, and the
// frames do not depend on how the stream was cut into reads.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/framing.h"
#include "fuzz_common.h"

using namespace logferry;

namespace {

struct Frame {
  std::string bytes;
  bool truncated;
  bool operator==(const Frame&) const = default;
};

struct Run {
  std::vector<Frame> frames;
  FramingCounters counters;
  Framing final_mode;
};

void check_frame(Framing mode, size_t max_size, std::string_view frame, bool truncated) {
  FUZZ_CHECK(frame.size() <= max_size);
  if (mode == Framing::kLines) {
    FUZZ_CHECK(frame.find('\n') == std::string_view::npos);
    FUZZ_CHECK(frame.find('\0') == std::string_view::npos);
    if (!truncated) FUZZ_CHECK(!frame.empty());  // empty lines yield nothing
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  static const Framing kModes[] = {Framing::kAuto, Framing::kLines, Framing::kOctetCounted};
  const Framing mode = kModes[fdp.ConsumeIntegralInRange<int>(0, 2)];
  // Small, so that truncation and skipping are reached often.  At least 16:
  // an octet count ("4294967295 ") is buffered whole before it is judged.
  const size_t max_size = fdp.ConsumeIntegralInRange<size_t>(16, 96);
  const bool finish = fdp.ConsumeBool();

  // Cut the rest into reads of 1..64 bytes, sizes taken from the input.
  std::vector<std::string> reads;
  std::string stream;
  while (fdp.remaining_bytes() > 0) {
    size_t n = fdp.ConsumeIntegralInRange<size_t>(1, 64);
    std::string chunk = fdp.ConsumeBytesAsString(n);
    if (chunk.empty()) break;
    stream += chunk;
    reads.push_back(std::move(chunk));
  }

  // Chunked, checking the invariants after every read.
  Run chunked;
  {
    FrameDecoder dec(mode, max_size);
    FrameDecoder::Sink sink = [&](std::string_view frame, bool truncated) {
      check_frame(mode, max_size, frame, truncated);
      chunked.frames.push_back({std::string(frame), truncated});
    };
    for (const auto& r : reads) {
      dec.feed(r, sink);
      FUZZ_CHECK(dec.buffered() <= max_size);
      FUZZ_CHECK(dec.counters().frames == chunked.frames.size());
    }
    if (finish) dec.finish(sink);
    FUZZ_CHECK(dec.buffered() <= max_size);
    FUZZ_CHECK(dec.counters().frames == chunked.frames.size());
    uint64_t truncated = 0;
    for (const auto& f : chunked.frames) truncated += f.truncated;
    FUZZ_CHECK(dec.counters().truncated == truncated);
    if (mode != Framing::kAuto) FUZZ_CHECK(dec.mode() == mode);
    chunked.counters = dec.counters();
    chunked.final_mode = dec.mode();
  }

  // The whole stream in one read must give the same frames: what a peer
  // sends must not depend on how TCP cut it into segments.
  Run whole;
  {
    FrameDecoder dec(mode, max_size);
    FrameDecoder::Sink sink = [&](std::string_view frame, bool truncated) {
      check_frame(mode, max_size, frame, truncated);
      whole.frames.push_back({std::string(frame), truncated});
    };
    dec.feed(stream, sink);
    FUZZ_CHECK(dec.buffered() <= max_size);
    if (finish) dec.finish(sink);
    whole.counters = dec.counters();
    whole.final_mode = dec.mode();
  }
  FUZZ_CHECK(whole.frames == chunked.frames);
  FUZZ_CHECK(whole.counters.bad_octet_count == chunked.counters.bad_octet_count);
  FUZZ_CHECK(whole.final_mode == chunked.final_mode);

  // A byte at a time: the hardest cut of all.
  {
    FrameDecoder dec(mode, max_size);
    size_t i = 0;
    bool same = true;
    FrameDecoder::Sink sink = [&](std::string_view frame, bool truncated) {
      check_frame(mode, max_size, frame, truncated);
      same = same && i < whole.frames.size() && whole.frames[i].bytes == frame &&
             whole.frames[i].truncated == truncated;
      ++i;
    };
    for (char c : stream) {
      dec.feed(std::string_view(&c, 1), sink);
      FUZZ_CHECK(dec.buffered() <= max_size);
    }
    if (finish) dec.finish(sink);
    FUZZ_CHECK(same && i == whole.frames.size());
  }
  return 0;
}
