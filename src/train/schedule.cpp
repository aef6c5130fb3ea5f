#include "train/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace zt::train {

LearningRateSchedule::LearningRateSchedule(const ScheduleConfig& config) : config_(config) {
  ZT_REQUIRE(config.type == "cosine" || config.type == "linear" || config.type == "constant" ||
                 config.type == "constant_with_warmup",
             "--lr_scheduler_type '" << config.type << "' is not one of cosine, linear, constant, constant_with_warmup");
  ZT_REQUIRE(config.total_steps >= 0, "the run has a negative number of steps (" << config.total_steps << ")");
  ZT_REQUIRE(config.warmup_steps >= 0, "--warmup_steps must not be negative, got " << config.warmup_steps);
  ZT_REQUIRE(config.warmup_ratio >= 0 && config.warmup_ratio <= 1,
             "--warmup_ratio must be in [0, 1], got " << config.warmup_ratio);
  // transformers: warmup_steps if given, else ceil(total * ratio).
  warmup_ = config.warmup_steps > 0
                ? config.warmup_steps
                : static_cast<int64_t>(std::ceil(static_cast<double>(config.total_steps) * config.warmup_ratio));
}

double LearningRateSchedule::at(int64_t step) const {
  const double s = static_cast<double>(step), warmup = static_cast<double>(warmup_);
  double factor = 1;
  if (config_.type != "constant" && step < warmup_) {
    factor = s / std::max(1.0, warmup);
  } else if (config_.type == "cosine") {
    const double progress = (s - warmup) / std::max(1.0, static_cast<double>(config_.total_steps - warmup_));
    factor = std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
  } else if (config_.type == "linear") {
    factor = std::max(0.0, static_cast<double>(config_.total_steps - step) /
                               std::max(1.0, static_cast<double>(config_.total_steps - warmup_)));
  }
  return config_.learning_rate * factor;
}

}  // namespace zt::train
