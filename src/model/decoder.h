// The decoder-only transformer of the Qwen2 / Llama / Qwen3 families with LoRA, in libtorch.
//
// Weights keep their Hugging Face names and layout. Base weights are frozen (unless training in full);
// LoRA A/B matrices are the trainable leaves, named as PEFT names them. Attention never crosses a sample
// boundary of a packed row: segments come from position ids restarting at 0.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/attention.h"
#include "model/config.h"
#include "model/lora/lora_config.h"

namespace zt::model {

struct ModelOptions {
  at::ScalarType dtype = at::kFloat;     // weights and activations
  at::Device device = at::kCPU;
  bool full_training = false;            // --train_type full: every weight trainable, no LoRA
  std::optional<LoraConfig> lora;        // none: no adapters
  std::vector<std::string> modules_to_save;  // embed_tokens, lm_head: trained in full beside LoRA
  bool gradient_checkpointing = false;
  std::string attn_impl = "sdpa";        // sdpa | eager | flash_attn (sdpa's flash kernel on CUDA)
  // Keep only the weights this returns true for (ZeRO-3 partitions); others stay undefined.
  std::function<bool(const std::string&)> keep_weight;
};

struct Linear {
  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out] or undefined
  at::Tensor lora_a;  // [r, in] or undefined
  at::Tensor lora_b;  // [out, r]
  double scaling = 0;
  double dropout = 0;
};

struct DecoderLayer {
  at::Tensor input_norm, post_attention_norm;  // [H]
  at::Tensor q_norm, k_norm;                   // [head_dim], Qwen3 only
  Linear q, k, v, o, gate, up, down;
};

// Keys and values of every layer for the tokens seen so far: [B, kv_heads, T, head_dim] each.
// Allocated once for `capacity` tokens (the prompt plus the tokens to generate) when the first tokens
// arrive, then filled in place: no copy of the cache per generated token. Past the capacity it grows.
struct KvCache {
  std::vector<at::Tensor> keys, values;  // per layer: [B, kv_heads, capacity, head_dim]
  int64_t capacity = 0;                  // 0: exactly what the first forward brings
  int64_t filled = 0;                    // tokens held
  int64_t length() const { return filled; }
};

AttentionLayout layout_from_positions(const at::Tensor& position_ids);
// The same for one row [1, T] from its positions on the host, so that a forward on the GPU never
// reads a device tensor back to find its samples.
AttentionLayout layout_from_positions(const std::vector<int32_t>& position_ids);

// Stays on the model's device: reading it back waits for the GPU, so the trainer does that once per
// optimizer step.
struct LossOutput {
  at::Tensor loss_sum;  // scalar, differentiable: sum of token cross-entropies
  at::Tensor counts;    // int64 [2]: label tokens counted, argmax == label (token accuracy)
  int64_t num_tokens() const;   // read back (waits for the device)
  int64_t num_correct() const;
};

class DecoderModel {
 public:
  // Loads config.json and the safetensors weights of `model_dir`. Missing, unexpected or misshapen
  // weights are a zt::Error naming the tensor.
  static DecoderModel load(const std::string& model_dir, const ModelOptions& options);

  // [B, T] ids and position ids (restarting at 0 per packed sample) -> final hidden states [B, T, H].
  at::Tensor hidden_states(const at::Tensor& input_ids, const at::Tensor& position_ids, bool training) const;
  // The same with the attention layout given (layout_from_positions of the host row).
  at::Tensor hidden_states(const at::Tensor& input_ids, const at::Tensor& position_ids, bool training,
                           const AttentionLayout& layout) const;
  // Inference with a KV cache: runs `input_ids` [B, t] at `position_ids` [B, t] after what `cache` holds,
  // with `attention_mask` [B, 1, t, cache + t] (true = may attend), appends their keys and values, and
  // returns the final hidden states [B, t, H].
  at::Tensor forward_cached(const at::Tensor& input_ids, const at::Tensor& position_ids,
                            const at::Tensor& attention_mask, KvCache& cache) const;
  // Folds every LoRA update into its base weight (W += B A * scaling, in fp32, then cast) and drops the
  // adapters; the model then computes what it computed with them.
  void merge_lora();
  // Full logits [B, T, V] (inference and tests; training uses loss()).
  at::Tensor logits(const at::Tensor& hidden) const;
  // Cross-entropy of hidden [B, T, H] against unshifted labels [B, T] (-100: ignored), computed over
  // chunks of tokens so the [tokens, vocab] logits never exist at once.
  LossOutput loss(const at::Tensor& hidden, const at::Tensor& labels, int64_t chunk_tokens = 1024) const;

  // Trainable tensors with PEFT names (base_model.model.<hf path>.lora_A.weight, ...) or HF names (full).
  std::vector<std::pair<std::string, at::Tensor>> trainable_parameters() const;
  // Bytes of the tensors the model holds now that do (`trainable`) or do not require a gradient (a tied head
  // counted once; ZeRO-3's dropped layer weights count 0).
  int64_t held_bytes(bool trainable) const;
  // Sets LoRA weights from a PEFT adapter file's tensors (names as PEFT writes them).
  void load_adapter_tensors(const std::vector<std::pair<std::string, at::Tensor>>& tensors);
  // Every LoRA (A, B) pair with its module path, for initialisation and merging.
  std::vector<std::pair<std::string, Linear*>> lora_modules();

  // ZeRO-3: layer weights that are not resident are brought in by `acquire` before a layer runs (forward,
  // or its recompute during backward when `backward` is true) and dropped by `release` after it ran.
  struct LayerHooks {
    std::function<void(size_t layer, bool backward)> acquire;
    std::function<void(size_t layer)> release;
  };
  void set_layer_hooks(LayerHooks hooks) { hooks_ = std::move(hooks); }
  // The slot holding a layer weight by its Hugging Face name (model.layers.N....), for the hooks.
  at::Tensor* layer_weight_slot(const std::string& name);

  const ModelConfig& config() const { return config_; }
  const ModelOptions& options() const { return options_; }

 private:
  // `cache` (with the layer's index) is given only for inference with a KV cache.
  struct CacheSlot {
    KvCache* cache;
    size_t layer;
  };
  at::Tensor layer_forward(const DecoderLayer& layer, const at::Tensor& x, const at::Tensor& cos,
                           const at::Tensor& sin, const AttentionLayout& layout, bool training,
                           std::optional<CacheSlot> cache = std::nullopt) const;
  at::Tensor attention(const DecoderLayer& layer, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                       const AttentionLayout& layout, bool training, std::optional<CacheSlot> cache) const;

  ModelConfig config_;
  ModelOptions options_;
  PackedKernel packed_kernel_ = PackedKernel::kPerSample;  // attention over packed samples (attention.h)
  at::Tensor embed_tokens;  // [V, H]
  at::Tensor final_norm;    // [H]
  at::Tensor lm_head;       // [V, H]; the embedding when tied
  std::vector<DecoderLayer> layers_;
  LayerHooks hooks_;
};

// y = x W^T + b, plus the LoRA update B(A(dropout(x))) * scaling computed in fp32 as PEFT does (one fused
// autograd node, model/lora_linear.h).
at::Tensor linear_forward(const Linear& linear, const at::Tensor& x, bool training);
// The same LoRA linear (same dropout masks) as plain autograd operations: the reference the fused node is
// tested against.
at::Tensor composite_lora_forward(const Linear& linear, const at::Tensor& x, bool training);
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
// RoPE's inverse frequencies [head_dim / 2] in fp32, scaled as config.rope_type says (as transformers).
at::Tensor rope_inverse_frequencies(const ModelConfig& config, at::Device device);
// cos, sin [B, T, head_dim] for the given positions, computed in fp32 and cast to `dtype`.
std::pair<at::Tensor, at::Tensor> rope_tables(const at::Tensor& position_ids, const ModelConfig& config,
                                              at::ScalarType dtype);

}  // namespace zt::model
