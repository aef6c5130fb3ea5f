#include "model/family/family.h"

#include <nlohmann/json.hpp>

#include "core/check.h"

namespace zt::model {

const std::vector<const Family*>& families() {
  static const std::vector<const Family*> all = {&qwen2_family(), &llama_family(), &mistral_family(),
                                                     &qwen3_family()};
  return all;
}

void read_qwen_sliding_window(const nlohmann::json& json, ModelConfig& config) {
  const nlohmann::json window = json.value("sliding_window", nlohmann::json(4096));
  if (!json.value("use_sliding_window", false) || window.is_null()) return;
  config.sliding_window = window.get<int64_t>();
  // transformers 5 writes layer_types; without it, the layers from max_window_layers on are windowed.
  config.windowed_layers.assign(static_cast<size_t>(config.num_layers), false);
  const nlohmann::json types = json.value("layer_types", nlohmann::json());
  for (int64_t layer = 0; layer < config.num_layers; ++layer)
    config.windowed_layers[static_cast<size_t>(layer)] =
        types.is_array() && static_cast<int64_t>(types.size()) == config.num_layers
            ? types[static_cast<size_t>(layer)] == "sliding_attention"
            : layer >= json.value("max_window_layers", int64_t{28});
}

const Family& family_of(const std::string& architecture, const std::string& path) {
  std::string known;
  for (const Family* family : families()) {
    if (family->architecture == architecture) return *family;
    known += (known.empty() ? "" : ", ") + family->architecture;
  }
  ZT_THROW(path << ": architecture '" << architecture << "' is not supported; ztune trains " << known);
}

}  // namespace zt::model
