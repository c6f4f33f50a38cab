// logferry: one binary, three roles (client, relay, server) chosen by config.
#include <fcntl.h>
#include <unistd.h>

#include "cli/commands.h"

int main(int argc, char** argv) {
  // Started with stdin, stdout or stderr closed (`<&-`, some supervisors),
  // the first socket would land on fd 0-2: stdin() would read it and libuv
  // refuses to close it.  Hold those numbers with /dev/null.
  for (int fd = 0; fd <= 2; ++fd) {
    if (fcntl(fd, F_GETFD) != -1) continue;
    int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (n >= 0 && n != fd) {
      dup2(n, fd);
      close(n);
    }
  }
  return logferry::cli::run_main(argc, argv);
}
