// Dataset row formats (ms-swift's AutoPreprocessor): detection and conversion to a Conversation.
//
//   messages:  {"messages"|"conversation"|"conversations": [{"role"|"from": .., "content"|"value": ..}, ..]}
//   sharegpt:  {"system": .., "conversation": [{"human": q1, "assistant": a1}, {"human": q2, ..}]}
//   alpaca:    {"instruction": .., "input": .., "output": ..}
//   query/response: {"query"|"prompt"|..: q, "response"|"answer"|..: r, "history": [[q, r], ..], "system": ..}
// Column names match case-insensitively; --columns renames are applied first.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "data/conversation.h"

namespace zt::data {

// ms-swift's self-cognition convention (--model_name, --model_author): "{{NAME}}" and "{{AUTHOR}}" in a row's
// texts become the model's name and author, the first of each pair for rows tagged "zh", the second otherwise.
struct SelfCognition {
  std::optional<std::pair<std::string, std::string>> name;    // zh, en
  std::optional<std::pair<std::string, std::string>> author;  // zh, en
};

struct FormatOptions {
  std::vector<std::pair<std::string, std::string>> column_renames;  // --columns, old -> new
  SelfCognition self_cognition;
  bool require_reply = true;   // training needs a final assistant turn; inference prompts do not
  size_t max_line_bytes = 64u << 20;
};

struct ConvertResult {
  Conversation conversation;  // valid when ok()
  std::optional<RowIssue> issue;
  std::string detail;  // what exactly is wrong, for the first few reports
  bool ok() const { return !issue.has_value(); }
};

// Parses one line of a .jsonl file and converts it.
ConvertResult convert_line(std::string_view line, const FormatOptions& options);
// Converts an already parsed row (from .json arrays and .csv files).
ConvertResult convert_row(const nlohmann::json& row, const FormatOptions& options);

// Reads --columns ('{"old": "new", ...}'); a zt::Error names the problem.
std::vector<std::pair<std::string, std::string>> parse_column_renames(const std::string& json_text);

}  // namespace zt::data
