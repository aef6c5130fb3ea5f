// Causal self-attention with grouped-query heads and RoPE, as Llama, Mistral, Qwen2 and Qwen3 have it:
// optional biases, optional per-head RMSNorm on q and k before RoPE (Qwen3), an optional sliding window.
// Packed samples never see each other (model/attention.h); its generation state is the KV cache.
#pragma once

#include "model/block.h"

namespace zt::model {

// Keys and values of the tokens seen so far: [B, kv_heads, capacity, head_dim] each, filled in place (no copy
// per generated token), grown past the capacity.
struct KvState final : MixerState {
  at::Tensor keys, values;
};

// The attention both attention mixers run: q [B, heads, T, D], k and v [B, kv_heads, T, D] (q and k rotated),
// heads a multiple of kv_heads. With `cache`, k and v are appended to its KvState first and the queries see what
// it holds. Causal within each segment of the context's layout (or its explicit mask), the last `window` keys
// when window > 0, with the options' implementation. Returns [B, heads, T, D].
at::Tensor attend(at::Tensor q, at::Tensor k, at::Tensor v, const MixerContext& context, const CacheStep* cache,
                  int64_t window, const MixerOptions& options);

class AttentionMixer final : public TokenMixer {
 public:
  AttentionMixer(const MixerSpec& spec, std::vector<at::Tensor> vectors, std::vector<Linear> linears,
                 const ModelConfig& config, const MixerOptions& options);
  at::Tensor forward(const at::Tensor& x, const MixerContext& context, const CacheStep* cache) const override;
  std::unique_ptr<MixerState> new_state() const override { return std::make_unique<KvState>(); }

 private:
  int64_t num_heads_, num_kv_heads_, head_dim_;
  double eps_;
  int64_t window_;
  MixerOptions options_;
  const Linear* q_;
  const Linear* k_;
  const Linear* v_;
  const Linear* o_;
  const at::Tensor* q_norm_;
  const at::Tensor* k_norm_;
};

}  // namespace zt::model
