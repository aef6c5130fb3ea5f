// One optimizer step as every rank runs it, shared by `ztune sft` and the ZeRO equivalence tool:
// each micro-batch's rows go forward and backward (the engine reduces gradients as they are ready),
// then the counts are summed over all ranks and the ZeRO step runs with the gradients normalised by
// the label tokens of the whole step.
#pragma once

#include <map>
#include <vector>

#include "data/packing.h"
#include "dist/zero.h"
#include "dist/zero3_weights.h"

namespace zt::model {
class DecoderModel;
}

namespace zt::train {

struct StepOutcome {
  double loss = 0;          // per label token, over all ranks
  double tokens = 0;        // label tokens, all ranks
  double correct = 0;       // correctly predicted label tokens, all ranks
  double input_tokens = 0;  // all ranks, for throughput
  double learning_rate = 0;
  dist::StepResult result;
  int stop_signal = 0;      // a rank received SIGTERM/SIGUSR1 during the step
};

class TrainStep {
 public:
  // `partition` is the ZeRO-3 weight partition, or null below stage 3. Everything must outlive this.
  // `router_aux_loss_coef` > 0 adds a mixture of experts' load-balancing loss (ms-swift's flag).
  TrainStep(dist::Communicator& comm, model::DecoderModel& model, dist::ZeroEngine& engine,
            dist::LayerWeightPartition* partition, bool gradient_checkpointing, double router_aux_loss_coef = 0);

  // One micro-batch of this rank: its rows run side by side as one row. A rank without rows still
  // takes part in every collective the others run.
  void micro_batch(const std::vector<data::PackedRow>& rows);
  // After the last micro-batch: sums the counts over all ranks (with this rank's `stop_signal`, 0 for
  // none) and takes the optimizer step with `learning_rate`.
  StepOutcome finish(double learning_rate, int stop_signal);

 private:
  // What a micro-batch's loss is divided by before backward (and its gradients weighed by after): its label
  // tokens, or under expert parallelism the same number on every rank.
  double gradient_divisor(double label_tokens);
  dist::Communicator& comm_;
  model::DecoderModel& model_;
  dist::ZeroEngine& engine_;
  dist::LayerWeightPartition* partition_;
  bool gradient_checkpointing_;
  double router_aux_loss_coef_;
  at::Tensor sums_;          // this rank, this step, on the model's device: loss sum, label tokens, correct
  double input_tokens_ = 0;  // this rank, this step (known on the host)
};

// Rows of one micro-batch as one row without padding: samples side by side, positions restarting, so
// attention stays inside each sample and the loss is the sum over the samples (--padding_free).
data::PackedRow concatenate(const std::vector<data::PackedRow>& rows);
// One token whose loss counts nothing: what a rank without rows runs so that it takes part in every collective
// its forward (and backward) would (ZeRO-3's gathers, expert parallelism's exchanges).
data::PackedRow placeholder_row();
// The labels a row's loss counts: position t predicts label t + 1, so the first is never counted.
int64_t count_label_tokens(const std::vector<int32_t>& labels);
// A row's token ids, positions or labels as a [1, T] int64 tensor on `device`. For a GPU it is filled in
// pinned host memory and copied without blocking, so the host goes on to the next row.
at::Tensor row_tensor(const std::vector<int32_t>& values, c10::Device device = c10::kCPU);
// The decoder as ZeRO-3 sees it.
// `stored_in`: the folder's stacked experts stored per expert (stored_slots), for ZeRO-3's partition.
dist::LayeredModel layered_model(model::DecoderModel& model, dist::StoredIn stored_in = {},
                                 std::function<bool(const std::string&)> kept_whole = {});
// The stacked weights of `config`'s model that `weights` stores in pieces (per expert), by piece name; empty when
// the folder holds them stacked or the model has none.
std::map<std::string, dist::StoredSlot> stored_slots(const model::ModelConfig& config, const st::Checkpoint& weights);

}  // namespace zt::train
