// The logferry command line: one function per subcommand.
#pragma once

#include <string>
#include <vector>

namespace logferry::cli {

using Args = std::vector<std::string>;

#ifndef LOGFERRY_DEFAULT_CONFIG
#define LOGFERRY_DEFAULT_CONFIG "/etc/logferry/logferry.conf"
#endif

}  // namespace logferry::cli

namespace logferry {
class DriverRegistry;
}

namespace logferry::cli {

int run_main(int argc, char** argv);
int parse_command(const Args& args);
int check_command(const Args& args);
int run_command(const Args& args);
int state_command(const Args& args);
int buffer_command(const Args& args);
int dictionary_command(const Args& args);
const DriverRegistry& all_drivers();

// Help texts, shown by --help and `logferry help <command>`.
const char* main_usage();
const char* parse_usage();
const char* check_usage();
const char* run_usage();
const char* state_usage();
const char* buffer_usage();
const char* dictionary_usage();

}  // namespace logferry::cli
