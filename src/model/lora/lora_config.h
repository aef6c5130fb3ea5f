// The one LoRA configuration: what the decoder builds its adapters from and what a PEFT
// adapter_config.json holds (model/lora/peft_adapter.h reads and writes it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zt::model {

struct LoraConfig {
  int64_t rank = 8;                                          // r
  double alpha = 32;                                         // lora_alpha
  double dropout = 0.05;                                     // lora_dropout
  bool use_rslora = false;                                   // scaling alpha / sqrt(r) instead of alpha / r
  std::vector<std::string> target_modules = {"all-linear"};  // names (q_proj, ...) or "all-linear"
  std::vector<std::string> modules_to_save;                  // trained in full beside LoRA (PEFT's key)
  std::string bias = "none";
  std::string base_model;                                    // base_model_name_or_path
  double scaling() const;
};

// rank, alpha and dropout over every linear layer, the rest at its default.
LoraConfig lora_config(int64_t rank, double alpha, double dropout);

// Whether `module` (q_proj, ...) at `path` (model.layers.N.self_attn.q_proj) gets an adapter: target_modules
// holds all-linear, its name, or a regex matching the whole path (as PEFT reads a string). A bad regex is a
// zt::Error naming it.
bool is_lora_target(const LoraConfig& lora, const std::string& path, const std::string& module);

}  // namespace zt::model
