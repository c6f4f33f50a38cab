// `logferry parse`: shows how logferry reads raw messages, one JSON line
// (or one rendered template) per message read from stdin.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "core/format.h"
#include "core/framing.h"
#include "core/syslog_parser.h"
#include "core/template.h"
#include "core/text.h"

namespace logferry::cli {

const char* parse_usage() {
  return "usage: logferry parse [options] < messages\n"
         "\n"
         "Reads raw syslog messages from stdin and prints, per message, one JSON line\n"
         "with HOST, PROGRAM, PID, MSGID, MESSAGE, FACILITY, LEVEL, PRI, ISODATE and\n"
         "SDATA (plus parse_error when the header was malformed), or the rendered\n"
         "--template.\n"
         "\n"
         "options:\n"
         "  --format auto|rfc3164|rfc5424       header format (default auto)\n"
         "  --framing auto|lines|octet-counted  how messages are split (default auto)\n"
         "  --template T                        print T rendered per message, e.g.\n"
         "                                      '$HOST $PROGRAM $(uppercase $MSG)'\n"
         "  --source-ip ADDR                    the peer address: HOST when the header has none\n"
         "  --time-zone TZ                      zone for stamps without an offset\n"
         "                                      (+01:00, UTC, Europe/Berlin; default local)\n"
         "  --no-hostname                       the header has no hostname (local sources)\n"
         "  --no-parse                          the whole line is MESSAGE\n"
         "  --max-size N                        longest message in bytes (default 65536)\n";
}

namespace {
bool write_all(const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = write(STDOUT_FILENO, s.data() + off, s.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}
}  // namespace

int parse_command(const Args& args) {
  ParseOptions popts;
  Framing framing = Framing::kAuto;
  std::unique_ptr<Template> tmpl;
  std::string source_ip;
  size_t max_size = 65536;
  auto bad = [](const std::string& what) {
    fprintf(stderr, "logferry parse: %s\n\n%s", what.c_str(), parse_usage());
    return 2;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    std::string v;
    if (a == "--format") {
      if (!value(&v)) return bad("--format needs a value");
      if (v == "auto") popts.format = SyslogFormat::kAuto;
      else if (v == "rfc3164" || v == "bsd") popts.format = SyslogFormat::kRfc3164;
      else if (v == "rfc5424" || v == "syslog") popts.format = SyslogFormat::kRfc5424;
      else return bad("unknown --format '" + v + "'; expected auto, rfc3164 or rfc5424");
    } else if (a == "--framing") {
      if (!value(&v)) return bad("--framing needs a value");
      if (v == "auto") framing = Framing::kAuto;
      else if (v == "lines") framing = Framing::kLines;
      else if (v == "octet-counted") framing = Framing::kOctetCounted;
      else return bad("unknown --framing '" + v + "'; expected auto, lines or octet-counted");
    } else if (a == "--template") {
      if (!value(&v)) return bad("--template needs a value");
      std::string error;
      tmpl = Template::compile(v, &error);
      if (!tmpl) return bad("invalid --template: " + error);
    } else if (a == "--source-ip") {
      if (!value(&source_ip)) return bad("--source-ip needs a value");
    } else if (a == "--time-zone") {
      if (!value(&v)) return bad("--time-zone needs a value");
      std::string error;
      popts.time_zone = TimeZone::parse(v, &error);
      if (!popts.time_zone) return bad("invalid --time-zone '" + v + "': " + error);
    } else if (a == "--no-hostname") {
      popts.expect_hostname = false;
    } else if (a == "--no-parse") {
      popts.no_parse = true;
    } else if (a == "--max-size") {
      int64_t n;
      if (!value(&v) || !parse_int64(v, &n) || n < 1 || n > (1 << 30))
        return bad("--max-size needs a number of bytes from 1 to 1073741824");
      max_size = static_cast<size_t>(n);
    } else if (a == "--help" || a == "-h") {
      fputs(parse_usage(), stdout);
      return 0;
    } else {
      return bad("unknown option '" + a + "'");
    }
  }

  FrameDecoder decoder(framing, max_size);
  LogMessage msg;
  std::string out;
  RenderOptions ropts;
  ropts.frac_digits = tmpl ? 0 : -1;
  bool write_failed = false;
  auto on_frame = [&](std::string_view frame, bool truncated) {
    msg.clear();
    msg.received = now_in(*TimeZone::local());
    if (!source_ip.empty()) {
      msg.set(Field::kHostFrom, source_ip);
      msg.set(Field::kSourceIp, source_ip);
    }
    parse_syslog(frame, popts, msg);
    if (truncated) msg.flags |= kFlagTruncated;
    if (tmpl) {
      tmpl->render(msg, ropts, out);
      out += '\n';
    } else {
      format_json(msg, ropts, out);
    }
    if (out.size() >= 1 << 16) {
      write_failed |= !write_all(out);
      out.clear();
    }
  };
  char buf[1 << 16];
  while (!write_failed) {
    ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "logferry parse: reading stdin: %s\n", strerror(errno));
      return 1;
    }
    if (n == 0) break;
    decoder.feed(std::string_view(buf, static_cast<size_t>(n)), on_frame);
  }
  decoder.finish(on_frame);
  if (!write_failed) write_failed = !write_all(out);
  if (write_failed) {
    fprintf(stderr, "logferry parse: writing stdout: %s\n", strerror(errno));
    return 1;
  }
  const auto& c = decoder.counters();
  if (c.truncated || c.bad_octet_count)
    fprintf(stderr, "logferry parse: %llu messages, %llu cut at --max-size, %llu bad octet counts\n",
            static_cast<unsigned long long>(c.frames), static_cast<unsigned long long>(c.truncated),
            static_cast<unsigned long long>(c.bad_octet_count));
  return 0;
}

}  // namespace logferry::cli
