#include "model/linear.h"

#include "core/torch_api.h"

#include <cmath>

#include "model/lora/lora_linear.h"

namespace zt::model {

at::Tensor linear_forward(const Linear& linear, const at::Tensor& x, bool training) {
  if (!linear.lora_a.defined()) return at::linear(x, linear.weight, linear.bias);
  return lora_linear(linear, x, training);
}

at::Tensor composite_lora_forward(const Linear& linear, const at::Tensor& x, bool training) {
  at::Tensor out = at::linear(x, linear.weight, linear.bias);
  at::Tensor lora_in = x.to(linear.lora_a.scalar_type());
  if (training && linear.dropout > 0) lora_in = seeded_dropout_reference(lora_in, linear.dropout, draw_dropout_seed());
  at::Tensor update = at::linear(at::linear(lora_in, linear.lora_a), linear.lora_b) * linear.scaling;
  return (out + update).to(out.scalar_type());
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor h = x.to(at::kFloat);
  h = h * at::rsqrt(h.pow(2).mean(-1, true) + eps);
  return weight * h.to(x.scalar_type());
}

at::Tensor zero_centred_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor h = x.to(at::kFloat);
  h = h * at::rsqrt(h.pow(2).mean(-1, true) + eps);
  return (h * (weight.to(at::kFloat) + 1.0)).to(x.scalar_type());
}

at::Tensor decoder_rms_norm(const at::Tensor& x, const at::Tensor& weight, const ModelConfig& config) {
  return config.zero_centred_norms ? zero_centred_rms_norm(x, weight, config.rms_norm_eps)
                                   : rms_norm(x, weight, config.rms_norm_eps);
}

at::Tensor rope_inverse_frequencies(const ModelConfig& config, at::Device device) {
  auto options = at::TensorOptions().dtype(at::kFloat).device(device);
  const int64_t dim = config.rotary_dims();
  at::Tensor inv_freq =
      1.0 / at::pow(config.rope_theta, at::arange(0, dim, 2, options.dtype(at::kLong)).to(at::kFloat) / static_cast<double>(dim));
  if (config.rope_type == "linear") return inv_freq / config.rope_factor;
  if (config.rope_type != "llama3") return inv_freq;
  // Llama-3.1's scaling, step for step as transformers computes it in fp32: long wavelengths divided by the
  // factor, short ones kept, the band between interpolated.
  const double factor = config.rope_factor, low = config.rope_low_freq_factor, high = config.rope_high_freq_factor;
  const double old_context = static_cast<double>(config.rope_original_max_positions);
  const double low_wavelength = old_context / low, high_wavelength = old_context / high;
  const at::Tensor wavelength = 2 * M_PI / inv_freq;
  at::Tensor scaled = at::where(wavelength > low_wavelength, inv_freq / factor, inv_freq);
  const at::Tensor smooth = (old_context / wavelength - low) / (high - low);
  const at::Tensor smoothed = (1 - smooth) * scaled / factor + smooth * scaled;
  const at::Tensor medium = (wavelength < high_wavelength).logical_not() & (wavelength > low_wavelength).logical_not();
  return at::where(medium, smoothed, scaled);
}

std::pair<at::Tensor, at::Tensor> rope_tables(const at::Tensor& position_ids, const ModelConfig& config,
                                              at::ScalarType dtype) {
  const at::Tensor inv_freq = rope_inverse_frequencies(config, position_ids.device());
  at::Tensor angles = position_ids.to(at::kFloat).unsqueeze(-1) * inv_freq;  // [B, T, D/2]
  at::Tensor emb = at::cat({angles, angles}, -1);                              // [B, T, D]
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

namespace {

at::Tensor rotate_half(const at::Tensor& x) {
  int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

}  // namespace

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  // x [B, heads, T, D]; cos/sin [B, T, D]
  at::Tensor c = cos.unsqueeze(1), s = sin.unsqueeze(1);
  const int64_t rotary = cos.size(-1);
  if (rotary == x.size(-1)) return x * c + rotate_half(x) * s;
  const at::Tensor turned = x.narrow(-1, 0, rotary);
  return at::cat({turned * c + rotate_half(turned) * s, x.narrow(-1, rotary, x.size(-1) - rotary)}, -1);
}

}  // namespace zt::model
