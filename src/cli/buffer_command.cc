// `logferry buffer inspect|verify DIR`: shows what a disk buffer holds, and
// checks every record of it.  Read-only: it takes no lock, so it may look at
// the buffer of a running logferry (whose newest segment may then end in a
// record being written).
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "cli/commands.h"
#include "relay/buffer_record.h"
#include "relay/disk_queue.h"
#include "relay/node_id.h"

namespace logferry::cli {

const char* buffer_usage() {
  return "usage: logferry buffer inspect DIR [--messages]\n"
         "       logferry buffer verify DIR\n"
         "\n"
         "DIR is one disk buffer (the directory holding its NNNNNNNNNN.seg files) or\n"
         "the directory above several (dir() of disk-buffer(), by default\n"
         "PERSIST-DIR/buffers).\n"
         "\n"
         "inspect  prints, per buffer, the saved head and each segment: its bytes,\n"
         "         records, messages, and whether they check out; segments set aside\n"
         "         as corrupt (*.corrupt) are listed too; then the origin streams\n"
         "         (messages a relay received with ferry()) of the messages waiting,\n"
         "         with their batch numbers.  --messages instead prints every message\n"
         "         of the records that check out: segment, record offset, and the\n"
         "         message's MESSAGE text; a record of an origin batch is preceded by\n"
         "         a line segment, offset, '# origin HOST SOURCE NODE-ID batch SEQ'.\n"
         "         Exits 1 when it finds a problem (as verify), else 0.\n"
         "verify   checks every record's checksum and encoding; exits 1 when a\n"
         "         segment is corrupt or one was set aside, else 0.\n";
}

namespace {

// The origin streams of the messages waiting in a buffer: per stream, the
// batches' numbers and messages.
struct OriginSummary {
  uint64_t first = 0, last = 0, batches = 0, messages = 0;
};

std::string origin_text(const buffer_record::RunHeader& h) {
  return (h.origin.host.empty() ? "-" : h.origin.host) + " " + h.origin.source + " " + node_id_hex(h.origin.node);
}

bool is_buffer_dir(const std::string& dir) {
  struct stat st;
  std::vector<uint64_t> segs;
  std::string err;
  return stat((dir + "/head").c_str(), &st) == 0 || stat((dir + "/lock").c_str(), &st) == 0 ||
         (list_segments(dir, &segs, &err) && !segs.empty());
}

std::vector<std::string> corrupt_files(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name.ends_with(".corrupt")) out.push_back(name);
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Checks (and, with `print`, shows) one buffer; returns its problems.
int check_buffer(const std::string& dir, bool print, bool messages) {
  std::vector<uint64_t> numbers;
  std::string err;
  if (!list_segments(dir, &numbers, &err)) {
    fprintf(stderr, "logferry buffer: %s\n", err.c_str());
    return 1;
  }
  QueuePosition head{numbers.empty() ? 0 : numbers.front(), 0};
  bool have_head = read_head(dir, &head);
  if (print) {
    printf("buffer %s\n", dir.c_str());
    if (have_head)
      printf("  head: segment %llu offset %llu\n", static_cast<unsigned long long>(head.segment),
             static_cast<unsigned long long>(head.offset));
    else
      printf("  head: none saved (replay starts at the oldest segment)\n");
  }
  int problems = 0;
  uint64_t waiting = 0, bytes = 0;
  LogMessage msg;
  buffer_record::RecordReader reader;
  std::map<std::string, OriginSummary> origins;
  for (size_t i = 0; i < numbers.size(); ++i) {
    std::string path = segment_path(dir, numbers[i]);
    std::string name = path.substr(dir.size() + 1);
    SegmentScan scan;
    std::string io;
    uint64_t bad_records = 0, before_head = 0, seg_messages = 0, seg_waiting = 0;
    bool ok = scan_segment(path, &scan, [&](uint64_t off, std::string_view rec) {
      bool at_or_after = numbers[i] > head.segment || (numbers[i] == head.segment && off >= head.offset);
      if (!at_or_after) ++before_head;
      bool good = reader.open(rec);
      const buffer_record::RunHeader& h = reader.header();
      if (good && print && messages && h.from_origin())
        printf("%s\t%llu\t# origin %s batch %llu\n", name.c_str(), static_cast<unsigned long long>(off),
               origin_text(h).c_str(), static_cast<unsigned long long>(h.origin_seq));
      uint64_t n = 0;
      while (good && reader.next(&msg)) {
        ++n;
        if (print && messages) {
          std::string_view text = msg.get(Field::kMessage);
          printf("%s\t%llu\t%.*s\n", name.c_str(), static_cast<unsigned long long>(off),
                 static_cast<int>(text.size()), text.data());
        }
      }
      if (!good || !reader.error().empty()) {
        ++bad_records;
        if (print && messages)
          printf("%s\t%llu\t(does not decode: %s)\n", name.c_str(), static_cast<unsigned long long>(off),
                 reader.error().c_str());
      }
      seg_messages += n;
      if (!at_or_after) return;
      seg_waiting += n;
      if (good && h.from_origin()) {
        OriginSummary& o = origins[origin_text(h)];
        if (o.batches == 0 || h.origin_seq < o.first) o.first = h.origin_seq;
        if (h.origin_seq > o.last) o.last = h.origin_seq;
        o.batches += !(h.flags & buffer_record::kContinues);
        o.messages += n;
      }
    }, &io);
    if (!ok) {
      fprintf(stderr, "logferry buffer: %s\n", io.c_str());
      ++problems;
      continue;
    }
    std::string status = "ok";
    if (!scan.error.empty()) {
      status = "CORRUPT: " + scan.error;
      ++problems;
    } else if (scan.torn_tail) {
      bool last = i + 1 == numbers.size();
      status = last ? "ok; ends in a record cut short (a crash, or a write in progress), cut at the next start"
                    : "CORRUPT: ends in the middle of a record";
      if (!last) ++problems;
    }
    if (bad_records > 0) {
      status += "; " + std::to_string(bad_records) + " records do not decode";
      ++problems;
    }
    waiting += seg_waiting;
    bytes += scan.file_bytes;
    if (print && !messages)
      printf("  %s  %llu bytes  %llu records  %llu messages%s  %s\n", name.c_str(),
             static_cast<unsigned long long>(scan.file_bytes), static_cast<unsigned long long>(scan.records),
             static_cast<unsigned long long>(seg_messages),
             before_head ? (" (" + std::to_string(before_head) + " records before the head)").c_str() : "",
             status.c_str());
    else if (!print && status != "ok" && !status.starts_with("ok;"))
      fprintf(stderr, "%s: %s\n", path.c_str(), status.c_str());
  }
  for (const auto& c : corrupt_files(dir)) {
    ++problems;
    if (print && !messages) printf("  %s  set aside as corrupt\n", c.c_str());
    else if (!print) fprintf(stderr, "%s/%s: set aside as corrupt\n", dir.c_str(), c.c_str());
  }
  if (print && !messages) {
    for (const auto& [who, o] : origins)
      printf("  origin %s: batches %llu-%llu (%llu), %llu messages\n", who.c_str(),
             static_cast<unsigned long long>(o.first), static_cast<unsigned long long>(o.last),
             static_cast<unsigned long long>(o.batches), static_cast<unsigned long long>(o.messages));
    printf("  %llu messages waiting, %llu bytes in segments\n", static_cast<unsigned long long>(waiting),
           static_cast<unsigned long long>(bytes));
  }
  return problems;
}

}  // namespace

int buffer_command(const Args& args) {
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
    fputs(buffer_usage(), stdout);
    return 0;
  }
  if (args.size() < 2 || (args[0] != "inspect" && args[0] != "verify")) {
    fputs(buffer_usage(), stderr);
    return 2;
  }
  bool inspect = args[0] == "inspect";
  bool messages = false;
  std::string dir;
  for (size_t i = 1; i < args.size(); ++i) {
    if (inspect && args[i] == "--messages") messages = true;
    else if (dir.empty() && !args[i].starts_with("-")) dir = args[i];
    else {
      fprintf(stderr, "logferry buffer: unexpected '%s'\n\n%s", args[i].c_str(), buffer_usage());
      return 2;
    }
  }
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "logferry buffer: %s is not a directory\n", dir.c_str());
    return 2;
  }
  std::vector<std::string> buffers;
  if (is_buffer_dir(dir)) {
    buffers.push_back(dir);
  } else if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != ".." && is_buffer_dir(dir + "/" + name)) buffers.push_back(dir + "/" + name);
    }
    closedir(d);
    std::sort(buffers.begin(), buffers.end());
  }
  if (buffers.empty()) {
    fprintf(stderr, "logferry buffer: no disk buffer in %s\n", dir.c_str());
    return inspect ? 0 : 1;
  }
  int problems = 0;
  for (const auto& b : buffers) problems += check_buffer(b, inspect, messages);
  if (!inspect)
    printf("%zu buffers checked: %s\n", buffers.size(),
           problems ? (std::to_string(problems) + " problems").c_str() : "every record checks out");
  return problems ? 1 : 0;
}

}  // namespace logferry::cli
