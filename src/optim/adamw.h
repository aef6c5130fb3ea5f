// AdamW on one flat fp32 range (a rank's ZeRO partition, or the whole buffer): the update
// torch.optim.AdamW makes, element for element. Which range a rank owns is the engine's business
// (dist/zero.h); this file is the arithmetic alone.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace zt::optim {

struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;  // ms-swift defaults
};

// The Adam state of one range: fp32 master weights and both moments, and the steps taken.
struct AdamWState {
  at::Tensor master, exp_avg, exp_avg_sq;
  int64_t steps = 0;
};

// One step with gradient `grad` and learning rate `lr`: decoupled weight decay where `decay_mask` is 1
// (biases and norms are 0), then the bias-corrected Adam update.
void adamw_step(const AdamWConfig& config, AdamWState& state, const at::Tensor& grad, const at::Tensor& decay_mask,
                double lr);

}  // namespace zt::optim
