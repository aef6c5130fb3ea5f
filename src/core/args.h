// Table-driven command-line parsing with ms-swift's syntax.
//
// One table per subcommand binds each flag to a field of the struct that command fills: a member, or a member of
// a member (`args::field`), so that a flag lands straight in the options of the component that uses it. The same
// table parses the command line, prints --help (defaults read from a default-constructed struct) and serialises
// the arguments to JSON (args.json). Accepted syntax, as ms-swift's HfArgumentParser:
//   --flag value   --flag=value   --bool_flag (true)   --bool_flag false   --list a b c
//   a leading CONFIG.yaml / CONFIG.json holding the same keys (command-line flags override it)
// Dashes and underscores in flag names are interchangeable. Unknown flags, missing or malformed
// values and values outside a flag's choices are errors naming the flag (and the nearest valid one).
// A table also knows ms-swift's flags that ztune does not implement (`known`, `ignored`): they bind no field,
// are listed in their own part of --help and are never written to args.json.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <typeindex>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>  // the templates below return json by value

namespace zt::args {

enum class Kind { Bool, Int, Float, String, List };

struct Flag {
  std::string name;  // canonical spelling, without the leading "--"
  std::vector<std::string> aliases;
  Kind kind = Kind::String;
  bool positional = false;
  std::string section;
  std::string help;
  std::vector<std::string> choices;  // empty: any value
  int pending_issue = 0;             // > 0: accepted by the parser but "not supported yet" until issue #N
  bool secret = false;               // never printed, never written to args.json
  // Set for an ms-swift flag that binds no field (Table::known / Table::ignored): why ztune does not use it.
  std::string unbound_reason;
  std::vector<std::string> accepted;  // known: values accepted without effect (ms-swift's default first)
  bool any_value = false;             // ignored: every well-formed value is accepted without effect
  // Stores `values` (already checked against kind and choices) into the bound field.
  std::function<void(void* target, const std::vector<std::string>& values)> assign;
  std::function<nlohmann::json(const void* target)> read;  // null when unset

  // Allowed numbers of an Int or Float flag (ms-swift's, transformers' or PyTorch's rule, in `range_why`):
  // [min, max], either end exclusive when *_open, plus `also` (sentinels such as -1 for "from epochs").
  std::optional<double> min, max;
  bool min_open = false, max_open = false;
  std::vector<double> also;
  std::string range_why;
  bool has_range() const { return min.has_value() || max.has_value(); }
  std::string range_text() const;  // ">= 1", "in [0, 1)", ">= 1 or -1"

  Flag& alias(std::string other) { aliases.push_back(std::move(other)); return *this; }
  Flag& at_least(double value, std::string why = "") { min = value; range_why = std::move(why); return *this; }
  Flag& above(double value, std::string why = "") { at_least(value, std::move(why)); min_open = true; return *this; }
  Flag& at_most(double value) { max = value; return *this; }
  Flag& below(double value) { max = value; max_open = true; return *this; }
  Flag& or_value(double value) { also.push_back(value); return *this; }
  Flag& one_of(std::vector<std::string> allowed) { choices = std::move(allowed); return *this; }
  Flag& pending(int issue) { pending_issue = issue; return *this; }
  Flag& hidden_value() { secret = true; return *this; }
  bool unbound() const { return !unbound_reason.empty(); }
};

// Where a flag's value lives in the struct `A` a table fills, as a value of type T: read and written through
// two functions. `field` makes one for a member path, `as` for a member kept in another type than the flag's.
template <class A, class T>
struct Field {
  std::function<void(A&, T)> set;
  std::function<T(const A&)> get;
};

namespace detail {
template <class O>
O& follow(O& object) { return object; }
template <class O, class C, class M, class... Rest>
auto& follow(O& object, M C::*member, Rest... rest) { return follow(object.*member, rest...); }
}  // namespace detail

// The field at the end of a member path: field(&Run::data, &DataSetup::reader, &ReaderOptions::data_seed).
template <class A, class M, class... Rest>
auto field(M A::*first, Rest... rest) {
  using T = std::decay_t<decltype(detail::follow(std::declval<A&>(), first, rest...))>;
  return Field<A, T>{[=](A& target, T value) { detail::follow(target, first, rest...) = std::move(value); },
                     [=](const A& target) -> T { return detail::follow(target, first, rest...); }};
}

// A flag of type `Flagged` (as ms-swift types it: lora_alpha and ddp_timeout are ints) kept in a field of another
// arithmetic type.
template <class Flagged, class A, class T>
Field<A, Flagged> as(Field<A, T> inner) {
  return {[set = inner.set](A& target, Flagged value) { set(target, static_cast<T>(value)); },
          [get = inner.get](const A& target) { return static_cast<Flagged>(get(target)); }};
}

class Table {
 public:
  Table(std::string command, std::string summary) : command_(std::move(command)), summary_(std::move(summary)) {}

  // Flags added after this call are listed under `title` in --help.
  void section(std::string title) { section_ = std::move(title); }

  template <class A, class T>
  Flag& add(std::string name, T A::*member, std::string help) {
    return add(std::move(name), field(member), std::move(help));
  }
  template <class A, class T>
  Flag& add(std::string name, Field<A, T> field, std::string help);
  template <class A, class T>
  Flag& positional(std::string name, T A::*member, std::string help);
  // An ms-swift flag ztune does not implement. Given at one of `accepted` (ms-swift's default; compared after
  // normalising booleans, numbers and None) it has no effect; any other value is an error
  // "--NAME VALUE: not supported by ztune (REASON)".
  Flag& known(std::string name, Kind kind, std::string reason, std::vector<std::string> accepted);
  // An ms-swift flag accepted with any well-formed value and ignored, because `reason`.
  Flag& ignored(std::string name, Kind kind, std::string reason);
  // The flag spelled `name` (canonical or alias, dashes or underscores), or null.
  const Flag* find(const std::string& name) const;

  // Fills `target` (a struct of the type the table was built for) and returns the canonical names of
  // the flags that were given. Throws zt::Error on any problem.
  template <class A>
  std::set<std::string> parse(const std::vector<std::string>& argv, A& target) const {
    check_type(typeid(A));
    return parse_into(argv, &target);
  }
  // zt::Error listing every given flag whose feature has not landed yet.
  void reject_pending(const std::set<std::string>& given) const;

  template <class A>
  std::string help() const {
    check_type(typeid(A));
    A defaults{};
    return help_text(&defaults);
  }
  // Every flag as JSON (name, aliases, kind, status, default or accepted values, reason), for tests that
  // compare the table with ms-swift's argument classes (`ztune COMMAND --list_flags_json`).
  template <class A>
  nlohmann::json describe() const {
    check_type(typeid(A));
    A defaults{};
    return describe_flags(&defaults);
  }
  // Arguments as JSON, secrets removed.
  template <class A>
  nlohmann::json to_json(const A& args) const;

  const std::vector<Flag>& flags() const { return flags_; }
  const std::string& command() const { return command_; }
  // Nearest known flag name to `name` (edit distance), for "did you mean".
  std::string nearest(const std::string& name) const;

 private:
  template <class A>
  void bind_type();
  void check_type(const std::type_index& type) const;
  Flag& push(Flag flag);
  std::set<std::string> parse_into(const std::vector<std::string>& argv, void* target) const;
  std::string help_text(const void* defaults) const;
  void help_unbound(std::ostream& out) const;
  nlohmann::json describe_flags(const void* defaults) const;
  nlohmann::json json_of(const void* target) const;

  std::string command_;
  std::string summary_;
  std::string section_;
  std::vector<Flag> flags_;
  std::optional<std::type_index> type_;
};

// "true"/"false" (also 1/0, yes/no, any case); nullopt when neither.
std::optional<bool> parse_bool(const std::string& text);
// Reads a flat YAML or JSON config file into command-line tokens (--key value ...).
std::vector<std::string> config_file_tokens(const std::string& path);

// ---- binding a field type to a kind and a converter ----
namespace detail {

template <class T, class Enable = void> struct Binding;
template <> struct Binding<bool> { static constexpr Kind kind = Kind::Bool; };
template <> struct Binding<int> { static constexpr Kind kind = Kind::Int; };
template <> struct Binding<int64_t> { static constexpr Kind kind = Kind::Int; };
template <> struct Binding<uint32_t> { static constexpr Kind kind = Kind::Int; };
template <> struct Binding<uint64_t> { static constexpr Kind kind = Kind::Int; };
// An enum is a string flag whose choices are its names: `enum_names(E{})`, found next to the enum by
// argument-dependent lookup, lists them in the enum's order (const std::vector<std::string>&).
template <class E> struct Binding<E, std::enable_if_t<std::is_enum_v<E>>> { static constexpr Kind kind = Kind::String; };
template <> struct Binding<double> { static constexpr Kind kind = Kind::Float; };
template <> struct Binding<std::string> { static constexpr Kind kind = Kind::String; };
template <> struct Binding<std::vector<std::string>> { static constexpr Kind kind = Kind::List; };
template <class T> struct Binding<std::optional<T>> { static constexpr Kind kind = Binding<T>::kind; };

// Converts already-validated text to T (validation happens in the parser, by kind).
void convert(const std::vector<std::string>& values, bool& out);
void convert(const std::vector<std::string>& values, int& out);
void convert(const std::vector<std::string>& values, int64_t& out);
void convert(const std::vector<std::string>& values, uint32_t& out);
void convert(const std::vector<std::string>& values, uint64_t& out);
void convert(const std::vector<std::string>& values, double& out);
void convert(const std::vector<std::string>& values, std::string& out);
void convert(const std::vector<std::string>& values, std::vector<std::string>& out);
size_t enum_index(const std::vector<std::string>& names, const std::string& value);
template <class E, std::enable_if_t<std::is_enum_v<E>, int> = 0>
void convert(const std::vector<std::string>& values, E& out) {
  out = static_cast<E>(enum_index(enum_names(E{}), values.at(0)));
}
template <class T>
void convert(const std::vector<std::string>& values, std::optional<T>& out) {
  T value{};
  convert(values, value);
  out = std::move(value);
}

nlohmann::json to_json_value_null();
nlohmann::json to_json_value(bool value);
nlohmann::json to_json_value(int value);
nlohmann::json to_json_value(int64_t value);
nlohmann::json to_json_value(uint32_t value);
nlohmann::json to_json_value(uint64_t value);
nlohmann::json to_json_value(double value);
nlohmann::json to_json_value(const std::string& value);
nlohmann::json to_json_value(const std::vector<std::string>& value);
template <class E, std::enable_if_t<std::is_enum_v<E>, int> = 0>
nlohmann::json to_json_value(E value) {
  return to_json_value(enum_names(E{}).at(static_cast<size_t>(value)));
}
template <class T>
nlohmann::json to_json_value(const std::optional<T>& value) {
  return value.has_value() ? to_json_value(*value) : to_json_value_null();
}

}  // namespace detail

template <class A>
void Table::bind_type() {
  if (!type_.has_value()) type_ = std::type_index(typeid(A));
  check_type(typeid(A));
}

template <class A, class T>
Flag& Table::add(std::string name, Field<A, T> field, std::string help) {
  bind_type<A>();
  Flag flag;
  flag.name = std::move(name);
  flag.kind = detail::Binding<T>::kind;
  flag.help = std::move(help);
  if constexpr (std::is_enum_v<T>) flag.choices = enum_names(T{});
  flag.assign = [set = field.set](void* target, const std::vector<std::string>& values) {
    T value{};
    detail::convert(values, value);
    set(*static_cast<A*>(target), std::move(value));
  };
  flag.read = [get = field.get](const void* target) { return detail::to_json_value(get(*static_cast<const A*>(target))); };
  return push(std::move(flag));
}

template <class A, class T>
Flag& Table::positional(std::string name, T A::*member, std::string help) {
  Flag& flag = add(std::move(name), member, std::move(help));
  flag.positional = true;
  return flag;
}

template <class A>
nlohmann::json Table::to_json(const A& args) const {
  check_type(typeid(A));
  return json_of(&args);
}

}  // namespace zt::args
