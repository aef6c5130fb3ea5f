// The one LoRA configuration: what the decoder builds its adapters from and what a PEFT
// adapter_config.json holds (model/lora/peft_adapter.h reads and writes it).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace zt::model {

struct LoraConfig {
  int64_t rank = 8;                                          // r
  double alpha = 32;                                         // lora_alpha
  double dropout = 0.05;                                     // lora_dropout
  bool use_rslora = false;                                   // scaling alpha / sqrt(r) instead of alpha / r
  std::vector<std::string> target_modules = {"all-linear"};  // names (q_proj, ...) or "all-linear"
  // Parameters adapted as parameters (PEFT's target_parameters): the stacked experts of a mixture of experts
  // ("gate_up_proj", "down_proj") or a router ("gate.weight"), matched as the end of the parameter's name.
  std::vector<std::string> target_parameters;
  // Per-parameter rank and alpha (PEFT's rank_pattern, alpha_pattern: a regex matched against the end of the
  // module or parameter path). PEFT gives fused gate+up experts twice the rank and alpha.
  std::map<std::string, int64_t> rank_pattern;
  std::map<std::string, double> alpha_pattern;  std::vector<std::string> modules_to_save;                  // trained in full beside LoRA (PEFT's key)
  std::string bias = "none";
  std::string base_model;                                    // base_model_name_or_path
  double scaling() const;
  // The rank and scaling of the adapter at `path` (model.layers.0.mlp.experts.gate_up_proj), as the patterns say.
  int64_t rank_at(const std::string& path) const;
  double scaling_at(const std::string& path) const;
};

// rank, alpha and dropout over every linear layer, the rest at its default.
LoraConfig lora_config(int64_t rank, double alpha, double dropout);

// Whether `module` (q_proj, ...) at `path` (model.layers.N.self_attn.q_proj) gets an adapter: target_modules
// holds all-linear, its name, or a regex matching the whole path (as PEFT reads a string). A bad regex is a
// zt::Error naming it.
bool is_lora_target(const LoraConfig& lora, const std::string& path, const std::string& module);
// Whether the parameter `key` (model.layers.0.mlp.experts.gate_up_proj, model.layers.0.mlp.gate.weight) is one of
// target_parameters: equal to one, or ending in "." and one (as PEFT matches them).
bool is_parameter_target(const LoraConfig& lora, const std::string& key);

}  // namespace zt::model
