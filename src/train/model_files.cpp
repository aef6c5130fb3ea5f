#include "train/model_files.h"

namespace zt::train {

ModelFiles open_model_files(const std::string& model_dir, const std::optional<std::string>& template_name,
                            const std::optional<std::string>& system) {
  ModelFiles files;
  files.config = model::read_model_config(model_dir);
  files.tokenizer = std::make_unique<data::Tokenizer>(data::Tokenizer::load(model_dir));
  const data::SpecialTokens special = data::read_special_tokens(model_dir, *files.tokenizer);
  // Detected only when not given: an explicit --template works for folders whose template ztune cannot tell.
  files.template_name = template_name.has_value() ? *template_name : data::detect_template_name(model_dir);
  files.chat = std::make_unique<data::ChatTemplate>(data::template_by_name(files.template_name), *files.tokenizer,
                                                    system, special.eos_id, special.bos_id);
  return files;
}

}  // namespace zt::train
