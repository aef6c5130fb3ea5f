// Row formats (REFERENCE.md section 2): detection, conversion, validation.
#include <gtest/gtest.h>

#include "core/check.h"
#include "data/formats.h"

namespace {

using namespace zt::data;

Conversation ok(const std::string& line, FormatOptions options = {}) {
  ConvertResult result = convert_line(line, options);
  EXPECT_TRUE(result.ok()) << line << " -> " << (result.issue ? row_issue_name(*result.issue) : "") << ": "
                           << result.detail;
  return result.conversation;
}

RowIssue issue_of(const std::string& line, FormatOptions options = {}) {
  ConvertResult result = convert_line(line, options);
  EXPECT_FALSE(result.ok()) << line << " was accepted";
  return result.issue.value_or(RowIssue::count_);
}

std::string render(const Conversation& conversation) {
  std::string out;
  for (const Message& message : conversation.messages) out += std::string(role_name(message.role)) + ":" + message.content + "|";
  return out;
}

TEST(Formats, MessagesWithRoleContent) {
  Conversation c = ok(R"({"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"},
                                       {"role": "assistant", "content": "A"}]})");
  EXPECT_EQ(render(c), "system:S|user:Q|assistant:A|");
}

TEST(Formats, ShareGptFromValueAndRoleAliases) {
  Conversation c = ok(R"({"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"},
                                            {"from": "user", "value": "Q2"}, {"from": "bot", "value": "A2"}]})");
  EXPECT_EQ(render(c), "user:Q|assistant:A|user:Q2|assistant:A2|");
}

TEST(Formats, MsSwiftShareGptVariantWithSystemColumn) {
  Conversation c = ok(R"({"system": "S", "conversation": [{"human": "q1", "assistant": "a1"},
                                                          {"human": "q2", "assistant": "a2"}]})");
  EXPECT_EQ(render(c), "system:S|user:q1|assistant:a1|user:q2|assistant:a2|");
  Conversation prompt = ok(R"({"system_prompt": "P", "conversation": [{"human": "q", "assistant": "a"}]})");
  EXPECT_EQ(render(prompt), "system:P|user:q|assistant:a|");
}

TEST(Formats, AlpacaJoinsInstructionAndInput) {
  EXPECT_EQ(render(ok(R"({"instruction": "Translate", "input": "cat", "output": "猫"})")),
            "user:Translate\ncat|assistant:猫|");
  EXPECT_EQ(render(ok(R"({"instruction": "Say hi", "input": "", "output": "hi"})")), "user:Say hi|assistant:hi|");
}

TEST(Formats, QueryResponseWithHistoryAndCaseInsensitiveColumns) {
  Conversation c = ok(R"({"Query": "q3", "RESPONSE": "r3", "history": [["q1", "r1"], ["q2", "r2"]], "system": "S"})");
  EXPECT_EQ(render(c), "system:S|user:q1|assistant:r1|user:q2|assistant:r2|user:q3|assistant:r3|");
  EXPECT_EQ(render(ok(R"({"question": "q", "answer": ["first", "second"]})")), "user:q|assistant:first|");
  EXPECT_EQ(render(ok(R"({"prompt": "q", "completion": "c"})")), "user:q|assistant:c|");
}

TEST(Formats, ColumnRenamesApplyFirst) {
  FormatOptions options;
  options.column_renames = parse_column_renames(R"({"ask": "query", "reply": "response"})");
  EXPECT_EQ(render(ok(R"({"ask": "q", "reply": "r"})", options)), "user:q|assistant:r|");
  EXPECT_THROW(parse_column_renames("[1]"), zt::Error);
  EXPECT_THROW(parse_column_renames("{bad"), zt::Error);
}

TEST(Formats, ToolRolesAndConsecutiveMerge) {
  Conversation c = ok(R"({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
      {"role": "function_call", "content": "{}"}, {"role": "observation", "content": "42"},
      {"role": "assistant", "content": "x"}, {"role": "assistant", "content": "y"}]})");
  EXPECT_EQ(render(c), "user:a\nb|tool_call:{}|tool_response:42|assistant:x\ny|");
}

// Agent rows' tool schemas reach Jinja chat templates: JSON text keeps its key order, a list is kept, anything
// else classifies the row (issue 29).
TEST(Formats, ToolsColumnIsKept) {
  const std::string messages = R"("messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}])";
  EXPECT_EQ(ok("{" + messages + R"(, "tools": "[{\"name\": \"f\", \"description\": \"d\"}]"})").tools,
            R"([{"name":"f","description":"d"}])");
  EXPECT_EQ(ok("{" + messages + R"(, "tools": [{"type": "function"}]})").tools, R"([{"type":"function"}])");
  EXPECT_EQ(ok("{" + messages + "}").tools, "");
  EXPECT_EQ(issue_of("{" + messages + R"(, "tools": "not json"})"), RowIssue::unknown_format);
  EXPECT_EQ(issue_of("{" + messages + R"(, "tools": 3})"), RowIssue::unknown_format);
}

TEST(Formats, PerMessageLossIsKept) {
  Conversation c = ok(R"({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "loss": false},
                                       {"role": "user", "content": "q2"}, {"role": "assistant", "content": "b", "loss": true}]})");
  ASSERT_EQ(c.messages.size(), 4u);
  EXPECT_EQ(c.messages[1].loss, false);
  EXPECT_EQ(c.messages[3].loss, true);
  EXPECT_FALSE(c.messages[0].loss.has_value());
}

TEST(Formats, BadRowsAreClassified) {
  EXPECT_EQ(issue_of(R"({"messages": [)"), RowIssue::malformed_json);
  EXPECT_EQ(issue_of(R"([1, 2])"), RowIssue::not_an_object);
  EXPECT_EQ(issue_of(R"({"foo": "bar"})"), RowIssue::unknown_format);
  EXPECT_EQ(issue_of(R"({"messages": [{"role": "wizard", "content": "x"}, {"role": "assistant", "content": "y"}]})"),
            RowIssue::bad_role);
  EXPECT_EQ(issue_of(R"({"messages": [{"role": "user", "content": null}, {"role": "assistant", "content": "y"}]})"),
            RowIssue::null_content);
  EXPECT_EQ(issue_of(R"({"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "y"}]})"),
            RowIssue::non_string_content);
  EXPECT_EQ(issue_of(R"({"messages": []})"), RowIssue::empty_conversation);
  EXPECT_EQ(issue_of(R"({"messages": [{"role": "user", "content": "only a question"}]})"), RowIssue::no_assistant_reply);
  EXPECT_EQ(issue_of(std::string("{\"query\": \"\xff\", \"response\": \"r\"}")), RowIssue::not_utf8);
  FormatOptions tiny;
  tiny.max_line_bytes = 10;
  EXPECT_EQ(issue_of(R"({"query": "long enough", "response": "r"})", tiny), RowIssue::line_too_long);
  EXPECT_EQ(issue_of(R"({"messages": [{"role": "user", "content": "q"}, {"role": "system", "content": "late"},
                                      {"role": "assistant", "content": "a"}]})"),
            RowIssue::bad_role);
}

TEST(Formats, InferenceRowsNeedNoReply) {
  FormatOptions options;
  options.require_reply = false;
  EXPECT_EQ(render(ok(R"({"messages": [{"role": "user", "content": "q"}]})", options)), "user:q|");
  EXPECT_EQ(render(ok(R"({"query": "q"})", options)), "user:q|");
}

// ms-swift's self-cognition rows: {{NAME}} and {{AUTHOR}} replaced by --model_name/--model_author, the
// Chinese value for rows tagged "zh"; rows without the placeholders are untouched.
TEST(Formats, SelfCognitionPlaceholders) {
  FormatOptions options;
  options.self_cognition.name = std::make_pair(std::string("小黄"), std::string("Xiao Huang"));
  options.self_cognition.author = std::make_pair(std::string("魔搭"), std::string("ModelScope"));
  EXPECT_EQ(render(ok(R"({"query": "你是谁", "response": "我是{{NAME}}，由{{AUTHOR}}训练。", "tag": "zh"})", options)),
            "user:你是谁|assistant:我是小黄，由魔搭训练。|");
  EXPECT_EQ(render(ok(R"({"query": "who are you?", "response": "I am {{NAME}} by {{AUTHOR}}; {{NAME}}.", "tag": "en"})",
                      options)),
            "user:who are you?|assistant:I am Xiao Huang by ModelScope; Xiao Huang.|");
  EXPECT_EQ(render(ok(R"({"query": "q {{NAME}}", "response": "r"})")), "user:q {{NAME}}|assistant:r|");
}

}  // namespace
