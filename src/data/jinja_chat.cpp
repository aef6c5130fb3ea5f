#include "data/jinja_chat.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/json_file.h"
#include "data/chat_template.h"
#include "data/jinja/template.h"

namespace zt::data {
namespace {

using ordered_json = nlohmann::ordered_json;
using jinja::Value;

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Value message(const char* role, const std::string& content) {
  jinja::Dict dict;
  dict.items.emplace_back("role", Value(role));
  dict.items.emplace_back("content", Value(content));
  return Value::dict(std::move(dict));
}

// A tool_call message's content, {"name": ..., "arguments": ...}, as transformers' tool_calls entry.
Value tool_call(const std::string& content) {
  const ordered_json call = ordered_json::parse(content, nullptr, false);
  ZT_REQUIRE(call.is_object() && call.contains("name"),
             "a tool_call message is not the JSON of {\"name\": ..., \"arguments\": ...}: " << content.substr(0, 200));
  ordered_json function = ordered_json::object();
  function["name"] = call["name"];
  ordered_json arguments = call.value("arguments", ordered_json::object());
  if (arguments.is_string()) {  // JSON text of the arguments, as OpenAI writes them; templates expect the object
    ordered_json parsed = ordered_json::parse(arguments.get<std::string>(), nullptr, false);
    if (!parsed.is_discarded()) arguments = std::move(parsed);
  }
  function["arguments"] = std::move(arguments);
  ordered_json entry = ordered_json::object();
  entry["type"] = "function";
  entry["function"] = std::move(function);
  return Value::from_json(entry);
}

bool space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

}  // namespace

struct JinjaChat::Messages {
  std::vector<Value> values;
  std::vector<size_t> replies;                  // indices into values of the assistant's messages
  std::vector<std::optional<bool>> reply_loss;  // each reply's own "loss" flag
  Value tools = Value::none();
};

std::map<std::string, std::string> read_chat_templates(const std::string& model_dir,
                                                       std::map<std::string, std::string>* origins) {
  namespace fs = std::filesystem;
  std::map<std::string, std::string> templates;
  auto add = [&](const std::string& name, std::string text, const std::string& origin) {
    if (templates.count(name)) return;
    templates[name] = std::move(text);
    if (origins) (*origins)[name] = origin;
  };
  const fs::path config_path = fs::path(model_dir) / "tokenizer_config.json";
  const nlohmann::json config = read_json_file_or_empty(config_path.string());
  const nlohmann::json chat = config.value("chat_template", nlohmann::json());
  if (chat.is_string()) add("default", chat.get<std::string>(), config_path.string());
  if (chat.is_array())
    for (const nlohmann::json& entry : chat)
      if (entry.is_object() && entry.value("name", nlohmann::json()).is_string() &&
          entry.value("template", nlohmann::json()).is_string())
        add(entry["name"].get<std::string>(), entry["template"].get<std::string>(),
            config_path.string() + " (\"" + entry["name"].get<std::string>() + "\")");
  const fs::path jinja_file = fs::path(model_dir) / "chat_template.jinja";
  if (fs::exists(jinja_file)) add("default", read_text_file(jinja_file), jinja_file.string());
  const fs::path additional = fs::path(model_dir) / "additional_chat_templates";
  if (fs::is_directory(additional))
    for (const auto& entry : fs::directory_iterator(additional))
      if (entry.path().extension() == ".jinja")
        add(entry.path().stem().string(), read_text_file(entry.path()), entry.path().string());
  return templates;
}

JinjaChat::JinjaChat(JinjaChatConfig config) : config_(std::move(config)) {
  ZT_REQUIRE(!config_.templates.empty(), "no Jinja chat template was given");
  for (const auto& [name, text] : config_.templates) {
    const auto origin = config_.origins.find(name);
    templates_[name] = std::make_unique<jinja::Template>(text, origin == config_.origins.end() ? name : origin->second);
  }
  const ordered_json extra = ordered_json::parse(config_.extra_variables, nullptr, false);
  ZT_REQUIRE(extra.is_object(), "--chat_template_kwargs must be a JSON object, e.g. '{\"enable_thinking\": false}', not "
                                    << config_.extra_variables);
  extra_ = Value::from_json(extra).dict();
  // The end-of-turn text: what a reply adds after its own words in a one-turn probe.
  try {
    Conversation probe;
    probe.messages = {{Role::user, "ping", std::nullopt}, {Role::assistant, "pong", std::nullopt}};
    const std::string full = render(probe, false, std::nullopt);
    probe.messages.pop_back();
    const std::string prompt = render(probe, true, std::nullopt);
    if (full.compare(0, prompt.size(), prompt) == 0) {
      const size_t reply = full.find("pong", prompt.size());
      if (reply != std::string::npos) {
        std::string tail = full.substr(reply + 4);
        while (!tail.empty() && space(tail.back())) tail.pop_back();
        while (!tail.empty() && space(tail.front())) tail.erase(0, 1);
        end_of_turn_ = tail;
      }
    }
  } catch (const zt::Error&) {
    end_of_turn_.clear();  // a template that refuses the probe (it needs a system message, say) shows no end text
  }
}

JinjaChat::~JinjaChat() = default;

const jinja::Template& JinjaChat::main_template() const {
  const auto found = templates_.find("default");
  return *(found != templates_.end() ? found->second : templates_.begin()->second);
}

std::string JinjaChat::describe() const {
  const jinja::Template& main = main_template();
  std::string text = "Jinja chat template from " + main.origin();
  if (templates_.size() > 1) text += " (" + std::to_string(templates_.size()) + " named templates)";
  text += main.has_generation_blocks() ? "; replies labelled by its {% generation %} blocks"
                                       : "; replies labelled by rendering the conversation up to each reply";
  if (!end_of_turn_.empty()) text += "; turns end with \"" + end_of_turn_ + "\"";
  return text;
}

const jinja::Template& JinjaChat::pick(const Conversation& conversation) const {
  // As transformers: the "tool_use" template for conversations with tools when there is one, else "default".
  if (!conversation.tools.empty())
    if (auto found = templates_.find("tool_use"); found != templates_.end()) return *found->second;
  if (auto found = templates_.find("default"); found != templates_.end()) return *found->second;
  ZT_REQUIRE(templates_.size() == 1, "the model has several chat templates (" << templates_.begin()->first
                                         << ", ...) and none is named \"default\"");
  return *templates_.begin()->second;
}

std::string JinjaChat::render_messages(const jinja::Template& chosen, const Messages& messages, size_t count,
                                       bool add_generation_prompt, std::vector<std::pair<size_t, size_t>>* spans) const {
  jinja::Dict variables;
  variables.items.reserve(8 + config_.special_tokens.size() + extra_.items.size());
  variables.items.emplace_back("messages", Value::list(std::vector<Value>(messages.values.begin(),
                                                                          messages.values.begin() + static_cast<long>(count))));
  variables.items.emplace_back("tools", messages.tools);
  variables.items.emplace_back("documents", Value::none());
  variables.items.emplace_back("add_generation_prompt", Value::boolean(add_generation_prompt));
  for (const auto& [name, token] : config_.special_tokens) variables.items.emplace_back(name, Value(token));
  for (const auto& entry : extra_.items) variables.set(entry.first, entry.second);
  jinja::Rendered rendered = chosen.render(variables);
  if (spans) *spans = std::move(rendered.generation_spans);
  return std::move(rendered.text);
}

namespace {

// The row's messages as transformers' chats: tool calls join the assistant message before them (or make one).
void build_messages(const Conversation& conversation, const std::optional<std::string>& system_override,
                    std::vector<Value>& values, std::vector<size_t>& replies, std::vector<std::optional<bool>>& losses) {
  std::vector<jinja::Dict> dicts;
  const std::vector<Message>& source = conversation.messages;
  if (system_override.has_value() && (source.empty() || source[0].role != Role::system)) {
    dicts.push_back(message("system", *system_override).dict());
  }
  bool open_assistant = false;  // the last dict is an assistant message that tool calls may join
  for (const Message& item : source) {
    switch (item.role) {
      case Role::system:
        dicts.push_back(message("system", system_override.value_or(item.content)).dict());
        open_assistant = false;
        break;
      case Role::user:
        dicts.push_back(message("user", item.content).dict());
        open_assistant = false;
        break;
      case Role::assistant:
        dicts.push_back(message("assistant", item.content).dict());
        replies.push_back(dicts.size() - 1);
        losses.push_back(item.loss);
        open_assistant = true;
        break;
      case Role::tool_call: {
        if (!open_assistant) {
          dicts.push_back(message("assistant", "").dict());
          replies.push_back(dicts.size() - 1);
          losses.push_back(item.loss);
          open_assistant = true;
        }
        jinja::Dict& assistant = dicts.back();
        const Value* calls = assistant.find("tool_calls");
        std::vector<Value> list = calls ? calls->items() : std::vector<Value>{};
        list.push_back(tool_call(item.content));
        assistant.set("tool_calls", Value::list(std::move(list)));
        break;
      }
      case Role::tool_response:
      case Role::tool:
        dicts.push_back(message("tool", item.content).dict());
        open_assistant = false;
        break;
    }
  }
  values.reserve(dicts.size());
  for (jinja::Dict& dict : dicts) values.push_back(Value::dict(std::move(dict)));
}

// Where a byte offset of the text falls among the tokens: the token that starts there, or the one that
// straddles it.
struct TokenBoundary {
  size_t token = 0;
  bool straddles = false;
};

}  // namespace

JinjaChat::Messages JinjaChat::prepare(const Conversation& conversation,
                                       const std::optional<std::string>& system_override) const {
  Messages messages;
  build_messages(conversation, system_override, messages.values, messages.replies, messages.reply_loss);
  if (!conversation.tools.empty()) messages.tools = Value::from_json(ordered_json::parse(conversation.tools));
  return messages;
}

std::string JinjaChat::render(const Conversation& conversation, bool add_generation_prompt,
                              const std::optional<std::string>& system_override,
                              std::vector<std::pair<size_t, size_t>>* spans) const {
  const Messages messages = prepare(conversation, system_override);
  return render_messages(pick(conversation), messages, messages.values.size(), add_generation_prompt, spans);
}

namespace {

// Private-use characters around a reply's text, to find where the template put it: U+E000 k U+E001 before,
// U+E002 k U+E001 after.
const std::string kOpenMark = "\xEE\x80\x80", kCloseMark = "\xEE\x80\x82", kEndMark = "\xEE\x80\x81";

}  // namespace

std::vector<std::pair<size_t, size_t>> JinjaChat::marked_reply_spans(
    const jinja::Template& chosen, const Messages& messages, const std::string& full,
    const std::function<bool(size_t, size_t)>& reply_trained) const {
  const size_t num_replies = messages.replies.size();
  Messages marked = messages;
  for (size_t k = 0; k < num_replies; ++k) {
    const jinja::Dict& original = messages.values[messages.replies[k]].dict();
    const Value* content = original.find("content");
    if (content == nullptr || !content->is_string() || content->str().empty()) continue;
    jinja::Dict copy = original;
    const std::string number = std::to_string(k);
    copy.set("content", Value(kOpenMark + number + kEndMark + content->str() + kCloseMark + number + kEndMark));
    marked.values[messages.replies[k]] = Value::dict(std::move(copy));
  }
  const std::string with_marks = render_messages(chosen, marked, marked.values.size(), false, nullptr);
  // The text without the marks must be the conversation's own; where each reply's text ends in it.
  std::string plain;
  plain.reserve(full.size());
  std::vector<size_t> reply_end(num_replies, std::string::npos);
  for (size_t i = 0; i < with_marks.size();) {
    const bool open = with_marks.compare(i, 3, kOpenMark) == 0;
    const bool close = with_marks.compare(i, 3, kCloseMark) == 0;
    if (!open && !close) {
      plain += with_marks[i++];
      continue;
    }
    const size_t end_mark = with_marks.find(kEndMark, i + 3);
    if (end_mark == std::string::npos) break;
    const size_t k = std::strtoul(with_marks.c_str() + i + 3, nullptr, 10);
    if (close && k < num_replies) reply_end[k] = plain.size();
    i = end_mark + 3;
  }
  ZT_REQUIRE(plain == full, chosen.origin() << ": the template changes the reply text as it writes it, and writes earlier "
                                               "turns differently once later ones follow, so ztune cannot tell which "
                                               "tokens are the replies; give the template {% generation %} blocks "
                                               "around each reply, or pass --template with a named one");
  std::vector<std::pair<size_t, size_t>> spans;
  for (size_t k = 0; k < num_replies; ++k) {
    if (!reply_trained(k, num_replies)) continue;
    // From where the conversation rendered up to the reply stops matching (the generation prompt's end, or
    // the part of it the template writes) to the reply's end and the end-of-turn text after it.
    const std::string prompt = render_messages(chosen, messages, messages.replies[k], true, nullptr);
    size_t begin = 0;
    while (begin < prompt.size() && begin < full.size() && prompt[begin] == full[begin]) ++begin;
    size_t end = reply_end[k];
    const bool marked_end = end != std::string::npos;
    if (!marked_end && messages.values[messages.replies[k]].dict().find("tool_calls") != nullptr) {
      // A reply of tool calls only (no text to mark): as far as the conversation rendered through it agrees.
      const std::string through =
          render_messages(chosen, messages, messages.replies[k] + 1, false, nullptr);
      end = begin;
      while (end < through.size() && end < full.size() && through[end] == full[end]) ++end;
      while (end > begin && space(full[end - 1])) --end;
    }
    ZT_REQUIRE(end != std::string::npos && end >= begin,
               chosen.origin() << ": reply " << k + 1 << " is not where ztune looked for it (the template drops or "
                                                        "moves it); give the template {% generation %} blocks around "
                                                        "each reply, or pass --template with a named one");
    if (marked_end && !end_of_turn_.empty() && full.compare(end, end_of_turn_.size(), end_of_turn_) == 0) end += end_of_turn_.size();
    if (end > begin) spans.emplace_back(begin, end);
  }
  return spans;
}

EncodedSample JinjaChat::encode(const Conversation& conversation, LossScale loss_scale, const Tokenizer& tokenizer,
                                const std::optional<std::string>& system_override) const {
  const Messages messages = prepare(conversation, system_override);
  const jinja::Template& chosen = pick(conversation);
  std::vector<std::pair<size_t, size_t>> generation;
  const std::string full =
      render_messages(chosen, messages, messages.values.size(), false, &generation);

  EncodedSample sample;
  tokenizer.encode_into(full, sample.input_ids);
  const size_t n = sample.input_ids.size();
  if (loss_scale == LossScale::all) {
    sample.labels = sample.input_ids;
    if (!sample.labels.empty()) sample.labels[0] = -100;
    return sample;
  }

  struct Span {
    size_t begin, end;
  };
  std::vector<Span> trained;
  const size_t num_replies = messages.replies.size();
  const std::function<bool(size_t, size_t)> reply_trained = [&](size_t k, size_t count) {
    if (k < messages.reply_loss.size() && count == num_replies && messages.reply_loss[k].has_value())
      return *messages.reply_loss[k];
    return loss_scale != LossScale::last_round || k + 1 == count;
  };
  if (chosen.has_generation_blocks()) {
    for (size_t k = 0; k < generation.size(); ++k)
      if (reply_trained(k, generation.size()) && generation[k].second > generation[k].first)
        trained.push_back({generation[k].first, generation[k].second});
  } else {
    // As TRL splits prompt from completion: the text a reply adds to the conversation rendered up to it with the
    // generation prompt. Templates that rewrite earlier turns once later ones follow (Qwen3 and R1 drop old think
    // blocks, Phi-3 writes its eos only at the very end) get marked_reply_spans instead.
    bool prefix_stable = true;
    for (size_t k = 0; k < num_replies && prefix_stable; ++k) {
      if (!reply_trained(k, num_replies)) continue;
      const size_t index = messages.replies[k];
      const std::string prompt = render_messages(chosen, messages, index, true, nullptr);
      // The conversation through its last message is the whole conversation, already rendered.
      const std::string through =
          index + 1 == messages.values.size() ? full : render_messages(chosen, messages, index + 1, false, nullptr);
      if (through.compare(0, prompt.size(), prompt) != 0 || full.compare(0, through.size(), through) != 0) {
        prefix_stable = false;
        break;
      }
      size_t end = through.size();
      while (end > prompt.size() && space(through[end - 1])) --end;
      if (end > prompt.size()) trained.push_back({prompt.size(), end});
    }
    if (!prefix_stable) {
      trained.clear();
      for (const auto& [begin, end] : marked_reply_spans(chosen, messages, full, reply_trained))
        trained.push_back({begin, end});
    }
  }

  // Tokens of each span boundary: split the text there and tokenize the pieces; where that gives the same ids
  // as the whole text (the usual case: boundaries fall between pre-tokenizer pieces) the boundaries are exact.
  std::vector<size_t> cuts = {0, full.size()};
  for (const Span& span : trained) {
    cuts.push_back(span.begin);
    cuts.push_back(span.end);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  std::map<size_t, TokenBoundary> boundary;
  std::vector<int32_t> pieces;
  boundary[0] = {0, false};
  for (size_t i = 1; i < cuts.size(); ++i) {
    tokenizer.encode_into(std::string_view(full).substr(cuts[i - 1], cuts[i] - cuts[i - 1]), pieces);
    boundary[cuts[i]] = {pieces.size(), false};
  }
  if (pieces != sample.input_ids) {
    // Else each boundary from the tokens of the text before it, as transformers maps characters to tokens.
    std::vector<int32_t> before;
    for (size_t cut : cuts) {
      if (cut == 0 || cut == full.size()) continue;
      before.clear();
      tokenizer.encode_into(std::string_view(full).substr(0, cut), before);
      size_t common = 0;
      while (common < before.size() && common < n && before[common] == sample.input_ids[common]) ++common;
      boundary[cut] = {common, common < before.size()};
    }
    boundary[full.size()] = {n, false};
  }
  sample.labels.assign(n, -100);
  for (const Span& span : trained) {
    const TokenBoundary begin = boundary[span.begin];
    const TokenBoundary end = boundary[span.end];
    const size_t last = std::min(n, end.straddles ? end.token + 1 : end.token);
    for (size_t i = begin.token; i < last; ++i) sample.labels[i] = sample.input_ids[i];
  }
  if (!sample.labels.empty()) sample.labels[0] = -100;
  return sample;
}

std::vector<int32_t> JinjaChat::encode_prompt(const Conversation& conversation, const Tokenizer& tokenizer,
                                              const std::optional<std::string>& system_override) const {
  return tokenizer.encode(render(conversation, true, system_override));
}

}  // namespace zt::data
