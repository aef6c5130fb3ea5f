#include "model/tensor_plan.h"

#include <algorithm>

#include "model/weight_names.h"

namespace zt::model {

std::string linear_module_path(int64_t layer, const std::string& module) {
  const bool attention = module == "q_proj" || module == "k_proj" || module == "v_proj" || module == "o_proj";
  return layer_prefix(layer) + (attention ? "self_attn." : "mlp.") + module;
}

std::vector<PlannedTensor> plan_tensors(const ModelConfig& config, const TensorPlanOptions& options) {
  const bool full = options.full_training;
  const std::string prefix = full ? "" : kPeftPrefix;  // trainable names as trainable_parameters() gives them
  std::vector<PlannedTensor> plan;
  auto add = [&](const std::string& file_name, std::vector<int64_t> shape, bool trainable) {
    PlannedTensor tensor;
    tensor.file_name = file_name;
    tensor.name = trainable ? prefix + file_name : file_name;
    tensor.numel = 1;
    for (int64_t d : shape) tensor.numel *= d;
    tensor.shape = std::move(shape);
    tensor.element_bytes = options.dtype_bytes;
    tensor.trainable = trainable;
    tensor.layer = layer_of(file_name);
    plan.push_back(std::move(tensor));
  };
  auto saved = [&](const std::string& module) {
    return full || std::find(options.modules_to_save.begin(), options.modules_to_save.end(), module) !=
                       options.modules_to_save.end();
  };
  const int64_t H = config.hidden_size, I = config.intermediate_size;
  add("model.embed_tokens.weight", {config.vocab_size, H}, saved("embed_tokens"));
  for (int64_t l = 0; l < config.num_layers; ++l) {
    const std::string layer = layer_prefix(l);
    add(layer + "input_layernorm.weight", {H}, full);
    add(layer + "post_attention_layernorm.weight", {H}, full);
    if (config.qk_norm) {
      add(layer + "self_attn.q_norm.weight", {config.head_dim}, full);
      add(layer + "self_attn.k_norm.weight", {config.head_dim}, full);
    }
    const int64_t outs[] = {config.q_size(), config.kv_size(), config.kv_size(), H, I, I, H};
    const int64_t ins[] = {H, H, H, config.q_size(), H, H, I};
    const bool biases[] = {config.qkv_bias, config.qkv_bias, config.qkv_bias, config.o_bias,
                           config.mlp_bias, config.mlp_bias, config.mlp_bias};
    for (size_t i = 0; i < 7; ++i) {
      const std::string path = linear_module_path(l, kLinearModules[i]);
      add(path + ".weight", {outs[i], ins[i]}, full);
      if (biases[i]) add(path + ".bias", {outs[i]}, full);
      if (full || !options.lora.has_value() || !is_lora_target(*options.lora, path, kLinearModules[i])) continue;
      const int64_t r = options.lora->rank;
      for (auto [suffix, shape] : {std::make_pair(".lora_A.weight", std::vector<int64_t>{r, ins[i]}),
                                   std::make_pair(".lora_B.weight", std::vector<int64_t>{outs[i], r})}) {
        PlannedTensor tensor;
        tensor.name = prefix + path + suffix;
        tensor.shape = shape;
        tensor.numel = shape[0] * shape[1];
        tensor.element_bytes = 4;
        tensor.trainable = true;
        tensor.layer = l;
        plan.push_back(std::move(tensor));
      }
    }
  }
  add("model.norm.weight", {H}, full);
  if (!config.tie_word_embeddings) add("lm_head.weight", {config.vocab_size, H}, saved("lm_head"));
  return plan;
}

}  // namespace zt::model
