// The config side of kafka-c() (and kafka()): its options as syslog-ng's
// kafka-c() reads them, the librdkafka properties they become, the line
// `logferry check` prints, and the registration of the driver.
#include <algorithm>
#include <fstream>

#include "relay/disk_buffer.h"
#include "relay/kafka_destination.h"
#include "relay/kafka_library.h"

namespace logferry {

namespace {

// syslog-ng kafka-c()'s default message().
constexpr const char* kDefaultMessage = "$ISODATE $HOST $MSGHDR$MSG";
// properties-file(): larger files are refused (it is a short list of settings).
constexpr std::streamoff kMaxPropertiesFile = 1 << 20;

}  // namespace

bool valid_kafka_topic(std::string_view name) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

std::string describe_kafka_destination(const KafkaDestinationConfig& c) {
  std::string servers = c.bootstrap_servers;
  for (const auto& [k, v] : c.config)
    if (k == "bootstrap.servers" || k == "metadata.broker.list") servers = v;
  std::string s = "kafka-c() " + servers + " topic " + c.topic->source();
  if (!c.fallback_topic.empty()) s += " fallback " + c.fallback_topic;
  return s;
}

std::vector<std::pair<std::string, std::string>> kafka_properties(const KafkaDestinationConfig& c) {
  // Room for every record the destination may hold (see the window in
  // kafka_destination.cc), so that librdkafka's queue is never the limit.
  size_t window = c.max_in_flight + std::max<size_t>(c.max_in_flight, 1024);
  std::vector<std::pair<std::string, std::string>> p = {
      {"client.id", "logferry"},
      {"enable.idempotence", "true"},
      {"message.timeout.ms", "0"},  // an outage delays records, never drops them
      {"queue.buffering.max.messages", std::to_string(std::min<size_t>(2 * window, 2147483647))},
  };
  if (!c.bootstrap_servers.empty()) p.emplace_back("bootstrap.servers", c.bootstrap_servers);
  for (const auto& kv : c.config) p.push_back(kv);
  // Not to be overridden: librdkafka's log comes through rd_kafka_poll(),
  // on the output thread, where the destination's state lives.
  p.emplace_back("log.queue", "true");
  return p;
}

namespace {

using KafkaDestinationDriver =
    BufferedDestinationDriver<KafkaDestinationConfig, describe_kafka_destination, make_kafka_destination>;

struct Property {
  std::string key, value;
  Location loc;
  std::string origin;  // where it was written, for errors: "config()"
};

// config(): syslog-ng's three spellings of a property, freely mixed:
//   config("acks" => "all"  "linger.ms" "5"  "client.id"("me"))
bool read_config(OptionReader& r, const ConfNode& opt, std::vector<Property>* out) {
  const char* hint = "write config(\"acks\" => \"all\" \"linger.ms\" => \"5\"): librdkafka properties, each a name and a value";
  const auto& a = opt.args;
  for (size_t i = 0; i < a.size();) {
    if (!a[i].is_value()) {  // "name"("value") or name(value)
      if (a[i].args.size() != 1 || !a[i].args[0].is_value()) {
        r.diag()->error(a[i].loc, "expected one value for property '" + a[i].name + "' in config() of " + r.what(), hint);
        return false;
      }
      out->push_back(Property{a[i].name, a[i].args[0].value, a[i].loc, "config()"});
      ++i;
      continue;
    }
    if (!a[i].quoted && a[i].value == "=>") {
      r.diag()->error(a[i].loc, "'=>' without a property name before it in config() of " + r.what(), hint);
      return false;
    }
    size_t v = i + 1;
    if (v < a.size() && a[v].is_value() && !a[v].quoted && a[v].value == "=>") ++v;
    if (v >= a.size() || !a[v].is_value() || (!a[v].quoted && a[v].value == "=>")) {
      r.diag()->error(a[i].loc, "property '" + a[i].value + "' in config() of " + r.what() + " has no value", hint);
      return false;
    }
    out->push_back(Property{a[i].value, a[v].value, a[i].loc, "config()"});
    i = v + 1;
  }
  return true;
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

// properties-file("/etc/kafka/producer.properties"): Java-style lines
// "name=value" or "name: value"; '#' and '!' start comments.
bool read_properties_file(OptionReader& r, const std::string& path, const Location& loc, std::vector<Property>* out) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    r.diag()->error(loc, "cannot read properties-file('" + path + "') of " + r.what(), "give the path of a readable file");
    return false;
  }
  if (in.tellg() > kMaxPropertiesFile) {
    r.diag()->error(loc, "properties-file('" + path + "') of " + r.what() + " is larger than 1 MiB",
                    "a properties file is a short list of name=value lines");
    return false;
  }
  in.seekg(0);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == '!') continue;
    size_t sep = line.find_first_of("=:");
    if (sep == std::string::npos || trim(line.substr(0, sep)).empty()) {
      r.diag()->error(loc, "line " + std::to_string(n) + " of properties-file('" + path + "') of " + r.what() +
                               " is not 'name=value'",
                      "e.g. compression.type=zstd");
      return false;
    }
    out->push_back(Property{trim(line.substr(0, sep)), trim(line.substr(sep + 1)), loc,
                            "line " + std::to_string(n) + " of properties-file('" + path + "')"});
  }
  return true;
}

// Every property is checked with librdkafka now, when it can be loaded,
// so that a misspelt name is reported with its place in the file.
bool check_properties(OptionReader& r, const std::vector<Property>& props) {
  const RdKafka* lib = load_rdkafka(nullptr);
  if (!lib) return true;  // reported when the destination starts
  rd_kafka_conf_t* conf = lib->rd_kafka_conf_new();
  bool ok = true;
  for (const auto& p : props) {
    char err[512];
    if (lib->rd_kafka_conf_set(conf, p.key.c_str(), p.value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      r.diag()->error(p.loc, "invalid property '" + p.key + "' in " + p.origin + " of " + r.what() + ": " + err,
                      "see librdkafka's CONFIGURATION.md for the names and values it takes");
      ok = false;
    }
  }
  lib->rd_kafka_conf_destroy(conf);
  return ok;
}

// Every option kafka-c() knows, read or not.
const char* const kKafkaOptions[] = {
    "bootstrap-servers", "topic", "fallback-topic", "key", "message", "config", "properties-file", "sync-send",
    "workers", "flush-timeout-on-shutdown", "flush-timeout-on-reload", "poll-timeout", "log-fifo-size",
    "frac-digits", "time-zone", "send-time-zone", "local-time-zone", "template-escape", "ts-format", "on-error",
    "persist-name", "disk-buffer", "throttle", "retries", "batch-lines", "batch-timeout", "batch-bytes",
    "time-reopen"};

std::unique_ptr<DestinationDriver> read_kafka(OptionReader& r, const BuildContext& ctx, const std::string& driver);

// After the first error the options not read yet are not reported as
// unknown (only the error that stopped reading is).
std::unique_ptr<DestinationDriver> build_kafka(OptionReader& r, const BuildContext& ctx, const std::string& driver) {
  auto d = read_kafka(r, ctx, driver);
  if (!d)
    for (const char* name : kKafkaOptions) r.child(name);
  return d;
}

std::unique_ptr<DestinationDriver> read_kafka(OptionReader& r, const BuildContext& ctx, const std::string& driver) {
  const GlobalOptions& g = ctx.options;
  KafkaDestinationConfig c;
  c.max_in_flight = static_cast<size_t>(g.log_fifo_size);
  c.render.frac_digits = g.frac_digits;
  c.zone = g.send_time_zone;
  c.render.time_zone = g.send_time_zone.get();
  size_t errors_before = r.diag()->errors().size();
  const Location driver_loc = r.last_location();  // nothing read yet: where kafka-c( is

  std::vector<Property> props;
  if (const ConfNode* cfg = r.child("config"))
    if (!read_config(r, *cfg, &props)) return nullptr;
  std::string path;
  if (r.string("properties-file", &path) && !read_properties_file(r, path, r.last_location(), &props)) return nullptr;
  bool servers_in_config = false;
  for (const auto& p : props) {
    if (p.key == "bootstrap.servers" || p.key == "metadata.broker.list") servers_in_config = true;
    if (p.key == "enable.idempotence" && p.value != "true")
      r.diag()->warning(p.loc, r.what() + ": without enable.idempotence, a retried record may be stored twice");
  }
  bool has_servers = r.string("bootstrap-servers", &c.bootstrap_servers);
  if (has_servers && c.bootstrap_servers.empty()) {
    r.diag()->error(r.last_location(), "bootstrap-servers() of " + r.what() + " is empty",
                    "e.g. bootstrap-servers(\"kafka1:9092,kafka2:9092\")");
    return nullptr;
  }
  if (!has_servers && !servers_in_config) {
    r.diag()->error(driver_loc, driver + "() needs bootstrap-servers()",
                    "e.g. bootstrap-servers(\"kafka1:9092,kafka2:9092\")");
    return nullptr;
  }
  if (!check_properties(r, props)) return nullptr;
  for (auto& p : props) c.config.emplace_back(std::move(p.key), std::move(p.value));

  std::string text;
  if (!r.string("topic", &text)) {
    r.diag()->error(driver_loc, driver + "() needs topic()", "e.g. topic(\"logs\") or topic(\"logs-${PROGRAM}\")");
    return nullptr;
  }
  Location topic_loc = r.last_location();
  c.topic = compile_template_option(r, ctx, text, topic_loc);
  if (!c.topic) return nullptr;
  if (r.string("fallback-topic", &c.fallback_topic) && !valid_kafka_topic(c.fallback_topic)) {
    r.diag()->error(r.last_location(), "fallback-topic('" + c.fallback_topic + "') of " + r.what() +
                                           " is not a valid Kafka topic name",
                    "1 to 249 letters, digits, '.', '_' or '-'");
    return nullptr;
  }
  if (c.topic->is_literal()) {
    LogMessage empty;
    std::string name = c.topic->render(empty, c.render);
    if (!valid_kafka_topic(name)) {
      r.diag()->error(topic_loc, "topic('" + name + "') of " + r.what() + " is not a valid Kafka topic name",
                      "1 to 249 letters, digits, '.', '_' or '-'");
      return nullptr;
    }
  }
  if (r.string("key", &text)) {
    c.key = compile_template_option(r, ctx, text, r.last_location());
    if (!c.key) return nullptr;
  }
  if (r.string("message", &text)) {
    c.message = compile_template_option(r, ctx, text, r.last_location());
    if (!c.message) return nullptr;
  } else {
    std::string err;
    c.message = std::shared_ptr<const Template>(Template::compile(kDefaultMessage, &err));
  }

  bool sync = false;
  if (r.yesno("sync-send", &sync) && sync) {
    r.diag()->error(r.last_location(), "sync-send(yes) of " + r.what() + " is not supported",
                    "logferry counts a record as delivered only when Kafka confirmed it; remove sync-send()");
    return nullptr;
  }
  int64_t n;
  if (r.integer("flush-timeout-on-shutdown", &n, 0, 3600000)) c.flush_timeout_on_shutdown_ms = n;
  if (r.integer("log-fifo-size", &n, 1, 100000000)) c.max_in_flight = static_cast<size_t>(n);
  read_render_options(r, &c.render, &c.zone);
  // workers(): one producer per destination; librdkafka's threads send.
  for (const char* name : {"workers", "flush-timeout-on-reload", "poll-timeout", "local-time-zone", "template-escape",
                           "ts-format", "on-error", "persist-name", "throttle", "retries",
                           "batch-lines", "batch-timeout", "batch-bytes", "time-reopen"}) {
    r.accepted_not_implemented(name);
  }
  DiskBufferConfig buffer;
  read_disk_buffer(r, &buffer);
  if (r.diag()->errors().size() != errors_before) return nullptr;
  return std::make_unique<KafkaDestinationDriver>(std::move(c), std::move(buffer));
}

}  // namespace

void register_kafka_destination(DriverRegistry& registry) {
  registry.add_destination("kafka-c", [](OptionReader& r, const BuildContext& ctx) { return build_kafka(r, ctx, "kafka-c"); });
  registry.add_destination("kafka", [](OptionReader& r, const BuildContext& ctx) { return build_kafka(r, ctx, "kafka"); });
}

}  // namespace logferry
