// Qwen3-MoE (Qwen3-30B-A3B, Qwen3-235B-A22B): Qwen3's attention (q/k norms, no bias) and routed SwiGLU experts
// without a shared expert. transformers converts this family's checkpoints (experts per expert on disk, stacked
// in memory), and PEFT then reads the expert projections' names as the stacked parameters (lora_config.h).
#include <nlohmann/json.hpp>

#include "model/family/family.h"

namespace zt::model {

const Family& qwen3_moe_family() {
  static const Family family{"Qwen3MoeForCausalLM",
                             "qwen3_moe",
                             [](const nlohmann::json& json, ModelConfig& config) {
                               config.qkv_bias = config.o_bias = json.value("attention_bias", false);
                               config.qk_norm = true;
                               read_qwen_sliding_window(json, config);
                               read_moe_config(json, config, {128, 8, 768, false, 0});
                             },
                             attention_moe_layer,
                             {"qwen3moe", false, false, 32, 128, 32768, true, true, false, false},
                             true};
  return family;
}

}  // namespace zt::model
