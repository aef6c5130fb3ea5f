// Values of the Jinja interpreter, with Python's semantics as jinja2 gives them to chat templates: None,
// booleans, integers, floats, strings (UTF-8; lengths and slices count code points), lists and tuples, dicts
// that keep insertion order, namespaces (dicts whose attributes `set` may assign), callables (macros,
// built-in functions) and Undefined (what a missing variable, key or index gives: empty when printed, false,
// an empty sequence, an error when used further).
//
// Strings, lists and dicts are shared, so copying a Value is a reference-count increment; only namespaces
// and the interpreter's own loop objects are ever changed after they are made.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zt::data::jinja {

class Value;

// A failure while rendering, without its place: the interpreter adds the template line.
struct RenderError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
[[noreturn]] inline void fail(const std::string& message) { throw RenderError(message); }

// A failure at a known line of the template (syntax errors, and render errors once placed).
struct LocatedError : std::runtime_error {
  LocatedError(int line, const std::string& message) : std::runtime_error(message), line(line) {}
  int line;
};
// raise_exception() called by the template: its own words, not ztune's.
struct TemplateRaised : std::runtime_error {
  using std::runtime_error::runtime_error;
  int line = 0;
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  // The keyword `name`, else positional `index`, else nullptr.
  const Value* get(size_t index, std::string_view name) const;
};

struct Function {
  std::string name;
  std::function<Value(CallArgs&)> call;
};

struct List {
  std::vector<Value> items;
  bool tuple = false;
  bool generator = false;  // what map/select/... give in jinja2: iterable once, no len(), not JSON, always true
};

// Keys are strings; another key (Seed-OSS's {0: 0, 512: 128}) is kept as "\0" + its repr (dict_key()).
struct Dict {
  std::vector<std::pair<std::string, Value>> items;
  bool is_namespace = false;
  const Value* find(std::string_view key) const;
  void set(std::string_view key, Value value);
};

class Value {
 public:
  enum class Kind : uint8_t { undefined, none, boolean, integer, number, string, list, dict, function };

  Value() = default;  // Undefined
  Value(std::string text);
  Value(const char* text) : Value(std::string(text)) {}
  static Value undefined(std::string hint);  // hint: what was missing, for the error when it is used
  static Value none();
  static Value boolean(bool value);
  static Value integer(int64_t value);
  static Value number(double value);
  static Value list(std::vector<Value> items, bool tuple = false);
  static Value generator(std::vector<Value> items);
  // A string marked safe (jinja2's Markup, from |safe and |escape): `+` escapes the plain string it meets.
  static Value markup(std::string text);
  static Value dict(Dict dict);
  static Value function(std::string name, std::function<Value(CallArgs&)> call);
  static Value from_json(const nlohmann::ordered_json& json);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::undefined; }
  bool is_none() const { return kind_ == Kind::none; }
  bool is_string() const { return kind_ == Kind::string; }
  bool is_list() const { return kind_ == Kind::list; }
  bool is_dict() const { return kind_ == Kind::dict; }
  bool is_number() const { return kind_ == Kind::integer || kind_ == Kind::number || kind_ == Kind::boolean; }
  bool is_integer() const { return kind_ == Kind::integer || kind_ == Kind::boolean; }
  bool is_function() const { return kind_ == Kind::function; }
  bool is_tuple() const { return kind_ == Kind::list && list_->tuple; }
  bool is_generator() const { return kind_ == Kind::list && list_->generator; }
  bool is_markup() const { return kind_ == Kind::string && integer_ == 1; }

  bool as_bool() const { return integer_ != 0; }
  int64_t as_int() const { return kind_ == Kind::number ? static_cast<int64_t>(number_) : integer_; }
  double as_double() const { return kind_ == Kind::number ? number_ : static_cast<double>(integer_); }
  const std::string& str() const { return *string_; }
  const std::vector<Value>& items() const { return list_->items; }
  const Dict& dict() const { return *dict_; }
  Dict& mutable_dict() const { return *dict_; }  // namespaces and loop objects only
  const Function& function() const { return *function_; }
  const std::string& undefined_hint() const;

  bool truthy() const;
  // Python's str() and repr(); json() is json.dumps(ensure_ascii=False) with transformers' tojson arguments.
  std::string to_str() const;
  std::string repr() const;
  void append_str(std::string& out) const;
  std::string json(int indent = -1, bool sort_keys = false, bool ensure_ascii = false) const;
  const char* type_name() const;  // Python's type name, for messages

  // Python's len(): code points of a string, items of a list or dict; -1 for what has no length.
  int64_t length() const;
  // What iterating gives (a dict gives its keys, a string its characters, Undefined nothing); an error
  // message for what cannot be iterated.
  std::vector<Value> iterate() const;

 private:
  Kind kind_ = Kind::undefined;
  int64_t integer_ = 0;
  double number_ = 0;
  std::shared_ptr<const std::string> string_;  // also Undefined's hint
  std::shared_ptr<List> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<Function> function_;
};

bool equal(const Value& a, const Value& b);
// The Dict key for a value (a string is itself), and back.
std::string dict_key(const Value& key);
Value dict_key_value(const std::string& key);
// Python's <; a zt::Error for values Python cannot order.
bool less(const Value& a, const Value& b);

// Python's float repr: the shortest text that reads back as the same double ("1.0", "1e+16", "0.1").
std::string python_float(double value);
// Python's repr of a string: single quotes unless it holds one and no double quote.
std::string python_string_repr(std::string_view text);

// UTF-8 helpers over code points (malformed bytes count as one code point each).
std::vector<std::string_view> code_points(std::string_view text);

}  // namespace zt::data::jinja
