// A linear module with its optional LoRA adapter, and the small operations every block uses (RMSNorm, RoPE).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>

#include "model/config.h"

namespace zt::model {

struct Linear {
  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out] or undefined
  at::Tensor lora_a;  // [r, in] or undefined
  at::Tensor lora_b;  // [out, r]
  double scaling = 0;
  double dropout = 0;
  std::string adapter_path;  // where PEFT names lora_a and lora_b (model/family/family.h lora_path); "" without
};

// y = x W^T + b, plus the LoRA update B(A(dropout(x))) * scaling computed in fp32 as PEFT does (one fused
// autograd node, model/lora/lora_linear.h).
at::Tensor linear_forward(const Linear& linear, const at::Tensor& x, bool training);
// The same LoRA linear (same dropout masks) as plain autograd operations: the reference the fused node is
// tested against.
at::Tensor composite_lora_forward(const Linear& linear, const at::Tensor& x, bool training);
// The update a LoRA linear adds to its weight, B A * scaling in fp32 ([out, in]; stacked experts [E, out, in]).
at::Tensor lora_delta(const Linear& linear);
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
// Qwen3-Next's and Qwen3.5's RMSNorm, whose weight is an offset from 1: norm(x) * (1 + w) in fp32, then cast.
at::Tensor zero_centred_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
// The norm `config`'s decoder uses (either of the two above).
at::Tensor decoder_rms_norm(const at::Tensor& x, const at::Tensor& weight, const ModelConfig& config);
// RoPE's inverse frequencies [rotary dims / 2] in fp32, scaled as config.rope_type says (as transformers).
at::Tensor rope_inverse_frequencies(const ModelConfig& config, at::Device device);
// cos, sin [B, T, rotary dims] for the given positions, computed in fp32 and cast to `dtype`.
std::pair<at::Tensor, at::Tensor> rope_tables(const at::Tensor& position_ids, const ModelConfig& config,
                                              at::ScalarType dtype);
// x [B, heads, T, D] rotated by cos/sin [B, T, R] (rotate-half, as transformers' apply_rotary_pos_emb): the first
// R of the D dimensions rotate, the rest pass (partial rotary embeddings when R < D).
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace zt::model
