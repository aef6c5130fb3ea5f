#include "data/jinja/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <utf8proc.h>

#include "data/utf8.h"

namespace zt::data::jinja {

const Value* CallArgs::get(size_t index, std::string_view name) const {
  for (const auto& [key, value] : keyword)
    if (key == name) return &value;
  return index < positional.size() ? &positional[index] : nullptr;
}

const Value* Dict::find(std::string_view key) const {
  for (const auto& [name, value] : items)
    if (name == key) return &value;
  return nullptr;
}

void Dict::set(std::string_view key, Value value) {
  for (auto& [name, slot] : items)
    if (name == key) {
      slot = std::move(value);
      return;
    }
  items.emplace_back(std::string(key), std::move(value));
}

Value::Value(std::string text) : kind_(Kind::string), string_(std::make_shared<const std::string>(std::move(text))) {}

Value Value::undefined(std::string hint) {
  Value value;
  value.string_ = std::make_shared<const std::string>(std::move(hint));
  return value;
}

Value Value::none() {
  Value value;
  value.kind_ = Kind::none;
  return value;
}

Value Value::boolean(bool flag) {
  Value value;
  value.kind_ = Kind::boolean;
  value.integer_ = flag ? 1 : 0;
  return value;
}

Value Value::integer(int64_t number) {
  Value value;
  value.kind_ = Kind::integer;
  value.integer_ = number;
  return value;
}

Value Value::number(double number) {
  Value value;
  value.kind_ = Kind::number;
  value.number_ = number;
  return value;
}

Value Value::list(std::vector<Value> items, bool tuple) {
  Value value;
  value.kind_ = Kind::list;
  value.list_ = std::make_shared<List>(List{std::move(items), tuple});
  return value;
}

Value Value::generator(std::vector<Value> items) {
  Value value = list(std::move(items));
  value.list_->generator = true;
  return value;
}

Value Value::markup(std::string text) {
  Value value(std::move(text));
  value.integer_ = 1;
  return value;
}

std::string dict_key(const Value& key) {
  if (key.is_string()) return key.str();
  if (key.is_undefined() || key.is_list() || key.is_dict() || key.is_function())
    throw RenderError(std::string("unhashable or unsupported dict key of type '") + key.type_name() + "'");
  return std::string(1, '\0') + key.repr();
}

Value dict_key_value(const std::string& key) {
  if (key.empty() || key[0] != '\0') return Value(key);
  const std::string text = key.substr(1);
  if (text == "None") return Value::none();
  if (text == "True" || text == "False") return Value::boolean(text == "True");
  if (text.find_first_of(".en") != std::string::npos) return Value::number(std::stod(text));
  return Value::integer(std::stoll(text));
}

Value Value::dict(Dict dict) {
  Value value;
  value.kind_ = Kind::dict;
  value.dict_ = std::make_shared<Dict>(std::move(dict));
  return value;
}

Value Value::function(std::string name, std::function<Value(CallArgs&)> call) {
  Value value;
  value.kind_ = Kind::function;
  value.function_ = std::make_shared<Function>(Function{std::move(name), std::move(call)});
  return value;
}

Value Value::from_json(const nlohmann::ordered_json& json) {
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::null: return none();
    case nlohmann::ordered_json::value_t::boolean: return boolean(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return integer(json.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned:
      return integer(static_cast<int64_t>(json.get<uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float: return number(json.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value(json.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(from_json(item));
      return list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict dict;
      dict.items.reserve(json.size());
      for (const auto& [key, item] : json.items()) dict.items.emplace_back(key, from_json(item));
      return Value::dict(std::move(dict));
    }
    default: return none();  // binary and discarded values do not occur in parsed JSON text
  }
}

const std::string& Value::undefined_hint() const {
  static const std::string empty;
  return kind_ == Kind::undefined && string_ ? *string_ : empty;
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::undefined:
    case Kind::none: return false;
    case Kind::boolean:
    case Kind::integer: return integer_ != 0;
    case Kind::number: return number_ != 0.0;
    case Kind::string: return !string_->empty();
    case Kind::list: return list_->generator || !list_->items.empty();
    case Kind::dict: return !dict_->items.empty();
    case Kind::function: return true;
  }
  return false;
}

const char* Value::type_name() const {
  switch (kind_) {
    case Kind::undefined: return "Undefined";
    case Kind::none: return "NoneType";
    case Kind::boolean: return "bool";
    case Kind::integer: return "int";
    case Kind::number: return "float";
    case Kind::string: return "str";
    case Kind::list: return list_->generator ? "generator" : list_->tuple ? "tuple" : "list";
    case Kind::dict: return dict_->is_namespace ? "Namespace" : "dict";
    case Kind::function: return "function";
  }
  return "?";
}

std::string python_float(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0) return std::signbit(value) ? "-0.0" : "0.0";
  // The shortest round-trip digits, laid out as Python's repr lays them out (float_repr_style 'short').
  char buffer[64];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  (void)error;
  std::string text(buffer, end);
  const bool negative = text[0] == '-';
  if (negative) text.erase(0, 1);
  const size_t e = text.find('e');
  std::string digits = text.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exponent = std::stoi(text.substr(e + 1));
  std::string out = negative ? "-" : "";
  if (exponent < -4 || exponent >= 16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char exp[16];
    std::snprintf(exp, sizeof(exp), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    return out + exp;
  }
  if (exponent < 0) return out + "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
  const size_t integer_digits = static_cast<size_t>(exponent) + 1;
  if (digits.size() <= integer_digits) return out + digits + std::string(integer_digits - digits.size(), '0') + ".0";
  return out + digits.substr(0, integer_digits) + "." + digits.substr(integer_digits);
}

namespace {

bool printable(int32_t code) {
  if (code == ' ') return true;
  if (code < 0x20 || code == 0x7f) return false;
  if (code < 0x7f) return true;
  switch (utf8proc_category(code)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_ZS: return false;
    default: return true;
  }
}

void append_json_string(std::string& out, std::string_view text, bool ensure_ascii) {
  out += '"';
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (ensure_ascii && static_cast<unsigned char>(c) >= 0x80) {
      size_t next = i;
      const int32_t code = static_cast<int32_t>(next_code_point(text, next));
      char escape[16];
      if (code >= 0x10000) {
        const int32_t v = code - 0x10000;
        std::snprintf(escape, sizeof(escape), "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
      } else {
        std::snprintf(escape, sizeof(escape), "\\u%04x", code);
      }
      out += escape;
      i = next - 1;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escape[8];
          std::snprintf(escape, sizeof(escape), "\\u%04x", static_cast<unsigned char>(c));
          out += escape;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void append_json(std::string& out, const Value& value, int indent, bool sort_keys, bool ascii, int depth) {
  auto newline = [&](int level) {
    out += '\n';
    out.append(static_cast<size_t>(indent * level), ' ');
  };
  const char* item_separator = indent >= 0 ? "," : ", ";
  switch (value.kind()) {
    case Value::Kind::undefined: throw RenderError("Object of type Undefined is not JSON serializable");
    case Value::Kind::none: out += "null"; return;
    case Value::Kind::boolean: out += value.as_bool() ? "true" : "false"; return;
    case Value::Kind::integer: out += std::to_string(value.as_int()); return;
    case Value::Kind::number: {
      const double number = value.as_double();
      if (std::isnan(number)) out += "NaN";
      else if (std::isinf(number)) out += number > 0 ? "Infinity" : "-Infinity";
      else out += python_float(number);
      return;
    }
    case Value::Kind::string: append_json_string(out, value.str(), ascii); return;
    case Value::Kind::list: {
      if (value.is_generator()) throw RenderError("Object of type generator is not JSON serializable");
      if (value.items().empty()) {
        out += "[]";
        return;
      }
      out += '[';
      bool first = true;
      for (const Value& item : value.items()) {
        if (!first) out += item_separator;
        first = false;
        if (indent >= 0) newline(depth + 1);
        append_json(out, item, indent, sort_keys, ascii, depth + 1);
      }
      if (indent >= 0) newline(depth);
      out += ']';
      return;
    }
    case Value::Kind::dict: {
      if (value.dict().items.empty()) {
        out += "{}";
        return;
      }
      std::vector<const std::pair<std::string, Value>*> entries;
      for (const auto& entry : value.dict().items) entries.push_back(&entry);
      if (sort_keys)
        std::stable_sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
      out += '{';
      bool first = true;
      for (const auto* entry : entries) {
        if (!first) out += item_separator;
        first = false;
        if (indent >= 0) newline(depth + 1);
        const Value key = dict_key_value(entry->first);
        if (key.is_string()) append_json_string(out, key.str(), ascii);
        else if (key.is_none()) out += "\"null\"";
        else out += "\"" + (key.kind() == Value::Kind::boolean ? std::string(key.as_bool() ? "true" : "false") : key.to_str()) + "\"";
        out += ": ";
        append_json(out, entry->second, indent, sort_keys, ascii, depth + 1);
      }
      if (indent >= 0) newline(depth);
      out += '}';
      return;
    }
    case Value::Kind::function: throw RenderError("Object of type function is not JSON serializable");
  }
}

}  // namespace

std::vector<std::string_view> code_points(std::string_view text) {
  std::vector<std::string_view> points;
  points.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t start = i;
    next_code_point(text, i);
    points.push_back(text.substr(start, i - start));
  }
  return points;
}

std::string python_string_repr(std::string_view text) {
  const bool has_single = text.find('\'') != std::string_view::npos;
  const bool has_double = text.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (size_t i = 0; i < text.size();) {
    const size_t start = i;
    const int32_t code = static_cast<int32_t>(next_code_point(text, i));
    if (code == quote || code == '\\') {
      out += '\\';
      out += static_cast<char>(code);
    } else if (code == '\n') {
      out += "\\n";
    } else if (code == '\r') {
      out += "\\r";
    } else if (code == '\t') {
      out += "\\t";
    } else if (printable(code)) {
      out.append(text.substr(start, i - start));
    } else {
      char escape[16];
      if (code < 0x100) std::snprintf(escape, sizeof(escape), "\\x%02x", code);
      else if (code < 0x10000) std::snprintf(escape, sizeof(escape), "\\u%04x", code);
      else std::snprintf(escape, sizeof(escape), "\\U%08x", code);
      out += escape;
    }
  }
  out += quote;
  return out;
}

void Value::append_str(std::string& out) const {
  switch (kind_) {
    case Kind::undefined: return;
    case Kind::string: out += *string_; return;
    case Kind::integer: out += std::to_string(integer_); return;
    default: out += repr();
  }
}

std::string Value::to_str() const {
  std::string out;
  append_str(out);
  return out;
}

std::string Value::repr() const {
  switch (kind_) {
    case Kind::undefined: return "Undefined";
    case Kind::none: return "None";
    case Kind::boolean: return integer_ ? "True" : "False";
    case Kind::integer: return std::to_string(integer_);
    case Kind::number: return python_float(number_);
    case Kind::string: return python_string_repr(*string_);
    case Kind::list: {
      if (list_->generator) return "<generator object>";
      std::string out = list_->tuple ? "(" : "[";
      for (size_t i = 0; i < list_->items.size(); ++i) out += (i ? ", " : "") + list_->items[i].repr();
      if (list_->tuple && list_->items.size() == 1) out += ",";
      return out + (list_->tuple ? ")" : "]");
    }
    case Kind::dict: {
      std::string out = dict_->is_namespace ? "<Namespace {" : "{";
      bool first = true;
      for (const auto& [key, value] : dict_->items) {
        out += (first ? "" : ", ") + dict_key_value(key).repr() + ": " + value.repr();
        first = false;
      }
      return out + (dict_->is_namespace ? "}>" : "}");
    }
    case Kind::function: return "<function " + function_->name + ">";
  }
  return "";
}

std::string Value::json(int indent, bool sort_keys, bool ensure_ascii) const {
  std::string out;
  append_json(out, *this, indent, sort_keys, ensure_ascii, 0);
  return out;
}

int64_t Value::length() const {
  switch (kind_) {
    case Kind::undefined: return 0;
    case Kind::string: {
      int64_t count = 0;
      for (size_t i = 0; i < string_->size();) {
        next_code_point(*string_, i);
        ++count;
      }
      return count;
    }
    case Kind::list: return list_->generator ? -1 : static_cast<int64_t>(list_->items.size());
    case Kind::dict: return static_cast<int64_t>(dict_->items.size());
    default: return -1;
  }
}

std::vector<Value> Value::iterate() const {
  switch (kind_) {
    case Kind::undefined: return {};
    case Kind::list: return list_->items;
    case Kind::dict: {
      std::vector<Value> keys;
      keys.reserve(dict_->items.size());
      for (const auto& entry : dict_->items) keys.push_back(dict_key_value(entry.first));
      return keys;
    }
    case Kind::string: {
      std::vector<Value> characters;
      for (std::string_view point : code_points(*string_)) characters.emplace_back(std::string(point));
      return characters;
    }
    default: throw RenderError(std::string("'") + type_name() + "' object is not iterable");
  }
}

bool equal(const Value& a, const Value& b) {
  using Kind = Value::Kind;
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Kind::number || b.kind() == Kind::number) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::undefined:
    case Kind::none: return true;
    case Kind::string: return a.str() == b.str();
    case Kind::list: {
      if (a.is_generator() || b.is_generator()) return &a.items() == &b.items();
      if (a.is_tuple() != b.is_tuple() || a.items().size() != b.items().size()) return false;
      for (size_t i = 0; i < a.items().size(); ++i)
        if (!equal(a.items()[i], b.items()[i])) return false;
      return true;
    }
    case Kind::dict: {
      if (&a.dict() == &b.dict()) return true;
      if (a.dict().is_namespace || b.dict().is_namespace) return false;
      if (a.dict().items.size() != b.dict().items.size()) return false;
      for (const auto& [key, value] : a.dict().items) {
        const Value* other = b.dict().find(key);
        if (other == nullptr || !equal(value, *other)) return false;
      }
      return true;
    }
    case Kind::function: return &a.function() == &b.function();
    default: return false;
  }
}

bool less(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Value::Kind::number || b.kind() == Value::Kind::number) return a.as_double() < b.as_double();
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string()) return a.str() < b.str();
  if (a.is_list() && b.is_list()) {
    const auto& x = a.items();
    const auto& y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equal(x[i], y[i])) return less(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  throw RenderError(std::string("'<' not supported between instances of '") + a.type_name() + "' and '" +
                    b.type_name() + "'");
}

}  // namespace zt::data::jinja
