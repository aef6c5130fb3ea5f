#include "model/mixer/gated_attention.h"

#include "core/torch_api.h"

#include "model/mixer/attention_mixer.h"

namespace zt::model {

GatedAttentionMixer::GatedAttentionMixer(const MixerSpec& spec, std::vector<at::Tensor> vectors,
                                         std::vector<Linear> linears, const ModelConfig& config,
                                         const MixerOptions& options)
    : TokenMixer(spec, std::move(vectors), std::move(linears)),
      num_heads_(config.num_heads), num_kv_heads_(config.num_kv_heads), head_dim_(config.head_dim),
      eps_(config.rms_norm_eps), window_(spec.sliding_window), options_(options),
      q_(&linear(Role::kQuery)), k_(&linear(Role::kKey)), v_(&linear(Role::kValue)), o_(&linear(Role::kOutput)),
      q_norm_(&vector(Role::kQueryNorm)), k_norm_(&vector(Role::kKeyNorm)) {}

std::unique_ptr<MixerState> GatedAttentionMixer::new_state() const { return std::make_unique<KvState>(); }

at::Tensor GatedAttentionMixer::forward(const at::Tensor& x, const MixerContext& context, const CacheStep* cache) const {
  const bool training = context.training;
  const int64_t batch = x.size(0), length = x.size(1), D = head_dim_;
  // Per head: D query values, then D gate values.
  const at::Tensor query_and_gate = linear_forward(*q_, x, training).view({batch, length, num_heads_, 2 * D});
  at::Tensor q = query_and_gate.narrow(-1, 0, D);
  const at::Tensor gate = query_and_gate.narrow(-1, D, D).reshape({batch, length, num_heads_ * D});
  at::Tensor k = linear_forward(*k_, x, training).view({batch, length, num_kv_heads_, D});
  at::Tensor v = linear_forward(*v_, x, training).view({batch, length, num_kv_heads_, D});
  q = zero_centred_rms_norm(q, *q_norm_, eps_);
  k = zero_centred_rms_norm(k, *k_norm_, eps_);
  q = apply_rope(q.transpose(1, 2), context.cos, context.sin);
  k = apply_rope(k.transpose(1, 2), context.cos, context.sin);
  at::Tensor out = attend(q, k, v.transpose(1, 2), context, cache, window_, options_);
  out = out.transpose(1, 2).reshape({batch, length, num_heads_ * D}) * at::sigmoid(gate);
  return linear_forward(*o_, out, training);
}

}  // namespace zt::model
