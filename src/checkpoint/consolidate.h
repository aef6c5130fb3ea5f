// Rebuilds a checkpoint's trainable tensors from its per-rank shards and manifest alone (any world size,
// any ZeRO stage), e.g. for a checkpoint whose adapter file is missing or was written by an older run.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace zt::checkpoint {

// The fp32 master weights under their names (PEFT names for LoRA), checksums verified.
std::vector<std::pair<std::string, at::Tensor>> consolidate_checkpoint(const std::string& checkpoint_dir);

}  // namespace zt::checkpoint
