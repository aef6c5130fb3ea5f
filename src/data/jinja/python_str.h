// Python's str semantics the jinja builtins (builtins.cpp) are made of: whitespace and letters as Python's
// str methods see them (Unicode), case mapping, title/capitalize, replace, split and strip with their counts
// and separators, jinja2's HTML escape, and the argument checks the builtins share.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "data/jinja/value.h"

namespace zt::data::jinja::py {

// str.isspace / str.isalpha for one code point.
bool python_space(int32_t code);
bool is_alpha(int32_t code);
// str.upper() / str.lower().
std::string map_case(std::string_view text, bool upper);
// str.title() / str.capitalize().
std::string python_title(std::string_view text);
std::string capitalize(std::string_view text);
// The argument as a string / integer (`fallback` when absent), or a RenderError naming `what`.
const std::string& need_string(const Value& value, const char* what);
int64_t need_int(const Value* value, int64_t fallback, const char* what);
// The argument's truth, `fallback` when absent.
bool flag(const Value* value, bool fallback);
// A RenderError when a built value would pass kMaxValueBytes.
void check_size(size_t bytes);
// str.replace(old, new, count) (count < 0: all).
std::string replace(std::string_view text, std::string_view old, std::string_view with, int64_t count);
// str.split / str.rsplit (separator null: runs of whitespace), as a list value.
Value split(std::string_view text, const Value* separator, int64_t max_split, bool from_right);
// jinja2's escape filter: & < > " ' as HTML entities.
std::string html_escape(std::string_view text);
// str.strip(chars) family: `chars` null strips whitespace.
std::string python_strip(std::string_view text, const std::string* chars, bool left, bool right);

}  // namespace zt::data::jinja::py
