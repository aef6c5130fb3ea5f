#include "cli/swift_flags.h"

#include <string>
#include <vector>

namespace zt::cli {
namespace {

// ---- ms-swift flags that ztune knows but does not implement ----
// Every field of ms-swift 4.6's sft, infer and export argument classes is either bound above or listed here,
// so that a copied `swift ...` command line never meets "unknown flag". A refused flag is accepted at ms-swift's
// default (or the values given) and has no effect; any other value stops the command with the reason. An
// ignored flag is accepted with any value because ztune behaves the same without it. The lists follow ms-swift's
// argument classes; tests/python/check_flag_coverage.py compares them with the installed ms-swift.

using args::Kind;
constexpr Kind kBool = Kind::Bool, kInt = Kind::Int, kFloat = Kind::Float, kStr = Kind::String, kList = Kind::List;

struct SwiftFlag {
  const char* name;
  Kind kind;
  const char* accepted;  // ms-swift's default as text, "a|b" for several; "": the default is leaving it out
  bool secret = false;   // the value is never echoed
};
using SwiftFlags = std::vector<SwiftFlag>;

const char* const kNotYet = "not supported yet";
const char* const kTextOnly = "ztune trains text models";
const char* const kCausalLmOnly = "ztune trains causal language models only";
const char* const kExpertsGrouped = "ztune's experts always run as grouped products, whatever implementation is named";
const char* const kOneDevice = "ztune puts the whole model on each rank's device";
const char* const kNoPlugins = "ztune cannot load Python plugins";
const char* const kNpuOnly = "Ascend NPU only";
const char* const kNoRay = "Ray is not supported; launch with mpirun or srun";
const char* const kBackendChosen = "ztune uses NCCL on GPUs and MPI on CPUs";
const char* const kAlwaysChecked = "ztune always stops at a bad argument";
const char* const kLoraOrFull = "not supported yet; ztune trains LoRA or full";
const char* const kUnslothNotSupported = "unsloth is not supported";
const char* const kQuantizedTraining = "quantized training (QLoRA, bnb, gptq, awq) is not supported yet";
const char* const kSpeedKnob = "a PyTorch speed or memory knob that ztune's own kernels do not use";
const char* const kTrainingThread = "rows are prepared on the training thread";
const char* const kGroupByLengthOnly = "used only by --group_by_length, which is refused";
const char* const kBinpackOnly = "ztune packs best-fit-decreasing (binpack) only";
const char* const kTrainerUnused = "transformers' Trainer does not read it either";
const char* const kSftGeneratesNothing = "sft generates nothing (--predict_with_generate is refused)";
const char* const kNoCache = "ztune keeps no cache of preprocessed data";
const char* const kNoEvalscope = "EvalScope evaluation is not supported";
const char* const kLogLevelEnv = "the log level comes from env ZTUNE_LOG_LEVEL";
const char* const kLogRank0 = "rank 0 logs; env ZTUNE_LOG_ALL_RANKS=1 makes every rank log";
const char* const kNoProgressBar = "ztune prints log lines, no progress bar";
const char* const kNoTrackio = "trackio is not a --report_to choice of ztune";
const char* const kPushAtEnd = "ztune pushes the last checkpoint once, at the end (--hub_strategy end)";
const char* const kAlwaysSafetensors = "ztune always writes safetensors";
const char* const kUnshardedCheckpoints = "checkpoints are saved unsharded; 'ztune export' shards merged models";
const char* const kModelCheck = "ms-swift's warning about edited hub files; no effect on training";
const char* const kOwnGradSync = "ztune syncs gradients itself, without torch DDP";
const char* const kUseZero = "use --deepspeed zero0..zero3 (ztune's own ZeRO)";
const char* const kDevicePicked = "ztune uses the rank's GPU when there is one, else the CPU";
const char* const kLocalRankEnv = "ztune reads the local rank from the launcher's environment";
const char* const kEngineKnob =
    "ztune passes vLLM the --vllm_* flags of 'ztune infer --help' only, and does not run sglang or lmdeploy";
const char* const kResultsPerBatch = "results are written after each batch";
const char* const kNotYetInInfer = "not supported by 'ztune infer' yet";
const char* const kUseValDataset = "not supported yet; 'ztune infer' runs over --val_dataset rows as they are";
const char* const kNoPreprocessing = "ztune has no preprocessing pass";
const char* const kAdapterSaysType = "the adapter's own files say what it is";
const char* const kQuantizedModels = "quantized models are not supported yet";
const char* const kOneProcess = "this command runs no collectives";
const char* const kCacheOnly = "ztune reads hub models from the local cache and downloads nothing";
const char* const kShardInExport = "use 'ztune export --merge_lora true --max_shard_size SIZE'";
const char* const kQuantizedExport = "quantized export (awq, gptq, bnb, fp8) is not supported yet";
const char* const kNoMcore = "Megatron-Core conversion is not supported";
const char* const kNoCachedDataset = "cached datasets are not supported; ztune encodes rows as it trains";
const char* const kAlreadyPeft = "ztune's adapters are PEFT already (--to_peft DIR consolidates shards)";
const char* const kArgsJsonRead = "'ztune export' always reads the checkpoint's args.json";
const char* const kConfigJsonRead = "the model family comes from config.json";
const char* const kNoForwardPass = "export runs no forward pass";
const char* const kExportReadsNoData = "export reads no data, formats no chats and generates nothing";

const SwiftFlags kMultimodal = {{"max_pixels", kInt, "None"}, {"norm_bbox", kStr, "None"}};
const SwiftFlags kOtherTasks = {{"task_type", kStr, "None|causal_lm"}, {"num_labels", kInt, "None"},
    {"problem_type", kStr, "None"}, {"decision_drop_instructions", kFloat, "0.0"},
    {"decision_subsample_options", kInt, "0"}, {"decision_state_as_text", kFloat, "0.0"},
    {"decision_shuffle_fields", kBool, "false"}};
const SwiftFlags kModelLoading = {{"model_revision", kStr, "None"}, {"new_special_tokens", kList, ""},
    {"rope_scaling", kStr, "None"}, {"max_model_len", kInt, "None"}, {"local_repo_path", kStr, "None"},
    {"init_strategy", kStr, "None"}, {"model_kwargs", kStr, "None"}};
const SwiftFlags kPlacement = {{"device_map", kStr, "None"}, {"max_memory", kStr, "None"}};
const SwiftFlags kMoe = {{"experts_impl", kStr, "None"}};
const SwiftFlags kRay = {{"use_ray", kBool, "false"}, {"ray_exp_name", kStr, "None"},
    {"device_groups", kStr, "None"}};
const SwiftFlags kPlugins = {{"external_plugins", kList, ""}, {"custom_register_path", kList, ""}};
const SwiftFlags kNpu = {{"enable_npu_model_patch", kBool, "true"}};
const SwiftFlags kTemplate = {{"agent_template", kStr, "None"}, {"use_chat_template", kBool, "None|true"},
    {"padding_side", kStr, "right"}, {"is_binary_loss_scale", kBool, "None"},
    {"response_prefix", kStr, "None"}, {"enable_thinking", kBool, "None"}, {"preserve_thinking", kBool, "None"},
    {"add_non_thinking_prefix", kBool, "true"}, {"disable_ignore_empty_think", kBool, "false"}};
const SwiftFlags kSequenceParallel = {{"sequence_parallel_size", kInt, "1"}};
const SwiftFlags kDataSources = {{"cached_dataset", kList, ""}, {"cached_val_dataset", kList, ""},
    {"val_dataset_shuffle", kBool, "false"}, {"interleave_prob", kList, "None"},
    {"stopping_strategy", kStr, "first_exhausted"}, {"download_mode", kStr, "reuse_dataset_if_exists"},
    {"disable_auto_column_mapping", kBool, "false"}, {"custom_dataset_info", kList, ""},
    {"remove_unused_columns", kBool, "true"}};
const SwiftFlags kDataCache = {{"load_from_cache_file", kBool, "false"}};
const SwiftFlags kQuantize = {{"quant_method", kStr, "None"}, {"quant_bits", kStr, "None"},
    {"hqq_axis", kInt, "None"}, {"bnb_4bit_compute_dtype", kStr, "None"}, {"bnb_4bit_quant_type", kStr, "nf4"},
    {"bnb_4bit_use_double_quant", kBool, "true"}, {"bnb_4bit_quant_storage", kStr, "None"}};
const SwiftFlags kGeneration = {{"num_beams", kInt, "1"}, {"stop_words", kList, ""}, {"logprobs", kBool, "false"},
    {"top_logprobs", kInt, "None"}, {"structured_outputs_regex", kStr, "None"}};
const SwiftFlags kUnsloth = {{"tuner_backend", kStr, "peft"}};
const SwiftFlags kSwiftLora = {{"use_swift_lora", kBool, "false"}};
const SwiftFlags kLoadDataArgs = {{"load_data_args", kBool, "false"}};
const SwiftFlags kArgsError = {{"ignore_args_error", kBool, "false"}};
const SwiftFlags kDdpBackend = {{"ddp_backend", kStr, "None"}};
const SwiftFlags kWorkers = {{"packing_num_proc", kInt, "1"}};
const SwiftFlags kPackingStrategy = {{"packing_strategy", kStr, "binpack"}};
const SwiftFlags kSafetensors = {{"safe_serialization", kBool, "true"}};
const SwiftFlags kShardSize = {{"max_shard_size", kStr, "5GB"}};
const SwiftFlags kSftData = {{"dataset", kList, ""}, {"split_dataset_ratio", kFloat, "0.0"},
    {"data_seed", kInt, "42"}, {"dataset_shuffle", kBool, "true"}, {"streaming", kBool, "false"},
    {"shuffle_buffer_size", kInt, "1000"}, {"columns", kStr, "None"}, {"strict", kBool, "false"}};
const SwiftFlags kSftDataWorkers = {{"dataset_num_proc", kInt, "1"}};
const SwiftFlags kModelType = {{"model_type", kStr, "None"}};
const SwiftFlags kAttnImpl = {{"attn_impl", kStr, "None"}};
const SwiftFlags kChatEncoding = {{"truncation_strategy", kStr, "None"}, {"loss_scale", kStr, "default"},
    {"padding_free", kBool, "false"}, {"packing", kBool, "false"}, {"packing_length", kInt, "None"}};
const SwiftFlags kInferChat = {{"template", kStr, "None"}, {"system", kStr, "None"}, {"max_length", kInt, "None"},
    {"val_dataset", kList, ""}};
const SwiftFlags kSampling = {{"max_new_tokens", kInt, "None"}, {"temperature", kFloat, "None"},
    {"top_k", kInt, "None"}, {"top_p", kFloat, "None"}, {"repetition_penalty", kFloat, "None"},
    {"stream", kBool, "None"}};
const SwiftFlags kTunerType = {{"tuner_type", kStr, "lora"}};
const SwiftFlags kTimeout = {{"ddp_timeout", kInt, "18000000"}};
const SwiftFlags kSeed = {{"seed", kInt, "42"}};
const SwiftFlags kLoadArgs = {{"load_args", kBool, "false"}};
const SwiftFlags kExportLoadArgs = {{"load_args", kBool, "true"}};
const SwiftFlags kHubTokenInfer = {{"hub_token", kStr, "None", true}};
const SwiftFlags kOptimizer = {{"optim", kStr, "adamw_torch_fused|adamw_torch"}, {"optim_args", kStr, "None"},
    {"optim_target_modules", kList, "None"}, {"optimizer", kStr, "None"}, {"lr_scheduler_kwargs", kStr, "None"},
    {"label_smoothing_factor", kFloat, "0.0"}, {"neftune_noise_alpha", kFloat, "None"}, {"loss_type", kStr, "None"},
    {"enable_dft_loss", kBool, "false"}, {"enable_channel_loss", kBool, "false"}, {"acc_strategy", kStr, "token"},
    {"average_tokens_across_devices", kBool, "true"}, {"max_epochs", kInt, "None"},
    {"auto_find_batch_size", kBool, "false"}, {"tf32", kBool, "None|false"}};
const SwiftFlags kSpeedKnobs = {{"torch_compile", kBool, "false"}, {"torch_compile_backend", kStr, "None"},
    {"torch_compile_mode", kStr, "None"}, {"torch_empty_cache_steps", kInt, "None"}, {"use_cache", kBool, "false"},
    {"use_logits_to_keep", kBool, "None"}, {"gradient_checkpointing_kwargs", kStr, "None"},
    {"skip_memory_metrics", kBool, "true"}};
const SwiftFlags kLoaderKnobs = {{"dataloader_pin_memory", kBool, "true"},
    {"dataloader_persistent_workers", kBool, "true"}, {"dataloader_prefetch_factor", kInt, "None"},
    {"dataloader_multiprocessing_context", kStr, "None"}};
const SwiftFlags kLogLevel = {{"log_level", kStr, "passive"}, {"log_level_replica", kStr, "warning"}};
const SwiftFlags kLogRanks = {{"log_on_each_node", kBool, "true"}};
const SwiftFlags kProgress = {{"disable_tqdm", kBool, "None"}};
const SwiftFlags kTrackio = {{"project", kStr, "huggingface"}, {"trackio_space_id", kStr, "None"},
    {"trackio_bucket_id", kStr, "None"}, {"trackio_static_space_id", kStr, "None"}};
const SwiftFlags kLogging = {{"logging_strategy", kStr, "steps"}, {"logging_nan_inf_filter", kBool, "true"},
    {"include_num_input_tokens_seen", kStr, "no|false"}, {"logging_dir", kStr, "None"}, {"run_name", kStr, "None"}};
const SwiftFlags kEval = {{"eval_delay", kFloat, "0"}, {"prediction_loss_only", kBool, "false"},
    {"eval_on_start", kBool, "false"}, {"eval_do_concat_batches", kBool, "true"},
    {"eval_use_gather_object", kBool, "false"}, {"eval_accumulation_steps", kInt, "None"},
    {"include_for_metrics", kList, ""}, {"batch_eval_metrics", kBool, "false"}, {"bf16_full_eval", kBool, "false"},
    {"fp16_full_eval", kBool, "false"}, {"predict_with_generate", kBool, "false"},
    {"generation_max_length", kInt, "None"}, {"generation_num_beams", kInt, "None"},
    {"generation_config", kStr, "None"}, {"sortish_sampler", kBool, "false"}, {"eval_metric", kStr, "None"},
    {"greater_is_better", kBool, "None"}, {"early_stop_interval", kInt, "None"}};
const SwiftFlags kEvalscope = {{"eval_use_evalscope", kBool, "false"}, {"eval_dataset", kList, ""},
    {"eval_dataset_args", kStr, "None"}, {"eval_limit", kInt, "None"}, {"eval_generation_config", kStr, "None"},
    {"extra_eval_args", kStr, "None"}};
const SwiftFlags kSaving = {{"save_on_each_node", kBool, "false"}, {"enable_jit_checkpoint", kBool, "false"},
    {"restore_callback_states_from_checkpoint", kBool, "false"}, {"use_flash_ckpt", kBool, "false"},
    {"create_checkpoint_symlink", kBool, "false"}, {"hub_always_push", kBool, "false"},
    {"hub_revision", kStr, "None"}};
const SwiftFlags kHubStrategy = {{"hub_strategy", kStr, "end"}};
const SwiftFlags kCheckModel = {{"check_model", kBool, "true"}};
const SwiftFlags kDataOrder = {{"dataloader_drop_last", kBool, "false"}, {"dataloader_in_order", kBool, "true"},
    {"train_sampling_strategy", kStr, "random"}, {"group_by_length", kBool, "false"},
    {"train_dataloader_shuffle", kBool, "true"}, {"label_names", kList, "None"}};
const SwiftFlags kLengthColumn = {{"length_column_name", kStr, "length"}};
const SwiftFlags kDdpKnobs = {{"ddp_find_unused_parameters", kBool, "None"}, {"ddp_bucket_cap_mb", kInt, "None"},
    {"ddp_broadcast_buffers", kBool, "None"}, {"ddp_static_graph", kBool, "None"}};
const SwiftFlags kOtherParallel = {{"fsdp", kStr, "None"}, {"fsdp_config", kStr, "None"},
    {"accelerator_config", kStr, "None"}, {"parallelism_config", kStr, "None"},
    {"zero_hpz_partition_size", kInt, "None"}, {"deepspeed_autotp_size", kInt, "None"}};
const SwiftFlags kDevice = {{"use_cpu", kBool, "false"}};
const SwiftFlags kLocalRank = {{"local_rank", kInt, "-1"}};
const SwiftFlags kDeterminism = {{"full_determinism", kBool, "false"}, {"debug", kList, ""}};
const SwiftFlags kUnusedByTrainer = {{"do_train", kBool, "false"}, {"do_eval", kBool, "false"},
    {"do_predict", kBool, "false"}};
const SwiftFlags kNoGeneration = {{"ds3_gather_for_generation", kBool, "true"}};
const SwiftFlags kVisionTraining = {{"vit_gradient_checkpointing", kBool, "None"}, {"aligner_lr", kFloat, "None"},
    {"vit_lr", kFloat, "None"}, {"freeze_llm", kBool, "false"}, {"freeze_vit", kBool, "true"},
    {"freeze_aligner", kBool, "true"}};
const SwiftFlags kEmbedding = {{"mrl_dims", kStr, "None"}};
const SwiftFlags kCallbacks = {{"callbacks", kList, ""}};
const SwiftFlags kTuners = {{"use_galore", kBool, "false"}, {"galore_target_modules", kList, "None"},
    {"galore_rank", kInt, "128"}, {"galore_update_proj_gap", kInt, "50"}, {"galore_scale", kFloat, "1.0"},
    {"galore_proj_type", kStr, "std"}, {"galore_optim_per_parameter", kBool, "false"},
    {"galore_with_embedding", kBool, "false"}, {"galore_quantization", kBool, "false"},
    {"galore_proj_quant", kBool, "false"}, {"galore_proj_bits", kInt, "4"}, {"galore_proj_group_size", kInt, "256"},
    {"galore_cos_threshold", kFloat, "0.4"}, {"galore_gamma_proj", kInt, "2"}, {"galore_queue_size", kInt, "5"},
    {"lisa_activated_layers", kInt, "0"}, {"lisa_step_interval", kInt, "20"}, {"use_liger_kernel", kBool, "false"},
    {"liger_kernel_config", kStr, "None"}, {"lora_dtype", kStr, "None"}, {"lorap_lr_ratio", kFloat, "None"},
    {"use_dora", kBool, "false"}, {"lora_ga_batch_size", kInt, "2"}, {"lora_ga_iters", kInt, "2"},
    {"lora_ga_max_length", kInt, "1024"}, {"lora_ga_direction", kStr, "ArB2r"}, {"lora_ga_scale", kStr, "stable"},
    {"lora_ga_stable_gamma", kInt, "16"}, {"init_weights", kStr, "true"}, {"fourier_n_frequency", kInt, "2000"},
    {"fourier_scaling", kFloat, "300.0"}, {"boft_block_size", kInt, "4"}, {"boft_block_num", kInt, "0"},
    {"boft_n_butterfly_factor", kInt, "1"}, {"boft_dropout", kFloat, "0.0"}, {"vera_rank", kInt, "256"},
    {"vera_projection_prng_key", kInt, "0"}, {"vera_dropout", kFloat, "0.0"}, {"vera_d_initial", kFloat, "0.1"},
    {"adapter_act", kStr, "gelu"}, {"adapter_length", kInt, "128"}, {"adalora_target_r", kInt, "8"},
    {"adalora_init_r", kInt, "12"}, {"adalora_tinit", kInt, "0"}, {"adalora_tfinal", kInt, "0"},
    {"adalora_deltaT", kInt, "1"}, {"adalora_beta1", kFloat, "0.85"}, {"adalora_beta2", kFloat, "0.85"},
    {"adalora_orth_reg_weight", kFloat, "0.5"}, {"llamapro_num_new_blocks", kInt, "4"},
    {"llamapro_num_groups", kInt, "None"}, {"reft_layer_key", kStr, "None"}, {"reft_layers", kList, "None"},
    {"reft_rank", kInt, "4"}, {"reft_intervention_type", kStr, "LoreftIntervention"}, {"reft_args", kStr, "None"}};
const SwiftFlags kFreezing = {{"freeze_parameters", kList, ""}, {"freeze_parameters_regex", kStr, "None"},
    {"freeze_parameters_ratio", kFloat, "0.0"}, {"trainable_parameters", kList, ""},
    {"trainable_parameters_regex", kStr, "None"}, {"target_regex", kStr, "None"},
    {"target_parameters", kList, "None"}};
const SwiftFlags kSwanlabNotify = {{"swanlab_notification_method", kStr, "None"},
    {"swanlab_webhook_url", kStr, "None", true}, {"swanlab_secret", kStr, "None", true},
    {"swanlab_sender_email", kStr, "None"}, {"swanlab_receiver_email", kStr, "None"},
    {"swanlab_smtp_server", kStr, "None"}, {"swanlab_smtp_port", kInt, "None"},
    {"swanlab_email_language", kStr, "zh"}};
const SwiftFlags kEngines = {{"vllm_gpu_memory_utilization", kFloat, "0.9"},
    {"vllm_tensor_parallel_size", kInt, "1"}, {"vllm_pipeline_parallel_size", kInt, "1"},
    {"vllm_enable_expert_parallel", kBool, "false"}, {"vllm_max_num_seqs", kInt, "256"},
    {"vllm_max_model_len", kInt, "None"}, {"vllm_disable_custom_all_reduce", kBool, "true"},
    {"vllm_enforce_eager", kBool, "false"}, {"vllm_limit_mm_per_prompt", kStr, "None"},
    {"vllm_max_lora_rank", kInt, "16"}, {"vllm_enable_prefix_caching", kBool, "None"},
    {"vllm_use_async_engine", kBool, "None"}, {"vllm_quantization", kStr, "None"},
    {"vllm_reasoning_parser", kStr, "None"}, {"vllm_disable_cascade_attn", kBool, "false"},
    {"vllm_mm_processor_cache_gb", kFloat, "None"}, {"vllm_speculative_config", kStr, "None"},
    {"vllm_engine_kwargs", kStr, "None"}, {"vllm_data_parallel_size", kInt, "1"}, {"sglang_tp_size", kInt, "1"},
    {"sglang_pp_size", kInt, "1"}, {"sglang_dp_size", kInt, "1"}, {"sglang_ep_size", kInt, "1"},
    {"sglang_enable_ep_moe", kBool, "false"}, {"sglang_mem_fraction_static", kFloat, "None"},
    {"sglang_context_length", kInt, "None"}, {"sglang_disable_cuda_graph", kBool, "false"},
    {"sglang_quantization", kStr, "None"}, {"sglang_kv_cache_dtype", kStr, "auto"},
    {"sglang_enable_dp_attention", kBool, "false"}, {"sglang_disable_custom_all_reduce", kBool, "true"},
    {"sglang_speculative_algorithm", kStr, "None"}, {"sglang_speculative_num_steps", kInt, "None"},
    {"sglang_speculative_eagle_topk", kInt, "None"}, {"sglang_speculative_num_draft_tokens", kInt, "None"},
    {"lmdeploy_tp", kInt, "1"}, {"lmdeploy_session_len", kInt, "None"},
    {"lmdeploy_cache_max_entry_count", kFloat, "0.8"}, {"lmdeploy_quant_policy", kInt, "0"},
    {"lmdeploy_vision_batch_size", kInt, "1"}};
const SwiftFlags kInferResults = {{"write_batch_size", kInt, "1000"}};
const SwiftFlags kInferMetrics = {{"metric", kStr, "None"}, {"val_dataset_sample", kInt, "None"}};
const SwiftFlags kReranker = {{"reranker_use_activation", kBool, "true"}};
const SwiftFlags kExportQuantize = {{"quant_n_samples", kInt, "256"}, {"quant_batch_size", kInt, "1"},
    {"group_size", kInt, "128"}};
const SwiftFlags kCachedDataset = {{"to_cached_dataset", kBool, "false"}, {"template_mode", kStr, "train"}};
const SwiftFlags kOllama = {{"to_ollama", kBool, "false"}};
const SwiftFlags kMcore = {{"to_mcore", kBool, "false"}, {"to_hf", kBool, "false"}, {"mcore_model", kStr, "None"},
    {"mcore_adapter", kStr, "None"}, {"thread_count", kInt, "None"}, {"test_convert_precision", kBool, "false"},
    {"test_convert_dtype", kStr, "float32"}, {"save_missing_weights", kBool, "false"}};
const SwiftFlags kPeftFormat = {{"to_peft_format", kBool, "false"}};

std::vector<std::string> split_choices(const std::string& text) {
  std::vector<std::string> values;
  size_t begin = 0;
  for (size_t bar = text.find('|'); bar != std::string::npos; bar = text.find('|', begin)) {
    values.push_back(text.substr(begin, bar - begin));
    begin = bar + 1;
  }
  values.push_back(text.substr(begin));
  return values;
}

// Flags the table binds are skipped: the lists follow ms-swift's classes, which the commands share.
void refuse(args::Table& table, const char* reason, const SwiftFlags& flags) {
  for (const SwiftFlag& flag : flags) {
    const args::Flag* bound = table.find(flag.name);
    if (bound != nullptr && !bound->unbound()) continue;
    args::Flag& known = table.known(flag.name, flag.kind, reason, split_choices(flag.accepted));
    if (flag.secret) known.hidden_value();
  }
}

void ignore(args::Table& table, const char* reason, const SwiftFlags& flags) {
  for (const SwiftFlag& flag : flags) {
    const args::Flag* bound = table.find(flag.name);
    if (bound != nullptr && !bound->unbound()) continue;
    args::Flag& known = table.ignored(flag.name, flag.kind, reason);
    if (flag.secret) known.hidden_value();
  }
}

// The tail every command shares: multimodal and other tasks, model loading, launching.
}  // namespace

void add_shared_swift_flags(args::Table& t) {
  refuse(t, kTextOnly, kMultimodal);
  refuse(t, kCausalLmOnly, kOtherTasks);
  t.section("model loading");
  refuse(t, kNotYet, kModelLoading);
  refuse(t, kOneDevice, kPlacement);
  ignore(t, kExpertsGrouped, kMoe);
  refuse(t, kNoPlugins, kPlugins);
  ignore(t, kNpuOnly, kNpu);
  t.section("launching");
  refuse(t, kNoRay, kRay);
  ignore(t, kBackendChosen, kDdpBackend);
  refuse(t, kAlwaysChecked, kArgsError);
}

void add_sft_swift_flags(args::Table& t) {
  t.section("training (transformers Trainer knobs)");
  refuse(t, kNotYet, kOptimizer);
  ignore(t, kSpeedKnob, kSpeedKnobs);
  ignore(t, kTrainingThread, kLoaderKnobs);
  ignore(t, kTrainingThread, kWorkers);
  refuse(t, kNotYet, kDataOrder);
  ignore(t, kGroupByLengthOnly, kLengthColumn);
  refuse(t, kBinpackOnly, kPackingStrategy);
  refuse(t, kNotYet, kDeterminism);
  ignore(t, kTrainerUnused, kUnusedByTrainer);
  ignore(t, kSftGeneratesNothing, kNoGeneration);
  ignore(t, kSftGeneratesNothing, kSampling);
  ignore(t, kSftGeneratesNothing, kGeneration);
  refuse(t, kNotYet, kLoadArgs);
  refuse(t, kNotYet, kLoadDataArgs);
  t.section("data and template");
  refuse(t, kNotYet, kDataSources);
  ignore(t, kNoCache, kDataCache);
  refuse(t, kNotYet, kTemplate);
  t.section("evaluation");
  refuse(t, kNotYet, kEval);
  refuse(t, kNoEvalscope, kEvalscope);
  t.section("logging");
  refuse(t, kNotYet, kLogging);
  ignore(t, kLogLevelEnv, kLogLevel);
  ignore(t, kLogRank0, kLogRanks);
  ignore(t, kNoProgressBar, kProgress);
  ignore(t, kNoTrackio, kTrackio);
  refuse(t, kNotYet, kSwanlabNotify);
  t.section("saving and hub");
  refuse(t, kNotYet, kSaving);
  refuse(t, kPushAtEnd, kHubStrategy);
  refuse(t, kAlwaysSafetensors, kSafetensors);
  refuse(t, kUnshardedCheckpoints, kShardSize);
  ignore(t, kModelCheck, kCheckModel);
  t.section("distributed");
  ignore(t, kOwnGradSync, kDdpKnobs);
  refuse(t, kUseZero, kOtherParallel);
  refuse(t, kNotYet, kSequenceParallel);
  refuse(t, kDevicePicked, kDevice);
  ignore(t, kLocalRankEnv, kLocalRank);
  t.section("tuners");
  refuse(t, kUnslothNotSupported, kUnsloth);
  refuse(t, kNotYet, kSwiftLora);
  refuse(t, kLoraOrFull, kTuners);
  refuse(t, kNotYet, kFreezing);
  refuse(t, kQuantizedTraining, kQuantize);
  t.section("multimodal and other tasks");
  refuse(t, kTextOnly, kVisionTraining);
  refuse(t, kCausalLmOnly, kEmbedding);
  refuse(t, kNoPlugins, kCallbacks);
  add_shared_swift_flags(t);
}

void add_infer_swift_flags(args::Table& t) {
  t.section("inference engines");
  ignore(t, kEngineKnob, kEngines);
  t.section("inference");
  refuse(t, kNotYet, kGeneration);
  refuse(t, kNotYet, kInferMetrics);
  ignore(t, kResultsPerBatch, kInferResults);
  refuse(t, kNotYetInInfer, kModelType);
  refuse(t, kNotYetInInfer, kAttnImpl);
  refuse(t, kNotYetInInfer, kChatEncoding);
  refuse(t, kNotYet, kTemplate);
  refuse(t, kUseValDataset, kSftData);
  ignore(t, kNoPreprocessing, kSftDataWorkers);
  ignore(t, kNoPreprocessing, kWorkers);
  refuse(t, kNotYetInInfer, kPackingStrategy);
  refuse(t, kNotYet, kDataSources);
  ignore(t, kNoCache, kDataCache);
  refuse(t, kNotYet, kLoadDataArgs);
  ignore(t, kAdapterSaysType, kTunerType);
  refuse(t, kUnslothNotSupported, kUnsloth);
  refuse(t, kNotYet, kSwiftLora);
  refuse(t, kQuantizedModels, kQuantize);
  refuse(t, kNotYet, kSequenceParallel);
  ignore(t, kOneProcess, kTimeout);
  refuse(t, kCacheOnly, kHubTokenInfer);
  refuse(t, kAlwaysSafetensors, kSafetensors);
  refuse(t, kShardInExport, kShardSize);
  t.section("multimodal and other tasks");
  refuse(t, kCausalLmOnly, kReranker);
  add_shared_swift_flags(t);
}

void add_export_swift_flags(args::Table& t) {
  t.section("data");
  ignore(t, "export reads no data", {{"model_name", kList, ""}, {"model_author", kList, ""}, {"lazy_tokenize", kBool, "None"}});
  t.section("export formats");
  refuse(t, kQuantizedExport, kQuantize);
  refuse(t, kQuantizedExport, kExportQuantize);
  refuse(t, kNotYet, kOllama);
  refuse(t, kNoMcore, kMcore);
  refuse(t, kNoCachedDataset, kCachedDataset);
  refuse(t, kAlreadyPeft, kPeftFormat);
  refuse(t, kAlwaysSafetensors, kSafetensors);
  refuse(t, kArgsJsonRead, kExportLoadArgs);
  refuse(t, kConfigJsonRead, kModelType);
  ignore(t, kNoForwardPass, kAttnImpl);
  t.section("data, template and generation");
  ignore(t, kExportReadsNoData, kChatEncoding);
  ignore(t, kExportReadsNoData, kSftData);
  ignore(t, kExportReadsNoData, kSftDataWorkers);
  ignore(t, kExportReadsNoData, kWorkers);
  ignore(t, kExportReadsNoData, kPackingStrategy);
  ignore(t, kExportReadsNoData, kDataSources);
  ignore(t, kExportReadsNoData, kDataCache);
  ignore(t, kExportReadsNoData, kLoadDataArgs);
  ignore(t, kExportReadsNoData, kInferChat);
  ignore(t, kExportReadsNoData, kTemplate);
  ignore(t, kExportReadsNoData, SwiftFlags{{"template_backend", kStr, "swift"}});
  ignore(t, kExportReadsNoData, kSampling);
  ignore(t, kExportReadsNoData, kGeneration);
  ignore(t, kExportReadsNoData, kSeed);
  ignore(t, kAdapterSaysType, kTunerType);
  refuse(t, kUnslothNotSupported, kUnsloth);
  refuse(t, kNotYet, kSwiftLora);
  refuse(t, kNotYet, kSequenceParallel);
  ignore(t, kOneProcess, kTimeout);
  t.section("multimodal and other tasks");
  add_shared_swift_flags(t);
}

}  // namespace zt::cli
