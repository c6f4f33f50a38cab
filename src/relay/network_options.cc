// The config side of the network(), syslog() and network-load-balancer()
// destinations: reading and checking their options into a
// NetworkDestinationConfig, the line `logferry check` prints, and the
// registration of the drivers.
#include <algorithm>

#include "relay/disk_buffer.h"
#include "relay/network_destination.h"

namespace logferry {

std::string host_port(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string describe_network_destination(const NetworkDestinationConfig& c) {
  std::string s = c.driver + "() " + (c.tcp ? "tcp" : "udp") + (c.ip_protocol == 6 ? "6" : "") + " ";
  if (c.round_robin) {
    s += "round-robin(";
    for (size_t i = 0; i < c.servers.size(); ++i) s += (i > 0 ? " " : "") + host_port(c.servers[i], c.port);
    return s + ")";
  }
  s += host_port(c.servers.empty() ? std::string("?") : c.servers[0], c.port);
  if (c.servers.size() > 1) {
    s += " failover(";
    for (size_t i = 1; i < c.servers.size(); ++i) s += (i > 1 ? " " : "") + host_port(c.servers[i], c.port);
    s += ")";
    s += describe_failback(c);
  }
  return s;
}

std::string describe_failback(const NetworkDestinationConfig& c) {
  if (!c.failback || c.servers.size() < 2) return "";
  return " failback(probe every " + std::to_string(c.probe_interval) + "s, " + std::to_string(c.probes_required) +
         " probes)";
}

// failover(servers("b" "c") failback(tcp-probe-interval(N) successful-probes-required(M))):
// network(), syslog() and ferry() read it alike.
void read_failover(OptionReader& r, const ConfNode& node, NetworkDestinationConfig* c) {
  OptionReader fr(node, "failover() of " + r.what(), r.diag());
  std::vector<std::string> servers;
  if (fr.strings("servers", &servers)) {
    if (servers.empty()) r.diag()->error(fr.last_location(), "servers() of failover() lists no server",
                                         "write failover(servers(\"backup1.example.com\" \"backup2.example.com\"))");
    for (auto& s : servers) c->servers.push_back(s);
  } else {
    r.diag()->error(node.loc, "failover() of " + r.what() + " needs servers()",
                    "write failover(servers(\"backup1.example.com\" \"backup2.example.com\"))");
  }
  if (const ConfNode* fb = fr.child("failback")) {
    Location loc = fr.last_location();
    c->failback = true;
    OptionReader br(*fb, "failback() of " + r.what(), r.diag());
    br.integer("tcp-probe-interval", &c->probe_interval, 1, 86400);
    br.integer("successful-probes-required", &c->probes_required, 1, 1000);
    br.finish();
    if (!c->tcp) {
      r.diag()->warning(loc, "failback() probes the primary with TCP connections; with transport(\"udp\") it is not acted on");
      c->failback = false;
    }
  }
  fr.finish();
}

namespace {

using NetworkDestinationDriver =
    BufferedDestinationDriver<NetworkDestinationConfig, describe_network_destination, make_network_destination>;

// The servers: network("host" ...) and syslog("host" ...) take one
// positional host (more with failover()); network-load-balancer() takes
// targets("a" "b" ...), as syslog-ng's SCL block of that name.
bool read_servers(OptionReader& r, NetworkDestinationConfig* c, bool syslog_driver) {
  r.take_positional();
  const auto& pos = r.positional();
  if (c->round_robin) {
    const std::string example = "network-load-balancer(targets(\"logs1.example.com\" \"logs2.example.com\") port(514))";
    bool ok = true;
    if (!pos.empty()) {
      r.diag()->error(pos[0]->loc, "network-load-balancer() takes its servers in targets(), not as a value",
                      "write " + example);
      ok = false;
    }
    std::vector<std::string> targets;
    if (!r.strings("targets", &targets)) {
      r.diag()->error(r.last_location(), "network-load-balancer() needs targets(): the servers to spread messages over",
                      "write " + example);
      return false;
    }
    for (auto& t : targets) {
      if (t.empty()) {
        r.diag()->error(r.last_location(), "empty server name in targets() of " + r.what(), "write " + example);
        return false;
      }
      c->servers.push_back(t);
    }
    if (c->servers.empty()) {
      r.diag()->error(r.last_location(), "targets() of " + r.what() + " lists no server", "write " + example);
      return false;
    }
    return ok;
  }
  if (pos.size() != 1 || pos[0]->value.empty()) {
    r.diag()->error(pos.size() > 1 ? pos[1]->loc : r.last_location(),
                    pos.size() > 1 ? "expected one host in " + r.what() : "expected the host to send to in " + r.what(),
                    "write " + c->driver + "(\"logs.example.com\" port(" + (syslog_driver ? "601" : "514") +
                        ")); for more servers use failover(servers(...)), or network-load-balancer(targets(...)) "
                        "to spread the load");
    return false;
  }
  c->servers.push_back(pos[0]->value);
  return true;
}

std::unique_ptr<DestinationDriver> build_network(OptionReader& r, const BuildContext& ctx, const char* driver) {
  const GlobalOptions& g = ctx.options;
  NetworkDestinationConfig c;
  c.driver = driver;
  bool syslog_driver = c.driver == "syslog";
  c.round_robin = c.driver == "network-load-balancer";
  c.time_reopen = g.time_reopen;
  c.max_pending_messages = static_cast<size_t>(std::max<int64_t>(g.log_fifo_size, 1));
  c.render.frac_digits = g.frac_digits;
  c.zone = g.send_time_zone;
  c.render.time_zone = g.send_time_zone.get();
  bool ok = read_servers(r, &c, syslog_driver);

  int64_t n;
  bool port_set = false;
  if (r.integer("port", &n, 1, 65535)) {
    c.port = static_cast<int>(n);
    port_set = true;
  }
  std::string transport = "tcp";
  if (r.choice("transport", {"tcp", "udp", "tls", "tcp6", "udp6"}, &transport) && transport == "tls") {
    r.diag()->error(r.last_location(), "transport(\"tls\") is not supported yet in " + r.what(),
                    "use tcp, or a TLS tunnel (stunnel, spiped) in front of the server");
    ok = false;
  }
  c.tcp = transport.starts_with("tcp") || transport == "tls";
  if (transport.ends_with("6")) c.ip_protocol = 6;
  if (syslog_driver && !port_set) c.port = c.tcp ? 601 : 514;
  std::string proto;
  if (r.choice("ip-protocol", {"4", "6"}, &proto)) c.ip_protocol = proto == "6" ? 6 : 4;

  std::vector<std::string> flags;
  r.flags("flags", {"syslog-protocol", "no-multi-line", "threaded"}, &flags);
  bool rfc5424 = syslog_driver || std::find(flags.begin(), flags.end(), "syslog-protocol") != flags.end();
  c.no_multi_line = std::find(flags.begin(), flags.end(), "no-multi-line") != flags.end();
  std::string t;
  if (r.string("template", &t)) {
    c.templ = compile_template_option(r, ctx, t, r.last_location());
    if (!c.templ) ok = false;
  }
  if (rfc5424) {
    c.format = NetworkDestinationConfig::Format::kRfc5424;
    c.octet_counting = syslog_driver && c.tcp;
  } else if (c.templ) {
    c.format = NetworkDestinationConfig::Format::kTemplate;
  } else {
    c.format = NetworkDestinationConfig::Format::kRfc3164;
  }

  r.integer("time-reopen", &c.time_reopen, 1, 86400);
  if (r.integer("log-fifo-size", &n, 1, 100000000)) c.max_pending_messages = static_cast<size_t>(n);
  if (!read_render_options(r, &c.render, &c.zone)) ok = false;
  if (r.integer("so-sndbuf", &n, 0, 1 << 30)) c.so_sndbuf = static_cast<int>(n);
  r.yesno("so-keepalive", &c.so_keepalive);

  if (c.round_robin) {
    for (const char* name : {"failover", "failover-servers"}) {
      if (r.child(name)) {
        r.diag()->error(r.last_location(), std::string(name) + "() cannot be used in network-load-balancer()",
                        "its targets() already stand in for each other: a server that is down gets no batches "
                        "until it is back; for a primary with backups write network(\"a\" failover(servers(\"b\")))");
        ok = false;
      }
    }
  } else {
    if (const ConfNode* fo = r.child("failover")) read_failover(r, *fo, &c);
    std::vector<std::string> more;
    if (r.strings("failover-servers", &more))  // syslog-ng 3.x's older spelling
      for (auto& s : more) c.servers.push_back(s);
  }

  r.integer("flush-lines", &n, 0, 1000000);  // logferry writes at the end of every batch
  DiskBufferConfig buffer;
  if (!read_disk_buffer(r, &buffer)) ok = false;
  for (const char* name : {"tls", "spoof-source", "spoof-source-max-msglen", "localip", "localport",
                           "close-on-input", "keep-alive", "throttle", "flush-timeout", "ip-ttl", "ip-tos",
                           "so-broadcast", "so-rcvbuf", "tcp-keepalive-time", "tcp-keepalive-intvl",
                           "tcp-keepalive-probes", "mark-mode", "mark-freq", "persist-name", "suppress", "ts-format",
                           "template-escape", "local-time-zone", "interface", "dynamic-window-size",
                           "truncate-size", "truncate-size-ratio"}) {
    r.accepted_not_implemented(name);
  }
  if (!ok) return nullptr;
  return std::make_unique<NetworkDestinationDriver>(std::move(c), std::move(buffer));
}

}  // namespace

void register_network_destinations(DriverRegistry& registry) {
  registry.add_destination("network", [](OptionReader& r, const BuildContext& ctx) { return build_network(r, ctx, "network"); });
  registry.add_destination("syslog", [](OptionReader& r, const BuildContext& ctx) { return build_network(r, ctx, "syslog"); });
  registry.add_destination("network-load-balancer", [](OptionReader& r, const BuildContext& ctx) {
    return build_network(r, ctx, "network-load-balancer");
  });
}

}  // namespace logferry
