// Mistral (v0.1-v0.3, Mistral-Nemo): Llama's layout without biases, an explicit head_dim where set, and
// sliding-window attention in every layer when `sliding_window` is set (v0.1: 4096; null from v0.2 on).
#include <nlohmann/json.hpp>

#include "model/family/family.h"

namespace zt::model {

const Family& mistral_family() {
  static const Family family{"MistralForCausalLM", "mistral", [](const nlohmann::json& json, ModelConfig& config) {
                               const nlohmann::json window = json.value("sliding_window", nlohmann::json());
                               if (window.is_number_integer()) config.sliding_window = window.get<int64_t>();
                             },
                             attention_swiglu_layer,
                             {"llama", true, false, 8, 0, 131072}};
  return family;
}

}  // namespace zt::model
