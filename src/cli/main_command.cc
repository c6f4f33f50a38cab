#include <cstdio>
#include <cstring>

#include "cli/commands.h"

namespace logferry::cli {

const char* main_usage() {
  return "usage: logferry <command> [options]\n"
         "\n"
         "logferry is a log shipper, relay and server that speaks syslog.\n"
         "\n"
         "commands:\n"
         "  run -f FILE    run the config in the foreground (default " LOGFERRY_DEFAULT_CONFIG ")\n"
         "  check -f FILE  validate the config and print the resolved graph\n"
         "  parse          read raw syslog messages on stdin, print how they parse\n"
         "  state show     print the saved file positions (--persist-dir DIR)\n"
         "  buffer inspect DIR, buffer verify DIR\n"
         "                 show or check a disk buffer\n"
         "  ferry-dictionary train -o FILE SAMPLES...\n"
         "                 train a zstd dictionary for ferry()'s compression-dictionary()\n"
         "  help COMMAND   show the help of a command\n"
         "\n"
         "options:\n"
         "  --version      print the version and exit\n"
         "  --help, -h     print this help and exit\n";
}

int run_main(int argc, char** argv) {
  Args args(argv + 1, argv + argc);
  if (args.empty()) {
    fputs(main_usage(), stderr);
    return 2;
  }
  const std::string& cmd = args[0];
  Args rest(args.begin() + 1, args.end());
  if (cmd == "--version" || cmd == "version") {
    printf("logferry %s\n", LOGFERRY_VERSION);
    return 0;
  }
  if (cmd == "--help" || cmd == "-h") {
    fputs(main_usage(), stdout);
    return 0;
  }
  if (cmd == "help") {
    if (rest.empty()) {
      fputs(main_usage(), stdout);
      return 0;
    }
    if (rest[0] == "parse") {
      fputs(parse_usage(), stdout);
      return 0;
    }
    if (rest[0] == "check") {
      fputs(check_usage(), stdout);
      return 0;
    }
    if (rest[0] == "run") {
      fputs(run_usage(), stdout);
      return 0;
    }
    if (rest[0] == "state") {
      fputs(state_usage(), stdout);
      return 0;
    }
    if (rest[0] == "buffer") {
      fputs(buffer_usage(), stdout);
      return 0;
    }
    if (rest[0] == "ferry-dictionary") {
      fputs(dictionary_usage(), stdout);
      return 0;
    }
    fprintf(stderr, "logferry: no help for unknown command '%s'\n\n%s", rest[0].c_str(), main_usage());
    return 2;
  }
  if (cmd == "parse") return parse_command(rest);
  if (cmd == "check" || cmd == "--syntax-only" || cmd == "-s") return check_command(rest);
  if (cmd == "run") return run_command(rest);
  if (cmd == "state") return state_command(rest);
  if (cmd == "buffer") return buffer_command(rest);
  if (cmd == "ferry-dictionary") return dictionary_command(rest);
  fprintf(stderr, "logferry: unknown command '%s'\n\n%s", cmd.c_str(), main_usage());
  return 2;
}

}  // namespace logferry::cli
