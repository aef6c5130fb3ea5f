// A model folder brought up the same way for `ztune sft` and `ztune infer`: its config.json, its
// tokenizer and the chat template that encodes conversations for it.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "data/chat_template.h"
#include "data/tokenizer.h"
#include "model/config.h"

namespace zt::train {

struct ModelFiles {
  model::ModelConfig config;
  std::unique_ptr<data::Tokenizer> tokenizer;
  std::unique_ptr<data::ChatTemplate> chat;  // encodes with *tokenizer
  std::string template_name;                 // the one chosen, for the log
};

// `template_name`: ms-swift's --template, else the one the folder's tokenizer_config.json implies;
// `system` replaces the template's default system prompt; `chat_template_kwargs` (a JSON object) goes to a
// Jinja template's variables.
ModelFiles open_model_files(const std::string& model_dir, const std::optional<std::string>& template_name,
                            const std::optional<std::string>& system, const std::string& chat_template_kwargs = "{}");

}  // namespace zt::train
