#include "train/trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "cli/sft_args.h"
#include "core/check.h"
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
#include "train/dist_checkpoint.h"
#include "train/schedule.h"

namespace zt::train {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// A local folder, or a hub id found in the ModelScope cache.
std::string resolve_model(const std::string& model) {
  if (fs::exists(fs::path(model) / "config.json")) return model;
  std::vector<fs::path> looked;
  const char* cache = std::getenv("MODELSCOPE_CACHE");
  const char* home = std::getenv("HOME");
  fs::path root = cache != nullptr ? fs::path(cache) : fs::path(home != nullptr ? home : "/root") / ".cache/modelscope/hub";
  for (fs::path candidate : {root / "models" / model, root / model}) {
    if (fs::exists(candidate / "config.json")) return candidate.string();
    looked.push_back(candidate);
  }
  std::ostringstream where;
  for (const fs::path& p : looked) where << " " << p.string();
  ZT_THROW("--model " << model << ": not a folder with config.json, and not in the ModelScope cache (looked in"
                      << where.str() << "); download it first or pass a local folder");
}

// Rank 0 picks output_dir/vN-YYYYMMDD-HHMMSS (N = 1 + the largest existing) and every rank gets it.
std::string choose_run_dir(const std::string& parent, dist::Communicator& comm) {
  std::string chosen;
  if (comm.rank() == 0) {
    int largest = 0;
    std::regex pattern("v([0-9]+)-.*");
    std::error_code ignored;
    if (fs::is_directory(parent, ignored))
      for (const auto& entry : fs::directory_iterator(parent)) {
        std::smatch match;
        std::string name = entry.path().filename().string();
        if (std::regex_match(name, match, pattern)) largest = std::max(largest, std::stoi(match[1]));
      }
    std::time_t now = std::time(nullptr);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
    chosen = (fs::path(parent) / ("v" + std::to_string(largest + 1) + "-" + stamp)).string();
    fs::create_directories(chosen);
  }
  at::Tensor length = at::tensor({static_cast<int64_t>(chosen.size())}, at::kLong);
  comm.broadcast(length, 0)->wait();
  at::Tensor bytes = at::zeros({length.item<int64_t>()}, at::kLong);
  for (size_t i = 0; i < chosen.size(); ++i) bytes[static_cast<int64_t>(i)] = static_cast<int64_t>(chosen[i]);
  comm.broadcast(bytes, 0)->wait();
  std::string shared;
  for (int64_t i = 0; i < bytes.numel(); ++i) shared.push_back(static_cast<char>(bytes[i].item<int64_t>()));
  return shared;
}

std::string format_seconds(double seconds) {
  const int64_t s = static_cast<int64_t>(std::max(0.0, seconds));
  char text[32];
  std::snprintf(text, sizeof text, "%lldh %02lldm %02llds", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return text;
}

double resident_gib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / (1024.0 * 1024.0);
  return 0;
}

at::ScalarType training_dtype(const cli::SftArgs& args, const model::ModelConfig& config) {
  if (args.bf16.value_or(false)) return at::kBFloat16;
  if (args.fp16.value_or(false)) return at::kHalf;
  const std::string name = args.torch_dtype.value_or(config.dtype);
  if (name == "bfloat16") return at::kBFloat16;
  if (name == "float16") return at::kHalf;
  return at::kFloat;
}

json adapter_config(const cli::SftArgs& args, const std::string& model_dir) {
  json targets = json::array();
  if (args.target_modules.size() == 1 && args.target_modules[0] == "all-linear")
    targets = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  else
    for (const std::string& t : args.target_modules) targets.push_back(t);
  return {{"peft_type", "LORA"},
          {"task_type", "CAUSAL_LM"},
          {"base_model_name_or_path", model_dir},
          {"r", args.lora_rank},
          {"lora_alpha", args.lora_alpha},
          {"lora_dropout", args.lora_dropout},
          {"use_rslora", args.use_rslora},
          {"bias", args.lora_bias},
          {"target_modules", targets},
          {"modules_to_save", args.modules_to_save.empty() ? json(nullptr) : json(args.modules_to_save)},
          {"inference_mode", true},
          {"fan_in_fan_out", false},
          {"init_lora_weights", true}};
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

struct Run {
  const cli::SftArgs& args;
  dist::Communicator& comm;
  model::DecoderModel& model;
  dist::ZeroEngine& engine;
  dist::LayerWeightPartition* partition;
  std::string run_dir, model_dir;
  json args_json;
  std::vector<std::string> saved;
};

void write_json(const fs::path& path, const json& value) {
  std::ofstream out(path);
  out << value.dump(2) << "\n";
  ZT_REQUIRE(out.good(), path.string() << ": write failed (disk full?)");
}

// checkpoint-STEP/: PEFT adapter, args, trainer state and the distributed state, written into a
// temporary folder that rank 0 renames once every rank's shard is there; `latest` is updated last.
void save_checkpoint(Run& run, int64_t step, const json& log_history, const data::PipelineCursor& cursor) {
  const fs::path final_dir = fs::path(run.run_dir) / ("checkpoint-" + std::to_string(step));
  const fs::path temporary = fs::path(run.run_dir) / (".checkpoint-" + std::to_string(step) + ".tmp");
  if (run.comm.rank() == 0) {
    fs::remove_all(temporary);
    fs::create_directories(temporary);
  }
  run.comm.barrier();
  std::vector<std::pair<std::string, at::Tensor>> adapter = run.engine.gather_named_parameters();
  if (run.comm.rank() == 0) {
    st::save_tensors((temporary / "adapter_model.safetensors").string(), adapter);
    write_json(temporary / "adapter_config.json", adapter_config(run.args, run.model_dir));
    write_json(temporary / "args.json", run.args_json);
    write_json(temporary / "trainer_state.json",
               {{"global_step", step}, {"log_history", log_history}, {"world_size", run.comm.size()}});
  }
  RankState state{run.comm.rank(), run.engine.owned_begin(), run.engine.master(), run.engine.exp_avg(),
                  run.engine.exp_avg_sq(), run.engine.steps_taken(), cpu_rng_state(), cursor.to_json().dump()};
  const uint32_t crc = write_rank_shard(temporary.string(), state);
  std::vector<uint64_t> crcs = dist::allgather_u64({crc});
  if (run.comm.rank() == 0) {
    std::vector<uint32_t> checksums(crcs.begin(), crcs.end());
    write_manifest(temporary.string(), run.engine.layout(), run.engine.config().stage, checksums);
    fs::remove_all(final_dir);
    fs::rename(temporary, final_dir);
    std::ofstream(fs::path(run.run_dir) / "latest") << final_dir.filename().string() << "\n";
    run.saved.push_back(final_dir.string());
    if (run.args.save_total_limit.has_value())
      while (static_cast<int>(run.saved.size()) > std::max(1, *run.args.save_total_limit)) {
        fs::remove_all(run.saved.front());
        run.saved.erase(run.saved.begin());
      }
    ZT_LOG_INFO("saved " << final_dir.string());
  }
  run.comm.barrier();
}

}  // namespace

int run_sft(const cli::SftArgs& args, const json& args_json) {
  dist::LaunchEnv env = dist::detect_launch_env();
  set_process_identity({env.rank, env.world_size, ""});
  dist::init_mpi(env);
  std::unique_ptr<dist::Communicator> comm = dist::make_communicator(env, "cpu");
  const int rank = comm->rank(), world = comm->size();
  ZT_REQUIRE(args.train_type == "lora", "--train_type full lands with the rest of issue #6; use lora");
  ZT_REQUIRE(!args.dataset.empty(), "--dataset is required");

  const std::string model_dir = resolve_model(args.model);
  model::ModelConfig config = model::read_model_config(model_dir);
  data::Tokenizer tokenizer = data::Tokenizer::load(model_dir);
  data::SpecialTokens special = data::read_special_tokens(model_dir, tokenizer);
  data::ChatTemplate chat(data::template_by_name(args.template_name.value_or(data::detect_template_name(model_dir))),
                          tokenizer, args.system, special.eos_id, special.bos_id);
  std::vector<data::DatasetSource> sources;
  for (const std::string& spec : args.dataset) sources.push_back(data::parse_dataset_spec(spec));
  data::ReaderOptions reader_options;
  reader_options.rank = rank;
  reader_options.world_size = world;
  reader_options.shuffle = args.dataset_shuffle;
  reader_options.shuffle_buffer_size = static_cast<uint32_t>(args.shuffle_buffer_size);
  reader_options.data_seed = static_cast<uint64_t>(args.data_seed);
  reader_options.split_ratio = args.split_dataset_ratio;
  data::ShardReader reader(sources, reader_options, dist::allgather_u64);
  data::PipelineOptions pipeline_options;
  if (args.columns.has_value()) pipeline_options.format.column_renames = data::parse_column_renames(*args.columns);
  pipeline_options.loss_scale = data::parse_loss_scale(args.loss_scale);
  pipeline_options.max_length = args.max_length.value_or(static_cast<int>(config.max_position_embeddings));
  pipeline_options.truncation = data::parse_truncation(args.truncation_strategy);
  pipeline_options.packing = args.packing;
  pipeline_options.packing_length = args.packing_length.value_or(0);
  pipeline_options.strict = args.strict;
  data::DataPipeline pipeline(reader, chat, pipeline_options);

  // Rows per rank in one epoch (packed rows when packing), counted once; every rank runs as many
  // micro-batches as the fullest rank, idle where it has no row left.
  pipeline.start_epoch(0);
  uint64_t my_rows = 0;
  while (pipeline.next()) ++my_rows;
  uint64_t most_rows = 0;
  for (uint64_t rows : dist::allgather_u64({my_rows})) most_rows = std::max(most_rows, rows);
  ZT_REQUIRE(most_rows > 0, "no usable training rows (" << pipeline.stats().summary() << ")");
  const int batch = args.per_device_train_batch_size;
  const int accumulation =
      args.gradient_accumulation_steps.value_or(std::max(1, static_cast<int>(std::ceil(16.0 / batch / world))));
  const int64_t per_step = static_cast<int64_t>(batch) * accumulation;
  const int64_t steps_per_epoch = std::max<int64_t>(1, (static_cast<int64_t>(most_rows) + per_step - 1) / per_step);
  const int64_t total_steps = args.max_steps > 0
                                  ? args.max_steps
                                  : static_cast<int64_t>(std::ceil(args.num_train_epochs * double(steps_per_epoch)));

  model::ModelOptions model_options;
  model_options.dtype = training_dtype(args, config);
  model_options.lora = model::LoraConfig{args.lora_rank, static_cast<double>(args.lora_alpha), args.lora_dropout,
                                         args.use_rslora, args.target_modules};
  model_options.modules_to_save = args.modules_to_save;
  model_options.gradient_checkpointing = args.gradient_checkpointing;
  model_options.attn_impl = args.attn_impl.value_or("sdpa");
  dist::ZeroAutoValues autos;
  autos.hidden_size = config.hidden_size;
  autos.max_grad_norm = args.max_grad_norm;
  autos.dtype = model_options.dtype == at::kBFloat16 ? "bf16" : model_options.dtype == at::kHalf ? "fp16" : "fp32";
  dist::ZeroConfig zero = args.deepspeed.has_value() ? dist::load_zero_config(*args.deepspeed, autos) : dist::ZeroConfig{};
  if (!args.deepspeed.has_value()) {
    zero.gradient_clipping = args.max_grad_norm;
    zero.precision = autos.dtype;
  }
  if (zero.stage == 3)
    model_options.keep_weight =
        dist::LayerWeightPartition::resident_predicate(model_dir, zero.stage3_param_persistence_threshold);
  torch::manual_seed(args.seed);  // the same LoRA initialisation on every rank
  model::DecoderModel model = model::DecoderModel::load(model_dir, model_options);
  std::unique_ptr<dist::LayerWeightPartition> partition;
  if (zero.stage == 3)
    partition = std::make_unique<dist::LayerWeightPartition>(*comm, model, model_dir,
                                                             zero.stage3_param_persistence_threshold,
                                                             model_options.dtype, at::kCPU);
  dist::AdamWConfig adam{args.adam_beta1, args.adam_beta2, args.adam_epsilon, args.weight_decay};
  dist::ZeroEngine engine(*comm, zero, model.trainable_parameters(), adam);
  if (partition) partition->attach_trainables(engine);
  LearningRateSchedule schedule({args.lr_scheduler_type, args.learning_rate.value_or(1e-4), total_steps,
                                 args.warmup_steps, args.warmup_ratio});

  const std::string parent = args.output_dir.value_or((fs::path("output") / fs::path(model_dir).filename()).string());
  Run run{args, *comm, model, engine, partition.get(), choose_run_dir(parent, *comm), model_dir, args_json, {}};
  std::ofstream logging;
  if (rank == 0) {
    write_json(fs::path(run.run_dir) / "args.json", args_json);
    logging.open(fs::path(run.run_dir) / "logging.jsonl");
    ZT_LOG_INFO("run folder " << run.run_dir << "; " << world << " ranks, ZeRO stage " << zero.stage << ", "
                                << engine.layout().numel << " trainable parameters; " << most_rows
                                << " rows on the fullest rank, " << total_steps << " steps (" << steps_per_epoch
                                << " per epoch, batch " << batch << " x accumulation " << accumulation << ")");
  }

  // --resume_from_checkpoint: optimizer (any world size or stage), step, and with the same world size the
  // data position and random state of every rank; --resume_only_model takes the weights alone.
  int64_t first_step = 0;
  int64_t epoch = 0;
  pipeline.start_epoch(0);
  if (args.resume_from_checkpoint.has_value()) {
    FullState state = read_full_state(*args.resume_from_checkpoint);
    if (args.resume_only_model) {
      at::Tensor zeros = at::zeros_like(state.master);
      engine.load_full_state(state.layout.entries, state.master, zeros, zeros, 0);
    } else {
      engine.load_full_state(state.layout.entries, state.master, state.exp_avg, state.exp_avg_sq, state.step);
      first_step = state.step;
      epoch = first_step / steps_per_epoch;
      const bool same_world = state.world_size == world;
      if (same_world && !args.ignore_data_skip) {
        data::PipelineCursor cursor =
            data::PipelineCursor::from_json(json::parse(state.data_cursors[static_cast<size_t>(rank)]));
        pipeline.restore(cursor);
        epoch = cursor.reader.epoch;
        if (!state.rng_states[static_cast<size_t>(rank)].empty()) set_cpu_rng_state(state.rng_states[static_cast<size_t>(rank)]);
      } else {
        pipeline.start_epoch(static_cast<uint32_t>(epoch));
        if (rank == 0 && !same_world)
          ZT_LOG_WARN("the checkpoint was written by " << state.world_size << " ranks, this run has " << world
                                                       << ": the optimizer is re-partitioned and epoch " << epoch
                                                       << " starts again from its first row");
      }
    }
    if (rank == 0) ZT_LOG_INFO("resumed from " << *args.resume_from_checkpoint << " at step " << first_step);
  }

  json log_history = json::array();
  const auto start = Clock::now();
  double window_loss = 0, window_tokens = 0, window_correct = 0, total_tokens = 0;
  int window_steps = 0;
  for (int64_t step = first_step; step < total_steps; ++step) {
    if (step / steps_per_epoch != epoch) {
      epoch = step / steps_per_epoch;
      pipeline.start_epoch(static_cast<uint32_t>(epoch));
    }
    double loss_sum = 0, tokens = 0, correct = 0;
    for (int micro = 0; micro < accumulation; ++micro) {
      bool had_row = false;
      for (int b = 0; b < batch; ++b) {
        std::optional<data::PackedRow> row = pipeline.next();
        if (!row) continue;
        had_row = true;
        const int64_t length = static_cast<int64_t>(row->input_ids.size());
        auto as_tensor = [&](const std::vector<int32_t>& v) {
          return at::tensor(at::ArrayRef<int32_t>(v), at::kInt).to(at::kLong).view({1, length});
        };
        model::LossOutput loss = model.loss(model.hidden_states(as_tensor(row->input_ids), as_tensor(row->position_ids), true),
                                            as_tensor(row->labels));
        (loss.loss_sum * engine.loss_scale()).backward();
        loss_sum += loss.loss_sum.item<double>();
        tokens += static_cast<double>(loss.num_tokens);
        correct += static_cast<double>(loss.num_correct);
      }
      if (!had_row && partition) partition->replay_without_data(args.gradient_checkpointing);
      engine.after_backward();
    }
    at::Tensor totals = at::tensor({loss_sum, tokens, correct}, at::kDouble);
    comm->all_reduce(totals)->wait();
    const double global_tokens = totals[1].item<double>();
    const double lr = schedule.at(step);
    dist::StepResult result = engine.step(lr, 1.0 / std::max(1.0, global_tokens));
    const double step_loss = totals[0].item<double>() / std::max(1.0, global_tokens);
    window_loss += step_loss;
    window_tokens += global_tokens;
    window_correct += totals[2].item<double>();
    total_tokens += global_tokens;
    ++window_steps;
    const int64_t done = step + 1;
    const bool log_now = done % args.logging_steps == 0 || (args.logging_first_step && done == 1) || done == total_steps;
    if (log_now && rank == 0) {
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      const double remaining = elapsed / double(done - first_step) * double(total_steps - done);
      json entry = {{"loss", window_loss / window_steps},
                    {"grad_norm", result.grad_norm},
                    {"learning_rate", lr},
                    {"token_acc", window_correct / std::max(1.0, window_tokens)},
                    {"epoch", double(done) / double(steps_per_epoch)},
                    {"global_step/max_steps", std::to_string(done) + "/" + std::to_string(total_steps)},
                    {"percentage", std::to_string(100.0 * double(done) / double(total_steps)).substr(0, 5) + "%"},
                    {"elapsed_time", format_seconds(elapsed)},
                    {"remaining_time", format_seconds(remaining)},
                    {"memory(GiB)", resident_gib()},
                    {"train_speed(s/it)", elapsed / double(done - first_step)},
                    {"tokens/s", total_tokens / std::max(1e-9, elapsed)}};
      if (result.skipped) entry["skipped"] = true;
      logging << entry.dump() << "\n" << std::flush;
      log_history.push_back(entry);
      std::printf("step %lld/%lld  loss %.4f  lr %.3g  grad_norm %.3f  %.0f tokens/s  ETA %s\n",
                  static_cast<long long>(done), static_cast<long long>(total_steps), window_loss / window_steps, lr,
                  result.grad_norm, total_tokens / std::max(1e-9, elapsed), format_seconds(remaining).c_str());
      std::fflush(stdout);
      window_loss = window_tokens = window_correct = 0;
      window_steps = 0;
    }
    if (done % args.save_steps == 0 || done == total_steps) save_checkpoint(run, done, log_history, pipeline.cursor());
  }
  if (rank == 0) {
    std::printf("data: %s\nlast checkpoint: %s\n", pipeline.stats().summary().c_str(),
                run.saved.empty() ? "none" : run.saved.back().c_str());
  }
  partition.reset();
  comm.reset();
  dist::finalize_mpi();
  return 0;
}

}  // namespace zt::train
