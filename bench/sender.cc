// lf-sender: the load generator and checker of bench/compare.sh.
//
// Plain C++17 and POSIX sockets, no dependencies:
//
//   c++ -O2 -pthread -o lf-sender bench/sender.cc
//
// It generates every message into memory before the clock starts, so that
// sending costs little more than the system calls (far less CPU than
// syslog-ng's loggen, which formats each message as it sends it):
//
//   lf-sender tcp  --port P --count N [--conns K] [--wait FILE] [--settle MS]
//       N distinct RFC 3164 lines (about 200 bytes each) over K TCP
//       connections (default 1), written in large chunks as fast as the
//       receiver takes them.
//   lf-sender udp  --port P --rate R --seconds S [--wait FILE] [--settle MS]
//       R*S messages, one datagram each, at R messages per second, paced in
//       small bursts (sendmmsg every 100 us).
//
//   With --wait FILE, after sending it follows FILE (the receiver's output)
//   and stops when FILE holds as many complete lines as were sent, or when
//   FILE has not grown for --settle milliseconds after the last send (loss).
//   It prints one line of key=value pairs:
//     sent=         messages sent (successful send calls)
//     send_s=       seconds from the first byte sent to the last
//     lines=        complete lines in FILE when it stopped
//     last_line_s=  seconds from the first byte sent until FILE first held
//                   `lines` lines (the last line written)
//     cpu_s=        this process's user+system CPU while sending and waiting
//     avg_len=      mean message length in bytes (without the LF)
//
//   lf-sender check FILE N
//       Reads FILE (one message per line, each with "seq=NNNNNNNNN") and
//       prints lines=, distinct=, dup= (lines whose sequence number was
//       already seen), missing= (of sequence numbers 0..N-1), other= (lines
//       without a sequence number), altered= (lines whose sequence number is
//       known but that do not end with that message's text, the part after
//       "<PRI>STAMP HOST ": a message split, mangled or truncated; every
//       server of the benchmark writes that text as its line's end, so 0
//       altered and 0 missing for every tool means their outputs hold the
//       same messages).
//   lf-sender sink tcp|udp --port P --out FILE
//       The baseline "raw byte copy" receiver: writes every complete line it
//       receives (TCP) or every datagram plus a LF (UDP) to FILE, parsing
//       nothing, until SIGTERM.  One thread, poll() over the connections.
//   lf-sender freeport
//       Prints a loopback port that is free for both TCP and UDP right now.
//   lf-sender sample N
//       Prints the first N generated lines (to look at them).
//
// Every message's text ends with "seq=" and a 9-digit sequence number, so
// loss and duplicates can be counted exactly, whatever the receiver's output
// template adds in front.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double cpu_s() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

[[noreturn]] void die(const char* what) {
  fprintf(stderr, "lf-sender: %s: %s\n", what, strerror(errno));
  exit(1);
}

[[noreturn]] void usage() {
  fputs("usage: lf-sender tcp --port P --count N [--conns K] [--wait FILE] [--settle MS]\n"
        "       lf-sender udp --port P --rate R --seconds S [--wait FILE] [--settle MS]\n"
        "       lf-sender check FILE N\n"
        "       lf-sender sink tcp|udp --port P --out FILE\n"
        "       lf-sender freeport\n"
        "       lf-sender sample N\n",
        stderr);
  exit(2);
}

// ---------------------------------------------------------------------------
// The messages

// A small deterministic generator (xorshift), so that every run sends the
// same lines.
struct Rng {
  uint64_t s = 0x9e3779b97f4a7c15ULL;
  uint32_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return static_cast<uint32_t>(s >> 11);
  }
  uint32_t below(uint32_t n) { return next() % n; }
};

const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
const char* const kHosts[] = {"web01", "web02", "web03", "web04", "db01", "db02", "mail01",
                              "bastion", "app01", "app02", "cache01", "lb01"};
const char* const kUsers[] = {"deploy", "root", "alice", "backup", "jenkins", "postgres"};
const char* const kPaths[] = {"/api/v1/orders", "/api/v1/items", "/static/app.js", "/login",
                              "/api/v2/search", "/healthz", "/images/logo.png"};
const char* const kAgents[] = {"Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
                               "curl/7.88.1", "Go-http-client/1.1",
                               "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"};

// Appends one message (no LF) to out: "<PRI>Mmm dd hh:mm:ss HOST TAG: TEXT seq=NNNNNNNNN".
void append_message(std::string* out, uint32_t seq, Rng& r, const tm& base) {
  char head[96];
  static const int kFacilities[] = {1, 3, 4, 9, 10, 16, 17, 18, 19, 20, 21, 22, 23};
  int pri = kFacilities[r.below(13)] * 8 + static_cast<int>(r.below(8));
  // The stamps walk back over the last minute, staying in the past.
  tm t = base;
  int back = static_cast<int>(seq % 60);
  t.tm_sec -= back;
  time_t tt = timegm(&t);
  tm u;
  gmtime_r(&tt, &u);
  const char* host = kHosts[r.below(12)];
  int hl = snprintf(head, sizeof head, "<%d>%s %2d %02d:%02d:%02d %s ", pri, kMonths[u.tm_mon], u.tm_mday,
                    u.tm_hour, u.tm_min, u.tm_sec, host);
  out->append(head, static_cast<size_t>(hl));
  char body[320];
  int bl = 0;
  unsigned a = r.below(254) + 1, b = r.below(254) + 1, port = 1024 + r.below(60000);
  unsigned pid = 100 + r.below(60000);
  switch (r.below(6)) {
    case 0:
      bl = snprintf(body, sizeof body,
                    "sshd[%u]: Accepted publickey for %s from 192.0.2.%u port %u ssh2: ED25519 "
                    "SHA256:%08x%08x%08x session=%u",
                    pid, kUsers[r.below(6)], a, port, r.next(), r.next(), r.next(), r.next() % 100000);
      break;
    case 1:
      bl = snprintf(body, sizeof body,
                    "nginx[%u]: 198.51.100.%u - - \"GET %s?page=%u HTTP/1.1\" 200 %u \"-\" \"%s\" rt=0.%03u",
                    pid, a, kPaths[r.below(7)], r.below(50), 200 + r.below(90000), kAgents[r.below(4)],
                    r.below(1000));
      break;
    case 2:
      bl = snprintf(body, sizeof body,
                    "postfix/smtpd[%u]: %08X%03X: client=mail%u.example.net[203.0.113.%u], sasl_method=PLAIN, "
                    "sasl_username=%s@example.org, size=%u",
                    pid, r.next(), r.below(4096), b, a, kUsers[r.below(6)], r.below(1000000));
      break;
    case 3:
      bl = snprintf(body, sizeof body,
                    "kernel: [%u.%06u] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:%02x:%02x:%02x SRC=203.0.113.%u "
                    "DST=10.0.0.%u LEN=60 TTL=%u ID=%u PROTO=TCP SPT=%u DPT=22 WINDOW=64240 SYN",
                    r.below(9000000), r.below(1000000), a, b, a ^ b, a, b, 40 + r.below(30),
                    r.below(65536), port);
      break;
    case 4:
      bl = snprintf(body, sizeof body,
                    "CRON[%u]: (%s) CMD (   cd / && run-parts --report /etc/cron.hourly >/dev/null 2>&1; "
                    "/usr/local/bin/rotate-%u.sh)",
                    pid, kUsers[r.below(6)], r.below(100));
      break;
    default:
      bl = snprintf(body, sizeof body,
                    "app[%u]: level=info component=billing request_id=%08x%08x user=%s latency_ms=%u "
                    "status=ok items=%u region=eu-west-%u",
                    pid, r.next(), r.next(), kUsers[r.below(6)], r.below(5000), r.below(40), r.below(3) + 1);
      break;
  }
  out->append(body, static_cast<size_t>(std::min(bl, static_cast<int>(sizeof body) - 1)));
  char tail[48];
  int tl = snprintf(tail, sizeof tail, " trace=%08x%08x seq=%09u", r.next(), r.next(), seq);
  out->append(tail, static_cast<size_t>(tl));
}

// All n messages, back to back, each followed by '\n' (TCP) or not (UDP);
// offs[i] is where message i starts, offs[n] the end.
void generate(uint32_t n, bool newline, std::string* data, std::vector<size_t>* offs) {
  time_t now = time(nullptr);
  tm base;
  gmtime_r(&now, &base);
  Rng r;
  data->clear();
  data->reserve(static_cast<size_t>(n) * 215);
  offs->assign(1, 0);
  offs->reserve(static_cast<size_t>(n) + 1);
  for (uint32_t i = 0; i < n; ++i) {
    append_message(data, i, r, base);
    if (newline) data->push_back('\n');
    offs->push_back(data->size());
  }
}

// ---------------------------------------------------------------------------
// Sockets

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

int tcp_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  int sz = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  sockaddr_in a = loopback(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("connect");
  return fd;
}

bool write_all(int fd, const char* p, size_t n) {
  static constexpr size_t kChunk = 1 << 20;
  while (n > 0) {
    ssize_t w = write(fd, p, std::min(n, kChunk));
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// ---------------------------------------------------------------------------
// Following the receiver's output file

struct WaitResult {
  uint64_t lines = 0;
  double last_line_s = 0;  // since t0
};

// Counts the complete lines of `path` as it grows, until it holds `want`
// lines, or it has not grown for settle_s since max(last growth, send_end).
WaitResult follow(const char* path, uint64_t want, double t0, double send_end, double settle_s) {
  WaitResult res;
  std::vector<char> buf(1 << 20);
  int fd = -1;
  double last_change = send_end;
  timespec pause{0, 1000000};  // 1 ms between polls when nothing is new
  for (;;) {
    if (fd < 0) fd = open(path, O_RDONLY);
    bool grew = false;
    if (fd >= 0) {
      for (;;) {
        ssize_t n = read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        const char* p = buf.data();
        const char* e = p + n;
        while ((p = static_cast<const char*>(memchr(p, '\n', static_cast<size_t>(e - p))))) {
          ++res.lines;
          ++p;
        }
        grew = true;
      }
    }
    double t = now_s();
    if (grew) {
      res.last_line_s = t - t0;
      last_change = std::max(t, send_end);
    }
    if (res.lines >= want) break;
    if (t - last_change > settle_s) break;
    nanosleep(&pause, nullptr);
  }
  if (fd >= 0) close(fd);
  return res;
}

// ---------------------------------------------------------------------------
// Commands

struct Options {
  int port = 0;
  uint64_t count = 0;
  int conns = 1;
  double rate = 0;
  double seconds = 0;
  const char* wait = nullptr;
  double settle_s = 3.0;
};

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) usage();
    const char* v = argv[++i];
    if (a == "--port") o.port = atoi(v);
    else if (a == "--count") o.count = strtoull(v, nullptr, 10);
    else if (a == "--conns") o.conns = atoi(v);
    else if (a == "--rate") o.rate = atof(v);
    else if (a == "--seconds") o.seconds = atof(v);
    else if (a == "--wait") o.wait = v;
    else if (a == "--settle") o.settle_s = atof(v) / 1000.0;
    else usage();
  }
  if (o.port <= 0 || o.port > 65535 || o.conns < 1) usage();
  return o;
}

void report(uint64_t sent, double send_s, const WaitResult& w, bool waited, double cpu, double avg_len,
            uint64_t send_errors) {
  printf("sent=%llu send_errors=%llu send_s=%.4f", static_cast<unsigned long long>(sent),
         static_cast<unsigned long long>(send_errors), send_s);
  if (waited) printf(" lines=%llu last_line_s=%.4f", static_cast<unsigned long long>(w.lines), w.last_line_s);
  printf(" cpu_s=%.3f avg_len=%.1f\n", cpu, avg_len);
}

int cmd_tcp(const Options& o) {
  if (o.count == 0 || o.count > 100000000) usage();
  std::string data;
  std::vector<size_t> offs;
  generate(static_cast<uint32_t>(o.count), true, &data, &offs);
  double avg = static_cast<double>(data.size()) / static_cast<double>(o.count) - 1.0;
  // Slices of whole lines, one per connection.
  int k = static_cast<int>(std::min<uint64_t>(static_cast<uint64_t>(o.conns), o.count));
  std::vector<int> fds;
  for (int i = 0; i < k; ++i) fds.push_back(tcp_connect(o.port));
  std::atomic<bool> ok{true};
  double c0 = cpu_s();
  double t0 = now_s();
  std::vector<std::thread> threads;
  for (int i = 0; i < k; ++i) {
    size_t from = offs[o.count * static_cast<uint64_t>(i) / static_cast<uint64_t>(k)];
    size_t to = offs[o.count * static_cast<uint64_t>(i + 1) / static_cast<uint64_t>(k)];
    threads.emplace_back([&, i, from, to] {
      if (!write_all(fds[i], data.data() + from, to - from)) ok = false;
      shutdown(fds[i], SHUT_WR);
    });
  }
  for (auto& t : threads) t.join();
  double t1 = now_s();
  if (!ok) die("write");
  WaitResult w;
  if (o.wait) w = follow(o.wait, o.count, t0, t1, o.settle_s);
  for (int fd : fds) close(fd);
  report(o.count, t1 - t0, w, o.wait != nullptr, cpu_s() - c0, avg, 0);
  return 0;
}

int cmd_udp(const Options& o) {
  if (o.rate <= 0 || o.seconds <= 0) usage();
  uint64_t n = static_cast<uint64_t>(o.rate * o.seconds);
  if (n == 0 || n > 100000000) usage();
  std::string data;
  std::vector<size_t> offs;
  generate(static_cast<uint32_t>(n), false, &data, &offs);
  double avg = static_cast<double>(data.size()) / static_cast<double>(n);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  int sz = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  sockaddr_in a = loopback(o.port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("connect");

  // Bursts every 100 us: message i is due at t0 + i / rate.
  static constexpr int kMaxBurst = 256;
  const double interval = 100e-6;
  std::vector<mmsghdr> msgs(kMaxBurst);
  std::vector<iovec> iov(kMaxBurst);
  uint64_t sent = 0, errors = 0, next = 0;
  double c0 = cpu_s();
  double t0 = now_s();
  timespec tick;
  clock_gettime(CLOCK_MONOTONIC, &tick);
  while (next < n) {
    double t = now_s();
    uint64_t due = std::min<uint64_t>(n, static_cast<uint64_t>((t - t0) * o.rate) + 1);
    while (next < due) {
      int m = static_cast<int>(std::min<uint64_t>(due - next, kMaxBurst));
      for (int j = 0; j < m; ++j) {
        iov[j].iov_base = data.data() + offs[next + j];
        iov[j].iov_len = offs[next + j + 1] - offs[next + j];
        msgs[j] = mmsghdr{};
        msgs[j].msg_hdr.msg_iov = &iov[j];
        msgs[j].msg_hdr.msg_iovlen = 1;
      }
      int r = sendmmsg(fd, msgs.data(), static_cast<unsigned>(m), 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        // ECONNREFUSED (no listener yet) or ENOBUFS: that message is lost here.
        ++errors;
        ++next;
        continue;
      }
      sent += static_cast<uint64_t>(r);
      next += static_cast<uint64_t>(r);
    }
    tick.tv_nsec += static_cast<long>(interval * 1e9);
    while (tick.tv_nsec >= 1000000000) {
      tick.tv_nsec -= 1000000000;
      ++tick.tv_sec;
    }
    timespec cur;
    clock_gettime(CLOCK_MONOTONIC, &cur);
    if (cur.tv_sec > tick.tv_sec || (cur.tv_sec == tick.tv_sec && cur.tv_nsec > tick.tv_nsec)) {
      tick = cur;  // behind: send what is due at once, no sleep
    } else {
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &tick, nullptr);
    }
  }
  double t1 = now_s();
  WaitResult w;
  if (o.wait) w = follow(o.wait, sent, t0, t1, o.settle_s);
  close(fd);
  report(sent, t1 - t0, w, o.wait != nullptr, cpu_s() - c0, avg, errors);
  return 0;
}

// Where message i's text starts (after "<PRI>Mmm dd hh:mm:ss HOST ").
std::string_view message_text(const std::string& data, const std::vector<size_t>& offs, size_t i) {
  std::string_view m(data.data() + offs[i], offs[i + 1] - offs[i]);
  size_t host = m.find('>') + 1 + 16;  // "Mmm dd hh:mm:ss "
  size_t sp = m.find(' ', host);
  return sp == std::string_view::npos ? m : m.substr(sp + 1);
}

int cmd_check(const char* path, uint64_t n) {
  int fd = open(path, O_RDONLY);
  std::vector<uint8_t> seen(n, 0);
  uint64_t lines = 0, distinct = 0, dup = 0, other = 0, altered = 0;
  std::string sent;
  std::vector<size_t> offs;
  generate(static_cast<uint32_t>(n), false, &sent, &offs);
  if (fd >= 0) {
    std::vector<char> buf(1 << 20);
    std::string carry;
    auto line = [&](const char* p, size_t len) {
      ++lines;
      // "seq=" and 9 digits end the message; look from the end of the line.
      std::string_view s(p, len);
      while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.remove_suffix(1);
      size_t at = s.rfind("seq=");
      if (at == std::string_view::npos || s.size() - at != 13) {
        ++other;
        return;
      }
      uint64_t v = 0;
      for (size_t i = at + 4; i < s.size(); ++i) {
        if (s[i] < '0' || s[i] > '9') {
          ++other;
          return;
        }
        v = v * 10 + static_cast<uint64_t>(s[i] - '0');
      }
      if (v >= n) {
        ++other;
        return;
      }
      std::string_view text = message_text(sent, offs, v);
      if (s.size() < text.size() || s.substr(s.size() - text.size()) != text) ++altered;
      if (seen[v]) ++dup;
      else {
        seen[v] = 1;
        ++distinct;
      }
    };
    for (;;) {
      ssize_t r = read(fd, buf.data(), buf.size());
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      const char* p = buf.data();
      const char* e = p + r;
      while (p < e) {
        const char* nl = static_cast<const char*>(memchr(p, '\n', static_cast<size_t>(e - p)));
        if (!nl) {
          carry.append(p, static_cast<size_t>(e - p));
          break;
        }
        if (!carry.empty()) {
          carry.append(p, static_cast<size_t>(nl - p));
          line(carry.data(), carry.size());
          carry.clear();
        } else {
          line(p, static_cast<size_t>(nl - p));
        }
        p = nl + 1;
      }
    }
    if (!carry.empty()) line(carry.data(), carry.size());
    close(fd);
  }
  printf("lines=%llu distinct=%llu dup=%llu missing=%llu other=%llu altered=%llu\n",
         static_cast<unsigned long long>(lines), static_cast<unsigned long long>(distinct),
         static_cast<unsigned long long>(dup), static_cast<unsigned long long>(n - distinct),
         static_cast<unsigned long long>(other), static_cast<unsigned long long>(altered));
  return 0;
}

// ---------------------------------------------------------------------------
// The raw byte copy baseline

volatile sig_atomic_t g_stop = 0;

bool write_out(int fd, const char* p, size_t n) { return write_all(fd, p, n); }

int cmd_sink(int argc, char** argv) {
  if (argc < 3) usage();
  std::string proto = argv[2];
  int port = 0;
  const char* out_path = nullptr;
  for (int i = 3; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--port") port = atoi(argv[i + 1]);
    else if (a == "--out") out_path = argv[i + 1];
    else usage();
  }
  if ((proto != "tcp" && proto != "udp") || port <= 0 || !out_path) usage();
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_stop = 1; };
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  if (out < 0) die("open");
  sockaddr_in a = loopback(port);
  std::vector<char> buf(1 << 20);
  if (proto == "udp") {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int sz = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind");
    static constexpr int kBatch = 64, kMax = 8192;
    std::vector<char> dgrams(static_cast<size_t>(kBatch) * kMax);
    std::vector<mmsghdr> msgs(kBatch);
    std::vector<iovec> iov(kBatch);
    std::string line_buf;
    pollfd p{fd, POLLIN, 0};
    while (!g_stop) {
      if (poll(&p, 1, 100) <= 0) continue;
      for (int j = 0; j < kBatch; ++j) {
        iov[j] = iovec{dgrams.data() + static_cast<size_t>(j) * kMax, kMax};
        msgs[j] = mmsghdr{};
        msgs[j].msg_hdr.msg_iov = &iov[j];
        msgs[j].msg_hdr.msg_iovlen = 1;
      }
      int n = recvmmsg(fd, msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
      if (n <= 0) continue;
      line_buf.clear();
      for (int j = 0; j < n; ++j) {
        line_buf.append(static_cast<const char*>(iov[j].iov_base), msgs[j].msg_len);
        line_buf.push_back('\n');
      }
      if (!write_out(out, line_buf.data(), line_buf.size())) die("write");
    }
    close(fd);
    close(out);
    return 0;
  }
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (lfd < 0 || bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(lfd, 64) != 0) die("listen");
  std::vector<pollfd> fds{{lfd, POLLIN, 0}};
  std::vector<std::string> partial{""};  // per connection: the bytes after its last LF
  auto finish = [&](size_t i) {
    if (!partial[i].empty()) {
      partial[i].push_back('\n');
      write_out(out, partial[i].data(), partial[i].size());
    }
    close(fds[i].fd);
    fds.erase(fds.begin() + static_cast<long>(i));
    partial.erase(partial.begin() + static_cast<long>(i));
  };
  while (!g_stop) {
    if (poll(fds.data(), fds.size(), 100) <= 0) continue;
    if (fds[0].revents & POLLIN) {
      int c = accept(lfd, nullptr, nullptr);
      if (c >= 0) {
        fds.push_back({c, POLLIN, 0});
        partial.emplace_back();
      }
    }
    for (size_t i = fds.size() - 1; i >= 1; --i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        finish(i);
        continue;
      }
      // Only whole lines go out, so lines of different connections never mix.
      const char* last = static_cast<const char*>(memrchr(buf.data(), '\n', static_cast<size_t>(n)));
      if (!last) {
        partial[i].append(buf.data(), static_cast<size_t>(n));
        continue;
      }
      size_t upto = static_cast<size_t>(last - buf.data()) + 1;
      if (!partial[i].empty()) {
        partial[i].append(buf.data(), upto);
        if (!write_out(out, partial[i].data(), partial[i].size())) die("write");
        partial[i].clear();
      } else if (!write_out(out, buf.data(), upto)) {
        die("write");
      }
      partial[i].assign(buf.data() + upto, static_cast<size_t>(n) - upto);
    }
  }
  while (fds.size() > 1) finish(fds.size() - 1);
  close(lfd);
  close(out);
  return 0;
}

bool bindable(int type, int port) {
  int fd = socket(AF_INET, type, 0);
  if (fd < 0) return false;
  sockaddr_in a = loopback(port);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

int cmd_freeport() {
  for (int attempt = 0; attempt < 100; ++attempt) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    sockaddr_in a = loopback(0);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind");
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    close(fd);
    int port = ntohs(a.sin_port);
    if (bindable(SOCK_STREAM, port) && bindable(SOCK_DGRAM, port)) {
      printf("%d\n", port);
      return 0;
    }
  }
  fputs("lf-sender: no free port found\n", stderr);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage();
  std::string cmd = argv[1];
  if (cmd == "tcp") return cmd_tcp(parse_options(argc, argv));
  if (cmd == "udp") return cmd_udp(parse_options(argc, argv));
  if (cmd == "check" && argc == 4) return cmd_check(argv[2], strtoull(argv[3], nullptr, 10));
  if (cmd == "freeport" && argc == 2) return cmd_freeport();
  if (cmd == "sink") return cmd_sink(argc, argv);
  if (cmd == "sample" && argc == 3) {
    std::string data;
    std::vector<size_t> offs;
    uint32_t n = static_cast<uint32_t>(strtoul(argv[2], nullptr, 10));
    generate(n, true, &data, &offs);
    fwrite(data.data(), 1, data.size(), stdout);
    return 0;
  }
  usage();
}
