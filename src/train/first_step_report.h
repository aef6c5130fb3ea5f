// The first step of a run measured against ztune's estimate: after this process's first step rank 0 writes
// estimate.json to the run folder (the estimate at the tokens the step's largest micro-batch had and at the
// most a micro-batch can hold, beside what the engine allocated, every rank's peak allocator bytes during the
// step and the bytes each rank sent) and logs the peak beside its estimate.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <string>

#include "dist/comm.h"
#include "dist/zero.h"
#include "dist/zero3_weights.h"
#include "model/config.h"
#include "train/estimate.h"
#include "train/resolved_run.h"
#include "train/train_config.h"

namespace zt::train {

struct FirstStepFacts {
  const TrainConfig& config;
  const ResolvedRun& run;
  c10::Device device;
  int64_t step = 1;                 // the step measured (1-based)
  int64_t frozen_bytes = 0;         // what the model holds without a gradient
  int64_t trainable_bytes = 0;
  const dist::ZeroEngine& engine;
  std::string run_dir;
  // Expert parallelism's group and its byte counters before the step: the step's exchanges count as sent.
  const dist::Communicator* expert_group = nullptr;
  dist::CommStats expert_group_before;
};

// Before the step: the byte counters and the CPU peak start from zero.
void begin_first_step_measurement(dist::Communicator& comm, dist::LayerWeightPartition* partition);
// After it (collective): `largest_tokens` is this rank's largest micro-batch of the step.
void report_first_step(dist::Communicator& comm, dist::LayerWeightPartition* partition, const FirstStepFacts& facts,
                       int64_t largest_tokens);

}  // namespace zt::train
