// What `ztune sft` parses its flags into. The flag table (cli/flag_tables.cpp) binds most flags straight into
// train::TrainConfig, the components' own options: their defaults are ms-swift's and are written there once.
// `SftFlagsOnly` holds the flags that are no component's option as given: ms-swift's None defaults worked out
// from other flags, values that need a file or the environment to become an option, and flags ztune accepts
// for ms-swift command lines without using them. `resolve_sft` (sft_config.cpp) turns them into the run's
// configuration.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/args.h"
#include "train/swanlab.h"
#include "train/train_config.h"

namespace zt::cli {

struct SftFlagsOnly {
  std::optional<std::string> template_backend;  // swift | jinja (as --template jinja)
  std::optional<std::string> columns;           // JSON rename map
  std::vector<std::string> model_name;          // self-cognition: [zh, en] or one name for both
  std::vector<std::string> model_author;
  std::vector<std::string> adapters;            // continue from this PEFT adapter: its r, alpha and targets
  std::optional<double> learning_rate;          // default: 1e-4 (lora) or 1e-5 (full)
  std::optional<std::vector<std::string>> target_parameters;  // PEFT's target_parameters (stacked experts)
  std::optional<std::string> experts_impl;      // accepted: ztune's experts always run as grouped products
  std::optional<int> eval_steps;                // default: save_steps
  std::optional<std::string> metric_for_best_model;  // default: loss
  std::optional<bool> greater_is_better;             // default: from the metric
  std::optional<std::string> deepspeed;         // a zero0..3 preset or a JSON file, read once when resolved
  std::vector<std::string> report_to = {"tensorboard"};
  train::SwanLabSetup swanlab;                  // used when report_to names swanlab
  // Accepted for ms-swift command lines; ztune behaves the same whatever they say (their help tells why).
  std::optional<std::string> model_type;
  std::optional<bool> lazy_tokenize;
  int dataset_num_proc = 1;
  int dataloader_num_workers = 0;
  bool padding_free = false;
};

struct SftCommand {
  train::TrainConfig config;
  SftFlagsOnly flags;
};

const args::Table& sft_table();
// The parsed command as the trainer's configuration: the checks that need several flags, ms-swift's derived
// defaults, the LoRA configuration of --adapters, the DeepSpeed file read. `args_json` is what args.json holds.
train::TrainConfig resolve_sft(SftCommand command, nlohmann::json args_json);

}  // namespace zt::cli
