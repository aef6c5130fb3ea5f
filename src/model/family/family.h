// The decoder families ztune trains. A family is one schema, one file under model/family/: its architecture
// name in config.json, the keys only it has (biases, q/k norms, sliding windows), its layer plan (which mixer
// and feed-forward kind each layer has, with every parameter's name and shape: schema.h), the modules
// `--target_modules all-linear` means for it, and its GGUF architecture. Adding a family is one new file here,
// its entry in family.cpp and its chat template in data/chat_template.cpp (docs/ARCHITECTURE.md, "Where to add").
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/family/schema.h"
#include "model/lora/lora_config.h"

namespace zt::model {

// How llama.cpp names the family (convert_hf_to_gguf.py's model classes) and the values transformers' config
// class fills in for keys a config.json leaves out, which the converter reads (0 = num_attention_heads for kv
// heads, hidden_size / num_attention_heads for head_dim; -1 = none).
struct GgufSpec {
  std::string arch;           // general.architecture ("llama", "qwen2", "qwen3"); empty: no GGUF export
  bool permute_qk = false;    // LlamaModel.permute: llama.cpp's LLAMA rope pairs adjacent values
  bool reads_back = false;    // the family a GGUF of `arch` becomes when converted back to Hugging Face
  int64_t default_kv_heads = 0, default_head_dim = 0, default_context = 0;
  // A mixture of experts as llama.cpp runs `arch` (qwen2moe, qwen3moe): experts in every layer, the top-k weights
  // renormalised or not as the architecture fixes it (not as config.json says), a shared expert or none, and an
  // output matrix that must be in the file (no tied embeddings).
  bool moe = false;
  bool moe_renormalizes_top_k = false;
  bool moe_shared_expert = false;
  bool output_required = false;
};

struct Family {
  std::string architecture;  // config.json "architectures"[0], e.g. "Qwen2ForCausalLM"
  std::string model_type;    // config.json "model_type" transformers writes for it ("qwen2")
  // Sets the family's own fields of `config` from config.json (the shared keys are read already).
  void (*read_config)(const nlohmann::json& json, ModelConfig& config);
  // Layer `layer` of a model of this family.
  LayerSpec (*layer)(const ModelConfig& config, int64_t layer);
  GgufSpec gguf;
  // PEFT reads --target_modules' expert projection names (gate_proj, up_proj, down_proj; the router's gate) as the
  // stacked expert parameters, because transformers converts this family's checkpoints (lora_config.h).
  bool expert_targets_are_parameters = false;
};

const Family& qwen2_family();
const Family& llama_family();
const Family& mistral_family();
const Family& qwen3_family();
const Family& qwen3_moe_family();
const Family& qwen2_moe_family();
const Family& qwen3_5_family();
const Family& qwen3_5_moe_family();

// The layer most families share: attention (q/k/v/o, biases as the config says, q/k norms when it has them,
// the layer's sliding window) and a SwiGLU MLP (gate/up/down), with the Hugging Face names of Llama and Qwen.
LayerSpec attention_swiglu_layer(const ModelConfig& config, int64_t layer);

// The mixture-of-experts layer: attention_swiglu_layer's attention, and in the sparse layers (ModelConfig::
// sparse_layer) the router `gate`, the stacked experts `experts.gate_up_proj` / `experts.down_proj` and, when the
// config has one, the shared expert and its gate (moe_layer.cpp).
LayerSpec attention_moe_layer(const ModelConfig& config, int64_t layer);
FeedForwardSpec moe_feed_forward(const ModelConfig& config);
// transformers' defaults of a family's config class for the keys config.json may leave out.
struct MoeDefaults {
  int64_t experts, top_k, moe_intermediate_size;
  bool shared_expert;
  int64_t shared_intermediate_size;
};
// Reads the MoE keys (num_experts or num_local_experts, num_experts_per_tok, moe_intermediate_size,
// norm_topk_prob, decoder_sparse_step, mlp_only_layers, shared_expert_intermediate_size, router_aux_loss_coef).
void read_moe_config(const nlohmann::json& json, ModelConfig& config, const MoeDefaults& defaults);

// The hybrid families (Qwen3.5, Qwen3-Next; qwen3_5.cpp): their keys (layer_types or full_attention_interval,
// linear_*, partial_rotary_factor, zero-centred norms), and a layer's mixer: Gated DeltaNet in the linear-attention
// layers, gated full attention in the others.
void read_hybrid_attention_config(const nlohmann::json& json, ModelConfig& config);
MixerSpec hybrid_mixer(const ModelConfig& config, int64_t layer);

// Qwen2/Qwen3's `use_sliding_window`: `sliding_window` keys in the layers from `max_window_layers` on (as
// transformers' layer_types).
void read_qwen_sliding_window(const nlohmann::json& json, ModelConfig& config);

// Every supported family, and the one for an architecture name (a zt::Error naming `path` and the
// supported architectures when there is none).
const std::vector<const Family*>& families();
// Adds a family declared elsewhere (a test's, or one built outside src/) to families(); its architecture must be
// new. `family` must outlive every use.
void register_family(const Family& family);
const Family& family_of(const std::string& architecture, const std::string& path);
const Family& family_of(const ModelConfig& config);

// The weights of layer `layer` as a model folder holds them: Hugging Face name and shape, in load order (the two
// norms, each block's vectors, each block's linears with their biases).
struct PlannedWeight {
  std::string name;
  std::vector<int64_t> shape;
  std::optional<Role> role;  // none for the layer's two norms
  bool bias = false;         // a linear's bias
  size_t block = 0;         // 0: the mixer, 1: the feed-forward block (norms: the block they precede)
};
std::vector<PlannedWeight> layer_weights(const LayerSpec& spec, int64_t layer, int64_t hidden_size);

// A stacked expert weight of the plan (LinearSpec::stacked) as the hub stores it: one file tensor per expert and
// part, listed in the stacked weight's memory order (expert by expert, each expert's parts in order).
struct StackedWeight {
  std::string name;  // model.layers.N.mlp.experts.gate_up_proj
  std::vector<int64_t> shape;
  std::vector<std::string> pieces;
};
std::vector<StackedWeight> stacked_weights(const ModelConfig& config);

// Every layer of `config`'s model, in order.
std::vector<LayerSpec> layer_plan(const ModelConfig& config);
// The module names `--target_modules all-linear` adapts, as ms-swift resolves it (the last name segment of every
// linear module of the layers; never lm_head, a router or stacked experts), in the order of the layer plan, each once.
std::vector<std::string> all_linear_modules(const ModelConfig& config);

// `lora` with its targets as ms-swift and PEFT resolve them for `config`'s family. On a family whose checkpoints
// transformers converts (Family::expert_targets_are_parameters: Qwen3-MoE), all-linear becomes the linear module
// names the model has, then the expert projection names become target_parameters as PEFT converts them (gate_proj
// and up_proj together -> gate_up_proj with twice the rank and alpha, down_proj -> down_proj, the router's gate ->
// gate.weight); naming one of gate_proj and up_proj alone is a zt::Error. Other families: `lora` unchanged.
// Resolving a resolved config changes nothing.
LoraConfig resolve_lora_targets(const LoraConfig& lora, const ModelConfig& config);
// The path PEFT names the adapter of `block`'s linear `index` under (its lora_A.weight, lora_B.weight), or ""
// when `lora` does not adapt it. A module's path is its module path; stacked experts adapted as parameters nest
// (PEFT wraps the block's parameters in order, the last outermost): "mlp.experts" for the last adapted,
// "mlp.experts.base_layer" for the one before, and so on.
std::string lora_path(const BlockSpec& block, size_t index, int64_t layer, const LoraConfig& lora);
// The rows of A (columns of B) of the adapter on `spec` at module path `path`: its rank as the patterns say, once
// per expert for stacked experts (PEFT's layout).
int64_t adapter_rank(const LinearSpec& spec, const std::string& path, const LoraConfig& lora);

}  // namespace zt::model
