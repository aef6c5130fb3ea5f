#include "optim/clip.h"

namespace zt::optim {

double clip_coefficient(double norm, double max_norm) {
  if (max_norm <= 0) return 1;
  const double coefficient = max_norm / (norm + 1e-6);
  return coefficient < 1 ? coefficient : 1;
}

}  // namespace zt::optim
