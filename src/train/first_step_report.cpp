#include "train/first_step_report.h"

#include "core/torch_api.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/cpu_memory.h"
#include "core/json_file.h"
#include "core/log.h"
#include "dist/cuda_runtime.h"
#include "train/estimate.h"

namespace zt::train {

namespace fs = std::filesystem;
using json = nlohmann::json;

void begin_first_step_measurement(dist::Communicator& comm, dist::LayerWeightPartition* partition) {
  comm.stats().reset();
  if (partition != nullptr) partition->communicator().stats().reset();
  cpu_memory::reset_peak();
}

// After this process's first step: rank 0 writes estimate.json to the run folder, the estimate (at the
// tokens the largest micro-batch of the step had, over all ranks, and at the most a micro-batch can hold)
// beside what the engine allocated, the peak allocator bytes of every rank during the step, and the bytes
// each rank sent; the log line says the peak and its estimate.
void report_first_step(dist::Communicator& comm_, dist::LayerWeightPartition* partition_, const FirstStepFacts& facts,
                       int64_t largest_tokens) {
  const c10::Device device_ = facts.device;
  const int rank_ = comm_.rank();
  int64_t peak = cpu_memory::peak_bytes();
  if (device_.is_cuda()) peak = static_cast<int64_t>(dist::cuda_memory_peak(device_.index()).allocated);
  dist::CommStats sent = comm_.stats();
  if (partition_)
    for (size_t k = 0; k < sent.bytes.size(); ++k) sent.bytes[k] += partition_->communicator().stats().bytes[k];
  if (facts.expert_group != nullptr)
    for (size_t k = 0; k < sent.bytes.size(); ++k)
      sent.bytes[k] += facts.expert_group->stats().bytes[k] - facts.expert_group_before.bytes[k];
  std::vector<uint64_t> mine = {static_cast<uint64_t>(peak), static_cast<uint64_t>(largest_tokens)};
  for (double b : sent.bytes) mine.push_back(static_cast<uint64_t>(std::llround(b)));
  const std::vector<uint64_t> all = comm_.all_gather_values(mine);
  if (rank_ != 0) return;
  int64_t tokens = 0;
  for (size_t r = 0; r < all.size(); r += mine.size()) tokens = std::max(tokens, static_cast<int64_t>(all[r + 1]));
  EstimateInput at_step = estimate_input_for(facts.config, facts.run, tokens);
  EstimateInput at_max = estimate_input_for(facts.config, facts.run);
  at_step.gpu = at_max.gpu = device_.is_cuda();
  const Estimate expected = estimate_run(at_step);
  const Estimate worst = estimate_run(at_max);
  json ranks = json::array();
  for (size_t r = 0; r < all.size(); r += mine.size()) {
    json bytes = json::object();
    for (size_t k = 0; k < sent.bytes.size(); ++k)
      bytes[dist::collective_name(static_cast<dist::Collective>(k))] = all[r + 2 + k];
    ranks.push_back({{"peak_bytes", all[r]}, {"tokens", all[r + 1]}, {"bytes_sent", bytes}});
  }
  json traffic = json::object();
  for (size_t k = 0; k < sent.bytes.size(); ++k)
    traffic[dist::collective_name(static_cast<dist::Collective>(k))] = expected.traffic.bytes[k];
  const int64_t frozen = facts.frozen_bytes + (partition_ ? partition_->owned_bytes() : 0);
  json record = {
      {"step", facts.step},
      {"tokens_per_micro_batch", tokens},
      {"estimate", memory_json(expected.memory)},
      {"estimate_bytes_sent", traffic},
      {"estimate_at_max_length", memory_json(worst.memory)},
      {"tokens_at_max_length", at_max.tokens_per_micro_batch},
      {"allocated", {{"frozen_weights", frozen},
                     {"trainable_weights", facts.trainable_bytes},
                     {"gradients", facts.engine.gradient_sync().gradient_bytes()},
                     {"optimizer_states", facts.engine.optimizer_state_bytes()},
                     {"decay_mask", facts.engine.decay_mask_bytes()},
                     {"largest_bucket", facts.engine.gradient_sync().largest_bucket_bytes()},
                     {"flat_padded", facts.engine.layout().padded}}},
      {"estimate_largest_bucket", expected.largest_bucket * 4},
      {"estimate_flat_padded", expected.flat_padded},
      {"measured", {{"allocator", device_.is_cuda() ? "cuda caching allocator, peak allocated since start"
                                                    : "CPU allocator, peak during the step"},
                    {"ranks", ranks}}}};
  write_json_file((fs::path(facts.run_dir) / "estimate.json").string(), record);
  ZT_LOG_INFO("step " << facts.step << " memory: peak " << format_bytes(double(all[0])) << " on rank 0, estimated "
                      << format_bytes(double(expected.memory.peak)) << " at " << tokens << " tokens per micro-batch ("
                      << format_bytes(double(worst.memory.peak)) << " at " << record["tokens_at_max_length"].get<int64_t>()
                      << "); estimate.json in the run folder");
}

}  // namespace zt::train
