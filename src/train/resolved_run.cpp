#include "train/resolved_run.h"

#include <algorithm>
#include <cmath>

namespace zt::train {

const char* ResolvedRun::dtype_name() const {
  return dtype == at::kBFloat16 ? "bfloat16" : dtype == at::kHalf ? "float16" : "float32";
}

ResolvedRun resolve_run(const TrainConfig& config, model::ModelConfig model, ClusterShape cluster) {
  ResolvedRun run;
  run.model = std::move(model);
  const ModelSetup& setup = config.model;
  if (setup.bf16.value_or(false)) {
    run.dtype = at::kBFloat16;
  } else if (setup.fp16.value_or(false)) {
    run.dtype = at::kHalf;
  } else {
    const std::string name = setup.torch_dtype.value_or(run.model.dtype);
    run.dtype = name == "bfloat16" || name == "bf16" ? at::kBFloat16 : name == "float16" || name == "fp16" ? at::kHalf : at::kFloat;
  }
  run.max_length = config.data.max_length.value_or(static_cast<int>(run.model.max_position_embeddings));
  const int64_t packing_length = config.data.pipeline.packing_length;
  run.row_length = config.data.pipeline.packing && packing_length > 0 ? packing_length : run.max_length;
  run.cluster = cluster;
  run.batch = config.loop.per_device_train_batch_size;
  run.accumulation = config.loop.gradient_accumulation_steps.value_or(
      std::max(1, static_cast<int>(std::ceil(16.0 / run.batch / cluster.world()))));
  dist::ZeroAutoValues autos;
  autos.hidden_size = run.model.hidden_size;
  autos.max_grad_norm = config.optim.max_grad_norm;
  autos.dtype = run.dtype == at::kBFloat16 ? "bf16" : run.dtype == at::kHalf ? "fp16" : "fp32";
  if (config.optim.deepspeed.has_value()) {
    run.zero = dist::parse_zero_config(config.optim.deepspeed->text, config.optim.deepspeed->origin, autos);
  } else {
    run.zero.gradient_clipping = config.optim.max_grad_norm;
    run.zero.precision = autos.dtype;
  }
  return run;
}

void count_steps(ResolvedRun& run, const TrainConfig& config, uint64_t most_rows) {
  run.most_rows = most_rows;
  if (config.data.streaming) {
    run.total_steps = config.loop.max_steps;
    run.steps_per_epoch = run.total_steps;
    return;
  }
  const int64_t per_step = static_cast<int64_t>(run.batch) * run.accumulation;
  run.steps_per_epoch = std::max<int64_t>(1, (static_cast<int64_t>(most_rows) + per_step - 1) / per_step);
  run.total_steps = config.loop.max_steps > 0
                        ? config.loop.max_steps
                        : static_cast<int64_t>(std::ceil(config.loop.num_train_epochs * double(run.steps_per_epoch)));
}

}  // namespace zt::train
