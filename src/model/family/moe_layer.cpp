// The layer of the mixture-of-experts families (Qwen2-MoE, Qwen3-MoE): attention as in attention_swiglu.cpp and,
// in the sparse layers, a routed mixture of SwiGLU experts (model/ffn/moe.h) under transformers' names.
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "model/family/family.h"

namespace zt::model {

void read_moe_config(const nlohmann::json& json, ModelConfig& config, const MoeDefaults& defaults) {
  auto integer = [&](const char* key, int64_t fallback) {
    auto found = json.find(key);
    return found == json.end() || found->is_null() ? fallback : found->get<int64_t>();
  };
  config.num_experts = integer("num_experts", integer("num_local_experts", defaults.experts));
  config.num_experts_per_tok = integer("num_experts_per_tok", defaults.top_k);
  config.moe_intermediate_size = integer("moe_intermediate_size", defaults.moe_intermediate_size);
  config.shared_expert_intermediate_size =
      defaults.shared_expert ? integer("shared_expert_intermediate_size", defaults.shared_intermediate_size) : 0;
  config.norm_topk_prob = json.value("norm_topk_prob", false);
  config.decoder_sparse_step = integer("decoder_sparse_step", 1);
  config.router_aux_loss_coef = json.value("router_aux_loss_coef", 0.001);
  const nlohmann::json dense = json.value("mlp_only_layers", nlohmann::json::array());
  if (dense.is_array()) config.mlp_only_layers = dense.get<std::vector<int64_t>>();
  const std::string where = "config.json of " + config.architecture_name;
  ZT_REQUIRE(config.num_experts > 0,
             where << ": num_experts is " << config.num_experts << "; a mixture of experts needs at least one");
  ZT_REQUIRE(config.num_experts_per_tok > 0 && config.num_experts_per_tok <= config.num_experts,
             where << ": num_experts_per_tok " << config.num_experts_per_tok << " must be between 1 and num_experts ("
                   << config.num_experts << ")");
  ZT_REQUIRE(config.moe_intermediate_size > 0, where << ": moe_intermediate_size must be positive");
  ZT_REQUIRE(config.decoder_sparse_step > 0, where << ": decoder_sparse_step must be positive");
}

FeedForwardSpec moe_feed_forward(const ModelConfig& config) {
  const int64_t H = config.hidden_size, I = config.moe_intermediate_size, E = config.num_experts;
  FeedForwardSpec mlp;
  mlp.kind = FeedForwardKind::kMoe;
  mlp.path = "mlp";
  mlp.moe = {E, config.num_experts_per_tok, config.norm_topk_prob};
  LinearSpec router{Role::kRouter, "gate", E, H};
  router.module = false;
  LinearSpec gate_up{Role::kExpertGateUp, "experts.gate_up_proj", 2 * I, H};
  gate_up.experts = E;
  gate_up.parts = {"gate_proj", "up_proj"};
  LinearSpec down{Role::kExpertDown, "experts.down_proj", H, I};
  down.experts = E;
  down.parts = {"down_proj"};
  mlp.linears = {router, gate_up, down};
  if (config.shared_expert_intermediate_size > 0) {
    const int64_t S = config.shared_expert_intermediate_size;
    mlp.linears.push_back({Role::kSharedGate, "shared_expert.gate_proj", S, H});
    mlp.linears.push_back({Role::kSharedUp, "shared_expert.up_proj", S, H});
    mlp.linears.push_back({Role::kSharedDown, "shared_expert.down_proj", H, S});
    mlp.linears.push_back({Role::kSharedExpertGate, "shared_expert_gate", 1, H});
  }
  return mlp;
}

LayerSpec attention_moe_layer(const ModelConfig& config, int64_t layer) {
  LayerSpec spec = attention_swiglu_layer(config, layer);
  if (config.sparse_layer(layer)) spec.feed_forward = moe_feed_forward(config);
  return spec;
}

}  // namespace zt::model
