#include "train/trainer.h"

#include "core/torch_api.h"

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include <fcntl.h>
#include <unistd.h>

#include "core/check.h"
#include "core/child_process.h"
#include "core/cpu_memory.h"
#include "core/fs.h"
#include "core/json_file.h"
#include "core/log.h"
#include "core/safetensors_torch.h"
#include "data/chat_template.h"
#include "data/pipeline.h"
#include "data/shard_reader.h"
#include "data/tokenizer.h"
#include "dist/comm.h"
#include "dist/cuda_runtime.h"
#include "dist/launch.h"
#include "dist/link_probe.h"
#include "dist/run_context.h"
#include "dist/zero.h"
#include "dist/zero3_weights.h"
#include "model/config.h"
#include "model/decoder.h"
#include "model/family/family.h"
#include "hub/modelscope.h"
#include "model/lora/peft_adapter.h"
#include "model/weight_names.h"
#include "checkpoint/folder.h"
#include "checkpoint/run_lock.h"
#include "checkpoint/shards.h"
#include "hub/cache.h"
#include "train/run_log.h"
#include "train/estimate.h"
#include "train/evaluator.h"
#include "train/model_files.h"
#include "train/schedule.h"
#include "train/setup.h"
#include "train/step.h"
#include "train/train_config.h"
#include "train/stop_signal.h"
#include "train/swift_args.h"

namespace zt::train {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---- the trainer ----

class Trainer {
 public:
  Trainer(TrainConfig config, dist::Communicator& comm, c10::Device device, ClusterShape cluster)
      : config_(std::move(config)), comm_(comm), device_(device), rank_(comm.rank()), world_(comm.size()), cluster_(cluster) {
    open_data();
    plan_steps();
    build_model();
    open_run_folder();
    resume();
  }

  int64_t trainable_numel() const { return engine_->layout().numel; }

  void run() {
    for (int64_t step = first_step_; step < total_steps_; ++step) {
      const StepOutcome outcome = train_step(step);
      const int64_t done = step + 1;
      report(done, outcome);
      const bool last = done == total_steps_ || outcome.stop_signal != 0;
      if (evaluator_->active() && due(config_.loop.eval_strategy, config_.loop.eval_steps, done)) evaluate(done);
      if (due(config_.loop.save_strategy, config_.loop.save_steps, done) || last) save_checkpoint(done);
      if (outcome.stop_signal != 0) {
        if (rank_ == 0)
          log::print_line(std::string(signal_name(outcome.stop_signal)) + " received: stopped after step " +
                          std::to_string(done) + " of " + std::to_string(total_steps_) +
                          "; resume with --resume_from_checkpoint " + saved_.back());
        break;
      }
    }
    finish();
  }

 private:
  // Whether a --save_strategy/--eval_strategy of steps, epoch or no falls due after `done` steps; the last
  // step counts as due for steps and epoch (as ms-swift evaluates and saves at the end).
  bool due(const std::string& strategy, int every, int64_t done) const {
    if (strategy == "no") return false;
    if (done == total_steps_) return true;
    return strategy == "epoch" ? done % steps_per_epoch_ == 0 : done % every == 0;
  }

  // ---- setup ----

  void open_data() {
    model_dir_ = hub::resolve_model_dir(config_.model.model, hub_access(config_));
    config_.args_json["model_dir"] = fs::absolute(model_dir_).lexically_normal().string();  // for infer and export
    ModelFiles files =
        open_model_files(model_dir_, config_.data.template_name, config_.data.system, config_.data.chat_template_kwargs);
    model_config_ = files.config;
    tokenizer_ = std::move(files.tokenizer);
    chat_ = std::move(files.chat);
    template_name_ = files.template_name;
    data::ReaderOptions reader_options;
    reader_options.rank = rank_;
    reader_options.world_size = world_;
    reader_options.shuffle = config_.data.shuffle;
    reader_options.shuffle_buffer_size = static_cast<uint32_t>(config_.data.shuffle_buffer_size);
    reader_options.data_seed = static_cast<uint64_t>(config_.data.data_seed);
    reader_options.split_ratio = config_.data.val_dataset.empty() ? config_.data.split_dataset_ratio : 0.0;
    reader_ = std::make_unique<data::ShardReader>(resolve_datasets(config_.data.dataset, hub_access(config_)), reader_options,
                                                  exchange());
    data::PipelineOptions options;
    if (config_.data.columns.has_value()) options.format.column_renames = data::parse_column_renames(*config_.data.columns);
    options.format.self_cognition = config_.data.self_cognition;
    options.loss_scale = data::parse_loss_scale(config_.data.loss_scale);
    options.max_length = config_.data.max_length.value_or(static_cast<int>(model_config_.max_position_embeddings));
    max_length_ = options.max_length;
    options.truncation = data::parse_truncation(config_.data.truncation_strategy);
    options.packing = config_.data.packing;
    options.packing_length = config_.data.packing_length.value_or(0);
    options.strict = config_.data.strict;
    pipeline_ = std::make_unique<data::DataPipeline>(*reader_, *chat_, options);
    open_eval_data(reader_options);
  }

  // The validation rows: --val_dataset files, or the part --split_dataset_ratio held out (written to
  // val_dataset.jsonl); this rank's share goes to the evaluator.
  void open_eval_data(data::ReaderOptions options) {
    std::vector<data::RawRow> rows;
    if (!config_.data.val_dataset.empty()) {
      options.shuffle = false;
      options.split_ratio = 0;
      data::ShardReader val_reader(resolve_datasets(config_.data.val_dataset, hub_access(config_)), options, exchange());
      val_reader.start_epoch(0);
      while (std::optional<data::RawRow> row = val_reader.next()) rows.push_back(std::move(*row));
    } else if (config_.data.split_dataset_ratio > 0) {
      held_out_ = reader_->read_validation_rows();
      for (size_t i = static_cast<size_t>(rank_); i < held_out_.size(); i += static_cast<size_t>(world_))
        rows.push_back(held_out_[i]);
    }
    evaluator_ = std::make_unique<Evaluator>(comm_, *pipeline_, rows, config_.loop.per_device_eval_batch_size);
  }

  // The data index all-gather of the shard readers, over the communicator.
  data::ExchangeFn exchange() {
    return [this](const std::vector<uint64_t>& mine) { return comm_.all_gather_values(mine); };
  }

  // Rows per rank in one epoch (packed rows when packing), counted once; every rank runs as many
  // micro-batches as the fullest rank, idle where it has no row left.
  void plan_steps() {
    batch_ = config_.loop.per_device_train_batch_size;
    accumulation_ = config_.loop.gradient_accumulation_steps.value_or(std::max(1, static_cast<int>(std::ceil(16.0 / batch_ / world_))));
    const int64_t per_step = static_cast<int64_t>(batch_) * accumulation_;
    if (config_.data.streaming) {
      total_steps_ = config_.loop.max_steps;
      steps_per_epoch_ = total_steps_;
      return;
    }
    pipeline_->start_epoch(0);
    uint64_t my_rows = 0;
    while (pipeline_->next()) ++my_rows;
    for (uint64_t rows : comm_.all_gather_values({my_rows})) most_rows_ = std::max(most_rows_, rows);
    ZT_REQUIRE(most_rows_ > 0, "no usable training rows (" << pipeline_->stats().summary() << ")");
    steps_per_epoch_ = std::max<int64_t>(1, (static_cast<int64_t>(most_rows_) + per_step - 1) / per_step);
    total_steps_ = config_.loop.max_steps > 0 ? config_.loop.max_steps
                                       : static_cast<int64_t>(std::ceil(config_.loop.num_train_epochs * double(steps_per_epoch_)));
  }

  void build_model() {
    model::ModelOptions options;
    options.dtype = training_dtype(config_.model, model_config_);
    options.device = device_;
    const bool full = config_.model.full_training;
    options.full_training = full;
    if (!full) {
      config_.model.lora.base_model = model_dir_;
      options.lora = config_.model.lora;
    }
    options.modules_to_save = config_.model.lora.modules_to_save;
    options.gradient_checkpointing = config_.model.gradient_checkpointing;
    options.attn_impl = config_.model.attn_impl;
    const dist::ZeroConfig zero = zero_config_for(config_.model, config_.optim, model_config_);
    ZT_REQUIRE(!(full && zero.stage == 3), "--train_type full with ZeRO-3 is not supported: every weight would have to be "
                                           "partitioned as a trainable; use --deepspeed zero2 (or zero1) for full training");
    if (zero.stage == 3)
      options.keep_weight = dist::LayerWeightPartition::resident_predicate(model::layer_of, model_dir_, zero.stage3_param_persistence_threshold);
    at::manual_seed(config_.model.seed);  // the same LoRA initialisation on every rank
    model_ = std::make_unique<model::DecoderModel>(model::DecoderModel::load(model_dir_, options));
    if (config_.model.adapters.has_value()) {
      model_->load_adapter_tensors(model::read_adapter_tensors(*config_.model.adapters));
      if (rank_ == 0) ZT_LOG_INFO("training continues from the adapter in " << *config_.model.adapters);
    }
    if (zero.stage == 3)
      partition_ = std::make_unique<dist::LayerWeightPartition>(comm_, layered_model(*model_), model_dir_,
                                                                zero.stage3_param_persistence_threshold, options.dtype, device_);
    const optim::AdamWConfig adam{config_.optim.adam_beta1, config_.optim.adam_beta2, config_.optim.adam_epsilon, config_.optim.weight_decay};
    engine_ = std::make_unique<dist::ZeroEngine>(comm_, zero, model_->trainable_parameters(), adam);
    if (partition_) partition_->attach_trainables(*engine_);
    step_ = std::make_unique<TrainStep>(comm_, *model_, *engine_, partition_.get(), config_.model.gradient_checkpointing);
    schedule_ = std::make_unique<LearningRateSchedule>(ScheduleConfig{
        config_.optim.lr_scheduler_type, config_.optim.learning_rate, total_steps_, config_.optim.warmup_steps,
        config_.optim.warmup_ratio});
  }

  // --output_dir, default output/<model folder name>: the run folder's parent (with --add_version false, the
  // run folder).
  std::string output_parent() const {
    return config_.loop.output_dir.value_or((fs::path("output") / fs::path(model_dir_).filename()).string());
  }

  void open_run_folder() {
    const std::string parent = output_parent();
    if (config_.loop.add_version) {
      run_dir_ = choose_run_dir(parent, comm_);
    } else {  // --add_version false: the folder itself, as ms-swift
      if (rank_ == 0) fs_util::make_directories(parent, "run folder (--output_dir)");
      run_dir_ = parent;
    }
    // One run at a time in a folder; then what interrupted saves of an earlier run left there goes.
    if (rank_ == 0) {
      run_lock_ = std::make_unique<checkpoint::RunLock>(run_dir_, config_.loop.ignore_run_lock);
      if (const int removed = checkpoint::remove_leftovers(run_dir_))
        ZT_LOG_INFO("removed " << removed << " unfinished checkpoint folder(s) an interrupted save left in " << run_dir_);
    }
    comm_.barrier();
    // args.json as ms-swift writes it (every one of its keys), so that its tools open this run's checkpoints.
    SwiftRunFacts facts;
    facts.run_dir = fs::absolute(run_dir_).lexically_normal().string();
    facts.model_dir = fs::absolute(model_dir_).lexically_normal().string();
    facts.model_type = model_config_.model_type;
    facts.template_name = template_name_;
    const at::ScalarType dtype = training_dtype(config_.model, model_config_);
    facts.torch_dtype = dtype == at::kBFloat16 ? "bfloat16" : dtype == at::kHalf ? "float16" : "float32";
    facts.max_length = max_length_;
    facts.accumulation = accumulation_;
    facts.world_size = world_;
    facts.local_world_size = cluster_.ranks_per_node;
    config_.args_json = swift_args_json(config_.args_json, facts);
    if (rank_ != 0) return;
    write_json_file((fs::path(run_dir_) / "args.json").string(), config_.args_json);
    if (!held_out_.empty()) {
      std::ofstream val(fs::path(run_dir_) / "val_dataset.jsonl");
      for (const data::RawRow& row : held_out_) val << row.text << "\n";
      if (!val.good()) ZT_SYSTEM_THROW(run_dir_ << "/val_dataset.jsonl: write failed (" << std::strerror(errno) << ")");
    }
    std::unique_ptr<SwanLab> swanlab;
    if (config_.loop.swanlab.has_value())
      swanlab = std::make_unique<SwanLab>(*config_.loop.swanlab, swanlab_python(), run_dir_, config_.args_json);
    log_ = std::make_unique<RunLog>(run_dir_, config_.loop.tensorboard, device_.is_cuda() ? device_.index() : -1,
                                    std::move(swanlab));
    ZT_LOG_INFO("run folder " << run_dir_ << "; " << world_ << " ranks, ZeRO stage " << engine_->config().stage << ", "
                              << engine_->layout().numel << " trainable parameters; "
                              << (config_.data.streaming ? std::string("streaming") : std::to_string(most_rows_) + " rows on the fullest rank")
                              << ", " << total_steps_ << " steps (" << steps_per_epoch_ << " per epoch, batch " << batch_
                              << " x accumulation " << accumulation_ << " x " << world_ << " ranks)");
  }

  // --resume_from_checkpoint: optimizer (any world size or stage), step, and with the same world size the
  // data position and random state of every rank; --resume_only_model takes the weights alone.
  void resume() {
    pipeline_->start_epoch(0);
    if (!config_.loop.resume_from_checkpoint.has_value()) return;
    const std::string dir = checkpoint::resolve_resume_folder(*config_.loop.resume_from_checkpoint, output_parent());
    if (rank_ == 0 && dir != *config_.loop.resume_from_checkpoint) ZT_LOG_INFO("resuming from " << dir);
    if (!fs::exists(fs::path(dir) / "zero_manifest.json")) {
      ZT_REQUIRE(config_.loop.resume_only_model, "--resume_from_checkpoint " << dir << ": the checkpoint has no optimizer state (it was "
                                          "saved with --save_only_model true); add --resume_only_model true to start from its weights");
      load_weights_only(dir);
      return;
    }
    // Each rank reads its own range of the optimizer state (never the whole), and with the same world
    // size only its own data cursor and RNG state.
    const bool same_world = checkpoint::written_world_size(dir) == world_;
    const bool need_cursors = !config_.loop.resume_only_model && !config_.loop.ignore_data_skip;
    checkpoint::FullState state = checkpoint::read_state(dir, engine_->owned_begin(), engine_->owned_end(),
                                                         same_world || !need_cursors ? rank_ : -1);
    if (config_.loop.resume_only_model) {
      const at::Tensor zeros = at::zeros_like(state.master);
      engine_->load_owned_state(state.layout.entries, state.begin, state.master, zeros, zeros, 0);
      if (rank_ == 0) ZT_LOG_INFO("weights taken from " << dir << "; optimizer, step and data start fresh");
      return;
    }
    engine_->load_owned_state(state.layout.entries, state.begin, state.master, state.exp_avg, state.exp_avg_sq, state.step);
    first_step_ = state.step;
    epoch_ = first_step_ / steps_per_epoch_;
    if (config_.loop.ignore_data_skip) {
      pipeline_->start_epoch(static_cast<uint32_t>(epoch_));
    } else if (same_world) {
      const data::PipelineCursor cursor =
          data::PipelineCursor::from_json(json::parse(state.data_cursors[static_cast<size_t>(rank_)]));
      pipeline_->restore(cursor);
      epoch_ = cursor.reader.epoch;
    } else {
      // Another world size: what the old ranks had not used of their epoch is dealt among these ranks.
      std::vector<data::PipelineCursor> cursors;
      for (const std::string& text : state.data_cursors) cursors.push_back(data::PipelineCursor::from_json(json::parse(text)));
      pipeline_->redeal(cursors, rank_);
      epoch_ = cursors[0].reader.epoch;
      if (rank_ == 0)
        ZT_LOG_WARN("the checkpoint was written by " << state.world_size << " ranks, this run has " << world_
                                                     << ": the optimizer state is re-partitioned and the unread rows of epoch "
                                                     << epoch_ << " are dealt among the " << world_ << " ranks");
    }
    if (!config_.loop.ignore_data_skip && rank_ < state.world_size && !state.rng_states[static_cast<size_t>(rank_)].empty())
      set_cpu_rng_state(state.rng_states[static_cast<size_t>(rank_)]);
    if (rank_ == 0) ZT_LOG_INFO("resumed from " << dir << " at step " << first_step_);
  }

  void load_weights_only(const std::string& dir) {
    const fs::path adapter = fs::path(dir) / "adapter_model.safetensors", full = fs::path(dir) / "model.safetensors";
    const fs::path file = fs::exists(adapter) ? adapter : full;
    ZT_REQUIRE(fs::exists(file), dir << ": neither adapter_model.safetensors nor model.safetensors is there");
    std::map<std::string, at::Tensor> by_name;
    for (auto& [name, tensor] : st::load_tensors(file.string())) by_name.emplace(name, tensor);
    std::vector<dist::FlatEntry> entries = engine_->layout().entries;
    std::vector<at::Tensor> pieces;
    for (const dist::FlatEntry& entry : entries) {
      auto found = by_name.find(entry.name);
      ZT_REQUIRE(found != by_name.end(), file.string() << ": tensor '" << entry.name << "' is missing");
      ZT_REQUIRE(found->second.numel() == entry.numel, file.string() << ": tensor '" << entry.name << "' has the wrong size");
      pieces.push_back(found->second.to(at::kFloat).reshape({-1}));
    }
    const at::Tensor master = at::cat(pieces);
    const at::Tensor zeros = at::zeros_like(master);
    engine_->load_full_state(entries, master, zeros, zeros, 0);
    if (rank_ == 0) ZT_LOG_INFO("weights taken from " << file.string() << "; optimizer, step and data start fresh");
  }

  // ---- one optimizer step ----

  // Accumulates `accumulation` micro-batches of `batch` rows, then takes the ZeRO step with the gradients
  // normalised by the label tokens of the whole step over all ranks.
  StepOutcome train_step(int64_t step) {
    enter_epoch_of(step);
    const bool measured = step == first_step_;
    if (measured) begin_measurement();
    int64_t largest = 0;
    for (int micro = 0; micro < accumulation_; ++micro) {
      std::vector<data::PackedRow> rows = next_rows(batch_);
      int64_t tokens = 0;
      for (const data::PackedRow& row : rows) tokens += static_cast<int64_t>(row.input_ids.size());
      largest = std::max(largest, tokens);
      step_->micro_batch(rows);
      if (rank_ == 0 && micro + 1 < accumulation_)
        log_->progress(step + 1, total_steps_, first_step_, micro + 1, accumulation_, last_loss_, tokens_seen_);
    }
    StepOutcome outcome = step_->finish(schedule_->at(step), stop_requested());
    if (measured) record_measurement(largest);
    return outcome;
  }

  // ---- the estimate against the first step ----

  void begin_measurement() {
    comm_.stats().reset();
    if (partition_) partition_->communicator().stats().reset();
    cpu_memory::reset_peak();
  }

  // After this process's first step: rank 0 writes estimate.json to the run folder, the estimate (at the
  // tokens the largest micro-batch of the step had, over all ranks, and at the most a micro-batch can hold)
  // beside what the engine allocated, the peak allocator bytes of every rank during the step, and the bytes
  // each rank sent; the log line says the peak and its estimate.
  void record_measurement(int64_t largest_tokens) {
    int64_t peak = cpu_memory::peak_bytes();
    if (device_.is_cuda()) peak = static_cast<int64_t>(dist::cuda_memory_peak(device_.index()).allocated);
    dist::CommStats sent = comm_.stats();
    if (partition_)
      for (size_t k = 0; k < sent.bytes.size(); ++k) sent.bytes[k] += partition_->communicator().stats().bytes[k];
    std::vector<uint64_t> mine = {static_cast<uint64_t>(peak), static_cast<uint64_t>(largest_tokens)};
    for (double b : sent.bytes) mine.push_back(static_cast<uint64_t>(std::llround(b)));
    const std::vector<uint64_t> all = comm_.all_gather_values(mine);
    if (rank_ != 0) return;
    int64_t tokens = 0;
    for (size_t r = 0; r < all.size(); r += mine.size()) tokens = std::max(tokens, static_cast<int64_t>(all[r + 1]));
    EstimateInput at_step = estimate_input_for(config_, model_config_, cluster_, tokens);
    EstimateInput at_max = estimate_input_for(config_, model_config_, cluster_);
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
    const int64_t frozen = model_->held_bytes(false) + (partition_ ? partition_->owned_bytes() : 0);
    json record = {
        {"step", first_step_ + 1},
        {"tokens_per_micro_batch", tokens},
        {"estimate", memory_json(expected.memory)},
        {"estimate_bytes_sent", traffic},
        {"estimate_at_max_length", memory_json(worst.memory)},
        {"tokens_at_max_length", at_max.tokens_per_micro_batch},
        {"allocated", {{"frozen_weights", frozen},
                       {"trainable_weights", model_->held_bytes(true)},
                       {"gradients", engine_->gradient_sync().gradient_bytes()},
                       {"optimizer_states", engine_->optimizer_state_bytes()},
                       {"decay_mask", engine_->decay_mask_bytes()},
                       {"largest_bucket", engine_->gradient_sync().largest_bucket_bytes()},
                       {"flat_padded", engine_->layout().padded}}},
        {"estimate_largest_bucket", expected.largest_bucket * 4},
        {"estimate_flat_padded", expected.flat_padded},
        {"measured", {{"allocator", device_.is_cuda() ? "cuda caching allocator, peak allocated since start"
                                                      : "CPU allocator, peak during the step"},
                      {"ranks", ranks}}}};
    write_json_file((fs::path(run_dir_) / "estimate.json").string(), record);
    ZT_LOG_INFO("step " << first_step_ + 1 << " memory: peak " << format_bytes(double(all[0])) << " on rank 0, estimated "
                        << format_bytes(double(expected.memory.peak)) << " at " << tokens << " tokens per micro-batch ("
                        << format_bytes(double(worst.memory.peak)) << " at " << record["tokens_at_max_length"].get<int64_t>()
                        << "); estimate.json in the run folder");
  }

  void enter_epoch_of(int64_t step) {
    if (config_.data.streaming || step / steps_per_epoch_ == epoch_) return;
    epoch_ = step / steps_per_epoch_;
    pipeline_->start_epoch(static_cast<uint32_t>(epoch_));
  }

  std::vector<data::PackedRow> next_rows(int count) {
    std::vector<data::PackedRow> rows;
    while (static_cast<int>(rows.size()) < count) {
      std::optional<data::PackedRow> row = pipeline_->next();
      if (!row && config_.data.streaming) {  // a stream goes round again until max_steps
        pipeline_->start_epoch(static_cast<uint32_t>(++epoch_));
        row = pipeline_->next();
      }
      if (!row) break;
      rows.push_back(std::move(*row));
    }
    return rows;
  }

  // ---- evaluation ----

  void evaluate(int64_t step) {
    const EvalResult result = evaluator_->run(*model_);
    EvalLogLine line;
    line.step = step;
    line.total_steps = total_steps_;
    line.loss = result.loss;
    line.token_acc = result.token_acc;
    line.epoch = double(step) / double(steps_per_epoch_);
    line.runtime = result.runtime;
    line.samples = result.samples;
    line.batches = result.batches;
    last_eval_ = {step, config_.loop.metric_for_best_model == "token_acc" ? line.token_acc : line.loss};
    if (rank_ == 0) log_->eval(line);
  }

  // ---- logging ----

  void report(int64_t done, const StepOutcome& outcome) {
    window_.loss += outcome.loss, window_.tokens += outcome.tokens, window_.correct += outcome.correct;
    ++window_.steps;
    tokens_seen_ += outcome.input_tokens;
    last_loss_ = outcome.loss;
    if (rank_ == 0) log_->progress(done, total_steps_, first_step_, accumulation_, accumulation_, last_loss_, tokens_seen_);
    const bool due = done % config_.loop.logging_steps == 0 || (config_.loop.logging_first_step && done == 1) ||
                     done == total_steps_ || outcome.stop_signal != 0;
    if (!due) return;
    if (rank_ == 0) {
      TrainLogLine line;
      line.step = done;
      line.total_steps = total_steps_;
      line.first_step = first_step_;
      line.loss = window_.loss / window_.steps;
      line.grad_norm = outcome.result.grad_norm;
      line.learning_rate = outcome.learning_rate;
      line.token_acc = window_.correct / std::max(1.0, window_.tokens);
      line.epoch = double(done) / double(steps_per_epoch_);
      line.tokens_seen = tokens_seen_;
      line.skipped = outcome.result.skipped;
      log_->train(line);
    }
    window_ = {};
  }

  // ---- checkpoints ----

  // checkpoint-STEP/: the weights (PEFT adapter, or the full model), args, trainer state and the
  // distributed optimizer state, written into a temporary folder that rank 0 renames once every rank's
  // shard is there; `latest` is updated last and old checkpoints are deleted after that.
  void save_checkpoint(int64_t step) {
    const std::string temporary = checkpoint::temporary_folder(run_dir_, step);
    try {
      write_checkpoint(step, temporary);
    } catch (...) {
      // The save failed here (the job ends): what it wrote must not be mistaken for a checkpoint or fill the disk.
      std::error_code ignored;
      fs::remove_all(temporary, ignored);
      throw;
    }
  }

  void write_checkpoint(int64_t step, const std::string& temporary) {
    if (rank_ == 0) checkpoint::begin_checkpoint(temporary);
    comm_.barrier();
    std::vector<std::pair<std::string, at::Tensor>> weights = engine_->gather_named_parameters();
    if (rank_ == 0) write_weights(temporary, weights);
    if (!config_.loop.save_only_model) {
      const checkpoint::RankState state{rank_, engine_->owned_begin(), engine_->master(), engine_->exp_avg(), engine_->exp_avg_sq(),
                            engine_->steps_taken(), cpu_rng_state(), pipeline_->cursor().to_json().dump()};
      const uint32_t crc = checkpoint::write_rank_shard(temporary, state);
      const std::vector<uint64_t> crcs = comm_.all_gather_values({crc});
      if (rank_ == 0)
        checkpoint::write_manifest(temporary, engine_->layout(), engine_->config().stage,
                       std::vector<uint32_t>(crcs.begin(), crcs.end()));
    }
    if (rank_ == 0) {
      const std::string final_dir = (fs::path(run_dir_) / ("checkpoint-" + std::to_string(step))).string();
      const bool better = !best_.has_value() || (config_.loop.greater_is_better ? last_eval_.second > best_->metric
                                                                                 : last_eval_.second < best_->metric);
      if (last_eval_.first == step && better) best_ = Best{final_dir, last_eval_.second, step};
      write_json_file((fs::path(temporary) / "trainer_state.json").string(), trainer_state(step));
      saved_.push_back(checkpoint::commit_checkpoint(run_dir_, temporary, step));
      remove_old_checkpoints();
      log_->write_images();
      ZT_LOG_INFO("saved " << final_dir);
    }
    comm_.barrier();
  }

  // trainer_state.json with exactly the keys transformers' TrainerState writes (ms-swift's too): its
  // load_from_json refuses any other key, and `swift sft --resume_from_checkpoint` goes through it. The world
  // size is in zero_manifest.json.
  json trainer_state(int64_t step) const {
    const double flops_per_step = micro_batch_flops(estimate_input_for(config_, model_config_, cluster_)) *
                                  accumulation_ * world_;
    return {{"epoch", double(step) / double(steps_per_epoch_)},
            {"global_step", step},
            {"max_steps", total_steps_},
            {"logging_steps", config_.loop.logging_steps},
            {"eval_steps", config_.loop.eval_steps},
            {"save_steps", config_.loop.save_steps},
            {"train_batch_size", batch_},
            {"num_train_epochs", static_cast<int64_t>(std::ceil(double(total_steps_) / double(steps_per_epoch_)))},
            {"num_input_tokens_seen", static_cast<int64_t>(tokens_seen_)},
            {"total_flos", flops_per_step * double(step)},
            {"log_history", log_->history()},
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
                  {"should_training_stop", step == total_steps_}}},
                {"attributes", json::object()}}}}}};
  }

  void write_weights(const std::string& directory, std::vector<std::pair<std::string, at::Tensor>>& weights) const {
    const fs::path dir(directory);
    if (config_.model.full_training) {
      const at::ScalarType dtype = model_->options().dtype;
      for (auto& [name, tensor] : weights) tensor = tensor.to(dtype);
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
      write_json_file((dir / "adapter_config.json").string(), model::adapter_config_json(config_.model.lora, model::all_linear_modules(model_->config())));
    }
    write_json_file((dir / "args.json").string(), config_.args_json);
  }

  // --save_total_limit: the oldest go first, never the best one.
  // --save_total_limit: the oldest checkpoints go, never the newest (resume starts there) nor the best one
  // (as transformers keeps both, even with a limit of 1).
  void remove_old_checkpoints() {
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

  void finish() {
    // The data summary of the current epoch over all ranks (each rank counted its own share).
    const std::vector<uint64_t> mine = pipeline_->stats().to_counts();
    const std::vector<uint64_t> all = comm_.all_gather_values(mine);
    if (rank_ != 0) return;
    data::RowStats total;
    for (size_t r = 0; r < all.size(); r += mine.size())
      total.add_counts(std::vector<uint64_t>(all.begin() + static_cast<long>(r), all.begin() + static_cast<long>(r + mine.size())));
    log_->write_images();
    log_->finish();
    log::clear_status();
    std::printf("data (epoch %lld, all %d ranks): %s\nlast checkpoint: %s\n", static_cast<long long>(epoch_), world_,
                total.summary().c_str(), saved_.empty() ? "none" : saved_.back().c_str());
    if (best_)
      std::printf("best checkpoint: %s (eval_%s %.4f)\n", best_->dir.c_str(),
                  config_.loop.metric_for_best_model.c_str(), best_->metric);
    std::fflush(stdout);
    // With --load_best_model_at_end the model of the run is its best checkpoint, as transformers reloads it.
    const std::string final_model = config_.loop.load_best_model_at_end && best_ ? best_->dir
                                    : saved_.empty()                            ? std::string()
                                                                                : saved_.back();
    if (config_.push.push_to_hub && !final_model.empty()) {
      hub::push_folder(final_model, config_.push.hub_model_id, config_.push.hub_token, config_.push.hub_private_repo,
                       "ztune sft " + fs::path(final_model).filename().string());
      std::printf("pushed %s to the hub as %s\n", final_model.c_str(), config_.push.hub_model_id.c_str());
    }
  }

  TrainConfig config_;
  dist::Communicator& comm_;
  const c10::Device device_;
  const int rank_, world_;
  const ClusterShape cluster_;

  std::string model_dir_;
  model::ModelConfig model_config_;
  std::unique_ptr<data::Tokenizer> tokenizer_;
  std::unique_ptr<data::ChatTemplate> chat_;
  std::string template_name_;
  int64_t max_length_ = 0;
  std::unique_ptr<data::ShardReader> reader_;
  std::unique_ptr<data::DataPipeline> pipeline_;
  std::vector<data::RawRow> held_out_;         // --split_dataset_ratio rows (all ranks)
  std::unique_ptr<Evaluator> evaluator_;

  int batch_ = 1, accumulation_ = 1;
  uint64_t most_rows_ = 0;
  int64_t steps_per_epoch_ = 1, total_steps_ = 0;

  std::unique_ptr<model::DecoderModel> model_;
  std::unique_ptr<dist::ZeroEngine> engine_;
  std::unique_ptr<dist::LayerWeightPartition> partition_;  // destroyed before the engine and model it holds
  std::unique_ptr<TrainStep> step_;
  std::unique_ptr<LearningRateSchedule> schedule_;

  std::string run_dir_;
  std::unique_ptr<checkpoint::RunLock> run_lock_;  // rank 0's hold on run_dir_
  std::unique_ptr<RunLog> log_;
  std::vector<std::string> saved_;
  struct Best {
    std::string dir;  // the checkpoint
    double metric;    // its --metric_for_best_model
    int64_t step;
  };
  std::optional<Best> best_;
  std::pair<int64_t, double> last_eval_{-1, 0};

  int64_t first_step_ = 0, epoch_ = 0;
  double tokens_seen_ = 0;
  double last_loss_ = 0;  // the last step's loss, for the progress line
  struct {
    double loss = 0, tokens = 0, correct = 0;
    int steps = 0;
  } window_;
};

}  // namespace

// Before step 1 of a multi-rank run: the bus bandwidth within and between nodes, and a warning when the links
// between nodes will hold the run back (ZTUNE_LINK_PROBE_MB=0 skips it).
void check_links(dist::RunContext& context, int64_t trainable_numel) {
  if (context.launch().world_size < 2) return;
  const int64_t bytes = dist::link_probe_bytes(context.device());
  if (bytes == 0) return;
  // What a step sends per rank, about: the fp32 gradients reduced and the updated weights gathered.
  const double step_bytes = 2.0 * 4.0 * static_cast<double>(trainable_numel);
  const dist::LinkReport report = dist::probe_links(context.comm(), context.launch(), bytes, step_bytes);
  if (context.launch().rank != 0) return;
  ZT_LOG_INFO(report.summary);
  if (!report.warning.empty()) ZT_LOG_WARN(report.warning);
}

// --dry_run true: the estimate of this run on this launch's cluster shape, printed by rank 0; nothing loads.
int dry_run(const TrainConfig& config, dist::RunContext& context, ClusterShape cluster) {
  if (context.launch().rank != 0) return 0;
  const std::string model_dir = hub::resolve_model_dir(config.model.model, hub_access(config));
  EstimateInput input = estimate_input_for(config, model::read_model_config(model_dir), cluster);
  input.gpu = context.device().is_cuda();
  const Estimate estimate = estimate_run(input);
  std::printf("%s", format_estimate(input, estimate, estimate_time(input, estimate, Rates{}), Rates{},
                                    "no rates measured in a dry run: see ztune estimate", 0)
                        .c_str());
  std::fflush(stdout);
  return 0;
}

int run_sft(const TrainConfig& config) {
  dist::set_collective_timeout(config.loop.ddp_timeout_s);
  dist::RunContext context = dist::RunContext::start();
  if (context.launch().rank == 0) ZT_LOG_INFO("running on " << context.summary());
  install_stop_handlers();
  const ClusterShape cluster{context.launch().num_nodes, context.launch().local_world_size};
  if (config.loop.dry_run) return dry_run(config, context, cluster);
  if (context.device().is_cpu()) cpu_memory::install_counter();
  Trainer trainer(config, context.comm(), context.device(), cluster);
  check_links(context, trainer.trainable_numel());
  trainer.run();
  return 0;
}

}  // namespace zt::train
