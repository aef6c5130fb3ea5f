#include "train/model_files.h"

#include "core/log.h"

namespace zt::train {

ModelFiles open_model_files(const std::string& model_dir, const std::optional<std::string>& template_name,
                            const std::optional<std::string>& system) {
  ModelFiles files;
  files.config = model::read_model_config(model_dir);
  files.tokenizer = std::make_unique<data::Tokenizer>(data::Tokenizer::load(model_dir));
  const data::SpecialTokens special = data::read_special_tokens(model_dir, *files.tokenizer);
  // Detected only when not given: an explicit --template works for folders whose template ztune cannot tell.
  files.template_name = template_name.has_value() ? *template_name : data::detect_template_name(model_dir);
  std::string source;
  const bool has_own = !data::model_chat_template(model_dir, &source).empty();
  ZT_LOG_INFO("chat template " << files.template_name << " ("
                               << (template_name.has_value() ? std::string("--template")
                                                             : has_own ? "recognised in " + source
                                                                       : std::string("the model has no chat template"))
                               << ")");
  data::TemplateSpec spec = data::template_by_name(files.template_name);
  const std::optional<std::string> used_system = system.has_value() ? system : spec.default_system;
  ZT_LOG_INFO("system prompt: " << (used_system.has_value() ? "\"" + *used_system + "\"" : std::string("none"))
                                << (system.has_value() ? " (--system)" : " (the template's default)"));
  files.chat = std::make_unique<data::ChatTemplate>(std::move(spec), *files.tokenizer, system, special.eos_id,
                                                    special.bos_id);
  return files;
}

}  // namespace zt::train
