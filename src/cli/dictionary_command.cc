// `logferry ferry-dictionary train`: trains the zstd dictionary of
// compression-dictionary() from sample log files.  The samples are the
// lines encoded as a ferry() batch carries them (read as a file() source
// reads them, with the fields and stamps it adds), so the dictionary holds
// what the compressor will see, not just the bare lines.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/receive.h"
#include "core/syslog_parser.h"
#include "core/text.h"
#include "relay/ferry_codec.h"
#include "relay/ferry_dictionary.h"

namespace logferry::cli {

const char* dictionary_usage() {
  return "usage: logferry ferry-dictionary train -o FILE [--size BYTES] [--format F] SAMPLE_FILE...\n"
         "\n"
         "Trains a zstd dictionary for compression-dictionary() of ferry() from sample\n"
         "log files: each line is read as a file() source reads it and encoded as a\n"
         "ferry() batch carries it.  Give both ends of a connection the same file.\n"
         "Train on logs of the kind the sender ships (a day's worth, or a few MB), not\n"
         "on the very logs you then measure it with.\n"
         "\n"
         "options:\n"
         "  -o FILE          where to write the dictionary\n"
         "  --size BYTES     its size (default 112640, from 1024 to 1048576)\n"
         "  --format F       none (default: the whole line is MESSAGE, as file() reads\n"
         "                   lines), auto, rfc3164 or rfc5424 (as format() of file())\n";
}

namespace {

// Encoded samples taken at most (ZDICT reads them all into memory, and
// more hardly makes a better dictionary).
constexpr size_t kMaxSampleBytes = 64u << 20;
// Messages per batch, as a ferry() batch (batch-messages() default).
constexpr size_t kBatchMessages = 512;

// Reads every line of the sample files as messages and encodes each as the
// next message of a batch; false when a file cannot be read.
bool encode_samples(const std::vector<std::string>& files, const ReceiveOptions& ro,
                    std::vector<std::string>* samples, size_t* lines) {
  ferry::MessageEncoder encoder;
  ferry::StampBase base;
  LogMessage m;
  size_t bytes = 0;
  Timestamp now = now_in(*TimeZone::local());
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      fprintf(stderr, "logferry ferry-dictionary: cannot read %s\n", path.c_str());
      return false;
    }
    std::string line;
    while (bytes < kMaxSampleBytes && std::getline(in, line)) {
      if (line.empty()) continue;
      if (*lines % kBatchMessages == 0) base = ferry::StampBase{};
      m.clear();
      m.received = now;
      m.set(Field::kHostFrom, local_host());
      m.set_span(Field::kSourceIp, m.span(Field::kHostFrom));
      parse_syslog(line, ro.parse, m);
      finish_received_message(ro, m);
      m.set_value("FILE_NAME", path);
      std::string s;
      encoder.append(m, &base, &s);
      bytes += s.size();
      samples->push_back(std::move(s));
      ++*lines;
    }
  }
  return true;
}

}  // namespace

int dictionary_command(const Args& args) {
  auto bad = [](const std::string& what) {
    fprintf(stderr, "logferry ferry-dictionary: %s\n\n%s", what.c_str(), dictionary_usage());
    return 2;
  };
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
    fputs(dictionary_usage(), stdout);
    return 0;
  }
  if (args.empty() || args[0] != "train") return bad("expected the subcommand train");
  std::string out;
  int64_t size = 112640;
  ReceiveOptions ro;
  ro.parse.no_parse = true;
  std::vector<std::string> files;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    bool has_value = i + 1 < args.size();
    if (a == "-o") {
      if (!has_value) return bad("-o needs a file");
      out = args[++i];
    } else if (a == "--size") {
      if (!has_value || !parse_int64(args[++i], &size) || size < 1024 || size > (1 << 20))
        return bad("--size needs a number of bytes from 1024 to 1048576");
    } else if (a == "--format") {
      if (!has_value) return bad("--format needs a value");
      const std::string& f = args[++i];
      ro.parse.no_parse = f == "none";
      if (f == "auto") ro.parse.format = SyslogFormat::kAuto;
      else if (f == "rfc3164") ro.parse.format = SyslogFormat::kRfc3164;
      else if (f == "rfc5424") ro.parse.format = SyslogFormat::kRfc5424;
      else if (f != "none") return bad("unknown --format '" + f + "'; expected none, auto, rfc3164 or rfc5424");
    } else if (a.starts_with("-") && a != "-") {
      return bad("unknown option '" + a + "'");
    } else {
      files.push_back(a);
    }
  }
  if (out.empty()) return bad("-o FILE is missing");
  if (files.empty()) return bad("no sample files");

  std::vector<std::string> samples;
  size_t lines = 0;
  if (!encode_samples(files, ro, &samples, &lines)) return 1;
  std::string error;
  std::string dict = ferry::train_dictionary(samples, static_cast<size_t>(size), &error);
  if (dict.empty()) {
    fprintf(stderr, "logferry ferry-dictionary: %s (%zu lines read)\n", error.c_str(), lines);
    return 1;
  }
  std::ofstream f(out, std::ios::binary | std::ios::trunc);
  f.write(dict.data(), static_cast<std::streamsize>(dict.size()));
  f.close();
  if (!f) {
    fprintf(stderr, "logferry ferry-dictionary: cannot write %s\n", out.c_str());
    return 1;
  }
  auto d = ferry::Dictionary::from_bytes(dict, &error);
  printf("%s: %zu bytes, dictionary id %u, trained on %zu lines\n", out.c_str(), dict.size(), d ? d->id() : 0,
         lines);
  return 0;
}

}  // namespace logferry::cli
