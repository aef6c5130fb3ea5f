// Qwen3.5 (dense: Qwen3_5ForCausalLM, the language model of Qwen3_5ForConditionalGeneration): a hybrid of
// Gated DeltaNet layers ("linear_attention" in layer_types; linear_attn.*) and gated full attention every
// `full_attention_interval`-th layer (self_attn.*, q_proj twice as wide), each followed by a SwiGLU MLP.
// Its RMSNorms (the layer's two, q/k, final) are zero-centred; RoPE turns partial_rotary_factor of each head
// (M-RoPE sections reduce to plain RoPE for text). Defaults are transformers' Qwen3_5TextConfig's.
//
// Qwen3.5-MoE (Qwen3_5MoeForCausalLM): the same mixers, and in every layer a routed mixture of SwiGLU experts with
// a shared expert scaled by sigmoid(shared_expert_gate) (model/ffn/moe.h); the router always renormalises its
// top-k (transformers' Qwen3_5MoeTextConfig has no norm_topk_prob, decoder_sparse_step or mlp_only_layers).
// PEFT does not convert this family's targets (transformers' conversion table maps it to no MoE pattern), so
// --target_modules names reach the shared expert's linears and never the stacked experts.
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "model/family/family.h"

namespace zt::model {

void read_hybrid_attention_config(const nlohmann::json& json, ModelConfig& config) {
  const std::string where = "config.json of " + config.architecture_name;
  if (!json.contains("head_dim") || json["head_dim"].is_null()) config.head_dim = 256;
  config.qkv_bias = config.o_bias = json.value("attention_bias", false);
  config.qk_norm = true;
  config.zero_centred_norms = true;
  const nlohmann::json rope = json.value("rope_parameters", nlohmann::json::object());
  const double partial = rope.is_object() && rope.contains("partial_rotary_factor")
                             ? rope["partial_rotary_factor"].get<double>()
                             : json.value("partial_rotary_factor", 0.25);
  config.rotary_dim = static_cast<int64_t>(static_cast<double>(config.head_dim) * partial);
  ZT_REQUIRE(config.rotary_dim > 0 && config.rotary_dim % 2 == 0 && config.rotary_dim <= config.head_dim,
             where << ": partial_rotary_factor " << partial << " of head_dim " << config.head_dim
                   << " is not an even number of rotary dimensions");
  auto integer = [&](const char* key, int64_t fallback) {
    auto found = json.find(key);
    return found == json.end() || found->is_null() ? fallback : found->get<int64_t>();
  };
  config.linear_num_key_heads = integer("linear_num_key_heads", 16);
  config.linear_num_value_heads = integer("linear_num_value_heads", 32);
  config.linear_key_head_dim = integer("linear_key_head_dim", 128);
  config.linear_value_head_dim = integer("linear_value_head_dim", 128);
  config.linear_conv_kernel = integer("linear_conv_kernel_dim", 4);
  ZT_REQUIRE(config.linear_num_key_heads > 0 && config.linear_num_value_heads % config.linear_num_key_heads == 0,
             where << ": linear_num_value_heads " << config.linear_num_value_heads
                   << " is not a multiple of linear_num_key_heads " << config.linear_num_key_heads);
  ZT_REQUIRE(config.linear_conv_kernel >= 1, where << ": linear_conv_kernel_dim must be positive");
  const std::string hidden_act = json.value("hidden_act", std::string("silu"));
  ZT_REQUIRE(hidden_act == "silu", where << ": hidden_act '" << hidden_act << "' (ztune has silu)");
  config.linear_attention_layers.assign(static_cast<size_t>(config.num_layers), false);
  const nlohmann::json types = json.value("layer_types", nlohmann::json());
  if (types.is_array()) {
    ZT_REQUIRE(static_cast<int64_t>(types.size()) == config.num_layers,
               where << ": layer_types has " << types.size() << " entries for " << config.num_layers << " layers");
    for (size_t l = 0; l < types.size(); ++l) {
      const std::string type = types[l].is_string() ? types[l].get<std::string>() : "";
      ZT_REQUIRE(type == "linear_attention" || type == "full_attention",
                 where << ": layer_types[" << l << "] is '" << type << "' (linear_attention or full_attention)");
      config.linear_attention_layers[l] = type == "linear_attention";
    }
  } else {
    const int64_t interval = integer("full_attention_interval", 4);
    ZT_REQUIRE(interval > 0, where << ": full_attention_interval must be positive");
    for (int64_t l = 0; l < config.num_layers; ++l)
      config.linear_attention_layers[static_cast<size_t>(l)] = (l + 1) % interval != 0;
  }
}

MixerSpec hybrid_mixer(const ModelConfig& config, int64_t layer) {
  const int64_t H = config.hidden_size;
  MixerSpec mixer;
  if (!config.linear_attention_layer(layer)) {
    mixer.kind = MixerKind::kGatedAttention;
    mixer.path = "self_attn";
    mixer.vectors = {{Role::kQueryNorm, "q_norm", config.head_dim}, {Role::kKeyNorm, "k_norm", config.head_dim}};
    mixer.linears = {{Role::kQuery, "q_proj", 2 * config.q_size(), H, config.qkv_bias},
                     {Role::kKey, "k_proj", config.kv_size(), H, config.qkv_bias},
                     {Role::kValue, "v_proj", config.kv_size(), H, config.qkv_bias},
                     {Role::kOutput, "o_proj", H, config.q_size(), config.o_bias}};
    return mixer;
  }
  const int64_t heads = config.linear_num_value_heads;
  const int64_t keys = config.linear_num_key_heads * config.linear_key_head_dim;
  const int64_t values = heads * config.linear_value_head_dim;
  const int64_t channels = 2 * keys + values;
  mixer.kind = MixerKind::kGatedDeltaNet;
  mixer.path = "linear_attn";
  VectorSpec conv{Role::kConv, "conv1d", channels, {channels, 1, config.linear_conv_kernel}};
  VectorSpec a_log{Role::kDecayLogScale, "A_log", heads};
  a_log.bare = true;
  VectorSpec dt_bias{Role::kDecayBias, "dt_bias", heads};
  dt_bias.bare = true;
  // In transformers' parameter order (dt_bias, A_log, conv1d, norm), so that full training visits them as it does.
  mixer.vectors = {dt_bias, a_log, conv, {Role::kGatedNorm, "norm", config.linear_value_head_dim}};
  mixer.linears = {{Role::kOutput, "out_proj", H, values},
                   {Role::kMixedQkv, "in_proj_qkv", channels, H},
                   {Role::kOutputGate, "in_proj_z", values, H},
                   {Role::kWriteStrength, "in_proj_b", heads, H},
                   {Role::kDecayInput, "in_proj_a", heads, H}};
  return mixer;
}

LayerSpec hybrid_swiglu_layer(const ModelConfig& config, int64_t layer) {
  LayerSpec spec = attention_swiglu_layer(config, layer);
  spec.mixer = hybrid_mixer(config, layer);
  return spec;
}

const Family& qwen3_5_family() {
  static const Family family{"Qwen3_5ForCausalLM", "qwen3_5_text", read_hybrid_attention_config, hybrid_swiglu_layer,
                             {}};
  return family;
}

const Family& qwen3_5_moe_family() {
  static const Family family{"Qwen3_5MoeForCausalLM",
                             "qwen3_5_moe_text",
                             [](const nlohmann::json& json, ModelConfig& config) {
                               read_hybrid_attention_config(json, config);
                               read_moe_config(json, config, {256, 8, 512, true, 512});
                               config.norm_topk_prob = true;
                               config.decoder_sparse_step = 1;
                               config.mlp_only_layers.clear();
                             },
                             [](const ModelConfig& config, int64_t layer) {
                               LayerSpec spec;  // no dense MLP (config.json has no intermediate_size)
                               spec.mixer_norm = "input_layernorm";
                               spec.feed_forward_norm = "post_attention_layernorm";
                               spec.mixer = hybrid_mixer(config, layer);
                               spec.feed_forward = moe_feed_forward(config);
                               return spec;
                             },
                             {}};
  return family;
}

}  // namespace zt::model
