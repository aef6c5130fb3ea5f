// Rebuilds a checkpoint's trainable tensors from its per-rank shards and manifest alone (any world size,
// any ZeRO stage), e.g. for a checkpoint whose adapter file is missing or was written by an older run.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace zt::exporting {

// The fp32 master weights under their names (PEFT names for LoRA), checksums verified.
std::vector<std::pair<std::string, at::Tensor>> consolidate_checkpoint(const std::string& checkpoint_dir);

// Writes the consolidated LoRA adapter of `checkpoint_dir` as a PEFT folder `out_dir`. The adapter
// configuration comes from the checkpoint's adapter_config.json, else from its args.json.
void export_peft_adapter(const std::string& checkpoint_dir, const std::string& out_dir);

}  // namespace zt::exporting
