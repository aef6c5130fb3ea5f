// Learning-rate schedules as the transformers Trainer computes them (get_scheduler), which ms-swift uses:
// the rate for optimizer step k (0-based) is learning_rate * factor(k), and with warm-up the first step
// runs at zero.
#pragma once

#include <cstdint>
#include <string>

namespace zt::train {

struct ScheduleConfig {
  std::string type = "cosine";  // cosine | linear | constant | constant_with_warmup
  double learning_rate = 1e-4;
  int64_t total_steps = 0;      // optimizer steps of the whole run
  int64_t warmup_steps = 0;     // > 0 wins over warmup_ratio
  double warmup_ratio = 0;
};

class LearningRateSchedule {
 public:
  // Unknown types and negative sizes are errors naming the flag.
  explicit LearningRateSchedule(const ScheduleConfig& config);
  // The rate of optimizer step `step` (0-based).
  double at(int64_t step) const;
  int64_t warmup_steps() const { return warmup_; }

 private:
  ScheduleConfig config_;
  int64_t warmup_ = 0;
};

}  // namespace zt::train
