// What one optimizer step all-reduces besides the gradients: the values TrainStep::finish sums over the ranks
// (loss, label tokens, correct tokens, ranks stopped by SIGUSR1, ranks stopped by SIGTERM, input tokens), in
// fp64. The estimate (train/estimate.cpp) counts the bytes of that call from here.
#pragma once

namespace zt::train {

inline constexpr int kStepTotals = 6;

}  // namespace zt::train
