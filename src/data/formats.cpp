#include "data/formats.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "data/utf8.h"

namespace zt::data {
namespace {

using nlohmann::json;

constexpr const char* kMessageColumns[] = {"messages", "conversation", "conversations"};
constexpr const char* kQueryColumns[] = {"query", "prompt", "input", "instruction", "question", "problem"};
constexpr const char* kResponseColumns[] = {"response", "answer", "output", "targets", "target", "answer_key",
                                            "answers", "solution", "text", "completion", "content"};
constexpr const char* kSystemColumns[] = {"system", "system_prompt"};

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

ConvertResult failure(RowIssue issue, std::string detail) {
  ConvertResult result;
  result.issue = issue;
  result.detail = std::move(detail);
  return result;
}

std::optional<Role> parse_role(const std::string& name) {
  std::string role = lower(name);
  if (role == "user" || role == "human") return Role::user;
  if (role == "assistant" || role == "gpt" || role == "bot") return Role::assistant;
  if (role == "system") return Role::system;
  if (role == "function_call" || role == "tool_call") return Role::tool_call;
  if (role == "function_response" || role == "observation" || role == "observations" || role == "tool_response")
    return Role::tool_response;
  if (role == "tool") return Role::tool;
  return std::nullopt;
}

// Lower-cased view of a row's columns (renames applied first), pointing into the row.
class Columns {
 public:
  Columns(const json& row, const FormatOptions& options) {
    for (auto& [key, value] : row.items()) {
      std::string name = key;
      for (const auto& [from, to] : options.column_renames)
        if (lower(from) == lower(key)) name = to;
      columns_.emplace_back(lower(name), &value);
    }
  }
  const json* get(const char* name) const {
    for (const auto& [key, value] : columns_)
      if (key == name) return value;
    return nullptr;
  }
  template <size_t N>
  const json* first(const char* const (&names)[N], const char** found_name = nullptr) const {
    for (const char* name : names)
      if (const json* value = get(name); value != nullptr && !value->is_null()) {
        if (found_name != nullptr) *found_name = name;
        return value;
      }
    return nullptr;
  }

 private:
  std::vector<std::pair<std::string, const json*>> columns_;
};

// Text of a content field; a list takes its first element (ms-swift's rule for response columns).
std::optional<RowIssue> read_text(const json& value, const std::string& where, std::string& out, std::string& detail) {
  const json* text = &value;
  if (text->is_array() && !text->empty()) text = &(*text)[0];
  if (text->is_null()) {
    detail = where + " is null";
    return RowIssue::null_content;
  }
  if (!text->is_string()) {
    detail = where + " is a " + std::string(text->type_name()) + ", not a string";
    return RowIssue::non_string_content;
  }
  out = text->get<std::string>();
  return std::nullopt;
}

std::optional<RowIssue> read_messages(const json& list, std::vector<Message>& out, std::string& detail) {
  if (!list.is_array()) {
    detail = "the conversation is a " + std::string(list.type_name()) + ", not a list";
    return RowIssue::unknown_format;
  }
  for (size_t i = 0; i < list.size(); ++i) {
    const json& item = list[i];
    const std::string where = "message " + std::to_string(i);
    if (!item.is_object()) {
      detail = where + " is not an object";
      return RowIssue::unknown_format;
    }
    const json* role = item.contains("role") ? &item["role"] : item.contains("from") ? &item["from"] : nullptr;
    if (role != nullptr) {
      const json* content =
          item.contains("content") ? &item["content"] : item.contains("value") ? &item["value"] : nullptr;
      if (!role->is_string() || !parse_role(role->get<std::string>())) {
        detail = where + " has role " + role->dump() + "; expected user, assistant, system, tool_call, tool_response or tool";
        return RowIssue::bad_role;
      }
      if (content == nullptr) {
        detail = where + " has no content";
        return RowIssue::null_content;
      }
      Message message;
      message.role = *parse_role(role->get<std::string>());
      if (auto issue = read_text(*content, where + " content", message.content, detail)) return issue;
      if (item.contains("loss") && item["loss"].is_boolean()) message.loss = item["loss"].get<bool>();
      out.push_back(std::move(message));
      continue;
    }
    // ms-swift's sharegpt variant: {"human": q, "assistant": a} per element.
    const json* query = item.contains("human") ? &item["human"] : item.contains("user") ? &item["user"] : nullptr;
    const json* reply = item.contains("assistant") ? &item["assistant"] : item.contains("gpt") ? &item["gpt"] : nullptr;
    if (query == nullptr && reply == nullptr) {
      detail = where + " has neither role/content nor human/assistant keys";
      return item.contains("content") || item.contains("value") ? RowIssue::bad_role : RowIssue::unknown_format;
    }
    if (query != nullptr) {
      Message message{Role::user, {}, std::nullopt};
      if (auto issue = read_text(*query, where + " human", message.content, detail)) return issue;
      out.push_back(std::move(message));
    }
    if (reply != nullptr) {
      Message message{Role::assistant, {}, std::nullopt};
      if (auto issue = read_text(*reply, where + " assistant", message.content, detail)) return issue;
      out.push_back(std::move(message));
    }
  }
  return std::nullopt;
}

// Merges consecutive messages of one role (their texts joined by a newline) and checks the shape.
ConvertResult finish(std::vector<Message> messages, const FormatOptions& options) {
  if (messages.empty()) return failure(RowIssue::empty_conversation, "the conversation has no messages");
  ConvertResult result;
  for (Message& message : messages) {
    std::vector<Message>& out = result.conversation.messages;
    if (!out.empty() && out.back().role == message.role && message.role != Role::tool_call &&
        message.role != Role::tool_response && message.role != Role::tool) {
      out.back().content += "\n" + message.content;
      if (message.loss.has_value()) out.back().loss = message.loss;
    } else {
      out.push_back(std::move(message));
    }
  }
  const auto& merged = result.conversation.messages;
  for (size_t i = 1; i < merged.size(); ++i)
    if (merged[i].role == Role::system)
      return failure(RowIssue::bad_role, "a system message may only come first (message " + std::to_string(i) + ")");
  size_t first_turn = merged[0].role == Role::system ? 1 : 0;
  if (first_turn == merged.size()) return failure(RowIssue::empty_conversation, "the conversation has only a system message");

  if (options.require_reply && merged.back().role != Role::assistant) {
    return failure(RowIssue::no_assistant_reply, std::string("the conversation ends with a ") +
                                                     role_name(merged.back().role) + " turn, not an assistant reply");
  }
  return result;
}

}  // namespace

const char* role_name(Role role) {
  switch (role) {
    case Role::system: return "system";
    case Role::user: return "user";
    case Role::assistant: return "assistant";
    case Role::tool_call: return "tool_call";
    case Role::tool_response: return "tool_response";
    case Role::tool: return "tool";
  }
  return "?";
}

const char* row_issue_name(RowIssue issue) {
  switch (issue) {
    case RowIssue::malformed_json: return "malformed JSON";
    case RowIssue::not_an_object: return "row is not a JSON object";
    case RowIssue::unknown_format: return "unrecognised format";
    case RowIssue::bad_role: return "unknown or misplaced role";
    case RowIssue::null_content: return "null or missing content";
    case RowIssue::non_string_content: return "content is not a string";
    case RowIssue::empty_conversation: return "empty conversation";
    case RowIssue::no_assistant_reply: return "no assistant reply";
    case RowIssue::not_utf8: return "not valid UTF-8";
    case RowIssue::line_too_long: return "line too long";
    case RowIssue::over_max_length: return "longer than max_length (truncation_strategy delete)";
    case RowIssue::template_error: return "the chat template refused the row";
    case RowIssue::count_: break;
  }
  return "?";
}

namespace {

ConvertResult convert_object(const json& row, const FormatOptions& options);

void replace_placeholder(std::string& text, const std::string& placeholder, const std::string& value) {
  for (size_t at = 0; (at = text.find(placeholder, at)) != std::string::npos; at += value.size())
    text.replace(at, placeholder.size(), value);
}

}  // namespace

ConvertResult convert_row(const json& row, const FormatOptions& options) {
  if (!row.is_object()) return failure(RowIssue::not_an_object, std::string("the row is a ") + row.type_name());
  ConvertResult result = convert_object(row, options);
  const SelfCognition& self = options.self_cognition;
  if (!result.ok() || (!self.name && !self.author)) return result;
  const json tag = row.value("tag", json());
  const bool chinese = tag.is_string() && tag.get<std::string>() == "zh";
  for (Message& message : result.conversation.messages) {
    if (self.name) replace_placeholder(message.content, "{{NAME}}", chinese ? self.name->first : self.name->second);
    if (self.author) replace_placeholder(message.content, "{{AUTHOR}}", chinese ? self.author->first : self.author->second);
  }
  return result;
}

namespace {

ConvertResult convert_object(const json& row, const FormatOptions& options) {
  Columns columns(row, options);
  std::vector<Message> messages;
  std::string detail;

  // ms-swift's agent rows carry the tool schemas as a list or as its JSON text; Jinja chat templates read them.
  // A bad tools column is reported only for a row that is otherwise good.
  std::string tools;
  const char* tools_problem = nullptr;
  if (const json* value = columns.get("tools"); value != nullptr && !value->is_null()) {
    if (value->is_string() && !value->get<std::string>().empty()) {
      // Parsed keeping key order: templates print schemas with tojson, as Python's json keeps them.
      const nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(value->get<std::string>(), nullptr, false);
      if (parsed.is_array()) tools = parsed.dump();
      else tools_problem = "the tools column is text that is not a JSON list of tool schemas";
    } else if (value->is_array()) {
      tools = value->dump();  // a list in the row: its objects' keys come back sorted
    } else {
      tools_problem = "the tools column is neither a list of tool schemas nor its JSON text";
    }
  }
  auto with_tools = [&](ConvertResult result) {
    if (!result.ok()) return result;
    if (tools_problem != nullptr) return failure(RowIssue::unknown_format, tools_problem);
    result.conversation.tools = std::move(tools);
    return result;
  };

  std::optional<std::string> system;
  if (const json* value = columns.first(kSystemColumns); value != nullptr) {
    std::string text;
    if (auto issue = read_text(*value, "system", text, detail)) return failure(*issue, detail);
    system = std::move(text);
  }

  if (const json* list = columns.first(kMessageColumns)) {
    if (system.has_value()) messages.push_back({Role::system, *system, std::nullopt});
    if (auto issue = read_messages(*list, messages, detail)) return failure(*issue, detail);
    // A system column and a system message: the message wins (it is the more specific).
    if (system.has_value() && messages.size() > 1 && messages[1].role == Role::system)
      messages.erase(messages.begin());
    return with_tools(finish(std::move(messages), options));
  }

  std::string query, response;
  bool has_response = false;
  const json* instruction = columns.get("instruction");
  if (instruction != nullptr && !instruction->is_null() && (columns.get("input") || columns.get("output"))) {
    std::string instruction_text, input_text;
    if (auto issue = read_text(*instruction, "instruction", instruction_text, detail)) return failure(*issue, detail);
    if (const json* input = columns.get("input"); input != nullptr && !input->is_null())
      if (auto issue = read_text(*input, "input", input_text, detail)) return failure(*issue, detail);
    query = instruction_text.empty() ? input_text
            : input_text.empty()     ? instruction_text
                                     : instruction_text + "\n" + input_text;
    if (const json* output = columns.get("output"); output != nullptr) {
      if (auto issue = read_text(*output, "output", response, detail)) return failure(*issue, detail);
      has_response = true;
    }
  } else {
    const char* query_name = nullptr;
    const json* query_value = columns.first(kQueryColumns, &query_name);
    if (query_value == nullptr) {
      return failure(RowIssue::unknown_format,
                     "no messages/conversation column, no instruction, and no query column (query, prompt, input, "
                     "instruction, question, problem)");
    }
    if (auto issue = read_text(*query_value, query_name, query, detail)) return failure(*issue, detail);
    const char* response_name = nullptr;
    if (const json* value = columns.first(kResponseColumns, &response_name)) {
      if (auto issue = read_text(*value, response_name, response, detail)) return failure(*issue, detail);
      has_response = true;
    }
  }

  if (system.has_value()) messages.push_back({Role::system, *system, std::nullopt});
  if (const json* history = columns.get("history"); history != nullptr && !history->is_null()) {
    if (!history->is_array()) return failure(RowIssue::unknown_format, "history is not a list of [query, response]");
    for (size_t i = 0; i < history->size(); ++i) {
      const json& pair = (*history)[i];
      if (!pair.is_array() || pair.size() != 2)
        return failure(RowIssue::unknown_format, "history entry " + std::to_string(i) + " is not [query, response]");
      Message user{Role::user, {}, std::nullopt}, reply{Role::assistant, {}, std::nullopt};
      if (auto issue = read_text(pair[0], "history query", user.content, detail)) return failure(*issue, detail);
      if (auto issue = read_text(pair[1], "history response", reply.content, detail)) return failure(*issue, detail);
      messages.push_back(std::move(user));
      messages.push_back(std::move(reply));
    }
  }
  messages.push_back({Role::user, query, std::nullopt});
  if (has_response) messages.push_back({Role::assistant, response, std::nullopt});
  return with_tools(finish(std::move(messages), options));
}

}  // namespace

ConvertResult convert_line(std::string_view line, const FormatOptions& options) {
  if (line.size() > options.max_line_bytes)
    return failure(RowIssue::line_too_long, "the line has " + std::to_string(line.size()) + " bytes");
  if (!is_valid_utf8(line))
    return failure(RowIssue::not_utf8, "invalid UTF-8 at byte " + std::to_string(valid_utf8_prefix(line)));
  json row;
  try {
    row = json::parse(line);
  } catch (const json::exception& error) {
    std::string message = error.what();
    return failure(RowIssue::malformed_json, message.substr(message.find(']') == std::string::npos ? 0 : message.find(']') + 2));
  }
  return convert_row(row, options);
}

std::vector<std::pair<std::string, std::string>> parse_column_renames(const std::string& json_text) {
  json map;
  try {
    map = json::parse(json_text);
  } catch (const json::exception& error) {
    ZT_THROW("--columns is not valid JSON (" << error.what() << "); write it as '{\"old\": \"new\"}'");
  }
  ZT_REQUIRE(map.is_object(), "--columns must be a JSON object mapping old column names to new ones");
  std::vector<std::pair<std::string, std::string>> renames;
  for (auto& [from, to] : map.items()) {
    ZT_REQUIRE(to.is_string(), "--columns: the new name for '" << from << "' is not a string");
    renames.emplace_back(from, to.get<std::string>());
  }
  return renames;
}

}  // namespace zt::data
