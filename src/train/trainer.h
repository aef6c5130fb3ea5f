// `ztune sft`: the training run. Loads the model and tokenizer, streams this rank's share of the data,
// trains with the ZeRO engine, logs, and writes checkpoints.
#pragma once

#include <nlohmann/json_fwd.hpp>

namespace zt::cli {
struct SftArgs;
}

namespace zt::train {

// `args_json` is the argument table's JSON (secrets already left out) for args.json. Returns the exit code.
int run_sft(const cli::SftArgs& args, const nlohmann::json& args_json);

}  // namespace zt::train
