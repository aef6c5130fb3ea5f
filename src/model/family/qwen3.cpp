// Qwen3: no bias unless `attention_bias`; RMSNorm over head_dim on q and k before RoPE (q_norm, k_norm);
// head_dim given explicitly (read with the shared keys).
#include <nlohmann/json.hpp>

#include "model/family/family.h"

namespace zt::model {

const Family& qwen3_family() {
  static const Family family{"Qwen3ForCausalLM", [](const nlohmann::json& json, ModelConfig& config) {
                               config.qkv_bias = config.o_bias = json.value("attention_bias", false);
                               config.qk_norm = true;
                               read_qwen_sliding_window(json, config);
                             }};
  return family;
}

}  // namespace zt::model
