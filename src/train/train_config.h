// What a training run needs to know, as plain structs, one per component. The `ztune sft` flag table
// (cli/flag_tables.cpp) binds each flag straight into its field here or in the component's own options
// (data::ReaderOptions, data::PipelineOptions, model::LoraConfig, optim::AdamWConfig, ScheduleConfig), so a
// default is written once, where the component keeps it, and equals ms-swift's (REFERENCE.md section 1); train/
// never sees the flags themselves. An optional field is ms-swift's None: derived later from other flags, the
// model or the world size (train/resolved_run.h).
#pragma once

#include "data/pipeline.h"
#include "data/shard_reader.h"

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dist/zero_config.h"
#include "model/lora/lora_config.h"
#include "optim/adamw.h"
#include "train/schedule.h"
#include "train/swanlab.h"

namespace zt::train {

struct ModelSetup {
  std::string model;                        // folder or hub id
  bool use_hf = false;                      // hub ids from the Hugging Face hub instead of ModelScope
  std::optional<std::string> revision;      // --model_revision: the hub revision of a --model id
  std::optional<std::string> torch_dtype;   // default: config.json's
  std::optional<bool> bf16, fp16;           // true overrides torch_dtype
  std::optional<std::string> attn_impl;     // default: sdpa
  bool full_training = false;               // --train_type full
  model::LoraConfig lora;                   // LoRA runs; base_model is filled in by the trainer
  std::optional<std::string> adapters;      // continue from this PEFT adapter (lora holds its config)
  bool gradient_checkpointing = true;
  int seed = 42;                            // LoRA initialisation, the same on every rank
  double router_aux_loss_coef = 0;          // a mixture of experts' load-balancing loss weight (0: none)
  int expert_model_parallel_size = 1;       // ranks an expert group splits each MoE layer's experts over
};

struct DataSetup {
  std::vector<std::string> dataset;         // files or cached hub ids, [HF::|MS::]id[:subset][#N]
  std::vector<std::string> val_dataset;
  double split_dataset_ratio = 0.0;
  bool streaming = false;
  std::optional<int> max_length;            // default: the model's max_position_embeddings
  std::optional<std::string> template_name; // default: detected from the model folder
  std::optional<std::string> chat_template_kwargs;  // a Jinja template's extra variables (JSON object)
  std::optional<std::string> system;
  // The components' own options, as the flags set them: the reader's shuffle, buffer and seed (its rank, world
  // and split are the run's), the pipeline's formats, loss scale, truncation, packing and strictness (its
  // max_length is the run's).
  data::ReaderOptions reader;
  data::PipelineOptions pipeline;
};

struct OptimSetup {
  optim::AdamWConfig adam;                  // --adam_beta1/2, --adam_epsilon, --weight_decay
  ScheduleConfig schedule;                  // --lr_scheduler_type, --learning_rate, warm-up (total_steps: the run's)
  double max_grad_norm = 1.0;
  std::optional<dist::ZeroSource> deepspeed;  // --deepspeed: a zero0..3 preset or a JSON file, read once
};

// When --save_strategy / --eval_strategy fall due: every N steps, at each epoch's end, or never (the last step is
// saved and evaluated whatever it says, as ms-swift does).
enum class Interval { steps, epoch, no };
const std::vector<std::string>& enum_names(Interval);  // steps, epoch, no

struct LoopSetup {
  double num_train_epochs = 3.0;
  int max_steps = -1;                       // > 0 overrides the epochs
  int per_device_train_batch_size = 1;
  int per_device_eval_batch_size = 1;
  std::optional<int> gradient_accumulation_steps;  // default: max(1, ceil(16 / batch / world))
  int logging_steps = 5;
  bool logging_first_step = true;
  int save_steps = 500;
  int eval_steps = 500;                     // ms-swift: save_steps
  Interval save_strategy = Interval::steps;
  Interval eval_strategy = Interval::steps;
  bool load_best_model_at_end = false;      // the best checkpoint is kept, reported and pushed
  std::string metric_for_best_model = "loss";  // loss | token_acc (eval_ prefix allowed)
  bool greater_is_better = false;           // default: true for token_acc
  bool add_version = true;                  // run folder output_dir/vN-<time>; false: output_dir itself
  std::optional<int> save_total_limit;
  bool save_only_model = false;
  double ddp_timeout_s = 18000;             // a collective that takes longer ends the job (--ddp_timeout)
  std::optional<std::string> output_dir;    // default: output/<model folder name>
  bool tensorboard = true;                  // --report_to includes tensorboard (or all)
  std::optional<SwanLabSetup> swanlab;      // --report_to includes swanlab (or all)
  std::optional<std::string> resume_from_checkpoint;
  bool resume_only_model = false;
  bool ignore_data_skip = false;
  bool dry_run = false;                     // print the estimate (ztune estimate) and exit
  bool ignore_run_lock = false;             // take the run folder whoever holds it (--ignore_run_lock)
};

struct PushSetup {
  bool push_to_hub = false;                 // the final checkpoint, to hub_model_id
  std::optional<std::string> hub_model_id;  // owner/name; needed by push_to_hub
  std::optional<std::string> hub_token;
  bool hub_private_repo = false;
};

struct TrainConfig {
  ModelSetup model;
  DataSetup data;
  OptimSetup optim;
  LoopSetup loop;
  PushSetup push;
  nlohmann::json args_json;                 // the flags as args.json holds them (secrets left out)
};

}  // namespace zt::train
