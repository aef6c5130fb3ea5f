// Activation checkpointing of one decoder layer: forward runs without keeping activations; backward
// runs the layer again (with the random state of the first run, so dropout masks repeat) and back-
// propagates through the recomputed graph.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <vector>

namespace zt::model {

// `layer` must capture everything it needs by value (it runs again during backward). It returns the layer's
// output first, then any auxiliary terms (a block's loss term), each differentiable through the recompute.
using LayerRun = std::function<std::vector<at::Tensor>(const at::Tensor&)>;
std::vector<at::Tensor> checkpoint_layer(LayerRun layer, const at::Tensor& input);

}  // namespace zt::model
