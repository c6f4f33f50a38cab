// The validated configuration: global options, named templates and filters,
// source and destination drivers, and the compiled log paths.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/config_tree.h"
#include "core/filter.h"
#include "core/option_reader.h"
#include "core/pipeline.h"
#include "core/template.h"
#include "core/timestamp.h"

namespace logferry {

// options { ... }; with syslog-ng's names and defaults.
struct GlobalOptions {
  bool chain_hostnames = false;
  bool keep_hostname = false;
  bool keep_timestamp = true;
  bool use_dns = false;
  bool use_fqdn = false;
  bool dns_cache = false;
  bool check_hostname = false;
  bool create_dirs = false;
  std::string owner;  // empty: leave as created
  std::string group;
  int perm = 0600;
  int dir_perm = 0700;
  int64_t flush_lines = 100;
  int64_t log_fifo_size = 10000;
  int64_t log_msg_size = 65536;
  int64_t stats_freq = 600;
  int64_t time_reopen = 60;
  int64_t time_reap = 60;
  int frac_digits = 0;
  std::string bad_hostname;
  std::shared_ptr<const TimeZone> recv_time_zone;  // null: local
  std::shared_ptr<const TimeZone> send_time_zone;  // null: each stamp's own offset
  std::string persist_dir = "/var/lib/logferry";
};

// What a source or destination driver is, once its options are read.  The
// engine creates the running part from it.
class SourceDriver {
 public:
  virtual ~SourceDriver() = default;
  virtual std::string describe() const = 0;  // one line for `logferry check`
  virtual std::unique_ptr<Source> create() const = 0;
};

class DestinationDriver {
 public:
  virtual ~DestinationDriver() = default;
  virtual std::string describe() const = 0;
  virtual std::unique_ptr<Destination> create() const = 0;
};

// Everything a driver builder may need besides its own options.
struct BuildContext {
  const GlobalOptions& options;
  // Named templates: template(t_name) in a destination.
  std::function<const Template*(const std::string& name)> find_template;
  Diagnostics* diag;
};

using SourceBuilder = std::function<std::unique_ptr<SourceDriver>(OptionReader&, const BuildContext&)>;
using DestinationBuilder = std::function<std::unique_ptr<DestinationDriver>(OptionReader&, const BuildContext&)>;

// The drivers a binary knows; each module registers its own.
class DriverRegistry {
 public:
  void add_source(const std::string& name, SourceBuilder b) { sources_[name] = std::move(b); }
  void add_destination(const std::string& name, DestinationBuilder b) { destinations_[name] = std::move(b); }
  const SourceBuilder* source(const std::string& name) const;
  const DestinationBuilder* destination(const std::string& name) const;
  std::vector<std::string> source_names() const;
  std::vector<std::string> destination_names() const;

 private:
  std::map<std::string, SourceBuilder> sources_;
  std::map<std::string, DestinationBuilder> destinations_;
};

// A source block: its drivers.
struct SourceDef {
  std::string name;
  Location loc;
  std::vector<std::unique_ptr<SourceDriver>> drivers;
};

struct DestinationDef {
  std::string name;
  Location loc;
  std::vector<std::unique_ptr<DestinationDriver>> drivers;
};

struct LogPath;

// One step of a compiled log path.
struct PathStep {
  // kLogs: consecutive nested log { } statements; each gets the message, and
  //   a matching one with flags(final) stops the later ones.  The message
  //   then goes on once.
  // kJunction: channels; the rest of the path runs once for every channel
  //   the message passed (a final one stops the later channels).
  // kIf: if/elif/else; the first branch whose condition matches (an else
  //   always does) takes the message, which goes on only if it passed that
  //   branch; with no branch taken it goes on unchanged.
  enum class Kind { kFilter, kDestination, kLogs, kJunction, kIf } kind = Kind::kFilter;
  const Filter* filter = nullptr;          // kFilter
  std::unique_ptr<Counters> counters;      // kFilter: in, out (passed), filtered; set by the engine
  int destination = -1;                    // kDestination: index into Config::destinations
  std::vector<std::unique_ptr<LogPath>> forks;  // kLogs, kJunction, kIf: the sub-paths
  std::vector<const Filter*> conditions;   // kIf: one per branch; null for else
};

// A log statement compiled: which sources feed it and what it does.
struct LogPath {
  Location loc;
  std::vector<int> sources;  // indexes into Config::sources; empty for nested paths
  std::vector<PathStep> steps;
  bool final = false;
  bool fallback = false;
  bool catchall = false;
  bool flow_control = false;
  bool drop_unmatched = false;
};

class Config {
 public:
  // Reads and validates a config file.  On failure returns null; the errors
  // (and warnings) are in *diag_out, already formatted.
  static std::unique_ptr<Config> load_file(const std::string& path, const DriverRegistry& drivers,
                                           std::vector<std::string>* errors, std::vector<std::string>* warnings);
  static std::unique_ptr<Config> load_text(const std::string& text, const std::string& name,
                                           const DriverRegistry& drivers, std::vector<std::string>* errors,
                                           std::vector<std::string>* warnings);

  // The resolved graph, for `logferry check`.
  std::string describe() const;

  GlobalOptions options;
  std::string version;
  std::vector<SourceDef> sources;
  std::vector<DestinationDef> destinations;
  std::map<std::string, std::unique_ptr<Filter>> filters;  // named filters
  std::vector<std::unique_ptr<Filter>> inline_filters;
  std::map<std::string, std::unique_ptr<Template>> templates;
  std::vector<std::unique_ptr<LogPath>> paths;

  int find_source(const std::string& name) const;
  int find_destination(const std::string& name) const;

 private:
  friend class ConfigBuilder;
};

// Reads options { ... } into `o`.
void read_global_options(const std::vector<ConfNode>& nodes, GlobalOptions* o, Diagnostics* diag);

// Reads the output-time options every writing destination shares:
// frac-digits() and time-zone()/send-time-zone() into `render` (the zone
// kept alive in `zone`).  Returns false after reporting an invalid zone.
bool read_render_options(OptionReader& r, RenderOptions* render, std::shared_ptr<const TimeZone>* zone);

// A template-valued option (template(), message(), key(), ...): the name of
// a template block, else a template text compiled.  Null after reporting an
// invalid template at `loc`.
std::shared_ptr<const Template> compile_template_option(OptionReader& r, const BuildContext& ctx,
                                                        const std::string& text, const Location& loc);

}  // namespace logferry

namespace logferry {
void register_internal_source(DriverRegistry& registry);
}  // namespace logferry
