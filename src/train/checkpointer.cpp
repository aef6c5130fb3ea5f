#include "train/checkpointer.h"

#include "core/torch_api.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "checkpoint/folder.h"
#include "checkpoint/shards.h"
#include "core/check.h"
#include "core/json_file.h"
#include "core/log.h"
#include "core/safetensors_torch.h"
#include "model/lora/peft_adapter.h"
#include "train/setup.h"

namespace zt::train {

namespace fs = std::filesystem;
using json = nlohmann::json;

Checkpointer::Checkpointer(const TrainConfig& config, dist::Communicator& comm, dist::ZeroEngine& engine,
                           data::DataPipeline& pipeline, RunLog* log, std::string model_dir, std::string run_dir,
                           at::ScalarType dtype, std::vector<std::string> all_linear)
    : config_(config), comm_(comm), engine_(engine), pipeline_(pipeline), log_(log), model_dir_(std::move(model_dir)),
      run_dir_(std::move(run_dir)), dtype_(dtype), all_linear_(std::move(all_linear)), rank_(comm.rank()),
      world_(comm.size()) {}

// --resume_from_checkpoint: optimizer (any world size or stage), step, and with the same world size the
// data position and random state of every rank; --resume_only_model takes the weights alone.
ResumePoint Checkpointer::resume(const std::string& output_parent, int64_t steps_per_epoch) {
  ResumePoint point;
  pipeline_.start_epoch(0);
  if (!config_.loop.resume_from_checkpoint.has_value()) return point;
  const std::string dir = checkpoint::resolve_resume_folder(*config_.loop.resume_from_checkpoint, output_parent);
  if (rank_ == 0 && dir != *config_.loop.resume_from_checkpoint) ZT_LOG_INFO("resuming from " << dir);
  if (!fs::exists(fs::path(dir) / "zero_manifest.json")) {
    ZT_REQUIRE(config_.loop.resume_only_model, "--resume_from_checkpoint " << dir << ": the checkpoint has no optimizer state (it was "
                                        "saved with --save_only_model true); add --resume_only_model true to start from its weights");
    load_weights_only(dir);
    return point;
  }
  // Each rank reads its own range of the optimizer state (never the whole), and with the same world
  // size only its own data cursor and RNG state.
  const bool same_world = checkpoint::written_world_size(dir) == world_;
  const bool need_cursors = !config_.loop.resume_only_model && !config_.loop.ignore_data_skip;
  checkpoint::FullState state = checkpoint::read_state(dir, engine_.owned_begin(), engine_.owned_end(),
                                                       same_world || !need_cursors ? rank_ : -1);
  if (config_.loop.resume_only_model) {
    const at::Tensor zeros = at::zeros_like(state.master);
    engine_.load_owned_state(state.layout.entries, state.begin, state.master, zeros, zeros, 0);
    if (rank_ == 0) ZT_LOG_INFO("weights taken from " << dir << "; optimizer, step and data start fresh");
    return point;
  }
  engine_.load_owned_state(state.layout.entries, state.begin, state.master, state.exp_avg, state.exp_avg_sq, state.step);
  point.first_step = state.step;
  // The epoch's start as the run that wrote the cursor kept it (checkpoints before it was kept, and runs that
  // skip no data: epochs of steps_per_epoch steps).
  auto epoch_position = [&](const json& cursor, int64_t epoch) {
    EpochPosition position{epoch, epoch * steps_per_epoch, false};
    if (cursor.contains("epoch_start_step")) position.start_step = cursor["epoch_start_step"].get<int64_t>();
    if (cursor.contains("epoch_ends_when_empty")) position.ends_when_empty = cursor["epoch_ends_when_empty"].get<bool>();
    return position;
  };
  point.epoch = epoch_position(json::object(), point.first_step / steps_per_epoch);
  if (config_.loop.ignore_data_skip) {
    pipeline_.start_epoch(static_cast<uint32_t>(point.epoch.epoch));
  } else if (same_world) {
    const json text = json::parse(state.data_cursors[static_cast<size_t>(rank_)]);
    const data::PipelineCursor cursor = data::PipelineCursor::from_json(text);
    pipeline_.restore(cursor);
    point.epoch = epoch_position(text, cursor.reader.epoch);
  } else {
    // Another world size: what the old ranks had not used of their epoch is dealt among these ranks, and the
    // epoch lasts until they have used it (their packing makes its own number of rows of it).
    std::vector<json> texts;
    std::vector<data::PipelineCursor> cursors;
    for (const std::string& text : state.data_cursors) {
      texts.push_back(json::parse(text));
      cursors.push_back(data::PipelineCursor::from_json(texts.back()));
    }
    pipeline_.redeal(cursors, rank_);
    point.epoch = epoch_position(texts[0], cursors[0].reader.epoch);
    point.epoch.ends_when_empty = true;
    if (rank_ == 0)
      ZT_LOG_WARN("the checkpoint was written by " << state.world_size << " ranks, this run has " << world_
                                                   << ": the optimizer state is re-partitioned and the unread rows of epoch "
                                                   << point.epoch.epoch << " are dealt among the " << world_
                                                   << " ranks; the epoch ends when they are used");
  }
  if (!config_.loop.ignore_data_skip && rank_ < state.world_size && !state.rng_states[static_cast<size_t>(rank_)].empty())
    set_cpu_rng_state(state.rng_states[static_cast<size_t>(rank_)]);
  if (rank_ == 0) ZT_LOG_INFO("resumed from " << dir << " at step " << point.first_step);
  return point;
}

void Checkpointer::load_weights_only(const std::string& dir) {
  const fs::path adapter = fs::path(dir) / "adapter_model.safetensors", full = fs::path(dir) / "model.safetensors";
  const fs::path file = fs::exists(adapter) ? adapter : full;
  ZT_REQUIRE(fs::exists(file), dir << ": neither adapter_model.safetensors nor model.safetensors is there");
  std::map<std::string, at::Tensor> by_name;
  for (auto& [name, tensor] : st::load_tensors(file.string())) by_name.emplace(name, tensor);
  std::vector<dist::FlatEntry> entries = engine_.layout().entries;
  std::vector<at::Tensor> pieces;
  for (const dist::FlatEntry& entry : entries) {
    auto found = by_name.find(entry.name);
    ZT_REQUIRE(found != by_name.end(), file.string() << ": tensor '" << entry.name << "' is missing");
    ZT_REQUIRE(found->second.numel() == entry.numel, file.string() << ": tensor '" << entry.name << "' has the wrong size");
    pieces.push_back(found->second.to(at::kFloat).reshape({-1}));
  }
  const at::Tensor master = at::cat(pieces);
  const at::Tensor zeros = at::zeros_like(master);
  engine_.load_full_state(entries, master, zeros, zeros, 0);
  if (rank_ == 0) ZT_LOG_INFO("weights taken from " << file.string() << "; optimizer, step and data start fresh");
}


void Checkpointer::save(int64_t step, const TrainerProgress& progress) {
  const std::string temporary = checkpoint::temporary_folder(run_dir_, step);
  try {
    write(step, temporary, progress);
  } catch (...) {
    // The save failed here (the job ends): what it wrote must not be mistaken for a checkpoint or fill the disk.
    std::error_code ignored;
    fs::remove_all(temporary, ignored);
    throw;
  }
}

// This rank's data cursor with the trainer's epoch position beside it.
std::string Checkpointer::data_cursor(const EpochPosition& epoch) const {
  json cursor = pipeline_.cursor().to_json();
  cursor["epoch_start_step"] = epoch.start_step;
  cursor["epoch_ends_when_empty"] = epoch.ends_when_empty;
  return cursor.dump();
}

void Checkpointer::write(int64_t step, const std::string& temporary, const TrainerProgress& progress) {
  if (rank_ == 0) checkpoint::begin_checkpoint(temporary);
  comm_.barrier();
  std::vector<std::pair<std::string, at::Tensor>> weights = engine_.gather_named_parameters();
  if (rank_ == 0) write_weights(temporary, weights);
  if (!config_.loop.save_only_model) {
    const checkpoint::RankState state{rank_, engine_.owned_begin(), engine_.master(), engine_.exp_avg(), engine_.exp_avg_sq(),
                          engine_.steps_taken(), cpu_rng_state(), data_cursor(progress.epoch)};
    const uint32_t crc = checkpoint::write_rank_shard(temporary, state);
    const std::vector<uint64_t> crcs = comm_.all_gather_values({crc});
    if (rank_ == 0)
      checkpoint::write_manifest(temporary, engine_.layout(), engine_.config().stage,
                     std::vector<uint32_t>(crcs.begin(), crcs.end()));
  }
  if (rank_ == 0) {
    const std::string final_dir = (fs::path(run_dir_) / ("checkpoint-" + std::to_string(step))).string();
    const bool better = !best_.has_value() || (config_.loop.greater_is_better ? last_eval_.second > best_->metric
                                                                               : last_eval_.second < best_->metric);
    if (last_eval_.first == step && better) best_ = Best{final_dir, last_eval_.second, step};
    write_json_file((fs::path(temporary) / "trainer_state.json").string(), trainer_state(step, progress));
    saved_.push_back(checkpoint::commit_checkpoint(run_dir_, temporary, step));
    remove_old();
    if (log_ != nullptr) log_->write_images();
    ZT_LOG_INFO("saved " << final_dir);
  }
  comm_.barrier();
}

// trainer_state.json with exactly the keys transformers' TrainerState writes (ms-swift's too): its
// load_from_json refuses any other key, and `swift sft --resume_from_checkpoint` goes through it. The world
// size is in zero_manifest.json.
json Checkpointer::trainer_state(int64_t step, const TrainerProgress& progress) const {
  return {{"epoch", double(step) / double(progress.steps_per_epoch)},
          {"global_step", step},
          {"max_steps", progress.total_steps},
          {"logging_steps", config_.loop.logging_steps},
          {"eval_steps", config_.loop.eval_steps},
          {"save_steps", config_.loop.save_steps},
          {"train_batch_size", progress.batch},
          {"num_train_epochs", static_cast<int64_t>(std::ceil(double(progress.total_steps) / double(progress.steps_per_epoch)))},
          {"num_input_tokens_seen", static_cast<int64_t>(progress.tokens_seen)},
          {"total_flos", progress.flops_per_step * double(step)},
          {"log_history", log_ != nullptr ? log_->history() : json::array()},
          {"best_metric", best_ ? json(best_->metric) : json(nullptr)},
          {"best_global_step", best_ ? json(best_->step) : json(nullptr)},
          {"best_model_checkpoint", best_ ? json(best_->dir) : json(nullptr)},
          {"is_local_process_zero", true},
          {"is_world_process_zero", true},
          {"is_hyper_param_search", false},
          {"trial_name", nullptr},
          {"trial_params", nullptr},
          {"stateful_callbacks",
           {{"TrainerControl",
             {{"args",
               {{"should_epoch_stop", false},
                {"should_evaluate", false},
                {"should_log", false},
                {"should_save", true},
                {"should_training_stop", step == progress.total_steps}}},
              {"attributes", json::object()}}}}}};
}

void Checkpointer::write_weights(const std::string& directory, std::vector<std::pair<std::string, at::Tensor>>& weights) const {
  const fs::path dir(directory);
  if (config_.model.full_training) {
    for (auto& [name, tensor] : weights) tensor = tensor.to(dtype_);
    st::save_tensors((dir / "model.safetensors").string(), weights);
    // Everything else a loader needs: config, generation config, tokenizer files.
    for (const auto& entry : fs::directory_iterator(model_dir_)) {
      const std::string name = entry.path().filename().string(), ext = entry.path().extension().string();
      if (!entry.is_regular_file() || ext == ".safetensors" || ext == ".bin" || ext == ".pt" ||
          name == "model.safetensors.index.json")
        continue;
      fs::copy_file(entry.path(), dir / name, fs::copy_options::overwrite_existing);
    }
  } else {
    st::save_tensors((dir / "adapter_model.safetensors").string(), weights);
    write_json_file((dir / "adapter_config.json").string(), model::adapter_config_json(config_.model.lora, all_linear_));
  }
  write_json_file((dir / "args.json").string(), config_.args_json);
}

// --save_total_limit: the oldest checkpoints go, never the newest (resume starts there) nor the best one
// (as transformers keeps both, even with a limit of 1).
void Checkpointer::remove_old() {
  if (!config_.loop.save_total_limit.has_value()) return;
  const size_t limit = static_cast<size_t>(std::max(1, *config_.loop.save_total_limit));
  for (auto it = saved_.begin(); saved_.size() > limit && it + 1 != saved_.end();) {
    if (best_ && *it == best_->dir) {
      ++it;
      continue;
    }
    checkpoint::remove_checkpoint(*it);
    it = saved_.erase(it);
  }
}

}  // namespace zt::train
