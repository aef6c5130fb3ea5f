// A model's own Jinja chat template applied as transformers' apply_chat_template applies it: the
// conversation becomes messages (tool calls as `tool_calls`, tool replies as role "tool"), the template
// renders them with the variables transformers passes (messages, tools, documents, add_generation_prompt,
// the special tokens, extra --chat_template_kwargs), and the whole text is tokenized at once without
// special tokens added.
//
// Labels mark the assistant's turns: the spans its {% generation %} blocks wrote where the template has
// them (transformers' return_assistant_tokens_mask, what TRL trains on), else the text each reply adds,
// found by rendering the conversation up to the reply with the generation prompt and up to and including
// it, as TRL splits prompts from completions (the whitespace after the end-of-turn text is not trained:
// the model stops before it). Templates that rewrite earlier turns once later ones follow (Qwen3 and R1 drop
// old think blocks, Phi-3 writes its eos only at the end) are rendered once with private-use marks around
// each reply's text: a reply runs from where the generation prompt stops matching to its text's end plus
// the end-of-turn text.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/conversation.h"
#include "data/jinja/value.h"
#include "data/tokenizer.h"

namespace zt::data {

namespace jinja {
class Template;
}

struct EncodedSample;
enum class LossScale;

// A folder's chat templates by name, as transformers 5 reads them: tokenizer_config.json's "chat_template"
// (a string is "default"; a list gives each entry's name), chat_template.jinja ("default") and
// additional_chat_templates/NAME.jinja. `origins` receives the file of each.
std::map<std::string, std::string> read_chat_templates(const std::string& model_dir,
                                                       std::map<std::string, std::string>* origins);

struct JinjaChatConfig {
  std::map<std::string, std::string> templates;  // by name: "default", "tool_use", ...
  std::map<std::string, std::string> origins;    // the file each came from, for messages
  std::vector<std::pair<std::string, std::string>> special_tokens;  // read_special_token_texts (chat_template.h)
  std::string extra_variables = "{}";  // a JSON object: --chat_template_kwargs, enable_thinking
};

class JinjaChat {
 public:
  explicit JinjaChat(JinjaChatConfig config);
  ~JinjaChat();

  // The text the template renders; `spans` receives what {% generation %} blocks wrote.
  std::string render(const Conversation& conversation, bool add_generation_prompt,
                     const std::optional<std::string>& system_override,
                     std::vector<std::pair<size_t, size_t>>* spans = nullptr) const;
  EncodedSample encode(const Conversation& conversation, LossScale loss_scale, const Tokenizer& tokenizer,
                       const std::optional<std::string>& system_override) const;
  std::vector<int32_t> encode_prompt(const Conversation& conversation, const Tokenizer& tokenizer,
                                     const std::optional<std::string>& system_override) const;
  // What the template writes after a reply ("<|im_end|>", "</s>", "<|eot_id|>"), whitespace stripped; "" when
  // a probe conversation does not show it.
  const std::string& end_of_turn() const { return end_of_turn_; }
  std::string describe() const;  // which template, from where, and how replies are labelled

 private:
  struct Messages;
  Messages prepare(const Conversation& conversation, const std::optional<std::string>& system_override) const;
  const jinja::Template& pick(const Conversation& conversation) const;
  const jinja::Template& main_template() const;  // "default", else the only one
  std::vector<std::pair<size_t, size_t>> marked_reply_spans(const jinja::Template& chosen, const Messages& messages,
                                                            const std::string& full,
                                                            const std::function<bool(size_t, size_t)>& reply_trained) const;
  std::string render_messages(const jinja::Template& chosen, const Messages& messages, size_t count,
                              bool add_generation_prompt, std::vector<std::pair<size_t, size_t>>* spans) const;

  JinjaChatConfig config_;
  std::map<std::string, std::unique_ptr<jinja::Template>> templates_;
  jinja::Dict extra_;  // the parsed extra variables
  std::string end_of_turn_;
};

}  // namespace zt::data
