// `logferry state show`: prints the saved file positions of a persist
// directory, and how far each file has grown past its position.
#include <sys/stat.h>

#include <cstdio>

#include "cli/commands.h"
#include "client/positions.h"
#include "core/config.h"

#include <nlohmann/json.hpp>

namespace logferry::cli {

const char* state_usage() {
  return "usage: logferry state show [--persist-dir DIR | -f FILE] [--json]\n"
         "\n"
         "Prints the positions the file sources saved in DIR/logferry.state: for each\n"
         "file its source, path, device:inode, the offset up to which every destination\n"
         "took its lines, and how many bytes the file now holds beyond it (\"-\" when the\n"
         "path now names another file or none).  DIR is --persist-dir, else the\n"
         "persist-dir() of the config FILE, else /var/lib/logferry.\n";
}

int state_command(const Args& args) {
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
    fputs(state_usage(), stdout);
    return 0;
  }
  if (args.empty() || args[0] != "show") {
    fputs(state_usage(), stderr);
    return 2;
  }
  std::string dir, config;
  bool json = false;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--persist-dir" && i + 1 < args.size()) dir = args[++i];
    else if ((args[i] == "-f" || args[i] == "--cfgfile") && i + 1 < args.size()) config = args[++i];
    else if (args[i] == "--json") json = true;
    else if (args[i] == "--help" || args[i] == "-h") {
      fputs(state_usage(), stdout);
      return 0;
    } else {
      fprintf(stderr, "logferry state: unknown option '%s'\n\n%s", args[i].c_str(), state_usage());
      return 2;
    }
  }
  if (dir.empty() && !config.empty()) {
    std::vector<std::string> errors, warnings;
    auto cfg = Config::load_file(config, all_drivers(), &errors, &warnings);
    if (!cfg) {
      for (const auto& e : errors) fprintf(stderr, "%s\n", e.c_str());
      return 1;
    }
    dir = cfg->options.persist_dir;
  }
  if (dir.empty()) dir = GlobalOptions{}.persist_dir;
  std::string file = PositionStore::file_in(dir);
  std::vector<std::pair<std::string, PositionEntry>> entries;
  std::string err;
  if (!PositionStore::read_file(file, &entries, &err)) {
    if (!err.empty()) {
      fprintf(stderr, "logferry state: %s\n", err.c_str());
      return 1;
    }
    fprintf(stderr, "logferry state: no saved positions in %s\n", dir.c_str());
    return json ? (puts("[]"), 0) : 0;
  }
  nlohmann::json out = nlohmann::json::array();
  if (!json) printf("%-40s %-40s %-20s %12s %10s\n", "SOURCE", "PATH", "DEV:INODE", "POSITION", "BEHIND");
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& [source, e] = entries[i];
    struct stat st;
    std::string behind = "-";
    if (stat(e.path.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_ino) == e.id.ino &&
        static_cast<uint64_t>(st.st_dev) == e.id.dev && static_cast<uint64_t>(st.st_size) >= e.position)
      behind = std::to_string(static_cast<uint64_t>(st.st_size) - e.position);
    std::string devino = std::to_string(e.id.dev) + ":" + std::to_string(e.id.ino);
    if (json) {
      nlohmann::json j = {{"source", source}, {"path", e.path}, {"dev", e.id.dev}, {"ino", e.id.ino},
                          {"position", e.position}, {"behind", nullptr}};
      if (behind != "-") j["behind"] = std::stoull(behind);
      out.push_back(j);
    } else {
      printf("%-40s %-40s %-20s %12llu %10s\n", source.c_str(), e.path.c_str(), devino.c_str(),
             static_cast<unsigned long long>(e.position), behind.c_str());
    }
  }
  if (json) puts(out.dump(1).c_str());
  return 0;
}

}  // namespace logferry::cli
