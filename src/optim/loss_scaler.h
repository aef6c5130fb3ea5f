// fp16 loss scaling as DeepSpeed does it: a static scale, or a dynamic one that halves on overflow
// (after `hysteresis` forgiven overflows) and doubles after `window` clean steps.
#pragma once

namespace zt::optim {

struct LossScaleConfig {
  bool enabled = false;           // fp16 only; otherwise the scale stays 1
  double static_scale = 0;        // > 0: fixed
  int initial_scale_power = 16;   // dynamic: start at 2^power
  int window = 1000;              // clean steps before doubling
  int hysteresis = 2;             // overflows tolerated before halving
  double min_scale = 1;
};

class LossScaler {
 public:
  explicit LossScaler(const LossScaleConfig& config);
  // The factor to multiply the loss by before backward.
  double scale() const { return scale_; }
  // After each step: whether its gradients overflowed (a non-finite norm).
  void update(bool overflow);

 private:
  LossScaleConfig config_;
  double scale_ = 1;
  int good_steps_ = 0, hysteresis_left_ = 0;
};

}  // namespace zt::optim
