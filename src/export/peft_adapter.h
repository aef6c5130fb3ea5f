// PEFT LoRA adapters: adapter_config.json as PEFT writes it, and reading an adapter folder back.
#pragma once

#include <ATen/core/Tensor.h>

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

namespace zt::exporting {

struct LoraAdapterConfig {
  int64_t rank = 8;
  double alpha = 32;
  double dropout = 0.05;
  bool use_rslora = false;
  std::vector<std::string> target_modules = {"all-linear"};  // "all-linear" is written as the module names
  std::vector<std::string> modules_to_save;
  std::string bias = "none";
  std::string base_model;  // base_model_name_or_path
  double scaling() const;
};

nlohmann::json adapter_config_json(const LoraAdapterConfig& config);
// From adapter_config.json; a missing file or key is a zt::Error naming the file.
LoraAdapterConfig read_adapter_config(const std::string& adapter_dir);
// From a run's args.json (what `ztune sft` trained with).
LoraAdapterConfig adapter_config_from_args(const nlohmann::json& args, const std::string& base_model);

// adapter_model.safetensors of a folder, every tensor as an owned CPU tensor.
std::vector<std::pair<std::string, at::Tensor>> read_adapter_tensors(const std::string& adapter_dir);
// Writes adapter_model.safetensors and adapter_config.json into `dir` (created).
void write_adapter(const std::string& dir, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                   const LoraAdapterConfig& config);

}  // namespace zt::exporting
