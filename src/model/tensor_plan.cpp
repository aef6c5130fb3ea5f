#include "model/tensor_plan.h"

#include <algorithm>

#include "model/family/family.h"
#include "model/weight_names.h"

namespace zt::model {

std::vector<PlannedTensor> plan_tensors(const ModelConfig& config, const TensorPlanOptions& options) {
  const bool full = options.full_training;
  const std::string prefix = full ? "" : kPeftPrefix;  // trainable names as trainable_parameters() gives them
  std::vector<PlannedTensor> plan;
  auto add = [&](const std::string& file_name, std::vector<int64_t> shape, bool trainable,
                 std::optional<Role> role = std::nullopt) {
    PlannedTensor tensor;
    tensor.file_name = file_name;
    tensor.name = trainable ? prefix + file_name : file_name;
    tensor.numel = 1;
    for (int64_t d : shape) tensor.numel *= d;
    tensor.shape = std::move(shape);
    tensor.element_bytes = options.dtype_bytes;
    tensor.trainable = trainable;
    tensor.layer = layer_of(file_name);
    tensor.role = role;
    plan.push_back(std::move(tensor));
  };
  auto saved = [&](const std::string& module) {
    return full || std::find(options.modules_to_save.begin(), options.modules_to_save.end(), module) !=
                       options.modules_to_save.end();
  };
  const int64_t H = config.hidden_size;
  std::optional<LoraConfig> lora;
  if (options.lora.has_value() && !full) lora = resolve_lora_targets(*options.lora, config);
  add("model.embed_tokens.weight", {config.vocab_size, H}, saved("embed_tokens"));
  const std::vector<LayerSpec> layers = layer_plan(config);
  for (int64_t l = 0; l < config.num_layers; ++l) {
    // The order of DecoderModel's visit_layer: norms, every block's vectors, every block's linears.
    const LayerSpec& layer = layers[static_cast<size_t>(l)];
    add(layer_prefix(l) + layer.mixer_norm + ".weight", {H}, full);
    add(layer_prefix(l) + layer.feed_forward_norm + ".weight", {H}, full);
    for (size_t b = 0; b < LayerSpec::kBlocks; ++b)
      for (const VectorSpec& vector : layer.block(b)->vectors)
        add(vector.weight_name(module_path(l, layer.block(b)->path, vector.name)), vector.shape(), full, vector.role);
    for (size_t b = 0; b < LayerSpec::kBlocks; ++b) {
      const BlockSpec& block = *layer.block(b);
      for (size_t i = 0; i < block.linears.size(); ++i) {
        const LinearSpec& linear = block.linears[i];
        const std::string path = module_path(l, block.path, linear.name);
        add(linear.weight_name(path), linear.shape(), full, linear.role);
        if (linear.bias) add(path + ".bias", {linear.out}, full, linear.role);
        if (!lora.has_value()) continue;
        const std::string adapter = lora_path(block, i, l, *lora);
        if (adapter.empty()) continue;
        const int64_t r = adapter_rank(linear, path, *lora);
        for (auto [suffix, shape] : {std::make_pair(".lora_A.weight", std::vector<int64_t>{r, linear.in}),
                                     std::make_pair(".lora_B.weight", std::vector<int64_t>{linear.out, r})}) {
          PlannedTensor tensor;
          tensor.name = prefix + adapter + suffix;
          tensor.shape = shape;
          tensor.numel = shape[0] * shape[1];
          tensor.element_bytes = 4;
          tensor.trainable = true;
          tensor.layer = l;
          tensor.role = linear.role;
          plan.push_back(std::move(tensor));
        }
      }
    }
  }
  add("model.norm.weight", {H}, full);
  if (!config.tie_word_embeddings) add("lm_head.weight", {config.vocab_size, H}, saved("lm_head"));
  return plan;
}

}  // namespace zt::model
