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

namespace zt::model {

// How llama.cpp names the family (convert_hf_to_gguf.py's model classes) and the values transformers' config
// class fills in for keys a config.json leaves out, which the converter reads (0 = num_attention_heads for kv
// heads, hidden_size / num_attention_heads for head_dim; -1 = none).
struct GgufSpec {
  std::string arch;           // general.architecture ("llama", "qwen2", "qwen3"); empty: no GGUF export
  bool permute_qk = false;    // LlamaModel.permute: llama.cpp's LLAMA rope pairs adjacent values
  bool reads_back = false;    // the family a GGUF of `arch` becomes when converted back to Hugging Face
  int64_t default_kv_heads = 0, default_head_dim = 0, default_context = 0;
};

struct Family {
  std::string architecture;  // config.json "architectures"[0], e.g. "Qwen2ForCausalLM"
  std::string model_type;    // config.json "model_type" transformers writes for it ("qwen2")
  // Sets the family's own fields of `config` from config.json (the shared keys are read already).
  void (*read_config)(const nlohmann::json& json, ModelConfig& config);
  // Layer `layer` of a model of this family.
  LayerSpec (*layer)(const ModelConfig& config, int64_t layer);
  GgufSpec gguf;
};

const Family& qwen2_family();
const Family& llama_family();
const Family& mistral_family();
const Family& qwen3_family();

// The layer most families share: attention (q/k/v/o, biases as the config says, q/k norms when it has them,
// the layer's sliding window) and a SwiGLU MLP (gate/up/down), with the Hugging Face names of Llama and Qwen.
LayerSpec attention_swiglu_layer(const ModelConfig& config, int64_t layer);

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

// Every layer of `config`'s model, in order.
std::vector<LayerSpec> layer_plan(const ModelConfig& config);
// The module names `--target_modules all-linear` adapts, as ms-swift resolves it (every linear of the
// layers; never lm_head), in the order of the layer plan, each once.
std::vector<std::string> all_linear_modules(const ModelConfig& config);

}  // namespace zt::model
