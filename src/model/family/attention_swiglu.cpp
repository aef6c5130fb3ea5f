// The layer of Llama, Mistral, Qwen2 and Qwen3: attention + SwiGLU under Llama's Hugging Face names. The
// only place a projection of these families is named (besides llama.cpp's names in export/gguf_conventions.h).
#include "core/check.h"
#include "model/family/family.h"

namespace zt::model {

LayerSpec attention_swiglu_layer(const ModelConfig& config, int64_t layer) {
  const int64_t H = config.hidden_size, I = config.intermediate_size;
  ZT_REQUIRE(I > 0, "config.json of " << config.architecture_name << ": layer " << layer
                                      << " has a dense MLP, and intermediate_size is missing or not positive");
  LayerSpec spec;
  spec.mixer_norm = "input_layernorm";
  spec.feed_forward_norm = "post_attention_layernorm";
  MixerSpec& mixer = spec.mixer;
  mixer.kind = MixerKind::kAttention;
  mixer.path = "self_attn";
  mixer.sliding_window = config.window_of_layer(layer);
  if (config.qk_norm)
    mixer.vectors = {{Role::kQueryNorm, "q_norm", config.head_dim}, {Role::kKeyNorm, "k_norm", config.head_dim}};
  mixer.linears = {{Role::kQuery, "q_proj", config.q_size(), H, config.qkv_bias},
                   {Role::kKey, "k_proj", config.kv_size(), H, config.qkv_bias},
                   {Role::kValue, "v_proj", config.kv_size(), H, config.qkv_bias},
                   {Role::kOutput, "o_proj", H, config.q_size(), config.o_bias}};
  FeedForwardSpec& mlp = spec.feed_forward;
  mlp.kind = FeedForwardKind::kSwiGlu;
  mlp.path = "mlp";
  mlp.linears = {{Role::kGate, "gate_proj", I, H, config.mlp_bias},
                 {Role::kUp, "up_proj", I, H, config.mlp_bias},
                 {Role::kDown, "down_proj", H, I, config.mlp_bias}};
  return spec;
}

}  // namespace zt::model
