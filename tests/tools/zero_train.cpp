// Run under mpirun: trains LoRA on a fixture model for a number of steps with a ZeRO stage and writes what
// tests/python/check_zero.py compares against a single-process run: per-step global losses and gradient
// norms, the final adapter, each rank's optimizer partition and last gradient, and the bytes each
// collective moved.
//
// usage: ztune_zero_train MODEL_DIR OUT_DIR STAGE STEPS [ROWS_PER_STEP] [DIE_RANK DIE_STEP]
// Every step has ROWS_PER_STEP rows (the global batch, identical whatever the world size); row i goes to
// rank i % world. Every rank runs the same number of micro-batches (ceil(rows / world)); a rank without a
// row for one contributes zero gradients and (stage 3) replays the weight gathers, so the collectives stay
// aligned. The step itself is train::TrainStep, the one `ztune sft` runs. DIE_RANK kills itself with
// SIGKILL in the middle of step DIE_STEP, before its last micro-batch (the fault test).
//
// Environment: ZTUNE_TEST_FULL=1 trains every weight instead of LoRA (stages 0-2); ZTUNE_TEST_TIMEOUT_S
// shortens the collective timeout. Every CPU allocation goes through a counting allocator, and each rank
// reports the most bytes it held at once during the steps ("peak_cpu_bytes").
#include <ATen/Parallel.h>

#include "core/torch_api.h"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "core/check.h"
#include "core/cpu_memory.h"
#include "core/safetensors.h"
#include "core/safetensors_torch.h"
#include "dist/comm.h"
#include "dist/run_context.h"
#include "dist/zero.h"
#include "dist/zero3_weights.h"
#include "model/config.h"
#include "model/decoder.h"
#include "model/weight_names.h"
#include "train/step.h"

namespace {

// The same rows on every rank: a generator seeded by (step, row).
zt::data::PackedRow make_row(int64_t step, int64_t index, int64_t vocab) {
  std::mt19937 generator(static_cast<unsigned>(1000 * step + index + 1));
  const int32_t length = 12 + static_cast<int32_t>(generator() % 13);
  zt::data::PackedRow row;
  for (int32_t t = 0; t < length; ++t) {
    row.input_ids.push_back(static_cast<int32_t>(generator() % static_cast<unsigned>(vocab)));
    row.labels.push_back(t < 3 ? -100 : row.input_ids.back());  // a prompt without loss
    row.position_ids.push_back(t);
  }
  row.cu_seqlens = {0, length};
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6 && argc != 8) {
    std::fprintf(stderr, "usage: %s MODEL_DIR OUT_DIR STAGE STEPS [ROWS_PER_STEP] [DIE_RANK DIE_STEP]\n", argv[0]);
    return 2;
  }
  const std::string model_dir = argv[1], out_dir = argv[2];
  const int stage = std::stoi(argv[3]);
  const int64_t steps = std::stoll(argv[4]), rows_per_step = argc >= 6 ? std::stoll(argv[5]) : 6;
  const int die_rank = argc == 8 ? std::stoi(argv[6]) : -1;
  const int64_t die_step = argc == 8 ? std::stoll(argv[7]) : -1;

  zt::cpu_memory::install_counter();
  const bool full = std::getenv("ZTUNE_TEST_FULL") != nullptr && std::string(std::getenv("ZTUNE_TEST_FULL")) == "1";
  // The failure tests shorten the collective timeout (the trainer takes it from --ddp_timeout).
  if (const char* timeout = std::getenv("ZTUNE_TEST_TIMEOUT_S")) zt::dist::set_collective_timeout(std::atof(timeout));
  zt::dist::RunContext context = zt::dist::RunContext::start();
  at::set_num_threads(1);  // ranks share two cores
  zt::dist::Communicator* comm = &context.comm();
  const int rank = comm->rank(), world = comm->size();

  const int64_t threshold = 100;  // small, so that the fixture's layer weights are partitioned in stage 3
  zt::model::ModelOptions options;
  options.device = context.device();  // the GPU when one is visible (ZTUNE_SHARED_GPU=1 for several ranks on it)
  if (full)
    options.full_training = true;
  else
    options.lora = zt::model::lora_config(8, 16, 0.0);
  options.gradient_checkpointing = true;
  // A mixture of experts' stacked experts, stored per expert, are partitioned as one slot each.
  const std::map<std::string, zt::dist::StoredSlot> slots =
      zt::train::stored_slots(zt::model::read_model_config(model_dir), zt::st::Checkpoint::open(model_dir));
  const zt::dist::StoredIn stored_in = [&slots](const std::string& name) -> const zt::dist::StoredSlot* {
    auto found = slots.find(name);
    return found == slots.end() ? nullptr : &found->second;
  };
  if (stage == 3)
    options.keep_weight = zt::dist::LayerWeightPartition::resident_predicate(
        zt::model::layer_of, zt::st::Checkpoint::open(model_dir), threshold, stored_in);
  at::manual_seed(1234);  // the same LoRA initialisation on every rank and in the single run
  zt::model::DecoderModel model = zt::model::DecoderModel::load(model_dir, options);
  std::unique_ptr<zt::dist::LayerWeightPartition> partition;
  if (stage == 3)
    partition = std::make_unique<zt::dist::LayerWeightPartition>(*comm, zt::train::layered_model(model, stored_in), model_dir,
                                                                threshold, at::kFloat, context.device());

  zt::dist::ZeroConfig config;
  config.stage = stage;
  config.reduce_bucket_size = 5000;      // several buckets on the fixture
  config.allgather_bucket_size = 20000;  // and several pieces for the parameter all-gather
  config.gradient_clipping = 1.0;
  zt::dist::ZeroEngine engine(*comm, config, model.trainable_parameters(), zt::optim::AdamWConfig{});
  engine.keep_last_gradient(true);
  if (partition) partition->attach_trainables(engine);
  comm->stats().reset();
  if (partition) partition->communicator().stats().reset();

  zt::cpu_memory::reset_peak();
  // The load-balancing loss too, for a mixture of experts (no effect on a dense model).
  zt::train::TrainStep train_step(*comm, model, engine, partition.get(), options.gradient_checkpointing, 0.01);
  nlohmann::json log;
  const int64_t micro_batches = (rows_per_step + world - 1) / world;
  for (int64_t step = 0; step < steps; ++step) {
    for (int64_t micro = 0; micro < micro_batches; ++micro) {
      if (rank == die_rank && step == die_step && micro == micro_batches - 1) std::raise(SIGKILL);
      const int64_t index = micro * world + rank;
      std::vector<zt::data::PackedRow> rows;
      if (index < rows_per_step) rows.push_back(make_row(step, index, model.config().vocab_size));
      train_step.micro_batch(rows);
    }
    const zt::train::StepOutcome outcome = train_step.finish(1e-3, 0);
    log["loss"].push_back(outcome.loss);
    log["grad_norm"].push_back(outcome.result.grad_norm);
    log["skipped"].push_back(outcome.result.skipped);
  }

  nlohmann::json bytes;
  for (size_t k = 0; k < static_cast<size_t>(zt::dist::Collective::kCount); ++k)
    bytes[zt::dist::collective_name(static_cast<zt::dist::Collective>(k))] =
        (comm->stats().bytes[k] + (partition ? partition->communicator().stats().bytes[k] : 0.0)) / steps;
  log["bytes_per_step"] = bytes;
  log["world"] = world;
  log["stage"] = stage;
  log["trainable_numel"] = engine.layout().numel;
  log["trainable_padded"] = engine.layout().padded;
  log["owned_begin"] = engine.owned_begin();
  log["owned_end"] = engine.owned_end();
  log["optimizer_state_bytes"] = engine.optimizer_state_bytes();
  log["peak_cpu_bytes"] = zt::cpu_memory::peak_bytes();
  log["peak_staged_gradient_bytes"] = engine.gradient_sync().peak_staged_bytes();
  log["largest_bucket_bytes"] = engine.gradient_sync().largest_bucket_bytes();
  log["full"] = full;
  if (partition) {
    log["frozen_partitioned_numel"] = partition->partitioned_numel();
    log["frozen_padded_numel"] = partition->padded_numel();
    log["frozen_owned_bytes"] = partition->owned_bytes();
  }
  const std::string prefix = out_dir + "/rank" + std::to_string(rank);
  std::ofstream(prefix + ".json") << log.dump(1);
  zt::st::save_tensors(prefix + ".safetensors", {{"master", engine.master()},
                                                 {"exp_avg", engine.exp_avg()},
                                                 {"exp_avg_sq", engine.exp_avg_sq()},
                                                 {"last_gradient", engine.last_gradient()}});
  std::vector<std::pair<std::string, at::Tensor>> adapter = engine.gather_named_parameters();
  if (rank == 0) zt::st::save_tensors(out_dir + "/adapter.safetensors", adapter);
  comm->barrier();
  return 0;
}
