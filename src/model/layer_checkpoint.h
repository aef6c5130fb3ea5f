// Activation checkpointing of one decoder layer: forward runs without keeping activations; backward
// runs the layer again (with the random state of the first run, so dropout masks repeat) and back-
// propagates through the recomputed graph.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>

namespace zt::model {

// `layer` must capture everything it needs by value (it runs again during backward).
at::Tensor checkpoint_layer(std::function<at::Tensor(const at::Tensor&)> layer, const at::Tensor& input);

}  // namespace zt::model
