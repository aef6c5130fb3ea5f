// Qwen2 / Qwen2.5: q, k and v projections always carry a bias; o_proj and the MLP never do.
#include <nlohmann/json.hpp>

#include "model/family/family.h"

namespace zt::model {

const Family& qwen2_family() {
  static const Family family{"Qwen2ForCausalLM", "qwen2", [](const nlohmann::json& json, ModelConfig& config) {
                               config.qkv_bias = true;
                               read_qwen_sliding_window(json, config);
                             },
                             attention_swiglu_layer,
                             {"qwen2", false, true, 32, -1, 32768}};
  return family;
}

}  // namespace zt::model
