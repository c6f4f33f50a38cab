#include "core/lexer.h"

namespace logferry {

const char* token_type_name(TokenType t) {
  switch (t) {
    case TokenType::kWord: return "a word";
    case TokenType::kString: return "a string";
    case TokenType::kLParen: return "'('";
    case TokenType::kRParen: return "')'";
    case TokenType::kLBrace: return "'{'";
    case TokenType::kRBrace: return "'}'";
    case TokenType::kSemicolon: return "';'";
    case TokenType::kComma: return "','";
    case TokenType::kDotDot: return "'..'";
    case TokenType::kOperator: return "an operator";
    case TokenType::kEnd: return "the end of the input";
    case TokenType::kError: return "an invalid token";
  }
  return "?";
}

static bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == '/' || c == '@' || c == ':' || c == '+' || c == '*' ||
         c == '$' || c == '%' || c == '~' || c == '^';
}

std::vector<Token> tokenize(std::string_view text, int first_line, int first_col, int file) {
  std::vector<Token> out;
  int line = first_line, col = first_col;
  size_t i = 0;
  auto advance = [&](size_t n) {
    for (size_t k = 0; k < n && i < text.size(); ++k, ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
  };
  auto push = [&](TokenType type, std::string s, int l, int c) { out.push_back({type, std::move(s), l, c, file}); };
  while (i < text.size()) {
    char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      advance(1);
      continue;
    }
    if (c == '#') {
      while (i < text.size() && text[i] != '\n') advance(1);
      continue;
    }
    int tl = line, tc = col;
    switch (c) {
      case '(': push(TokenType::kLParen, "(", tl, tc); advance(1); continue;
      case ')': push(TokenType::kRParen, ")", tl, tc); advance(1); continue;
      case '{': push(TokenType::kLBrace, "{", tl, tc); advance(1); continue;
      case '}': push(TokenType::kRBrace, "}", tl, tc); advance(1); continue;
      case ';': push(TokenType::kSemicolon, ";", tl, tc); advance(1); continue;
      case ',': push(TokenType::kComma, ",", tl, tc); advance(1); continue;
      default: break;
    }
    if (c == '"' || c == '\'') {
      std::string s;
      advance(1);
      bool closed = false;
      while (i < text.size()) {
        char ch = text[i];
        if (ch == c) {
          advance(1);
          closed = true;
          break;
        }
        if (c == '"' && ch == '\\' && i + 1 < text.size()) {
          char e = text[i + 1];
          switch (e) {
            case 'n': s += '\n'; break;
            case 't': s += '\t'; break;
            case 'r': s += '\r'; break;
            case 'a': s += '\a'; break;
            case '"': s += '"'; break;
            case '\\': s += '\\'; break;
            default: s += '\\'; s += e; break;  // unknown escapes stay as written
          }
          advance(2);
          continue;
        }
        s += ch;
        advance(1);
      }
      if (!closed) {
        push(TokenType::kError, "unterminated string", tl, tc);
        out.push_back({TokenType::kEnd, "", line, col, file});
        return out;
      }
      push(TokenType::kString, std::move(s), tl, tc);
      continue;
    }
    if (c == '.' && i + 1 < text.size() && text[i + 1] == '.') {
      push(TokenType::kDotDot, "..", tl, tc);
      advance(2);
      continue;
    }
    if (c == '=' || c == '!' || c == '<' || c == '>') {
      std::string op(1, c);
      if (i + 1 < text.size() && text[i + 1] == '=') op += '=';
      else if (c == '=' && i + 1 < text.size() && text[i + 1] == '>') op += '>';  // key => value
      if (op == "=" || op == "!") {
        push(TokenType::kError, "unexpected '" + op + "'", tl, tc);
        advance(op.size());
        continue;
      }
      push(TokenType::kOperator, op, tl, tc);
      advance(op.size());
      continue;
    }
    if (is_word_char(c)) {
      size_t start = i;
      while (i < text.size() && is_word_char(text[i]) &&
             !(text[i] == '.' && i + 1 < text.size() && text[i + 1] == '.'))
        advance(1);
      push(TokenType::kWord, std::string(text.substr(start, i - start)), tl, tc);
      continue;
    }
    push(TokenType::kError, std::string("unexpected character '") + c + "'", tl, tc);
    advance(1);
  }
  out.push_back({TokenType::kEnd, "", line, col, file});
  return out;
}

}  // namespace logferry
