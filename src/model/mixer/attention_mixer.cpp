#include "model/mixer/attention_mixer.h"

#include "core/torch_api.h"

#include <cmath>
#include <limits>

namespace zt::model {
namespace {

// The boolean mask equivalent of a segment layout, for the eager path.
at::Tensor packed_causal_mask_from(const AttentionLayout& layout, int64_t length, at::Device device) {
  at::Tensor segment = at::zeros({static_cast<int64_t>(layout.segments.size()), length}, at::kLong);
  for (size_t b = 0; b < layout.segments.size(); ++b) {
    int64_t id = 0;
    for (auto [start, size] : layout.segments[b]) segment[static_cast<int64_t>(b)].narrow(0, start, size).fill_(id++);
  }
  segment = segment.to(device);
  at::Tensor causal = at::ones({length, length}, at::TensorOptions().dtype(at::kBool).device(device)).tril();
  return ((segment.unsqueeze(-1) == segment.unsqueeze(-2)) & causal).unsqueeze(1);
}

}  // namespace

at::Tensor attend(at::Tensor q, at::Tensor k, at::Tensor v, const MixerContext& context, const CacheStep* cache,
                  int64_t window, const MixerOptions& options) {
  const AttentionLayout& layout = context.layout;
  const int64_t batch = q.size(0), length = q.size(2), head_dim = q.size(3);
  if (cache != nullptr) {
    KvState& kv = static_cast<KvState&>(*cache->state);
    const int64_t start = cache->start, end = start + length;
    for (auto [slot, fresh] : {std::make_pair(&kv.keys, &k), std::make_pair(&kv.values, &v)}) {
      if (!slot->defined() || slot->size(2) < end) {  // first use, or past the capacity: (re)allocate
        const int64_t capacity = std::max({end, cache->capacity, slot->defined() ? 2 * slot->size(2) : int64_t{0}});
        at::Tensor grown = at::empty({batch, fresh->size(1), capacity, head_dim}, fresh->options());
        if (start > 0) grown.narrow(2, 0, start).copy_(slot->narrow(2, 0, start));
        *slot = grown;
      }
      slot->narrow(2, start, length).copy_(*fresh);
      *fresh = slot->narrow(2, 0, end);
    }
  }
  // Sliding-window layers (Mistral, Qwen2 with use_sliding_window) see only their last `window` keys.
  const bool windowed = window > 0 && k.size(2) > window;
  at::Tensor out;
  if (options.attn_impl == "eager") {
    int64_t groups = q.size(1) / k.size(1);
    if (groups > 1) {  // query head h reads kv head h / groups
      k = k.repeat_interleave(groups, 1);
      v = v.repeat_interleave(groups, 1);
    }
    at::Tensor mask = layout.mask.defined() ? layout.mask : packed_causal_mask_from(layout, q.size(2), q.device());
    if (windowed) mask = mask & window_band(q.size(2), k.size(2), window, q.device());
    at::Tensor scores = at::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(head_dim));
    scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity());
    out = at::matmul(at::softmax(scores, -1, at::kFloat).to(q.scalar_type()), v);
  } else if (layout.mask.defined()) {
    const at::Tensor mask = windowed ? layout.mask & window_band(q.size(2), k.size(2), window, q.device()) : layout.mask;
    out = at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, std::nullopt, /*enable_gqa=*/true);
  } else if (layout.single_segment && windowed) {
    const at::Tensor mask = window_band(q.size(2), k.size(2), window, q.device()).tril();
    out = at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, std::nullopt, true);
  } else if (layout.single_segment) {
    // enable_gqa: query head h reads kv head h / (heads / kv_heads) without copying k and v.
    out = at::scaled_dot_product_attention(q, k, v, {}, 0.0, true, std::nullopt, true);
  } else {
    out = packed_causal_attention(q, k, v, layout, options.packed_kernel, window);
  }
  return out;
}

AttentionMixer::AttentionMixer(const MixerSpec& spec, std::vector<at::Tensor> vectors, std::vector<Linear> linears,
                               const ModelConfig& config, const MixerOptions& options)
    : TokenMixer(spec, std::move(vectors), std::move(linears)),
      num_heads_(config.num_heads), num_kv_heads_(config.num_kv_heads), head_dim_(config.head_dim),
      eps_(config.rms_norm_eps), window_(spec.sliding_window), options_(options),
      q_(&linear(Role::kQuery)), k_(&linear(Role::kKey)), v_(&linear(Role::kValue)), o_(&linear(Role::kOutput)),
      q_norm_(&vector(Role::kQueryNorm)), k_norm_(&vector(Role::kKeyNorm)) {}

at::Tensor AttentionMixer::forward(const at::Tensor& x, const MixerContext& context, const CacheStep* cache) const {
  const bool training = context.training;
  const int64_t batch = x.size(0), length = x.size(1), head_dim = head_dim_;
  at::Tensor q = linear_forward(*q_, x, training).view({batch, length, num_heads_, head_dim});
  at::Tensor k = linear_forward(*k_, x, training).view({batch, length, num_kv_heads_, head_dim});
  at::Tensor v = linear_forward(*v_, x, training).view({batch, length, num_kv_heads_, head_dim});
  if (q_norm_->defined()) {
    q = rms_norm(q, *q_norm_, eps_);
    k = rms_norm(k, *k_norm_, eps_);
  }
  q = apply_rope(q.transpose(1, 2), context.cos, context.sin);  // [B, nH, T, D]
  k = apply_rope(k.transpose(1, 2), context.cos, context.sin);  // [B, nKV, T, D]
  at::Tensor out = attend(q, k, v.transpose(1, 2), context, cache, window_, options_);
  out = out.transpose(1, 2).reshape({batch, length, num_heads_ * head_dim});
  return linear_forward(*o_, out, training);
}

}  // namespace zt::model
