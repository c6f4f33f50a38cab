// Tokenizer for syslog-ng-style text: config files, filter expressions and
// template-function arguments all share it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace logferry {

enum class TokenType {
  kWord,       // identifiers, numbers, unquoted values: err, local0, 514, 0.0.0.0
  kString,     // "double" (escapes decoded) or 'single' (taken as written)
  kLParen,
  kRParen,
  kLBrace,
  kRBrace,
  kSemicolon,
  kComma,
  kDotDot,     // the range in level(err..emerg)
  kOperator,   // == != < <= > >=, and => of key-value pairs: config("acks" => "all")
  kEnd,
  kError,      // text holds what went wrong
};

struct Token {
  TokenType type = TokenType::kEnd;
  std::string text;
  int line = 1;
  int col = 1;
  int file = 0;  // index into the config loader's file table
};

// Splits text into tokens; '#' starts a comment to the end of the line.
// Positions are 1-based and count from (first_line, first_col) so that text
// cut out of a larger file still reports positions in that file.
std::vector<Token> tokenize(std::string_view text, int first_line = 1, int first_col = 1, int file = 0);

const char* token_type_name(TokenType t);

// A read position over a token vector, with the helpers parsers need.
class TokenStream {
 public:
  explicit TokenStream(std::vector<Token> tokens) : tokens_(std::move(tokens)) {
    if (tokens_.empty() || tokens_.back().type != TokenType::kEnd) tokens_.push_back(Token{});
  }
  const Token& peek(size_t ahead = 0) const {
    size_t i = pos_ + ahead;
    return i < tokens_.size() ? tokens_[i] : tokens_.back();
  }
  const Token& next() {
    const Token& t = peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  bool accept(TokenType type) {
    if (peek().type != type) return false;
    next();
    return true;
  }
  bool at_end() const { return peek().type == TokenType::kEnd; }

 private:
  std::vector<Token> tokens_;
  size_t pos_ = 0;
};

}  // namespace logferry
