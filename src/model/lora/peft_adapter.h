// PEFT LoRA adapters: adapter_config.json as PEFT writes it, and reading an adapter folder back.
#pragma once

#include <ATen/core/Tensor.h>

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

#include "model/lora/lora_config.h"

namespace zt::model {

nlohmann::json adapter_config_json(const LoraConfig& config);
// From adapter_config.json; a missing file or key is a zt::Error naming the file.
LoraConfig read_adapter_config(const std::string& adapter_dir);
// From a run's args.json (what `ztune sft` trained with).
LoraConfig adapter_config_from_args(const nlohmann::json& args, const std::string& base_model);

// adapter_model.safetensors of a folder, every tensor as an owned CPU tensor.
std::vector<std::pair<std::string, at::Tensor>> read_adapter_tensors(const std::string& adapter_dir);
// Writes adapter_model.safetensors and adapter_config.json into `dir` (created).
void write_adapter(const std::string& dir, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                   const LoraConfig& config);

}  // namespace zt::model
