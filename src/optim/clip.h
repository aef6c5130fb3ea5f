// Global gradient-norm clipping as torch.nn.utils.clip_grad_norm_ computes it.
#pragma once

namespace zt::optim {

// The factor to multiply the gradients by: max_norm / (norm + 1e-6) when that is below 1, else 1
// (and 1 when clipping is off, max_norm <= 0).
double clip_coefficient(double norm, double max_norm);

}  // namespace zt::optim
