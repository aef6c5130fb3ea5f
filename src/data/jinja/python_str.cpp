#include "data/jinja/python_str.h"

#include <algorithm>
#include <cctype>
#include <utf8proc.h>

#include "data/jinja/builtins.h"
#include "data/utf8.h"

namespace zt::data::jinja::py {

bool python_space(int32_t code) {
  switch (code) {
    case ' ': case '\t': case '\n': case '\r': case '\v': case '\f': case 0x1c: case 0x1d: case 0x1e: case 0x1f:
    case 0x85: case 0xa0: case 0x1680: case 0x2028: case 0x2029: case 0x202f: case 0x205f: case 0x3000: return true;
    default: return code >= 0x2000 && code <= 0x200a;
  }
}

bool is_alpha(int32_t code) {
  if (code < 0x80) return std::isalpha(code) != 0;
  const auto category = utf8proc_category(code);
  return category >= UTF8PROC_CATEGORY_LU && category <= UTF8PROC_CATEGORY_LO;
}

std::string map_case(std::string_view text, bool upper) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const int32_t code = static_cast<int32_t>(next_code_point(text, i));
    append_code_point(static_cast<uint32_t>(upper ? utf8proc_toupper(code) : utf8proc_tolower(code)), out);
  }
  return out;
}

// Python's str.title(): a letter after a non-letter is upper-cased, every other letter lower-cased.
std::string python_title(std::string_view text) {
  std::string out;
  bool previous_cased = false;
  for (size_t i = 0; i < text.size();) {
    const int32_t code = static_cast<int32_t>(next_code_point(text, i));
    const bool letter = is_alpha(code);
    const int32_t mapped = letter ? (previous_cased ? utf8proc_tolower(code) : utf8proc_toupper(code)) : code;
    append_code_point(static_cast<uint32_t>(mapped), out);
    previous_cased = letter;
  }
  return out;
}

std::string capitalize(std::string_view text) {
  std::string out;
  bool first = true;
  for (size_t i = 0; i < text.size();) {
    const int32_t code = static_cast<int32_t>(next_code_point(text, i));
    append_code_point(static_cast<uint32_t>(first ? utf8proc_toupper(code) : utf8proc_tolower(code)), out);
    first = false;
  }
  return out;
}

const std::string& need_string(const Value& value, const char* what) {
  if (!value.is_string()) fail(std::string(what) + " needs a string, not " + value.type_name());
  return value.str();
}

int64_t need_int(const Value* value, int64_t fallback, const char* what) {
  if (value == nullptr || value->is_none()) return fallback;
  if (!value->is_integer()) fail(std::string(what) + " needs an integer, not " + value->type_name());
  return value->as_int();
}

bool flag(const Value* value, bool fallback) { return value == nullptr ? fallback : value->truthy(); }

void check_size(size_t bytes) {
  if (bytes > kMaxValueBytes) fail("the template built a string of more than 64 MiB");
}

std::string replace(std::string_view text, std::string_view old, std::string_view with, int64_t count) {
  std::string out;
  if (old.empty()) {
    // Python inserts `with` before every character and at the end.
    int64_t done = 0;
    for (std::string_view point : code_points(text)) {
      if (count < 0 || done < count) {
        out.append(with);
        ++done;
      }
      out.append(point);
    }
    if (count < 0 || done < count) out.append(with);
    return out;
  }
  size_t at = 0;
  int64_t done = 0;
  for (;;) {
    const size_t found = (count >= 0 && done >= count) ? std::string_view::npos : text.find(old, at);
    if (found == std::string_view::npos) {
      out.append(text.substr(at));
      return out;
    }
    out.append(text.substr(at, found - at));
    out.append(with);
    check_size(out.size());
    at = found + old.size();
    ++done;
  }
}

Value split(std::string_view text, const Value* separator, int64_t max_split, bool from_right) {
  std::vector<Value> parts;
  if (separator == nullptr || separator->is_none()) {
    // Runs of whitespace separate; leading and trailing whitespace gives no empty parts.
    std::vector<std::string_view> words;
    size_t i = 0;
    std::vector<std::pair<size_t, size_t>> spans;
    while (i < text.size()) {
      size_t start = i;
      size_t probe = i;
      int32_t code = static_cast<int32_t>(next_code_point(text, probe));
      if (python_space(code)) {
        i = probe;
        continue;
      }
      while (i < text.size()) {
        probe = i;
        code = static_cast<int32_t>(next_code_point(text, probe));
        if (python_space(code)) break;
        i = probe;
      }
      spans.emplace_back(start, i);
    }
    if (max_split >= 0 && static_cast<int64_t>(spans.size()) > max_split + 1) {
      if (!from_right) {
        spans[static_cast<size_t>(max_split)].second = text.size();
        size_t end = text.size();
        while (end > spans[static_cast<size_t>(max_split)].first) {
          size_t k = end - 1;
          while (k > 0 && (static_cast<unsigned char>(text[k]) & 0xC0) == 0x80) --k;
          size_t probe2 = k;
          if (!python_space(static_cast<int32_t>(next_code_point(text, probe2)))) break;
          end = k;
        }
        spans[static_cast<size_t>(max_split)].second = end;
        spans.resize(static_cast<size_t>(max_split) + 1);
      } else {
        const size_t keep = static_cast<size_t>(max_split);
        const size_t first_kept = spans.size() - keep;
        std::pair<size_t, size_t> head{spans[0].first, spans[first_kept - 1].second};
        std::vector<std::pair<size_t, size_t>> rest(spans.begin() + static_cast<long>(first_kept), spans.end());
        spans.assign(1, head);
        spans.insert(spans.end(), rest.begin(), rest.end());
      }
    }
    for (auto [start, end] : spans) parts.emplace_back(std::string(text.substr(start, end - start)));
    return Value::list(std::move(parts));
  }
  const std::string& sep = need_string(*separator, "split");
  if (sep.empty()) fail("empty separator");
  std::vector<std::string> pieces;
  if (!from_right) {
    size_t at = 0;
    int64_t done = 0;
    for (;;) {
      const size_t found = (max_split >= 0 && done >= max_split) ? std::string_view::npos : text.find(sep, at);
      if (found == std::string_view::npos) {
        pieces.emplace_back(text.substr(at));
        break;
      }
      pieces.emplace_back(text.substr(at, found - at));
      at = found + sep.size();
      ++done;
    }
  } else {
    size_t end = text.size();
    int64_t done = 0;
    for (;;) {
      const size_t found = (max_split >= 0 && done >= max_split) || end < sep.size()
                               ? std::string_view::npos
                               : text.rfind(sep, end - sep.size());
      if (found == std::string_view::npos) {
        pieces.emplace_back(text.substr(0, end));
        break;
      }
      pieces.emplace_back(text.substr(found + sep.size(), end - found - sep.size()));
      end = found;
      ++done;
    }
    std::reverse(pieces.begin(), pieces.end());
  }
  for (std::string& piece : pieces) parts.emplace_back(std::move(piece));
  return Value::list(std::move(parts));
}


std::string html_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string python_strip(std::string_view text, const std::string* chars, bool left, bool right) {
  std::vector<int32_t> strip_set;
  if (chars != nullptr)
    for (size_t i = 0; i < chars->size();) strip_set.push_back(static_cast<int32_t>(next_code_point(*chars, i)));
  auto strip = [&](int32_t code) {
    return chars == nullptr ? python_space(code) : std::find(strip_set.begin(), strip_set.end(), code) != strip_set.end();
  };
  size_t begin = 0, end = text.size();
  if (left)
    while (begin < end) {
      size_t probe = begin;
      if (!strip(static_cast<int32_t>(next_code_point(text, probe)))) break;
      begin = probe;
    }
  if (right)
    while (end > begin) {
      size_t k = end - 1;
      while (k > begin && (static_cast<unsigned char>(text[k]) & 0xC0) == 0x80) --k;
      size_t probe = k;
      if (!strip(static_cast<int32_t>(next_code_point(text, probe)))) break;
      end = k;
    }
  return std::string(text.substr(begin, end - begin));
}

}  // namespace zt::data::jinja::py
