// `logferry check` validates a config and prints the resolved graph;
// `logferry run` runs it in the foreground.
#include <cstdio>

#include "cli/commands.h"
#include "core/config.h"
#include "core/engine.h"

namespace logferry::cli {

const char* check_usage() {
  return "usage: logferry check [-f FILE]\n"
         "       logferry --syntax-only [-f FILE]\n"
         "\n"
         "Reads the config file (default " LOGFERRY_DEFAULT_CONFIG "), reports every problem as\n"
         "file:line:col with a hint, and prints the resolved sources, filters, templates,\n"
         "destinations and log paths.  Exits 0 when the config is valid, 1 when not.\n";
}

const char* run_usage() {
  return "usage: logferry run [-f FILE] [--persist-dir DIR]\n"
         "\n"
         "Runs the config file (default " LOGFERRY_DEFAULT_CONFIG ") in the foreground until\n"
         "SIGTERM or SIGINT, then drains every queue into its destination and exits 0.\n"
         "SIGHUP reads the config file again: a valid one is run after the queues drained\n"
         "(state and disk buffers carry over); one with errors is reported and ignored.\n"
         "SIGUSR1 prints the counters of every source and destination to stderr.\n";
}

namespace {
struct ConfigArgs {
  std::string file = LOGFERRY_DEFAULT_CONFIG;
  std::string persist_dir;
};

int parse_args(const Args& args, const char* usage, const char* cmd, ConfigArgs* out) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if ((a == "-f" || a == "--cfgfile" || a == "--config") && i + 1 < args.size()) {
      out->file = args[++i];
    } else if (a.starts_with("--cfgfile=")) {
      out->file = a.substr(10);
    } else if (a == "--persist-dir" && i + 1 < args.size()) {
      out->persist_dir = args[++i];
    } else if (a == "--help" || a == "-h") {
      fputs(usage, stdout);
      return 0;
    } else {
      fprintf(stderr, "logferry %s: unknown option '%s'\n\n%s", cmd, a.c_str(), usage);
      return 2;
    }
  }
  return -1;
}

std::unique_ptr<Config> load(const ConfigArgs& a) {
  std::vector<std::string> errors, warnings;
  auto cfg = Config::load_file(a.file, all_drivers(), &errors, &warnings);
  for (const auto& w : warnings) fprintf(stderr, "%s\n", w.c_str());
  for (const auto& e : errors) fprintf(stderr, "%s\n", e.c_str());
  if (cfg && !a.persist_dir.empty()) cfg->options.persist_dir = a.persist_dir;
  return cfg;
}
}  // namespace

int check_command(const Args& args) {
  ConfigArgs a;
  int rc = parse_args(args, check_usage(), "check", &a);
  if (rc >= 0) return rc;
  auto cfg = load(a);
  if (!cfg) {
    fprintf(stderr, "logferry check: %s is not valid\n", a.file.c_str());
    return 1;
  }
  fputs(cfg->describe().c_str(), stdout);
  return 0;
}

int run_command(const Args& args) {
  ConfigArgs a;
  int rc = parse_args(args, run_usage(), "run", &a);
  if (rc >= 0) return rc;
  auto cfg = load(a);
  if (!cfg) {
    fprintf(stderr, "logferry run: %s is not valid; nothing started\n", a.file.c_str());
    return 1;
  }
  // SIGHUP runs the config read again in a new engine, after the running
  // one drained (Engine::on_reload); state files and disk buffers carry over.
  while (true) {
    Engine engine(std::move(cfg));
    engine.on_reload([&a] { return load(a); });
    int status = engine.run();
    cfg = engine.take_reloaded_config();
    if (!cfg || status != 0) return status;
  }
}

}  // namespace logferry::cli
