// PEFT LoRA adapters: adapter_config.json as PEFT writes it, and reading an adapter folder back.
#pragma once

#include <ATen/core/Tensor.h>

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

#include "model/lora/lora_config.h"

namespace zt::model {

// adapter_config.json for `config`; `--target_modules all-linear` is written as the module names it resolved
// to (`all_linear`: model/family's all_linear_modules, or adapted_modules of the tensors), as PEFT records it.
nlohmann::json adapter_config_json(const LoraConfig& config, const std::vector<std::string>& all_linear);
// The module names ("q_proj") that carry LoRA matrices among PEFT tensors, in first-seen order.
std::vector<std::string> adapted_modules(const std::vector<std::pair<std::string, at::Tensor>>& tensors);
// From adapter_config.json; a missing file or key is a zt::Error naming the file.
LoraConfig read_adapter_config(const std::string& adapter_dir);
// From a run's args.json (what `ztune sft` trained with).
LoraConfig adapter_config_from_args(const nlohmann::json& args, const std::string& base_model);

// adapter_model.safetensors of a folder, every tensor as an owned CPU tensor.
std::vector<std::pair<std::string, at::Tensor>> read_adapter_tensors(const std::string& adapter_dir);
// Writes adapter_model.safetensors and adapter_config.json into `dir` (created); all-linear is written as the
// modules the tensors adapt.
void write_adapter(const std::string& dir, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                   const LoraConfig& config);

}  // namespace zt::model
