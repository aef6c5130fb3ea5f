// Qwen3: no bias unless `attention_bias`; RMSNorm over head_dim on q and k before RoPE (q_norm, k_norm);
// head_dim given explicitly (read with the shared keys).
#include <nlohmann/json.hpp>

#include "model/family/family.h"

namespace zt::model {

const Family& qwen3_family() {
  static const Family family{"Qwen3ForCausalLM", "qwen3", [](const nlohmann::json& json, ModelConfig& config) {
                               config.qkv_bias = config.o_bias = json.value("attention_bias", false);
                               config.qk_norm = true;
                               read_qwen_sliding_window(json, config);
                             },
                             attention_swiglu_layer,
                             {"qwen3", false, false, 32, 128, 32768}};
  return family;
}

}  // namespace zt::model
