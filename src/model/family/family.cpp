#include "model/family/family.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "core/check.h"
#include "model/weight_names.h"

namespace zt::model {

namespace {

std::vector<const Family*>& registry() {
  static std::vector<const Family*> all = {&qwen2_family(),     &llama_family(),     &mistral_family(),
                                             &qwen3_family(),     &qwen3_moe_family(), &qwen2_moe_family(),
                                             &qwen3_5_family(),   &qwen3_5_moe_family()};
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

std::vector<StackedWeight> stacked_weights(const ModelConfig& config) {
  std::vector<StackedWeight> out;
  const std::vector<LayerSpec> plan = layer_plan(config);
  for (int64_t l = 0; l < config.num_layers; ++l)
    for (size_t b = 0; b < LayerSpec::kBlocks; ++b) {
      const BlockSpec& block = *plan[static_cast<size_t>(l)].block(b);
      for (const LinearSpec& spec : block.linears) {
        if (!spec.stacked()) continue;
        const std::string path = module_path(l, block.path, spec.name);
        StackedWeight weight{spec.weight_name(path), spec.shape(), {}};
        for (int64_t e = 0; e < spec.experts; ++e)
          for (const std::string& part : spec.parts) weight.pieces.push_back(spec.piece_name(path, e, part));
        out.push_back(std::move(weight));
      }
    }
  return out;
}

std::vector<PlannedWeight> layer_weights(const LayerSpec& spec, int64_t layer, int64_t hidden_size) {
  std::vector<PlannedWeight> out;
  const std::string prefix = layer_prefix(layer);
  out.push_back({prefix + spec.mixer_norm + ".weight", {hidden_size}, std::nullopt, false, 0});
  out.push_back({prefix + spec.feed_forward_norm + ".weight", {hidden_size}, std::nullopt, false, 1});
  for (size_t b = 0; b < LayerSpec::kBlocks; ++b)
    for (const VectorSpec& vector : spec.block(b)->vectors)
      out.push_back({vector.weight_name(module_path(layer, spec.block(b)->path, vector.name)), vector.shape(), vector.role,
                     false, b});
  for (size_t b = 0; b < LayerSpec::kBlocks; ++b)
    for (const LinearSpec& linear : spec.block(b)->linears) {
      const std::string path = module_path(layer, spec.block(b)->path, linear.name);
      out.push_back({linear.weight_name(path), linear.shape(), linear.role, false, b});
      if (linear.bias) out.push_back({path + ".bias", {linear.out}, linear.role, true, b});
    }
  return out;
}

std::vector<std::string> all_linear_modules(const ModelConfig& config) {
  std::vector<std::string> names;
  for (const LayerSpec& layer : layer_plan(config))
    for (size_t b = 0; b < LayerSpec::kBlocks; ++b)
      for (const LinearSpec& linear : layer.block(b)->linears) {
        if (linear.parameter()) continue;
        const std::string leaf = linear.name.substr(linear.name.rfind('.') + 1);
        if (std::find(names.begin(), names.end(), leaf) == names.end()) names.push_back(leaf);
      }
  return names;
}

LoraConfig resolve_lora_targets(const LoraConfig& lora, const ModelConfig& config) {
  if (!family_of(config).expert_targets_are_parameters) return lora;
  LoraConfig out = lora;
  std::vector<std::string> modules;
  for (const std::string& target : lora.target_modules)
    if (target == "all-linear")
      for (const std::string& name : all_linear_modules(config)) modules.push_back(name);
    else
      modules.push_back(target);
  // transformers' names before its conversion, and the parameter each became (PEFT's table for this layout).
  static const std::vector<std::pair<std::string, std::string>> renamed = {
      {"gate", "gate.weight"}, {"gate_proj", "gate_up_proj"}, {"up_proj", "gate_up_proj"}, {"down_proj", "down_proj"}};
  out.target_modules.clear();
  bool gate = false, up = false;
  auto add_parameter = [&](const std::string& name) {
    if (std::find(out.target_parameters.begin(), out.target_parameters.end(), name) == out.target_parameters.end())
      out.target_parameters.push_back(name);
  };
  for (const std::string& target : modules) {
    auto found = std::find_if(renamed.begin(), renamed.end(), [&](const auto& pair) {
      return target == pair.first ||
             (target.size() > pair.first.size() + 1 && target.compare(target.size() - pair.first.size(), pair.first.size(), pair.first) == 0 &&
              target[target.size() - pair.first.size() - 1] == '.');
    });
    if (found == renamed.end()) {
      if (std::find(out.target_modules.begin(), out.target_modules.end(), target) == out.target_modules.end())
        out.target_modules.push_back(target);
      continue;
    }
    gate |= found->first == "gate_proj";
    up |= found->first == "up_proj";
    add_parameter(found->second);
  }
  ZT_REQUIRE(gate == up, "--target_modules names " << (gate ? "gate_proj" : "up_proj") << " without "
                                                   << (gate ? "up_proj" : "gate_proj") << ": " << config.architecture_name
                                                   << " holds them fused as experts.gate_up_proj, so they are adapted "
                                                      "together (name both, or neither)");
  if (gate) {
    out.rank_pattern[".*\\.gate_up_proj"] = lora.rank * 2;
    out.alpha_pattern[".*\\.gate_up_proj"] = lora.alpha * 2;
  }
  return out;
}

std::string lora_path(const BlockSpec& block, size_t index, int64_t layer, const LoraConfig& lora) {
  const LinearSpec& spec = block.linears[index];
  const std::string path = module_path(layer, block.path, spec.name);
  if (!spec.parameter())
    return is_lora_target(lora, path, spec.name.substr(spec.name.rfind('.') + 1)) ? path : std::string();
  if (!is_parameter_target(lora, spec.weight_name(path))) return std::string();
  if (!spec.stacked()) return path;  // a 2-D parameter (a router): PEFT wraps its module
  // Stacked parameters of one module: each later adapted one wraps this one once more.
  const std::string module = path.substr(0, path.rfind('.'));
  std::string nested = module;
  for (size_t later = index + 1; later < block.linears.size(); ++later) {
    const LinearSpec& other = block.linears[later];
    const std::string other_path = module_path(layer, block.path, other.name);
    if (other.stacked() && other_path.substr(0, other_path.rfind('.')) == module &&
        is_parameter_target(lora, other.weight_name(other_path)))
      nested += ".base_layer";
  }
  return nested;
}

int64_t adapter_rank(const LinearSpec& spec, const std::string& path, const LoraConfig& lora) {
  return lora.rank_at(spec.adapter_key(path)) * std::max<int64_t>(1, spec.experts);
}

}  // namespace zt::model
