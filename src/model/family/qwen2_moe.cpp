// Qwen2-MoE (Qwen1.5-MoE-A2.7B, Qwen2-57B-A14B): Qwen2's attention (bias on q, k and v as qkv_bias says) and
// routed SwiGLU experts beside a shared expert scaled by sigmoid(shared_expert_gate(x)).
#include <nlohmann/json.hpp>

#include "model/family/family.h"

namespace zt::model {

const Family& qwen2_moe_family() {
  static const Family family{"Qwen2MoeForCausalLM",
                             "qwen2_moe",
                             [](const nlohmann::json& json, ModelConfig& config) {
                               config.qkv_bias = json.value("qkv_bias", true);
                               read_qwen_sliding_window(json, config);
                               read_moe_config(json, config, {60, 4, 1408, true, 5632});
                             },
                             attention_moe_layer,
                             {"qwen2moe", false, false, 32, -1, 32768, true, false, true, true},
                             false};
  return family;
}

}  // namespace zt::model
