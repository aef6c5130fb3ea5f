// Arguments of `ztune infer`, `ztune export`, `ztune upload` and `ztune login`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/args.h"

namespace zt::cli {

struct InferArgs {
  std::optional<std::string> model;         // default: from the adapter's args.json
  std::vector<std::string> adapters;
  std::optional<std::string> torch_dtype;
  std::optional<std::string> template_name;
  std::optional<std::string> template_backend;      // swift | jinja (the model's own template)
  std::optional<std::string> chat_template_kwargs;  // JSON object of extra template variables
  std::optional<std::string> system;
  std::optional<int> max_length;
  bool load_args = true;                    // read model, template, system, dtype from args.json
  std::string infer_backend = "native";
  int max_batch_size = 1;
  std::optional<bool> stream;               // default: true when interactive
  std::optional<double> temperature;        // sampling defaults come from generation_config.json
  std::optional<double> top_p;
  std::optional<int> top_k;
  std::optional<double> repetition_penalty;
  std::optional<int> max_new_tokens;
  bool merge_lora = false;
  std::vector<std::string> val_dataset;
  std::vector<std::string> model_name;      // self-cognition placeholders in val_dataset: [zh, en]
  std::vector<std::string> model_author;
  std::optional<bool> lazy_tokenize;        // accepted; no effect
  std::optional<std::string> result_path;
  int seed = 42;
  bool use_hf = false;
  std::optional<std::string> model_revision;  // hub revision of --model; default master / main
  // --infer_backend vllm: what vLLM's engine is built with (ms-swift's --vllm_* flags).
  double vllm_gpu_memory_utilization = 0.9;
  int vllm_tensor_parallel_size = 1;
  int vllm_max_num_seqs = 256;
  std::optional<int> vllm_max_model_len;
  bool vllm_enforce_eager = false;
  int vllm_max_lora_rank = 16;
  std::optional<bool> vllm_enable_prefix_caching;
  bool vllm_disable_custom_all_reduce = true;
  std::optional<std::string> vllm_engine_kwargs;
};

struct ExportArgs {
  std::vector<std::string> adapters;
  std::optional<std::string> model;
  std::optional<std::string> ckpt_dir;      // consolidate a checkpoint's shards into a PEFT adapter
  std::optional<std::string> to_peft;
  std::optional<std::string> from_gguf;     // a llama.cpp GGUF file written out as a Hugging Face folder
  std::optional<std::string> to_gguf;       // also write a llama.cpp GGUF file: f16, bf16 or q8_0
  std::optional<std::string> torch_dtype;
  bool merge_lora = false;
  std::optional<std::string> output_dir;    // default: CKPT-merged (required with --from_gguf)
  bool exist_ok = false;
  std::string max_shard_size = "5GB";
  bool push_to_hub = false;
  std::optional<std::string> hub_model_id;
  std::optional<std::string> hub_token;
  bool hub_private_repo = false;
  std::string commit_message = "update files";
  bool use_hf = false;
};

struct UploadArgs {
  std::string repo_id;
  std::string local_path;
  std::string path_in_repo;
  std::string repo_type = "model";
  std::optional<std::string> token;
  std::string commit_message = "upload files";
  std::string revision = "master";
};

struct LoginArgs {
  std::optional<std::string> token;
};

const args::Table& infer_table();
const args::Table& export_table();
const args::Table& upload_table();
const args::Table& login_table();

}  // namespace zt::cli
