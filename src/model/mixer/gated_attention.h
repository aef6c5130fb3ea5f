// Full attention with an output gate, as Qwen3.5 and Qwen3-Next have it: q_proj is twice as wide and gives, per
// head, the query then a gate; the attention output is multiplied by sigmoid(gate) before o_proj. Per-head
// zero-centred RMSNorms on q and k, RoPE over the first rotary dimensions of a head (partial_rotary_factor),
// grouped-query heads; packing, windows and the KV cache as attention_mixer.h.
#pragma once

#include "model/block.h"

namespace zt::model {

class GatedAttentionMixer final : public TokenMixer {
 public:
  GatedAttentionMixer(const MixerSpec& spec, std::vector<at::Tensor> vectors, std::vector<Linear> linears,
                      const ModelConfig& config, const MixerOptions& options);
  at::Tensor forward(const at::Tensor& x, const MixerContext& context, const CacheStep* cache) const override;
  std::unique_ptr<MixerState> new_state() const override;

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
