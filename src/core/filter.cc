#include "core/filter.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <fnmatch.h>
#include <strings.h>

#include <re2/re2.h>

#include <deque>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <unordered_set>
#include <vector>

#include "core/template.h"
#include "core/text.h"

namespace logferry {
namespace {

// A render buffer per nesting depth on this thread.  A filter renders
// templates, and a template may hold $(if (FILTER) ...) that renders again
// while the outer render is still writing, so one shared buffer is not
// enough.  The buffers keep their capacity, so evaluation allocates nothing
// once warm.
class RenderBuffer {
 public:
  RenderBuffer() {
    if (depth_ == pool_.size()) pool_.emplace_back();
    buf_ = &pool_[depth_++];
    buf_->clear();
  }
  ~RenderBuffer() { --depth_; }
  RenderBuffer(const RenderBuffer&) = delete;
  RenderBuffer& operator=(const RenderBuffer&) = delete;
  std::string& str() { return *buf_; }

 private:
  static thread_local std::deque<std::string> pool_;  // deque: stable references
  static thread_local size_t depth_;
  std::string* buf_;
};
thread_local std::deque<std::string> RenderBuffer::pool_;
thread_local size_t RenderBuffer::depth_ = 0;

class NotFilter : public Filter {
 public:
  explicit NotFilter(std::unique_ptr<Filter> f) : f_(std::move(f)) {}
  bool eval(const LogMessage& m) const override { return !f_->eval(m); }
  bool eval_mut(LogMessage& m) const override { return !f_->eval_mut(m); }

 private:
  std::unique_ptr<Filter> f_;
};

class AndFilter : public Filter {
 public:
  AndFilter(std::unique_ptr<Filter> a, std::unique_ptr<Filter> b) : a_(std::move(a)), b_(std::move(b)) {}
  bool eval(const LogMessage& m) const override { return a_->eval(m) && b_->eval(m); }
  bool eval_mut(LogMessage& m) const override { return a_->eval_mut(m) && b_->eval_mut(m); }

 private:
  std::unique_ptr<Filter> a_, b_;
};

class OrFilter : public Filter {
 public:
  OrFilter(std::unique_ptr<Filter> a, std::unique_ptr<Filter> b) : a_(std::move(a)), b_(std::move(b)) {}
  bool eval(const LogMessage& m) const override { return a_->eval(m) || b_->eval(m); }
  bool eval_mut(LogMessage& m) const override { return a_->eval_mut(m) || b_->eval_mut(m); }

 private:
  std::unique_ptr<Filter> a_, b_;
};

// facility() and level(): a bit per accepted value.
class PriorityFilter : public Filter {
 public:
  PriorityFilter(bool facility, uint32_t mask) : facility_(facility), mask_(mask) {}
  bool eval(const LogMessage& m) const override {
    int v = facility_ ? m.facility() : m.severity();
    return v < 32 && (mask_ >> v) & 1;
  }

 private:
  bool facility_;
  uint32_t mask_;
};

class RefFilter : public Filter {
 public:
  explicit RefFilter(const Filter* f) : f_(f) {}
  bool eval(const LogMessage& m) const override { return f_->eval(m); }
  bool eval_mut(LogMessage& m) const override { return f_->eval_mut(m); }

 private:
  const Filter* f_;
};

class TagsFilter : public Filter {
 public:
  explicit TagsFilter(std::vector<std::string> tags) : tags_(std::move(tags)) {}
  bool eval(const LogMessage& m) const override {
    for (const auto& t : tags_)
      if (m.has_tag(t)) return true;
    return false;
  }

 private:
  std::vector<std::string> tags_;
};

// How host(), program(), message() and match() compare.
struct Matcher {
  enum class Type { kPcre, kString, kGlob } type = Type::kPcre;
  bool ignore_case = false;
  bool prefix = false;
  bool substring = false;
  bool store_matches = false;
  std::string pattern;
  std::unique_ptr<RE2> re;

  bool matches(std::string_view v) const {
    switch (type) {
      case Type::kPcre:
        return RE2::PartialMatch(v, *re);
      case Type::kGlob: {
        std::string s(v);
        return fnmatch(pattern.c_str(), s.c_str(), ignore_case ? FNM_CASEFOLD : 0) == 0;
      }
      case Type::kString: {
        std::string_view p = pattern;
        auto eq = [&](std::string_view a, std::string_view b) {
          return a.size() == b.size() &&
                 (ignore_case ? strncasecmp(a.data(), b.data(), a.size()) == 0 : a == b);
        };
        if (substring) {
          if (p.size() > v.size()) return false;
          for (size_t i = 0; i + p.size() <= v.size(); ++i)
            if (eq(v.substr(i, p.size()), p)) return true;
          return false;
        }
        if (prefix) return v.size() >= p.size() && eq(v.substr(0, p.size()), p);
        return eq(v, p);
      }
    }
    return false;
  }
};

// Matches a field, a name-value pair or a rendered template.  An empty
// value name is match() without value(): like syslog-ng, it then matches
// "PROGRAM[PID]: MESSAGE".
class MatchFilter : public Filter {
 public:
  MatchFilter(Matcher matcher, std::string value_name, std::unique_ptr<Template> tmpl)
      : matcher_(std::move(matcher)), value_name_(std::move(value_name)), tmpl_(std::move(tmpl)) {}
  bool eval(const LogMessage& m) const override {
    RenderBuffer rb;
    std::string& buf = rb.str();
    subject(m, buf);
    return matcher_.matches(buf);
  }

  // With flags(store-matches), a pcre match stores the whole match as $0
  // and its groups as $1..$9.
  bool eval_mut(LogMessage& m) const override {
    if (!matcher_.store_matches || matcher_.type != Matcher::Type::kPcre) return eval(m);
    RenderBuffer rb;
    std::string& buf = rb.str();
    subject(m, buf);
    constexpr int kMax = 10;
    int groups = std::min(matcher_.re->NumberOfCapturingGroups() + 1, kMax);
    re2::StringPiece found[kMax];
    if (!matcher_.re->Match(buf, 0, buf.size(), RE2::UNANCHORED, found, groups)) return false;
    static const char* const kNames[kMax] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    for (int i = 0; i < groups; ++i)
      m.set_value(kNames[i], std::string_view(found[i].data() ? found[i].data() : "", found[i].size()));
    return true;
  }

 private:
  void subject(const LogMessage& m, std::string& buf) const {
    if (tmpl_) {
      tmpl_->render(m, RenderOptions{}, buf);
    } else if (value_name_.empty()) {
      buf.append(m.get(Field::kProgram));
      std::string_view pid = m.get(Field::kPid);
      if (!pid.empty()) {
        buf += '[';
        buf.append(pid);
        buf += ']';
      }
      buf += ": ";
      buf.append(m.get(Field::kMessage));
    } else {
      render_name(value_name_, m, RenderOptions{}, buf);
    }
  }

 private:
  Matcher matcher_;
  std::string value_name_;
  std::unique_ptr<Template> tmpl_;
};

class CompareFilter : public Filter {
 public:
  enum class Op { kEq, kNe, kLt, kLe, kGt, kGe };
  CompareFilter(std::unique_ptr<Template> a, std::unique_ptr<Template> b, Op op, bool numeric)
      : a_(std::move(a)), b_(std::move(b)), op_(op), numeric_(numeric) {}
  bool eval(const LogMessage& m) const override {
    RenderBuffer xb, yb;
    std::string& x = xb.str();
    std::string& y = yb.str();
    a_->render(m, RenderOptions{}, x);
    b_->render(m, RenderOptions{}, y);
    int cmp;
    if (numeric_) {
      int64_t p, q;
      // A value that is not a number makes a numeric comparison false
      // (and != true).
      if (!parse_int64(x, &p) || !parse_int64(y, &q)) return op_ == Op::kNe;
      cmp = p < q ? -1 : p > q ? 1 : 0;
    } else {
      int c = x.compare(y);
      cmp = c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    switch (op_) {
      case Op::kEq: return cmp == 0;
      case Op::kNe: return cmp != 0;
      case Op::kLt: return cmp < 0;
      case Op::kLe: return cmp <= 0;
      case Op::kGt: return cmp > 0;
      case Op::kGe: return cmp >= 0;
    }
    return false;
  }

 private:
  std::unique_ptr<Template> a_, b_;
  Op op_;
  bool numeric_;
};

// netmask("10.0.0.0/8") and netmask6("2001:db8::/32") on SOURCEIP.
class NetmaskFilter : public Filter {
 public:
  NetmaskFilter(int family, const unsigned char* addr, int bits) : family_(family), bits_(bits) {
    memcpy(addr_, addr, family == AF_INET ? 4 : 16);
  }
  bool eval(const LogMessage& m) const override {
    std::string_view ip = m.get(Field::kSourceIp);
    if (ip.empty() || ip.size() >= INET6_ADDRSTRLEN) return false;
    char buf[INET6_ADDRSTRLEN];
    memcpy(buf, ip.data(), ip.size());
    buf[ip.size()] = 0;
    unsigned char a[16];
    if (inet_pton(family_, buf, a) != 1) return false;
    int full = bits_ / 8, rest = bits_ % 8;
    if (memcmp(a, addr_, static_cast<size_t>(full)) != 0) return false;
    if (rest == 0) return true;
    unsigned char mask = static_cast<unsigned char>(0xFF << (8 - rest));
    return (a[full] & mask) == (addr_[full] & mask);
  }

 private:
  int family_;
  unsigned char addr_[16];
  int bits_;
};

class SourceFilter : public Filter {
 public:
  explicit SourceFilter(int id) : id_(id) {}
  bool eval(const LogMessage& m) const override { return m.source_id == id_; }

 private:
  int id_;
};

// in-list("/etc/logferry/hosts.list" value("HOST")): the value is one of the
// file's lines.
class InListFilter : public Filter {
 public:
  InListFilter(std::unordered_set<std::string> items, std::string value)
      : items_(std::move(items)), value_(std::move(value)) {}
  bool eval(const LogMessage& m) const override {
    RenderBuffer rb;
    std::string& buf = rb.str();
    render_name(value_, m, RenderOptions{}, buf);
    return items_.count(buf) > 0;
  }

 private:
  std::unordered_set<std::string> items_;
  std::string value_;
};

class Parser {
 public:
  Parser(TokenStream& t, const FilterResolver& r, FilterError* e, const SourceResolver& s)
      : t_(t), resolver_(r), sources_(s), err_(e) {}

  std::unique_ptr<Filter> expr() {
    auto left = term();
    while (left && is_word("or")) {
      t_.next();
      auto right = term();
      if (!right) return nullptr;
      left = std::make_unique<OrFilter>(std::move(left), std::move(right));
    }
    return left;
  }

 private:
  bool is_word(const char* w) const {
    const Token& tk = t_.peek();
    return tk.type == TokenType::kWord && strcasecmp(tk.text.c_str(), w) == 0;
  }

  std::nullptr_t fail(const Token& at, std::string msg) {
    if (err_->message.empty()) {
      err_->message = std::move(msg);
      err_->line = at.line;
      err_->col = at.col;
    }
    return nullptr;
  }

  std::string found(const Token& tk) {
    if (tk.type == TokenType::kEnd) return "the end of the input";
    if (tk.type == TokenType::kError) return tk.text;
    return "'" + tk.text + "'";
  }

  bool expect(TokenType type, const char* what_for) {
    const Token& tk = t_.peek();
    if (tk.type == type) {
      t_.next();
      return true;
    }
    fail(tk, std::string("expected ") + token_type_name(type) + " " + what_for + ", found " + found(tk));
    return false;
  }

  std::unique_ptr<Filter> term() {
    auto left = factor();
    while (left && is_word("and")) {
      t_.next();
      auto right = factor();
      if (!right) return nullptr;
      left = std::make_unique<AndFilter>(std::move(left), std::move(right));
    }
    return left;
  }

  // Nesting of parentheses, "not" and filter() is bounded, so that hostile
  // text cannot exhaust the stack.
  static constexpr int kMaxDepth = 128;

  std::unique_ptr<Filter> factor() {
    const Token& tk = t_.peek();
    if (depth_ >= kMaxDepth)
      return fail(tk, "filter expression nested more than " + std::to_string(kMaxDepth) + " levels deep");
    struct DepthGuard {
      int& d;
      explicit DepthGuard(int& x) : d(x) { ++d; }
      ~DepthGuard() { --d; }
    } guard(depth_);
    if (is_word("not")) {
      t_.next();
      auto f = factor();
      if (!f) return nullptr;
      return std::make_unique<NotFilter>(std::move(f));
    }
    if (tk.type == TokenType::kLParen) {
      t_.next();
      auto f = expr();
      if (!f) return nullptr;
      if (!expect(TokenType::kRParen, "to close '('")) return nullptr;
      return f;
    }
    if (tk.type == TokenType::kWord && t_.peek(1).type == TokenType::kLParen) return function();
    if (tk.type == TokenType::kString || tk.type == TokenType::kWord) return comparison();
    return fail(tk, "expected a filter (facility(), level(), program(), match(), a comparison, "
                    "'not' or '('), found " + found(tk));
  }

  std::unique_ptr<Template> compile_operand(const Token& tk) {
    std::string error;
    auto t = Template::compile(tk.text, &error);
    if (!t) fail(tk, "invalid template " + found(tk) + ": " + error);
    return t;
  }

  std::unique_ptr<Filter> comparison() {
    Token lhs = t_.next();
    const Token& op = t_.peek();
    static const struct {
      const char* name;
      CompareFilter::Op op;
      bool numeric;
    } kOps[] = {{"eq", CompareFilter::Op::kEq, false}, {"ne", CompareFilter::Op::kNe, false},
                {"lt", CompareFilter::Op::kLt, false}, {"le", CompareFilter::Op::kLe, false},
                {"gt", CompareFilter::Op::kGt, false}, {"ge", CompareFilter::Op::kGe, false},
                {"==", CompareFilter::Op::kEq, true},  {"!=", CompareFilter::Op::kNe, true},
                {"<", CompareFilter::Op::kLt, true},   {"<=", CompareFilter::Op::kLe, true},
                {">", CompareFilter::Op::kGt, true},   {">=", CompareFilter::Op::kGe, true}};
    for (const auto& o : kOps) {
      if ((op.type == TokenType::kWord || op.type == TokenType::kOperator) &&
          strcasecmp(op.text.c_str(), o.name) == 0) {
        t_.next();
        const Token& rhs_tok = t_.peek();
        if (rhs_tok.type != TokenType::kString && rhs_tok.type != TokenType::kWord)
          return fail(rhs_tok, "expected a value after '" + std::string(o.name) + "', found " + found(rhs_tok));
        Token rhs = t_.next();
        auto a = compile_operand(lhs);
        if (!a) return nullptr;
        auto b = compile_operand(rhs);
        if (!b) return nullptr;
        return std::make_unique<CompareFilter>(std::move(a), std::move(b), o.op, o.numeric);
      }
    }
    return fail(op, "expected a comparison operator (eq ne lt le gt ge == != < <= > >=) after " +
                        found(lhs) + ", found " + found(op));
  }

  // Reads the arguments of name(...) up to the closing paren: plain values
  // into *values, and option(...) pairs into *options.
  struct Arg {
    Token tok;
  };
  struct Option {
    Token name;
    std::vector<Token> values;
  };
  bool arguments(std::vector<Token>* values, std::vector<Option>* options) {
    while (true) {
      const Token& tk = t_.peek();
      if (tk.type == TokenType::kRParen) {
        t_.next();
        return true;
      }
      if (tk.type == TokenType::kComma) {
        t_.next();
        continue;
      }
      if (tk.type == TokenType::kWord && t_.peek(1).type == TokenType::kLParen) {
        Option o{t_.next(), {}};
        t_.next();
        while (t_.peek().type != TokenType::kRParen) {
          const Token& v = t_.peek();
          if (v.type == TokenType::kComma) {
            t_.next();
            continue;
          }
          if (v.type != TokenType::kWord && v.type != TokenType::kString) {
            fail(v, "expected a value in " + o.name.text + "(), found " + found(v));
            return false;
          }
          o.values.push_back(t_.next());
        }
        t_.next();
        options->push_back(std::move(o));
        continue;
      }
      if (tk.type == TokenType::kWord || tk.type == TokenType::kString || tk.type == TokenType::kDotDot) {
        values->push_back(t_.next());
        continue;
      }
      fail(tk, "expected a value or ')', found " + found(tk));
      return false;
    }
  }

  std::unique_ptr<Filter> priority(const Token& name, bool facility, const std::vector<Token>& values) {
    uint32_t mask = 0;
    auto lookup = [&](const Token& tk, int* v) {
      int64_t n;
      if (parse_int64(tk.text, &n) && n >= 0 && n < (facility ? 24 : 8)) {
        *v = static_cast<int>(n);
        return true;
      }
      *v = facility ? facility_from_name(tk.text) : severity_from_name(tk.text);
      if (*v >= 0) return true;
      fail(tk, std::string("unknown ") + (facility ? "facility " : "level ") + found(tk) +
                   (facility ? "; expected kern, user, mail, daemon, auth, syslog, lpr, news, uucp, "
                               "cron, authpriv, ftp, ntp, local0..local7 or a number"
                             : "; expected emerg, alert, crit, err, warning, notice, info, debug"));
      return false;
    };
    if (values.empty()) return fail(name, "expected at least one value in " + name.text + "()");
    for (size_t i = 0; i < values.size(); ++i) {
      int a;
      if (values[i].type == TokenType::kDotDot) return fail(values[i], "a range needs a value before '..'");
      if (!lookup(values[i], &a)) return nullptr;
      int b = a;
      if (i + 1 < values.size() && values[i + 1].type == TokenType::kDotDot) {
        if (i + 2 >= values.size()) return fail(values[i + 1], "a range needs a value after '..'");
        if (!lookup(values[i + 2], &b)) return nullptr;
        i += 2;
      }
      if (a > b) std::swap(a, b);  // err..emerg and emerg..err mean the same
      for (int v = a; v <= b; ++v) mask |= 1u << v;
    }
    return std::make_unique<PriorityFilter>(facility, mask);
  }

  bool matcher_options(const std::vector<Option>& options, Matcher* m, std::string* value,
                       std::unique_ptr<Template>* tmpl, bool allow_value) {
    for (const auto& o : options) {
      std::string n = o.name.text;
      for (auto& ch : n)
        if (ch == '_') ch = '-';
      if (n == "type" && o.values.size() == 1) {
        const std::string& v = o.values[0].text;
        if (v == "pcre" || v == "posix") {
          m->type = Matcher::Type::kPcre;
        } else if (v == "string") {
          m->type = Matcher::Type::kString;
        } else if (v == "glob") {
          m->type = Matcher::Type::kGlob;
        } else {
          fail(o.values[0], "unknown type " + found(o.values[0]) + "; expected pcre, string or glob");
          return false;
        }
      } else if (n == "flags") {
        for (const auto& f : o.values) {
          std::string fl = f.text;
          for (auto& ch : fl)
            if (ch == '_') ch = '-';
          if (fl == "ignore-case") m->ignore_case = true;
          else if (fl == "prefix") m->prefix = true;
          else if (fl == "substring") m->substring = true;
          else if (fl == "store-matches") m->store_matches = true;
          else if (fl == "utf8" || fl == "global") {
            // Accepted: RE2 reads UTF-8 already; "global" only matters for rewrites.
          } else {
            fail(f, "unknown flag " + found(f) + "; expected ignore-case, prefix, substring or store-matches");
            return false;
          }
        }
      } else if (allow_value && n == "value" && o.values.size() == 1) {
        // Value references need no '$' (syslog-ng drops one with a warning).
        std::string_view v = o.values[0].text;
        if (v.starts_with("${") && v.ends_with("}")) {
          v = v.substr(2, v.size() - 3);
        } else if (v.starts_with("$")) {
          v.remove_prefix(1);
        }
        if (v.empty()) {
          fail(o.values[0], "expected a name in value(), found " + found(o.values[0]));
          return false;
        }
        *value = std::string(v);
      } else if (allow_value && n == "template" && o.values.size() == 1) {
        std::string error;
        *tmpl = Template::compile(o.values[0].text, &error);
        if (!*tmpl) {
          fail(o.values[0], "invalid template: " + error);
          return false;
        }
      } else {
        fail(o.name, "unknown option " + found(o.name) +
                         (allow_value ? "; expected value(), template(), type() or flags()"
                                      : "; expected type() or flags()"));
        return false;
      }
    }
    return true;
  }

  std::unique_ptr<Filter> field_match(const Token& name, const std::vector<Token>& values,
                                      const std::vector<Option>& options, std::string field,
                                      bool allow_value) {
    if (values.size() != 1 || values[0].type == TokenType::kDotDot)
      return fail(name, "expected one pattern in " + name.text + "()");
    Matcher m;
    m.pattern = values[0].text;
    std::unique_ptr<Template> tmpl;
    if (!matcher_options(options, &m, &field, &tmpl, allow_value)) return nullptr;
    if (m.type == Matcher::Type::kPcre) {
      RE2::Options ro;
      ro.set_case_sensitive(!m.ignore_case);
      ro.set_log_errors(false);
      m.re = std::make_unique<RE2>(m.pattern, ro);
      if (!m.re->ok())
        return fail(values[0], "invalid regular expression " + found(values[0]) + ": " + m.re->error() +
                                   " (logferry uses RE2: no backreferences or lookaround)");
    }
    return std::make_unique<MatchFilter>(std::move(m), std::move(field), std::move(tmpl));
  }

  std::unique_ptr<Filter> netmask(const Token& name, const std::vector<Token>& values, bool v6) {
    if (values.size() != 1) return fail(name, "expected one network in " + name.text + "(), e.g. \"10.0.0.0/8\"");
    const std::string& spec = values[0].text;
    size_t slash = spec.find('/');
    std::string addr = spec.substr(0, slash);
    int family = v6 ? AF_INET6 : AF_INET;
    unsigned char a[16] = {0};
    int max_bits = v6 ? 128 : 32;
    int bits = max_bits;
    bool ok = inet_pton(family, addr.c_str(), a) == 1;
    if (ok && slash != std::string::npos) {
      std::string m = spec.substr(slash + 1);
      int64_t n;
      unsigned char mask[4];
      if (parse_int64(m, &n) && n >= 0 && n <= max_bits) {
        bits = static_cast<int>(n);
      } else if (!v6 && inet_pton(AF_INET, m.c_str(), mask) == 1) {
        uint32_t mv = (uint32_t(mask[0]) << 24) | (uint32_t(mask[1]) << 16) | (uint32_t(mask[2]) << 8) | mask[3];
        bits = 0;
        while (bits < 32 && (mv & (0x80000000u >> bits))) ++bits;
      } else {
        ok = false;
      }
    }
    if (!ok)
      return fail(values[0], "invalid network " + found(values[0]) + " in " + name.text + "(); expected " +
                                 (v6 ? "e.g. \"2001:db8::/32\"" : "e.g. \"10.0.0.0/8\" or \"10.0.0.0/255.0.0.0\""));
    return std::make_unique<NetmaskFilter>(family, a, bits);
  }

  std::unique_ptr<Filter> in_list(const Token& name, const std::vector<Token>& values,
                                  const std::vector<Option>& options) {
    if (values.size() != 1) return fail(name, "expected one file name in in-list()");
    std::string value = "MESSAGE";
    for (const auto& o : options) {
      if (o.name.text == "value" && o.values.size() == 1) {
        value = o.values[0].text;
        if (!value.empty() && value[0] == '$') value.erase(0, 1);
      } else {
        return fail(o.name, "unknown option " + found(o.name) + " in in-list(); expected value()");
      }
    }
    // The list is read whole at load: a regular file of at most 256 MiB.
    struct stat st;
    if (stat(values[0].text.c_str(), &st) == 0 && (!S_ISREG(st.st_mode) || st.st_size > (256 << 20)))
      return fail(values[0], "the list file " + found(values[0]) + " of in-list() is not a regular file of at most 256 MiB");
    std::ifstream in(values[0].text);
    if (!in) return fail(values[0], "cannot read the list file " + found(values[0]) + " of in-list()");
    std::unordered_set<std::string> items;
    std::string line;
    while (std::getline(in, line) && items.size() < 10000000) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
      if (!line.empty()) items.insert(line);
    }
    return std::make_unique<InListFilter>(std::move(items), value);
  }

  std::unique_ptr<Filter> function() {
    Token name = t_.next();
    t_.next();  // '('
    std::vector<Token> values;
    std::vector<Option> options;
    if (!arguments(&values, &options)) return nullptr;
    std::string n = name.text;
    for (auto& ch : n) {
      if (ch == '_') ch = '-';
      ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
    }
    if (n == "facility") return priority(name, true, values);
    if (n == "level" || n == "priority" || n == "severity") return priority(name, false, values);
    if (n == "host") return field_match(name, values, options, "HOST", false);
    if (n == "program") return field_match(name, values, options, "PROGRAM", false);
    if (n == "message") return field_match(name, values, options, "MESSAGE", false);
    // Without value() or template(), match() sees "PROGRAM[PID]: MESSAGE".
    if (n == "match") return field_match(name, values, options, "", true);
    if (n == "tags") {
      std::vector<std::string> tags;
      for (const auto& v : values) tags.push_back(v.text);
      if (tags.empty()) return fail(name, "expected at least one tag in tags()");
      return std::make_unique<TagsFilter>(std::move(tags));
    }
    if (n == "filter") {
      if (values.size() != 1) return fail(name, "expected one filter name in filter()");
      const Filter* f = resolver_ ? resolver_(values[0].text) : nullptr;
      if (!f) return fail(values[0], "undefined filter " + found(values[0]));
      return std::make_unique<RefFilter>(f);
    }
    if (n == "netmask" || n == "netmask6") return netmask(name, values, n == "netmask6");
    if (n == "source") {
      if (values.size() != 1) return fail(name, "expected one source name in source()");
      int id = sources_ ? sources_(values[0].text) : -1;
      if (id < 0) return fail(values[0], "undefined source " + found(values[0]));
      return std::make_unique<SourceFilter>(id);
    }
    if (n == "in-list") return in_list(name, values, options);
    return fail(name, "unknown filter function " + found(name) +
                          "; expected facility, level, priority, severity, host, program, message, "
                          "match, tags, filter, netmask, netmask6, source or in-list");
  }

  TokenStream& t_;
  const FilterResolver& resolver_;
  const SourceResolver& sources_;
  FilterError* err_;
  int depth_ = 0;
};

}  // namespace

std::unique_ptr<Filter> parse_filter(TokenStream& tokens, const FilterResolver& resolver,
                                     FilterError* error, const SourceResolver& sources) {
  Parser p(tokens, resolver, error, sources);
  return p.expr();
}

std::unique_ptr<Filter> parse_filter_text(std::string_view text, FilterError* error) {
  TokenStream tokens(tokenize(text));
  FilterResolver none;
  SourceResolver no_sources;
  auto f = parse_filter(tokens, none, error, no_sources);
  if (f && !tokens.at_end()) {
    const Token& tk = tokens.peek();
    error->message = "unexpected '" + tk.text + "' after the filter; expected 'and', 'or' or the end";
    error->line = tk.line;
    error->col = tk.col;
    return nullptr;
  }
  return f;
}

}  // namespace logferry
