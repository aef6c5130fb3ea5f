#include "train/trainer.h"

#include "core/torch_api.h"

#include <cstdio>
#include <filesystem>

#include "core/check.h"
#include "core/cpu_memory.h"
#include "core/log.h"
#include "dist/run_context.h"
#include "dist/zero.h"
#include "dist/zero3_weights.h"
#include "hub/modelscope.h"
#include "model/decoder.h"
#include "model/family/family.h"
#include "model/lora/peft_adapter.h"
#include "model/weight_names.h"
#include "train/estimate.h"
#include "train/expert_exchange.h"
#include "train/checkpointer.h"
#include "train/evaluator.h"
#include "train/first_step_report.h"
#include "train/resolved_run.h"
#include "train/run_data.h"
#include "train/run_folder.h"
#include "train/schedule.h"
#include "train/setup.h"
#include "train/step.h"
#include "train/stop_signal.h"

namespace zt::train {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---- the trainer ----

class Trainer {
 public:
  Trainer(TrainConfig config, dist::Communicator& comm, c10::Device device, ClusterShape cluster)
      : config_(std::move(config)), comm_(comm), device_(device), rank_(comm.rank()), world_(comm.size()), cluster_(cluster) {
    data_ = open_run_data(config_, comm_, cluster_, run_);
    config_.args_json["model_dir"] = fs::absolute(data_.model_dir).lexically_normal().string();  // for infer and export
    evaluator_ = std::make_unique<Evaluator>(comm_, *data_.pipeline, data_.eval_rows, config_.loop.per_device_eval_batch_size,
                                             config_.model.router_aux_loss_coef);
    plan_steps();
    build_model();
    open_run_folder();
    checkpointer_ = std::make_unique<Checkpointer>(config_, comm_, *engine_, *data_.pipeline, folder_.log.get(), data_.model_dir, folder_.dir,
                                                   model_->options().dtype, model::all_linear_modules(run_.model));
    const ResumePoint resumed = checkpointer_->resume(output_parent(), run_.steps_per_epoch);
    first_step_ = resumed.first_step;
    epoch_ = resumed.epoch;
  }

  int64_t trainable_numel() const { return engine_->layout().numel; }

  void run() {
    for (int64_t step = first_step_; step < run_.total_steps; ++step) {
      const StepOutcome outcome = train_step(step);
      ++steps_run_;
      const int64_t done = step + 1;
      report(done, outcome);
      const bool last = done == run_.total_steps || outcome.stop_signal != 0;
      if (evaluator_->active() && due(config_.loop.eval_strategy, config_.loop.eval_steps, done)) evaluate(done);
      if (due(config_.loop.save_strategy, config_.loop.save_steps, done) || last) checkpointer_->save(done, progress());
      if (outcome.stop_signal != 0) {
        if (rank_ == 0)
          log::print_line(std::string(signal_name(outcome.stop_signal)) + " received: stopped after step " +
                          std::to_string(done) + " of " + std::to_string(run_.total_steps) +
                          "; resume with --resume_from_checkpoint " + checkpointer_->saved().back());
        break;
      }
    }
    finish();
  }

 private:
  // Whether a --save_strategy/--eval_strategy of steps, epoch or no falls due after `done` steps; the last
  // step counts as due for steps and epoch (as ms-swift evaluates and saves at the end).
  bool due(Interval strategy, int every, int64_t done) const {
    if (strategy == Interval::no) return false;
    if (done == run_.total_steps) return true;
    return strategy == Interval::epoch ? done % run_.steps_per_epoch == 0 : done % every == 0;
  }

  // ---- setup ----

  // Rows per rank in one epoch (packed rows when packing), counted once; every rank runs as many
  // micro-batches as the fullest rank, idle where it has no row left.
  void plan_steps() {
    uint64_t most_rows = 0;
    if (!config_.data.streaming) {
      data_.pipeline->start_epoch(0);
      uint64_t my_rows = 0;
      while (data_.pipeline->next()) ++my_rows;
      for (uint64_t rows : comm_.all_gather_values({my_rows})) most_rows = std::max(most_rows, rows);
      ZT_REQUIRE(most_rows > 0, "no usable training rows (" << data_.pipeline->stats().summary() << ")");
    }
    count_steps(run_, config_, most_rows);
  }

  void build_model() {
    model::ModelOptions options;
    options.dtype = run_.dtype;
    options.device = device_;
    const bool full = config_.model.full_training;
    options.full_training = full;
    if (!full) {
      config_.model.lora.base_model = data_.model_dir;
      // The targets as the family resolves them, for the model and the adapter_config.json of every checkpoint.
      config_.model.lora = model::resolve_lora_targets(config_.model.lora, run_.model);
      options.lora = config_.model.lora;
    }
    options.modules_to_save = config_.model.lora.modules_to_save;
    options.gradient_checkpointing = config_.model.gradient_checkpointing;
    options.attn_impl = config_.model.attn_impl.value_or(options.attn_impl);
    const dist::ZeroConfig& zero = run_.zero;
    ZT_REQUIRE(!(full && zero.stage == 3), "--train_type full with ZeRO-3 is not supported: every weight would have to be "
                                           "partitioned as a trainable; use --deepspeed zero2 (or zero1) for full training");
    // Expert parallelism: this rank's expert group, and its share of every mixture of experts' experts. The
    // experts' adapters stay whole on every rank; only the frozen experts and the tokens are split.
    const int experts_split = config_.model.expert_model_parallel_size;
    std::function<bool(const std::string&)> kept_whole;
    if (experts_split > 1) {
      ZT_REQUIRE(run_.model.is_moe(), "--expert_model_parallel_size " << experts_split << ": "
                                          << run_.model.architecture_name << " in " << data_.model_dir
                                          << " is a dense model; expert parallelism needs a mixture of experts");
      ZT_REQUIRE(run_.model.num_experts % experts_split == 0,
                 "--expert_model_parallel_size " << experts_split << " does not divide num_experts "
                                                 << run_.model.num_experts << " of " << data_.model_dir);
      ZT_REQUIRE(world_ % experts_split == 0, "--expert_model_parallel_size " << experts_split << " does not divide the "
                                                                              << world_ << " ranks of this run");
      ZT_REQUIRE(!full, "--expert_model_parallel_size with --train_type full is not supported yet: the experts' "
                        "weights would be trained apart per group; use LoRA (the experts' adapters are trained whole)");
      expert_group_ = split_expert_group(comm_, experts_split);
      options.expert_shards = experts_split;
      options.expert_shard = expert_group_->rank();
      kept_whole = [](const std::string& name) { return name.find(".mlp.experts.") != std::string::npos; };
      if (rank_ == 0)
        ZT_LOG_INFO("expert parallelism: " << world_ / experts_split << " group(s) of " << experts_split << " ranks, "
                                           << run_.model.num_experts / experts_split << " of " << run_.model.num_experts
                                           << " experts per rank; tokens travel by all-to-all");
    }
    // Stacked experts the folder stores per expert are partitioned as one slot each, filled from their pieces.
    auto slots = std::make_shared<const std::map<std::string, dist::StoredSlot>>(stored_slots(run_.model, *data_.weights));
    const dist::StoredIn stored_in = [slots](const std::string& name) -> const dist::StoredSlot* {
      auto found = slots->find(name);
      return found == slots->end() ? nullptr : &found->second;
    };
    if (zero.stage == 3) {
      auto resident = dist::LayerWeightPartition::resident_predicate(
          model::layer_of, *data_.weights, zero.stage3_param_persistence_threshold, stored_in);
      options.keep_weight = [resident, kept_whole](const std::string& name) {
        return resident(name) || (kept_whole && kept_whole(name));
      };
    }
    at::manual_seed(config_.model.seed);  // the same LoRA initialisation on every rank
    model_ = std::make_unique<model::DecoderModel>(model::DecoderModel::load(data_.model_dir, run_.model, *data_.weights, options));
    if (expert_group_) {
      exchange_ = expert_exchange(*expert_group_);
      model_->set_expert_exchange(exchange_);
    }
    if (config_.model.adapters.has_value()) {
      model_->load_adapter_tensors(model::read_adapter_tensors(*config_.model.adapters));
      if (rank_ == 0) ZT_LOG_INFO("training continues from the adapter in " << *config_.model.adapters);
    }
    if (zero.stage == 3)
      partition_ = std::make_unique<dist::LayerWeightPartition>(comm_, layered_model(*model_, stored_in, kept_whole), *data_.weights, data_.model_dir,
                                                                zero.stage3_param_persistence_threshold, options.dtype, device_);
    data_.weights.reset();  // every weight is in memory now: unmap the files (their pages would count as resident)
    engine_ = std::make_unique<dist::ZeroEngine>(comm_, zero, model_->trainable_parameters(), config_.optim.adam);
    if (partition_) partition_->attach_trainables(*engine_);
    step_ = std::make_unique<TrainStep>(comm_, *model_, *engine_, partition_.get(), config_.model.gradient_checkpointing,
                                        config_.model.router_aux_loss_coef);
    ScheduleConfig schedule = config_.optim.schedule;
    schedule.total_steps = run_.total_steps;
    schedule_ = std::make_unique<LearningRateSchedule>(schedule);
  }

  // --output_dir, default output/<model folder name>: the run folder's parent (with --add_version false, the
  // run folder).
  std::string output_parent() const {
    return config_.loop.output_dir.value_or((fs::path("output") / fs::path(data_.model_dir).filename()).string());
  }

  void open_run_folder() {
    SwiftRunFacts facts;
    facts.model_dir = fs::absolute(data_.model_dir).lexically_normal().string();
    facts.model_type = run_.model.model_type;
    facts.template_name = data_.template_name;
    facts.torch_dtype = run_.dtype_name();
    facts.max_length = run_.max_length;
    facts.accumulation = run_.accumulation;
    facts.world_size = world_;
    facts.local_world_size = cluster_.ranks_per_node;
    folder_ = train::open_run_folder(config_, comm_, output_parent(), facts, data_.held_out,
                                     device_.is_cuda() ? device_.index() : -1);
    config_.args_json = folder_.args_json;
    if (rank_ != 0) return;
    ZT_LOG_INFO("run folder " << folder_.dir << "; " << world_ << " ranks, ZeRO stage " << engine_->config().stage << ", "
                              << engine_->layout().numel << " trainable parameters; "
                              << (config_.data.streaming ? std::string("streaming") : std::to_string(run_.most_rows) + " rows on the fullest rank")
                              << ", " << run_.total_steps << " steps (" << run_.steps_per_epoch << " per epoch, batch " << run_.batch
                              << " x accumulation " << run_.accumulation << " x " << world_ << " ranks)");
  }

  // ---- one optimizer step ----

  // Accumulates `accumulation` micro-batches of `batch` rows, then takes the ZeRO step with the gradients
  // normalised by the label tokens of the whole step over all ranks.
  StepOutcome train_step(int64_t step) {
    enter_epoch_of(step);
    const bool measured = step == first_step_;
    dist::CommStats expert_group_before;
    if (measured) {
      begin_first_step_measurement(comm_, partition_.get());
      if (expert_group_) expert_group_before = expert_group_->stats();
    }
    int64_t largest = 0;
    for (int micro = 0; micro < run_.accumulation; ++micro) {
      std::vector<data::PackedRow> rows = next_rows(run_.batch);
      if (micro == 0 && epoch_.ends_when_empty) {  // collective while such an epoch lasts
        uint64_t most = 0;
        for (uint64_t count : comm_.all_gather_values({static_cast<uint64_t>(rows.size())})) most = std::max(most, count);
        if (most == 0) {
          begin_epoch(epoch_.epoch + 1, step);
          rows = next_rows(run_.batch);
        }
      }
      int64_t tokens = 0;
      for (const data::PackedRow& row : rows) tokens += static_cast<int64_t>(row.input_ids.size());
      largest = std::max(largest, tokens);
      step_->micro_batch(rows);
      if (rank_ == 0 && micro + 1 < run_.accumulation)
        folder_.log->progress(step + 1, run_.total_steps, first_step_, micro + 1, run_.accumulation, last_loss_, tokens_seen_);
    }
    StepOutcome outcome = step_->finish(schedule_->at(step), stop_requested());
    if (measured)
      report_first_step(comm_, partition_.get(),
                        {config_, run_, device_, first_step_ + 1, model_->held_bytes(false),
                         model_->held_bytes(true), *engine_, folder_.dir, expert_group_.get(), expert_group_before},
                        largest);
    return outcome;
  }

  // The next epoch begins after steps_per_epoch steps of this one, or, for an epoch that ends when empty, at the
  // first step where no rank has a row left of it (train_step asks).
  void enter_epoch_of(int64_t step) {
    if (config_.data.streaming || epoch_.ends_when_empty || step - epoch_.start_step < run_.steps_per_epoch) return;
    begin_epoch(epoch_.epoch + 1, step);
  }

  void begin_epoch(int64_t epoch, int64_t step) {
    epoch_ = {epoch, step, false};
    data_.pipeline->start_epoch(static_cast<uint32_t>(epoch));
  }

  std::vector<data::PackedRow> next_rows(int count) {
    std::vector<data::PackedRow> rows;
    while (static_cast<int>(rows.size()) < count) {
      std::optional<data::PackedRow> row = data_.pipeline->next();
      if (!row && config_.data.streaming) {  // a stream goes round again until max_steps
        ++epoch_.epoch;
        data_.pipeline->start_epoch(static_cast<uint32_t>(epoch_.epoch));
        row = data_.pipeline->next();
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
    line.total_steps = run_.total_steps;
    line.loss = result.loss;
    line.token_acc = result.token_acc;
    line.epoch = double(step) / double(run_.steps_per_epoch);
    line.runtime = result.runtime;
    line.samples = result.samples;
    line.batches = result.batches;
    checkpointer_->note_eval(step, config_.loop.metric_for_best_model == "token_acc" ? line.token_acc : line.loss);
    if (rank_ == 0) folder_.log->eval(line);
  }

  // ---- logging ----

  void report(int64_t done, const StepOutcome& outcome) {
    window_.loss += outcome.loss, window_.tokens += outcome.tokens, window_.correct += outcome.correct;
    ++window_.steps;
    tokens_seen_ += outcome.input_tokens;
    last_loss_ = outcome.loss;
    if (rank_ == 0) folder_.log->progress(done, run_.total_steps, first_step_, run_.accumulation, run_.accumulation, last_loss_, tokens_seen_);
    const bool due = done % config_.loop.logging_steps == 0 || (config_.loop.logging_first_step && done == 1) ||
                     done == run_.total_steps || outcome.stop_signal != 0;
    if (!due) return;
    if (rank_ == 0) {
      TrainLogLine line;
      line.step = done;
      line.total_steps = run_.total_steps;
      line.first_step = first_step_;
      line.loss = window_.loss / window_.steps;
      line.grad_norm = outcome.result.grad_norm;
      line.learning_rate = outcome.learning_rate;
      line.token_acc = window_.correct / std::max(1.0, window_.tokens);
      line.epoch = double(done) / double(run_.steps_per_epoch);
      line.tokens_seen = tokens_seen_;
      line.skipped = outcome.result.skipped;
      folder_.log->train(line);
    }
    window_ = {};
  }

  // What trainer_state.json reports of the run so far.
  TrainerProgress progress() const {
    const double flops = micro_batch_flops(estimate_input_for(config_, run_)) * run_.accumulation * world_;
    return {run_.total_steps, run_.steps_per_epoch, run_.batch, tokens_seen_, flops, epoch_};
  }

  void finish() {
    if (exchange_ && rank_ == 0 && steps_run_ > 0) {
      const double bytes = expert_group_->stats().bytes[static_cast<size_t>(dist::Collective::kAllToAll)];
      ZT_LOG_INFO("expert parallelism on rank 0: " << format_bytes(bytes / double(steps_run_))
                                                    << " sent by all-to-all per step, "
                                                    << exchange_->seconds() / double(steps_run_)
                                                    << " s per step in all-to-all (waits included; evaluation's too)");
    }
    // The data summary of the current epoch over all ranks (each rank counted its own share).
    const std::vector<uint64_t> mine = data_.pipeline->stats().to_counts();
    const std::vector<uint64_t> all = comm_.all_gather_values(mine);
    if (rank_ != 0) return;
    data::RowStats total;
    for (size_t r = 0; r < all.size(); r += mine.size())
      total.add_counts(std::vector<uint64_t>(all.begin() + static_cast<long>(r), all.begin() + static_cast<long>(r + mine.size())));
    folder_.log->write_images();
    folder_.log->finish();
    log::clear_status();
    const std::vector<std::string>& saved = checkpointer_->saved();
    const std::optional<Checkpointer::Best>& best = checkpointer_->best();
    std::printf("data (epoch %lld, all %d ranks): %s\nlast checkpoint: %s\n", static_cast<long long>(epoch_.epoch), world_,
                total.summary().c_str(), saved.empty() ? "none" : saved.back().c_str());
    if (best)
      std::printf("best checkpoint: %s (eval_%s %.4f)\n", best->dir.c_str(),
                  config_.loop.metric_for_best_model.c_str(), best->metric);
    std::fflush(stdout);
    // With --load_best_model_at_end the model of the run is its best checkpoint, as transformers reloads it.
    const std::string final_model = config_.loop.load_best_model_at_end && best ? best->dir
                                    : saved.empty()                           ? std::string()
                                                                              : saved.back();
    if (config_.push.push_to_hub && !final_model.empty()) {
      const std::string repo = config_.push.hub_model_id.value_or("");
      hub::push_folder(final_model, repo, config_.push.hub_token, config_.push.hub_private_repo,
                       "ztune sft " + fs::path(final_model).filename().string());
      std::printf("pushed %s to the hub as %s\n", final_model.c_str(), repo.c_str());
    }
  }

  TrainConfig config_;
  dist::Communicator& comm_;
  const c10::Device device_;
  const int rank_, world_;
  const ClusterShape cluster_;

  RunData data_;
  std::unique_ptr<Evaluator> evaluator_;

  ResolvedRun run_;

  std::unique_ptr<dist::Communicator> expert_group_;  // expert parallelism's group; outlives the model's exchange
  std::shared_ptr<CommunicatorExchange> exchange_;
  int64_t steps_run_ = 0;  // by this process (a resumed run starts after its checkpoint)
  std::unique_ptr<model::DecoderModel> model_;
  std::unique_ptr<dist::ZeroEngine> engine_;
  std::unique_ptr<dist::LayerWeightPartition> partition_;  // destroyed before the engine and model it holds
  std::unique_ptr<TrainStep> step_;
  std::unique_ptr<LearningRateSchedule> schedule_;

  RunFolder folder_;
  std::unique_ptr<Checkpointer> checkpointer_;

  int64_t first_step_ = 0;
  EpochPosition epoch_;
  double tokens_seen_ = 0;
  double last_loss_ = 0;  // the last step's loss, for the progress line
  struct {
    double loss = 0, tokens = 0, correct = 0;
    int steps = 0;
  } window_;
};

}  // namespace

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
