// What chat templates call: jinja2's filters and tests, the str/dict/list methods its sandbox allows, and the
// globals (range, namespace, dict, joiner, and transformers' raise_exception, strftime_now). Python's
// semantics throughout; transformers' tojson (json.dumps with ensure_ascii off, indent, sort_keys) replaces
// jinja2's HTML-safe one, as in apply_chat_template.
#pragma once

#include <optional>
#include <string_view>

#include "data/jinja/python_str.h"
#include "data/jinja/value.h"

namespace zt::data::jinja {

// jinja2's sandbox refuses ranges longer than this; strings and lists a template builds are held to
// kMaxValueBytes and kMaxItems so that a runaway template fails instead of filling memory.
inline constexpr int64_t kMaxRange = 100000;
inline constexpr size_t kMaxValueBytes = size_t{64} << 20;
inline constexpr size_t kMaxItems = 1000000;

// A RenderError for an unknown filter or test, or arguments it cannot take.
Value apply_filter(std::string_view name, const Value& input, const CallArgs& args);
bool apply_test(std::string_view name, const Value& input, const CallArgs& args);
// object.name(args) for a method of str, dict or list; nullopt when the type has no such method.
std::optional<Value> call_method(const Value& object, std::string_view name, const CallArgs& args);
// A global function by name; nullopt when there is none.
std::optional<Value> global_function(std::string_view name);

using py::python_strip;

}  // namespace zt::data::jinja
