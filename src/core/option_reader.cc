#include "core/option_reader.h"

#include <grp.h>
#include <pwd.h>

#include "core/text.h"

namespace logferry {

void Diagnostics::error(const Location& loc, const std::string& msg, const std::string& hint) {
  std::string s = format_location(*tree_, loc) + ": error: " + msg;
  if (!hint.empty()) s += "\n  hint: " + hint;
  errors_.push_back(std::move(s));
}

void Diagnostics::warning(const Location& loc, const std::string& msg) {
  warnings_.push_back(format_location(*tree_, loc) + ": warning: " + msg);
}

OptionReader::OptionReader(const ConfNode& node, std::string what, Diagnostics* diag)
    : node_(node), what_(std::move(what)), diag_(diag) {
  for (const auto& a : node.args) {
    if (a.is_value()) {
      positional_.push_back(&a);
    } else {
      options_.push_back(&a);
    }
  }
  used_.assign(options_.size(), false);
}

const ConfNode* OptionReader::find(const char* name) {
  known_.push_back(name);
  const ConfNode* found = nullptr;
  for (size_t i = 0; i < options_.size(); ++i) {
    if (options_[i]->name == name) {
      if (found) diag_->warning(options_[i]->loc, std::string(name) + "() given twice in " + what_ + "; the last one counts");
      found = options_[i];
      used_[i] = true;
      last_loc_ = found->loc;
    }
  }
  return found;
}

const ConfNode* OptionReader::single_value(const ConfNode* opt) {
  if (opt->args.size() != 1 || !opt->args[0].is_value()) {
    std::string found = opt->args.empty()     ? "nothing"
                        : opt->args.size() > 1 ? std::to_string(opt->args.size()) + " values"
                                               : "option " + opt->args[0].name + "()";
    diag_->error(opt->loc, "expected one value in " + opt->name + "() of " + what_ + ", found " + found,
                 "write " + opt->name + "(value)");
    return nullptr;
  }
  return &opt->args[0];
}

bool OptionReader::string(const char* name, std::string* out) {
  const ConfNode* o = find(name);
  if (!o) return false;
  const ConfNode* v = single_value(o);
  if (!v) return false;
  *out = v->value;
  return true;
}

bool OptionReader::strings(const char* name, std::vector<std::string>* out) {
  const ConfNode* o = find(name);
  if (!o) return false;
  out->clear();
  for (const auto& a : o->args) {
    if (!a.is_value()) {
      diag_->error(a.loc, "expected values in " + std::string(name) + "() of " + what_ + ", found option " + a.name + "()",
                   "write " + std::string(name) + "(\"value\" \"value\" ...), each value quoted");
      return false;
    }
    out->push_back(a.value);
  }
  return true;
}

bool OptionReader::integer(const char* name, int64_t* out, int64_t min, int64_t max) {
  const ConfNode* o = find(name);
  if (!o) return false;
  const ConfNode* v = single_value(o);
  if (!v) return false;
  int64_t n;
  if (!parse_int64(v->value, &n) || n < min || n > max) {
    diag_->error(v->loc, "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max) +
                             " in " + std::string(name) + "() of " + what_ + ", found '" + v->value + "'",
                 "write a plain number, without quotes or units: " + std::string(name) + "(N)");
    return false;
  }
  *out = n;
  return true;
}

bool OptionReader::yesno(const char* name, bool* out) {
  const ConfNode* o = find(name);
  if (!o) return false;
  const ConfNode* v = single_value(o);
  if (!v) return false;
  const std::string& s = v->value;
  if (s == "yes" || s == "on" || s == "1" || s == "true") {
    *out = true;
  } else if (s == "no" || s == "off" || s == "0" || s == "false") {
    *out = false;
  } else {
    diag_->error(v->loc, "expected yes or no in " + std::string(name) + "() of " + what_ + ", found '" + s + "'",
                 "write " + std::string(name) + "(yes) or " + std::string(name) + "(no)");
    return false;
  }
  return true;
}

bool OptionReader::octal(const char* name, int* out) {
  const ConfNode* o = find(name);
  if (!o) return false;
  const ConfNode* v = single_value(o);
  if (!v) return false;
  const std::string& s = v->value;
  int n = 0;
  bool ok = !s.empty() && s.size() <= 5;
  for (char c : s) {
    if (c < '0' || c > '7') ok = false;
    n = n * 8 + (c - '0');
  }
  if (s == "-1") {  // syslog-ng: leave as the system makes it
    *out = -1;
    return true;
  }
  if (!ok || n > 07777) {
    diag_->error(v->loc, "expected an octal mode such as 0640 in " + std::string(name) + "() of " + what_ +
                             ", found '" + s + "'",
                 "write " + std::string(name) + "(0640): owner, group and others, each 0 to 7");
    return false;
  }
  *out = n;
  return true;
}

bool OptionReader::choice(const char* name, const std::vector<std::string>& choices, std::string* out) {
  const ConfNode* o = find(name);
  if (!o) return false;
  const ConfNode* v = single_value(o);
  if (!v) return false;
  std::string s = normalize_name(v->value);
  for (const auto& c : choices) {
    if (s == c) {
      *out = c;
      return true;
    }
  }
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  std::string near = nearest_word(s, choices);
  diag_->error(v->loc, "unknown value '" + v->value + "' in " + std::string(name) + "() of " + what_,
               near.empty() ? "expected one of " + list : "did you mean '" + near + "'? (expected one of " + list + ")");
  return false;
}

bool OptionReader::flags(const char* name, const std::vector<std::string>& known, std::vector<std::string>* out) {
  const ConfNode* o = find(name);
  if (!o) return false;
  bool ok = true;
  for (const auto& a : o->args) {
    std::string f = normalize_name(a.is_value() ? a.value : a.name);
    bool found = false;
    for (const auto& k : known) found |= f == k;
    if (!found) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      std::string near = nearest_word(f, known);
      diag_->error(a.loc, "unknown flag '" + f + "' in " + std::string(name) + "() of " + what_,
                   near.empty() ? "known flags: " + list : "did you mean '" + near + "'?");
      ok = false;
      continue;
    }
    out->push_back(f);
  }
  return ok;
}

void OptionReader::owner_group(const std::string& default_owner, const std::string& default_group, int* uid,
                               int* gid) {
  auto lookup = [&](const char* opt, const std::string& fallback, bool user, int* out) {
    std::string name = fallback;
    Location loc = node_.loc;
    if (string(opt, &name)) loc = last_loc_;
    if (name.empty()) return;
    if (user) {
      if (passwd* pw = getpwnam(name.c_str())) *out = static_cast<int>(pw->pw_uid);
      else diag_->error(loc, "unknown user '" + name + "' in " + opt + "() of " + what_, "check /etc/passwd");
    } else {
      if (struct group* gr = getgrnam(name.c_str())) *out = static_cast<int>(gr->gr_gid);
      else diag_->error(loc, "unknown group '" + name + "' in " + opt + "() of " + what_, "check /etc/group");
    }
  };
  lookup("owner", default_owner, true, uid);
  lookup("group", default_group, false, gid);
}

const ConfNode* OptionReader::child(const char* name) { return find(name); }

void OptionReader::accepted_not_implemented(const char* name) {
  const ConfNode* o = find(name);
  if (o) diag_->warning(o->loc, std::string(name) + "() of " + what_ + " is accepted but not acted on yet");
}

bool OptionReader::finish() {
  bool ok = true;
  if (!positional_taken_ && !positional_.empty()) {
    diag_->error(positional_[0]->loc, "unexpected value '" + positional_[0]->value + "' in " + what_,
                 "options are written name(value)");
    ok = false;
  }
  for (size_t i = 0; i < options_.size(); ++i) {
    if (used_[i]) continue;
    std::string near = nearest_word(options_[i]->name, known_);
    diag_->error(options_[i]->loc, "unknown option '" + options_[i]->name + "' in " + what_,
                 near.empty() ? "see docs/configuration.md for the options of " +
                                    (what_ == "options" ? std::string("options { }") : what_)
                              : "did you mean '" + near + "'?");
    ok = false;
  }
  return ok;
}

}  // namespace logferry
