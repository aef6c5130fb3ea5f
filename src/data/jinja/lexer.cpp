#include "data/jinja/lexer.h"

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>

#include "data/jinja/value.h"
#include "data/utf8.h"

namespace zt::data::jinja {
namespace {

bool name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// jinja2 reads the body of a string literal with Python's unicode-escape codec.
std::string decode_string(std::string_view body) {
  std::string out;
  out.reserve(body.size());
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c != '\\' || i + 1 == body.size()) {
      out += c;
      continue;
    }
    const char e = body[++i];
    auto hex = [&](size_t digits) -> bool {
      uint32_t code = 0;
      for (size_t k = 1; k <= digits; ++k) {
        if (i + k >= body.size() || !std::isxdigit(static_cast<unsigned char>(body[i + k]))) return false;
        code = code * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(body[i + k]))
                                                      ? body[i + k] - '0'
                                                      : (std::tolower(static_cast<unsigned char>(body[i + k])) - 'a' + 10));
      }
      if (code > 0x10FFFF) return false;
      append_code_point(code, out);
      i += digits;
      return true;
    };
    switch (e) {
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      case '\n': break;  // a continued line
      case 'x':
        if (!hex(2)) out += "\\x";
        break;
      case 'u':
        if (!hex(4)) out += "\\u";
        break;
      case 'U':
        if (!hex(8)) out += "\\U";
        break;
      default:
        if (e >= '0' && e <= '7') {
          uint32_t code = static_cast<uint32_t>(e - '0');
          for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7'; ++k)
            code = code * 8 + static_cast<uint32_t>(body[++i] - '0');
          append_code_point(code, out);
        } else {
          out += '\\';
          out += e;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) {
    // Newlines normalised to \n; one trailing newline dropped (keep_trailing_newline is off).
    source_.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
      if (source[i] == '\r') {
        source_ += '\n';
        if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
      } else {
        source_ += source[i];
      }
    }
    if (!source_.empty() && source_.back() == '\n') source_.pop_back();
  }

  std::vector<Token> run() {
    const size_t n = source_.size();
    while (pos_ < n) {
      const size_t tag = find_tag(pos_);
      std::string text = source_.substr(pos_, tag - pos_);
      const int text_line = line_;
      count_lines(text);
      if (tag == n) {
        emit_text(std::move(text), text_line);
        break;
      }
      const char kind = source_[tag + 1];
      size_t after = tag + 2;
      const char modifier = after < n && (source_[after] == '-' || source_[after] == '+') ? source_[after] : 0;
      if (modifier == '-') {
        while (!text.empty() && space(text.back())) text.pop_back();
      } else if (kind != '{' && modifier != '+') {
        lstrip_block(text, tag);
      }
      emit_text(std::move(text), text_line);
      pos_ = after + (modifier ? 1 : 0);
      if (kind == '#') {
        comment();
      } else if (kind == '%' && raw_block()) {
        continue;
      } else {
        expression(kind);
      }
    }
    tokens_.push_back({Token::Type::end, line_, {}});
    return std::move(tokens_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t i = source_.find('{', from); i != std::string::npos; i = source_.find('{', i + 1))
      if (i + 1 < source_.size() && (source_[i + 1] == '{' || source_[i + 1] == '%' || source_[i + 1] == '#'))
        return i;
    return source_.size();
  }

  void count_lines(std::string_view text) {
    for (char c : text)
      if (c == '\n') ++line_;
  }

  // lstrip_blocks: spaces and tabs between the start of a line and a block tag go.
  void lstrip_block(std::string& text, size_t tag) const {
    const size_t newline = text.rfind('\n');
    const size_t tail_start = newline == std::string::npos ? 0 : newline + 1;
    for (size_t i = tail_start; i < text.size(); ++i)
      if (text[i] != ' ' && text[i] != '\t') return;
    if (newline == std::string::npos) {
      const size_t text_start = tag - text.size();
      if (text_start != 0 && source_[text_start - 1] != '\n') return;
    }
    text.resize(tail_start);
  }

  void emit_text(std::string text, int line) {
    if (lstrip_next_) {
      size_t begin = 0;
      while (begin < text.size() && space(text[begin])) ++begin;
      text.erase(0, begin);
      lstrip_next_ = false;
    }
    if (!text.empty()) tokens_.push_back({Token::Type::text, line, std::move(text)});
  }

  // After a block tag or comment: "-" strips what follows, else trim_blocks drops one newline ("+" keeps it).
  void after_block_end(char modifier) {
    if (modifier == '-') {
      lstrip_next_ = true;
    } else if (modifier != '+' && pos_ < source_.size() && source_[pos_] == '\n') {
      ++pos_;
      ++line_;
    }
  }

  void comment() {
    const int start_line = line_;
    const size_t close = source_.find("#}", pos_);
    if (close == std::string::npos) throw LocatedError(start_line, "the comment opened here is never closed with #}");
    count_lines(std::string_view(source_).substr(pos_, close - pos_));
    const char modifier = close > pos_ && (source_[close - 1] == '-' || source_[close - 1] == '+') ? source_[close - 1] : 0;
    pos_ = close + 2;
    after_block_end(modifier);
  }

  // {% raw %} ... {% endraw %}: the text between, untouched.
  bool raw_block() {
    size_t p = pos_;
    while (p < source_.size() && space(source_[p])) ++p;
    if (source_.compare(p, 3, "raw") != 0 || (p + 3 < source_.size() && name_char(source_[p + 3]))) return false;
    p += 3;
    while (p < source_.size() && space(source_[p])) ++p;
    char open_modifier = 0;
    if (p < source_.size() && (source_[p] == '-' || source_[p] == '+')) open_modifier = source_[p++];
    if (source_.compare(p, 2, "%}") != 0) return false;
    const int start_line = line_;
    size_t content = p + 2;
    // Find {%[-+]? endraw [-+]?%}.
    size_t search = content;
    for (;;) {
      const size_t open = source_.find("{%", search);
      if (open == std::string::npos) throw LocatedError(start_line, "the {% raw %} block opened here has no {% endraw %}");
      size_t q = open + 2;
      char end_open_modifier = 0;
      if (q < source_.size() && (source_[q] == '-' || source_[q] == '+')) end_open_modifier = source_[q++];
      while (q < source_.size() && space(source_[q])) ++q;
      if (source_.compare(q, 6, "endraw") != 0) {
        search = open + 2;
        continue;
      }
      q += 6;
      while (q < source_.size() && space(source_[q])) ++q;
      char close_modifier = 0;
      if (q < source_.size() && (source_[q] == '-' || source_[q] == '+')) close_modifier = source_[q++];
      if (source_.compare(q, 2, "%}") != 0) {
        search = open + 2;
        continue;
      }
      std::string text = source_.substr(content, open - content);
      count_lines(std::string_view(source_).substr(pos_, q + 2 - pos_));
      if (open_modifier == '-') {
        size_t begin = 0;
        while (begin < text.size() && space(text[begin])) ++begin;
        text.erase(0, begin);
      } else if (open_modifier != '+' && !text.empty() && text[0] == '\n') {
        text.erase(0, 1);
      }
      if (end_open_modifier == '-') {
        while (!text.empty() && space(text.back())) text.pop_back();
      } else if (end_open_modifier != '+') {
        lstrip_block(text, open);
      }
      if (!text.empty()) tokens_.push_back({Token::Type::text, start_line, std::move(text)});
      pos_ = q + 2;
      after_block_end(close_modifier);
      return true;
    }
  }

  void expression(char kind) {
    const bool block = kind == '%';
    const int start_line = line_;
    tokens_.push_back({block ? Token::Type::block_begin : Token::Type::variable_begin, line_, {}});
    const char* closer = block ? "%}" : "}}";
    int depth = 0;
    const size_t n = source_.size();
    for (;;) {
      while (pos_ < n && space(source_[pos_])) {
        if (source_[pos_] == '\n') ++line_;
        ++pos_;
      }
      if (pos_ >= n)
        throw LocatedError(start_line, std::string("the tag opened here is never closed with ") + closer);
      const char c = source_[pos_];
      if (depth == 0 || block) {
        if ((c == '-' || c == '+') && source_.compare(pos_ + 1, 2, closer) == 0 && (block || c == '-')) {
          pos_ += 3;
          tokens_.push_back({block ? Token::Type::block_end : Token::Type::variable_end, line_, {}});
          if (block) after_block_end(c);
          else lstrip_next_ = true;
          return;
        }
        if (source_.compare(pos_, 2, closer) == 0) {
          pos_ += 2;
          tokens_.push_back({block ? Token::Type::block_end : Token::Type::variable_end, line_, {}});
          if (block) after_block_end(0);
          return;
        }
      }
      if (name_start(c)) {
        size_t end = pos_;
        while (end < n && name_char(source_[end])) ++end;
        tokens_.push_back({Token::Type::name, line_, source_.substr(pos_, end - pos_)});
        pos_ = end;
        continue;
      }
      if (std::isdigit(static_cast<unsigned char>(c))) {
        number();
        continue;
      }
      if (c == '\'' || c == '"') {
        string(c);
        continue;
      }
      static const char* const two_char[] = {"//", "**", "==", "!=", "<=", ">="};
      bool matched = false;
      for (const char* op : two_char)
        if (source_.compare(pos_, 2, op) == 0) {
          tokens_.push_back({Token::Type::op, line_, op});
          pos_ += 2;
          matched = true;
          break;
        }
      if (matched) continue;
      if (std::string_view("+-*/%~()[]{},.:|=<>").find(c) != std::string_view::npos) {
        if (c == '(' || c == '[' || c == '{') ++depth;
        if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
        tokens_.push_back({Token::Type::op, line_, std::string(1, c)});
        ++pos_;
        continue;
      }
      throw LocatedError(line_, std::string("unexpected character '") + c + "' in a tag");
    }
  }

  void number() {
    const size_t n = source_.size();
    const bool after_dot = !tokens_.empty() && tokens_.back().type == Token::Type::op && tokens_.back().text == ".";
    size_t end = pos_;
    auto digits = [&] {
      while (end < n && (std::isdigit(static_cast<unsigned char>(source_[end])) ||
                         (source_[end] == '_' && end + 1 < n && std::isdigit(static_cast<unsigned char>(source_[end + 1])))))
        ++end;
    };
    digits();
    bool floating = false;
    if (!after_dot && end + 1 < n && source_[end] == '.' && std::isdigit(static_cast<unsigned char>(source_[end + 1]))) {
      floating = true;
      ++end;
      digits();
    }
    if (!after_dot && end < n && (source_[end] == 'e' || source_[end] == 'E')) {
      size_t exp = end + 1;
      if (exp < n && (source_[exp] == '+' || source_[exp] == '-')) ++exp;
      if (exp < n && std::isdigit(static_cast<unsigned char>(source_[exp]))) {
        floating = true;
        end = exp;
        digits();
      }
    }
    std::string text;
    for (size_t i = pos_; i < end; ++i)
      if (source_[i] != '_') text += source_[i];
    Token token{floating ? Token::Type::number : Token::Type::integer, line_, text};
    if (floating) {
      token.number = std::stod(text);
    } else {
      errno = 0;
      const unsigned long long value = std::strtoull(text.c_str(), nullptr, 10);
      if (errno != 0 || value > static_cast<unsigned long long>(INT64_MAX))
        throw LocatedError(line_, "the integer " + text + " is too large");
      token.integer = static_cast<int64_t>(value);
    }
    tokens_.push_back(std::move(token));
    pos_ = end;
  }

  void string(char quote) {
    const int start_line = line_;
    size_t end = pos_ + 1;
    while (end < source_.size() && source_[end] != quote) {
      if (source_[end] == '\\') ++end;
      ++end;
    }
    if (end >= source_.size()) throw LocatedError(start_line, "the string opened here is never closed");
    const std::string_view body = std::string_view(source_).substr(pos_ + 1, end - pos_ - 1);
    count_lines(body);
    tokens_.push_back({Token::Type::string, start_line, decode_string(body)});
    pos_ = end + 1;
  }

  std::string source_;
  size_t pos_ = 0;
  int line_ = 1;
  bool lstrip_next_ = false;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

}  // namespace zt::data::jinja
