// The logferry command line: one function per subcommand.
#pragma once

#include <string>
#include <vector>

namespace logferry::cli {

using Args = std::vector<std::string>;

int run_main(int argc, char** argv);
int parse_command(const Args& args);

// Help texts, shown by --help and `logferry help <command>`.
const char* main_usage();
const char* parse_usage();

}  // namespace logferry::cli
