#include "optim/adamw.h"

#include <ATen/ATen.h>

#include <cmath>

namespace zt::optim {

void adamw_step(const AdamWConfig& config, AdamWState& state, const at::Tensor& grad, const at::Tensor& decay_mask,
                double lr) {
  ++state.steps;
  const double b1 = config.beta1, b2 = config.beta2;
  const double correction1 = 1 - std::pow(b1, static_cast<double>(state.steps));
  const double correction2 = 1 - std::pow(b2, static_cast<double>(state.steps));
  // Decoupled weight decay first, then the Adam update (torch.optim.AdamW's order).
  if (config.weight_decay != 0) state.master.mul_(1 - lr * config.weight_decay * decay_mask);
  state.exp_avg.mul_(b1).add_(grad, 1 - b1);
  state.exp_avg_sq.mul_(b2).addcmul_(grad, grad, 1 - b2);
  at::Tensor denom = (state.exp_avg_sq.sqrt() / std::sqrt(correction2)).add_(config.eps);
  state.master.addcdiv_(state.exp_avg, denom, -lr / correction1);
}

}  // namespace zt::optim
