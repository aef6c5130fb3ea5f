// What a run derives from its flags, the model's config.json and the launch, worked out once and then read by
// everything that needs it: the trainer, the estimate (ztune estimate, --dry_run, the first-step report,
// trainer_state.json's FLOPs), args.json. The DeepSpeed config is parsed here from the text the CLI read once.
#pragma once

#include <c10/core/ScalarType.h>

#include <cstdint>

#include "dist/zero_config.h"
#include "model/config.h"
#include "train/train_config.h"

namespace zt::train {

struct ClusterShape {
  int nodes = 1;
  int ranks_per_node = 1;
  int world() const { return nodes * ranks_per_node; }
};

struct ResolvedRun {
  model::ModelConfig model;              // config.json
  at::ScalarType dtype = at::kFloat;     // --bf16/--fp16, else --torch_dtype, else config.json's dtype
  int64_t max_length = 0;                // --max_length, else the model's max_position_embeddings
  int64_t row_length = 0;                // tokens of a row: --packing_length when packing, else max_length
  int batch = 1;                         // --per_device_train_batch_size
  int accumulation = 1;                  // --gradient_accumulation_steps, else max(1, ceil(16 / batch / world))
  dist::ZeroConfig zero;                 // --deepspeed with "auto" filled, or stage 0 with --max_grad_norm
  ClusterShape cluster;
  // From the data (count_steps): the rows of the fullest rank, the optimizer steps per epoch and in all.
  uint64_t most_rows = 0;
  int64_t steps_per_epoch = 1, total_steps = 0;

  // args.json's torch_dtype: bfloat16 | float16 | float32.
  const char* dtype_name() const;
};

ResolvedRun resolve_run(const TrainConfig& config, model::ModelConfig model, ClusterShape cluster);
// The steps of the run once the fullest rank's rows are known (with --streaming, --max_steps alone).
void count_steps(ResolvedRun& run, const TrainConfig& config, uint64_t most_rows);

}  // namespace zt::train
