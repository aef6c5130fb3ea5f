// `ztune sft`: the training run. Loads the model and tokenizer, streams this rank's share of the data,
// trains with the ZeRO engine, logs, and writes checkpoints.
#pragma once

namespace zt::train {

struct TrainConfig;

// Runs the whole training on this process's rank of the launch. Returns the exit code.
int run_sft(const TrainConfig& config);

}  // namespace zt::train
