#include "optim/loss_scaler.h"

#include <algorithm>
#include <cmath>

namespace zt::optim {

LossScaler::LossScaler(const LossScaleConfig& config) : config_(config) {
  if (!config_.enabled) return;
  scale_ = config_.static_scale > 0 ? config_.static_scale : std::pow(2.0, config_.initial_scale_power);
  hysteresis_left_ = config_.hysteresis;
}

void LossScaler::update(bool overflow) {
  if (!config_.enabled || config_.static_scale > 0) return;
  if (overflow) {
    good_steps_ = 0;
    // DeepSpeed: the first `hysteresis - 1` overflows are forgiven, then every overflow halves the scale
    // until a clean window restores the allowance.
    if (hysteresis_left_ > 1)
      --hysteresis_left_;
    else
      scale_ = std::max(config_.min_scale, scale_ / 2);
  } else if (++good_steps_ >= config_.window) {
    scale_ *= 2;
    good_steps_ = 0;
    hysteresis_left_ = config_.hysteresis;
  }
}

}  // namespace zt::optim
