#include "data/chat_template.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/check.h"

namespace zt::data {
namespace {

constexpr const char* kQwen25System = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
constexpr const char* kPlainSystem = "You are a helpful assistant.";
constexpr const char* kEos = "<eos>";

std::string replace_all(std::string text, const std::string& placeholder, const std::string& value) {
  size_t at = 0;
  while ((at = text.find(placeholder, at)) != std::string::npos) {
    text.replace(at, placeholder.size(), value);
    at += value.size();
  }
  return text;
}

bool user_side(Role role) { return role == Role::user || role == Role::tool_response || role == Role::tool; }

// Tool traffic is written into the turn text with Qwen's (hermes) tags.
std::string turn_text(const Message& message) {
  switch (message.role) {
    case Role::tool_call: return "<tool_call>\n" + message.content + "\n</tool_call>";
    case Role::tool_response:
    case Role::tool: return "<tool_response>\n" + message.content + "\n</tool_response>";
    default: return message.content;
  }
}

nlohmann::json read_json_if_present(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) return nlohmann::json::object();
  std::ifstream stream(path);
  try {
    return nlohmann::json::parse(stream);
  } catch (const nlohmann::json::exception& error) {
    ZT_THROW(path.string() << ": not valid JSON (" << error.what() << ")");
  }
}

}  // namespace

LossScale parse_loss_scale(const std::string& name) {
  if (name == "default") return LossScale::default_;
  if (name == "last_round") return LossScale::last_round;
  if (name == "all") return LossScale::all;
  ZT_THROW("--loss_scale '" << name << "' is not one of default, last_round, all");
}

TemplateSpec template_by_name(const std::string& name) {
  TemplateSpec spec;
  spec.name = name;
  if (name == "qwen2_5" || name == "qwen") {
    spec.system_prefix = "<|im_start|>system\n{{SYSTEM}}<|im_end|>\n";
    spec.prompt = "<|im_start|>user\n{{QUERY}}<|im_end|>\n<|im_start|>assistant\n";
    spec.chat_sep = "<|im_end|>\n";
    spec.suffix = "<|im_end|>\n";
    spec.default_system = name == "qwen2_5" ? kQwen25System : kPlainSystem;
    spec.stop_words = {"<|im_end|>", "<|endoftext|>"};
  } else if (name == "llama3") {
    spec.prefix = "<|begin_of_text|>";
    spec.system_prefix = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{{SYSTEM}}<|eot_id|>";
    spec.prompt = "<|start_header_id|>user<|end_header_id|>\n\n{{QUERY}}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
    spec.chat_sep = "<|eot_id|>";
    spec.suffix = "<|eot_id|>";
    spec.stop_words = {"<|eot_id|>", "<|end_of_text|>"};
  } else if (name == "default") {
    spec.system_prefix = "{{SYSTEM}}\n\n";
    spec.prompt = "### Human:\n{{QUERY}}\n\n### Assistant:\n";
    spec.chat_sep = "\n\n";
    spec.suffix = kEos;
    spec.default_system = kPlainSystem;
  } else {
    ZT_THROW("unknown --template '" << name << "'; ztune knows qwen2_5, qwen, llama3 and default");
  }
  return spec;
}

std::string model_chat_template(const std::string& model_dir, std::string* source) {
  namespace fs = std::filesystem;
  const fs::path config_path = fs::path(model_dir) / "tokenizer_config.json";
  nlohmann::json tokenizer_config = read_json_if_present(config_path);
  const nlohmann::json chat = tokenizer_config.value("chat_template", nlohmann::json());
  if (chat.is_string()) {
    if (source) *source = config_path.string();
    return chat.get<std::string>();
  }
  if (chat.is_array())  // [{"name": "default", "template": ...}, {"name": "tool_use", ...}]
    for (const nlohmann::json& entry : chat)
      if (entry.value("name", "") == "default" && entry.value("template", nlohmann::json()).is_string()) {
        if (source) *source = config_path.string() + " (\"default\")";
        return entry["template"].get<std::string>();
      }
  // transformers 5 writes the template to its own file.
  const fs::path jinja = fs::path(model_dir) / "chat_template.jinja";
  std::ifstream in(jinja, std::ios::binary);
  if (!in) return "";
  if (source) *source = jinja.string();
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string detect_template_name(const std::string& model_dir) {
  const std::string chat_template = model_chat_template(model_dir, nullptr);
  if (chat_template.find("You are Qwen, created by Alibaba Cloud") != std::string::npos) return "qwen2_5";
  if (chat_template.find("<|im_start|>") != std::string::npos) return "qwen";
  if (chat_template.find("<|start_header_id|>") != std::string::npos) return "llama3";
  if (chat_template.empty()) return "default";
  ZT_THROW(model_dir << ": the model's chat template is not one ztune recognises; pass --template "
                        "(qwen2_5, qwen, llama3 or default)");
}

SpecialTokens read_special_tokens(const std::string& model_dir, const Tokenizer& tokenizer) {
  nlohmann::json config = read_json_if_present(std::filesystem::path(model_dir) / "tokenizer_config.json");
  auto token_of = [&](const char* key) -> std::optional<int32_t> {
    if (!config.contains(key)) return std::nullopt;
    const nlohmann::json& value = config[key];
    std::string text = value.is_string() ? value.get<std::string>()
                       : value.is_object() && value.contains("content") ? value["content"].get<std::string>()
                                                                         : "";
    if (text.empty()) return std::nullopt;
    std::optional<int32_t> id = tokenizer.token_id(text);
    ZT_REQUIRE(id.has_value(), model_dir << "/tokenizer_config.json: " << key << " '" << text
                                         << "' is not a token of tokenizer.json");
    return id;
  };
  SpecialTokens tokens;
  tokens.eos_id = token_of("eos_token");
  tokens.pad_id = token_of("pad_token");
  if (config.value("add_bos_token", false)) tokens.bos_id = token_of("bos_token");
  return tokens;
}

ChatTemplate::ChatTemplate(TemplateSpec spec, const Tokenizer& tokenizer, std::optional<std::string> system_override,
                           std::optional<int32_t> eos_id, std::optional<int32_t> bos_id)
    : spec_(std::move(spec)),
      tokenizer_(tokenizer),
      system_override_(std::move(system_override)),
      eos_id_(eos_id),
      bos_id_(bos_id) {
  ZT_REQUIRE(spec_.suffix != kEos || eos_id_.has_value(),
             "template '" << spec_.name << "' ends replies with the eos token, but the tokenizer defines none");
}

std::vector<ChatTemplate::Segment> ChatTemplate::layout(const Conversation& conversation, LossScale loss_scale,
                                                        bool for_generation) const {
  const std::vector<Message>& messages = conversation.messages;
  size_t first = 0;
  std::optional<std::string> system = spec_.default_system;
  if (!messages.empty() && messages[0].role == Role::system) {
    system = messages[0].content;
    first = 1;
  }
  if (system_override_.has_value()) system = system_override_;

  // Turns: a query (user side, consecutive ones joined) and the reply after it (assistant side).
  struct Turn {
    std::string query;
    std::optional<std::string> reply;
    std::optional<bool> loss;
  };
  std::vector<Turn> turns;
  for (size_t i = first; i < messages.size(); ++i) {
    const Message& message = messages[i];
    std::string text = turn_text(message);
    if (user_side(message.role)) {
      if (!turns.empty() && !turns.back().reply.has_value()) turns.back().query += "\n" + text;
      else turns.push_back({text, std::nullopt, std::nullopt});
    } else {
      if (turns.empty()) turns.push_back({"", std::nullopt, std::nullopt});
      Turn& turn = turns.back();
      turn.reply = turn.reply.has_value() ? *turn.reply + "\n" + text : text;
      if (message.loss.has_value()) turn.loss = message.loss;
    }
  }

  std::vector<Segment> segments;
  const bool train_prompts = loss_scale == LossScale::all;
  if (system.has_value() && !spec_.system_prefix.empty())
    segments.push_back({replace_all(spec_.system_prefix, "{{SYSTEM}}", *system), train_prompts, std::nullopt});
  else if (!spec_.prefix.empty())
    segments.push_back({spec_.prefix, train_prompts, std::nullopt});

  for (size_t t = 0; t < turns.size(); ++t) {
    const Turn& turn = turns[t];
    const bool last = t + 1 == turns.size();
    segments.push_back({replace_all(spec_.prompt, "{{QUERY}}", turn.query), train_prompts, std::nullopt});
    if (!turn.reply.has_value() || (for_generation && last)) break;
    // The reply follows the base strategy unless the message says otherwise; the suffix after the last reply
    // counts as the assistant's. A separator after an earlier reply is trained only where it repeats the
    // suffix (ms-swift's "dynamic eos", applied after tokenizing).
    bool assistant_loss = loss_scale != LossScale::last_round || last;
    segments.push_back({*turn.reply, turn.loss.value_or(assistant_loss || train_prompts), std::nullopt});
    const std::string& closing = last ? spec_.suffix : spec_.chat_sep;
    bool closing_loss = last ? (assistant_loss || train_prompts) : train_prompts;
    if (closing == kEos) segments.push_back({"", closing_loss, eos_id_});
    else if (!closing.empty()) segments.push_back({closing, closing_loss, std::nullopt});
  }
  return segments;
}

void ChatTemplate::tokenize(const std::vector<Segment>& segments, EncodedSample& out) const {
  // Neighbouring text segments with the same loss flag are tokenized as one string, as ms-swift does.
  std::string pending;
  bool pending_loss = false;
  auto flush = [&] {
    if (pending.empty()) return;
    size_t before = out.input_ids.size();
    tokenizer_.encode_into(pending, out.input_ids);
    for (size_t i = before; i < out.input_ids.size(); ++i) out.labels.push_back(pending_loss ? out.input_ids[i] : -100);
    pending.clear();
  };
  for (const Segment& segment : segments) {
    if (segment.token.has_value()) {
      flush();
      out.input_ids.push_back(*segment.token);
      out.labels.push_back(segment.loss ? *segment.token : -100);
      continue;
    }
    if (!pending.empty() && segment.loss != pending_loss) flush();
    pending_loss = segment.loss;
    pending += segment.text;
  }
  flush();
  label_separators_like_suffix(out);
  // Base-model templates start with the tokenizer's bos token (ms-swift's auto_add_bos).
  if (spec_.name == "default" && bos_id_.has_value() && (out.input_ids.empty() || out.input_ids[0] != *bos_id_)) {
    out.input_ids.insert(out.input_ids.begin(), *bos_id_);
    out.labels.insert(out.labels.begin(), -100);
  }
  // The first token has nothing before it to predict it from.
  if (!out.labels.empty()) out.labels[0] = -100;
}

void ChatTemplate::label_separators_like_suffix(EncodedSample& sample) const {
  std::vector<int32_t> suffix;
  if (spec_.suffix == kEos) suffix.push_back(*eos_id_);
  else if (!spec_.suffix.empty()) tokenizer_.encode_into(spec_.suffix, suffix);
  if (suffix.empty()) return;
  std::vector<int32_t>& labels = sample.labels;
  const std::vector<int32_t>& ids = sample.input_ids;
  // Each unlabeled run that follows a labeled one and starts with the suffix tokens gets them labeled.
  size_t run_start = 0;
  for (size_t i = 1; i <= labels.size(); ++i) {
    if (labels[i - 1] >= 0 && i < labels.size() && labels[i] == -100) {
      run_start = i;
    } else if (run_start > 0 && labels[i - 1] == -100 && (i == labels.size() || labels[i] >= 0)) {
      if (i - run_start >= suffix.size() && std::equal(suffix.begin(), suffix.end(), ids.begin() + static_cast<long>(run_start)))
        std::copy(suffix.begin(), suffix.end(), labels.begin() + static_cast<long>(run_start));
    }
  }
}

EncodedSample ChatTemplate::encode(const Conversation& conversation, LossScale loss_scale) const {
  EncodedSample sample;
  tokenize(layout(conversation, loss_scale, false), sample);
  return sample;
}

std::vector<int32_t> ChatTemplate::encode_prompt(const Conversation& conversation) const {
  EncodedSample sample;
  tokenize(layout(conversation, LossScale::default_, true), sample);
  return sample.input_ids;
}

std::vector<int32_t> ChatTemplate::stop_ids() const {
  std::vector<int32_t> ids;
  if (eos_id_.has_value()) ids.push_back(*eos_id_);
  for (const std::string& word : spec_.stop_words)
    if (auto id = tokenizer_.token_id(word); id.has_value() && std::find(ids.begin(), ids.end(), *id) == ids.end())
      ids.push_back(*id);
  return ids;
}

}  // namespace zt::data
