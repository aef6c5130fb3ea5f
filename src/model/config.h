// A decoder model's shape, read from a Hugging Face config.json (Qwen2, Llama, Mistral, Qwen3).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace zt::model {

struct ModelConfig {
  std::string architecture_name;   // "Qwen2ForCausalLM", ... (model/family/)
  std::string model_type;          // config.json's model_type ("qwen2", "llama", ...): ms-swift's model_type too
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;            // explicit in Qwen3, else hidden / heads
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  // RoPE frequency scaling as transformers' rope_type: "default", "linear" (factor) or "llama3" (Llama-3.1/3.2:
  // factor, low/high frequency factors, the original context length).
  std::string rope_type = "default";
  double rope_factor = 1.0;
  double rope_low_freq_factor = 1.0;
  double rope_high_freq_factor = 4.0;
  int64_t rope_original_max_positions = 8192;
  // Sliding-window attention (Mistral's sliding_window, Qwen2/3's use_sliding_window): the windowed layers see
  // only the last `sliding_window` keys, their own included. 0: none; `windowed_layers` empty: every layer.
  int64_t sliding_window = 0;
  std::vector<bool> windowed_layers;
  bool tie_word_embeddings = false;
  // Set by the family (model/family/):
  bool qkv_bias = false;           // bias on q, k and v
  bool o_bias = false;             // bias on o_proj
  bool mlp_bias = false;           // bias on gate, up and down
  bool qk_norm = false;            // RMSNorm over head_dim on q and k before RoPE
  // RMSNorm weights stored as an offset from 1 (Qwen3-Next, Qwen3.5: norm(x) * (1 + w), computed in fp32): the
  // decoder's norms and q/k norms.
  bool zero_centred_norms = false;
  // Rotary dimensions of a head (partial_rotary_factor * head_dim); 0: all of head_dim.
  int64_t rotary_dim = 0;
  // Hybrid models (Qwen3.5, Qwen3-Next): which layers mix tokens with Gated DeltaNet ("linear_attention" in
  // layer_types) instead of full attention, and that mixer's shape (model/mixer/gated_deltanet.h).
  std::vector<bool> linear_attention_layers;
  int64_t linear_num_key_heads = 0;
  int64_t linear_num_value_heads = 0;
  int64_t linear_key_head_dim = 0;
  int64_t linear_value_head_dim = 0;
  int64_t linear_conv_kernel = 4;
  // Mixture of experts (Qwen2-MoE, Qwen3-MoE; 0 experts: dense). A layer is sparse when it is not in
  // mlp_only_layers and (layer + 1) % decoder_sparse_step == 0; the others have a dense MLP of intermediate_size.
  int64_t num_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t moe_intermediate_size = 0;
  int64_t shared_expert_intermediate_size = 0;  // Qwen2-MoE's shared expert (0: none)
  bool norm_topk_prob = false;
  int64_t decoder_sparse_step = 1;
  std::vector<int64_t> mlp_only_layers;
  double router_aux_loss_coef = 0;  // the config's; ms-swift's --router_aux_loss_coef replaces it in training
  std::string dtype = "float32";   // config's torch_dtype / dtype
  std::optional<int64_t> bos_token_id;
  std::optional<int64_t> eos_token_id;

  int64_t q_size() const { return num_heads * head_dim; }
  int64_t rotary_dims() const { return rotary_dim > 0 ? rotary_dim : head_dim; }
  bool linear_attention_layer(int64_t layer) const {
    return layer < static_cast<int64_t>(linear_attention_layers.size()) && linear_attention_layers[static_cast<size_t>(layer)];
  }
  int64_t window_of_layer(int64_t layer) const {
    return windowed_layers.empty() || windowed_layers[static_cast<size_t>(layer)] ? sliding_window : 0;
  }
  int64_t kv_size() const { return num_kv_heads * head_dim; }
  bool is_moe() const { return num_experts > 0; }
  bool sparse_layer(int64_t layer) const;
};

// Reads `model_dir`/config.json; an unknown architecture or an unsupported feature (a rope_type other than
// default, linear or llama3) is a zt::Error naming the key.
ModelConfig read_model_config(const std::string& model_dir);

}  // namespace zt::model
