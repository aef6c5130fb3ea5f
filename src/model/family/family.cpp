#include "model/family/family.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "core/check.h"
#include "model/weight_names.h"

namespace zt::model {

namespace {

std::vector<const Family*>& registry() {
  static std::vector<const Family*> all = {&qwen2_family(), &llama_family(), &mistral_family(), &qwen3_family()};
  return all;
}

}  // namespace

const std::vector<const Family*>& families() { return registry(); }

void register_family(const Family& family) {
  for (const Family* known : registry())
    ZT_REQUIRE(known->architecture != family.architecture, "family " << family.architecture << " is registered already");
  registry().push_back(&family);
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

const Family& family_of(const ModelConfig& config) { return family_of(config.architecture_name, "config.json"); }

std::vector<LayerSpec> layer_plan(const ModelConfig& config) {
  const Family& family = family_of(config);
  std::vector<LayerSpec> plan;
  plan.reserve(static_cast<size_t>(config.num_layers));
  for (int64_t layer = 0; layer < config.num_layers; ++layer) plan.push_back(family.layer(config, layer));
  return plan;
}

std::vector<PlannedWeight> layer_weights(const LayerSpec& spec, int64_t layer, int64_t hidden_size) {
  std::vector<PlannedWeight> out;
  const std::string prefix = layer_prefix(layer);
  out.push_back({prefix + spec.mixer_norm + ".weight", {hidden_size}, std::nullopt, false, 0});
  out.push_back({prefix + spec.feed_forward_norm + ".weight", {hidden_size}, std::nullopt, false, 1});
  for (size_t b = 0; b < LayerSpec::kBlocks; ++b)
    for (const VectorSpec& vector : spec.block(b)->vectors)
      out.push_back({module_path(layer, spec.block(b)->path, vector.name) + ".weight", {vector.size}, vector.role, false, b});
  for (size_t b = 0; b < LayerSpec::kBlocks; ++b)
    for (const LinearSpec& linear : spec.block(b)->linears) {
      const std::string path = module_path(layer, spec.block(b)->path, linear.name);
      out.push_back({path + ".weight", {linear.out, linear.in}, linear.role, false, b});
      if (linear.bias) out.push_back({path + ".bias", {linear.out}, linear.role, true, b});
    }
  return out;
}

std::vector<std::string> all_linear_modules(const ModelConfig& config) {
  std::vector<std::string> names;
  for (const LayerSpec& layer : layer_plan(config))
    for (size_t b = 0; b < LayerSpec::kBlocks; ++b)
      for (const LinearSpec& linear : layer.block(b)->linears)
        if (std::find(names.begin(), names.end(), linear.name) == names.end()) names.push_back(linear.name);
  return names;
}

}  // namespace zt::model
