// usertty("root" | "*"): the classic console alert.  Writes each message to
// the terminals of the named user (every logged-in user for "*"), as found
// in utmp at the time of writing.
#include "server/usertty_destination.h"

#include <fcntl.h>
#include <unistd.h>
#include <utmpx.h>

#include <cerrno>
#include <cstring>

namespace logferry {

namespace {

class UserttyDestination : public Destination {
 public:
  UserttyDestination(std::string user, std::shared_ptr<const Template> line)
      : user_(std::move(user)), line_(std::move(line)) {}

  bool open(uv_loop_t*, std::string*) override { return true; }

  void deliver(const LogMessage& msg) override {
    line_->render(msg, RenderOptions{}, pending_);
    lines_++;
  }

  void flush() override {
    if (pending_.empty()) return;
    bool wrote = false;
    setutxent();
    while (utmpx* u = getutxent()) {
      if (u->ut_type != USER_PROCESS) continue;
      std::string name(u->ut_user, strnlen(u->ut_user, sizeof(u->ut_user)));
      if (user_ != "*" && name != user_) continue;
      std::string tty(u->ut_line, strnlen(u->ut_line, sizeof(u->ut_line)));
      if (tty.empty() || tty.find('/') != std::string::npos) continue;  // never leave /dev
      std::string path = "/dev/" + tty;
      // Non-blocking: a terminal that does not drain must not stall logging.
      int fd = ::open(path.c_str(), O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) continue;
      if (::write(fd, pending_.data(), pending_.size()) > 0) wrote = true;
      ::close(fd);
    }
    endutxent();
    // Nobody logged in is not an error: the alert has no one to reach.
    Counters::add(counters.out, lines_);
    (void)wrote;
    pending_.clear();
    lines_ = 0;
  }

  void close() override { flush(); }

 private:
  std::string user_;
  std::shared_ptr<const Template> line_;
  std::string pending_;
  uint64_t lines_ = 0;
};

class UserttyDriver : public DestinationDriver {
 public:
  UserttyDriver(std::string user, std::shared_ptr<const Template> line) : user_(std::move(user)), line_(std::move(line)) {}
  std::string describe() const override { return "usertty() " + user_; }
  std::unique_ptr<Destination> create() const override { return std::make_unique<UserttyDestination>(user_, line_); }

 private:
  std::string user_;
  std::shared_ptr<const Template> line_;
};

}  // namespace

void register_usertty_destination(DriverRegistry& registry) {
  registry.add_destination("usertty", [](OptionReader& r, const BuildContext& ctx) -> std::unique_ptr<DestinationDriver> {
    r.take_positional();
    const auto& pos = r.positional();
    if (pos.size() != 1 || pos[0]->value.empty()) {
      r.diag()->error(pos.empty() ? r.last_location() : pos[0]->loc, "expected one user name in usertty()",
                      "write usertty(\"root\") or usertty(\"*\") for every logged-in user");
      return nullptr;
    }
    std::string text = "${DATE} ${HOST} ${MSGHDR}${MSG}\r\n";
    std::string t;
    if (r.string("template", &t)) {
      const Template* named = ctx.find_template(t);
      text = named ? named->source() : t;
    }
    std::string err;
    auto line = Template::compile(text, &err);
    if (!line) {
      r.diag()->error(r.last_location(), "invalid template in usertty(): " + err);
      return nullptr;
    }
    return std::make_unique<UserttyDriver>(pos[0]->value, std::shared_ptr<const Template>(std::move(line)));
  });
}

}  // namespace logferry
