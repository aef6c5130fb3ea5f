// Arguments of `ztune sft`: ms-swift's names and defaults (REFERENCE.md section 1).
// Optional fields are those whose default is derived later from other values or from the model.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/args.h"

namespace zt::train {
struct TrainConfig;
}

namespace zt::cli {

struct SftArgs {
  // model
  std::string model;                        // folder or hub id (required)
  std::optional<std::string> model_type;    // default: from config.json
  std::optional<std::string> torch_dtype;   // default: from config.json
  std::optional<std::string> attn_impl;     // default: sdpa
  std::optional<std::string> template_name; // --template; default: from the model's tokenizer_config.json
  std::optional<std::string> template_backend;      // swift | jinja (the model's own template)
  std::optional<std::string> chat_template_kwargs;  // JSON object of extra template variables
  std::optional<std::string> system;        // default: the template's system prompt
  std::optional<int> max_length;            // default: the model's max_position_embeddings
  std::string truncation_strategy = "delete";
  std::string loss_scale = "default";
  bool use_hf = false;
  std::optional<std::string> model_revision;  // hub revision of --model; default master / main

  // data
  std::vector<std::string> dataset;
  std::vector<std::string> val_dataset;
  double split_dataset_ratio = 0.0;
  std::optional<std::string> columns;       // JSON rename map
  bool strict = false;
  bool dataset_shuffle = true;
  bool streaming = false;
  int shuffle_buffer_size = 1000;
  int seed = 42;
  int data_seed = 42;
  int dataset_num_proc = 1;
  int dataloader_num_workers = 0;
  bool packing = false;
  std::optional<int> packing_length;        // default: max_length
  bool padding_free = false;
  std::optional<bool> lazy_tokenize;        // accepted: ztune always encodes rows as they stream
  std::vector<std::string> model_name;      // self-cognition: [zh, en] or one name for both
  std::vector<std::string> model_author;

  // tuner
  std::string train_type = "lora";          // --tuner_type is an alias
  int lora_rank = 8;
  int lora_alpha = 32;
  double lora_dropout = 0.05;
  std::string lora_bias = "none";
  bool use_rslora = false;
  std::vector<std::string> target_modules = {"all-linear"};
  std::vector<std::string> modules_to_save;
  std::vector<std::string> adapters;        // continue training from this PEFT adapter

  // schedule and optimiser
  double num_train_epochs = 3.0;
  int max_steps = -1;
  int per_device_train_batch_size = 1;
  int per_device_eval_batch_size = 1;
  std::optional<int> gradient_accumulation_steps;  // default: max(1, ceil(16 / batch / world))
  std::optional<double> learning_rate;             // default: 1e-4 (lora) or 1e-5 (full)
  std::string lr_scheduler_type = "cosine";
  double warmup_ratio = 0.0;
  int warmup_steps = 0;
  double weight_decay = 0.1;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.95;
  double adam_epsilon = 1e-8;
  double max_grad_norm = 1.0;
  bool gradient_checkpointing = true;
  std::optional<bool> bf16;
  std::optional<bool> fp16;
  std::optional<std::string> deepspeed;

  // saving, evaluation, logging
  std::optional<std::string> output_dir;    // default: output/<model name>
  bool add_version = true;                  // output_dir/vN-<time>; false: output_dir itself
  std::string save_strategy = "steps";
  std::string eval_strategy = "steps";
  bool load_best_model_at_end = false;
  std::optional<std::string> metric_for_best_model;  // default: loss
  std::optional<bool> greater_is_better;            // default: from the metric
  int save_steps = 500;
  std::optional<int> save_total_limit;
  bool save_only_model = false;
  int ddp_timeout = 18000;  // seconds, as ms-swift
  std::optional<int> eval_steps;            // default: save_steps
  int logging_steps = 5;
  bool logging_first_step = true;
  std::vector<std::string> report_to = {"tensorboard"};
  std::optional<std::string> resume_from_checkpoint;
  bool resume_only_model = false;
  bool ignore_data_skip = false;
  bool dry_run = false;
  bool ignore_run_lock = false;  // ztune: train in a run folder another run holds

  // SwanLab
  std::optional<std::string> swanlab_token;
  std::string swanlab_project = "ms-swift";
  std::optional<std::string> swanlab_workspace;
  std::optional<std::string> swanlab_exp_name;
  std::string swanlab_mode = "cloud";

  // hub
  bool push_to_hub = false;
  std::optional<std::string> hub_model_id;
  std::optional<std::string> hub_token;
  bool hub_private_repo = false;
};

const args::Table& sft_table();
// The checked flags as the trainer's configuration (sft_config.cpp); `args_json` is what args.json holds.
train::TrainConfig train_config(const SftArgs& args, nlohmann::json args_json);

}  // namespace zt::cli
