// Throughput of parsing, framing and rendering, per core.
//
// Each benchmark works through a fixed set of distinct, realistic messages
// (so that branch predictors and caches see variety, not one line) and
// reports items_processed, so the output shows messages per second.
// Run with `make bench`; docs/performance.md records the figures.
#include <benchmark/benchmark.h>

#include <stdlib.h>
#include <uv.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/format.h"
#include "core/framing.h"
#include "core/message.h"
#include "core/syslog_parser.h"
#include "core/template.h"
#include "relay/disk_buffer.h"
#include "server/file_destination.h"

using namespace logferry;

namespace {

constexpr size_t kMessages = 64;    // distinct messages each benchmark rotates through

// What a source stamps on a message when it arrives.
Timestamp received_time() {
  Timestamp t;
  t.sec = 1710151200;  // 2024-03-11T10:00:00Z
  t.nsec = 123456000;
  t.precision = 6;
  return t;
}

const char* const kHosts[] = {"web01", "web02.example.com", "db-primary", "mail", "10.1.2.3",
                              "fw-edge-1", "build07.ci.example.org", "kvm-host-12"};
const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

struct Program {
  const char* name;
  const char* text;
};
const Program kPrograms[] = {
    {"sshd", "Accepted publickey for deploy from 198.51.100.23 port 52114 ssh2: ED25519 SHA256:"
             "n4Zl1m0b0DcTqQpYwLk7x3"},
    {"postfix/smtpd", "connect from mail-yw1-f177.google.com[209.85.128.177]; TLS established, "
                      "cipher TLS_AES_256_GCM_SHA384"},
    {"CRON", "(root) CMD (   cd / && run-parts --report /etc/cron.hourly > /dev/null 2>&1)"},
    {"kernel", "[UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56 SRC=203.0.113.9 DST=192.0.2.4 "
               "PROTO=TCP SPT=44321 DPT=23"},
    {"systemd", "Started Session 4711 of user alice; unit session-4711.scope entered the "
                "running state"},
    {"nginx", "192.0.2.77 - - \"GET /api/v1/orders?page=3 HTTP/1.1\" 200 5123 \"-\" "
              "\"Mozilla/5.0 (X11; Linux)\""},
    {"sudo", "alice : TTY=pts/3 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl "
             "restart nginx"},
    {"dhclient", "DHCPACK of 10.20.30.40 from 10.20.30.1 (xid=0x5e1f2a3b); bound to "
                 "10.20.30.40 -- renewal in 1743 seconds"},
};

// Pads a message to about `target` bytes with plausible text.
std::string pad(std::string line, size_t target, size_t seed) {
  static const char* const kWords[] = {" session", " request", " id=", " status=ok", " retry=0",
                                       " user=svc", " bytes=", " ms="};
  size_t k = seed;
  while (line.size() + 12 < target) {
    line += kWords[k % 8];
    line += std::to_string((k * 7919) % 100000);
    ++k;
  }
  return line;
}

// "<PRI>Mmm dd hh:mm:ss HOST PROGRAM[PID]: MESSAGE", about 200 bytes.
std::vector<std::string> rfc3164_lines() {
  std::vector<std::string> v;
  for (size_t i = 0; i < kMessages; ++i) {
    const Program& p = kPrograms[i % 8];
    char head[128];
    std::snprintf(head, sizeof(head), "<%zu>%s %2zu %02zu:%02zu:%02zu %s %s[%zu]: ",
                  (i * 37) % 192, kMonths[(i * 5) % 12], 1 + (i * 11) % 28, (i * 7) % 24,
                  (i * 13) % 60, (i * 29) % 60, kHosts[(i / 8 + i) % 8], p.name, 100 + i * 211);
    v.push_back(pad(std::string(head) + p.text, 200, i));
  }
  return v;
}

// "<PRI>1 ISODATE HOST APP PROCID MSGID [SD...] MSG" with two SD elements.
std::vector<std::string> rfc5424_lines() {
  static const char* const kOffsets[] = {"Z", "+01:00", "-05:00", "+05:30"};
  std::vector<std::string> v;
  for (size_t i = 0; i < kMessages; ++i) {
    const Program& p = kPrograms[i % 8];
    std::string app = p.name;
    for (auto& c : app)
      if (c == '/') c = '-';
    char head[384];
    std::snprintf(head, sizeof(head),
                  "<%zu>1 2024-%02zu-%02zuT%02zu:%02zu:%02zu.%06zu%s %s %s %zu ID%zu "
                  "[exampleSDID@32473 iut=\"%zu\" eventSource=\"Application\" eventID=\"%zu\"]"
                  "[origin ip=\"192.0.2.%zu\" software=\"logferry-bench\"] ",
                  (i * 37) % 192, 1 + i % 12, 1 + (i * 11) % 28, (i * 7) % 24, (i * 13) % 60,
                  (i * 29) % 60, (i * 104729) % 1000000, kOffsets[i % 4], kHosts[(i / 8 + i) % 8],
                  app.c_str(), 100 + i * 211, i % 50, 1 + i % 9, 1000 + i, 1 + i % 254);
    v.push_back(pad(std::string(head) + p.text, 300, i));
  }
  return v;
}

// Parsed messages for the rendering benchmarks.
std::vector<LogMessage> parsed(const std::vector<std::string>& lines) {
  std::vector<LogMessage> msgs(lines.size());
  ParseOptions o;
  for (size_t i = 0; i < lines.size(); ++i) {
    msgs[i].received = received_time();
    parse_syslog(lines[i], o, msgs[i]);
    if (msgs[i].has_flag(kFlagParseError)) {
      std::fprintf(stderr, "bench: a generated message does not parse: %s\n", lines[i].c_str());
      std::abort();
    }
  }
  return msgs;
}

void parse_loop(benchmark::State& state, const std::vector<std::string>& lines) {
  ParseOptions o;  // defaults: auto-detected format, local time zone
  const Timestamp received = received_time();
  LogMessage msg;
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const std::string& line = lines[i];
    msg.clear();
    msg.received = received;
    parse_syslog(line, o, msg);
    benchmark::DoNotOptimize(msg);
    bytes += line.size();
    i = (i + 1) % kMessages;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

void BM_ParseRfc3164(benchmark::State& state) {
  static const auto lines = rfc3164_lines();
  parse_loop(state, lines);
}
BENCHMARK(BM_ParseRfc3164);

void BM_ParseRfc5424(benchmark::State& state) {
  static const auto lines = rfc5424_lines();
  parse_loop(state, lines);
}
BENCHMARK(BM_ParseRfc5424);

// A TCP connection's byte stream cut into lines, read 64 KiB at a time.
void BM_FrameDecoderLines(benchmark::State& state) {
  static const std::string stream = [] {
    std::string s;
    auto lines = rfc3164_lines();
    while (s.size() < (1u << 20))
      for (const auto& l : lines) s += l + "\n";
    return s;
  }();
  constexpr size_t kRead = 64 * 1024;
  uint64_t frames = 0, sum = 0;
  FrameDecoder::Sink sink = [&](std::string_view frame, bool) { sum += frame.size(); };
  for (auto _ : state) {
    FrameDecoder dec(Framing::kLines, 65536);
    for (size_t off = 0; off < stream.size(); off += kRead)
      dec.feed(std::string_view(stream).substr(off, kRead), sink);
    dec.finish(sink);
    frames += dec.counters().frames;
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(static_cast<int64_t>(frames));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * stream.size()));
}
BENCHMARK(BM_FrameDecoderLines);

void render_loop(benchmark::State& state, const Template& t, const std::vector<LogMessage>& msgs) {
  RenderOptions o;
  std::string out;
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    out.clear();
    t.render(msgs[i], o, out);
    benchmark::DoNotOptimize(out.data());
    bytes += out.size();
    i = (i + 1) % kMessages;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

std::unique_ptr<Template> compile(const char* text) {
  std::string error;
  auto t = Template::compile(text, &error);
  if (!t) {
    std::fprintf(stderr, "bench: template does not compile: %s\n", error.c_str());
    std::abort();
  }
  return t;
}

// The usual file destination line.
void BM_TemplateRenderFile(benchmark::State& state) {
  static const auto msgs = parsed(rfc3164_lines());
  static const auto t = compile("$ISODATE $HOST $MSGHDR$MSG\n");
  render_loop(state, *t, msgs);
}
BENCHMARK(BM_TemplateRenderFile);

// The line bench/compare.sh has every tool write ("$DATE $HOST $MSGHDR$MSG\n",
// syslog-ng's default file line), for the same parsed RFC 3164 messages.
void BM_TemplateRenderDateLine(benchmark::State& state) {
  static const auto msgs = parsed(rfc3164_lines());
  static const auto t = compile("$DATE $HOST $MSGHDR$MSG\n");
  render_loop(state, *t, msgs);
}
BENCHMARK(BM_TemplateRenderDateLine);

// The server's TCP-to-file path on one thread, without the system calls:
// lines cut from a 64 KiB read, each parsed into the next message of a
// batch (as a source fills it), every batch then rendered with the file
// line into a buffer that is emptied at 256 KiB (as file() writes it).
// Batches of 512 messages rotate through a pool of range(0) batches, as
// they do through the engine's queue: a small pool stays in the cache, a
// large one (a queue that filled up) makes every message a cache miss.
void BM_ReceiveToFileLine(benchmark::State& state) {
  static const std::string stream = [] {
    std::string s;
    auto lines = rfc3164_lines();
    while (s.size() < (1u << 20))
      for (const auto& l : lines) s += l + "\n";
    return s;
  }();
  static const auto t = compile("$DATE $HOST $MSGHDR$MSG\n");
  constexpr size_t kBatch = 512;
  constexpr size_t kRead = 64 * 1024;
  const size_t pool = static_cast<size_t>(state.range(0));
  std::vector<MessageBatch> batches(pool);
  size_t current = 0;
  ParseOptions po;
  RenderOptions ro;
  const Timestamp received = received_time();
  std::string file_buf;
  uint64_t frames = 0, bytes = 0;
  auto drain = [&](MessageBatch& b) {
    for (size_t i = 0; i < b.size(); ++i) t->render(b[i], ro, file_buf);
    if (file_buf.size() >= 256 * 1024) {
      bytes += file_buf.size();
      file_buf.clear();
    }
    b.clear();
  };
  FrameDecoder::Sink sink = [&](std::string_view frame, bool) {
    MessageBatch& b = batches[current];
    LogMessage& m = b.add();
    m.received = received;
    m.set(Field::kHostFrom, "127.0.0.1");
    parse_syslog(frame, po, m);
    ++frames;
    if (b.size() == kBatch) {
      current = (current + 1) % pool;
      drain(batches[current]);  // the oldest batch: rendered, then reused
    }
  };
  for (auto _ : state) {
    FrameDecoder dec(Framing::kLines, 65536);
    for (size_t off = 0; off < stream.size(); off += kRead)
      dec.feed(std::string_view(stream).substr(off, kRead), sink);
    dec.finish(sink);
  }
  benchmark::DoNotOptimize(bytes);
  state.SetItemsProcessed(static_cast<int64_t>(frames));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * stream.size()));
}
BENCHMARK(BM_ReceiveToFileLine)->Arg(4)->Arg(200)->ArgName("batches");

// JSON lines for a log store, from RFC 5424 input with SD.
void BM_TemplateFormatJson(benchmark::State& state) {
  static const auto msgs = parsed(rfc5424_lines());
  static const auto t = compile("$(format-json --scope rfc5424 --scope nv-pairs --key ISODATE)\n");
  render_loop(state, *t, msgs);
}
BENCHMARK(BM_TemplateFormatJson);

void BM_FormatRfc5424(benchmark::State& state) {
  static const auto msgs = parsed(rfc5424_lines());
  RenderOptions o;
  std::string out;
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    out.clear();
    format_rfc5424(msgs[i], o, /*octet_counting=*/false, out);
    benchmark::DoNotOptimize(out.data());
    bytes += out.size();
    i = (i + 1) % kMessages;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_FormatRfc5424);

// A disk buffer in front of a file() destination, as the engine drives it:
// each batch of 512 messages is delivered and flushed (appended to the
// buffer in one write; reliable(yes): fdatasync()ed on the thread pool, a
// sync covering every batch written before it started), and the pump reads
// the records back, decodes them and hands them to the file destination,
// which writes its lines.  The loop runs between batches (sync callbacks,
// the head saved, consumed segments deleted).  An iteration is 64 batches
// and ends when the buffer reports all of them taken (reliable: synced),
// so the time includes the last sync.  Real time, not CPU time: the syncs
// wait for the disk.  The buffer lives under $TMPDIR (default /var/tmp):
// put it on the disk to be measured.
void BM_DiskBufferToFile(benchmark::State& state) {
  const bool reliable = state.range(0) != 0;
  const char* base = getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/var/tmp") + "/lf-bench-dbuf-XXXXXX";
  if (!mkdtemp(tmpl.data())) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  const std::string dir = tmpl;
  DriverRegistry registry;
  register_file_destinations(registry);
  std::vector<std::string> errors, warnings;
  auto cfg = Config::load_text("@version: 4.0\ndestination d { file(\"" + dir +
                                   "/out.log\" template(\"$DATE $HOST $MSGHDR$MSG\\n\")); };\n",
                               "bench", registry, &errors, &warnings);
  if (!cfg) {
    state.SkipWithError(errors.empty() ? "config" : errors[0].c_str());
    return;
  }
  DiskBufferConfig bc;
  bc.enabled = true;
  bc.reliable = reliable;
  bc.dir = dir + "/buffers";
  auto d = make_buffered_destination(bc, "bench", cfg->destinations[0].drivers[0]->create());
  d->persist_dir = dir;
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::string err;
  if (!d->open(&loop, &err)) {
    state.SkipWithError(err.c_str());
    return;
  }
  MessageBatch msgs;
  ParseOptions po;
  for (const auto& l : rfc3164_lines()) {
    LogMessage& m = msgs.add();
    m.received = received_time();
    parse_syslog(l, po, m);
  }
  constexpr size_t kBatch = 512, kBatches = 64;
  uint64_t seq = 0, n = 0;
  for (auto _ : state) {
    for (size_t b = 0; b < kBatches; ++b) {
      for (size_t i = 0; i < kBatch; ++i) d->deliver(msgs[i % msgs.size()]);
      d->flush_seq = ++seq;
      d->flush();
      uv_run(&loop, UV_RUN_NOWAIT);
      n += kBatch;
    }
    while (d->taken_through(seq) < seq) uv_run(&loop, UV_RUN_ONCE);
  }
  d->close();
  uv_run(&loop, UV_RUN_DEFAULT);
  d.reset();
  uv_loop_close(&loop);
  std::filesystem::remove_all(dir);
  state.SetItemsProcessed(static_cast<int64_t>(n));
}
BENCHMARK(BM_DiskBufferToFile)->Arg(1)->Arg(0)->ArgName("reliable")->UseRealTime();

}  // namespace

// BENCHMARK_MAIN with a default of 0.5 s per benchmark (about 15 s in all);
// --benchmark_min_time=N on the command line still wins.
int main(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  bool has_min_time = false;
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]).starts_with("--benchmark_min_time")) has_min_time = true;
  static char default_min_time[] = "--benchmark_min_time=0.5";
  if (!has_min_time) args.insert(args.begin() + 1, default_min_time);
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
