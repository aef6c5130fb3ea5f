// Chat templates: a Conversation -> token ids and labels, the way ms-swift's templates encode it.
//
// A template is a few text pieces (prefix, system block, prompt around each query, separator after each
// reply, suffix after the last). Encoding lays the conversation out as (text, carries-loss) segments,
// joins neighbours with the same loss flag, tokenizes each joined segment, and labels it with its ids or
// -100. Labels are not shifted; the loss shifts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <memory>

#include "data/conversation.h"
#include "data/tokenizer.h"

namespace zt::data {

enum class LossScale { default_, last_round, all };
const std::vector<std::string>& enum_names(LossScale);  // --loss_scale's: default, last_round, all
LossScale parse_loss_scale(const std::string& name);

struct TemplateSpec {
  std::string name;                   // ms-swift's template type: qwen2_5, qwen3, llama, chatml, ...
  std::string prefix;                 // before everything when there is no system block
  std::string system_prefix;          // "{{SYSTEM}}" replaced; empty: system text goes into the prefix
  std::string prompt;                 // "{{QUERY}}" replaced; ends where the reply starts
  std::string last_prompt_with_system;  // set: the system text goes into the last query's prompt instead (mistral_nemo)
  std::string chat_sep;               // after every reply but the last
  std::string suffix;                 // after the last reply; "<eos>" means the tokenizer's eos id
  std::optional<std::string> default_system;
  std::vector<std::string> stop_words;  // generation stops on these (besides eos)
  bool auto_add_bos = false;  // the tokenizer's own special tokens around the text (chatml, default)
  // Thinking models (ms-swift's is_thinking): a reply generated after `thinking_prefix` (thinking on by default)
  // or `non_thinking_prefix`; qwen3 also writes the latter before every trained reply without a <think> block.
  bool is_thinking = false;
  std::string thinking_prefix;
  std::string non_thinking_prefix;
  // qwen3_5: ms-swift matches Qwen3.5's own template: the system, user and tool texts stripped, a reply stripped
  // and its think block written "<think>\n{reasoning}\n</think>\n\n{rest}".
  bool trims_texts = false;
};

// The template names ztune implements, for messages and --help.
const std::vector<std::string>& template_names();

// The built-in templates by ms-swift name; a zt::Error lists the known names. "jinja" names the model's own
// chat template (data/jinja_chat.h), rendered as transformers renders it; its spec holds only the name.
TemplateSpec template_by_name(const std::string& name);
inline constexpr const char* kJinjaTemplate = "jinja";
// The model's own Jinja chat template: tokenizer_config.json's "chat_template" (a string, or the "default"
// of a list), else chat_template.jinja (where transformers 5 writes it); "" when it has none. `source`,
// when given, receives the file it came from.
std::string model_chat_template(const std::string& model_dir, std::string* source);
// The template a model folder implies, chosen as ms-swift chooses it: the "template" of an args.json in the
// folder, then the folder's name against ms-swift's model registry (Qwen2.5-7B-Instruct -> qwen2_5), then
// the model's own chat template (its text: <|im_start|>, <think>, [INST], headers), else that template itself
// ("jinja": rendered by ztune's Jinja interpreter). `source` says which.
// `default_system`, when the chosen template has none and the model's chat template writes a fixed system
// prompt (SmolLM2's chatml), receives it. A folder with no chat template gets ms-swift's "default".
struct TemplateChoice {
  std::string name;
  std::string source;
  std::optional<std::string> default_system;
};
TemplateChoice choose_template(const std::string& model_dir);
std::string detect_template_name(const std::string& model_dir);  // choose_template(...).name

// The special tokens a folder's tokenizer_config.json names (bos_token, eos_token, unk_token, sep_token,
// pad_token, cls_token, mask_token: a string or {"content": ...}), as transformers passes them to a chat template.
std::vector<std::pair<std::string, std::string>> read_special_token_texts(const std::string& model_dir);

// Special token ids a model folder's tokenizer_config.json names.
struct SpecialTokens {
  std::optional<int32_t> eos_id;
  std::optional<int32_t> pad_id;
};
SpecialTokens read_special_tokens(const std::string& model_dir, const Tokenizer& tokenizer);

class JinjaChat;

struct EncodedSample {
  std::vector<int32_t> input_ids;
  std::vector<int32_t> labels;  // -100 where no loss
};

class ChatTemplate {
 public:
  // `system_override` is --system; `eos_id` resolves the "<eos>" suffix. auto_add_bos templates take the
  // tokens around a sequence from the tokenizer's post-processor.
  ChatTemplate(TemplateSpec spec, const Tokenizer& tokenizer, std::optional<std::string> system_override,
               std::optional<int32_t> eos_id);
  // The model's own Jinja template; replies end with its end-of-turn text (a stop word) and the eos token.
  ChatTemplate(std::shared_ptr<const JinjaChat> jinja, const Tokenizer& tokenizer,
               std::optional<std::string> system_override, std::optional<int32_t> eos_id);
  ~ChatTemplate();

  EncodedSample encode(const Conversation& conversation, LossScale loss_scale) const;
  // The prompt for generation: the conversation (ending with a user turn) plus the assistant header.
  std::vector<int32_t> encode_prompt(const Conversation& conversation) const;
  // Token ids that end a reply.
  std::vector<int32_t> stop_ids() const;
  // The stop tokens a printed reply leaves out, as ms-swift's skip_stop_tokens: the tokenizer's eos and the last
  // token of the template's end of turn (its suffix, stripped). Other special tokens, other stop tokens included,
  // are printed as their text.
  std::vector<int32_t> unprinted_stop_ids() const;
  const TemplateSpec& spec() const { return spec_; }

 private:
  struct Segment {
    std::string text;
    bool loss;
    std::vector<int32_t> tokens;  // token ids instead of text (the "<eos>" suffix, the auto-added bos)
  };
  std::vector<Segment> layout(const Conversation& conversation, LossScale loss_scale, bool for_generation) const;
  void tokenize(const std::vector<Segment>& segments, EncodedSample& out) const;
  void label_separators_like_suffix(EncodedSample& sample) const;

  TemplateSpec spec_;
  std::shared_ptr<const JinjaChat> jinja_;
  const Tokenizer& tokenizer_;
  std::optional<std::string> system_override_;
  std::optional<int32_t> eos_id_;
  std::vector<std::string> stop_texts_;  // a last reply ending with one of these gets no suffix
};

}  // namespace zt::data
