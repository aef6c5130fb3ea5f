#include "export/consolidate.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/json_file.h"
#include "core/log.h"
#include "export/peft_adapter.h"
#include "train/dist_checkpoint.h"

namespace zt::exporting {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

}  // namespace

std::vector<std::pair<std::string, at::Tensor>> consolidate_checkpoint(const std::string& checkpoint_dir) {
  ZT_REQUIRE(fs::exists(fs::path(checkpoint_dir) / "zero_manifest.json"),
             checkpoint_dir << ": no zero_manifest.json, so there are no shards to consolidate (a checkpoint saved with "
                               "--save_only_model true holds only its adapter)");
  const train::FullState state = train::read_full_state(checkpoint_dir);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const dist::FlatEntry& entry : state.layout.entries)
    tensors.emplace_back(entry.name, state.master.narrow(0, entry.offset, entry.numel).view(entry.shape).clone());
  return tensors;
}

void export_peft_adapter(const std::string& checkpoint_dir, const std::string& out_dir) {
  std::vector<std::pair<std::string, at::Tensor>> tensors = consolidate_checkpoint(checkpoint_dir);
  for (const auto& [name, tensor] : tensors)
    ZT_REQUIRE(name.rfind("base_model.model.", 0) == 0,
               checkpoint_dir << ": '" << name << "' is not a PEFT tensor; this checkpoint is full training, whose "
                                  "model.safetensors is the export");
  const fs::path config_path = fs::path(checkpoint_dir) / "adapter_config.json";
  LoraAdapterConfig config;
  if (fs::exists(config_path)) {
    config = read_adapter_config(checkpoint_dir);
  } else {
    const fs::path args_path = fs::path(checkpoint_dir) / "args.json";
    ZT_REQUIRE(fs::exists(args_path), checkpoint_dir << ": neither adapter_config.json nor args.json is there to describe the adapter");
    const json args = read_json_file(args_path.string());
    config = adapter_config_from_args(args, args.value("model", std::string()));
  }
  write_adapter(out_dir, tensors, config);
  ZT_LOG_INFO("wrote the PEFT adapter of " << checkpoint_dir << " (" << tensors.size() << " tensors) to " << out_dir);
}

}  // namespace zt::exporting
