// `ztune estimate` and `ztune sft --dry_run true`: what one rank of a run will hold and send, and how long a
// step will take, from config.json and the sft command line alone (no weight is loaded).
//
// Model states are the engine's own layouts (model/tensor_plan.h, dist::FlatLayout, the gradient buckets,
// the ZeRO-3 layer buffers), so those numbers are exact. Activations are counted from the shapes as the
// tensors autograd keeps for backward (docs/ESTIMATE.md lists them), and the peak as the largest of the
// phases of a step. Bytes sent are the communicator's ring accounting (dist/comm.h) of every collective a
// step runs. Time is FLOPs over a matrix rate plus bytes over bus bandwidths.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "dist/comm.h"
#include "dist/zero_config.h"
#include "model/config.h"
#include "model/tensor_plan.h"
#include "train/resolved_run.h"

namespace zt::train {

struct EstimateInput {
  model::ModelConfig model;
  model::TensorPlanOptions tensors;  // dtype, full or LoRA, modules_to_save
  dist::ZeroConfig zero;
  ClusterShape cluster;
  int64_t tokens_per_micro_batch = 0;  // the rows of a micro-batch side by side (batch x max_length at most)
  int64_t segment_length = 0;          // the longest sample attention runs over (max_length)
  int accumulation = 1;
  bool gradient_checkpointing = true;
  std::string attn_impl = "sdpa";
  bool packed = false;  // several samples per micro-batch (packing, or batch > 1: rows go side by side)
  bool gpu = true;      // CUDA kernels (else libtorch's CPU kernels, whose attention keeps more)
  int expert_parallel = 1;  // --expert_model_parallel_size: each rank holds 1 / N of the stacked experts
};

// Bytes one rank holds.
struct MemoryEstimate {
  // Model states (exact): allocated once, held for the whole run.
  int64_t frozen_weights = 0;     // base weights in the training dtype (ZeRO-3: the resident ones + this rank's slices)
  int64_t trainable_weights = 0;  // the parameters the model computes with (ZeRO-3: 0 between uses)
  int64_t gradients = 0;          // fp32: the whole flat gradient (stages 0-1) or this rank's partition (2-3)
  int64_t optimizer_states = 0;   // fp32 master weights + Adam's two moments over this rank's range
  int64_t decay_mask = 0;         // fp32 weight-decay mask over the same range
  // Buffers of the step.
  int64_t gradient_buckets = 0;   // stages 2-3: staging buffers at most in use at once (4 x the largest bucket)
  int64_t parameter_grads = 0;    // stages 0-1: the .grad of every trainable, until the micro-batch is collected
  int64_t gather_buffers = 0;     // ZeRO-3: gathered layers held at once (2 with checkpointing, all without)
  // Activations of one micro-batch.
  int64_t activations_per_layer = 0;               // kept for backward, without checkpointing
  int64_t activations_per_layer_checkpointed = 0;  // kept with checkpointing (the layer's input)
  int64_t activations_kept = 0;    // all layers, as the run is configured, at the end of forward
  int64_t layer_backward = 0;      // one layer's backward: its recomputed activations (checkpointing) and gradients
  int64_t loss_chunk = 0;          // the chunked loss: one [chunk, vocab] fp32 block and its companions
  int64_t step_temporaries = 0;    // the optimizer step's temporaries (norm, AdamW, the parameter all-gather)
  int64_t model_states() const {
    return frozen_weights + trainable_weights + gradients + optimizer_states + decay_mask;
  }
  int64_t peak = 0;                // model states + the largest phase of a step
  std::string peak_phase;          // "forward", "backward" or "optimizer step"
};

struct TrafficEstimate {
  // Bytes this rank sends per optimizer step, per collective kind (dist::Collective order), ring accounting;
  // the all-to-all of expert parallelism as routing spreads the tokens evenly (it depends on the router).
  std::array<double, static_cast<size_t>(dist::Collective::kCount)> bytes{};
  double total() const {
    double sum = 0;
    for (double b : bytes) sum += b;
    return sum;
  }
};

struct Rates {
  double matrix_tflops = 0;    // dense matmul rate of one rank in the training dtype
  double intra_node_gbps = 0;  // bus bandwidth (GB/s) among the ranks of a node
  double inter_node_gbps = 0;  // bus bandwidth (GB/s) between nodes (the node's network, all NICs)
};

struct TimeEstimate {
  double flops_per_step = 0;  // one rank
  double compute_s = 0, communication_s = 0, step_s = 0;
  std::string bottleneck;     // "compute", "intra-node links", "inter-node links"
};

struct Estimate {
  MemoryEstimate memory;
  TrafficEstimate traffic;
  int64_t trainable_numel = 0, frozen_numel = 0;
  int64_t flat_padded = 0, partition = 0, largest_bucket = 0;
};

// The estimate's view of an sft run as resolved; `tokens` per micro-batch, 0 for the most a micro-batch can
// hold (per_device_train_batch_size rows of --max_length, or of --packing_length when packing).
EstimateInput estimate_input_for(const TrainConfig& config, const ResolvedRun& run, int64_t tokens = 0);

Estimate estimate_run(const EstimateInput& input);
TimeEstimate estimate_time(const EstimateInput& input, const Estimate& estimate, const Rates& rates);
// Training FLOPs of one micro-batch on one rank: 2 x multiply-adds forward, the input gradients (as many
// again), the weight gradients of the trained weights, one more forward per checkpointed layer.
double micro_batch_flops(const EstimateInput& input);

// The lowest ZeRO stage (0-3) whose peak fits in `device_bytes`, -1 if none does.
int lowest_fitting_stage(EstimateInput input, int64_t device_bytes);

// The printed report.
std::string format_estimate(const EstimateInput& input, const Estimate& estimate, const TimeEstimate& time,
                            const Rates& rates, const std::string& rates_source, int64_t device_bytes);

std::string format_bytes(double bytes);

// The same numbers as JSON (bytes as integers): memory by kind, bytes sent by collective, time.
nlohmann::json memory_json(const MemoryEstimate& memory);
nlohmann::json estimate_json(const EstimateInput& input, const Estimate& estimate, const TimeEstimate& time,
                             const Rates& rates);

}  // namespace zt::train
