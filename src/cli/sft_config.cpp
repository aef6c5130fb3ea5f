// `ztune sft`'s parsed flags -> train::TrainConfig. Most flags were bound straight into the configuration by the
// table; what is left here needs several flags at once, a file, or the environment.
#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "cli/sft_command.h"
#include "core/check.h"
#include "data/chat_template.h"
#include "hub/download.h"
#include "model/lora/peft_adapter.h"

namespace zt::cli {

namespace fs = std::filesystem;

namespace {

// ms-swift's --model_name/--model_author: one value stands for both languages.
std::optional<std::pair<std::string, std::string>> zh_en_pair(const std::vector<std::string>& values, const char* flag) {
  if (values.empty()) return std::nullopt;
  ZT_REQUIRE(values.size() <= 2, "--" << flag << " takes one name, or two (Chinese, English); got " << values.size());
  return std::make_pair(values[0], values.back());
}

}  // namespace

train::TrainConfig resolve_sft(SftCommand command, nlohmann::json args_json) {
  train::TrainConfig config = std::move(command.config);
  const SftFlagsOnly& flags = command.flags;
  ZT_REQUIRE(!config.data.dataset.empty(), "--dataset is required");
  ZT_REQUIRE(!config.data.streaming || config.loop.max_steps > 0,
             "--streaming true needs --max_steps: a stream has no known length to derive the steps from");
  ZT_REQUIRE(!config.model.full_training || flags.adapters.empty(), "--adapters continues LoRA training; it needs --train_type lora");
  ZT_REQUIRE(flags.adapters.size() <= 1, "--adapters: training continues from one adapter, " << flags.adapters.size() << " given");
  ZT_REQUIRE(!config.push.push_to_hub || config.push.hub_model_id.has_value(), "--push_to_hub true needs --hub_model_id OWNER/NAME");
  ZT_REQUIRE(config.loop.save_steps > 0 && config.loop.logging_steps > 0 && flags.eval_steps.value_or(1) > 0,
             "--save_steps, --logging_steps and --eval_steps must be positive");

  train::ModelSetup& model = config.model;
  if (flags.target_parameters.has_value()) model.lora.target_parameters = *flags.target_parameters;
  if (!flags.adapters.empty()) {
    // Training continues from a PEFT adapter: its configuration replaces the LoRA flags (not modules_to_save and
    // bias, which stay the flags'). A hub id is downloaded (or found in the cache) first, as --model is.
    hub::HubAccess access;
    access.use_hf = model.use_hf;
    access.token = config.push.hub_token;
    model.adapters = fs::exists(flags.adapters[0]) ? flags.adapters[0] : hub::resolve_adapter_dir(flags.adapters[0], access);
    model::LoraConfig adapter = model::read_adapter_config(*model.adapters);
    adapter.modules_to_save = model.lora.modules_to_save;
    adapter.bias = model.lora.bias;
    model.lora = std::move(adapter);
  }

  train::DataSetup& data = config.data;
  data::FormatOptions& format = data.pipeline.format;
  if (flags.columns.has_value()) format.column_renames = data::parse_column_renames(*flags.columns);
  if (!data.template_name && flags.template_backend == std::string("jinja")) data.template_name = data::kJinjaTemplate;
  format.self_cognition.name = zh_en_pair(flags.model_name, "model_name");
  format.self_cognition.author = zh_en_pair(flags.model_author, "model_author");

  train::OptimSetup& optim = config.optim;
  optim.schedule.learning_rate = flags.learning_rate.value_or(model.full_training ? 1e-5 : 1e-4);
  if (flags.deepspeed.has_value()) optim.deepspeed = dist::read_zero_source(*flags.deepspeed);  // the one read of the file

  train::LoopSetup& loop = config.loop;
  loop.eval_steps = flags.eval_steps.value_or(loop.save_steps);
  std::string metric = flags.metric_for_best_model.value_or("loss");
  if (metric.rfind("eval_", 0) == 0) metric = metric.substr(5);
  loop.metric_for_best_model = metric;
  loop.greater_is_better = flags.greater_is_better.value_or(metric == "token_acc");
  const auto reports_to = [&](const char* target) {
    return std::find(flags.report_to.begin(), flags.report_to.end(), target) != flags.report_to.end();
  };
  loop.tensorboard = reports_to("tensorboard") || reports_to("all");
  if (reports_to("swanlab")) {
    train::SwanLabSetup swanlab = flags.swanlab;
    const char* key = std::getenv("SWANLAB_API_KEY");
    if (!swanlab.token && key != nullptr && *key != '\0') swanlab.token = key;
    if (const char* timeout = std::getenv("ZTUNE_SWANLAB_FINISH_TIMEOUT"); timeout != nullptr && *timeout != '\0')
      swanlab.finish_timeout_s = std::stod(timeout);
    loop.swanlab = swanlab;
  }
  config.args_json = std::move(args_json);
  return config;
}

}  // namespace zt::cli
