// A linear layer with a LoRA adapter as one autograd node, and the counter-based dropout it uses.
//
// y = x W^T + b + scaling * (dropout(x) A^T) B^T, with W and b frozen. Autograd over the composite would
// keep dropout(x) and its mask for every adapted module; this node keeps only x (shared with the other
// projections reading it) and the rank-r product dropout(x) A^T, and regenerates the mask in backward
// from a 64-bit seed. The mask of element i is a pure function of (seed, i) (an integer hash of a counter),
// so it is the same on every device and costs no state; seeds come from the CPU generator, which
// activation checkpointing replays.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace zt::model {

struct Linear;

// Draws one dropout seed from the default CPU generator.
uint64_t draw_dropout_seed();

// x * keep / (1 - p), keep(i) = uniform(seed, i) >= p, computed in x's dtype. `x` any shape, any device.
at::Tensor seeded_dropout(const at::Tensor& x, double p, uint64_t seed);
// On CUDA it is one kernel (dropout_kernel.cu) with the CPU loop's exact arithmetic.
// The same mask built from tensor operations only (any device); tests hold the CPU loop and the kernel to it.
at::Tensor seeded_dropout_reference(const at::Tensor& x, double p, uint64_t seed);

// The fused LoRA linear; `linear` must have an adapter and a frozen base weight. Off training, dropout is
// skipped.
at::Tensor lora_linear(const Linear& linear, const at::Tensor& x, bool training);

}  // namespace zt::model
