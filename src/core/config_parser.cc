// Text to ConfigTree: the preprocessor (@version, @include, @define and
// `backtick` substitution) and the statement grammar.
#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "core/config_tree.h"

namespace logferry {

std::string normalize_name(std::string s) {
  for (auto& c : s)
    if (c == '_') c = '-';
  return s;
}

std::string nearest_word(const std::string& word, const std::vector<std::string>& known) {
  std::string best;
  size_t best_d = std::string::npos;
  std::string w = normalize_name(word);
  for (const auto& known_word : known) {
    // Names are compared with '_' folded to '-' on both sides (s_main and
    // s-main are one name), and suggested as they were written.
    std::string k = normalize_name(known_word);
    // Levenshtein distance, two rows.
    std::vector<size_t> prev(k.size() + 1), cur(k.size() + 1);
    for (size_t j = 0; j <= k.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= w.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= k.size(); ++j) {
        size_t sub = prev[j - 1] + (tolower(w[i - 1]) == tolower(k[j - 1]) ? 0 : 1);
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
      }
      std::swap(prev, cur);
    }
    size_t d = prev[k.size()];
    if (d < best_d) {
      best_d = d;
      best = known_word;
    }
  }
  size_t limit = std::max<size_t>(2, w.size() / 3);
  // A word that would have to be replaced entirely is no near miss ('zz' is not 'a').
  return best_d <= limit && best_d < w.size() ? best : "";
}

std::string format_location(const ConfigTree& tree, const Location& loc) {
  std::string file = loc.file >= 0 && static_cast<size_t>(loc.file) < tree.files.size()
                         ? tree.files[static_cast<size_t>(loc.file)]
                         : "<config>";
  return file + ":" + std::to_string(loc.line) + ":" + std::to_string(loc.col);
}

std::string format_error(const ConfigTree& tree, const ConfigError& e) {
  std::string s = format_location(tree, e.loc) + ": error: " + e.message;
  if (!e.hint.empty()) s += "\n  hint: " + e.hint;
  return s;
}

namespace {

constexpr int kMaxIncludeDepth = 15;

Location loc_of(const Token& t) { return Location{t.file, t.line, t.col}; }

std::string describe(const Token& t) {
  switch (t.type) {
    case TokenType::kEnd: return "the end of the file";
    case TokenType::kError: return t.text;
    case TokenType::kString: {
      // A quote opened by mistake swallows the rest of the line: show its start.
      std::string text = t.text.substr(0, t.text.find('\n'));
      if (text.size() > 40 || text.size() < t.text.size()) return "\"" + text.substr(0, 40) + "...\"";
      return "\"" + text + "\"";
    }
    default: return "'" + t.text + "'";
  }
}

std::string dir_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

class TreeParser {
 public:
  TreeParser(ConfigTree* tree, ConfigError* err) : tree_(tree), err_(err) {}

  bool load_file(const std::string& path, const Location& from, int depth, std::vector<Token>* out) {
    if (depth > kMaxIncludeDepth)
      return fail(from, "@include nested more than " + std::to_string(kMaxIncludeDepth) + " deep",
                  "an included file probably includes itself");
    char* real = realpath(path.c_str(), nullptr);
    std::string canonical = real ? real : path;
    free(real);
    if (std::find(stack_.begin(), stack_.end(), canonical) != stack_.end())
      return fail(from, "@include cycle: '" + path + "' is already being read", "remove the @include that loops back");
    // Config files are read whole: only regular files of a sane size.
    constexpr off_t kMaxConfigBytes = 16 << 20;
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && (!S_ISREG(st.st_mode) || st.st_size > kMaxConfigBytes))
      return fail(from, "'" + path + "' is not a regular file of at most 16 MiB", "point -f or @include at a config file");
    std::ifstream in(path, std::ios::binary);
    if (!in)
      return fail(from, "cannot read config file '" + path + "'",
                  depth == 0 ? "check the path given with -f" : "check the @include path (relative paths are relative to the including file)");
    std::stringstream ss;
    ss << in.rdbuf();
    stack_.push_back(canonical);
    int file = static_cast<int>(tree_->files.size());
    tree_->files.push_back(path);
    bool ok = load_text(ss.str(), file, dir_of(path), depth, out);
    stack_.pop_back();
    return ok;
  }

  bool load_text(const std::string& text, int file, const std::string& dir, int depth,
                 std::vector<Token>* out) {
    std::string chunk;
    int chunk_line = 1;
    int line_no = 0;
    size_t pos = 0;
    // `name` substitutions per line, to report columns as written.
    std::map<int, std::vector<Substitution>> substituted;
    auto flush = [&]() -> bool {
      auto toks = tokenize(chunk, chunk_line, 1, file);
      for (auto& t : toks) {
        auto subs = substituted.find(t.line);
        if (subs != substituted.end()) t.col = written_col(subs->second, t.col);
        if (t.type == TokenType::kError)
          return fail(loc_of(t), t.text, t.text == "unterminated string" ? "close the string with a matching quote" : "");
        if (t.type != TokenType::kEnd) out->push_back(std::move(t));
      }
      chunk.clear();
      return true;
    };
    while (pos <= text.size()) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string::npos) nl = text.size();
      std::string line = text.substr(pos, nl - pos);
      ++line_no;
      pos = nl + 1;
      size_t first = line.find_first_not_of(" \t");
      if (first != std::string::npos && line[first] == '@') {
        if (!flush()) return false;
        if (!pragma(line, file, line_no, dir, depth, out)) return false;
        chunk_line = line_no + 1;
        continue;
      }
      if (!substitute(&line, file, line_no, &substituted[line_no])) return false;
      if (chunk.empty()) chunk_line = line_no;
      chunk += line;
      chunk += '\n';
      if (nl == text.size()) break;
    }
    if (!flush()) return false;
    if (depth == 0) {
      // The end of the input is reported just after the last character written
      // (not at 1:1), e.g. right after a '}' that lacks its ';'.
      int line = 1, col = 1;
      size_t last = text.find_last_not_of(" \t\r\n");
      for (size_t i = 0; last != std::string::npos && i <= last; ++i) {
        if (text[i] == '\n') {
          ++line;
          col = 1;
        } else {
          ++col;
        }
      }
      out->push_back(Token{TokenType::kEnd, "", line, col, file});
    }
    return true;
  }

  bool parse(std::vector<Token> tokens) {
    TokenStream ts(std::move(tokens));
    t_ = &ts;
    while (!ts.at_end()) {
      if (ts.accept(TokenType::kSemicolon)) continue;
      if (!statement()) return false;
    }
    return true;
  }

 private:
  bool fail(const Location& loc, std::string msg, std::string hint = "") {
    if (err_->message.empty()) {
      err_->loc = loc;
      err_->message = std::move(msg);
      err_->hint = std::move(hint);
    }
    return false;
  }
  bool fail_at(const Token& t, std::string msg, std::string hint = "") {
    return fail(loc_of(t), std::move(msg), std::move(hint));
  }

  void warn(const Location& loc, const std::string& msg) {
    tree_->warnings.push_back(format_location(*tree_, loc) + ": warning: " + msg);
  }

  // `name` is replaced by the value of @define name, else the environment
  // variable of that name.
  // Where the comment of a line starts ('#' outside quotes), or npos.
  static size_t comment_start(const std::string& line) {
    char quote = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      char c = line[i];
      if (quote) {
        if (c == '\\' && quote == '"') ++i;
        else if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '#') {
        return i;
      }
    }
    return std::string::npos;
  }

  // One `name` replaced in a line: where (0-based, in the line after the
  // replacements), how long the value is and how long `name` was.
  struct Substitution {
    size_t start, value_len, written_len;
  };

  // The column as written of column `col` of a line after `subs`.
  static int written_col(const std::vector<Substitution>& subs, int col) {
    size_t c = static_cast<size_t>(col) - 1;
    long shift = 0;
    for (const auto& s : subs) {
      if (c < s.start) break;
      if (c < s.start + s.value_len) return static_cast<int>(static_cast<long>(s.start) + shift) + 1;  // inside the value
      shift += static_cast<long>(s.written_len) - static_cast<long>(s.value_len);
    }
    return static_cast<int>(static_cast<long>(c) + shift) + 1;
  }

  bool substitute(std::string* line, int file, int line_no, std::vector<Substitution>* subs) {
    size_t start = 0;
    while ((start = line->find('`', start)) != std::string::npos && start < comment_start(*line)) {
      size_t end = line->find('`', start + 1);
      Location loc{file, line_no, written_col(*subs, static_cast<int>(start) + 1)};
      if (end == std::string::npos) return fail(loc, "unterminated `", "close the name with a second backtick: `name`");
      std::string name = line->substr(start + 1, end - start - 1);
      std::string value;
      auto it = defines_.find(name);
      if (it != defines_.end()) {
        value = it->second;
      } else if (const char* env = getenv(name.c_str())) {
        value = env;
      } else {
        std::vector<std::string> known;
        for (const auto& d : defines_) known.push_back(d.first);
        std::string near = nearest_word(name, known);
        return fail(loc, "undefined `" + name + "`",
                    near.empty() ? "define it with @define " + name + " \"value\" before this line, or set the environment variable"
                                 : "did you mean `" + near + "`?");
      }
      line->replace(start, end - start + 1, value);
      subs->push_back(Substitution{start, value.size(), end - start + 1});
      start += value.size();
    }
    return true;
  }

  bool pragma(const std::string& line, int file, int line_no, const std::string& dir, int depth,
              std::vector<Token>* out) {
    auto toks = tokenize(line, line_no, 1, file);
    for (const auto& t : toks)
      if (t.type == TokenType::kError) return fail_at(t, t.text);
    const Token& kw = toks[0];
    std::string word = kw.text;
    if (word == "@version:" || word == "@version") {
      size_t i = 1;
      if (word == "@version" && toks[i].text == ":") ++i;
      if (toks[i].type != TokenType::kWord && toks[i].type != TokenType::kString)
        return fail_at(toks[i], "expected a version after @version:, found " + describe(toks[i]), "write e.g. @version: 4.0");
      tree_->version = toks[i].text;
      tree_->version_loc = loc_of(kw);
      return true;
    }
    if (word == "@include") {
      if (toks[1].type != TokenType::kString && toks[1].type != TokenType::kWord)
        return fail_at(toks[1], "expected a file name after @include, found " + describe(toks[1]),
                       "write e.g. @include \"conf.d/*.conf\"");
      return include(toks[1], dir, depth, out);
    }
    if (word == "@define") {
      if (toks[1].type != TokenType::kWord)
        return fail_at(toks[1], "expected a name after @define, found " + describe(toks[1]), "write @define name \"value\"");
      if (toks[2].type != TokenType::kString && toks[2].type != TokenType::kWord)
        return fail_at(toks[2], "expected a value after @define " + toks[1].text + ", found " + describe(toks[2]),
                       "write @define name \"value\"");
      defines_[toks[1].text] = toks[2].text;
      return true;
    }
    if (word == "@module" || word == "@requires") {
      warn(loc_of(kw), word + " is accepted and ignored: logferry's drivers are built in");
      return true;
    }
    return fail_at(kw, "unknown pragma " + describe(kw),
                   "logferry knows @version:, @include, @define, @module and @requires");
  }

  bool include(const Token& name_tok, const std::string& dir, int depth, std::vector<Token>* out) {
    std::string name = name_tok.text;
    std::string path = (!name.empty() && name[0] == '/') || dir == "." ? name : dir + "/" + name;
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) path += "/*";
    glob_t g{};
    int rc = glob(path.c_str(), 0, nullptr, &g);
    std::vector<std::string> files;
    if (rc == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) files.push_back(g.gl_pathv[i]);
    globfree(&g);
    bool is_pattern = name.find_first_of("*?[") != std::string::npos || S_ISDIR(st.st_mode);
    if (files.empty()) {
      if (name == "scl.conf" || name.starts_with("scl/")) {
        warn(loc_of(name_tok), "@include \"" + name + "\" skipped: syslog-ng's SCL library is not needed, logferry's drivers are built in");
        return true;
      }
      if (is_pattern) return true;  // an empty conf.d/ is fine
      return fail_at(name_tok, "cannot include '" + name + "': no such file",
                     "relative paths are resolved from the including file's directory (" + dir + ")");
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      if (stat(f.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (!load_file(f, loc_of(name_tok), depth + 1, out)) return false;
    }
    return true;
  }

  // ---- grammar ----

  const Token& peek(size_t n = 0) { return t_->peek(n); }

  bool expect(TokenType type, const std::string& context, const std::string& hint = "") {
    if (t_->accept(type)) return true;
    return fail_at(peek(), "expected " + std::string(token_type_name(type)) + " " + context + ", found " + describe(peek()), hint);
  }

  // True when the next tokens start a top-level statement (source NAME {,
  // options {, ...): inside a block that means its '}' is missing.
  bool starts_statement(bool named_only) {
    const Token& kw = peek();
    if (kw.type != TokenType::kWord) return false;
    std::string w = normalize_name(kw.text);
    if (!named_only && (w == "options" || w == "log")) return peek(1).type == TokenType::kLBrace;
    if (w == "options") return peek(1).type == TokenType::kLBrace;
    if (w != "source" && w != "destination" && w != "filter" && w != "template" && w != "parser" && w != "rewrite")
      return false;
    return (peek(1).type == TokenType::kWord || peek(1).type == TokenType::kString) &&
           (peek(2).type == TokenType::kLBrace || (w == "template" && peek(2).type == TokenType::kString));
  }

  bool missing_brace(const std::string& where) {
    return fail_at(peek(), "expected '}' to close " + where + " before '" + peek().text + "'",
                   "a '}' is missing: every block ends with '};'");
  }

  // After a block's '}' syslog-ng requires ';'; logferry asks for it too.
  bool end_block(const std::string& what) {
    return expect(TokenType::kSemicolon, "after the '}' that closes " + what,
                  "every block ends with '};'");
  }

  bool statement() {
    const Token& kw = peek();
    if (kw.type == TokenType::kRBrace)
      return fail_at(kw, "unexpected '}': no block is open here", "remove it, or look for a block closed twice");
    if (kw.type != TokenType::kWord)
      return fail_at(kw, "expected a statement, found " + describe(kw),
                     "statements are options, source, destination, filter, template, parser, rewrite and log");
    std::string word = normalize_name(kw.text);
    static const std::vector<std::string> kStatements = {"options", "source", "destination", "filter",
                                                         "template", "parser", "rewrite", "log"};
    if (word == "options") {
      t_->next();
      if (!expect(TokenType::kLBrace, "after 'options'")) return false;
      if (!option_list(&tree_->options, "options")) return false;
      return end_block("options");
    }
    if (word == "log") {
      t_->next();
      LogStmt stmt;
      stmt.loc = loc_of(kw);
      if (!expect(TokenType::kLBrace, "after 'log'")) return false;
      if (!log_body(&stmt)) return false;
      if (!end_block("log")) return false;
      tree_->logs.push_back(std::move(stmt));
      return true;
    }
    ObjectDef def;
    if (word == "source") def.kind = ObjectDef::Kind::kSource;
    else if (word == "destination") def.kind = ObjectDef::Kind::kDestination;
    else if (word == "filter") def.kind = ObjectDef::Kind::kFilter;
    else if (word == "template") def.kind = ObjectDef::Kind::kTemplate;
    else if (word == "parser") def.kind = ObjectDef::Kind::kParser;
    else if (word == "rewrite") def.kind = ObjectDef::Kind::kRewrite;
    else {
      std::string near = nearest_word(word, kStatements);
      std::string hint = near.empty() ? "statements are options, source, destination, filter, template, parser, rewrite and log"
                                      : "did you mean '" + near + "'?";
      if (word == "block") hint = "syslog-ng's block definitions are not supported; write the objects out";
      return fail_at(kw, "unknown statement " + describe(kw), hint);
    }
    t_->next();
    def.loc = loc_of(kw);
    const Token& name = peek();
    if (name.type != TokenType::kWord && name.type != TokenType::kString)
      return fail_at(name, "expected a name after '" + word + "', found " + describe(name), "write e.g. " + word + " s_local { ... };");
    def.name = name.text;
    t_->next();
    if (def.kind == ObjectDef::Kind::kTemplate && peek().type == TokenType::kString) {
      def.text = t_->next().text;  // template t "text";
      def.short_form = true;
      if (!expect(TokenType::kSemicolon, "after the template text")) return false;
      tree_->objects.push_back(std::move(def));
      return true;
    }
    if (!expect(TokenType::kLBrace, "after " + word + " " + def.name,
                def.kind == ObjectDef::Kind::kTemplate
                    ? "write template " + def.name + " { template(\"...\"); }; or template " + def.name + " \"...\";"
                    : "write " + word + " " + def.name + " { ... };"))
      return false;
    if (def.kind == ObjectDef::Kind::kFilter) {
      if (!filter_body(&def.expr, "filter " + def.name)) return false;
    } else {
      if (!option_list(&def.drivers, word + " " + def.name)) return false;
    }
    if (!end_block(word + " " + def.name)) return false;
    tree_->objects.push_back(std::move(def));
    return true;
  }

  // name(args); name(args); ... '}'
  bool option_list(std::vector<ConfNode>* out, const std::string& where) {
    while (true) {
      const Token& tk = peek();
      if (tk.type == TokenType::kRBrace) {
        t_->next();
        return true;
      }
      if (tk.type == TokenType::kSemicolon) {
        t_->next();
        continue;
      }
      if (starts_statement(false)) return missing_brace(where);
      if (tk.type != TokenType::kWord)
        return fail_at(tk, "expected a driver or option name in " + where + ", found " + describe(tk),
                       tk.type == TokenType::kEnd ? "a '}' is missing" : "write name(value);");
      ConfNode node;
      node.name = normalize_name(tk.text);
      node.loc = loc_of(tk);
      t_->next();
      if (!expect(TokenType::kLParen, "after '" + tk.text + "'", "options take their value in parentheses: " + node.name + "(...)"))
        return false;
      if (!args(&node)) return false;
      if (!expect(TokenType::kSemicolon, "after " + node.name + "(...) in " + where, "end each driver and option with ';'"))
        return false;
      out->push_back(std::move(node));
    }
  }

  // The arguments of name( ... ) up to and including ')'.  Nesting is
  // bounded so that a hostile file cannot exhaust the stack.
  bool args(ConfNode* node, int depth = 0) {
    if (depth > 32) return fail_at(peek(), "options nested more than 32 levels deep in " + node->name + "()");
    while (true) {
      const Token& tk = peek();
      if (tk.type == TokenType::kRParen) {
        t_->next();
        return true;
      }
      if (tk.type == TokenType::kComma) {
        t_->next();
        continue;
      }
      // name(...), and "name"(...) as config() of kafka-c() takes a
      // property: a quoted name is kept as written, not folded.
      bool quoted_name = tk.type == TokenType::kString && !tk.text.empty();
      if ((tk.type == TokenType::kWord || quoted_name) && peek(1).type == TokenType::kLParen) {
        ConfNode child;
        child.name = quoted_name ? tk.text : normalize_name(tk.text);
        child.quoted = quoted_name;
        child.loc = loc_of(tk);
        t_->next();
        t_->next();
        if (!args(&child, depth + 1)) return false;
        node->args.push_back(std::move(child));
        continue;
      }
      if (tk.type == TokenType::kWord || tk.type == TokenType::kString) {
        ConfNode v;
        v.value = tk.text;
        v.quoted = tk.type == TokenType::kString;
        v.loc = loc_of(tk);
        t_->next();
        node->args.push_back(std::move(v));
        continue;
      }
      if (tk.type == TokenType::kOperator && tk.text == "=>") {  // "key" => "value": kept as a value
        ConfNode v;
        v.value = "=>";
        v.loc = loc_of(tk);
        t_->next();
        node->args.push_back(std::move(v));
        continue;
      }
      if (tk.type == TokenType::kDotDot) {  // level(err..emerg) as an option value
        ConfNode v;
        v.value = "..";
        v.loc = loc_of(tk);
        t_->next();
        node->args.push_back(std::move(v));
        continue;
      }
      return fail_at(tk, "expected a value or ')' in " + node->name + "(), found " + describe(tk),
                     tk.type == TokenType::kEnd || tk.type == TokenType::kSemicolon ? "a ')' is missing" : "");
    }
  }

  // An '(' of a filter expression that is still open at `tk` (a ';', '{',
  // '}' or the end, none of which can be inside parentheses).
  bool unclosed_paren(const Token& open, const Token& tk, const std::vector<Token>& expr, const std::string& where) {
    if (tk.type == TokenType::kLBrace && !expr.empty() && expr.back().type == TokenType::kWord &&
        expr.back().text.ends_with("$"))
      return fail_at(expr.back(), "unquoted template in " + where, "write templates in quotes: \"${HOST}\"");
    return fail_at(open, "unclosed '(' in " + where,
                   "a ')' is missing before " + describe(tk) + " at " + format_location(*tree_, loc_of(tk)));
  }

  // The end of an expression: the parsers of filter expressions report
  // "found the end of the input" here, where the expression stopped.
  static void end_expr(std::vector<Token>* expr, const Token& at) {
    expr->push_back(Token{TokenType::kEnd, "", at.line, at.col, at.file});
  }

  // A filter expression up to ';' '}' (the '}' is consumed).
  bool filter_body(std::vector<Token>* expr, const std::string& where) {
    std::vector<Token> open;  // the '(' not closed yet
    while (true) {
      const Token& tk = peek();
      if (!open.empty() && (tk.type == TokenType::kEnd || tk.type == TokenType::kSemicolon ||
                            tk.type == TokenType::kLBrace || tk.type == TokenType::kRBrace))
        return unclosed_paren(open.back(), tk, *expr, where);
      if (open.empty() && starts_statement(false)) return missing_brace(where);
      if (tk.type == TokenType::kEnd) return fail_at(tk, "unexpected end of file in " + where, "a '}' is missing");
      if (tk.type == TokenType::kRBrace) {
        if (expr->empty()) return fail_at(tk, "empty filter expression in " + where, "write e.g. level(err..emerg);");
        end_expr(expr, tk);
        t_->next();
        return true;
      }
      if (tk.type == TokenType::kSemicolon) {
        t_->next();
        continue;
      }
      if (tk.type == TokenType::kLParen) open.push_back(tk);
      if (tk.type == TokenType::kRParen && !open.empty()) open.pop_back();
      expr->push_back(t_->next());
    }
  }

  // Tokens inside balanced parentheses; the opening '(' is next.
  bool paren_expr(std::vector<Token>* expr, const std::string& where) {
    if (peek().type != TokenType::kLParen)
      return expect(TokenType::kLParen, "after " + where, "the condition goes in parentheses: " + where + " (level(err)) { ... }");
    std::vector<Token> open{t_->next()};
    while (true) {
      const Token& tk = peek();
      if (tk.type == TokenType::kEnd || tk.type == TokenType::kSemicolon || tk.type == TokenType::kLBrace ||
          tk.type == TokenType::kRBrace)
        return unclosed_paren(open.back(), tk, *expr, where + " condition");
      if (tk.type == TokenType::kLParen) open.push_back(tk);
      if (tk.type == TokenType::kRParen) {
        open.pop_back();
        if (open.empty()) {
          if (expr->empty()) return fail_at(tk, "empty condition in " + where, "write e.g. if (level(err..emerg)) { ... };");
          end_expr(expr, tk);
          t_->next();
          return true;
        }
      }
      expr->push_back(t_->next());
    }
  }

  bool log_body(LogStmt* stmt) {
    // Nested log, junction and if blocks are bounded so that a hostile file
    // cannot exhaust the stack.
    static constexpr int kMaxLogDepth = 32;
    if (log_depth_ >= kMaxLogDepth)
      return fail_at(peek(), "log statements nested more than " + std::to_string(kMaxLogDepth) + " levels deep");
    ++log_depth_;
    bool ok = log_body_inner(stmt);
    --log_depth_;
    return ok;
  }

  bool log_body_inner(LogStmt* stmt) {
    static const std::vector<std::string> kItems = {"source", "filter", "parser", "rewrite", "destination",
                                                    "log", "junction", "channel", "if", "flags"};
    while (true) {
      const Token& tk = peek();
      if (tk.type == TokenType::kRBrace) {
        t_->next();
        return true;
      }
      if (tk.type == TokenType::kSemicolon) {
        t_->next();
        continue;
      }
      if (starts_statement(true)) return missing_brace("log");
      if (tk.type != TokenType::kWord)
        return fail_at(tk, "expected source, filter, destination, log, junction, if or flags in log, found " + describe(tk),
                       tk.type == TokenType::kEnd ? "a '}' is missing" : "");
      std::string word = normalize_name(tk.text);
      LogItem item;
      item.loc = loc_of(tk);
      if (word == "flags") {
        t_->next();
        ConfNode node;
        node.name = "flags";
        node.loc = loc_of(tk);
        if (!expect(TokenType::kLParen, "after 'flags'") || !args(&node)) return false;
        stmt->flags.push_back(std::move(node));
        if (!expect(TokenType::kSemicolon, "after flags(...)", "end each element of a log path with ';'")) return false;
        continue;
      }
      if (word == "log") {
        t_->next();
        item.kind = LogItem::Kind::kLog;
        LogStmt sub;
        sub.loc = item.loc;
        if (!expect(TokenType::kLBrace, "after 'log'") || !log_body(&sub) || !end_block("log")) return false;
        item.branches.push_back(std::move(sub));
        stmt->items.push_back(std::move(item));
        continue;
      }
      if (word == "junction") {
        t_->next();
        item.kind = LogItem::Kind::kJunction;
        if (!expect(TokenType::kLBrace, "after 'junction'")) return false;
        while (!t_->accept(TokenType::kRBrace)) {
          if (t_->accept(TokenType::kSemicolon)) continue;
          const Token& ch = peek();
          if (ch.type != TokenType::kWord || normalize_name(ch.text) != "channel")
            return fail_at(ch, "expected 'channel' in junction, found " + describe(ch), "a junction holds channel { ... }; blocks");
          t_->next();
          LogStmt sub;
          sub.loc = loc_of(ch);
          if (!expect(TokenType::kLBrace, "after 'channel'") || !log_body(&sub) || !end_block("channel")) return false;
          item.branches.push_back(std::move(sub));
        }
        if (!end_block("junction")) return false;
        stmt->items.push_back(std::move(item));
        continue;
      }
      if (word == "if") {
        t_->next();
        item.kind = LogItem::Kind::kIf;
        while (true) {
          std::vector<Token> cond;
          if (!paren_expr(&cond, item.conditions.empty() ? "if" : "elif")) return false;
          LogStmt sub;
          sub.loc = item.loc;
          if (!expect(TokenType::kLBrace, "after the if condition") || !log_body(&sub)) return false;
          item.conditions.push_back(std::move(cond));
          item.branches.push_back(std::move(sub));
          const Token& nx = peek();
          std::string nw = nx.type == TokenType::kWord ? normalize_name(nx.text) : "";
          if (nw == "elif") {
            t_->next();
            continue;
          }
          if (nw == "else") {
            t_->next();
            LogStmt el;
            el.loc = loc_of(nx);
            if (!expect(TokenType::kLBrace, "after 'else'") || !log_body(&el)) return false;
            item.conditions.emplace_back();
            item.branches.push_back(std::move(el));
          }
          break;
        }
        if (!end_block("if")) return false;
        stmt->items.push_back(std::move(item));
        continue;
      }
      if (word == "source") item.kind = LogItem::Kind::kSource;
      else if (word == "filter") item.kind = LogItem::Kind::kFilter;
      else if (word == "parser") item.kind = LogItem::Kind::kParser;
      else if (word == "rewrite") item.kind = LogItem::Kind::kRewrite;
      else if (word == "destination") item.kind = LogItem::Kind::kDestination;
      else {
        std::string near = nearest_word(word, kItems);
        return fail_at(tk, "unknown log path element " + describe(tk),
                       near.empty() ? "a log path holds source, filter, parser, rewrite, destination, log, junction, if and flags"
                                    : "did you mean '" + near + "'?");
      }
      t_->next();
      if (t_->accept(TokenType::kLParen)) {
        const Token& ref = peek();
        if (ref.type != TokenType::kWord && ref.type != TokenType::kString)
          return fail_at(ref, "expected a " + word + " name, found " + describe(ref), "write " + word + "(name);");
        item.ref = ref.text;
        t_->next();
        if (!expect(TokenType::kRParen, "after " + word + "(" + item.ref)) return false;
      } else if (t_->accept(TokenType::kLBrace)) {
        bool ok = item.kind == LogItem::Kind::kFilter ? filter_body(&item.expr, "inline filter")
                                                       : option_list(&item.drivers, "inline " + word);
        if (!ok) return false;
      } else {
        return fail_at(peek(), "expected '(' or '{' after '" + word + "', found " + describe(peek()),
                       "refer to a named object with " + word + "(name); or define one inline with " + word + " { ... };");
      }
      if (!expect(TokenType::kSemicolon, "after " + word + (item.ref.empty() ? " { ... }" : "(" + item.ref + ")") + " in log",
                  "end each element of a log path with ';'"))
        return false;
      stmt->items.push_back(std::move(item));
    }
  }

  ConfigTree* tree_;
  ConfigError* err_;
  TokenStream* t_ = nullptr;
  int log_depth_ = 0;
  std::map<std::string, std::string> defines_;
  std::vector<std::string> stack_;
};

}  // namespace

bool parse_config_file(const std::string& path, ConfigTree* tree, ConfigError* error) {
  TreeParser p(tree, error);
  std::vector<Token> tokens;
  if (!p.load_file(path, Location{-1, 0, 0}, 0, &tokens)) return false;
  return p.parse(std::move(tokens));
}

bool parse_config_text(const std::string& text, const std::string& name, ConfigTree* tree,
                       ConfigError* error) {
  TreeParser p(tree, error);
  std::vector<Token> tokens;
  tree->files.push_back(name);
  if (!p.load_text(text, static_cast<int>(tree->files.size()) - 1, dir_of(name), 0, &tokens)) return false;
  return p.parse(std::move(tokens));
}

}  // namespace logferry
