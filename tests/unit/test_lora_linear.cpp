// The fused LoRA linear node against the same computation written as plain autograd operations, and its
// counter-based dropout: the CPU loop equals the tensor-op version, masks repeat for a seed, differ across
// seeds and drop the requested fraction.
#include <gtest/gtest.h>
#include "core/torch_api.h"

#include "core/check.h"
#include "model/decoder.h"
#include "model/lora/lora_linear.h"

namespace {

using namespace zt::model;

Linear make_linear(at::ScalarType dtype, bool bias, double dropout) {
  Linear linear;
  linear.weight = at::randn({24, 40}).to(dtype);
  if (bias) linear.bias = at::randn({24}).to(dtype);
  linear.lora_a = (at::randn({4, 40}) * 0.3).requires_grad_(true);
  linear.lora_b = (at::randn({24, 4}) * 0.3).requires_grad_(true);  // non-zero so every gradient flows
  linear.scaling = 2.5;
  linear.dropout = dropout;
  return linear;
}

struct Result {
  at::Tensor out, grad_x, grad_a, grad_b;
};

Result run(const Linear& linear, const at::Tensor& x_value, const at::Tensor& upstream, bool fused, uint64_t seed) {
  at::Tensor x = x_value.clone().requires_grad_(true);
  at::manual_seed(static_cast<int64_t>(seed));  // both paths draw their dropout seed here
  at::Tensor out = fused ? linear_forward(linear, x, true) : composite_lora_forward(linear, x, true);
  out.backward(upstream);
  Result result{out.detach(), x.grad().clone(), linear.lora_a.grad().clone(), linear.lora_b.grad().clone()};
  linear.lora_a.mutable_grad() = at::Tensor();
  linear.lora_b.mutable_grad() = at::Tensor();
  return result;
}

double max_error(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kFloat) - b.to(at::kFloat)).abs().max().item<double>() /
         std::max(1.0, b.to(at::kFloat).abs().max().item<double>());
}

struct Case {
  at::ScalarType dtype;
  bool bias;
  double dropout;
};

class FusedLora : public ::testing::TestWithParam<Case> {};

// fp32 agrees to rounding; bf16 differs only in where the bf16 roundings fall.
TEST_P(FusedLora, EqualsCompositeForwardAndGradients) {
  const Case c = GetParam();
  at::manual_seed(1);
  Linear linear = make_linear(c.dtype, c.bias, c.dropout);
  at::Tensor x = at::randn({2, 9, 40}).to(c.dtype);
  at::Tensor upstream = at::randn({2, 9, 24}).to(c.dtype);
  Result fused = run(linear, x, upstream, true, 7), composite = run(linear, x, upstream, false, 7);
  const double tolerance = c.dtype == at::kFloat ? 1e-5 : 2e-2;
  EXPECT_EQ(fused.out.scalar_type(), c.dtype);
  EXPECT_EQ(fused.grad_x.scalar_type(), c.dtype);
  EXPECT_LE(max_error(fused.out, composite.out), tolerance);
  EXPECT_LE(max_error(fused.grad_x, composite.grad_x), tolerance);
  EXPECT_LE(max_error(fused.grad_a, composite.grad_a), tolerance);
  EXPECT_LE(max_error(fused.grad_b, composite.grad_b), tolerance);
  if (c.dropout > 0) {  // a different seed gives a different mask, so the check above can tell them apart
    Result other = run(linear, x, upstream, true, 8);
    EXPECT_GT(max_error(other.grad_a, composite.grad_a), 10 * tolerance);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, FusedLora,
                         ::testing::Values(Case{at::kFloat, false, 0.0}, Case{at::kFloat, true, 0.0},
                                           Case{at::kFloat, true, 0.3}, Case{at::kBFloat16, true, 0.0},
                                           Case{at::kBFloat16, false, 0.3}));

TEST(FusedLora, EvaluationSkipsDropoutAndMatchesTheMergedWeight) {
  at::manual_seed(2);
  Linear linear = make_linear(at::kFloat, true, 0.5);
  at::Tensor x = at::randn({5, 40});
  at::NoGradGuard no_grad;
  at::Tensor merged = linear.weight + at::matmul(linear.lora_b, linear.lora_a) * linear.scaling;
  EXPECT_LE(max_error(linear_forward(linear, x, false), at::linear(x, merged, linear.bias)), 1e-5);
}

TEST(SeededDropout, CpuLoopEqualsTensorOpsAndRepeatsPerSeed) {
  at::Tensor x = at::randn({3, 1000});
  for (double p : {0.05, 0.5}) {
    at::Tensor loop = seeded_dropout(x, p, 12345), ops = seeded_dropout_reference(x, p, 12345);
    EXPECT_TRUE(at::equal(loop, ops)) << "p " << p;
    EXPECT_TRUE(at::equal(loop, seeded_dropout(x, p, 12345)));
    EXPECT_FALSE(at::equal(loop, seeded_dropout(x, p, 12346)));
    at::Tensor kept = loop != 0;
    EXPECT_TRUE(at::allclose(loop.masked_select(kept), x.masked_select(kept) / (1 - p)));
  }
  EXPECT_TRUE(at::equal(seeded_dropout(x.to(at::kBFloat16), 0.2, 9), seeded_dropout_reference(x.to(at::kBFloat16), 0.2, 9)));
}

TEST(SeededDropout, DropsTheRequestedFractionIndependentlyPerElement) {
  const int64_t n = 1 << 20;
  at::Tensor ones = at::ones({n});
  for (double p : {0.05, 0.1, 0.5}) {
    at::Tensor kept = (seeded_dropout(ones, p, 99) != 0).to(at::kFloat);
    double dropped = 1.0 - kept.mean().item<double>();
    // Binomial standard deviation sqrt(p(1-p)/n) is under 5e-4; allow 5 of them.
    EXPECT_NEAR(dropped, p, 5 * std::sqrt(p * (1 - p) / n)) << "p " << p;
    // Neighbouring elements are independent: P(both kept) = (1-p)^2.
    double both = (kept.narrow(0, 0, n - 1) * kept.narrow(0, 1, n - 1)).mean().item<double>();
    EXPECT_NEAR(both, (1 - p) * (1 - p), 3e-3) << "p " << p;
  }
  EXPECT_THROW(seeded_dropout(ones, 1.0, 1), zt::Error);
}

}  // namespace
