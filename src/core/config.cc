#include "core/config.h"

#include <algorithm>
#include <set>

namespace logferry {

const SourceBuilder* DriverRegistry::source(const std::string& name) const {
  auto it = sources_.find(name);
  return it == sources_.end() ? nullptr : &it->second;
}

const DestinationBuilder* DriverRegistry::destination(const std::string& name) const {
  auto it = destinations_.find(name);
  return it == destinations_.end() ? nullptr : &it->second;
}

std::vector<std::string> DriverRegistry::source_names() const {
  std::vector<std::string> v;
  for (const auto& s : sources_) v.push_back(s.first);
  return v;
}

std::vector<std::string> DriverRegistry::destination_names() const {
  std::vector<std::string> v;
  for (const auto& s : destinations_) v.push_back(s.first);
  return v;
}

int Config::find_source(const std::string& name) const {
  for (size_t i = 0; i < sources.size(); ++i)
    if (sources[i].name == name) return static_cast<int>(i);
  return -1;
}

int Config::find_destination(const std::string& name) const {
  for (size_t i = 0; i < destinations.size(); ++i)
    if (destinations[i].name == name) return static_cast<int>(i);
  return -1;
}

namespace {
constexpr const char* kZoneHint = "use an offset such as +01:00, UTC, local, or a name from /usr/share/zoneinfo";
}  // namespace

bool read_render_options(OptionReader& r, RenderOptions* render, std::shared_ptr<const TimeZone>* zone) {
  int64_t n;
  if (r.integer("frac-digits", &n, 0, 9)) render->frac_digits = static_cast<int>(n);
  bool ok = true;
  for (const char* opt : {"time-zone", "send-time-zone"}) {
    std::string tz;
    if (!r.string(opt, &tz)) continue;
    std::string err;
    auto parsed = TimeZone::parse(tz, &err);
    if (!parsed) {
      r.diag()->error(r.last_location(), "invalid " + std::string(opt) + "('" + tz + "'): " + err, kZoneHint);
      ok = false;
      continue;
    }
    *zone = parsed;
    render->time_zone = parsed.get();
  }
  return ok;
}

std::shared_ptr<const Template> compile_template_option(OptionReader& r, const BuildContext& ctx,
                                                        const std::string& text, const Location& loc) {
  std::string err;
  if (const Template* named = ctx.find_template(text)) {
    return std::shared_ptr<const Template>(Template::compile(named->source(), &err));
  }
  auto t = Template::compile(text, &err);
  if (!t) {
    r.diag()->error(loc, "invalid template in " + r.what() + ": " + err);
    return nullptr;
  }
  return std::shared_ptr<const Template>(std::move(t));
}

void read_global_options(const std::vector<ConfNode>& nodes, GlobalOptions* o, Diagnostics* diag) {
  ConfNode holder;
  holder.name = "options";
  holder.args = nodes;
  OptionReader r(holder, "options", diag);
  r.yesno("chain-hostnames", &o->chain_hostnames);
  r.yesno("keep-hostname", &o->keep_hostname);
  if (r.yesno("keep-timestamp", &o->keep_timestamp) && !o->keep_timestamp)
    diag->warning(r.last_location(), "keep-timestamp(no) is accepted but not acted on yet: the sender's stamp is kept");
  r.yesno("check-hostname", &o->check_hostname);
  r.yesno("create-dirs", &o->create_dirs);
  r.string("owner", &o->owner);
  r.string("group", &o->group);
  r.octal("perm", &o->perm);
  r.octal("dir-perm", &o->dir_perm);
  r.integer("flush-lines", &o->flush_lines, 0, 1000000);
  r.integer("log-fifo-size", &o->log_fifo_size, 1, 100000000);
  r.integer("log-msg-size", &o->log_msg_size, 64, 256 * 1024 * 1024);
  r.integer("stats-freq", &o->stats_freq, 0, 86400 * 365);
  r.integer("time-reopen", &o->time_reopen, 1, 86400);
  r.integer("time-reap", &o->time_reap, 0, 86400 * 365);
  int64_t frac = 0;
  if (r.integer("frac-digits", &frac, 0, 9)) o->frac_digits = static_cast<int>(frac);
  r.string("persist-dir", &o->persist_dir);
  std::string bad;
  if (r.string("bad-hostname", &bad)) {
    o->bad_hostname = bad;
    diag->warning(r.last_location(), "bad-hostname() is accepted but not acted on yet");
  }
  for (const char* tz_opt : {"time-zone", "recv-time-zone", "send-time-zone"}) {
    std::string tz;
    if (!r.string(tz_opt, &tz)) continue;
    std::string err;
    auto zone = TimeZone::parse(tz, &err);
    if (!zone) {
      diag->error(r.last_location(), "invalid " + std::string(tz_opt) + "('" + tz + "'): " + err, kZoneHint);
      continue;
    }
    if (std::string(tz_opt) != "send-time-zone") o->recv_time_zone = zone;
    if (std::string(tz_opt) != "recv-time-zone") o->send_time_zone = zone;
  }
  // Known from syslog-ng; accepted so that configs load, with a warning
  // when set, until logferry acts on them.
  bool flag = false;
  if (r.yesno("use-dns", &flag) && flag)
    diag->warning(r.last_location(), "use-dns(yes) is accepted but logferry does not resolve addresses yet: HOST_FROM is the address");
  if (r.yesno("use-fqdn", &flag) && flag)
    diag->warning(r.last_location(), "use-fqdn(yes) is accepted but not acted on yet");
  if (r.yesno("dns-cache", &o->dns_cache) && o->dns_cache)
    diag->warning(r.last_location(), "dns-cache(yes) is accepted but not acted on yet: logferry does not resolve addresses");
  for (const char* name : {"mark-freq", "mark-mode", "ts-format", "threaded", "normalize-hostnames",
                           "log-fetch-limit", "log-iw-size", "stats-level", "stats-max-dynamics",
                           "use-uniqid", "on-error", "dns-cache-size", "dns-cache-expire",
                           "dns-cache-expire-failed", "dns-cache-hosts", "file-template",
                           "proto-template", "recv-time-zone-name", "send-time-zone-name",
                           "keep-timestamp-name", "sync", "fsync", "suppress", "time-sleep",
                           "log-prefix", "pass-unix-credentials", "create-dirs-name"}) {
    r.accepted_not_implemented(name);
  }
  r.finish();
}

// Walks the ConfigTree and builds a Config, reporting every problem it finds.
class ConfigBuilder {
 public:
  ConfigBuilder(const ConfigTree& tree, const DriverRegistry& drivers, Config* cfg, Diagnostics* diag)
      : tree_(tree), drivers_(drivers), cfg_(cfg), diag_(diag) {}

  void build() {
    cfg_->version = tree_.version;
    if (tree_.version.empty())
      diag_->warning(Location{0, 1, 1}, "no @version: line; assuming the syntax of syslog-ng 4 (write @version: 4.0)");
    read_global_options(tree_.options, &cfg_->options, diag_);
    check_duplicates();
    for (const auto& obj : tree_.objects)
      if (obj.kind == ObjectDef::Kind::kTemplate) build_template(obj);
    for (const auto& obj : tree_.objects)
      if (obj.kind == ObjectDef::Kind::kFilter && !duplicates_.count(&obj)) named_filter(obj.name);
    for (const auto& obj : tree_.objects) {
      if (duplicates_.count(&obj)) continue;  // reported; only the first one counts
      if (obj.kind == ObjectDef::Kind::kSource) build_source(obj.name, obj.loc, obj.drivers);
      if (obj.kind == ObjectDef::Kind::kDestination) build_destination(obj.name, obj.loc, obj.drivers);
      if (obj.kind == ObjectDef::Kind::kParser || obj.kind == ObjectDef::Kind::kRewrite)
        diag_->error(obj.loc, std::string(obj.kind == ObjectDef::Kind::kParser ? "parser" : "rewrite") +
                                  " blocks are not supported yet",
                     "remove the block and its references; logferry parses syslog headers itself");
    }
    for (const auto& stmt : tree_.logs) {
      auto path = compile_path(stmt, true);
      if (path) cfg_->paths.push_back(std::move(path));
    }
    warn_unused();
    if (tree_.logs.empty() && diag_->ok())
      diag_->warning(Location{0, 1, 1}, "no log statement: nothing will be received or written");
  }

 private:
  std::string where(const Location& l) const { return format_location(tree_, l); }

  void check_duplicates() {
    std::map<std::pair<int, std::string>, Location> seen;
    static const char* const kKinds[] = {"source", "destination", "filter", "template", "parser", "rewrite"};
    for (const auto& obj : tree_.objects) {
      auto key = std::make_pair(static_cast<int>(obj.kind), obj.name);
      auto it = seen.find(key);
      if (it != seen.end()) {
        diag_->error(obj.loc,
                     std::string("duplicate ") + kKinds[static_cast<int>(obj.kind)] + " '" + obj.name +
                         "': first defined at " + where(it->second),
                     std::string("give each ") + kKinds[static_cast<int>(obj.kind)] + " a different name");
        duplicates_.insert(&obj);
      } else {
        seen[key] = obj.loc;
      }
    }
  }

  const ObjectDef* find_object(ObjectDef::Kind kind, const std::string& name) const {
    for (const auto& obj : tree_.objects)
      if (obj.kind == kind && obj.name == name) return &obj;
    return nullptr;
  }

  std::vector<std::string> names_of(ObjectDef::Kind kind) const {
    std::vector<std::string> v;
    for (const auto& obj : tree_.objects)
      if (obj.kind == kind) v.push_back(obj.name);
    return v;
  }

  std::string undefined_hint(ObjectDef::Kind kind, const std::string& name, const char* what) const {
    std::string near = nearest_word(name, names_of(kind));
    if (!near.empty()) return "did you mean '" + near + "'?";
    return std::string("define it with ") + what + " " + name + " { ... };";
  }

  void build_template(const ObjectDef& obj) {
    std::string text;
    Location loc = obj.loc;
    if (obj.short_form) {
      text = obj.text;
    } else {
      ConfNode holder;
      holder.name = "template";
      holder.args = obj.drivers;
      OptionReader r(holder, "template " + obj.name, diag_);
      if (!r.string("template", &text)) {
        diag_->error(obj.loc, "template " + obj.name + " has no template(\"...\")",
                     "write template " + obj.name + " { template(\"$ISODATE $HOST $MSG\\n\"); };");
        return;
      }
      bool escape = false;
      r.yesno("template-escape", &escape);
      r.finish();
      for (const auto& a : obj.drivers)
        if (a.name == "template") loc = a.loc;
    }
    std::string err;
    auto t = Template::compile(text, &err);
    if (!t) {
      diag_->error(loc, "invalid template " + obj.name + ": " + err);
      return;
    }
    cfg_->templates[obj.name] = std::move(t);
  }

  // Parses a named filter (once), following filter(NAME) references in
  // any order and reporting cycles.
  const Filter* named_filter(const std::string& name) {
    auto it = cfg_->filters.find(name);
    if (it != cfg_->filters.end()) return it->second.get();
    if (failed_filters_.count(name)) return nullptr;  // reported already
    const ObjectDef* def = find_object(ObjectDef::Kind::kFilter, name);
    if (!def) return nullptr;
    auto on_stack = std::find(filter_stack_.begin(), filter_stack_.end(), name);
    if (on_stack != filter_stack_.end()) {
      cycle_.assign(on_stack, filter_stack_.end());  // parse_expr reports it where filter(NAME) is written
      cycle_.push_back(name);
      return nullptr;
    }
    filter_stack_.push_back(name);
    auto f = parse_expr(def->expr, "filter " + name);
    filter_stack_.pop_back();
    if (!f) {
      failed_filters_.insert(name);
      return nullptr;
    }
    const Filter* raw = f.get();
    cfg_->filters[name] = std::move(f);
    return raw;
  }

  std::unique_ptr<Filter> parse_expr(const std::vector<Token>& expr, const std::string& what) {
    TokenStream ts(expr);
    FilterError ferr;
    failed_ref_.clear();
    cycle_.clear();
    FilterResolver resolver = [&](std::string_view n) -> const Filter* {
      std::string name(n);
      failed_ref_.clear();
      cycle_.clear();
      const Filter* f = named_filter(name);
      if (!f && find_object(ObjectDef::Kind::kFilter, name)) failed_ref_ = name;
      return f;
    };
    // source(NAME): named sources are built in file order, first of all.
    SourceResolver sources = [&](std::string_view n) -> int {
      int idx = 0;
      for (const auto& obj : tree_.objects) {
        if (obj.kind != ObjectDef::Kind::kSource) continue;
        if (obj.name == n) return idx;
        ++idx;
      }
      return -1;
    };
    auto f = parse_filter(ts, resolver, &ferr, sources);
    if (f && !ts.at_end()) {
      const Token& tk = ts.peek();
      ferr.message = "unexpected '" + tk.text + "' in " + what + "; expected 'and', 'or' or the end of the expression";
      ferr.line = tk.line;
      ferr.col = tk.col;
      f.reset();
    }
    if (!f) {
      int file = expr.empty() ? 0 : expr[0].file;
      Location loc{file, ferr.line, ferr.col};
      bool undefined = ferr.message.starts_with("undefined filter");
      if (undefined && !cycle_.empty()) {
        std::string chain;
        for (const auto& n : cycle_) chain += (chain.empty() ? "" : " -> ") + n;
        diag_->error(loc, "filter cycle: " + chain + " (filter(" + cycle_.back() + ") in " + what + ")",
                     "a filter cannot refer to itself, directly or through other filters");
        cycle_.clear();
      } else if (undefined && !failed_ref_.empty()) {
        // The referenced filter is invalid and has been reported.
      } else {
        std::string hint;
        size_t q1 = ferr.message.find('\''), q2 = ferr.message.find('\'', q1 + 1);
        std::string word = q1 != std::string::npos && q2 != std::string::npos ? ferr.message.substr(q1 + 1, q2 - q1 - 1) : "";
        if (undefined) {
          hint = undefined_hint(ObjectDef::Kind::kFilter, word, "filter");
        } else if (ferr.message.starts_with("unknown ") && ferr.message.find("; expected ") != std::string::npos) {
          // "unknown level 'errr'; expected emerg, alert, ... or debug": the nearest choice.
          std::string list = ferr.message.substr(ferr.message.find("; expected ") + 11);
          std::vector<std::string> choices;
          size_t pos = 0;
          while (pos < list.size()) {
            size_t comma = list.find(", ", pos), or_ = list.find(" or ", pos);
            size_t end = std::min(comma, or_);
            choices.push_back(list.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
            if (choices.back().ends_with("()")) choices.back().resize(choices.back().size() - 2);
            pos = end == std::string::npos ? list.size() : end + (end == comma ? 2 : 4);
          }
          std::string near = nearest_word(word, choices);
          bool function = ferr.message.starts_with("unknown filter function") || ferr.message.starts_with("unknown option");
          if (!near.empty()) hint = "did you mean '" + near + (function ? "()" : "") + "'?";
        }
        diag_->error(loc, ferr.message + " (in " + what + ")", hint);
      }
    }
    return f;
  }

  // `driver` is the driver being built: template(NAME) in it that names no
  // template and holds no macro is reported as an undefined template
  // (syslog-ng would write the name itself as every line).
  BuildContext context(const ConfNode* driver = nullptr) {
    return BuildContext{cfg_->options,
                        [this, driver](const std::string& n) -> const Template* {
                          auto it = cfg_->templates.find(n);
                          if (it != cfg_->templates.end()) return it->second.get();
                          bool name_like = !n.empty() && (isalpha(static_cast<unsigned char>(n[0])) || n[0] == '_') &&
                                           n.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                               "0123456789_-.") == std::string::npos;
                          if (driver && name_like) {
                            for (const auto& a : driver->args) {
                              if (a.name != "template" || a.args.size() != 1 || a.args[0].value != n) continue;
                              std::string near = nearest_word(n, names_of(ObjectDef::Kind::kTemplate));
                              diag_->error(a.args[0].loc, "undefined template '" + n + "' in " + driver->name + "()",
                                           !near.empty() ? "did you mean '" + near + "'?"
                                                         : "define it with template " + n +
                                                               " { template(\"${ISODATE} ${HOST} ${MSG}\\n\"); }; "
                                                               "or write the template itself, with its macros");
                              break;
                            }
                          }
                          return nullptr;
                        },
                        diag_};
  }

  int build_source(const std::string& name, const Location& loc, const std::vector<ConfNode>& drivers) {
    SourceDef def;
    def.name = name;
    def.loc = loc;
    for (const auto& d : drivers) {
      const SourceBuilder* b = drivers_.source(d.name);
      if (!b) {
        std::string near = nearest_word(d.name, drivers_.source_names());
        std::string list;
        for (const auto& n : drivers_.source_names()) list += (list.empty() ? "" : ", ") + n + "()";
        diag_->error(d.loc, "unknown source driver '" + d.name + "'",
                     near.empty() ? "logferry's source drivers: " + list : "did you mean '" + near + "()'?");
        continue;
      }
      OptionReader r(d, d.name + "() source", diag_);
      auto drv = (*b)(r, context(&d));
      r.finish();
      if (drv) def.drivers.push_back(std::move(drv));
    }
    cfg_->sources.push_back(std::move(def));
    return static_cast<int>(cfg_->sources.size()) - 1;
  }

  int build_destination(const std::string& name, const Location& loc, const std::vector<ConfNode>& drivers) {
    DestinationDef def;
    def.name = name;
    def.loc = loc;
    for (const auto& d : drivers) {
      const DestinationBuilder* b = drivers_.destination(d.name);
      if (!b) {
        std::string near = nearest_word(d.name, drivers_.destination_names());
        std::string list;
        for (const auto& n : drivers_.destination_names()) list += (list.empty() ? "" : ", ") + n + "()";
        diag_->error(d.loc, "unknown destination driver '" + d.name + "'",
                     near.empty() ? "logferry's destination drivers: " + list : "did you mean '" + near + "()'?");
        continue;
      }
      OptionReader r(d, d.name + "() destination", diag_);
      auto drv = (*b)(r, context(&d));
      r.finish();
      if (drv) def.drivers.push_back(std::move(drv));
    }
    cfg_->destinations.push_back(std::move(def));
    return static_cast<int>(cfg_->destinations.size()) - 1;
  }

  std::unique_ptr<LogPath> compile_path(const LogStmt& stmt, bool top) {
    auto path = std::make_unique<LogPath>();
    path->loc = stmt.loc;
    for (const auto& fl : stmt.flags) {
      for (const auto& a : fl.args) {
        std::string f = normalize_name(a.is_value() ? a.value : a.name);
        if (f == "final") path->final = true;
        else if (f == "fallback") path->fallback = true;
        else if (f == "catchall" || f == "catch-all") path->catchall = true;
        else if (f == "flow-control") path->flow_control = true;
        else if (f == "drop-unmatched") path->drop_unmatched = true;
        else {
          static const std::vector<std::string> kFlags = {"final", "fallback", "catchall", "flow-control", "drop-unmatched"};
          std::string near = nearest_word(f, kFlags);
          diag_->error(a.loc, "unknown log flag '" + f + "'",
                       near.empty() ? "log flags: final, fallback, catchall, flow-control, drop-unmatched"
                                    : "did you mean '" + near + "'?");
        }
      }
    }
    if (!top && (path->catchall || path->fallback))
      diag_->warning(stmt.loc, "catchall and fallback act on top-level log statements only");
    bool last_was_log = false;
    for (const auto& item : stmt.items) {
      switch (item.kind) {
        case LogItem::Kind::kSource: {
          if (!top) {
            diag_->error(item.loc, "a source inside a nested log statement",
                         "put sources in the top-level log { } statement");
            break;
          }
          int idx;
          if (item.ref.empty()) {
            idx = build_source("#anonymous-source-" + std::to_string(anon_++), item.loc, item.drivers);
          } else {
            idx = cfg_->find_source(item.ref);
            if (idx < 0) {
              diag_->error(item.loc, "undefined source '" + item.ref + "'",
                           undefined_hint(ObjectDef::Kind::kSource, item.ref, "source"));
              break;
            }
          }
          used_sources_.insert(idx);
          path->sources.push_back(idx);
          break;
        }
        case LogItem::Kind::kFilter: {
          PathStep step;
          step.kind = PathStep::Kind::kFilter;
          if (item.ref.empty()) {
            auto f = parse_expr(item.expr, "inline filter");
            if (!f) break;
            step.filter = f.get();
            cfg_->inline_filters.push_back(std::move(f));
          } else {
            step.filter = named_filter(item.ref);
            if (!step.filter) {
              if (!failed_filters_.count(item.ref))
                diag_->error(item.loc, "undefined filter '" + item.ref + "'",
                             undefined_hint(ObjectDef::Kind::kFilter, item.ref, "filter"));
              break;
            }
            used_filters_.insert(item.ref);
          }
          path->steps.push_back(std::move(step));
          break;
        }
        case LogItem::Kind::kDestination: {
          int idx;
          if (item.ref.empty()) {
            idx = build_destination("#anonymous-destination-" + std::to_string(anon_++), item.loc, item.drivers);
          } else {
            idx = cfg_->find_destination(item.ref);
            if (idx < 0) {
              diag_->error(item.loc, "undefined destination '" + item.ref + "'",
                           undefined_hint(ObjectDef::Kind::kDestination, item.ref, "destination"));
              break;
            }
          }
          used_destinations_.insert(idx);
          PathStep step;
          step.kind = PathStep::Kind::kDestination;
          step.destination = idx;
          path->steps.push_back(std::move(step));
          break;
        }
        case LogItem::Kind::kParser:
        case LogItem::Kind::kRewrite:
          diag_->error(item.loc, "parser and rewrite are not supported yet", "remove them from the log path");
          break;
        case LogItem::Kind::kLog: {
          // Consecutive nested logs form one group, so that final in one
          // of them stops its later siblings (as in syslog-ng).
          if (path->steps.empty() || path->steps.back().kind != PathStep::Kind::kLogs || !last_was_log) {
            PathStep step;
            step.kind = PathStep::Kind::kLogs;
            path->steps.push_back(std::move(step));
          }
          for (const auto& b : item.branches) {
            auto sub = compile_path(b, false);
            if (sub) path->steps.back().forks.push_back(std::move(sub));
          }
          break;
        }
        case LogItem::Kind::kJunction: {
          PathStep step;
          step.kind = PathStep::Kind::kJunction;
          for (const auto& b : item.branches) {
            auto sub = compile_path(b, false);
            if (sub) step.forks.push_back(std::move(sub));
          }
          path->steps.push_back(std::move(step));
          break;
        }
        case LogItem::Kind::kIf: {
          PathStep step;
          step.kind = PathStep::Kind::kIf;
          for (size_t i = 0; i < item.branches.size(); ++i) {
            auto sub = compile_path(item.branches[i], false);
            if (!sub) continue;
            const Filter* cond = nullptr;
            if (!item.conditions[i].empty()) {
              auto f = parse_expr(item.conditions[i], "if condition");
              if (!f) continue;
              cond = f.get();
              cfg_->inline_filters.push_back(std::move(f));
            }
            step.conditions.push_back(cond);
            step.forks.push_back(std::move(sub));
          }
          path->steps.push_back(std::move(step));
          break;
        }
      }
      last_was_log = item.kind == LogItem::Kind::kLog;
    }
    if (top && path->sources.empty() && !path->catchall)
      diag_->warning(stmt.loc, "log statement without a source receives nothing (add source(...) or flags(catchall))");
    return path;
  }

  void warn_unused() {
    for (size_t i = 0; i < cfg_->sources.size(); ++i)
      if (!used_sources_.count(static_cast<int>(i)))
        diag_->warning(cfg_->sources[i].loc, "source '" + cfg_->sources[i].name + "' is not used in any log statement");
    for (size_t i = 0; i < cfg_->destinations.size(); ++i)
      if (!used_destinations_.count(static_cast<int>(i)))
        diag_->warning(cfg_->destinations[i].loc,
                       "destination '" + cfg_->destinations[i].name + "' is not used in any log statement");
  }

  const ConfigTree& tree_;
  const DriverRegistry& drivers_;
  Config* cfg_;
  Diagnostics* diag_;
  std::vector<std::string> filter_stack_;
  std::set<std::string> failed_filters_;
  std::set<int> used_sources_, used_destinations_;
  std::set<std::string> used_filters_;
  std::set<const ObjectDef*> duplicates_;
  // filter(NAME) references that failed because NAME itself is invalid
  // (already reported) or closes a cycle, while parsing an expression.
  std::string failed_ref_;
  std::vector<std::string> cycle_;
  int anon_ = 0;
};

static std::unique_ptr<Config> finish_load(bool parsed, ConfigTree& tree, const ConfigError& perr,
                                           const DriverRegistry& drivers, std::vector<std::string>* errors,
                                           std::vector<std::string>* warnings) {
  for (const auto& w : tree.warnings) warnings->push_back(w);
  if (!parsed) {
    errors->push_back(format_error(tree, perr));
    return nullptr;
  }
  auto cfg = std::make_unique<Config>();
  Diagnostics diag(&tree);
  ConfigBuilder(tree, drivers, cfg.get(), &diag).build();
  for (const auto& w : diag.warnings()) warnings->push_back(w);
  for (const auto& e : diag.errors()) errors->push_back(e);
  if (!diag.ok()) return nullptr;
  return cfg;
}

std::unique_ptr<Config> Config::load_file(const std::string& path, const DriverRegistry& drivers,
                                          std::vector<std::string>* errors, std::vector<std::string>* warnings) {
  ConfigTree tree;
  ConfigError perr;
  bool ok = parse_config_file(path, &tree, &perr);
  if (!ok && perr.loc.file < 0) {
    errors->push_back(path + ": error: " + perr.message + (perr.hint.empty() ? "" : "\n  hint: " + perr.hint));
    return nullptr;
  }
  return finish_load(ok, tree, perr, drivers, errors, warnings);
}

std::unique_ptr<Config> Config::load_text(const std::string& text, const std::string& name,
                                          const DriverRegistry& drivers, std::vector<std::string>* errors,
                                          std::vector<std::string>* warnings) {
  ConfigTree tree;
  ConfigError perr;
  bool ok = parse_config_text(text, name, &tree, &perr);
  return finish_load(ok, tree, perr, drivers, errors, warnings);
}

namespace {
void describe_path(const Config& cfg, const LogPath& p, int depth, std::string& out) {
  std::string pad(static_cast<size_t>(depth) * 2, ' ');
  out += pad + "log";
  std::vector<std::string> flags;
  if (p.final) flags.push_back("final");
  if (p.fallback) flags.push_back("fallback");
  if (p.catchall) flags.push_back("catchall");
  if (p.flow_control) flags.push_back("flow-control");
  if (p.drop_unmatched) flags.push_back("drop-unmatched");
  if (!flags.empty()) {
    out += " flags(";
    for (size_t i = 0; i < flags.size(); ++i) out += (i ? ", " : "") + flags[i];
    out += ")";
  }
  out += "\n";
  for (int s : p.sources) out += pad + "  source " + cfg.sources[static_cast<size_t>(s)].name + "\n";
  for (const auto& step : p.steps) {
    switch (step.kind) {
      case PathStep::Kind::kFilter: {
        std::string name = "(inline)";
        for (const auto& f : cfg.filters)
          if (f.second.get() == step.filter) name = f.first;
        out += pad + "  filter " + name + "\n";
        break;
      }
      case PathStep::Kind::kDestination:
        out += pad + "  destination " + cfg.destinations[static_cast<size_t>(step.destination)].name + "\n";
        break;
      case PathStep::Kind::kLogs:
        for (const auto& f : step.forks) describe_path(cfg, *f, depth + 1, out);
        break;
      case PathStep::Kind::kJunction:
        out += pad + "  junction:\n";
        for (const auto& f : step.forks) describe_path(cfg, *f, depth + 2, out);
        break;
      case PathStep::Kind::kIf:
        for (size_t i = 0; i < step.forks.size(); ++i) {
          out += pad + (i == 0 ? "  if" : step.conditions[i] ? "  elif" : "  else");
          if (step.conditions[i]) out += " (condition)";
          out += ":\n";
          describe_path(cfg, *step.forks[i], depth + 2, out);
        }
        break;
    }
  }
}
}  // namespace

std::string Config::describe() const {
  std::string out;
  out += "sources:\n";
  for (const auto& s : sources) {
    out += "  " + s.name + "\n";
    for (const auto& d : s.drivers) out += "    " + d->describe() + "\n";
  }
  out += "filters:\n";
  for (const auto& f : filters) out += "  " + f.first + "\n";
  out += "templates:\n";
  for (const auto& t : templates) {
    // Written as in the config: "...\n", not a line break in the listing.
    std::string text;
    for (char c : t.second->source()) {
      if (c == '\n') text += "\\n";
      else if (c == '\t') text += "\\t";
      else if (c == '\r') text += "\\r";
      else if (c == '"' || c == '\\') text += std::string("\\") + c;
      else text += c;
    }
    out += "  " + t.first + ": \"" + text + "\"\n";
  }
  out += "destinations:\n";
  for (const auto& d : destinations) {
    out += "  " + d.name + "\n";
    for (const auto& dr : d.drivers) out += "    " + dr->describe() + "\n";
  }
  out += "log paths:\n";
  for (const auto& p : paths) describe_path(*this, *p, 1, out);
  return out;
}

}  // namespace logferry
