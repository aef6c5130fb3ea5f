// The Jinja lexer, configured as transformers configures jinja2 for chat templates: trim_blocks (the newline
// after a block tag goes), lstrip_blocks (the spaces before a block tag on its own line go), no trailing
// newline kept, "-" and "+" whitespace control on every tag, {% raw %} blocks, and newlines normalised to \n.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zt::data::jinja {

struct Token {
  enum class Type : uint8_t {
    text,            // template text between tags
    block_begin,     // {%
    block_end,       // %}
    variable_begin,  // {{
    variable_end,    // }}
    name,
    string,  // text holds the decoded value
    integer,
    number,
    op,  // + - * / // % ** ~ ( ) [ ] { } , . : | = == != < <= > >=
    end,
  };
  Type type;
  int line;
  std::string text;
  int64_t integer = 0;
  double number = 0;
};

// Tokens of `source`; a LocatedError for an unterminated tag, string or comment, or a character that
// starts no token.
std::vector<Token> tokenize(std::string_view source);

}  // namespace zt::data::jinja
