// A run's checkpoints: saving (the weights as PEFT or transformers write them, args.json, ms-swift's
// trainer_state.json, every rank's optimizer shard), rotation (--save_total_limit, never the newest nor the
// best), the best checkpoint (--metric_for_best_model), and the three ways a run resumes (everything, the
// weights alone with --resume_only_model, a --save_only_model checkpoint's weights).
#pragma once

#include <ATen/core/Tensor.h>

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/pipeline.h"
#include "dist/comm.h"
#include "dist/zero.h"
#include "train/run_log.h"
#include "train/train_config.h"

namespace zt::train {

// Where a resumed run continues: its first step and the epoch it is in.
// Where the epochs stand at a step: the epoch, the step it began at, and whether it ends when no rank has a row
// left rather than after steps_per_epoch steps (an epoch whose unread rows were dealt among another number of
// ranks: packed, they need as many steps as the new ranks' packing makes of them).
struct EpochPosition {
  int64_t epoch = 0;
  int64_t start_step = 0;
  bool ends_when_empty = false;
};

struct ResumePoint {
  int64_t first_step = 0;
  EpochPosition epoch;
};

// What trainer_state.json reports besides the checkpoints' own facts.
struct TrainerProgress {
  int64_t total_steps = 0, steps_per_epoch = 1;
  int batch = 1;
  double tokens_seen = 0;
  double flops_per_step = 0;
  EpochPosition epoch;  // kept with each rank's data cursor
};

class Checkpointer {
 public:
  // `log` is rank 0's (null elsewhere). `all_linear`: the modules --target_modules all-linear adapts.
  Checkpointer(const TrainConfig& config, dist::Communicator& comm, dist::ZeroEngine& engine,
               data::DataPipeline& pipeline, RunLog* log, std::string model_dir, std::string run_dir,
               at::ScalarType dtype, std::vector<std::string> all_linear);

  // --resume_from_checkpoint (resolved against `output_parent`): optimizer (any world size or stage), step, and
  // with the same world size the data position and random state of every rank. Without the flag: step 0.
  ResumePoint resume(const std::string& output_parent, int64_t steps_per_epoch);

  // checkpoint-STEP/, written into a temporary folder that rank 0 renames once every rank's shard is there;
  // `latest` is updated last and old checkpoints are deleted after that. A failed save removes its folder.
  void save(int64_t step, const TrainerProgress& progress);
  // An evaluation's --metric_for_best_model at `step` (the save at that step may make it the best).
  void note_eval(int64_t step, double metric) { last_eval_ = {step, metric}; }

  struct Best {
    std::string dir;  // the checkpoint
    double metric;    // its --metric_for_best_model
    int64_t step;
  };
  const std::vector<std::string>& saved() const { return saved_; }
  const std::optional<Best>& best() const { return best_; }

 private:
  void write(int64_t step, const std::string& temporary, const TrainerProgress& progress);
  std::string data_cursor(const EpochPosition& epoch) const;
  void write_weights(const std::string& directory, std::vector<std::pair<std::string, at::Tensor>>& weights) const;
  nlohmann::json trainer_state(int64_t step, const TrainerProgress& progress) const;
  void remove_old();
  void load_weights_only(const std::string& dir);

  const TrainConfig& config_;
  dist::Communicator& comm_;
  dist::ZeroEngine& engine_;
  data::DataPipeline& pipeline_;
  RunLog* log_;
  const std::string model_dir_, run_dir_;
  const at::ScalarType dtype_;
  const std::vector<std::string> all_linear_;
  const int rank_, world_;
  std::vector<std::string> saved_;
  std::optional<Best> best_;
  std::pair<int64_t, double> last_eval_{-1, 0};
};

}  // namespace zt::train
