// Hugging Face weight names of the decoder families ztune trains (all three share them) and their PEFT
// form: model.layers.N.self_attn.q_proj.weight, and base_model.model.<that> in an adapter.
#pragma once

#include <cstdint>
#include <string>

namespace zt::model {

inline constexpr const char* kPeftPrefix = "base_model.model.";

// "model.layers.N."
std::string layer_prefix(int64_t layer);
// A module of layer `layer`: "model.layers.N.<block>.<name>" ("model.layers.3.mlp.up_proj").
std::string module_path(int64_t layer, const std::string& block, const std::string& name);
// The decoder layer a weight belongs to (HF or PEFT name), -1 for anything outside the layers.
int64_t layer_of(const std::string& name);
bool is_peft_name(const std::string& name);
// "base_model.model.X" -> "X"; other names unchanged.
std::string without_peft_prefix(const std::string& name);

}  // namespace zt::model
