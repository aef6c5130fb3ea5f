#include "train/trainer.h"

#include <torch/torch.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include <fcntl.h>
#include <unistd.h>

#include "cli/sft_args.h"
#include "core/check.h"
#include "core/json_file.h"
#include "core/log.h"
#include "core/safetensors_torch.h"
#include "data/chat_template.h"
#include "data/pipeline.h"
#include "data/shard_reader.h"
#include "data/tokenizer.h"
#include "dist/comm.h"
#include "dist/launch.h"
#include "dist/zero.h"
#include "dist/zero3_weights.h"
#include "model/config.h"
#include "model/decoder.h"
#include "export/hub.h"
#include "export/peft_adapter.h"
#include "train/dist_checkpoint.h"
#include "train/hub_cache.h"
#include "train/run_log.h"
#include "train/schedule.h"
#include "train/stop_signal.h"

namespace zt::train {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---- setup helpers ----

// Each --dataset entry as the files to read: a local file, or the data files of a cached hub dataset.
std::vector<data::DatasetSource> resolve_datasets(const std::vector<std::string>& specs, bool use_hf) {
  std::vector<data::DatasetSource> sources;
  for (const std::string& spec : specs) {
    data::DatasetSource source = data::parse_dataset_spec(spec);
    if (fs::exists(source.path)) {
      sources.push_back(source);
      continue;
    }
    const std::string ext = fs::path(source.path).extension().string();
    ZT_REQUIRE(ext != ".jsonl" && ext != ".json" && ext != ".csv",
               source.path << ": dataset file not found (check the path; --dataset takes files or cached hub ids)");
    std::string id = source.path, subset;
    if (size_t colon = id.rfind(':'); colon != std::string::npos) subset = id.substr(colon + 1), id = id.substr(0, colon);
    const bool hf = use_hf || spec.rfind("HF::", 0) == 0;
    std::vector<std::string> looked;
    std::vector<std::string> files = cached_dataset_files(id, subset, hf, looked);
    ZT_REQUIRE(!files.empty(), "--dataset " << spec << ": no such file, and no cached " << (hf ? "Hugging Face" : "ModelScope")
                                            << " dataset '" << id << "' with .jsonl/.json/.csv files (looked in "
                                            << [&] {
                                                 std::string all;
                                                 for (const std::string& l : looked) all += (all.empty() ? "" : ", ") + l;
                                                 return all;
                                               }()
                                            << "); ztune does not download while training: fetch it first or pass a file");
    ZT_REQUIRE(files.size() == 1 || !source.sample_count.has_value(),
               "--dataset " << spec << ": '#N' needs a single data file, but the cached dataset has " << files.size());
    for (const std::string& file : files) sources.push_back({file, source.sample_count});
  }
  return sources;
}

// Rank 0 picks output_dir/vN-YYYYMMDD-HHMMSS (N = 1 + the largest existing) and every rank gets it.
std::string choose_run_dir(const std::string& parent, dist::Communicator& comm) {
  std::string chosen;
  if (comm.rank() == 0) {
    int largest = 0;
    const std::regex pattern("v([0-9]+)-.*");
    std::error_code ignored;
    if (fs::is_directory(parent, ignored))
      for (const auto& entry : fs::directory_iterator(parent)) {
        std::smatch match;
        const std::string name = entry.path().filename().string();
        if (std::regex_match(name, match, pattern)) largest = std::max(largest, std::stoi(match[1]));
      }
    const std::time_t now = std::time(nullptr);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
    chosen = (fs::path(parent) / ("v" + std::to_string(largest + 1) + "-" + stamp)).string();
    ZT_REQUIRE(chosen.size() <= 4096, "--output_dir " << parent << ": the path is too long");
    fs::create_directories(chosen);
  }
  std::vector<uint64_t> bytes(chosen.begin(), chosen.end());
  bytes.insert(bytes.begin(), chosen.size());
  bytes.resize(4096 + 1, 0);
  at::Tensor shared = at::tensor(at::ArrayRef<int64_t>(reinterpret_cast<const int64_t*>(bytes.data()), 4097), at::kLong);
  comm.broadcast(shared, 0)->wait();
  std::string out;
  for (int64_t i = 1; i <= shared[0].item<int64_t>(); ++i) out.push_back(static_cast<char>(shared[i].item<int64_t>()));
  return out;
}

at::ScalarType training_dtype(const cli::SftArgs& args, const model::ModelConfig& config) {
  if (args.bf16.value_or(false)) return at::kBFloat16;
  if (args.fp16.value_or(false)) return at::kHalf;
  const std::string name = args.torch_dtype.value_or(config.dtype);
  if (name == "bfloat16" || name == "bf16") return at::kBFloat16;
  if (name == "float16" || name == "fp16") return at::kHalf;
  return at::kFloat;
}

// Flushes a file or folder to disk (a checkpoint is complete on disk before it is renamed into place).
void fsync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// --adapters DIR (start from an existing PEFT adapter): its configuration replaces the LoRA flags.
model::LoraConfig lora_config(const cli::SftArgs& args) {
  model::LoraConfig lora{args.lora_rank, static_cast<double>(args.lora_alpha), args.lora_dropout, args.use_rslora,
                         args.target_modules};
  if (args.adapters.empty()) return lora;
  ZT_REQUIRE(args.adapters.size() == 1, "--adapters: training continues from one adapter, " << args.adapters.size() << " given");
  const json config = read_json_file((fs::path(args.adapters[0]) / "adapter_config.json").string());
  lora.rank = config.value("r", lora.rank);
  lora.alpha = config.value("lora_alpha", lora.alpha);
  lora.dropout = config.value("lora_dropout", lora.dropout);
  lora.use_rslora = config.value("use_rslora", lora.use_rslora);
  if (config.contains("target_modules") && config["target_modules"].is_array())
    lora.target_modules = config["target_modules"].get<std::vector<std::string>>();
  return lora;
}

json adapter_config(const model::LoraConfig& lora, const cli::SftArgs& args, const std::string& model_dir) {
  exporting::LoraAdapterConfig config;
  config.rank = lora.rank;
  config.alpha = lora.alpha;
  config.dropout = lora.dropout;
  config.use_rslora = lora.use_rslora;
  config.target_modules = lora.target_modules;
  config.modules_to_save = args.modules_to_save;
  config.bias = args.lora_bias;
  config.base_model = model_dir;
  return exporting::adapter_config_json(config);
}

// The CPU generator (LoRA dropout seeds) as bytes, and back.
std::string cpu_rng_state() {
  at::Tensor state = at::detail::getDefaultCPUGenerator().get_state();
  return std::string(reinterpret_cast<const char*>(state.const_data_ptr<uint8_t>()), static_cast<size_t>(state.numel()));
}

void set_cpu_rng_state(const std::string& bytes) {
  at::Tensor state = at::empty({static_cast<int64_t>(bytes.size())}, at::kByte);
  std::memcpy(state.mutable_data_ptr<uint8_t>(), bytes.data(), bytes.size());
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  generator.set_state(state);
}

// Rows of one micro-batch as one row without padding: samples side by side, positions restarting, so
// attention stays inside each sample and the loss is the sum over the samples (--padding_free).
data::PackedRow concatenate(const std::vector<data::PackedRow>& rows) {
  if (rows.size() == 1) return rows[0];
  data::PackedRow out;
  for (const data::PackedRow& row : rows) {
    out.input_ids.insert(out.input_ids.end(), row.input_ids.begin(), row.input_ids.end());
    out.labels.insert(out.labels.end(), row.labels.begin(), row.labels.end());
    out.position_ids.insert(out.position_ids.end(), row.position_ids.begin(), row.position_ids.end());
  }
  return out;
}

data::PackedRow as_row(const data::EncodedSample& sample) {
  data::PackedRow row;
  row.input_ids = sample.input_ids;
  row.labels = sample.labels;
  for (size_t i = 0; i < sample.input_ids.size(); ++i) row.position_ids.push_back(static_cast<int32_t>(i));
  return row;
}

struct Counts {
  double loss_sum = 0, tokens = 0, correct = 0;  // tokens: label tokens
  double input_tokens = 0;
  void add(const Counts& other) {
    loss_sum += other.loss_sum, tokens += other.tokens, correct += other.correct, input_tokens += other.input_tokens;
  }
};

struct StepOutcome {
  double loss = 0, tokens = 0, correct = 0, learning_rate = 0;
  double input_tokens = 0;  // all ranks, for throughput
  dist::StepResult result;
  int stop_signal = 0;  // a rank received SIGTERM/SIGUSR1 during the step
};

// ---- the trainer ----

class Trainer {
 public:
  Trainer(const cli::SftArgs& args, json args_json, dist::Communicator& comm)
      : args_(args), args_json_(std::move(args_json)), comm_(comm), rank_(comm.rank()), world_(comm.size()) {
    check_arguments();
    open_data();
    plan_steps();
    build_model();
    open_run_folder();
    resume();
  }

  void run() {
    for (int64_t step = first_step_; step < total_steps_; ++step) {
      const StepOutcome outcome = train_step(step);
      const int64_t done = step + 1;
      report(done, outcome);
      const bool last = done == total_steps_ || outcome.stop_signal != 0;
      if (has_eval_ && (done % eval_steps_ == 0 || done == total_steps_)) evaluate(done);
      if (done % args_.save_steps == 0 || last) save_checkpoint(done);
      if (outcome.stop_signal != 0) {
        if (rank_ == 0)
          std::printf("%s received: stopped after step %lld of %lld; resume with --resume_from_checkpoint %s\n",
                      signal_name(outcome.stop_signal), static_cast<long long>(done),
                      static_cast<long long>(total_steps_), saved_.back().c_str());
        break;
      }
    }
    finish();
  }

 private:
  // ---- setup ----

  void check_arguments() {
    ZT_REQUIRE(!args_.dataset.empty(), "--dataset is required");
    ZT_REQUIRE(!args_.streaming || args_.max_steps > 0,
               "--streaming true needs --max_steps: a stream has no known length to derive the steps from");
    ZT_REQUIRE(args_.train_type == "lora" || args_.adapters.empty(), "--adapters continues LoRA training; it needs --train_type lora");
    for (const std::string& target : args_.report_to)
      ZT_REQUIRE(target != "swanlab", "--report_to swanlab: SwanLab needs its cloud service, which ztune does not talk to "
                                      "yet; use --report_to tensorboard (the default) or none");
    ZT_REQUIRE(!args_.push_to_hub || args_.hub_model_id.has_value(), "--push_to_hub true needs --hub_model_id OWNER/NAME");
    ZT_REQUIRE(args_.save_steps > 0 && args_.logging_steps > 0 && args_.eval_steps.value_or(1) > 0,
               "--save_steps, --logging_steps and --eval_steps must be positive");
  }

  void open_data() {
    model_dir_ = resolve_model_dir(args_.model, args_.use_hf);
    args_json_["model_dir"] = fs::absolute(model_dir_).lexically_normal().string();  // for infer and export
    config_ = model::read_model_config(model_dir_);
    tokenizer_ = std::make_unique<data::Tokenizer>(data::Tokenizer::load(model_dir_));
    const data::SpecialTokens special = data::read_special_tokens(model_dir_, *tokenizer_);
    chat_ = std::make_unique<data::ChatTemplate>(
        data::template_by_name(args_.template_name.value_or(data::detect_template_name(model_dir_))), *tokenizer_,
        args_.system, special.eos_id, special.bos_id);
    data::ReaderOptions reader_options;
    reader_options.rank = rank_;
    reader_options.world_size = world_;
    reader_options.shuffle = args_.dataset_shuffle;
    reader_options.shuffle_buffer_size = static_cast<uint32_t>(args_.shuffle_buffer_size);
    reader_options.data_seed = static_cast<uint64_t>(args_.data_seed);
    reader_options.split_ratio = args_.val_dataset.empty() ? args_.split_dataset_ratio : 0.0;
    reader_ = std::make_unique<data::ShardReader>(resolve_datasets(args_.dataset, args_.use_hf), reader_options,
                                                  dist::allgather_u64);
    data::PipelineOptions options;
    if (args_.columns.has_value()) options.format.column_renames = data::parse_column_renames(*args_.columns);
    options.loss_scale = data::parse_loss_scale(args_.loss_scale);
    options.max_length = args_.max_length.value_or(static_cast<int>(config_.max_position_embeddings));
    options.truncation = data::parse_truncation(args_.truncation_strategy);
    options.packing = args_.packing;
    options.packing_length = args_.packing_length.value_or(0);
    options.strict = args_.strict;
    pipeline_ = std::make_unique<data::DataPipeline>(*reader_, *chat_, options);
    open_eval_data(reader_options);
  }

  // The validation rows: --val_dataset files, or the part --split_dataset_ratio held out (written to
  // val_dataset.jsonl). Each rank encodes its share once; evaluation runs as many batches on every rank.
  void open_eval_data(data::ReaderOptions options) {
    std::vector<data::RawRow> rows;
    if (!args_.val_dataset.empty()) {
      options.shuffle = false;
      options.split_ratio = 0;
      data::ShardReader val_reader(resolve_datasets(args_.val_dataset, args_.use_hf), options, dist::allgather_u64);
      val_reader.start_epoch(0);
      while (std::optional<data::RawRow> row = val_reader.next()) rows.push_back(std::move(*row));
    } else if (args_.split_dataset_ratio > 0) {
      held_out_ = reader_->read_validation_rows();
      for (size_t i = static_cast<size_t>(rank_); i < held_out_.size(); i += static_cast<size_t>(world_))
        rows.push_back(held_out_[i]);
    }
    uint64_t skipped = 0;
    for (const data::RawRow& row : rows) {
      if (std::optional<data::SampleWithSource> sample = pipeline_->encode(row))
        eval_rows_.push_back(as_row(sample->sample));
      else
        ++skipped;
    }
    const int batch = std::max(1, args_.per_device_eval_batch_size);
    uint64_t most = 0, total = 0, total_skipped = 0;
    std::vector<uint64_t> all = dist::allgather_u64({eval_rows_.size(), skipped});
    for (size_t r = 0; r < all.size(); r += 2) {
      most = std::max<uint64_t>(most, (all[r] + batch - 1) / batch);
      total += all[r], total_skipped += all[r + 1];
    }
    eval_batches_ = static_cast<int64_t>(most);
    if (rank_ == 0 && total + total_skipped > 0)
      ZT_LOG_INFO("validation: " << total << " rows" << (total_skipped ? ", " + std::to_string(total_skipped) + " skipped (too long or malformed)" : ""));
    has_eval_ = total > 0;
    if (!has_eval_) eval_rows_.clear();
  }

  // Rows per rank in one epoch (packed rows when packing), counted once; every rank runs as many
  // micro-batches as the fullest rank, idle where it has no row left.
  void plan_steps() {
    batch_ = args_.per_device_train_batch_size;
    accumulation_ = args_.gradient_accumulation_steps.value_or(std::max(1, static_cast<int>(std::ceil(16.0 / batch_ / world_))));
    const int64_t per_step = static_cast<int64_t>(batch_) * accumulation_;
    eval_steps_ = args_.eval_steps.value_or(args_.save_steps);
    if (args_.streaming) {
      total_steps_ = args_.max_steps;
      steps_per_epoch_ = total_steps_;
      return;
    }
    pipeline_->start_epoch(0);
    uint64_t my_rows = 0;
    while (pipeline_->next()) ++my_rows;
    for (uint64_t rows : dist::allgather_u64({my_rows})) most_rows_ = std::max(most_rows_, rows);
    ZT_REQUIRE(most_rows_ > 0, "no usable training rows (" << pipeline_->stats().summary() << ")");
    steps_per_epoch_ = std::max<int64_t>(1, (static_cast<int64_t>(most_rows_) + per_step - 1) / per_step);
    total_steps_ = args_.max_steps > 0 ? args_.max_steps
                                       : static_cast<int64_t>(std::ceil(args_.num_train_epochs * double(steps_per_epoch_)));
  }

  void build_model() {
    model::ModelOptions options;
    options.dtype = training_dtype(args_, config_);
    const bool full = args_.train_type == "full";
    options.full_training = full;
    if (!full) lora_ = lora_config(args_), options.lora = lora_;
    options.modules_to_save = args_.modules_to_save;
    options.gradient_checkpointing = args_.gradient_checkpointing;
    options.attn_impl = args_.attn_impl.value_or("sdpa");
    dist::ZeroAutoValues autos;
    autos.hidden_size = config_.hidden_size;
    autos.max_grad_norm = args_.max_grad_norm;
    autos.dtype = options.dtype == at::kBFloat16 ? "bf16" : options.dtype == at::kHalf ? "fp16" : "fp32";
    dist::ZeroConfig zero = args_.deepspeed.has_value() ? dist::load_zero_config(*args_.deepspeed, autos) : dist::ZeroConfig{};
    if (!args_.deepspeed.has_value()) {
      zero.gradient_clipping = args_.max_grad_norm;
      zero.precision = autos.dtype;
    }
    ZT_REQUIRE(!(full && zero.stage == 3), "--train_type full with ZeRO-3 is not supported: every weight would have to be "
                                           "partitioned as a trainable; use --deepspeed zero2 (or zero1) for full training");
    if (zero.stage == 3)
      options.keep_weight = dist::LayerWeightPartition::resident_predicate(model_dir_, zero.stage3_param_persistence_threshold);
    torch::manual_seed(args_.seed);  // the same LoRA initialisation on every rank
    model_ = std::make_unique<model::DecoderModel>(model::DecoderModel::load(model_dir_, options));
    if (!args_.adapters.empty()) {
      model_->load_adapter_tensors(st::load_tensors((fs::path(args_.adapters[0]) / "adapter_model.safetensors").string()));
      if (rank_ == 0) ZT_LOG_INFO("training continues from the adapter in " << args_.adapters[0]);
    }
    if (zero.stage == 3)
      partition_ = std::make_unique<dist::LayerWeightPartition>(comm_, *model_, model_dir_,
                                                                zero.stage3_param_persistence_threshold, options.dtype, at::kCPU);
    const dist::AdamWConfig adam{args_.adam_beta1, args_.adam_beta2, args_.adam_epsilon, args_.weight_decay};
    engine_ = std::make_unique<dist::ZeroEngine>(comm_, zero, model_->trainable_parameters(), adam);
    if (partition_) partition_->attach_trainables(*engine_);
    schedule_ = std::make_unique<LearningRateSchedule>(ScheduleConfig{
        args_.lr_scheduler_type, args_.learning_rate.value_or(full ? 1e-5 : 1e-4), total_steps_, args_.warmup_steps,
        args_.warmup_ratio});
  }

  void open_run_folder() {
    const std::string parent = args_.output_dir.value_or((fs::path("output") / fs::path(model_dir_).filename()).string());
    run_dir_ = choose_run_dir(parent, comm_);
    if (rank_ != 0) return;
    write_json_file((fs::path(run_dir_) / "args.json").string(), args_json_);
    if (!held_out_.empty()) {
      std::ofstream val(fs::path(run_dir_) / "val_dataset.jsonl");
      for (const data::RawRow& row : held_out_) val << row.text << "\n";
      ZT_REQUIRE(val.good(), run_dir_ << "/val_dataset.jsonl: write failed");
    }
    const bool tensorboard = std::find(args_.report_to.begin(), args_.report_to.end(), "none") == args_.report_to.end();
    log_ = std::make_unique<RunLog>(run_dir_, tensorboard);
    ZT_LOG_INFO("run folder " << run_dir_ << "; " << world_ << " ranks, ZeRO stage " << engine_->config().stage << ", "
                              << engine_->layout().numel << " trainable parameters; "
                              << (args_.streaming ? std::string("streaming") : std::to_string(most_rows_) + " rows on the fullest rank")
                              << ", " << total_steps_ << " steps (" << steps_per_epoch_ << " per epoch, batch " << batch_
                              << " x accumulation " << accumulation_ << " x " << world_ << " ranks)");
  }

  // --resume_from_checkpoint: optimizer (any world size or stage), step, and with the same world size the
  // data position and random state of every rank; --resume_only_model takes the weights alone.
  void resume() {
    pipeline_->start_epoch(0);
    if (!args_.resume_from_checkpoint.has_value()) return;
    const std::string& dir = *args_.resume_from_checkpoint;
    ZT_REQUIRE(fs::is_directory(dir), "--resume_from_checkpoint " << dir << ": no such folder");
    if (!fs::exists(fs::path(dir) / "zero_manifest.json")) {
      ZT_REQUIRE(args_.resume_only_model, "--resume_from_checkpoint " << dir << ": the checkpoint has no optimizer state (it was "
                                          "saved with --save_only_model true); add --resume_only_model true to start from its weights");
      load_weights_only(dir);
      return;
    }
    FullState state = read_full_state(dir);
    if (args_.resume_only_model) {
      const at::Tensor zeros = at::zeros_like(state.master);
      engine_->load_full_state(state.layout.entries, state.master, zeros, zeros, 0);
      if (rank_ == 0) ZT_LOG_INFO("weights taken from " << dir << "; optimizer, step and data start fresh");
      return;
    }
    engine_->load_full_state(state.layout.entries, state.master, state.exp_avg, state.exp_avg_sq, state.step);
    first_step_ = state.step;
    epoch_ = first_step_ / steps_per_epoch_;
    const bool same_world = state.world_size == world_;
    if (args_.ignore_data_skip) {
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
    if (!args_.ignore_data_skip && rank_ < state.world_size && !state.rng_states[static_cast<size_t>(rank_)].empty())
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
    Counts local;
    for (int micro = 0; micro < accumulation_; ++micro) {
      std::vector<data::PackedRow> rows = next_rows(batch_);
      if (!rows.empty())
        local.add(forward_backward(concatenate(rows)));
      else if (partition_)
        partition_->replay_without_data(args_.gradient_checkpointing);
      engine_->after_backward();
    }
    at::Tensor totals =
        at::tensor({local.loss_sum, local.tokens, local.correct, double(stop_requested()), local.input_tokens}, at::kDouble);
    comm_.all_reduce(totals)->wait();
    StepOutcome outcome;
    outcome.input_tokens = totals[4].item<double>();
    outcome.tokens = totals[1].item<double>();
    outcome.loss = totals[0].item<double>() / std::max(1.0, outcome.tokens);
    outcome.correct = totals[2].item<double>();
    outcome.stop_signal = totals[3].item<double>() > 0 ? (stop_requested() ? stop_requested() : SIGTERM) : 0;
    outcome.learning_rate = schedule_->at(step);
    outcome.result = engine_->step(outcome.learning_rate, 1.0 / std::max(1.0, outcome.tokens));
    return outcome;
  }

  void enter_epoch_of(int64_t step) {
    if (args_.streaming || step / steps_per_epoch_ == epoch_) return;
    epoch_ = step / steps_per_epoch_;
    pipeline_->start_epoch(static_cast<uint32_t>(epoch_));
  }

  std::vector<data::PackedRow> next_rows(int count) {
    std::vector<data::PackedRow> rows;
    while (static_cast<int>(rows.size()) < count) {
      std::optional<data::PackedRow> row = pipeline_->next();
      if (!row && args_.streaming) {  // a stream goes round again until max_steps
        pipeline_->start_epoch(static_cast<uint32_t>(++epoch_));
        row = pipeline_->next();
      }
      if (!row) break;
      rows.push_back(std::move(*row));
    }
    return rows;
  }

  static at::Tensor as_tensor(const std::vector<int32_t>& values) {
    return at::tensor(at::ArrayRef<int32_t>(values), at::kInt).to(at::kLong).view({1, static_cast<int64_t>(values.size())});
  }

  Counts forward_backward(const data::PackedRow& row) {
    const model::LossOutput loss =
        model_->loss(model_->hidden_states(as_tensor(row.input_ids), as_tensor(row.position_ids), true), as_tensor(row.labels));
    (loss.loss_sum * engine_->loss_scale()).backward();
    return {loss.loss_sum.item<double>(), static_cast<double>(loss.num_tokens), static_cast<double>(loss.num_correct),
            static_cast<double>(row.input_ids.size())};
  }

  // ---- evaluation ----

  // eval_loss as transformers reports it: the mean over batches of each batch's per-token loss (weighted
  // by the batch's rows); eval_token_acc over all label tokens.
  void evaluate(int64_t step) {
    const auto start = std::chrono::steady_clock::now();
    at::NoGradGuard no_grad;
    const size_t batch = static_cast<size_t>(std::max(1, args_.per_device_eval_batch_size));
    double weighted_loss = 0, rows = 0, tokens = 0, correct = 0;
    for (int64_t b = 0; b < eval_batches_; ++b) {
      const size_t begin = static_cast<size_t>(b) * batch;
      std::vector<data::PackedRow> group;
      for (size_t i = begin; i < std::min(eval_rows_.size(), begin + batch); ++i) group.push_back(eval_rows_[i]);
      // A rank whose share is done still runs a one-token forward: under ZeRO-3 every rank takes part in
      // every layer gather.
      const data::PackedRow row = group.empty() ? data::PackedRow{{0}, {-100}, {0}, {}, {}} : concatenate(group);
      const model::LossOutput loss =
          model_->loss(model_->hidden_states(as_tensor(row.input_ids), as_tensor(row.position_ids), false), as_tensor(row.labels));
      if (group.empty() || loss.num_tokens == 0) continue;
      weighted_loss += loss.loss_sum.item<double>() / double(loss.num_tokens) * double(group.size());
      rows += double(group.size());
      tokens += double(loss.num_tokens);
      correct += double(loss.num_correct);
    }
    at::Tensor totals = at::tensor({weighted_loss, rows, tokens, correct}, at::kDouble);
    comm_.all_reduce(totals)->wait();
    EvalLogLine line;
    line.step = step;
    line.total_steps = total_steps_;
    line.loss = totals[0].item<double>() / std::max(1.0, totals[1].item<double>());
    line.token_acc = totals[3].item<double>() / std::max(1.0, totals[2].item<double>());
    line.epoch = double(step) / double(steps_per_epoch_);
    line.runtime = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    line.samples = static_cast<int64_t>(totals[1].item<double>());
    line.batches = eval_batches_ * world_;
    last_eval_ = {step, line.loss};
    if (rank_ == 0) log_->eval(line);
  }

  // ---- logging ----

  void report(int64_t done, const StepOutcome& outcome) {
    window_.loss += outcome.loss, window_.tokens += outcome.tokens, window_.correct += outcome.correct;
    ++window_.steps;
    tokens_seen_ += outcome.input_tokens;
    const bool due = done % args_.logging_steps == 0 || (args_.logging_first_step && done == 1) ||
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
    const fs::path final_dir = fs::path(run_dir_) / ("checkpoint-" + std::to_string(step));
    const fs::path temporary = fs::path(run_dir_) / (".checkpoint-" + std::to_string(step) + ".tmp");
    if (rank_ == 0) {
      fs::remove_all(temporary);
      fs::create_directories(temporary);
    }
    comm_.barrier();
    std::vector<std::pair<std::string, at::Tensor>> weights = engine_->gather_named_parameters();
    if (rank_ == 0) write_weights(temporary, weights);
    if (!args_.save_only_model) {
      const RankState state{rank_, engine_->owned_begin(), engine_->master(), engine_->exp_avg(), engine_->exp_avg_sq(),
                            engine_->steps_taken(), cpu_rng_state(), pipeline_->cursor().to_json().dump()};
      const uint32_t crc = write_rank_shard(temporary.string(), state);
      const std::vector<uint64_t> crcs = dist::allgather_u64({crc});
      if (rank_ == 0)
        write_manifest(temporary.string(), engine_->layout(), engine_->config().stage,
                       std::vector<uint32_t>(crcs.begin(), crcs.end()));
    }
    if (rank_ == 0) {
      if (last_eval_.first == step && (!best_.has_value() || last_eval_.second < best_->second))
        best_ = {final_dir.string(), last_eval_.second};
      json state = {{"global_step", step}, {"max_steps", total_steps_}, {"log_history", log_->history()},
                    {"world_size", world_}, {"best_model_checkpoint", best_ ? json(best_->first) : json(nullptr)},
                    {"best_metric", best_ ? json(best_->second) : json(nullptr)}};
      write_json_file((temporary / "trainer_state.json").string(), state);
      for (const auto& entry : fs::directory_iterator(temporary)) fsync_path(entry.path());
      fsync_path(temporary);
      fs::remove_all(final_dir);
      fs::rename(temporary, final_dir);
      fsync_path(run_dir_);
      const fs::path latest = fs::path(run_dir_) / "latest", latest_tmp = fs::path(run_dir_) / ".latest.tmp";
      std::ofstream(latest_tmp) << final_dir.filename().string() << "\n";
      fsync_path(latest_tmp);
      fs::rename(latest_tmp, latest);
      saved_.push_back(final_dir.string());
      remove_old_checkpoints();
      log_->write_images();
      ZT_LOG_INFO("saved " << final_dir.string());
    }
    comm_.barrier();
  }

  void write_weights(const fs::path& dir, std::vector<std::pair<std::string, at::Tensor>>& weights) const {
    if (args_.train_type == "full") {
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
      write_json_file((dir / "adapter_config.json").string(), adapter_config(*lora_, args_, model_dir_));
    }
    write_json_file((dir / "args.json").string(), args_json_);
  }

  // --save_total_limit: the oldest go first, never the best one.
  void remove_old_checkpoints() {
    if (!args_.save_total_limit.has_value()) return;
    const size_t limit = static_cast<size_t>(std::max(1, *args_.save_total_limit));
    for (auto it = saved_.begin(); saved_.size() > limit && it != saved_.end();) {
      if (best_ && *it == best_->first && it + 1 != saved_.end()) {
        ++it;
        continue;
      }
      // Renamed out of the way first, so that a crash while deleting never leaves a half checkpoint-N.
      const fs::path doomed = fs::path(*it).parent_path() / ("." + fs::path(*it).filename().string() + ".deleting");
      fs::remove_all(doomed);
      fs::rename(*it, doomed);
      fs::remove_all(doomed);
      it = saved_.erase(it);
    }
  }

  void finish() {
    // The data summary of the current epoch over all ranks (each rank counted its own share).
    const std::vector<uint64_t> mine = pipeline_->stats().to_counts();
    const std::vector<uint64_t> all = dist::allgather_u64(mine);
    if (rank_ != 0) return;
    data::RowStats total;
    for (size_t r = 0; r < all.size(); r += mine.size())
      total.add_counts(std::vector<uint64_t>(all.begin() + static_cast<long>(r), all.begin() + static_cast<long>(r + mine.size())));
    log_->write_images();
    std::printf("data (epoch %lld, all %d ranks): %s\nlast checkpoint: %s\n", static_cast<long long>(epoch_), world_,
                total.summary().c_str(), saved_.empty() ? "none" : saved_.back().c_str());
    if (best_) std::printf("best checkpoint: %s (eval_loss %.4f)\n", best_->first.c_str(), best_->second);
    std::fflush(stdout);
    if (args_.push_to_hub && !saved_.empty()) {
      exporting::push_folder(saved_.back(), args_.hub_model_id.value_or(""), args_.hub_token, args_.hub_private_repo,
                             "ztune sft " + fs::path(saved_.back()).filename().string());
      std::printf("pushed %s to the hub as %s\n", saved_.back().c_str(), args_.hub_model_id->c_str());
    }
  }

  const cli::SftArgs& args_;
  json args_json_;
  dist::Communicator& comm_;
  const int rank_, world_;

  std::string model_dir_;
  model::ModelConfig config_;
  std::unique_ptr<data::Tokenizer> tokenizer_;
  std::unique_ptr<data::ChatTemplate> chat_;
  std::unique_ptr<data::ShardReader> reader_;
  std::unique_ptr<data::DataPipeline> pipeline_;
  std::vector<data::RawRow> held_out_;         // --split_dataset_ratio rows (all ranks)
  std::vector<data::PackedRow> eval_rows_;     // this rank's share, encoded
  int64_t eval_batches_ = 0;                   // per rank, the most any rank has
  bool has_eval_ = false;

  int batch_ = 1, accumulation_ = 1;
  uint64_t most_rows_ = 0;
  int64_t steps_per_epoch_ = 1, total_steps_ = 0, eval_steps_ = 1;

  std::optional<model::LoraConfig> lora_;
  std::unique_ptr<model::DecoderModel> model_;
  std::unique_ptr<dist::ZeroEngine> engine_;
  std::unique_ptr<dist::LayerWeightPartition> partition_;  // destroyed first: it holds the engine and model
  std::unique_ptr<LearningRateSchedule> schedule_;

  std::string run_dir_;
  std::unique_ptr<RunLog> log_;
  std::vector<std::string> saved_;
  std::optional<std::pair<std::string, double>> best_;  // checkpoint, eval_loss
  std::pair<int64_t, double> last_eval_{-1, 0};

  int64_t first_step_ = 0, epoch_ = 0;
  double tokens_seen_ = 0;
  struct {
    double loss = 0, tokens = 0, correct = 0;
    int steps = 0;
  } window_;
};

}  // namespace

int run_sft(const cli::SftArgs& args, const json& args_json) {
  dist::LaunchEnv env = dist::detect_launch_env();
  set_process_identity({env.rank, env.world_size, ""});
  dist::init_mpi(env);
  install_stop_handlers();
  {
    std::unique_ptr<dist::Communicator> comm = dist::make_communicator(env, "cpu");
    Trainer trainer(args, args_json, *comm);
    trainer.run();
  }
  dist::finalize_mpi();
  return 0;
}

}  // namespace zt::train
