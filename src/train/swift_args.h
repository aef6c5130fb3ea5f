// args.json as ms-swift writes it, so that ms-swift's tools open ztune's run folders and checkpoints as their
// own: every key of ms-swift's `swift sft` args.json with its meaning (the defaults of the ms-swift version in
// configs/ms_swift/sft_args.json, `swift_version` included), ztune's flags over them (the same names), and
// what ms-swift derives for a run (model_type, template, tuner_type, paths, the world) from the run itself.
// ztune's own extra keys stay beside them. Secrets are never among them.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace zt::train {

struct SwiftRunFacts {
  std::string run_dir;
  std::string model_dir;       // absolute
  std::string model_type;      // config.json's model_type
  std::string template_name;   // the chat template in use (ms-swift's names)
  std::string torch_dtype;     // bfloat16 | float16 | float32
  int64_t max_length = 0;
  int accumulation = 1;
  int world_size = 1, local_world_size = 1;
};

nlohmann::json swift_args_json(const nlohmann::json& ztune_args, const SwiftRunFacts& facts);

}  // namespace zt::train
