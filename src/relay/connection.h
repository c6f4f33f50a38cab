// One TCP connection or connected UDP socket of a network destination (or a
// failback probe), and what it knows about the bytes it wrote: the write in
// flight, and on TCP the earlier writes the peer may not have acknowledged
// yet, for the loss estimate when the connection breaks.  Also the
// cancellable name resolution that precedes every connection attempt.
#pragma once

#include <netdb.h>
#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/pipeline.h"

namespace logferry {

class Connection;

// What a Connection tells whoever opened it.  The calls come from libuv
// callbacks, and write_done() and broken() also synchronously from inside
// write() and send().  None comes after close().
class ConnectionEvents {
 public:
  virtual ~ConnectionEvents() = default;
  // TCP: the connect finished; status 0 or a libuv error.
  virtual void connect_done(Connection* c, int status) = 0;
  // The write in flight is finished (TCP: all its bytes are in the kernel;
  // UDP: every datagram of it was sent or failed and was counted).
  virtual void write_done(Connection*) {}
  // TCP: the peer closed or reset the connection, or a write failed.
  // `fresh`: the kernel's send queue can still be read (possibly_lost()).
  virtual void broken(Connection*, const std::string& /*reason*/, bool /*fresh*/) {}
  // UDP: the peer answered "port unreachable".
  virtual void refused(Connection*) {}
  // TCP: bytes the peer sent (a protocol's answers; network() and syslog()
  // ignore them).
  virtual void received(Connection*, std::string_view /*bytes*/) {}
};

// Heap-allocated because closing is asynchronous: libuv calls the callbacks
// of its pending requests (with UV_ECANCELED) and then its close callback,
// which deletes it.
class Connection {
 public:
  // A new socket, or nullptr.  `counters` get `out` and `errors` of what it
  // writes; `outstanding` counts the handles not yet closed (one more until
  // this one is).
  static Connection* open(uv_loop_t* loop, bool tcp, ConnectionEvents* events, Counters* counters,
                          size_t* outstanding);

  // TCP: starts connecting (connect_done() follows).  UDP: connects the
  // socket at once.  Returns 0 or a libuv error.
  int connect(const sockaddr* sa);
  // The connection is up: sets its options and (TCP) starts reading, so
  // that the peer's close is known at once instead of at the next write.
  void start(bool keepalive, int sndbuf, uint64_t now_ms);
  // Closes the socket; a write in flight is cancelled.  Idempotent.
  void close();

  bool tcp() const { return tcp_; }
  bool connected() const { return connected_; }
  bool writing() const { return writing_; }
  // The write in flight: the stream offset of its first byte, its messages.
  uint64_t write_start() const { return wstart_; }
  uint64_t write_msgs() const { return wmsgs_; }
  // Bytes libuv still holds for the write in flight (TCP).
  size_t write_queue_size();
  uint64_t connected_ms() const { return connected_ms_; }

  // TCP: false (after calling broken()) when the peer has closed or reset
  // the connection.  Checked right before a write, so that messages are not
  // written into a dead socket when its FIN arrived in the same loop
  // iteration as they did.
  bool peer_alive();
  // TCP: hands `buf` (its bytes are taken; it is left empty), `msgs`
  // messages starting at stream offset `start`, to the kernel: at once
  // where it takes them, the rest as the socket drains.  write_done() or
  // broken() may be called before it returns.
  void write(std::string& buf, uint64_t msgs, uint64_t start);
  // UDP: sends datagrams (buf split at `ends`) with uv_udp_try_send until
  // the kernel would block.  Returns how many were handled (sent, or failed
  // and counted); *refused when the peer answered "port unreachable" (the
  // datagram that met that answer was not sent and is not counted).
  size_t try_send(const std::string& buf, const std::vector<size_t>& ends, bool* refused);
  // UDP: the datagrams the kernel did not take at once, as one write in
  // flight (uv_udp_send each); `buf` and `ends` are taken.
  void send(std::string& buf, std::vector<size_t>& ends, uint64_t start);

  // TCP: forgets the writes the peer acknowledged a while ago (SIOCOUTQ).
  void trim_acknowledged(uint64_t now_ms);
  // TCP: messages that may not have reached the peer's application: those
  // of the write in flight, of the writes of the last kHoldMs, and of
  // earlier writes the peer's TCP had not acknowledged (fresh: asked of the
  // kernel now; else as of the last trim).
  uint64_t possibly_lost(bool fresh);

  // Which server it belongs to (an index into the destination's list), its
  // "host:port" as configured and the address it connected to.
  int server = 0;
  std::string peer;
  std::string addr;

 private:
  Connection() = default;
  // One write handed to the kernel: the stream offset it ended at (of this
  // connection's bytes), its messages, and when it was written.
  struct SentChunk {
    uint64_t end;
    uint64_t msgs;
    uint64_t at_ms;
  };

  uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(&h_); }
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&h_.tcp); }
  int fd();
  void stream_written();
  void udp_batch_done();
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t*);

  union {
    uv_tcp_t tcp;
    uv_udp_t udp;
  } h_;
  uv_connect_t connect_req_{};
  uv_write_t write_req_{};
  uv_loop_t* loop_ = nullptr;
  ConnectionEvents* events_ = nullptr;
  Counters* counters_ = nullptr;
  size_t* outstanding_ = nullptr;
  bool tcp_ = true;
  bool dead_ = false;
  bool connected_ = false;
  bool writing_ = false;  // a uv_write (TCP) or a batch of uv_udp_send (UDP) is in flight
  bool refused_ = false;  // UDP: the peer answered "port unreachable"
  uint64_t connected_ms_ = 0;

  // The write in flight: its bytes, messages, first stream offset, and
  // (UDP) the end of each datagram.
  std::string wbuf_;
  uint64_t wmsgs_ = 0;
  uint64_t wstart_ = 0;
  std::vector<size_t> wends_;
  std::unique_ptr<uv_udp_send_t[]> sends_;
  size_t sends_left_ = 0;

  // TCP: bytes handed to the kernel so far, and the writes that may not be
  // acknowledged yet.
  uint64_t sent_bytes_ = 0;
  std::deque<SentChunk> sent_;
};

// A name resolution (uv_getaddrinfo) that can be cancelled.  It frees
// itself after its callback; `done` is not called once cancelled.
class Resolution {
 public:
  using Done = std::function<void(const std::vector<sockaddr_storage>& addrs, const std::string& error)>;
  // nullptr (and *error) when it cannot start.
  static Resolution* start(uv_loop_t* loop, const std::string& host, int port, bool tcp, int ip_protocol, Done done,
                           size_t* outstanding, std::string* error);
  // Safe on nullptr.
  static void cancel(Resolution* r);

 private:
  Resolution() = default;
  static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res);
  uv_getaddrinfo_t req_{};
  Done done_;
  size_t* outstanding_ = nullptr;
  bool cancelled_ = false;
};

// "127.0.0.1:514" or "[::1]:514".
std::string address_text(const sockaddr* sa);

}  // namespace logferry
