// `ztune sft` flags -> train::TrainConfig: the checks that need only the flags, ms-swift's derived
// defaults, and the LoRA configuration (from the flags, or from --adapters' adapter_config.json).
#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "cli/sft_args.h"
#include "core/check.h"
#include "data/chat_template.h"
#include "hub/download.h"
#include "model/lora/peft_adapter.h"
#include "train/train_config.h"

namespace zt::cli {

namespace fs = std::filesystem;

train::TrainConfig train_config(const SftArgs& args, nlohmann::json args_json) {
  ZT_REQUIRE(!args.dataset.empty(), "--dataset is required");
  ZT_REQUIRE(!args.streaming || args.max_steps > 0,
             "--streaming true needs --max_steps: a stream has no known length to derive the steps from");
  ZT_REQUIRE(args.train_type == "lora" || args.adapters.empty(), "--adapters continues LoRA training; it needs --train_type lora");
  ZT_REQUIRE(args.adapters.size() <= 1, "--adapters: training continues from one adapter, " << args.adapters.size() << " given");
  ZT_REQUIRE(!args.push_to_hub || args.hub_model_id.has_value(), "--push_to_hub true needs --hub_model_id OWNER/NAME");
  ZT_REQUIRE(args.save_steps > 0 && args.logging_steps > 0 && args.eval_steps.value_or(1) > 0,
             "--save_steps, --logging_steps and --eval_steps must be positive");

  train::TrainConfig config;
  train::ModelSetup& model = config.model;
  model.model = args.model;
  model.use_hf = args.use_hf;
  model.revision = args.model_revision;
  model.torch_dtype = args.torch_dtype;
  model.bf16 = args.bf16.value_or(false);
  model.fp16 = args.fp16.value_or(false);
  model.attn_impl = args.attn_impl.value_or("sdpa");
  model.full_training = args.train_type == "full";
  if (!args.adapters.empty()) {
    // Training continues from a PEFT adapter: its configuration replaces the LoRA flags.
    // A hub id is downloaded (or found in the cache) first, as --model is.
    hub::HubAccess access;
    access.use_hf = args.use_hf;
    access.token = args.hub_token;
    model.adapters = fs::exists(args.adapters[0]) ? args.adapters[0] : hub::resolve_adapter_dir(args.adapters[0], access);
    model.lora = model::read_adapter_config(*model.adapters);
  } else {
    model.lora.rank = args.lora_rank;
    model.lora.alpha = args.lora_alpha;
    model.lora.dropout = args.lora_dropout;
    model.lora.use_rslora = args.use_rslora;
    model.lora.target_modules = args.target_modules;
  }
  model.lora.modules_to_save = args.modules_to_save;
  model.lora.bias = args.lora_bias;
  model.gradient_checkpointing = args.gradient_checkpointing;
  model.seed = args.seed;

  train::DataSetup& data = config.data;
  data.dataset = args.dataset;
  data.val_dataset = args.val_dataset;
  data.split_dataset_ratio = args.split_dataset_ratio;
  data.streaming = args.streaming;
  data.max_length = args.max_length;
  data.reader.shuffle = args.dataset_shuffle;
  data.reader.shuffle_buffer_size = static_cast<uint32_t>(args.shuffle_buffer_size);
  data.reader.data_seed = static_cast<uint64_t>(args.data_seed);
  data::PipelineOptions& pipeline = data.pipeline;
  if (args.columns.has_value()) pipeline.format.column_renames = data::parse_column_renames(*args.columns);
  pipeline.strict = args.strict;
  pipeline.packing = args.packing;
  pipeline.packing_length = args.packing_length.value_or(0);
  pipeline.truncation = data::parse_truncation(args.truncation_strategy);
  pipeline.loss_scale = data::parse_loss_scale(args.loss_scale);
  data.template_name = args.template_name;
  if (!data.template_name && args.template_backend == std::string("jinja")) data.template_name = data::kJinjaTemplate;
  data.chat_template_kwargs = args.chat_template_kwargs.value_or("{}");
  data.system = args.system;
  // ms-swift's --model_name/--model_author: one value stands for both languages.
  auto pair_of = [](const std::vector<std::string>& values, const char* flag) -> std::optional<std::pair<std::string, std::string>> {
    if (values.empty()) return std::nullopt;
    ZT_REQUIRE(values.size() <= 2, "--" << flag << " takes one name, or two (Chinese, English); got " << values.size());
    return std::make_pair(values[0], values.back());
  };
  pipeline.format.self_cognition.name = pair_of(args.model_name, "model_name");
  pipeline.format.self_cognition.author = pair_of(args.model_author, "model_author");

  train::OptimSetup& optim = config.optim;
  optim.schedule.learning_rate = args.learning_rate.value_or(model.full_training ? 1e-5 : 1e-4);
  optim.schedule.type = args.lr_scheduler_type;
  optim.schedule.warmup_ratio = args.warmup_ratio;
  optim.schedule.warmup_steps = args.warmup_steps;
  optim.adam = {args.adam_beta1, args.adam_beta2, args.adam_epsilon, args.weight_decay};
  optim.max_grad_norm = args.max_grad_norm;
  if (args.deepspeed.has_value()) optim.deepspeed = dist::read_zero_source(*args.deepspeed);  // the one read of the file

  train::LoopSetup& loop = config.loop;
  loop.num_train_epochs = args.num_train_epochs;
  loop.max_steps = args.max_steps;
  loop.per_device_train_batch_size = args.per_device_train_batch_size;
  loop.per_device_eval_batch_size = args.per_device_eval_batch_size;
  loop.gradient_accumulation_steps = args.gradient_accumulation_steps;
  loop.logging_steps = args.logging_steps;
  loop.logging_first_step = args.logging_first_step;
  loop.save_steps = args.save_steps;
  loop.eval_steps = args.eval_steps.value_or(args.save_steps);
  loop.save_total_limit = args.save_total_limit;
  loop.add_version = args.add_version;
  // The table allows steps, epoch and no only.
  auto interval = [](const std::string& name) {
    return name == "epoch" ? train::Interval::epoch : name == "no" ? train::Interval::no : train::Interval::steps;
  };
  loop.save_strategy = interval(args.save_strategy);
  loop.eval_strategy = interval(args.eval_strategy);
  loop.load_best_model_at_end = args.load_best_model_at_end;
  std::string metric = args.metric_for_best_model.value_or("loss");
  if (metric.rfind("eval_", 0) == 0) metric = metric.substr(5);
  loop.metric_for_best_model = metric;
  loop.greater_is_better = args.greater_is_better.value_or(metric == "token_acc");
  loop.save_only_model = args.save_only_model;
  loop.ddp_timeout_s = args.ddp_timeout;
  loop.output_dir = args.output_dir;
  const auto reports_to = [&](const char* target) {
    return std::find(args.report_to.begin(), args.report_to.end(), target) != args.report_to.end();
  };
  loop.tensorboard = reports_to("tensorboard") || reports_to("all");
  if (reports_to("swanlab")) {
    train::SwanLabSetup swanlab;
    swanlab.project = args.swanlab_project;
    swanlab.workspace = args.swanlab_workspace;
    swanlab.experiment_name = args.swanlab_exp_name;
    swanlab.mode = args.swanlab_mode;
    const char* key = std::getenv("SWANLAB_API_KEY");
    swanlab.token = args.swanlab_token ? args.swanlab_token : key != nullptr && *key != '\0' ? std::optional<std::string>(key)
                                                                                             : std::nullopt;
    if (const char* timeout = std::getenv("ZTUNE_SWANLAB_FINISH_TIMEOUT"); timeout != nullptr && *timeout != '\0')
      swanlab.finish_timeout_s = std::stod(timeout);
    loop.swanlab = swanlab;
  }
  loop.resume_from_checkpoint = args.resume_from_checkpoint;
  loop.resume_only_model = args.resume_only_model;
  loop.ignore_data_skip = args.ignore_data_skip;
  loop.dry_run = args.dry_run;
  loop.ignore_run_lock = args.ignore_run_lock;

  config.push.push_to_hub = args.push_to_hub;
  config.push.hub_model_id = args.hub_model_id.value_or("");
  config.push.hub_token = args.hub_token;
  config.push.hub_private_repo = args.hub_private_repo;
  config.args_json = std::move(args_json);
  return config;
}

}  // namespace zt::cli
