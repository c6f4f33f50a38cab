// logferry: one binary, three roles (client, relay, server) chosen by config.
#include "cli/commands.h"

int main(int argc, char** argv) { return logferry::cli::run_main(argc, argv); }
