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

// How a block computes. New kinds are added here and built in model/blocks.cpp.
//  - kAttention: causal self-attention (model/mixer/attention_mixer.h);
//  - kGatedAttention: the same with an output gate from a double-width q_proj and zero-centred q/k norms (Qwen3.5,
//    Qwen3-Next; model/mixer/gated_attention.h);
//  - kGatedDeltaNet: linear attention by the gated delta rule (Qwen3.5, Qwen3-Next; model/mixer/gated_deltanet.h).
enum class MixerKind { kAttention, kGatedAttention, kGatedDeltaNet };
enum class FeedForwardKind { kSwiGlu, kMoe };

// What a parameter is to its kind. The family gives each role its Hugging Face name.
enum class Role {
  kQuery, kKey, kValue, kOutput,  // attention projections
  kQueryNorm, kKeyNorm,           // per-head RMSNorm weights on q and k (Qwen3)
  kGate, kUp, kDown,              // SwiGLU: down(silu(gate(x)) * up(x))
  kRouter,                        // mixture of experts: the router's logits over the experts [E, H]
  kExpertGateUp, kExpertDown,     // the experts' SwiGLU, stacked: gate and up fused [E, 2I, H], down [E, H, I]
  kSharedGate, kSharedUp, kSharedDown,  // a shared expert beside the routed ones (Qwen2-MoE)
  kSharedExpertGate,              // its scale, sigmoid(shared_expert_gate(x)) [1, H]
  // Gated DeltaNet: q, k and v projected together then convolved, the output gate z, the write strength b
  // (beta = sigmoid(b)) and the decay input a; the depthwise causal conv, the decay's log scale A_log and bias
  // dt_bias (g = -exp(A_log) * softplus(a + dt_bias)), the gated RMSNorm of the output. The output projection
  // is kOutput.
  kMixedQkv, kOutputGate, kWriteStrength, kDecayInput,
  kConv, kDecayLogScale, kDecayBias, kGatedNorm,
};
const char* role_name(Role role);

// A linear module: `<block path>.<name>.weight` [out, in], and `.bias` [out] when `bias`.
//
// Or the stacked experts of a mixture of experts (`experts` > 0): one parameter `<block path>.<name>`
// [experts, out, in] with no ".weight", as transformers holds it in memory ("experts.gate_up_proj"). Checkpoints
// on the hub, and transformers' save_pretrained, store it per expert: `<block path>.experts.{e}.<part>.weight`
// [out / parts, in] for each of `parts`, concatenated along out ("gate_proj", "up_proj"). PEFT adapts it as a
// parameter (`target_parameters`, model/lora/lora_config.h), with one rank-r pair per expert.
struct LinearSpec {
  Role role;
  std::string name;  // "q_proj": what --target_modules and PEFT call the module
  int64_t out = 0, in = 0;
  bool bias = false;
  int64_t experts = 0;
  std::vector<std::string> parts{};  // stacked experts: the per-expert file tensors it is stored as
  // A linear module to PEFT (what all-linear and --target_modules name). A router is not: it is a parameter.
  bool module = true;

  bool stacked() const { return experts > 0; }
  // PEFT adapts it as a parameter (target_parameters), not as a module (target_modules).
  bool parameter() const { return stacked() || !module; }
  // The parameter's name under its module path: "<path>.weight", or "<path>" for stacked experts.
  std::string weight_name(const std::string& path) const { return stacked() ? path : path + ".weight"; }
  std::vector<int64_t> shape() const {
    return stacked() ? std::vector<int64_t>{experts, out, in} : std::vector<int64_t>{out, in};
  }
  // The parameter's last name segment, as PEFT's target_parameters names it ("gate_up_proj", "gate.weight").
  std::string parameter_name() const;
  // Stacked experts: the file tensor of expert `e`'s part `part` under the module path
  // ("<...>.experts.gate_up_proj" -> "<...>.experts.3.up_proj.weight").
  std::string piece_name(const std::string& path, int64_t e, const std::string& part) const;
  // The name LoRA's rank and alpha patterns match: the module path, or the parameter's name for a parameter.
  std::string adapter_key(const std::string& path) const { return parameter() ? weight_name(path) : path; }
};

// A weight no linear module holds: a norm's scale `<block path>.<name>.weight` [size]; or a bare parameter
// `<block path>.<name>` (Gated DeltaNet's A_log, dt_bias); or one of another shape (its conv1d.weight
// [channels, 1, kernel]). Always trained in full (never a LoRA target).
struct VectorSpec {
  Role role;
  std::string name;
  int64_t size = 0;
  std::vector<int64_t> dims{};  // the shape when not [size]
  bool bare = false;            // named without ".weight"

  std::vector<int64_t> shape() const { return dims.empty() ? std::vector<int64_t>{size} : dims; }
  std::string weight_name(const std::string& path) const { return bare ? path : path + ".weight"; }
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

// A mixture of experts' routing: softmax over the router's logits in fp32, the top `top_k` experts per token
// (ties as torch.topk), their probabilities renormalised to sum 1 when `norm_topk_prob`.
struct MoeSpec {
  int64_t experts = 0;
  int64_t top_k = 0;
  bool norm_topk_prob = false;
};

struct FeedForwardSpec : BlockSpec {
  FeedForwardKind kind = FeedForwardKind::kSwiGlu;
  MoeSpec moe;  // kMoe only
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
