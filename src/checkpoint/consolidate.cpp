#include "checkpoint/consolidate.h"

#include <ATen/ATen.h>

#include <filesystem>

#include "checkpoint/shards.h"
#include "core/check.h"

namespace zt::checkpoint {

std::vector<std::pair<std::string, at::Tensor>> consolidate_checkpoint(const std::string& checkpoint_dir) {
  namespace fs = std::filesystem;
  ZT_REQUIRE(fs::exists(fs::path(checkpoint_dir) / "zero_manifest.json"),
             checkpoint_dir << ": no zero_manifest.json, so there are no shards to consolidate (a checkpoint saved with "
                               "--save_only_model true holds only its adapter)");
  const FullState state = read_full_state(checkpoint_dir);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const dist::FlatEntry& entry : state.layout.entries)
    tensors.emplace_back(entry.name, state.master.narrow(0, entry.offset, entry.numel).view(entry.shape).clone());
  return tensors;
}

}  // namespace zt::checkpoint
