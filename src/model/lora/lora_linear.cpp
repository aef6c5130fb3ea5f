#include "model/lora/lora_linear.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include "core/torch_api.h"

#include <cmath>
#include <mutex>
#include <optional>

#include "core/check.h"
#include "model/decoder.h"
#include "model/lora/dropout_hash.h"

#ifdef ZTUNE_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "model/lora/dropout_kernel.h"
#endif

namespace zt::model {
namespace {

// Element i is kept when its 32-bit draw is at least p * 2^32.
uint32_t keep_threshold(double p) { return static_cast<uint32_t>(std::ceil(p * 4294967296.0)); }

void check_probability(double p) {
  ZT_REQUIRE(p >= 0 && p < 1, "dropout probability must be in [0, 1), got " << p);
}

// The fp32 loop (the one training runs), compiled for AVX-512, AVX2 and a baseline, chosen at load time.
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("tree-vectorize"))) void dropout_span(
    const float* in, float* out, int64_t begin, int64_t end, uint32_t key_low, uint32_t key_high,
    uint32_t threshold, float scale) {
  for (int64_t i = begin; i < end; ++i)
    out[i] = dropout_draw(static_cast<uint32_t>(i), key_low, key_high) >= threshold ? in[i] * scale : 0.0f;
}

}  // namespace

uint64_t draw_dropout_seed() {
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return at::check_generator<at::CPUGeneratorImpl>(generator)->random64();
}

at::Tensor seeded_dropout_reference(const at::Tensor& x, double p, uint64_t seed) {
  check_probability(p);
  ZT_REQUIRE(x.numel() <= (int64_t{1} << 32), "seeded_dropout: tensors are limited to 2^32 elements");
  // draw() in int64 tensors holding 32-bit values: every product is reduced mod 2^32, so the signed
  // wrap-around of the 64-bit product never reaches the bits that are kept.
  const int64_t low = 0xFFFFFFFF;
  auto wrap = [&](const at::Tensor& z) { return at::bitwise_and(z, low); };
  auto mix = [&](at::Tensor h) {
    h = at::bitwise_xor(h, at::bitwise_right_shift(h, 16));
    h = wrap(h * static_cast<int64_t>(kDropoutMulA));
    h = at::bitwise_xor(h, at::bitwise_right_shift(h, 15));
    h = wrap(h * static_cast<int64_t>(kDropoutMulB));
    return at::bitwise_xor(h, at::bitwise_right_shift(h, 16));
  };
  at::Tensor index = at::arange(x.numel(), x.options().dtype(at::kLong));
  at::Tensor h = wrap(wrap(index * static_cast<int64_t>(kDropoutWeyl)) + static_cast<int64_t>(seed & 0xFFFFFFFFu));
  h = mix(at::bitwise_xor(mix(h), static_cast<int64_t>(seed >> 32)));
  at::Tensor keep = h >= static_cast<int64_t>(keep_threshold(p));
  return (x.contiguous().view(-1) * keep.to(x.scalar_type()) * (1.0 / (1.0 - p))).view(x.sizes());
}

at::Tensor seeded_dropout(const at::Tensor& x, double p, uint64_t seed) {
  check_probability(p);
#ifdef ZTUNE_WITH_CUDA
  const at::ScalarType type = x.scalar_type();
  if (x.is_cuda() && (type == at::kFloat || type == at::kBFloat16 || type == at::kHalf)) {
    ZT_REQUIRE(x.numel() <= (int64_t{1} << 32), "seeded_dropout: tensors are limited to 2^32 elements");
    const c10::cuda::CUDAGuard on_device(x.device());
    at::Tensor input = x.contiguous();
    at::Tensor out = at::empty_like(input);
    const DropoutElement element = type == at::kFloat      ? DropoutElement::kFloat
                                   : type == at::kBFloat16 ? DropoutElement::kBFloat16
                                                           : DropoutElement::kHalf;
    launch_seeded_dropout(input.const_data_ptr(), out.mutable_data_ptr(), input.numel(), element,
                          static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), keep_threshold(p),
                          static_cast<float>(1.0 / (1.0 - p)), c10::cuda::getCurrentCUDAStream(x.get_device()).stream());
    return out;
  }
#endif
  if (!x.device().is_cpu()) return seeded_dropout_reference(x, p, seed);
  at::Tensor input = x.contiguous();
  at::Tensor out = at::empty_like(input);
  ZT_REQUIRE(input.numel() <= (int64_t{1} << 32), "seeded_dropout: tensors are limited to 2^32 elements");
  const uint32_t threshold = keep_threshold(p), key_low = static_cast<uint32_t>(seed),
                 key_high = static_cast<uint32_t>(seed >> 32);
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  if (input.scalar_type() == at::kFloat) {
    const float* in = input.const_data_ptr<float>();
    float* dst = out.mutable_data_ptr<float>();
    at::parallel_for(0, input.numel(), 65536, [&](int64_t begin, int64_t end) {
      dropout_span(in, dst, begin, end, key_low, key_high, threshold, scale);
    });
    return out;
  }
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, input.scalar_type(), "seeded_dropout", [&] {
    const scalar_t* in = input.const_data_ptr<scalar_t>();
    scalar_t* dst = out.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, input.numel(), 65536, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        dst[i] = dropout_draw(static_cast<uint32_t>(i), key_low, key_high) >= threshold
                     ? static_cast<scalar_t>(static_cast<float>(in[i]) * scale)
                     : static_cast<scalar_t>(0);
    });
  });
  return out;
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class LoraLinearFunction : public torch::autograd::Function<LoraLinearFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const std::optional<at::Tensor>& bias, const at::Tensor& lora_a, const at::Tensor& lora_b, double scaling, double dropout,
                            int64_t seed) {
    std::vector<int64_t> out_shape = x.sizes().vec();
    out_shape.back() = weight.size(0);
    at::Tensor x2 = x.reshape({-1, x.size(-1)});
    at::Tensor out = bias.has_value() ? at::addmm(*bias, x2, weight.t()) : at::mm(x2, weight.t());
    at::Tensor a = at::mm(lora_input(x2, dropout, seed), lora_a.t());  // [N, r], fp32
    if (out.scalar_type() == at::kFloat)
      out.addmm_(a, lora_b.t(), 1.0, scaling);
    else  // the update stays fp32 until it is added, as PEFT adds it
      out = (out + at::mm(a, lora_b.t()).mul_(scaling)).to(out.scalar_type());
    ctx->save_for_backward({x, weight, lora_a, lora_b, a});
    ctx->saved_data["scaling"] = scaling;
    ctx->saved_data["dropout"] = dropout;
    ctx->saved_data["seed"] = seed;
    return out.view(out_shape);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &weight = saved[1], &lora_a = saved[2], &lora_b = saved[3], &a = saved[4];
    const double scaling = ctx->saved_data["scaling"].toDouble(), dropout = ctx->saved_data["dropout"].toDouble();
    const int64_t seed = ctx->saved_data["seed"].toInt();
    at::Tensor x2 = x.reshape({-1, x.size(-1)});
    at::Tensor grad = grad_outputs[0].reshape({-1, weight.size(0)});
    at::Tensor grad_fp32 = grad.to(at::kFloat);
    at::Tensor grad_b = at::mm(grad_fp32.t(), a).mul_(scaling);                // [out, r]
    at::Tensor grad_a_side = at::mm(grad_fp32, lora_b);                        // [N, r]
    at::Tensor grad_a = at::mm(grad_a_side.t(), lora_input(x2, dropout, seed)).mul_(scaling);  // [r, in]
    at::Tensor grad_x;
    if (ctx->needs_input_grad(0)) {
      // Through the adapter: (grad B A) scaled, masked by the same dropout; through the base: grad W.
      at::Tensor through_lora = at::mm(grad_a_side, lora_a);
      through_lora = dropout > 0 ? seeded_dropout(through_lora, dropout, static_cast<uint64_t>(seed)).mul_(scaling)
                                 : through_lora.mul_(scaling);
      if (grad.scalar_type() == at::kFloat)
        grad_x = through_lora.addmm_(grad, weight);
      else
        grad_x = at::mm(grad, weight) + through_lora.to(grad.scalar_type());
      grad_x = grad_x.view(x.sizes());
    }
    return {grad_x, at::Tensor(), at::Tensor(), grad_a, grad_b, at::Tensor(), at::Tensor(), at::Tensor()};
  }

 private:
  static at::Tensor lora_input(const at::Tensor& x2, double dropout, int64_t seed) {
    at::Tensor input = x2.to(at::kFloat);
    return dropout > 0 ? seeded_dropout(input, dropout, static_cast<uint64_t>(seed)) : input;
  }
};

}  // namespace

at::Tensor lora_linear(const Linear& linear, const at::Tensor& x, bool training) {
  ZT_CHECK(linear.lora_a.defined(), "lora_linear needs an adapter");
  ZT_CHECK(!linear.weight.requires_grad() && !(linear.bias.defined() && linear.bias.requires_grad()),
           "lora_linear expects a frozen base layer");
  const double dropout = training ? linear.dropout : 0.0;
  const int64_t seed = dropout > 0 ? static_cast<int64_t>(draw_dropout_seed()) : 0;
  // The frozen bias travels as a non-differentiable argument (an undefined tensor cannot be an input).
  std::optional<at::Tensor> bias;
  if (linear.bias.defined()) bias = linear.bias;
  return LoraLinearFunction::apply(x, linear.weight, bias, linear.lora_a, linear.lora_b, linear.scaling,
                                   dropout, seed);
}

}  // namespace zt::model
