// Delivery tracking of the network() destinations, checked against the
// kernel: Destination::taken_through() must never report a flush whose
// bytes are still only in logferry's memory.
//
// Each scenario drives a real NetworkDestination on a libuv loop against
// receivers on loopback sockets that this program controls (reading or
// not), with small socket buffers so that writes back up.  It then
// "crashes" the destination (destroys it without close(): writes in flight
// are cancelled, pending bytes vanish, the kernel still delivers what it
// holds), reads everything the receivers got, and checks that every message
// of every flush up to the last taken_through() answer arrived.  Also:
// round-robin (a later batch finished on one server does not count while an
// earlier one waits on another), losses and shutdown counted as taken, and
// the reports that go to internal_log.
//
// Usage: relay_taken_through_check   (exit 0: passed; a message and 1 else)
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/template.h"
#include "relay/delivery_marks.h"
#include "relay/network_destination.h"

using namespace logferry;

namespace {

int failures = 0;

#define CHECK(cond, ...)                                          \
  do {                                                            \
    if (!(cond)) {                                                \
      ++failures;                                                 \
      fprintf(stderr, "FAILED %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                               \
      fprintf(stderr, "\n");                                      \
    }                                                             \
  } while (0)

constexpr int kMsgsPerBatch = 10;
constexpr size_t kMsgSize = 1000;

// A listening socket and the connections it accepted; reads on demand.
struct Receiver {
  int lfd = -1;
  int port = 0;
  std::vector<int> conns;
  std::string data;  // everything read, all connections in order of acceptance
  bool reading = true;

  bool listen_on(const char* ip, int want_port) {
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1, small = 4096;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));  // inherited by accepted sockets
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(want_port));
    inet_pton(AF_INET, ip, &a.sin_addr);
    if (bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(lfd, 8) != 0) return false;
    socklen_t len = sizeof(a);
    getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    return true;
  }
  // Accepts, and reads what is there when `reading`.
  void poll() {
    for (;;) {
      int c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK);
      if (c < 0) break;
      conns.push_back(c);
    }
    if (reading) read_available();
  }
  void read_available() {
    char buf[65536];
    for (int c : conns) {
      for (;;) {
        ssize_t n = read(c, buf, sizeof(buf));
        if (n <= 0) break;
        data.append(buf, static_cast<size_t>(n));
      }
    }
  }
  // Reads every connection to its end (the sender has closed).
  void drain(int timeout_ms = 5000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    std::set<int> open(conns.begin(), conns.end());
    char buf[65536];
    while (!open.empty() && std::chrono::steady_clock::now() < deadline) {
      for (auto it = open.begin(); it != open.end();) {
        ssize_t n = read(*it, buf, sizeof(buf));
        if (n > 0) {
          data.append(buf, static_cast<size_t>(n));
          continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
          it = open.erase(it);
        } else {
          ++it;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  // Resets every connection (RST) and stops listening.
  void reset() {
    for (int c : conns) {
      linger l{1, 0};
      setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
      ::close(c);
    }
    conns.clear();
    if (lfd >= 0) ::close(lfd);
    lfd = -1;
  }
  ~Receiver() {
    for (int c : conns) ::close(c);
    if (lfd >= 0) ::close(lfd);
  }
};

struct Harness {
  uv_loop_t loop{};
  std::vector<Receiver*> receivers;
  std::vector<std::pair<int, std::string>> reports;
  std::shared_ptr<const Template> templ;

  Harness() {
    uv_loop_init(&loop);
    std::string err;
    templ = std::shared_ptr<const Template>(Template::compile("${MSG}\n", &err));
  }
  ~Harness() {
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
  }

  NetworkDestinationConfig config(std::vector<std::string> servers, int port, bool round_robin) {
    NetworkDestinationConfig c;
    c.driver = round_robin ? "network-load-balancer" : "network";
    c.servers = std::move(servers);
    c.round_robin = round_robin;
    c.port = port;
    c.format = NetworkDestinationConfig::Format::kTemplate;
    c.templ = templ;
    c.so_sndbuf = 4096;
    c.time_reopen = 1;
    c.shutdown_grace_ms = 500;
    return c;
  }

  std::unique_ptr<Destination> open(const NetworkDestinationConfig& c) {
    auto d = make_network_destination(c);
    d->internal_log = [this](int sev, const std::string& text) { reports.emplace_back(sev, text); };
    std::string err;
    d->open(&loop, &err);
    return d;
  }

  // Runs the loop (and the receivers) for `ms`, or until `done` holds.
  void run(int ms, const std::function<bool()>& done = nullptr) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < deadline) {
      uv_run(&loop, UV_RUN_NOWAIT);
      for (Receiver* r : receivers) r->poll();
      if (done && done()) return;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

  // Delivers batch `seq` (kMsgsPerBatch messages) and flushes it.
  void batch(Destination& d, uint64_t seq) {
    LogMessage m;
    for (int i = 0; i < kMsgsPerBatch; ++i) {
      char head[64];
      snprintf(head, sizeof(head), "b%06llu m%02d ", static_cast<unsigned long long>(seq), i);
      std::string text = head;
      text.resize(kMsgSize - 1, 'x');
      m.clear();
      m.set(Field::kMessage, text);
      d.deliver(m);
    }
    d.flush_seq = seq;
    d.flush();
  }

  bool reported(int sev, const std::string& part) const {
    for (const auto& [s, t] : reports)
      if (s == sev && t.find(part) != std::string::npos) return true;
    return false;
  }
  std::string all_reports() const {
    std::string s;
    for (const auto& [sev, t] : reports) s += "  <" + std::to_string(sev) + "> " + t + "\n";
    return s;
  }
};

// Messages per batch found in `data` (complete lines only).
std::map<uint64_t, int> batches_in(const std::string& data) {
  std::map<uint64_t, int> n;
  size_t pos = 0;
  while (true) {
    size_t nl = data.find('\n', pos);
    if (nl == std::string::npos) break;
    if (nl - pos == kMsgSize - 1 && data[pos] == 'b') n[std::strtoull(data.c_str() + pos + 1, nullptr, 10)]++;
    pos = nl + 1;
  }
  return n;
}

// Every flush up to `taken` arrived whole.
void check_arrived(const std::map<uint64_t, int>& got, uint64_t taken, const char* what) {
  for (uint64_t s = 1; s <= taken; ++s) {
    auto it = got.find(s);
    int n = it == got.end() ? 0 : it->second;
    CHECK(n == kMsgsPerBatch, "%s: taken_through said %llu, but batch %llu has %d of %d messages at the receivers",
          what, static_cast<unsigned long long>(taken), static_cast<unsigned long long>(s), n, kMsgsPerBatch);
    if (n != kMsgsPerBatch) return;
  }
}

// ---------------------------------------------------------------------------

void check_marks_logic() {
  DeliveryMarks m;
  CHECK(m.taken_through(7, 0, 0) == 7, "nothing rendered: latest");
  m.flushed(1, 100);
  m.flushed(2, 100);  // no bytes of its own
  m.flushed(4, 250);
  CHECK(m.taken_through(4, 0, 250) == 0, "nothing taken");
  CHECK(m.taken_through(4, 99, 250) == 0, "flush 1 not whole");
  CHECK(m.taken_through(4, 100, 250) == 3, "flushes 1-3 taken (2 added no bytes, 3 had none here), got %llu",
        static_cast<unsigned long long>(m.taken_through(4, 100, 250)));
  CHECK(m.taken_through(4, 250, 250) == 4, "all taken");
  m.release(100);
  CHECK(m.size() == 1, "released one mark");
  CHECK(m.taken_through(9, 250, 300) == 4, "bytes after the last flush belong to a later one");
  m.flushed(5, 300);
  CHECK(m.taken_through(9, 250, 300) == 4, "flush 5 not taken");
  CHECK(m.taken_through(9, 300, 300) == 9, "everything taken: latest");
  // Bounded: merging is conservative.
  DeliveryMarks big;
  for (uint64_t s = 1; s <= 10000; ++s) big.flushed(s, s * 10);
  CHECK(big.size() <= 4096, "marks are bounded (%zu)", big.size());
  CHECK(big.taken_through(10000, 5000, 100000) == 500, "prefix before the merged tail is exact");
  CHECK(big.taken_through(10000, 99990, 100000) <= 9999, "merged tail is conservative");
}

// One server that stops reading: taken_through stays below what is only in
// memory; after a crash every flush up to it arrived.
void check_tcp_backlog() {
  Harness h;
  Receiver r;
  CHECK(r.listen_on("127.0.0.1", 0), "listen");
  h.receivers.push_back(&r);
  auto d = h.open(h.config({"127.0.0.1"}, r.port, false));
  h.run(3000, [&] { return !r.conns.empty(); });
  CHECK(!r.conns.empty(), "the destination connected");
  // While the receiver reads, everything is taken.
  for (uint64_t seq = 1; seq <= 5; ++seq) h.batch(*d, seq);
  h.run(3000, [&] { return d->taken_through(5) == 5; });
  CHECK(d->taken_through(5) == 5, "taken while the receiver reads (%llu)",
        static_cast<unsigned long long>(d->taken_through(5)));
  r.reading = false;
  uint64_t last = 5;
  const uint64_t n = 300;  // 3 MB: far more than the socket buffers hold
  for (uint64_t seq = 6; seq <= n; ++seq) {
    h.batch(*d, seq);
    h.run(1);
    uint64_t t = d->taken_through(seq);
    CHECK(t >= last && t <= seq, "monotonic and bounded: %llu after %llu (latest %llu)",
          static_cast<unsigned long long>(t), static_cast<unsigned long long>(last),
          static_cast<unsigned long long>(seq));
    last = t;
  }
  h.run(200);
  uint64_t taken = d->taken_through(n);
  CHECK(taken >= 5, "what was taken stays taken (%llu)", static_cast<unsigned long long>(taken));
  CHECK(taken < n - 10, "most batches wait in memory (taken %llu of %llu)", static_cast<unsigned long long>(taken),
        static_cast<unsigned long long>(n));
  d.reset();  // crash: what is in memory is gone
  r.drain();
  check_arrived(batches_in(r.data), taken, "tcp backlog");
}

// Round-robin over two servers, the first of which stops reading: the
// second keeps taking batches, but taken_through stays below the batch
// stuck on the first.
void check_round_robin() {
  Harness h;
  Receiver a, b;
  CHECK(a.listen_on("127.0.0.1", 0), "listen a");
  if (!b.listen_on("127.0.0.2", a.port)) {
    fprintf(stderr, "SKIP round-robin: cannot listen on 127.0.0.2:%d\n", a.port);
    return;
  }
  h.receivers = {&a, &b};
  auto d = h.open(h.config({"127.0.0.1", "127.0.0.2"}, a.port, true));
  h.run(3000, [&] { return !a.conns.empty() && !b.conns.empty(); });
  CHECK(!a.conns.empty() && !b.conns.empty(), "connected to both");
  const uint64_t n = 200;
  for (uint64_t seq = 1; seq <= 20; ++seq) {
    h.batch(*d, seq);
    h.run(2);
  }
  h.run(2000, [&] { return d->taken_through(20) == 20; });
  CHECK(d->taken_through(20) == 20, "both reading: everything taken (%llu)",
        static_cast<unsigned long long>(d->taken_through(20)));
  auto ga = batches_in(a.data), gb = batches_in(b.data);
  CHECK(ga.size() >= 5 && gb.size() >= 5, "batches spread over both servers (%zu and %zu)", ga.size(), gb.size());
  a.reading = false;
  uint64_t last = 0;
  for (uint64_t seq = 21; seq <= n; ++seq) {
    h.batch(*d, seq);
    h.run(1);
    uint64_t t = d->taken_through(seq);
    CHECK(t >= last && t <= seq, "monotonic and bounded");
    last = t;
  }
  h.run(300);
  uint64_t taken = d->taken_through(n);
  b.read_available();
  auto got_b = batches_in(b.data);
  uint64_t newest_b = got_b.empty() ? 0 : got_b.rbegin()->first;
  CHECK(taken < n, "a batch waits on the server that does not read (taken %llu)", static_cast<unsigned long long>(taken));
  CHECK(newest_b > taken + 1, "the other server took later batches (%llu) than what is reported taken (%llu)",
        static_cast<unsigned long long>(newest_b), static_cast<unsigned long long>(taken));
  d.reset();
  a.drain();
  b.drain();
  auto got = batches_in(a.data);
  for (const auto& [s, k] : batches_in(b.data)) got[s] += k;
  check_arrived(got, taken, "round-robin");
  for (const auto& [s, k] : got) CHECK(k <= kMsgsPerBatch, "batch %llu arrived more than once", static_cast<unsigned long long>(s));
}

// A server that resets the connection and is gone: the write in flight is
// counted lost (taken); what waits is not, and stays untaken when shutdown gives up on it.
// Loss and shutdown reports go to internal_log as warnings.
void check_loss_and_shutdown() {
  Harness h;
  Receiver r;
  CHECK(r.listen_on("127.0.0.1", 0), "listen");
  h.receivers.push_back(&r);
  r.reading = false;
  auto d = h.open(h.config({"127.0.0.1"}, r.port, false));
  h.run(3000, [&] { return !r.conns.empty(); });
  const uint64_t n = 100;
  for (uint64_t seq = 1; seq <= n; ++seq) {
    h.batch(*d, seq);
    h.run(1);
  }
  uint64_t before = d->taken_through(n);
  CHECK(before < n, "a backlog (taken %llu)", static_cast<unsigned long long>(before));
  r.reset();
  h.run(3000, [&] { return h.reported(4, "lost ("); });
  CHECK(h.reported(4, "connection to 127.0.0.1:" + std::to_string(r.port) + " lost"),
        "the loss is reported as a warning; reports:\n%s", h.all_reports().c_str());
  CHECK(h.reported(4, "messages may be lost"), "with an estimate");
  uint64_t after = d->taken_through(n);
  CHECK(after >= before && after < n, "the lost write is taken, what waits is not (%llu -> %llu)",
        static_cast<unsigned long long>(before), static_cast<unsigned long long>(after));
  d->close();
  h.run(5000, [&] { return h.reported(4, "shutting down with"); });
  // What shutdown could not send never left: it stays untaken, so a file
  // source sends it again after the restart instead of skipping it.
  CHECK(d->taken_through(n) == after, "after shutdown gave up, what was not sent stays untaken (%llu, was %llu)",
        static_cast<unsigned long long>(d->taken_through(n)), static_cast<unsigned long long>(after));
  CHECK(h.reported(4, "shutting down with"), "the shutdown loss is reported; reports:\n%s", h.all_reports().c_str());
  d.reset();
}

// A server that comes back: the reconnect is reported as a notice and what
// waited is taken.
void check_reconnect_notice() {
  Harness h;
  Receiver r;
  int port;
  {
    Receiver probe;
    CHECK(probe.listen_on("127.0.0.1", 0), "listen");
    port = probe.port;
  }
  auto d = h.open(h.config({"127.0.0.1"}, port, false));
  h.run(300);
  for (uint64_t seq = 1; seq <= 5; ++seq) h.batch(*d, seq);
  CHECK(d->taken_through(5) == 0, "nothing taken while no server listens (%llu)",
        static_cast<unsigned long long>(d->taken_through(5)));
  CHECK(r.listen_on("127.0.0.1", port), "listen again");
  h.receivers.push_back(&r);
  h.run(5000, [&] { return d->taken_through(5) == 5; });
  CHECK(d->taken_through(5) == 5, "taken after the reconnect");
  CHECK(h.reported(5, "connected to 127.0.0.1:"), "the reconnect is a notice; reports:\n%s", h.all_reports().c_str());
  CHECK(h.reported(4, "cannot connect to"), "the failures are warnings");
  d->close();
  h.run(2000);
  d.reset();
}

}  // namespace

int main() {
  signal(SIGPIPE, SIG_IGN);
  check_marks_logic();
  check_tcp_backlog();
  check_round_robin();
  check_loss_and_shutdown();
  check_reconnect_notice();
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("taken_through checks passed\n");
  return 0;
}
