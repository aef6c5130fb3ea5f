#include "export/to_peft.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "checkpoint/consolidate.h"
#include "core/check.h"
#include "core/json_file.h"
#include "core/log.h"
#include "model/lora/peft_adapter.h"
#include "model/weight_names.h"

namespace zt::exporting {

void export_peft_adapter(const std::string& checkpoint_dir, const std::string& out_dir) {
  namespace fs = std::filesystem;
  std::vector<std::pair<std::string, at::Tensor>> tensors = checkpoint::consolidate_checkpoint(checkpoint_dir);
  for (const auto& [name, tensor] : tensors)
    ZT_REQUIRE(model::is_peft_name(name),
               checkpoint_dir << ": '" << name << "' is not a PEFT tensor; this checkpoint is full training, whose "
                                  "model.safetensors is the export");
  const fs::path config_path = fs::path(checkpoint_dir) / "adapter_config.json";
  model::LoraConfig config;
  if (fs::exists(config_path)) {
    config = model::read_adapter_config(checkpoint_dir);
  } else {
    const fs::path args_path = fs::path(checkpoint_dir) / "args.json";
    ZT_REQUIRE(fs::exists(args_path), checkpoint_dir << ": neither adapter_config.json nor args.json is there to describe the adapter");
    const nlohmann::json args = read_json_file(args_path.string());
    config = model::adapter_config_from_args(args, args.value("model", std::string()));
  }
  model::write_adapter(out_dir, tensors, config);
  ZT_LOG_INFO("wrote the PEFT adapter of " << checkpoint_dir << " (" << tensors.size() << " tensors) to " << out_dir);
}

}  // namespace zt::exporting
