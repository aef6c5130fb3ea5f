// The canonical form every dataset row is converted to, and the reasons a row can be rejected.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace zt::data {

enum class Role : uint8_t { system, user, assistant, tool_call, tool_response, tool };
const char* role_name(Role role);

struct Message {
  Role role = Role::user;
  std::string content;
  std::optional<bool> loss;  // per-message override of the loss scale ("loss": true|false in the data)
};

struct Conversation {
  std::vector<Message> messages;  // system first if any; consecutive same-role messages merged
  std::string tools;              // the row's "tools" (a JSON list of function schemas) as JSON text; "" when none
};

// Why a row was skipped; counted per reason and reported at the end of each epoch.
enum class RowIssue : uint8_t {
  malformed_json,
  not_an_object,
  unknown_format,
  bad_role,
  null_content,
  non_string_content,
  empty_conversation,
  no_assistant_reply,
  not_utf8,
  line_too_long,
  over_max_length,  // dropped by --truncation_strategy delete
  template_error,   // the chat template refused or failed to render the row (a Jinja raise_exception, say)
  count_            // number of reasons
};
const char* row_issue_name(RowIssue issue);

}  // namespace zt::data
