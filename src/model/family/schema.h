// What a decoder layer holds, as a family declares it: the layer is a token mixer and a feed-forward block,
// each of a kind (the computation, model/mixer/ and model/ffn/) and each listing its parameters
// with their Hugging Face names and shapes. Everything that names or sizes a layer weight derives from
// these specs: loading (model/decoder.cpp), ZeRO-3's slots, the tensor plan and the estimate, LoRA targets
// and the PEFT adapter, merge, and GGUF in and out. Kinds refer to their parameters by role, never by name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zt::model {

// How a block computes. New kinds (gated attention, Gated DeltaNet, mixture of experts) are added here and
// built in model/blocks.cpp.
enum class MixerKind { kAttention };
enum class FeedForwardKind { kSwiGlu };

// What a parameter is to its kind. The family gives each role its Hugging Face name.
enum class Role {
  kQuery, kKey, kValue, kOutput,  // attention projections
  kQueryNorm, kKeyNorm,           // per-head RMSNorm weights on q and k (Qwen3)
  kGate, kUp, kDown,              // SwiGLU: down(silu(gate(x)) * up(x))
};
const char* role_name(Role role);

// A linear module: `<block path>.<name>.weight` [out, in], and `.bias` [out] when `bias`.
struct LinearSpec {
  Role role;
  std::string name;  // "q_proj": what --target_modules and PEFT call the module
  int64_t out = 0, in = 0;
  bool bias = false;
};

// A vector weight (a norm's scale): `<block path>.<name>.weight` [size].
struct VectorSpec {
  Role role;
  std::string name;
  int64_t size = 0;
};

struct BlockSpec {
  std::string path;                  // under the layer: "self_attn", "mlp"
  std::vector<VectorSpec> vectors;   // in load order
  std::vector<LinearSpec> linears;   // in load order
  // The spec with `role`, or nullptr.
  const LinearSpec* linear(Role role) const;
  const VectorSpec* vector(Role role) const;
};

struct MixerSpec : BlockSpec {
  MixerKind kind = MixerKind::kAttention;
  int64_t sliding_window = 0;        // attention: keys seen per query (0: all)
};

struct FeedForwardSpec : BlockSpec {
  FeedForwardKind kind = FeedForwardKind::kSwiGlu;
};

// One decoder layer: x + mixer(norm(x)), then h + feed_forward(norm(h)). The two norms sit directly under
// the layer (`model.layers.N.<name>.weight`, [hidden]).
struct LayerSpec {
  std::string mixer_norm;         // "input_layernorm"
  std::string feed_forward_norm;  // "post_attention_layernorm"
  MixerSpec mixer;
  FeedForwardSpec feed_forward;
  const BlockSpec* block(size_t i) const { return i == 0 ? static_cast<const BlockSpec*>(&mixer) : &feed_forward; }
  static constexpr size_t kBlocks = 2;
};

}  // namespace zt::model
