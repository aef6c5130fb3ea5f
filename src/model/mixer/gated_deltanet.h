// Gated DeltaNet, the linear-attention mixer of Qwen3.5 and Qwen3-Next (transformers' Qwen3_5GatedDeltaNet):
// q, k and v projected together (in_proj_qkv) and passed through a causal depthwise conv1d (kernel 4, SiLU);
// key heads repeated up to the value heads; q and k L2-normalised, q scaled by 1/sqrt(d_k); per head a state
// S [d_k, d_v] that each token decays by exp(g) (g = -exp(A_log) * softplus(a + dt_bias)) and writes with the
// delta rule at strength beta = sigmoid(b); the output read by q, normalised by a gated RMSNorm
// (norm(o) * w * silu(z)) and projected by out_proj.
//
// A packed row's samples never see each other: the conv window and the state restart at every sample boundary
// (the layout's segments, from packing's cu_seqlens). With a cache, the conv's last inputs and the state carry
// over from one forward to the next, so a generated token costs the same whatever came before.
#pragma once

#include "model/block.h"

namespace zt::model {

// What a Gated DeltaNet layer carries across generation steps.
struct DeltaNetState final : MixerState {
  at::Tensor conv;       // [B, channels, kernel - 1]: the conv's last inputs
  at::Tensor recurrent;  // [B, value heads, d_k, d_v], fp32
};

// The gated delta rule over whole sequences, chunk by chunk (transformers' torch_chunk_gated_delta_rule, fla's
// chunk_gated_delta_rule): q, k [B, T, H, d_k] (L2-normalised here, q then scaled by 1/sqrt(d_k)), v [B, T, H, d_v],
// g and beta [B, T, H]; `initial` [B, H, d_k, d_v] or undefined (zeros). Computed in fp32; returns [B, T, H, d_v]
// in v's dtype, and the last state in `final_state` when given. Differentiable (libtorch autograd).
at::Tensor chunk_gated_delta_rule(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& g,
                                  const at::Tensor& beta, const at::Tensor& initial, at::Tensor* final_state,
                                  int64_t chunk = 64);
// The same token by token (transformers' torch_recurrent_gated_delta_rule): what a cached generation step runs.
at::Tensor recurrent_gated_delta_rule(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& g,
                                      const at::Tensor& beta, const at::Tensor& initial, at::Tensor* final_state);

class GatedDeltaNetMixer final : public TokenMixer {
 public:
  GatedDeltaNetMixer(const MixerSpec& spec, std::vector<at::Tensor> vectors, std::vector<Linear> linears,
                     const ModelConfig& config);
  at::Tensor forward(const at::Tensor& x, const MixerContext& context, const CacheStep* cache) const override;
  std::unique_ptr<MixerState> new_state() const override { return std::make_unique<DeltaNetState>(); }

 private:
  // Over rows that are each one sequence (or continue `state`'s): the causal conv of mixed [N, T, channels], SiLU;
  // then the delta rule of its q, k, v with g and beta [N, T, H] -> [N, T, H, d_v]. With a state, each reads its
  // part and leaves it updated.
  at::Tensor convolve(const at::Tensor& mixed, DeltaNetState* state) const;
  at::Tensor delta_rule(const at::Tensor& convolved, const at::Tensor& g, const at::Tensor& beta,
                        DeltaNetState* state) const;
  int64_t key_heads_, value_heads_, key_dim_, value_dim_, kernel_;
  double eps_;
  const Linear* qkv_;
  const Linear* z_;
  const Linear* b_;
  const Linear* a_;
  const Linear* out_;
  const at::Tensor* conv_;
  const at::Tensor* a_log_;
  const at::Tensor* dt_bias_;
  const at::Tensor* norm_;
};

}  // namespace zt::model
