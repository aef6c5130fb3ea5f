// Llama: `attention_bias` puts a bias on q, k, v and o; `mlp_bias` on the MLP (both off by default).
#include <nlohmann/json.hpp>

#include "model/family/family.h"

namespace zt::model {

const Family& llama_family() {
  static const Family family{"LlamaForCausalLM", "llama", [](const nlohmann::json& json, ModelConfig& config) {
                               config.qkv_bias = config.o_bias = json.value("attention_bias", false);
                               config.mlp_bias = json.value("mlp_bias", false);
                             },
                             attention_swiglu_layer,
                             {"llama", true, true, 0, 0, 2048}};
  return family;
}

}  // namespace zt::model
