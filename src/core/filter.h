// Filter expressions in syslog-ng syntax: facility(), level(), host(),
// program(), message(), match(), tags(), template comparisons, combined with
// not/and/or and parentheses.  Regexes are RE2, compiled once at load.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/lexer.h"
#include "core/message.h"

namespace logferry {

class Filter {
 public:
  virtual ~Filter() = default;
  virtual bool eval(const LogMessage& msg) const = 0;
  // The same, on a message the filter may change: match() with
  // flags(store-matches) stores its groups as $0..$9.  Log paths call this.
  virtual bool eval_mut(LogMessage& msg) const { return eval(msg); }
};

// Resolves filter(NAME) references; returns null for an unknown name.
using FilterResolver = std::function<const Filter*(std::string_view name)>;
// Resolves source(NAME) to the index a message's source_id holds; -1 when unknown.
using SourceResolver = std::function<int(std::string_view name)>;

struct FilterError {
  std::string message;  // what was expected, what was found, and a hint
  int line = 0;
  int col = 0;
};

// Parses one filter expression from the stream (stopping before a token
// that cannot continue it, e.g. ';' or an unbalanced ')').
std::unique_ptr<Filter> parse_filter(TokenStream& tokens, const FilterResolver& resolver,
                                     FilterError* error, const SourceResolver& sources = nullptr);

// Convenience for a whole string, e.g. the condition of $(if ...).
std::unique_ptr<Filter> parse_filter_text(std::string_view text, FilterError* error);

}  // namespace logferry
