#include "core/args.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/check.h"

namespace zt::args {
namespace {

using nlohmann::json;

std::string normalise(std::string name) {
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

bool is_flag_token(const std::string& token) { return token.size() > 2 && token[0] == '-' && token[1] == '-'; }

const char* kind_value_name(Kind kind) {
  switch (kind) {
    case Kind::Bool: return "BOOL";
    case Kind::Int: return "INT";
    case Kind::Float: return "FLOAT";
    case Kind::String: return "STR";
    case Kind::List: return "STR [STR ...]";
  }
  return "";
}

std::optional<long long> parse_integer(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long long value = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end != text.c_str() + text.size()) return std::nullopt;
  return value;
}

std::optional<double> parse_float(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

bool in_range(const Flag& flag, double value) {
  if (std::find(flag.also.begin(), flag.also.end(), value) != flag.also.end()) return true;
  if (flag.min.has_value() && (flag.min_open ? value <= *flag.min : value < *flag.min)) return false;
  if (flag.max.has_value() && (flag.max_open ? value >= *flag.max : value > *flag.max)) return false;
  return true;
}

std::string number_text(double value) {
  std::ostringstream out;
  out << std::setprecision(12) << value;
  return out.str();
}

// Checks `values` against the flag's kind, range and choices; the error names the flag and what it expects.
void validate(const Flag& flag, const std::string& shown, const std::vector<std::string>& values) {
  ZT_REQUIRE(!values.empty(), shown << " expects a value (" << kind_value_name(flag.kind) << ")");
  if (flag.kind != Kind::List)
    ZT_REQUIRE(values.size() == 1, shown << " takes one value, got " << values.size());
  for (const std::string& value : values) {
    switch (flag.kind) {
      case Kind::Bool:
        ZT_REQUIRE(parse_bool(value).has_value(), shown << " expects true or false, got '" << value << "'");
        break;
      case Kind::Int: {
        std::optional<long long> parsed = parse_integer(value);
        ZT_REQUIRE(parsed.has_value() && *parsed >= INT32_MIN && *parsed <= INT32_MAX,
                   shown << " expects an integer, got '" << value << "'");
        break;
      }
      case Kind::Float:
        ZT_REQUIRE(parse_float(value).has_value(), shown << " expects a number, got '" << value << "'");
        break;
      case Kind::String:
      case Kind::List:
        break;
    }
    if (flag.has_range() && (flag.kind == Kind::Int || flag.kind == Kind::Float)) {
      const double number = flag.kind == Kind::Int ? static_cast<double>(*parse_integer(value)) : *parse_float(value);
      ZT_REQUIRE(in_range(flag, number), shown << " must be " << flag.range_text()
                                               << (flag.range_why.empty() ? "" : " (" + flag.range_why + ")")
                                               << ", got " << value);
    }
    if (!flag.choices.empty() && std::find(flag.choices.begin(), flag.choices.end(), value) == flag.choices.end()) {
      std::string allowed;
      for (const std::string& choice : flag.choices) allowed += (allowed.empty() ? "" : ", ") + choice;
      ZT_THROW(shown << " does not accept '" << value << "'; choose one of: " << allowed);
    }
  }
}

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string word; in >> word;) words.push_back(word);
  if (words.empty()) words.push_back(text);
  return words;
}

bool is_none(const std::string& text) {
  std::string value = lower(text);
  return value == "none" || value == "null";
}

// A value as text that compares equal for equal meanings: true/false for booleans, numbers by value, None.
std::string canonical(Kind kind, const std::string& text) {
  if (is_none(text)) return "None";
  if (kind == Kind::Bool) {
    if (std::optional<bool> value = parse_bool(text)) return *value ? "true" : "false";
  } else if (kind == Kind::Int) {
    if (std::optional<long long> value = parse_integer(text)) return std::to_string(*value);
  } else if (kind == Kind::Float) {
    if (std::optional<double> value = parse_float(text)) {
      std::ostringstream out;
      out << std::setprecision(17) << *value;
      return out.str();
    }
  }
  std::string low = lower(text);
  return low == "true" || low == "false" ? low : text;
}

std::string canonical(Kind kind, const std::vector<std::string>& values) {
  std::string joined;
  for (const std::string& value : values) joined += (joined.empty() ? "" : " ") + canonical(kind, value);
  return joined;
}

// Checks a flag that binds no field: nullopt when its value is accepted (ignored, or at an accepted value),
// else the refusal. Malformed values are errors as for any flag; None passes the kind check.
std::optional<std::string> check_unbound(const Flag& flag, const std::string& shown,
                                         const std::vector<std::string>& values) {
  const bool none = values.size() == 1 && is_none(values[0]);
  if (!none) validate(flag, shown, values);
  if (flag.any_value) return std::nullopt;
  const std::string given = canonical(flag.kind, values);
  for (const std::string& accepted : flag.accepted)
    if (canonical(flag.kind, split_words(accepted)) == given) return std::nullopt;
  std::string value;
  for (const std::string& item : values) value += " " + item;
  if (flag.secret) value = " ...";
  return shown + value + ": not supported by ztune (" + flag.unbound_reason + ")";
}

// ---- config files ----

std::string trim(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(" \t\r");
  return text.substr(begin, end - begin + 1);
}

std::string unquote(const std::string& text) {
  if (text.size() >= 2 && (text.front() == '"' || text.front() == '\'') && text.back() == text.front())
    return text.substr(1, text.size() - 2);
  return text;
}

// Drops a trailing "# comment" that is outside quotes.
std::string strip_comment(const std::string& line) {
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
      return line.substr(0, i);
    }
  }
  return line;
}

std::vector<std::string> split_inline_list(const std::string& text, const std::string& where) {
  // text is "[a, b, 'c']"
  std::vector<std::string> items;
  std::string inner = trim(text.substr(1, text.size() - 2));
  if (inner.empty()) return items;
  std::string current;
  char quote = 0;
  for (char c : inner) {
    if (quote != 0) {
      current.push_back(c);
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
      current.push_back(c);
    } else if (c == ',') {
      items.push_back(unquote(trim(current)));
      current.clear();
    } else {
      current.push_back(c);
    }
  }
  ZT_REQUIRE(quote == 0, where << ": unterminated quote in list");
  items.push_back(unquote(trim(current)));
  return items;
}

void append_json_value(const json& value, std::vector<std::string>& tokens) {
  if (value.is_string()) tokens.push_back(value.get<std::string>());
  else if (value.is_boolean()) tokens.push_back(value.get<bool>() ? "true" : "false");
  else if (value.is_number_integer()) tokens.push_back(std::to_string(value.get<long long>()));
  else tokens.push_back(value.dump());
}

std::vector<std::string> json_config_tokens(const std::string& path, const std::string& text) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& error) {
    ZT_THROW(path << ": not valid JSON (" << error.what() << ")");
  }
  ZT_REQUIRE(root.is_object(), path << ": a config file must hold an object of flag names to values");
  std::vector<std::string> tokens;
  for (auto& [key, value] : root.items()) {
    if (value.is_null()) continue;
    tokens.push_back("--" + key);
    if (value.is_array()) {
      ZT_REQUIRE(!value.empty(), path << ": '" << key << "' is an empty list");
      for (const json& item : value) append_json_value(item, tokens);
    } else {
      append_json_value(value, tokens);
    }
  }
  return tokens;
}

// A flat YAML mapping: `key: value`, `key: [a, b]`, or `key:` followed by `- item` lines.
std::vector<std::string> yaml_config_tokens(const std::string& path, const std::string& text) {
  std::vector<std::string> tokens;
  std::istringstream lines(text);
  std::string raw;
  int line_number = 0;
  std::string open_list_key;
  size_t open_list_items = 0;
  auto close_list = [&](int at_line) {
    if (!open_list_key.empty())
      ZT_REQUIRE(open_list_items > 0, path << ":" << at_line << ": '" << open_list_key << "' has no value");
    open_list_key.clear();
  };
  while (std::getline(lines, raw)) {
    ++line_number;
    std::string line = trim(strip_comment(raw));
    if (line.empty() || line == "---") continue;
    const std::string where = path + ":" + std::to_string(line_number);
    if (line.rfind("- ", 0) == 0 || line == "-") {
      ZT_REQUIRE(!open_list_key.empty(), where << ": list item without a key above it");
      tokens.push_back(unquote(trim(line.substr(1))));
      ++open_list_items;
      continue;
    }
    close_list(line_number);
    ZT_REQUIRE(raw.find_first_not_of(" \t") == 0,
               where << ": nested mappings are not supported; write flat `key: value` lines");
    size_t colon = line.find(':');
    ZT_REQUIRE(colon != std::string::npos && colon > 0, where << ": expected `key: value`");
    std::string key = trim(line.substr(0, colon));
    std::string value = trim(line.substr(colon + 1));
    if (value == "null" || value == "~") continue;
    tokens.push_back("--" + key);
    if (value.empty()) {
      open_list_key = key;
      open_list_items = 0;
    } else if (value.front() == '[') {
      ZT_REQUIRE(value.back() == ']', where << ": unterminated [list]");
      std::vector<std::string> items = split_inline_list(value, where);
      ZT_REQUIRE(!items.empty(), where << ": '" << key << "' is an empty list");
      tokens.insert(tokens.end(), items.begin(), items.end());
    } else {
      tokens.push_back(unquote(value));
    }
  }
  close_list(line_number);
  return tokens;
}

}  // namespace

std::optional<bool> parse_bool(const std::string& text) {
  std::string value = lower(text);
  if (value == "true" || value == "1" || value == "yes" || value == "y" || value == "t") return true;
  if (value == "false" || value == "0" || value == "no" || value == "n" || value == "f") return false;
  return std::nullopt;
}

std::vector<std::string> config_file_tokens(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  ZT_REQUIRE(stream.good(), path << ": cannot open config file");
  std::stringstream buffer;
  buffer << stream.rdbuf();
  bool is_json = path.size() >= 5 && lower(path.substr(path.size() - 5)) == ".json";
  return is_json ? json_config_tokens(path, buffer.str()) : yaml_config_tokens(path, buffer.str());
}

void Table::check_type(const std::type_index& type) const {
  ZT_CHECK(!type_.has_value() || *type_ == type, "flag table for '" << command_ << "' used with another args struct");
}

Flag& Table::push(Flag flag) {
  flag.section = section_;
  for (const Flag& existing : flags_)
    ZT_CHECK(normalise(existing.name) != normalise(flag.name), "flag --" << flag.name << " defined twice");
  flags_.push_back(std::move(flag));
  return flags_.back();
}

Flag& Table::known(std::string name, Kind kind, std::string reason, std::vector<std::string> accepted) {
  ZT_CHECK(!reason.empty(), "flag --" << name << " needs a reason");
  Flag flag;
  flag.name = std::move(name);
  flag.kind = kind;
  flag.unbound_reason = std::move(reason);
  flag.accepted = std::move(accepted);
  return push(std::move(flag));
}

Flag& Table::ignored(std::string name, Kind kind, std::string reason) {
  Flag& flag = known(std::move(name), kind, std::move(reason), {});
  flag.any_value = true;
  return flag;
}

const Flag* Table::find(const std::string& name) const {
  const std::string wanted = normalise(name);
  for (const Flag& flag : flags_) {
    if (normalise(flag.name) == wanted) return &flag;
    for (const std::string& alias : flag.aliases)
      if (normalise(alias) == wanted) return &flag;
  }
  return nullptr;
}

std::string Table::nearest(const std::string& name) const {
  std::string wanted = normalise(name);
  std::string best;
  size_t best_distance = SIZE_MAX;
  // Flags ztune implements first, so that they win a tie with ms-swift flags it only knows.
  std::vector<const Flag*> candidates;
  for (const Flag& flag : flags_)
    if (!flag.unbound()) candidates.push_back(&flag);
  for (const Flag& flag : flags_)
    if (flag.unbound()) candidates.push_back(&flag);
  for (const Flag* candidate : candidates) {
    const Flag& flag = *candidate;
    if (flag.positional) continue;
    std::vector<std::string> spellings = flag.aliases;
    spellings.push_back(flag.name);
    for (const std::string& spelling : spellings) {
      size_t distance = edit_distance(wanted, normalise(spelling));
      // A flag that contains the typed text (or the reverse) is a better guess than one a few edits off.
      if (normalise(spelling).find(wanted) != std::string::npos || wanted.find(normalise(spelling)) != std::string::npos)
        distance = std::min(distance, std::max<size_t>(1, distance / 2));
      if (distance < best_distance) {
        best_distance = distance;
        best = flag.name;
      }
    }
  }
  return best;
}

std::set<std::string> Table::parse_into(const std::vector<std::string>& argv_in, void* target) const {
  std::vector<std::string> argv;
  size_t start = 0;
  if (!argv_in.empty() && !is_flag_token(argv_in[0])) {
    std::string first = lower(argv_in[0]);
    auto ends_with = [&](const std::string& suffix) {
      return first.size() > suffix.size() && first.compare(first.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends_with(".yaml") || ends_with(".yml") || ends_with(".json")) {
      argv = config_file_tokens(argv_in[0]);
      start = 1;
    }
  }
  argv.insert(argv.end(), argv_in.begin() + static_cast<long>(start), argv_in.end());

  std::map<std::string, const Flag*> by_name;
  std::vector<const Flag*> positionals;
  for (const Flag& flag : flags_) {
    if (flag.positional) {
      positionals.push_back(&flag);
      continue;
    }
    by_name[normalise(flag.name)] = &flag;
    for (const std::string& alias : flag.aliases) by_name[normalise(alias)] = &flag;
  }

  std::set<std::string> given;
  std::vector<std::string> refusals;
  size_t next_positional = 0;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& token = argv[i];
    if (!is_flag_token(token)) {
      ZT_REQUIRE(next_positional < positionals.size(),
                 "unexpected argument '" << token << "' for 'ztune " << command_
                                         << "'; flags start with -- (see 'ztune " << command_ << " --help')");
      const Flag& flag = *positionals[next_positional++];
      validate(flag, flag.name, {token});
      flag.assign(target, {token});
      given.insert(flag.name);
      continue;
    }
    std::string body = token.substr(2);
    std::optional<std::string> inline_value;
    if (size_t equals = body.find('='); equals != std::string::npos) {
      inline_value = body.substr(equals + 1);
      body = body.substr(0, equals);
    }
    auto found = by_name.find(normalise(body));
    if (found == by_name.end()) {
      ZT_THROW("unknown flag --" << body << " for 'ztune " << command_ << "'; the nearest valid flag is --"
                                 << nearest(body) << " (see 'ztune " << command_ << " --help')");
    }
    const Flag& flag = *found->second;
    const std::string shown = "--" + body;
    std::vector<std::string> values;
    if (inline_value.has_value()) {
      values.push_back(*inline_value);
    } else if (flag.kind == Kind::Bool) {
      // A bare boolean flag means true; a following true/false is its value.
      if (i + 1 < argv.size() && parse_bool(argv[i + 1]).has_value()) values.push_back(argv[++i]);
      else values.push_back("true");
    } else if (flag.kind == Kind::List) {
      while (i + 1 < argv.size() && !is_flag_token(argv[i + 1])) values.push_back(argv[++i]);
    } else if (i + 1 < argv.size() && !is_flag_token(argv[i + 1])) {
      values.push_back(argv[++i]);
    }
    given.insert(flag.name);
    if (flag.unbound()) {
      if (std::optional<std::string> refusal = check_unbound(flag, shown, values)) refusals.push_back(*refusal);
      continue;
    }
    validate(flag, shown, values);
    flag.assign(target, values);
  }
  for (size_t p = next_positional; p < positionals.size(); ++p)
    ZT_THROW("'ztune " << command_ << "' needs " << positionals[p]->name << " (see 'ztune " << command_ << " --help')");
  if (refusals.size() == 1) ZT_THROW(refusals[0]);
  if (!refusals.empty()) {
    std::string message;
    for (const std::string& refusal : refusals) message += "\n  " + refusal;
    ZT_THROW("'ztune " << command_ << "' cannot run with these ms-swift flags:" << message);
  }
  return given;
}

void Table::reject_pending(const std::set<std::string>& given) const {
  std::string message;
  for (const Flag& flag : flags_) {
    if (flag.pending_issue > 0 && given.count(flag.name) > 0)
      message += "\n  --" + flag.name + ": not supported yet (lands with issue #" + std::to_string(flag.pending_issue) + ")";
  }
  ZT_REQUIRE(message.empty(), "'ztune " << command_ << "' cannot run with these flags yet:" << message);
}

std::string Table::help_text(const void* defaults) const {
  std::ostringstream out;
  out << "usage: ztune " << command_;
  for (const Flag& flag : flags_)
    if (flag.positional) out << " " << flag.name;
  out << " [CONFIG.yaml|CONFIG.json] [--flag value ...]\n\n" << summary_ << "\n";
  std::string current_section = "\x01";
  for (const Flag& flag : flags_) {
    if (flag.unbound()) continue;
    if (flag.section != current_section) {
      current_section = flag.section;
      out << "\n" << (current_section.empty() ? std::string("options") : current_section) << ":\n";
    }
    std::string left = flag.positional ? "  " + flag.name : "  --" + flag.name + " " + kind_value_name(flag.kind);
    for (const std::string& alias : flag.aliases) left += ", --" + alias;
    out << left;
    if (left.size() < 34) out << std::string(34 - left.size(), ' ');
    else out << "\n" << std::string(34, ' ');
    out << flag.help;
    if (!flag.choices.empty()) {
      out << " {";
      for (size_t i = 0; i < flag.choices.size(); ++i) out << (i ? "|" : "") << flag.choices[i];
      out << "}";
    }
    if (flag.has_range()) out << " [" << flag.range_text() << "]";
    json value = flag.read(defaults);
    if (!flag.positional && !value.is_null() && !flag.secret) {
      std::string shown = value.is_string() ? value.get<std::string>() : value.dump();
      if (!shown.empty() && shown != "[]") out << " (default: " << shown << ")";
    }
    if (flag.pending_issue > 0) out << " [not supported yet: issue #" << flag.pending_issue << "]";
    out << "\n";
  }
  help_unbound(out);
  return out.str();
}

// One line per ms-swift flag that binds no field, after the flags ztune implements.
void Table::help_unbound(std::ostream& out) const {
  bool first = true;
  std::string current_section = "\x01";
  for (const Flag& flag : flags_) {
    if (!flag.unbound()) continue;
    if (first) {
      out << "\nms-swift flags ztune accepts or refuses (they set nothing; a refused flag is accepted at the value "
             "shown):\n";
      first = false;
    }
    if (flag.section != current_section) {
      current_section = flag.section;
      if (!current_section.empty()) out << " " << current_section << ":\n";
    }
    std::string left = "  --" + flag.name + " " + kind_value_name(flag.kind);
    out << left << std::string(left.size() < 44 ? 44 - left.size() : 1, ' ');
    if (flag.any_value) {
      out << "accepted for ms-swift command lines; " << flag.unbound_reason;
    } else {
      std::string accepted;  // "" stands for leaving the flag out and is not shown
      for (const std::string& value : flag.accepted)
        if (!value.empty()) accepted += (accepted.empty() ? "" : "|") + value;
      out << flag.unbound_reason;
      if (!accepted.empty()) out << " [" << accepted << "]";
    }
    out << "\n";
  }
}

json Table::json_of(const void* target) const {
  json out = json::object();
  for (const Flag& flag : flags_)
    if (!flag.secret && !flag.unbound()) out[flag.name] = flag.read(target);
  return out;
}

std::string Flag::range_text() const {
  std::string text;
  if (min.has_value() && max.has_value()) {
    text = "in " + std::string(min_open ? "(" : "[") + number_text(*min) + ", " + number_text(*max) + (max_open ? ")" : "]");
  } else if (min.has_value()) {
    text = std::string(min_open ? "> " : ">= ") + number_text(*min);
  } else if (max.has_value()) {
    text = std::string(max_open ? "< " : "<= ") + number_text(*max);
  }
  for (double value : also) text += " or " + number_text(value);
  return text;
}

json Table::describe_flags(const void* defaults) const {
  json out = json::array();
  for (const Flag& flag : flags_) {
    static const char* const kKindNames[] = {"bool", "int", "float", "str", "list"};
    json entry = {{"name", flag.name}, {"aliases", flag.aliases}, {"kind", kKindNames[static_cast<int>(flag.kind)]}};
    if (flag.unbound()) {
      entry["status"] = flag.any_value ? "ignored" : "refused";
      entry["reason"] = flag.unbound_reason;
      entry["accepted"] = flag.accepted;
    } else {
      entry["status"] = flag.positional ? "positional" : flag.pending_issue > 0 ? "pending" : "bound";
      entry["choices"] = flag.choices;
      if (flag.has_range()) entry["range"] = flag.range_text();
      if (!flag.secret) entry["default"] = flag.read(defaults);
    }
    out.push_back(std::move(entry));
  }
  return out;
}

namespace detail {

void convert(const std::vector<std::string>& values, bool& out) { out = *parse_bool(values.at(0)); }
void convert(const std::vector<std::string>& values, int& out) { out = static_cast<int>(*parse_integer(values.at(0))); }
void convert(const std::vector<std::string>& values, int64_t& out) { out = *parse_integer(values.at(0)); }
void convert(const std::vector<std::string>& values, uint32_t& out) {
  const long long value = *parse_integer(values.at(0));
  ZT_REQUIRE(value >= 0, "expected a count (0 or more), got " << value);
  out = static_cast<uint32_t>(value);
}
void convert(const std::vector<std::string>& values, uint64_t& out) {
  const long long value = *parse_integer(values.at(0));
  ZT_REQUIRE(value >= 0, "expected a count (0 or more), got " << value);
  out = static_cast<uint64_t>(value);
}
size_t enum_index(const std::vector<std::string>& names, const std::string& value) {
  const auto found = std::find(names.begin(), names.end(), value);
  ZT_CHECK(found != names.end(), "'" << value << "' is not a name of the enum (the table checks the choices first)");
  return static_cast<size_t>(found - names.begin());
}
void convert(const std::vector<std::string>& values, double& out) { out = *parse_float(values.at(0)); }
void convert(const std::vector<std::string>& values, std::string& out) { out = values.at(0); }
void convert(const std::vector<std::string>& values, std::vector<std::string>& out) { out = values; }

json to_json_value_null() { return nullptr; }
json to_json_value(bool value) { return value; }
json to_json_value(int value) { return value; }
json to_json_value(int64_t value) { return value; }
json to_json_value(uint32_t value) { return value; }
json to_json_value(uint64_t value) { return value; }
json to_json_value(double value) { return value; }
json to_json_value(const std::string& value) { return value; }
json to_json_value(const std::vector<std::string>& value) { return value; }

}  // namespace detail
}  // namespace zt::args
