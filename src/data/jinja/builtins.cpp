#include "data/jinja/builtins.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <ctime>
#include <utf8proc.h>

#include "data/jinja/python_str.h"
#include "data/utf8.h"

namespace zt::data::jinja {
namespace {

using namespace py;  // Python's str semantics (python_str.h)

// The attribute jinja2's attribute= arguments name: "a.b" walks dicts, a number indexes lists.
Value attribute_of(const Value& item, const std::string& path) {
  Value current = item;
  size_t at = 0;
  while (at <= path.size()) {
    const size_t dot = path.find('.', at);
    const std::string part = path.substr(at, dot == std::string::npos ? std::string::npos : dot - at);
    if (current.is_dict()) {
      const Value* found = current.dict().find(part);
      current = found ? *found : Value::undefined("'dict object' has no attribute '" + part + "'");
    } else if (current.is_list() && !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit)) {
      const size_t index = std::stoul(part);
      current = index < current.items().size() ? current.items()[index] : Value::undefined("index out of range");
    } else {
      current = Value::undefined("'" + std::string(current.type_name()) + " object' has no attribute '" + part + "'");
    }
    if (dot == std::string::npos) break;
    at = dot + 1;
  }
  return current;
}

CallArgs tail_args(const CallArgs& args, size_t skip) {
  CallArgs rest;
  for (size_t i = skip; i < args.positional.size(); ++i) rest.positional.push_back(args.positional[i]);
  return rest;
}

Value select_filter(const Value& input, const CallArgs& args, bool by_attribute, bool keep) {
  std::vector<Value> out;
  if (!input.truthy()) return Value::generator({});
  size_t next_arg = 0;
  std::string attribute;
  if (by_attribute) {
    if (args.positional.empty()) fail("selectattr/rejectattr need an attribute name");
    attribute = need_string(args.positional[0], "selectattr");
    next_arg = 1;
  }
  std::string test;
  if (next_arg < args.positional.size()) test = need_string(args.positional[next_arg], "select");
  const CallArgs test_args = tail_args(args, next_arg + 1);
  for (const Value& item : input.iterate()) {
    const Value subject = by_attribute ? attribute_of(item, attribute) : item;
    const bool passed = test.empty() ? subject.truthy() : apply_test(test, subject, test_args);
    if (passed == keep) out.push_back(item);
  }
  return Value::generator(std::move(out));
}

std::string sort_key_text(const Value& value, bool case_sensitive) {
  return value.is_string() && !case_sensitive ? map_case(value.str(), false) : std::string();
}

bool sort_less(const Value& a, const Value& b, bool case_sensitive) {
  if (a.is_string() && b.is_string() && !case_sensitive) return sort_key_text(a, false) < sort_key_text(b, false);
  return less(a, b);
}


// printf-style formatting, as Python's `%` and jinja2's format filter apply it.
std::string percent_format(const std::string& format, const std::vector<Value>& values) {
  std::string out;
  size_t next_value = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out += format[i];
      continue;
    }
    if (++i >= format.size()) fail("incomplete format");
    std::string spec = "%";
    while (i < format.size() && std::string_view("-+ #0123456789.").find(format[i]) != std::string_view::npos)
      spec += format[i++];
    if (i >= format.size()) fail("incomplete format");
    const char conversion = format[i];
    if (conversion == '%') {
      out += '%';
      continue;
    }
    if (next_value >= values.size()) fail("not enough arguments for format string");
    const Value& value = values[next_value++];
    char buffer[512];
    switch (conversion) {
      case 's': out += value.to_str(); break;
      case 'r': out += value.repr(); break;
      case 'd':
      case 'i':
        std::snprintf(buffer, sizeof(buffer), (spec + "lld").c_str(), static_cast<long long>(value.as_int()));
        out += buffer;
        break;
      case 'f':
      case 'e':
      case 'g':
        std::snprintf(buffer, sizeof(buffer), (spec + conversion).c_str(), value.as_double());
        out += buffer;
        break;
      default: fail(std::string("unsupported format character '") + conversion + "'");
    }
  }
  if (next_value < values.size()) fail("not all arguments converted during string formatting");
  return out;
}

// str.format with {} and {name} fields (no format specs beyond plain substitution).
std::string brace_format(const std::string& format, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c == '{' && i + 1 < format.size() && format[i + 1] == '{') {
      out += '{';
      ++i;
    } else if (c == '}' && i + 1 < format.size() && format[i + 1] == '}') {
      out += '}';
      ++i;
    } else if (c == '{') {
      const size_t close = format.find('}', i);
      if (close == std::string::npos) fail("single '{' encountered in format string");
      const std::string field = format.substr(i + 1, close - i - 1);
      const Value* value = nullptr;
      if (field.empty()) value = auto_index < args.positional.size() ? &args.positional[auto_index++] : nullptr;
      else if (std::all_of(field.begin(), field.end(), ::isdigit))
        value = std::stoul(field) < args.positional.size() ? &args.positional[std::stoul(field)] : nullptr;
      else value = args.get(SIZE_MAX, field);
      if (value == nullptr) fail("format field '{" + field + "}' has no argument");
      value->append_str(out);
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

Value round_value(const Value& input, int64_t precision, const std::string& method) {
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double x = input.as_double() * scale;
  double rounded;
  if (method == "common") rounded = std::round(x);
  else if (method == "ceil") rounded = std::ceil(x);
  else if (method == "floor") rounded = std::floor(x);
  else fail("round's method must be common, ceil or floor");
  return Value::number(rounded / scale);
}

}  // namespace


Value apply_filter(std::string_view name, const Value& input, const CallArgs& args) {
  auto arg = [&](size_t index, std::string_view keyword) { return args.get(index, keyword); };
  auto text_of = [&](const Value& value) { return value.to_str(); };
  if (name == "default" || name == "d") {
    const Value* fallback = arg(0, "default_value");
    const bool boolean = flag(arg(1, "boolean"), false);
    if (input.is_undefined() || (boolean && !input.truthy())) return fallback ? *fallback : Value("");
    return input;
  }
  if (name == "length" || name == "count") {
    const int64_t length = input.length();
    if (length < 0) fail(std::string("object of type '") + input.type_name() + "' has no len()");
    return Value::integer(length);
  }
  if (name == "trim") {
    const Value* chars = arg(0, "chars");
    const std::string* set = chars && chars->is_string() ? &chars->str() : nullptr;
    return Value(python_strip(text_of(input), set, true, true));
  }
  if (name == "upper") return Value(map_case(text_of(input), true));
  if (name == "lower") return Value(map_case(text_of(input), false));
  if (name == "title") {
    // jinja2's title: words start after whitespace, hyphens and opening brackets.
    std::string text = text_of(input), out;
    bool start = true;
    for (size_t i = 0; i < text.size();) {
      const int32_t code = static_cast<int32_t>(next_code_point(text, i));
      append_code_point(static_cast<uint32_t>(start ? utf8proc_toupper(code) : utf8proc_tolower(code)), out);
      start = python_space(code) || code == '-' || code == '(' || code == '{' || code == '[' || code == '<';
    }
    return Value(out);
  }
  if (name == "capitalize") return Value(capitalize(text_of(input)));
  if (name == "string") return input.is_string() ? input : Value(text_of(input));
  if (name == "safe") return input.is_markup() ? input : Value::markup(text_of(input));
  if (name == "escape" || name == "e" || name == "forceescape")
    return input.is_markup() && name != "forceescape" ? input : Value::markup(html_escape(text_of(input)));
  if (name == "replace") {
    const Value* old = arg(0, "old");
    const Value* with = arg(1, "new");
    if (!old || !with) fail("replace needs the text to replace and its replacement");
    return Value(replace(text_of(input), old->to_str(), with->to_str(), need_int(arg(2, "count"), -1, "replace")));
  }
  if (name == "tojson") {
    const Value* indent = arg(0, "indent");
    if (args.get(SIZE_MAX, "separators") != nullptr) fail("tojson's separators argument is not supported");
    return Value(input.json(indent && !indent->is_none() ? static_cast<int>(need_int(indent, 0, "tojson")) : -1,
                            flag(args.get(SIZE_MAX, "sort_keys"), false), flag(args.get(SIZE_MAX, "ensure_ascii"), false)));
  }
  if (name == "items") {
    if (input.is_undefined()) return Value::list({});
    if (!input.is_dict()) fail(std::string("items needs a mapping, not ") + input.type_name());
    std::vector<Value> items;
    for (const auto& [key, value] : input.dict().items) items.push_back(Value::list({dict_key_value(key), value}, true));
    return Value::list(std::move(items));
  }
  if (name == "list") return Value::list(input.iterate());
  if (name == "first") {
    std::vector<Value> items = input.iterate();
    return items.empty() ? Value::undefined("first of an empty sequence") : items.front();
  }
  if (name == "last") {
    if (input.is_generator()) fail("'generator' object is not reversible");
    std::vector<Value> items = input.iterate();
    return items.empty() ? Value::undefined("last of an empty sequence") : items.back();
  }
  if (name == "reverse") {
    if (input.is_string()) {
      std::vector<std::string_view> points = code_points(input.str());
      std::string out;
      for (auto it = points.rbegin(); it != points.rend(); ++it) out.append(*it);
      return Value(out);
    }
    std::vector<Value> items = input.iterate();
    std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
  }
  if (name == "join") {
    const Value* separator = arg(0, "d");
    const Value* attribute = arg(1, "attribute");
    const std::string sep = separator ? separator->to_str() : "";
    std::string out;
    bool first = true;
    for (const Value& item : input.iterate()) {
      if (!first) out += sep;
      first = false;
      (attribute ? attribute_of(item, attribute->to_str()) : item).append_str(out);
      check_size(out.size());
    }
    return Value(out);
  }
  if (name == "map") {
    std::vector<Value> out;
    if (!input.truthy()) return Value::generator({});
    if (const Value* attribute = args.get(SIZE_MAX, "attribute")) {
      const Value* fallback = args.get(SIZE_MAX, "default");
      for (const Value& item : input.iterate()) {
        Value found = attribute_of(item, attribute->to_str());
        out.push_back(found.is_undefined() && fallback ? *fallback : found);
      }
      return Value::generator(std::move(out));
    }
    if (args.positional.empty()) fail("map needs a filter name or attribute=");
    const std::string filter = need_string(args.positional[0], "map");
    const CallArgs rest = tail_args(args, 1);
    for (const Value& item : input.iterate()) out.push_back(apply_filter(filter, item, rest));
    return Value::generator(std::move(out));
  }
  if (name == "select") return select_filter(input, args, false, true);
  if (name == "reject") return select_filter(input, args, false, false);
  if (name == "selectattr") return select_filter(input, args, true, true);
  if (name == "rejectattr") return select_filter(input, args, true, false);
  if (name == "unique") {
    const bool case_sensitive = flag(arg(0, "case_sensitive"), false);
    const Value* attribute = arg(1, "attribute");
    std::vector<Value> out, keys;
    for (const Value& item : input.iterate()) {
      Value key = attribute ? attribute_of(item, attribute->to_str()) : item;
      if (key.is_string() && !case_sensitive) key = Value(map_case(key.str(), false));
      if (std::none_of(keys.begin(), keys.end(), [&](const Value& seen) { return equal(seen, key); })) {
        keys.push_back(key);
        out.push_back(item);
      }
    }
    return Value::list(std::move(out));
  }
  if (name == "sort") {
    const bool reverse = flag(arg(0, "reverse"), false);
    const bool case_sensitive = flag(arg(1, "case_sensitive"), false);
    const Value* attribute = arg(2, "attribute");
    std::vector<Value> items = input.iterate();
    std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
      const Value ka = attribute ? attribute_of(a, attribute->to_str()) : a;
      const Value kb = attribute ? attribute_of(b, attribute->to_str()) : b;
      return reverse ? sort_less(kb, ka, case_sensitive) : sort_less(ka, kb, case_sensitive);
    });
    return Value::list(std::move(items));
  }
  if (name == "dictsort") {
    if (!input.is_dict()) fail("dictsort needs a mapping");
    const bool case_sensitive = flag(arg(0, "case_sensitive"), false);
    const Value* by = arg(1, "by");
    const bool by_value = by && by->to_str() == "value";
    const bool reverse = flag(arg(2, "reverse"), false);
    std::vector<Value> items;
    for (const auto& [key, value] : input.dict().items) items.push_back(Value::list({dict_key_value(key), value}, true));
    std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
      const Value& ka = a.items()[by_value ? 1 : 0];
      const Value& kb = b.items()[by_value ? 1 : 0];
      return reverse ? sort_less(kb, ka, case_sensitive) : sort_less(ka, kb, case_sensitive);
    });
    return Value::list(std::move(items));
  }
  if (name == "min" || name == "max") {
    const bool case_sensitive = flag(arg(0, "case_sensitive"), false);
    const Value* attribute = arg(1, "attribute");
    std::vector<Value> items = input.iterate();
    if (items.empty()) return Value::undefined("no items for " + std::string(name));
    size_t best = 0;
    for (size_t i = 1; i < items.size(); ++i) {
      const Value a = attribute ? attribute_of(items[i], attribute->to_str()) : items[i];
      const Value b = attribute ? attribute_of(items[best], attribute->to_str()) : items[best];
      if (name == "min" ? sort_less(a, b, case_sensitive) : sort_less(b, a, case_sensitive)) best = i;
    }
    return items[best];
  }
  if (name == "sum") {
    const Value* attribute = arg(0, "attribute");
    const Value* start = arg(1, "start");
    Value total = start ? *start : Value::integer(0);
    for (const Value& item : input.iterate()) {
      const Value term = attribute ? attribute_of(item, attribute->to_str()) : item;
      if (!term.is_number() || !total.is_number()) fail("sum needs numbers");
      total = total.is_integer() && term.is_integer() ? Value::integer(total.as_int() + term.as_int())
                                                      : Value::number(total.as_double() + term.as_double());
    }
    return total;
  }
  if (name == "abs") {
    if (input.is_integer()) return Value::integer(std::llabs(input.as_int()));
    if (input.is_number()) return Value::number(std::fabs(input.as_double()));
    fail(std::string("bad operand type for abs(): '") + input.type_name() + "'");
  }
  if (name == "int") {
    const Value* fallback = arg(0, "default");
    const int64_t base = need_int(arg(1, "base"), 10, "int");
    if (input.is_number()) return Value::integer(input.as_int());
    if (input.is_string()) {
      const std::string text = python_strip(input.str(), nullptr, true, true);
      char* end = nullptr;
      errno = 0;
      const long long value = std::strtoll(text.c_str(), &end, static_cast<int>(base));
      if (!text.empty() && end == text.c_str() + text.size() && errno == 0) return Value::integer(value);
      const double real = std::strtod(text.c_str(), &end);
      if (!text.empty() && end == text.c_str() + text.size()) return Value::integer(static_cast<int64_t>(real));
    }
    return fallback ? *fallback : Value::integer(0);
  }
  if (name == "float") {
    const Value* fallback = arg(0, "default");
    if (input.is_number()) return Value::number(input.as_double());
    if (input.is_string()) {
      const std::string text = python_strip(input.str(), nullptr, true, true);
      char* end = nullptr;
      const double value = std::strtod(text.c_str(), &end);
      if (!text.empty() && end == text.c_str() + text.size()) return Value::number(value);
    }
    return fallback ? *fallback : Value::number(0.0);
  }
  if (name == "round") {
    const Value* method = arg(1, "method");
    return round_value(input, need_int(arg(0, "precision"), 0, "round"), method ? method->to_str() : "common");
  }
  if (name == "indent") {
    const Value* width_arg = arg(0, "width");
    const std::string pad = width_arg && width_arg->is_string() ? width_arg->str()
                                                                 : std::string(static_cast<size_t>(need_int(width_arg, 4, "indent")), ' ');
    const bool first = flag(arg(1, "first"), false);
    const bool blank = flag(arg(2, "blank"), false);
    const std::string text = text_of(input);
    std::string out;
    size_t at = 0;
    bool first_line = true;
    while (at <= text.size()) {
      const size_t newline = text.find('\n', at);
      const std::string line = text.substr(at, newline == std::string::npos ? std::string::npos : newline - at);
      if ((first_line ? first : true) && (blank || !line.empty())) out += pad;
      out += line;
      if (newline == std::string::npos) break;
      out += '\n';
      at = newline + 1;
      first_line = false;
    }
    return Value(out);
  }
  if (name == "wordcount") {
    return Value::integer(static_cast<int64_t>(split(text_of(input), nullptr, -1, false).items().size()));
  }
  if (name == "format") return Value(percent_format(text_of(input), args.positional));
  if (name == "attr") {
    const Value* attribute = arg(0, "name");
    if (!attribute) fail("attr needs a name");
    return attribute_of(input, attribute->to_str());
  }
  if (name == "center") {
    const int64_t width = need_int(arg(0, "width"), 80, "center");
    const std::string text = text_of(input);
    const int64_t length = Value(text).length();
    if (length >= width) return Value(text);
    const int64_t total = width - length;
    const int64_t left = total / 2 + (total & width & 1);
    return Value(std::string(static_cast<size_t>(left), ' ') + text + std::string(static_cast<size_t>(total - left), ' '));
  }
  fail("the chat template uses the filter '" + std::string(name) + "', which ztune's Jinja does not have");
}

bool apply_test(std::string_view name, const Value& input, const CallArgs& args) {
  const Value* other = args.get(0, "value");
  auto need_other = [&]() -> const Value& {
    if (!other) fail("the test '" + std::string(name) + "' needs an argument");
    return *other;
  };
  using Kind = Value::Kind;
  if (name == "defined") return !input.is_undefined();
  if (name == "undefined") return input.is_undefined();
  if (name == "none") return input.is_none();
  if (name == "boolean") return input.kind() == Kind::boolean;
  if (name == "true") return input.kind() == Kind::boolean && input.as_bool();
  if (name == "false") return input.kind() == Kind::boolean && !input.as_bool();
  if (name == "integer") return input.kind() == Kind::integer;
  if (name == "float") return input.kind() == Kind::number;
  if (name == "number") return input.is_number();
  if (name == "string") return input.is_string();
  if (name == "mapping") return input.is_dict() && !input.dict().is_namespace;
  if (name == "iterable") return input.is_string() || input.is_list() || input.is_dict() || input.is_undefined();
  if (name == "sequence") return input.is_string() || input.is_list() || input.is_dict() || input.is_undefined();
  if (name == "callable") return input.is_function();
  if (name == "escaped") return false;
  if (name == "odd" || name == "even") {
    if (!input.is_integer()) fail("the test '" + std::string(name) + "' needs an integer");
    const int64_t remainder = ((input.as_int() % 2) + 2) % 2;
    return name == "odd" ? remainder == 1 : remainder == 0;
  }
  if (name == "divisibleby") {
    const Value& divisor = need_other();
    if (divisor.as_int() == 0) fail("integer division or modulo by zero");
    return input.as_int() % divisor.as_int() == 0;
  }
  if (name == "lower") return input.is_string() && map_case(input.str(), false) == input.str();
  if (name == "upper") return input.is_string() && map_case(input.str(), true) == input.str();
  if (name == "eq" || name == "equalto" || name == "==") return equal(input, need_other());
  if (name == "ne" || name == "!=") return !equal(input, need_other());
  if (name == "lt" || name == "lessthan" || name == "<") return less(input, need_other());
  if (name == "le" || name == "<=") return !less(need_other(), input);
  if (name == "gt" || name == "greaterthan" || name == ">") return less(need_other(), input);
  if (name == "ge" || name == ">=") return !less(input, need_other());
  if (name == "sameas") {
    const Value& b = need_other();
    if (input.kind() != b.kind()) return false;
    if (input.is_none() || input.is_undefined()) return true;
    if (input.kind() == Kind::boolean || input.kind() == Kind::integer) return input.as_int() == b.as_int();
    if (input.is_dict()) return &input.dict() == &b.dict();
    if (input.is_list()) return &input.items() == &b.items();
    return false;
  }
  if (name == "in") {
    const Value& container = need_other();
    if (container.is_string()) return input.is_string() && container.str().find(input.str()) != std::string::npos;
    if (container.is_dict()) return container.dict().find(dict_key(input)) != nullptr;
    for (const Value& item : container.iterate())
      if (equal(item, input)) return true;
    return false;
  }
  fail("the chat template uses the test '" + std::string(name) + "', which ztune's Jinja does not have");
}

std::optional<Value> call_method(const Value& object, std::string_view name, const CallArgs& args) {
  auto arg = [&](size_t index, std::string_view keyword) { return args.get(index, keyword); };
  if (object.is_string()) {
    const std::string& text = object.str();
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      const Value* chars = arg(0, "chars");
      const std::string* set = chars && chars->is_string() ? &chars->str() : nullptr;
      return Value(python_strip(text, set, name != "rstrip", name != "lstrip"));
    }
    if (name == "split" || name == "rsplit")
      return split(text, arg(0, "sep"), need_int(arg(1, "maxsplit"), -1, "split"), name == "rsplit");
    if (name == "splitlines") {
      std::vector<Value> lines;
      size_t at = 0;
      while (at < text.size()) {
        const size_t newline = text.find_first_of("\n\r", at);
        if (newline == std::string::npos) {
          lines.emplace_back(text.substr(at));
          break;
        }
        lines.emplace_back(text.substr(at, newline - at));
        at = newline + (text[newline] == '\r' && newline + 1 < text.size() && text[newline + 1] == '\n' ? 2 : 1);
      }
      return Value::list(std::move(lines));
    }
    if (name == "startswith" || name == "endswith") {
      const Value* affix = arg(0, "prefix");
      if (!affix) fail(std::string(name) + " needs an argument");
      auto matches = [&](const Value& candidate) {
        const std::string& a = need_string(candidate, "startswith");
        return name == "startswith" ? text.compare(0, a.size(), a) == 0
                                    : text.size() >= a.size() && text.compare(text.size() - a.size(), a.size(), a) == 0;
      };
      if (affix->is_list()) {
        for (const Value& candidate : affix->items())
          if (matches(candidate)) return Value::boolean(true);
        return Value::boolean(false);
      }
      return Value::boolean(matches(*affix));
    }
    if (name == "upper") return Value(map_case(text, true));
    if (name == "lower") return Value(map_case(text, false));
    if (name == "title") return Value(python_title(text));
    if (name == "capitalize") return Value(capitalize(text));
    if (name == "replace") {
      const Value* old = arg(0, "old");
      const Value* with = arg(1, "new");
      if (!old || !with) fail("replace needs the text to replace and its replacement");
      return Value(replace(text, need_string(*old, "replace"), need_string(*with, "replace"),
                           need_int(arg(2, "count"), -1, "replace")));
    }
    if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
      const Value* needle_value = arg(0, "sub");
      if (!needle_value) fail(std::string(name) + " needs an argument");
      const std::string& needle = need_string(*needle_value, "find");
      if (name == "count") {
        if (needle.empty()) return Value::integer(object.length() + 1);
        int64_t count = 0;
        for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++count;
        return Value::integer(count);
      }
      const size_t at = (name == "find" || name == "index") ? text.find(needle) : text.rfind(needle);
      if (at == std::string::npos) {
        if (name == "index" || name == "rindex") fail("substring not found");
        return Value::integer(-1);
      }
      return Value::integer(Value(text.substr(0, at)).length());
    }
    if (name == "join") {
      const Value* items = arg(0, "iterable");
      if (!items) fail("join needs an argument");
      std::string out;
      bool first = true;
      for (const Value& item : items->iterate()) {
        if (!first) out += text;
        first = false;
        out += need_string(item, "join");
        check_size(out.size());
      }
      return Value(out);
    }
    if (name == "format") return Value(brace_format(text, args));
    if (name == "removeprefix" || name == "removesuffix") {
      const Value* affix_value = arg(0, "prefix");
      if (!affix_value) fail(std::string(name) + " needs an argument");
      const std::string& affix = need_string(*affix_value, std::string(name).c_str());
      if (name == "removeprefix" && text.compare(0, affix.size(), affix) == 0) return Value(text.substr(affix.size()));
      if (name == "removesuffix" && text.size() >= affix.size() &&
          text.compare(text.size() - affix.size(), affix.size(), affix) == 0)
        return Value(text.substr(0, text.size() - affix.size()));
      return object;
    }
    auto all_of_points = [&](auto predicate) {
      if (text.empty()) return Value::boolean(false);
      for (size_t i = 0; i < text.size();)
        if (!predicate(static_cast<int32_t>(next_code_point(text, i)))) return Value::boolean(false);
      return Value::boolean(true);
    };
    if (name == "isdigit") return all_of_points([](int32_t c) { return c >= '0' && c <= '9'; });
    if (name == "isspace") return all_of_points(python_space);
    if (name == "isalpha") return all_of_points(is_alpha);
    if (name == "isalnum") return all_of_points([](int32_t c) { return is_alpha(c) || (c >= '0' && c <= '9'); });
    if (name == "islower") return Value::boolean(map_case(text, false) == text && map_case(text, true) != text);
    if (name == "isupper") return Value::boolean(map_case(text, true) == text && map_case(text, false) != text);
    return std::nullopt;
  }
  if (object.is_dict()) {
    const Dict& dict = object.dict();
    if (name == "items") return apply_filter("items", object, {});
    if (name == "keys") return Value::list(object.iterate());
    if (name == "values") {
      std::vector<Value> values;
      for (const auto& entry : dict.items) values.push_back(entry.second);  // insertion order, as Python
      return Value::list(std::move(values));
    }
    if (name == "get") {
      const Value* key = arg(0, "key");
      if (!key) fail("get needs a key");
      const Value* found = dict.find(dict_key(*key));
      if (found) return *found;
      const Value* fallback = arg(1, "default");
      return fallback ? *fallback : Value::none();
    }
    return std::nullopt;
  }
  if (object.is_list()) {
    if (name == "index" || name == "count") {
      const Value* needle = arg(0, "value");
      if (!needle) fail(std::string(name) + " needs an argument");
      int64_t count = 0;
      for (size_t i = 0; i < object.items().size(); ++i)
        if (equal(object.items()[i], *needle)) {
          if (name == "index") return Value::integer(static_cast<int64_t>(i));
          ++count;
        }
      if (name == "index") fail("the value is not in the list");
      return Value::integer(count);
    }
    if (name == "append" || name == "pop" || name == "extend" || name == "insert" || name == "remove")
      fail("lists are immutable in chat templates (jinja2's sandbox refuses " + std::string(name) + ")");
  }
  return std::nullopt;
}

std::optional<Value> global_function(std::string_view name) {
  if (name == "range") {
    return Value::function("range", [](CallArgs& args) {
      if (args.positional.empty() || args.positional.size() > 3) fail("range takes 1 to 3 integers");
      int64_t start = 0, stop, step = 1;
      if (args.positional.size() == 1) {
        stop = need_int(&args.positional[0], 0, "range");
      } else {
        start = need_int(&args.positional[0], 0, "range");
        stop = need_int(&args.positional[1], 0, "range");
        if (args.positional.size() == 3) step = need_int(&args.positional[2], 1, "range");
      }
      if (step == 0) fail("range() arg 3 must not be zero");
      std::vector<Value> items;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (static_cast<int64_t>(items.size()) >= kMaxRange)
          fail("range too big: more than 100000 items (jinja2's sandbox limit)");
        items.push_back(Value::integer(i));
      }
      return Value::list(std::move(items));
    });
  }
  if (name == "namespace" || name == "dict") {
    const bool is_namespace = name == "namespace";
    return Value::function(std::string(name), [is_namespace](CallArgs& args) {
      Dict dict;
      dict.is_namespace = is_namespace;
      for (const Value& initial : args.positional) {
        if (!initial.is_dict()) fail("namespace() and dict() take a mapping or keyword arguments");
        for (const auto& [key, value] : initial.dict().items) dict.set(key, value);
      }
      for (auto& [key, value] : args.keyword) dict.set(key, value);
      return Value::dict(std::move(dict));
    });
  }
  if (name == "raise_exception") {
    return Value::function("raise_exception", [](CallArgs& args) -> Value {
      throw TemplateRaised(args.positional.empty() ? std::string() : args.positional[0].to_str());
    });
  }
  if (name == "strftime_now") {
    return Value::function("strftime_now", [](CallArgs& args) {
      if (args.positional.empty()) fail("strftime_now needs a format");
      const std::time_t now = std::time(nullptr);
      std::tm local{};
      localtime_r(&now, &local);
      char buffer[256];
      const size_t length = std::strftime(buffer, sizeof(buffer), args.positional[0].to_str().c_str(), &local);
      return Value(std::string(buffer, length));
    });
  }
  if (name == "joiner") {
    return Value::function("joiner", [](CallArgs& args) {
      const std::string separator = args.positional.empty() ? ", " : args.positional[0].to_str();
      auto used = std::make_shared<bool>(false);
      return Value::function("joiner", [separator, used](CallArgs&) {
        if (!*used) {
          *used = true;
          return Value("");
        }
        return Value(separator);
      });
    });
  }
  return std::nullopt;
}

}  // namespace zt::data::jinja
