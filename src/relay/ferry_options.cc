// The config side of the ferry() destination: reading and checking its
// options into a FerryDestinationConfig, the line `logferry check` prints,
// and the registration of the driver.
#include "relay/disk_buffer.h"
#include "relay/ferry_codec.h"
#include "relay/ferry_destination.h"
#include "relay/ferry_dictionary.h"

namespace logferry {

std::string describe_ferry_destination(const FerryDestinationConfig& c) {
  const auto& l = c.link;
  std::string s = "ferry() " + host_port(l.servers.empty() ? std::string("?") : l.servers[0], l.port);
  if (l.servers.size() > 1) {
    s += " failover(";
    for (size_t i = 1; i < l.servers.size(); ++i) s += (i > 1 ? " " : "") + host_port(l.servers[i], l.port);
    s += ")";
    s += describe_failback(l);
  }
  if (c.load_balance && l.servers.size() > 1) s += " load-balance";
  s += " window(" + std::to_string(c.window) + ")";
  s += c.compress ? " zstd" : " uncompressed";
  if (c.compress && c.dictionary) s += " dictionary " + std::to_string(c.dictionary->id());
  return s;
}

namespace {

using FerryDestinationDriver =
    BufferedDestinationDriver<FerryDestinationConfig, describe_ferry_destination, make_ferry_destination>;

constexpr const char* kExample = "write ferry(\"logs.example.com\" port(5140)); for backups add failover(servers(\"b.example.com\"))";

std::unique_ptr<DestinationDriver> build_ferry(OptionReader& r, const BuildContext& ctx) {
  FerryDestinationConfig c;
  c.link.driver = "ferry";
  c.link.port = 5140;
  c.link.time_reopen = ctx.options.time_reopen;
  c.link.so_keepalive = true;
  bool ok = true;

  r.take_positional();
  const auto& pos = r.positional();
  if (pos.size() != 1 || pos[0]->value.empty()) {
    r.diag()->error(pos.size() > 1 ? pos[1]->loc : r.last_location(),
                    pos.size() > 1 ? "expected one host in " + r.what() : "expected the host to send to in " + r.what(),
                    kExample);
    ok = false;
  } else {
    c.link.servers.push_back(pos[0]->value);
  }
  int64_t n;
  if (r.integer("port", &n, 1, 65535)) c.link.port = static_cast<int>(n);
  std::string proto;
  if (r.choice("ip-protocol", {"4", "6"}, &proto)) c.link.ip_protocol = proto == "6" ? 6 : 4;
  if (const ConfNode* fo = r.child("failover")) read_failover(r, *fo, &c.link);
  r.integer("time-reopen", &c.link.time_reopen, 1, 86400);
  r.yesno("so-keepalive", &c.link.so_keepalive);
  if (r.integer("so-sndbuf", &n, 0, 1 << 30)) c.link.so_sndbuf = static_cast<int>(n);
  r.yesno("compression", &c.compress);
  if (r.integer("compression-level", &n, 1, 19)) c.compress_level = static_cast<int>(n);
  if (!ferry::read_compression_dictionary(r, &c.dictionary)) ok = false;
  if (r.integer("window", &n, 1, 100000)) c.window = static_cast<uint32_t>(n);
  if (r.integer("batch-messages", &n, 1, ferry::kDefaultMaxBatchMessages)) c.batch_messages = static_cast<uint32_t>(n);
  if (r.integer("batch-bytes", &n, 1024, 4 << 20)) c.batch_bytes = static_cast<uint32_t>(n);
  if (r.integer("shutdown-grace", &n, 0, 3600)) c.link.shutdown_grace_ms = n * 1000;
  if (r.integer("ack-timeout", &n, 1, 3600)) c.ack_timeout_ms = static_cast<uint64_t>(n) * 1000;
  r.yesno("load-balance", &c.load_balance);
  if (r.choice("transport", {"tcp", "tls"}, &proto) && proto == "tls") {
    r.diag()->error(r.last_location(), "transport(\"tls\") is not supported yet in " + r.what(),
                    "use tcp, or a TLS tunnel (stunnel, spiped) in front of the receiver");
    ok = false;
  }
  DiskBufferConfig buffer;
  if (!read_disk_buffer(r, &buffer)) ok = false;
  if (!ok) return nullptr;
  return std::make_unique<FerryDestinationDriver>(std::move(c), std::move(buffer));
}

}  // namespace

void register_ferry_destination(DriverRegistry& registry) { registry.add_destination("ferry", build_ferry); }

}  // namespace logferry
