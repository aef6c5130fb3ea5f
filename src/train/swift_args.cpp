#include "train/swift_args.h"

#include <filesystem>

#include "train/ms_swift_args.h"

namespace zt::train {

nlohmann::json swift_args_json(const nlohmann::json& ztune_args, const SwiftRunFacts& facts) {
  using json = nlohmann::json;
  json out = json::parse(ms_swift::kSftArgs);
  // ztune's flags carry ms-swift's names; one left to derive (null) does not hide ms-swift's default.
  for (const auto& [key, value] : ztune_args.items())
    if (!value.is_null() || !out.contains(key)) out[key] = value;
  if (ztune_args.contains("train_type")) out["tuner_type"] = ztune_args["train_type"];
  const std::filesystem::path run(facts.run_dir);
  out["output_dir"] = facts.run_dir;
  out["logging_dir"] = (run / "runs").string();
  out["run_name"] = facts.run_dir;
  out["model_dir"] = facts.model_dir;
  out["model_type"] = facts.model_type.empty() ? json(nullptr) : json(facts.model_type);
  out["model_suffix"] = std::filesystem::path(facts.model_dir).filename().string();
  out["template"] = facts.template_name;
  if (facts.template_name == "jinja") {  // ms-swift's spelling: no named template, the tokenizer's own
    out["template"] = nullptr;
    out["template_backend"] = "jinja";
  }
  out["torch_dtype"] = facts.torch_dtype;
  out["max_length"] = facts.max_length;
  out["gradient_accumulation_steps"] = facts.accumulation;
  out["global_world_size"] = facts.world_size;
  out["local_world_size"] = facts.local_world_size;
  out["rank"] = facts.world_size > 1 ? 0 : -1;  // as rank 0 writes it
  out["local_rank"] = facts.world_size > 1 ? 0 : -1;
  return out;
}

}  // namespace zt::train
