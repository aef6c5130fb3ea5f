#include "data/chat_template.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/json_file.h"
#include "core/text.h"
#include "data/jinja_chat.h"

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

}  // namespace

const std::vector<std::string>& enum_names(LossScale) {
  static const std::vector<std::string> names = {"default", "last_round", "all"};
  return names;
}

LossScale parse_loss_scale(const std::string& name) {
  const std::vector<std::string>& names = enum_names(LossScale{});
  const auto found = std::find(names.begin(), names.end(), name);
  ZT_REQUIRE(found != names.end(), "--loss_scale '" << name << "' is not one of default, last_round, all");
  return static_cast<LossScale>(found - names.begin());
}

const std::vector<std::string>& template_names() {
  static const std::vector<std::string> names = {
      "qwen2_5",  "qwen",         "qwen2_5_math", "qwq",    "qwq_preview", "qwen3",    "qwen3_thinking", "qwen3_nothinking",
      "qwen3_coder", "qwen3_5", "chatml",    "llama",        "mistral_nemo", "mistral_2501", "llama3", "llama3_2", "deepseek_r1",
      "default", kJinjaTemplate};
  return names;
}

namespace {
std::string known_template_list() {
  std::string known;
  for (const std::string& name : template_names()) known += (known.empty() ? "" : ", ") + name;
  return known;
}
}  // namespace

TemplateSpec template_by_name(const std::string& name) {
  TemplateSpec spec;
  spec.name = name;
  // ms-swift's Qwen family: chatml pieces, "<|endoftext|>" as a stop word, a default system per template.
  static const std::vector<std::string> qwen_family = {"qwen2_5", "qwen", "qwen2_5_math", "qwq", "qwq_preview", "qwen3",
                                                       "qwen3_thinking", "qwen3_nothinking", "qwen3_coder", "qwen3_5"};
  const bool qwen = std::find(qwen_family.begin(), qwen_family.end(), name) != qwen_family.end();
  if (qwen || name == "chatml") {
    spec.system_prefix = "<|im_start|>system\n{{SYSTEM}}<|im_end|>\n";
    spec.prompt = "<|im_start|>user\n{{QUERY}}<|im_end|>\n<|im_start|>assistant\n";
    spec.chat_sep = "<|im_end|>\n";
    spec.suffix = "<|im_end|>\n";
    if (name == "qwen2_5") spec.default_system = kQwen25System;
    if (name == "qwen") spec.default_system = kPlainSystem;
    if (name == "qwen2_5_math") spec.default_system = "Please reason step by step, and put your final answer within \\boxed{}.";
    if (name == "qwq_preview")
      spec.default_system = "You are a helpful and harmless assistant. You are Qwen developed by Alibaba. You should "
                            "think step-by-step.";
    if (qwen) spec.stop_words = {"<|endoftext|>"};
    spec.auto_add_bos = name == "chatml";
    spec.is_thinking = name == "qwen3" || name == "qwen3_thinking" || name == "qwq" || name == "qwen3_5";
    if (name == "qwen3" || name == "qwen3_5") spec.non_thinking_prefix = "<think>\n\n</think>\n\n";
    if (name == "qwen3_thinking" || name == "qwq" || name == "qwen3_5") spec.thinking_prefix = "<think>\n";
    spec.trims_texts = name == "qwen3_5";
  } else if (name == "llama") {  // Llama-2, and Mistral v0.x in ms-swift's registry
    spec.prefix = "<s>[INST] ";
    spec.system_prefix = "<s>[INST] <<SYS>>\n{{SYSTEM}}\n<</SYS>>\n\n";
    spec.prompt = "{{QUERY}} [/INST]";
    spec.chat_sep = "</s><s>[INST] ";
    spec.suffix = "</s>";
    spec.default_system =
        "You are a helpful, respectful and honest assistant. Always answer as helpfully as possible, while being "
        "safe. Your answers should not include any harmful, unethical, racist, sexist, toxic, dangerous, or illegal "
        "content. Please ensure that your responses are socially unbiased and positive in nature.\n\nIf a question "
        "does not make any sense, or is not factually coherent, explain why instead of answering something not "
        "correct. If you don't know the answer to a question, please don't share false information.";
  } else if (name == "mistral_nemo") {
    // The system text opens the last query, not the conversation (ms-swift's "post system"). Without a system
    // ms-swift 4.6 leaves its placeholder in the text ("{{SYSTEM}}\n\n"); ztune writes the plain prompt, as the
    // model's own chat template and every inference server do (docs/TEMPLATES.md).
    spec.prefix = "<s>[INST] ";
    spec.prompt = "{{QUERY}}[/INST]";
    spec.last_prompt_with_system = "{{SYSTEM}}\n\n{{QUERY}}[/INST]";
    spec.chat_sep = "</s>[INST] ";
    spec.suffix = "</s>";
  } else if (name == "mistral_2501") {
    char date[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof(date), "%Y-%m-%d", std::localtime(&now));
    spec.prefix = "<s>";
    spec.system_prefix = "<s>[SYSTEM_PROMPT]{{SYSTEM}}[/SYSTEM_PROMPT]";
    spec.prompt = "[INST]{{QUERY}}[/INST]";
    spec.chat_sep = "</s>";
    spec.suffix = "</s>";
    spec.default_system = std::string(
        "You are Mistral Small 3, a Large Language Model (LLM) created by Mistral AI, a French startup headquartered "
        "in Paris.\nYour knowledge base was last updated on 2023-10-01. The current date is ") + date +
        ".\n\nWhen you're not sure about some information, you say that you don't have the information and don't make "
        "up anything.\nIf the user's question is not clear, ambiguous, or does not provide enough context for you to "
        "accurately answer the question, you do not try to answer it right away and you rather ask the user to clarify "
        "their request (e.g. \"What are some good restaurants around me?\" => \"Where are you?\" or \"When is the next "
        "flight to Tokyo\" => \"Where do you travel from?\")";
  } else if (name == "llama3" || name == "llama3_2") {
    spec.prefix = "<|begin_of_text|>";
    spec.system_prefix = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{{SYSTEM}}<|eot_id|>";
    if (name == "llama3_2") {  // ms-swift writes the day it runs into the system block
      char date[32];
      const std::time_t now = std::time(nullptr);
      std::strftime(date, sizeof(date), "%d %b %Y", std::localtime(&now));
      spec.system_prefix = std::string("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge "
                                       "Date: December 2023\nToday Date: ") + date + "\n\n{{SYSTEM}}<|eot_id|>";
      spec.prefix = replace_all(spec.system_prefix, "{{SYSTEM}}", "");
    }
    spec.prompt = "<|start_header_id|>user<|end_header_id|>\n\n{{QUERY}}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
    spec.chat_sep = "<|eot_id|>";
    spec.suffix = "<|eot_id|>";
    spec.stop_words = {"<|eot_id|>", "<|end_of_text|>"};
  } else if (name == "deepseek_r1") {
    spec.prefix = "<｜begin▁of▁sentence｜>";
    spec.system_prefix = spec.prefix + "{{SYSTEM}}";
    spec.prompt = "<｜User｜>{{QUERY}}<｜Assistant｜>";
    spec.chat_sep = "<｜end▁of▁sentence｜>";
    spec.suffix = spec.chat_sep;
    spec.is_thinking = true;
    spec.thinking_prefix = "<think>\n";
  } else if (name == kJinjaTemplate) {
    // Rendered from the model's own template (JinjaChat); nothing to lay out here.
  } else if (name == "default") {
    spec.system_prefix = "{{SYSTEM}}\n\n";
    spec.prompt = "### Human:\n{{QUERY}}\n\n### Assistant:\n";
    spec.chat_sep = "\n\n";
    spec.suffix = kEos;
    spec.default_system = kPlainSystem;
    spec.auto_add_bos = true;
  } else {
    ZT_THROW("unknown --template '" << name << "'; ztune knows " << known_template_list());
  }
  return spec;
}

std::string model_chat_template(const std::string& model_dir, std::string* source) {
  std::map<std::string, std::string> origins;
  const std::map<std::string, std::string> templates = read_chat_templates(model_dir, &origins);
  const auto found = templates.find("default");
  if (found == templates.end()) return "";
  if (source) *source = origins["default"];
  return found->second;
}

namespace {

// ms-swift's model name for a folder: the repository name inside a hub cache path, else the last component
// ("___" written for "." by ModelScope's cache).
std::string model_name_of(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  std::smatch match;
  static const std::regex hf_cache(R"(/models--(?:.+?--)?(.+?)/snapshots/)"), ms_cache(R"(/models/(?:.+?--)?(.+?)/snapshots/)");
  if (std::regex_search(path, match, hf_cache) || std::regex_search(path, match, ms_cache)) return match[1];
  std::string name = std::filesystem::path(path).filename().string();
  for (size_t at = 0; (at = name.find("___", at)) != std::string::npos;) name.replace(at, 3, ".");
  return name;
}

// The part of ms-swift 4.6's model registry (swift/model/models/*.py) for the families ztune trains: a model
// name (case-insensitive, whole name) -> template. Where ms-swift registers a family under a template ztune does
// not have (marco_o1, ...), the name maps to that template and choosing it is an error.
const std::vector<std::pair<std::regex, std::string>>& registry() {
  static const std::vector<std::pair<std::regex, std::string>> table = [] {
    const auto icase = std::regex::icase | std::regex::ECMAScript;
    std::vector<std::pair<std::regex, std::string>> rows;
    auto add = [&](const char* pattern, const char* name) { rows.emplace_back(std::regex(pattern, icase), name); };
    add(R"(qwen2\.5-math-.*)", "qwen2_5_math");
    add(R"(qwen2\.5-(7|14)b-instruct-1m)", "qwen");
    add(R"(qwen2\.5-(0\.5|1\.5|3|7|14|32|72)b(-instruct)?(-gptq-int[48]|-awq)?)", "qwen2_5");
    add(R"(qwen2\.5-coder-.*)", "qwen2_5");
    add(R"((code)?qwen1\.5-.*|qwen2-(0\.5|1\.5|7|57|72)b.*|qwen2-math-.*)", "qwen");
    add(R"(qwq-32b(-awq)?)", "qwq");
    add(R"(qwq-32b-preview)", "qwq_preview");
    add(R"(marco-o1)", "marco_o1");
    add(R"(qwen3-.*-thinking-2507(-fp8)?)", "qwen3_thinking");
    add(R"(qwen3-.*-instruct-2507(-fp8)?)", "qwen3_nothinking");
    add(R"(qwen3-coder-.*)", "qwen3_coder");
    add(R"(qwen3-(0\.6|1\.7|4|8|14|32)b(-base|-fp8|-awq)?|qwen3-(30b-a3b|235b-a22b)(-base)?(-fp8|-awq)?)", "qwen3");
    add(R"(qwen3\.5-.*|qwen3\.6-(35b-a3b|27b)(-fp8)?)", "qwen3_5");
    add(R"(qwen3\.8-27b(-fp8)?)", "qwen3_8");
    add(R"(deepseek-r1-distill-(qwen|llama)-.*|deepseek-r1-0528-qwen3-8b)", "deepseek_r1");
    add(R"(llama-2-(7|13|70)b(-chat)?(-hf|-ms))", "llama");
    add(R"(mistral-7b(-instruct)?-v0\.[123](-hf)?|codestral-22b-v0\.1|mixtral-8x(7|22)b.*)", "llama");
    add(R"(mistral-nemo-.*|mistral-small-instruct-2409|mistral-large-instruct-2407|ministral-8b-instruct-2410)",
        "mistral_nemo");
    add(R"(mistral-small-24b-(base|instruct)-2501)", "mistral_2501");
    add(R"(meta-llama-3-(8|70)b(-instruct)?)", "llama3");
    add(R"(meta-llama-3\.1-(8|70|405)b(-instruct)?.*|llama-3\.2-(1|3)b(-instruct)?|llama-3\.3-70b-instruct)", "llama3_2");
    return rows;
  }();
  return table;
}

// A fixed system prompt the model's chatml template writes when the conversation has none (SmolLM2's).
std::optional<std::string> jinja_default_system(const std::string& chat_template) {
  static const std::regex literal(R"('<\|im_start\|>system(?:\\n|\n)([^'{}]+)<\|im_end\|>(?:\\n|\n)')");
  std::smatch match;
  if (!std::regex_search(chat_template, match, literal)) return std::nullopt;
  std::string text = match[1];
  return replace_all(text, "\\n", "\n");
}

}  // namespace

TemplateChoice choose_template(const std::string& model_dir) {
  namespace fs = std::filesystem;
  TemplateChoice choice;
  // A checkpoint or a merged model written by ms-swift or ztune says what it was trained with.
  const nlohmann::json args = read_json_file_or_empty((fs::path(model_dir) / "args.json").string());
  if (args.value("template_backend", "") == std::string(kJinjaTemplate)) {
    choice.name = kJinjaTemplate;
    choice.source = (fs::path(model_dir) / "args.json").string() + " (template_backend jinja)";
    return choice;
  }
  if (args.contains("template") && args["template"].is_string() && !args["template"].get<std::string>().empty()) {
    choice.name = args["template"].get<std::string>();
    choice.source = (fs::path(model_dir) / "args.json").string();
  }
  const std::string model_name = model_name_of(model_dir);
  if (choice.name.empty())
    for (const auto& [pattern, name] : registry())
      if (std::regex_match(model_name, pattern)) {
        choice.name = name;
        choice.source = "ms-swift's registry entry for '" + model_name + "'";
        break;
      }
  if (choice.name.empty()) {  // ms-swift's registry by config.json's model_type, for the families it names so
    const nlohmann::json config = read_json_file_or_empty((fs::path(model_dir) / "config.json").string());
    const std::string model_type = config.is_object() ? config.value("model_type", "") : "";
    if (model_type == "qwen3_5" || model_type == "qwen3_5_moe" || model_type == "qwen3_5_text" ||
        model_type == "qwen3_5_moe_text") {
      choice.name = "qwen3_5";
      choice.source = "ms-swift's registry entry for model_type '" + model_type + "'";
    }
  }
  if (!choice.name.empty()) {
    const auto& names = template_names();
    ZT_REQUIRE(std::find(names.begin(), names.end(), choice.name) != names.end(),
               model_dir << ": ms-swift trains this model with the '" << choice.name << "' template (" << choice.source
                         << "), which ztune does not have yet; pass --template with one it has if the model's format "
                            "matches it");
    return choice;
  }
  std::string source;
  const std::string chat_template = model_chat_template(model_dir, &source);
  choice.source = "the chat template in " + source;
  if (chat_template.empty()) {
    choice.name = "default";
    choice.source = "no chat template in " + model_dir;
  } else if (chat_template.find("<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>") != std::string::npos) {
    choice.name = "deepseek_r1";
  } else if (chat_template.find("<|im_start|>") != std::string::npos) {
    if (chat_template.find("<think>") != std::string::npos || chat_template.find("enable_thinking") != std::string::npos)
      choice.name = chat_template.find("enable_thinking") != std::string::npos ? "qwen3" : "qwen3_thinking";
    else if (chat_template.find("You are Qwen, created by Alibaba Cloud") != std::string::npos)
      choice.name = "qwen2_5";
    else if (chat_template.find("'You are a helpful assistant.'") != std::string::npos ||
             chat_template.find("<|im_start|>system\\nYou are a helpful assistant.<|im_end|>") != std::string::npos)
      choice.name = "qwen";
    else {
      choice.name = "chatml";
      choice.default_system = jinja_default_system(chat_template);
    }
  } else if (chat_template.find("<|start_header_id|>") != std::string::npos) {
    choice.name = chat_template.find("Cutting Knowledge Date") != std::string::npos ? "llama3_2" : "llama3";
  } else if (chat_template.find("[INST]") != std::string::npos && chat_template.find("<<SYS>>") != std::string::npos) {
    choice.name = "llama";
  } else if (chat_template.find("[SYSTEM_PROMPT]") != std::string::npos) {
    choice.name = "mistral_2501";
  } else {
    // Neither ms-swift's registry nor a named template fits: the model's own template, as transformers renders it.
    choice.name = kJinjaTemplate;
    choice.source = "the model's own chat template in " + source + ", which no ms-swift template matches";
  }
  return choice;
}

std::string detect_template_name(const std::string& model_dir) { return choose_template(model_dir).name; }

ChatTemplate::ChatTemplate(std::shared_ptr<const JinjaChat> jinja, const Tokenizer& tokenizer,
                           std::optional<std::string> system_override, std::optional<int32_t> eos_id)
    : jinja_(std::move(jinja)), tokenizer_(tokenizer), system_override_(std::move(system_override)), eos_id_(eos_id) {
  spec_.name = kJinjaTemplate;
  if (!jinja_->end_of_turn().empty()) spec_.stop_words = {jinja_->end_of_turn()};
}

ChatTemplate::~ChatTemplate() = default;

std::vector<std::pair<std::string, std::string>> read_special_token_texts(const std::string& model_dir) {
  const nlohmann::json config =
      read_json_file_or_empty((std::filesystem::path(model_dir) / "tokenizer_config.json").string());
  std::vector<std::pair<std::string, std::string>> tokens;
  for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}) {
    const nlohmann::json value = config.value(key, nlohmann::json());
    const std::string text = value.is_string()                                               ? value.get<std::string>()
                             : value.is_object() && value.value("content", nlohmann::json()).is_string()
                                 ? value["content"].get<std::string>()
                                 : "";
    if (!text.empty()) tokens.emplace_back(key, text);
  }
  return tokens;
}

SpecialTokens read_special_tokens(const std::string& model_dir, const Tokenizer& tokenizer) {
  SpecialTokens tokens;
  for (const auto& [key, text] : read_special_token_texts(model_dir)) {
    if (key != "eos_token" && key != "pad_token") continue;
    const std::optional<int32_t> id = tokenizer.token_id(text);
    ZT_REQUIRE(id.has_value(), model_dir << "/tokenizer_config.json: " << key << " '" << text
                                         << "' is not a token of tokenizer.json");
    (key == "eos_token" ? tokens.eos_id : tokens.pad_id) = id;
  }
  return tokens;
}

ChatTemplate::ChatTemplate(TemplateSpec spec, const Tokenizer& tokenizer, std::optional<std::string> system_override,
                           std::optional<int32_t> eos_id)
    : spec_(std::move(spec)), tokenizer_(tokenizer), system_override_(std::move(system_override)), eos_id_(eos_id) {
  ZT_REQUIRE(spec_.suffix != kEos || eos_id_.has_value(),
             "template '" << spec_.name << "' ends replies with the eos token, but the tokenizer defines none");
  // ms-swift's stop words: the template's, its suffix (stripped) and the eos token. A last reply that already
  // ends with one gets no suffix.
  stop_texts_ = spec_.stop_words;
  std::string suffix = spec_.suffix == kEos ? "" : spec_.suffix;
  while (!suffix.empty() && std::isspace(static_cast<unsigned char>(suffix.back()))) suffix.pop_back();
  while (!suffix.empty() && std::isspace(static_cast<unsigned char>(suffix.front()))) suffix.erase(0, 1);
  if (!suffix.empty()) stop_texts_.push_back(suffix);
  if (eos_id_.has_value() && *eos_id_ < tokenizer_.size()) stop_texts_.push_back(tokenizer_.token_bytes(*eos_id_));
}

namespace {

// Python's str.strip().
std::string strip(const std::string& text) {
  size_t begin = 0, end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return text.substr(begin, end - begin);
}

// A message's text as ms-swift's qwen3_5 template prepares it (Qwen3_5Template._swift_prepare_inputs): user
// texts stripped; a reply stripped and, holding both think tags, rewritten "<think>\n{reasoning}\n</think>\n\n{rest}"
// (the reasoning after the last <think> before the first </think>, stripped; the rest without its leading
// newlines). Tool traffic takes ms-swift's qwen3_5 agent template, which ztune does not have.
std::string qwen3_5_text(const Message& message) {
  ZT_REQUIRE(message.role == Role::user || message.role == Role::assistant,
             "a " << role_name(message.role) << " message: the qwen3_5 template writes tool traffic with ms-swift's "
                                               "qwen3_5 agent template, which ztune does not have yet");
  const std::string stripped = strip(message.content);
  if (message.role == Role::user) return stripped;
  const size_t close = stripped.find("</think>");
  if (close == std::string::npos || stripped.find("<think>") == std::string::npos) return stripped;
  std::string before = stripped.substr(0, close), after = stripped.substr(close + 8);
  while (!before.empty() && before.back() == '\n') before.pop_back();
  const size_t open = before.rfind("<think>");
  std::string reasoning = open == std::string::npos ? before : before.substr(open + 7);
  while (!reasoning.empty() && reasoning.front() == '\n') reasoning.erase(0, 1);
  while (!after.empty() && after.front() == '\n') after.erase(0, 1);
  return "<think>\n" + strip(reasoning) + "\n</think>\n\n" + after;
}

}  // namespace

std::vector<ChatTemplate::Segment> ChatTemplate::layout(const Conversation& conversation, LossScale loss_scale,
                                                        bool for_generation) const {
  const std::vector<Message>& messages = conversation.messages;
  size_t first = 0;
  std::optional<std::string> system = spec_.default_system;
  if (!messages.empty() && messages[0].role == Role::system) {
    system = spec_.trims_texts ? strip(messages[0].content) : messages[0].content;
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
    std::string text = spec_.trims_texts ? qwen3_5_text(message) : turn_text(message);
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

  // Thinking models, as ms-swift 4.6 prepares them: qwen3 writes an empty think block before replies without
  // one (every reply, or only the last with last_round or at inference); replies before the last query lose
  // their think block unless thinking is preserved (training with a loss scale other than last_round).
  const bool training = !for_generation;
  const bool last_round = loss_scale == LossScale::last_round;
  const size_t last_query = turns.empty() ? 0 : turns.size() - 1;
  const bool thinking_on = spec_.is_thinking && spec_.non_thinking_prefix.empty();
  const bool preserve_thinking = !(spec_.is_thinking || thinking_on) || (training && !last_round);
  if (!spec_.non_thinking_prefix.empty())
    for (size_t t = (!training || last_round) ? last_query : 0; t < turns.size(); ++t)
      if (turns[t].reply.has_value() && turns[t].reply->compare(0, 7, "<think>") != 0)
        turns[t].reply = spec_.non_thinking_prefix + *turns[t].reply;
  if (!preserve_thinking)
    for (size_t t = 0; t < last_query; ++t)
      if (turns[t].reply.has_value()) {
        const size_t close = turns[t].reply->rfind("</think>");
        turns[t].reply = strip(close == std::string::npos ? *turns[t].reply : turns[t].reply->substr(close + 8));
      }

  std::vector<Segment> segments;
  const bool train_prompts = loss_scale == LossScale::all;
  // auto_add_bos: what the tokenizer's post-processor puts around a text (ms-swift encodes 'a' to find it); the
  // tokens after replace the last suffix.
  const std::vector<int32_t> bos = spec_.auto_add_bos ? tokenizer_.special_prefix() : std::vector<int32_t>{};
  const std::vector<int32_t> sep = spec_.auto_add_bos ? tokenizer_.special_suffix() : std::vector<int32_t>{};
  if (!bos.empty()) segments.push_back({"", train_prompts, bos});
  const bool post_system = !spec_.last_prompt_with_system.empty();
  if (system.has_value() && !system->empty() && !spec_.system_prefix.empty() && !post_system)
    segments.push_back({replace_all(spec_.system_prefix, "{{SYSTEM}}", *system), train_prompts, {}});
  else if (!spec_.prefix.empty())
    segments.push_back({spec_.prefix, train_prompts, {}});

  for (size_t t = 0; t < turns.size(); ++t) {
    const Turn& turn = turns[t];
    const bool last = t + 1 == turns.size();
    const bool system_here = post_system && last && system.has_value();  // "" too, as ms-swift and the model do
    const std::string prompt =
        system_here ? replace_all(spec_.last_prompt_with_system, "{{SYSTEM}}", *system) : spec_.prompt;
    segments.push_back({replace_all(prompt, "{{QUERY}}", turn.query), train_prompts, {}});
    if (for_generation && last) {
      // The reply starts after the template's response prefix (<think>\n for thinking models).
      const std::string& prefix = thinking_on ? spec_.thinking_prefix : spec_.non_thinking_prefix;
      if (!prefix.empty() && !turn.reply.has_value()) segments.back().text += prefix;
      break;
    }
    if (!turn.reply.has_value()) break;
    // The reply follows the base strategy unless the message says otherwise; the suffix after the last reply
    // counts as the assistant's. A separator after an earlier reply is trained only where it repeats the
    // suffix (ms-swift's "dynamic eos", applied after tokenizing).
    bool assistant_loss = loss_scale != LossScale::last_round || last;
    segments.push_back({*turn.reply, turn.loss.value_or(assistant_loss || train_prompts), {}});
    if (last) {
      const bool closing_loss = assistant_loss || train_prompts;
      if (!sep.empty()) {
        segments.push_back({"", closing_loss, sep});
        break;
      }
      bool stopped = false;
      for (const std::string& stop : stop_texts_) stopped = stopped || (!stop.empty() && ends_with(*turn.reply, stop));
      if (stopped) break;
      if (spec_.suffix == kEos) segments.push_back({"", closing_loss, {*eos_id_}});
      else if (!spec_.suffix.empty()) segments.push_back({spec_.suffix, closing_loss, {}});
    } else if (!spec_.chat_sep.empty()) {
      segments.push_back({spec_.chat_sep, train_prompts, {}});
    }
  }
  return segments;
}

void ChatTemplate::tokenize(const std::vector<Segment>& segments, EncodedSample& out) const {
  // Neighbouring text segments with the same loss flag are tokenized as one string, as ms-swift does; token ids
  // are copied and end a run.
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
    if (!segment.tokens.empty()) {
      flush();
      for (int32_t token : segment.tokens) {
        out.input_ids.push_back(token);
        out.labels.push_back(segment.loss ? token : -100);
      }
      continue;
    }
    if (!pending.empty() && segment.loss != pending_loss) flush();
    pending_loss = segment.loss;
    pending += segment.text;
  }
  flush();
  label_separators_like_suffix(out);
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
  if (jinja_) return jinja_->encode(conversation, loss_scale, tokenizer_, system_override_);
  EncodedSample sample;
  tokenize(layout(conversation, loss_scale, false), sample);
  return sample;
}

std::vector<int32_t> ChatTemplate::encode_prompt(const Conversation& conversation) const {
  if (jinja_) return jinja_->encode_prompt(conversation, tokenizer_, system_override_);
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

std::vector<int32_t> ChatTemplate::unprinted_stop_ids() const {
  std::vector<int32_t> ids;
  if (eos_id_.has_value()) ids.push_back(*eos_id_);
  const std::string suffix = strip(jinja_ ? jinja_->end_of_turn() : spec_.suffix);
  if (suffix.empty() || suffix == kEos) return ids;
  const std::vector<int32_t> tokens = tokenizer_.encode(suffix);
  if (!tokens.empty()) ids.push_back(tokens.back());
  return ids;
}

}  // namespace zt::data
