// What a training run needs to know, as plain structs, one per component. cli/ fills them from the
// `ztune sft` flags (ms-swift's names and defaults, REFERENCE.md section 1) after checking them; train/
// never sees the flags themselves. Defaults here are ms-swift's; optional fields are derived later from
// the model or the world size.
#pragma once

#include "data/formats.h"

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dist/zero_config.h"
#include "model/lora/lora_config.h"
#include "train/swanlab.h"

namespace zt::train {

struct ModelSetup {
  std::string model;                        // folder or hub id
  bool use_hf = false;                      // hub ids from the Hugging Face hub instead of ModelScope
  std::optional<std::string> revision;      // --model_revision: the hub revision of a --model id
  std::optional<std::string> torch_dtype;   // default: config.json's
  bool bf16 = false, fp16 = false;          // override torch_dtype
  std::string attn_impl = "sdpa";
  bool full_training = false;               // --train_type full
  model::LoraConfig lora;                   // LoRA runs; base_model is filled in by the trainer
  std::optional<std::string> adapters;      // continue from this PEFT adapter (lora holds its config)
  bool gradient_checkpointing = true;
  int seed = 42;                            // LoRA initialisation, the same on every rank
};

struct DataSetup {
  std::vector<std::string> dataset;         // files or cached hub ids, [HF::|MS::]id[:subset][#N]
  std::vector<std::string> val_dataset;
  double split_dataset_ratio = 0.0;
  std::optional<std::string> columns;       // JSON rename map
  bool strict = false;
  bool shuffle = true;
  bool streaming = false;
  int shuffle_buffer_size = 1000;
  int data_seed = 42;
  bool packing = false;
  std::optional<int> packing_length;        // default: max_length
  std::optional<int> max_length;            // default: the model's max_position_embeddings
  std::string truncation_strategy = "delete";
  std::string loss_scale = "default";
  std::optional<std::string> template_name; // default: detected from the model folder
  std::string chat_template_kwargs = "{}";  // a Jinja template's extra variables (JSON object)
  std::optional<std::string> system;
  data::SelfCognition self_cognition;       // --model_name / --model_author
};

struct OptimSetup {
  double learning_rate = 1e-4;              // ms-swift: 1e-4 for LoRA, 1e-5 for full
  std::string lr_scheduler_type = "cosine";
  double warmup_ratio = 0.0;
  int warmup_steps = 0;
  double weight_decay = 0.1;
  double adam_beta1 = 0.9, adam_beta2 = 0.95, adam_epsilon = 1e-8;
  double max_grad_norm = 1.0;
  std::optional<dist::ZeroSource> deepspeed;  // --deepspeed: a zero0..3 preset or a JSON file, read once
};

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
  std::string save_strategy = "steps";      // steps | epoch | no (the last step is saved whatever it says)
  std::string eval_strategy = "steps";      // steps | epoch | no
  bool load_best_model_at_end = false;      // the best checkpoint is kept, reported and pushed
  std::string metric_for_best_model = "loss";  // loss | token_acc (eval_ prefix allowed)
  bool greater_is_better = false;           // default: true for token_acc
  bool add_version = true;                  // run folder output_dir/vN-<time>; false: output_dir itself
  std::optional<int> save_total_limit;
  bool save_only_model = false;
  double ddp_timeout_s = 18000;            // a collective that takes longer ends the job (--ddp_timeout)
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
  std::string hub_model_id;
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
