// The config file as written: a syntax tree of syslog-ng-style statements,
// before any driver or option is interpreted.  config_parser.cc builds it;
// config.cc validates it into the running configuration.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/lexer.h"

namespace logferry {

// Where something was written.
struct Location {
  int file = 0;  // index into ConfigTree::files
  int line = 0;
  int col = 0;
};

// An argument as written: a bare value ("tcp", 514) or an option with its own
// arguments, e.g. network(ip("0.0.0.0") port(514) transport("tcp")).
struct ConfNode {
  std::string name;   // option or driver name, '_' folded to '-'; empty for a value
  std::string value;  // for a value: its text
  bool quoted = false;  // a value, or an option name, written in quotes ("acks"("all"))
  Location loc;
  std::vector<ConfNode> args;

  bool is_value() const { return name.empty(); }
};

struct LogStmt;

// One element of a log path.
struct LogItem {
  enum class Kind {
    kSource,       // source(name) or source { drivers }
    kFilter,       // filter(name) or filter { expression }
    kParser,       // parser(name)
    kRewrite,      // rewrite(name)
    kDestination,  // destination(name) or destination { drivers }
    kLog,          // nested log { }
    kJunction,     // junction { channel { } ... }
    kIf,           // if (expr) { } elif (expr) { } else { }
  };
  Kind kind = Kind::kSource;
  Location loc;
  std::string ref;                  // a named object, when not inline
  std::vector<ConfNode> drivers;    // inline source/destination drivers
  std::vector<Token> expr;          // inline filter expression
  std::vector<LogStmt> branches;    // kLog: one; kJunction: channels; kIf: branches
  std::vector<std::vector<Token>> conditions;  // kIf: one per branch, empty for else
};

struct LogStmt {
  Location loc;
  std::vector<LogItem> items;
  std::vector<ConfNode> flags;  // flags(final, fallback, ...)
};

// A named block: source s { ... };, destination d { ... };, filter f { ... };,
// template t { ... }; or template t "text";.
struct ObjectDef {
  enum class Kind { kSource, kDestination, kFilter, kTemplate, kParser, kRewrite };
  Kind kind = Kind::kSource;
  std::string name;
  Location loc;
  std::vector<ConfNode> drivers;  // sources, destinations, parsers, rewrites; template options
  std::vector<Token> expr;        // filters
  std::string text;               // template "text"; short form
  bool short_form = false;
};

struct ConfigTree {
  std::vector<std::string> files;  // file names, by Location::file
  std::string version;             // from @version:
  Location version_loc;
  std::vector<ConfNode> options;   // options { ... };
  std::vector<ObjectDef> objects;
  std::vector<LogStmt> logs;
  std::vector<std::string> warnings;  // already formatted, "file:line:col: warning: ..."
};

// A problem in the config, reported as "file:line:col: message" plus a hint.
struct ConfigError {
  Location loc;
  std::string message;
  std::string hint;
};

// Reads `path` (following @include) into `tree`.  Returns false and fills
// *error on the first problem.
bool parse_config_file(const std::string& path, ConfigTree* tree, ConfigError* error);
// The same for text already in memory; `name` is used in messages and to
// resolve relative @include paths.
bool parse_config_text(const std::string& text, const std::string& name, ConfigTree* tree,
                       ConfigError* error);

std::string format_error(const ConfigTree& tree, const ConfigError& e);
std::string format_location(const ConfigTree& tree, const Location& loc);

// The known word nearest to `word` (for "did you mean"), or "" when none is
// close enough.
std::string nearest_word(const std::string& word, const std::vector<std::string>& known);

// Folds '_' to '-' so that keep_hostname and keep-hostname are one name.
std::string normalize_name(std::string s);

}  // namespace logferry
