#include "train/model_files.h"

#include "core/check.h"
#include "core/log.h"
#include "data/jinja_chat.h"

namespace zt::train {

ModelFiles open_model_files(const std::string& model_dir, const std::optional<std::string>& template_name,
                            const std::optional<std::string>& system, const std::string& chat_template_kwargs) {
  ModelFiles files;
  files.config = model::read_model_config(model_dir);
  files.tokenizer = std::make_unique<data::Tokenizer>(data::Tokenizer::load(model_dir));
  const data::SpecialTokens special = data::read_special_tokens(model_dir, *files.tokenizer);
  ZT_LOG_INFO("tokenizer: " << files.tokenizer->describe());
  // Chosen only when not given: an explicit --template works for folders whose template ztune cannot tell.
  data::TemplateChoice choice;
  if (template_name.has_value()) choice = {*template_name, "--template", std::nullopt};
  else choice = data::choose_template(model_dir);
  files.template_name = choice.name;
  ZT_LOG_INFO("chat template " << choice.name << " (" << choice.source << ")");
  if (choice.name == data::kJinjaTemplate) {
    data::JinjaChatConfig config;
    config.templates = data::read_chat_templates(model_dir, &config.origins);
    ZT_REQUIRE(!config.templates.empty(),
               model_dir << " has no chat template (tokenizer_config.json \"chat_template\", chat_template.jinja) for "
                            "--template jinja; pass --template with a named one");
    config.special_tokens = data::read_special_token_texts(model_dir);
    config.extra_variables = chat_template_kwargs;
    auto jinja = std::make_shared<const data::JinjaChat>(std::move(config));
    ZT_LOG_INFO(jinja->describe());
    ZT_LOG_INFO("system prompt: " << (system.has_value() ? "\"" + *system + "\" (--system)" : std::string("the template's own")));
    files.chat = std::make_unique<data::ChatTemplate>(std::move(jinja), *files.tokenizer, system, special.eos_id);
    return files;
  }
  data::TemplateSpec spec = data::template_by_name(choice.name);
  if (!spec.default_system.has_value() && choice.default_system.has_value()) spec.default_system = choice.default_system;
  const std::optional<std::string> used_system = system.has_value() ? system : spec.default_system;
  ZT_LOG_INFO("system prompt: " << (used_system.has_value() ? "\"" + *used_system + "\"" : std::string("none"))
                                << (system.has_value()              ? " (--system)"
                                    : choice.default_system.has_value() ? " (the model's chat template)"
                                                                        : " (the template's default)"));
  files.chat = std::make_unique<data::ChatTemplate>(std::move(spec), *files.tokenizer, system, special.eos_id);
  return files;
}

}  // namespace zt::train
