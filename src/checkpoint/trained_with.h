// What a checkpoint was trained with, read back from its args.json (ms-swift's --load_args): the base
// model, template, system prompt, dtype and max_length, so that infer and export need only --adapters.
#pragma once

#include <optional>
#include <string>

namespace zt::checkpoint {

struct TrainedWith {
  std::optional<std::string> model;      // the resolved folder (model_dir) when recorded, else --model
  std::optional<std::string> template_name, system, torch_dtype;
  std::string chat_template_kwargs;  // "" when none
  std::optional<int> max_length;
  bool use_hf = false;
};

// Empty fields when the folder has no args.json (e.g. an adapter made elsewhere); a malformed file is a
// zt::Error naming it.
TrainedWith read_trained_with(const std::string& checkpoint_dir);

}  // namespace zt::checkpoint
