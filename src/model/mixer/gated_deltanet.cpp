#include "model/mixer/gated_deltanet.h"

#include "core/torch_api.h"

#include <cmath>
#include <limits>

#include "core/check.h"

namespace zt::model {
namespace {

// fla's and transformers' L2 normalisation (the epsilon inside the root).
at::Tensor l2_normalise(const at::Tensor& x) { return x * at::rsqrt((x * x).sum(-1, true) + 1e-6); }

// [B, T, H, D] -> [B, H, T, D] fp32 (and [B, T, H] -> [B, H, T]); q and k L2-normalised, q scaled.
struct RuleInputs {
  at::Tensor q, k, v, g, beta;
};
RuleInputs rule_inputs(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& g,
                       const at::Tensor& beta) {
  auto heads_first = [](const at::Tensor& t) { return t.transpose(1, 2).to(at::kFloat).contiguous(); };
  RuleInputs in{l2_normalise(heads_first(q)), l2_normalise(heads_first(k)), heads_first(v), heads_first(g),
                heads_first(beta)};
  in.q = in.q * (1.0 / std::sqrt(static_cast<double>(q.size(-1))));
  return in;
}

at::Tensor initial_state(const at::Tensor& initial, const RuleInputs& in) {
  if (initial.defined()) return initial.to(at::kFloat);
  return at::zeros({in.k.size(0), in.k.size(1), in.k.size(3), in.v.size(3)}, in.v.options());
}

// Where each sample of a packed batch sits: `gather` lists, for every sample position [samples, longest], the
// flat row position it reads (rows * length: a zero row, for the tail of a shorter sample); `scatter` lists,
// for every flat row position, where it sits among the samples.
struct SampleIndex {
  at::Tensor gather, scatter;
  int64_t samples = 0, longest = 0;
};
SampleIndex sample_index(const AttentionLayout& layout, int64_t length, at::Device device) {
  SampleIndex index;
  for (const auto& row : layout.segments)
    for (const auto& [start, size] : row) {
      ++index.samples;
      index.longest = std::max(index.longest, size);
    }
  const int64_t rows = static_cast<int64_t>(layout.segments.size());
  std::vector<int64_t> gather(static_cast<size_t>(index.samples * index.longest), rows * length);
  std::vector<int64_t> scatter(static_cast<size_t>(rows * length), 0);
  int64_t sample = 0;
  for (int64_t b = 0; b < rows; ++b)
    for (const auto& [start, size] : layout.segments[static_cast<size_t>(b)]) {
      for (int64_t j = 0; j < size; ++j) {
        gather[static_cast<size_t>(sample * index.longest + j)] = b * length + start + j;
        scatter[static_cast<size_t>(b * length + start + j)] = sample * index.longest + j;
      }
      ++sample;
    }
  index.gather = at::tensor(gather, at::kLong).to(device);
  index.scatter = at::tensor(scatter, at::kLong).to(device);
  return index;
}

// t [B, T, ...] -> [samples, longest, ...] (zeros past a sample's end).
at::Tensor to_samples(const at::Tensor& t, const SampleIndex& index) {
  std::vector<int64_t> flat = t.sizes().vec();
  const int64_t rows = flat[0] * flat[1];
  flat.erase(flat.begin());
  flat[0] = rows;
  at::Tensor rows_and_zero = at::cat({t.reshape(flat), at::zeros_like(t.reshape(flat).narrow(0, 0, 1))}, 0);
  std::vector<int64_t> shape = t.sizes().vec();
  shape[0] = index.samples;
  shape[1] = index.longest;
  return rows_and_zero.index_select(0, index.gather).view(shape);
}

// u [samples, longest, ...] -> [B, T, ...].
at::Tensor from_samples(const at::Tensor& u, int64_t batch, int64_t length, const SampleIndex& index) {
  std::vector<int64_t> flat = u.sizes().vec();
  flat.erase(flat.begin());
  flat[0] = index.samples * index.longest;
  std::vector<int64_t> shape = u.sizes().vec();
  shape[0] = batch;
  shape[1] = length;
  return u.reshape(flat).index_select(0, index.scatter).view(shape);
}

}  // namespace

at::Tensor chunk_gated_delta_rule(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& g,
                                  const at::Tensor& beta, const at::Tensor& initial, at::Tensor* final_state,
                                  int64_t chunk) {
  RuleInputs in = rule_inputs(q, k, v, g, beta);
  const int64_t batch = in.k.size(0), heads = in.k.size(1), length = in.k.size(2);
  const int64_t pad = (chunk - length % chunk) % chunk, chunks = (length + pad) / chunk;
  auto chunked = [&](const at::Tensor& t) {  // [B, H, T, D] -> [B, H, chunks, chunk, D]
    return at::constant_pad_nd(t, {0, 0, 0, pad}).view({batch, heads, chunks, chunk, t.size(-1)});
  };
  const at::Tensor decay = at::constant_pad_nd(in.g, {0, pad}).view({batch, heads, chunks, chunk});
  const at::Tensor strength = at::constant_pad_nd(in.beta, {0, pad}).view({batch, heads, chunks, chunk}).unsqueeze(-1);
  at::Tensor query = chunked(in.q), key = chunked(in.k);
  const at::Tensor value = chunked(in.v);
  const at::Tensor k_beta = key * strength, v_beta = value * strength;
  // Within a chunk: the log decay from its start to each position, and between any two positions (i after j).
  const at::Tensor cumulative = decay.cumsum(-1);
  const at::Tensor upper = at::ones({chunk, chunk}, at::TensorOptions().dtype(at::kBool).device(q.device())).triu(1);
  const at::Tensor pairwise = (cumulative.unsqueeze(-1) - cumulative.unsqueeze(-2))
                                  .masked_fill(upper, -std::numeric_limits<float>::infinity())
                                  .exp();
  // The delta rule's writes within a chunk as one triangular system (the UT transform): (I + L) u = v beta,
  // L the strictly lower part of (k beta k^T) * decay.
  const at::Tensor system = at::matmul(k_beta, key.transpose(-1, -2)) * pairwise;
  const at::Tensor intra = at::matmul(query, key.transpose(-1, -2)) * pairwise;
  const at::Tensor fresh = at::linalg_solve_triangular(system, v_beta, /*upper=*/false, /*left=*/true, /*unitriangular=*/true);
  const at::Tensor reads = at::linalg_solve_triangular(system, k_beta * cumulative.exp().unsqueeze(-1), false, true, true);
  const at::Tensor last = cumulative.narrow(-1, chunk - 1, 1);
  query = query * cumulative.exp().unsqueeze(-1);
  key = key * (last - cumulative).exp().unsqueeze(-1);
  const at::Tensor chunk_decay = last.exp().unsqueeze(-1);  // [B, H, chunks, 1, 1]
  at::Tensor state = initial_state(initial, in);
  std::vector<at::Tensor> outputs;
  outputs.reserve(static_cast<size_t>(chunks));
  for (int64_t i = 0; i < chunks; ++i) {
    const at::Tensor written = fresh.select(2, i) - at::matmul(reads.select(2, i), state);
    outputs.push_back(at::matmul(query.select(2, i), state) + at::matmul(intra.select(2, i), written));
    state = state * chunk_decay.select(2, i) + at::matmul(key.select(2, i).transpose(-1, -2), written);
  }
  if (final_state != nullptr) *final_state = state;
  at::Tensor out = at::stack(outputs, 2).view({batch, heads, chunks * chunk, in.v.size(-1)}).narrow(2, 0, length);
  return out.transpose(1, 2).contiguous().to(v.scalar_type());
}

at::Tensor recurrent_gated_delta_rule(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& g,
                                      const at::Tensor& beta, const at::Tensor& initial, at::Tensor* final_state) {
  RuleInputs in = rule_inputs(q, k, v, g, beta);
  at::Tensor state = initial_state(initial, in);
  std::vector<at::Tensor> outputs;
  for (int64_t t = 0; t < in.k.size(2); ++t) {
    const at::Tensor q_t = in.q.select(2, t), k_t = in.k.select(2, t), v_t = in.v.select(2, t);
    state = state * in.g.select(2, t).exp().unsqueeze(-1).unsqueeze(-1);
    const at::Tensor remembered = (state * k_t.unsqueeze(-1)).sum(-2);
    const at::Tensor delta = (v_t - remembered) * in.beta.select(2, t).unsqueeze(-1);
    state = state + k_t.unsqueeze(-1) * delta.unsqueeze(-2);
    outputs.push_back((state * q_t.unsqueeze(-1)).sum(-2));
  }
  if (final_state != nullptr) *final_state = state;
  return at::stack(outputs, 2).transpose(1, 2).contiguous().to(v.scalar_type());
}

GatedDeltaNetMixer::GatedDeltaNetMixer(const MixerSpec& spec, std::vector<at::Tensor> vectors,
                                       std::vector<Linear> linears, const ModelConfig& config)
    : TokenMixer(spec, std::move(vectors), std::move(linears)),
      key_heads_(config.linear_num_key_heads), value_heads_(config.linear_num_value_heads),
      key_dim_(config.linear_key_head_dim), value_dim_(config.linear_value_head_dim),
      kernel_(config.linear_conv_kernel), eps_(config.rms_norm_eps),
      qkv_(&linear(Role::kMixedQkv)), z_(&linear(Role::kOutputGate)), b_(&linear(Role::kWriteStrength)),
      a_(&linear(Role::kDecayInput)), out_(&linear(Role::kOutput)), conv_(&vector(Role::kConv)),
      a_log_(&vector(Role::kDecayLogScale)), dt_bias_(&vector(Role::kDecayBias)), norm_(&vector(Role::kGatedNorm)) {
  ZT_CHECK(key_heads_ > 0 && value_heads_ % key_heads_ == 0,
           "Gated DeltaNet: " << value_heads_ << " value heads are not a multiple of " << key_heads_ << " key heads");
}

at::Tensor GatedDeltaNetMixer::convolve(const at::Tensor& mixed, DeltaNetState* state) const {
  const int64_t channels = mixed.size(-1), length = mixed.size(1);
  at::Tensor input = mixed.transpose(1, 2);  // [N, channels, T]
  at::Tensor out;
  if (state == nullptr) {
    const std::vector<int64_t> one{1}, padding{kernel_ - 1};
    out = at::conv1d(input, *conv_, std::nullopt, one, padding, one, channels).narrow(-1, 0, length);
  } else {
    if (!state->conv.defined()) state->conv = at::zeros({input.size(0), channels, kernel_ - 1}, input.options());
    const at::Tensor window = at::cat({state->conv, input}, -1);
    const std::vector<int64_t> one{1}, none{0};
    out = at::conv1d(window, *conv_, std::nullopt, one, none, one, channels);
    state->conv = window.narrow(-1, window.size(-1) - (kernel_ - 1), kernel_ - 1).contiguous();
  }
  return at::silu(out).transpose(1, 2);
}

at::Tensor GatedDeltaNetMixer::delta_rule(const at::Tensor& convolved, const at::Tensor& g, const at::Tensor& beta,
                                          DeltaNetState* state) const {
  const int64_t rows = convolved.size(0), length = convolved.size(1), key_size = key_heads_ * key_dim_;
  at::Tensor q = convolved.narrow(-1, 0, key_size).reshape({rows, length, key_heads_, key_dim_});
  at::Tensor k = convolved.narrow(-1, key_size, key_size).reshape({rows, length, key_heads_, key_dim_});
  const at::Tensor v = convolved.narrow(-1, 2 * key_size, value_heads_ * value_dim_)
                           .reshape({rows, length, value_heads_, value_dim_});
  if (const int64_t repeats = value_heads_ / key_heads_; repeats > 1) {
    q = q.repeat_interleave(repeats, 2);
    k = k.repeat_interleave(repeats, 2);
  }
  const at::Tensor initial = state != nullptr ? state->recurrent : at::Tensor();
  at::Tensor* final_state = state != nullptr ? &state->recurrent : nullptr;
  if (state != nullptr && length == 1) return recurrent_gated_delta_rule(q, k, v, g, beta, initial, final_state);
  return chunk_gated_delta_rule(q, k, v, g, beta, initial, final_state);
}

at::Tensor GatedDeltaNetMixer::forward(const at::Tensor& x, const MixerContext& context, const CacheStep* cache) const {
  const bool training = context.training;
  const AttentionLayout& layout = context.layout;
  const int64_t batch = x.size(0), length = x.size(1);
  at::Tensor input = x;
  if (layout.mask.defined()) {
    // Inference over left-padded rows: the padding's inputs are zeroed (as transformers does), so the conv and the
    // state see nothing of them. The last query of a row is a real token; the keys it sees are the real ones.
    const int64_t start = layout.mask.size(-1) - length;
    const at::Tensor real = layout.mask.select(1, 0).select(1, length - 1).narrow(-1, start, length);
    input = input * real.unsqueeze(-1).to(input.scalar_type());
  }
  const at::Tensor mixed = linear_forward(*qkv_, input, training);
  const at::Tensor z = linear_forward(*z_, input, training);
  const at::Tensor beta = at::sigmoid(linear_forward(*b_, input, training));
  const at::Tensor g = -a_log_->to(at::kFloat).exp() * at::softplus(linear_forward(*a_, input, training).to(at::kFloat) + *dt_bias_);
  at::Tensor core;  // [B, T, value heads, d_v]
  if (cache != nullptr) {
    DeltaNetState& state = static_cast<DeltaNetState&>(*cache->state);
    core = delta_rule(convolve(mixed, &state), g, beta, &state);
  } else {
    bool whole_rows = layout.single_segment;
    if (!whole_rows) {
      whole_rows = true;
      for (const auto& row : layout.segments) whole_rows = whole_rows && row.size() == 1;
    }
    if (whole_rows) {
      core = delta_rule(convolve(mixed, nullptr), g, beta, nullptr);
    } else {
      // Each packed sample on its own: the conv window and the state restart at its first token.
      const SampleIndex index = sample_index(layout, length, x.device());
      const at::Tensor sample_core =
          delta_rule(convolve(to_samples(mixed, index), nullptr), to_samples(g, index), to_samples(beta, index), nullptr);
      core = from_samples(sample_core, batch, length, index);
    }
  }
  // The gated RMSNorm per head: norm(o) in fp32, cast, times w, times silu(z) in fp32.
  const at::Tensor o = core.to(at::kFloat);
  const at::Tensor normed = (o * at::rsqrt(o.pow(2).mean(-1, true) + eps_)).to(x.scalar_type()) * *norm_;
  const at::Tensor gate = at::silu(z.view({batch, length, value_heads_, value_dim_}).to(at::kFloat));
  const at::Tensor gated = (normed * gate).to(x.scalar_type()).reshape({batch, length, value_heads_ * value_dim_});
  return linear_forward(*out_, gated, training);
}

}  // namespace zt::model
