// The decoder families ztune trains, one file each under model/family/: the architecture name in
// config.json and the keys only that family has (biases, q/k norms). Adding a family is one new file
// here, its entry in family.cpp, and its chat template in data/chat_template.cpp.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

#include "model/config.h"

namespace zt::model {

struct Family {
  std::string architecture;  // config.json "architectures"[0], e.g. "Qwen2ForCausalLM"
  // Sets the family's own fields of `config` from config.json (the shared keys are read already).
  void (*read_config)(const nlohmann::json& json, ModelConfig& config);
};

const Family& qwen2_family();
const Family& llama_family();
const Family& mistral_family();
const Family& qwen3_family();

// Qwen2/Qwen3's `use_sliding_window`: `sliding_window` keys in the layers from `max_window_layers` on (as
// transformers' layer_types).
void read_qwen_sliding_window(const nlohmann::json& json, ModelConfig& config);

// Every supported family, and the one for an architecture name (a zt::Error naming `path` and the
// supported architectures when there is none).
const std::vector<const Family*>& families();
const Family& family_of(const std::string& architecture, const std::string& path);

}  // namespace zt::model
