// The ZeRO engine: trainable parameters in one flat, padded fp32 buffer split into one contiguous
// partition per rank (DeepSpeed stages 1-2 layout), AdamW on the own partition (optim/), and the stage's
// gradient traffic (GradientSync, dist/grad_sync.h) and parameter traffic.
//
//   stage 0  gradients all-reduced; every rank keeps full master weights and moments (DDP)
//   stage 1  master weights and moments partitioned; gradients reduce-scattered at the step
//   stage 2  plus gradients reduce-scattered bucket by bucket during backward (gradient hooks), each rank
//            accumulating only its partition
//   stage 3  gradients as in stage 2; parameters partitioned too: LayerWeightPartition (dist/zero3_weights.h)
//            gathers each decoder layer's frozen weights and its trainable parameters (from these master
//            partitions) before the layer runs and drops them after
// After a step, stages 1-2 all-gather the updated partitions into the model's parameters; stage 3 leaves
// them partitioned.
//
// Every rank must run the same number of micro-batches per step (a rank without data calls
// after_backward() all the same, and under stage 3 LayerWeightPartition::replay_without_data()): the
// collectives are matched by order.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dist/comm.h"
#include "dist/grad_sync.h"
#include "dist/zero_config.h"
#include "optim/adamw.h"
#include "optim/loss_scaler.h"

namespace zt::dist {

struct StepResult {
  double grad_norm = 0;  // global, before clipping
  bool skipped = false;  // non-finite gradients: no update on any rank
  double loss_scale = 1;
};

class ZeroEngine {
 public:
  ZeroEngine(Communicator& comm, const ZeroConfig& config, std::vector<std::pair<std::string, at::Tensor>> trainable,
             const optim::AdamWConfig& adam);
  ~ZeroEngine();
  ZeroEngine(const ZeroEngine&) = delete;
  ZeroEngine& operator=(const ZeroEngine&) = delete;

  // After each micro-batch's backward: collects the gradients (stages 0-1) or finishes the bucket
  // reductions started during backward (stages 2-3), and clears the parameters' .grad.
  void after_backward();
  // Reduces what is still to reduce, multiplies the gradients by `grad_scale` (1 / the global number of
  // label tokens, the trainer's normalisation), computes the global norm, skips the step on every rank if
  // it is not finite, clips, runs AdamW with `lr` on this rank's range and writes the parameters back.
  StepResult step(double lr, double grad_scale);
  // fp16: the factor to multiply the loss by before backward (1 otherwise).
  double loss_scale() const { return scaler_.scale(); }
  // See GradientSync::set_micro_batch_weight.
  void set_micro_batch_weight(double weight);
  const GradientSync& gradient_sync() const { return *sync_; }

  const FlatLayout& layout() const { return layout_; }
  const ZeroConfig& config() const { return config_; }
  // This rank's range [begin, end) of the padded flat buffer (stage 0: all of it).
  int64_t owned_begin() const { return owned_begin_; }
  int64_t owned_end() const { return owned_begin_ + adam_state_.master.numel(); }
  const at::Tensor& master() const { return adam_state_.master; }
  const at::Tensor& exp_avg() const { return adam_state_.exp_avg; }
  const at::Tensor& exp_avg_sq() const { return adam_state_.exp_avg_sq; }
  int64_t steps_taken() const { return adam_state_.steps; }
  // The owned range of the gradient the last step applied (scaled and clipped); kept only when asked.
  void keep_last_gradient(bool keep) { keep_last_gradient_ = keep; }
  const at::Tensor& last_gradient() const { return last_gradient_; }
  // Bytes of fp32 master weights and moments held by this rank.
  int64_t optimizer_state_bytes() const;
  // Bytes of the fp32 weight-decay mask over this rank's range.
  int64_t decay_mask_bytes() const { return static_cast<int64_t>(decay_mask_.nbytes()); }
  // Restores the optimizer from whole unpadded buffers (a checkpoint written with any world size or
  // stage): `entries` must name the same parameters with the same shapes, in the same order. Parameters
  // are written back as after a step.
  void load_full_state(const std::vector<FlatEntry>& entries, const at::Tensor& master, const at::Tensor& exp_avg,
                       const at::Tensor& exp_avg_sq, int64_t steps);
  // The same from this rank's own range only: `begin` must be owned_begin() and the tensors cover
  // [owned_begin, min(owned_end, numel)) (checkpoint::read_state), so no rank holds the whole state.
  // Collective from stage 1 on: the parameters are gathered from every rank's range.
  void load_owned_state(const std::vector<FlatEntry>& entries, int64_t begin, const at::Tensor& master,
                        const at::Tensor& exp_avg, const at::Tensor& exp_avg_sq, int64_t steps);
  // Every rank's master weights as one padded flat buffer (collective on every rank).
  at::Tensor gather_full_parameters();
  // The same, as one tensor per parameter under its name (collective on every rank), e.g. to save: under
  // stage 3 the model's own tensors are empty between uses.
  std::vector<std::pair<std::string, at::Tensor>> gather_named_parameters();

  // For stage 3 (LayerWeightPartition): the parameters, their pieces per rank, and the switch that stops
  // step() from writing whole parameters back. Release callbacks run at the end of after_backward() and
  // at the start of step(); add returns an id for remove.
  std::vector<at::Tensor>& parameters() { return params_; }
  std::vector<int64_t> piece_counts(int64_t begin, int64_t end) const;
  void set_parameters_partitioned(bool partitioned) { parameters_partitioned_ = partitioned; }
  int add_release_callback(std::function<void()> callback);
  void remove_release_callback(int id);
  // A rank without data for a micro-batch: these parameters' gradients count as zero, and the buckets
  // that completes go out in the order they would have on a rank with data.
  void mark_zero_gradients(const std::vector<size_t>& params);

 private:
  void write_back(const at::Tensor& full);
  void check_entries(const std::vector<FlatEntry>& entries) const;
  // Every rank's partition of the master weights, in `dtype` (the parameters' for the write-back after a
  // step, so that half the bytes travel in bf16; fp32 to save).
  at::Tensor gather_partitions(at::ScalarType dtype = at::kFloat);

  Communicator& comm_;
  ZeroConfig config_;
  optim::AdamWConfig adam_;
  optim::AdamWState adam_state_;  // this rank's range
  optim::LossScaler scaler_;
  FlatLayout layout_;
  std::vector<at::Tensor> params_;
  std::unique_ptr<GradientSync> sync_;
  int64_t owned_begin_ = 0;
  at::Tensor decay_mask_;      // 1 where weight decay applies, over the owned range
  at::Tensor last_gradient_;
  bool keep_last_gradient_ = false;
  bool parameters_partitioned_ = false;
  std::vector<std::pair<int, std::function<void()>>> release_callbacks_;
  int last_callback_id_ = 0;
};

}  // namespace zt::dist
